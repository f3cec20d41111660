#!/usr/bin/env python3
"""Checks every source's includes against its room's README.

A room is a folder under common/, control/ or dataplane/ with a README.md
holding a line "Depends on: `a/`, `b/c.h`" (folders end in '/', files are
exact) and optionally "Never includes: `rte_`, ..." (prefixes of any
include, system headers too). A source may include its own room, what its
room's README allows, and nothing it forbids. Prints each violation and
exits 1; exits 0 with a count when all hold.

usage: layering_check.py [ROOT]
"""
import pathlib
import re
import sys

AREAS = ("common", "control", "dataplane")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
TICKED = re.compile(r"`([^`]+)`")


def read_room(readme):
    depends, never = None, []
    for line in readme.read_text().splitlines():
        if line.startswith("Depends on:"):
            depends = TICKED.findall(line)
            if "nothing else" in line:
                depends = []
        elif line.startswith("Never includes:"):
            never = TICKED.findall(line)
    return depends, never


def room_of(path, root):
    for folder in path.parents:
        if folder == root:
            return None
        if (folder / "README.md").is_file():
            return folder


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems, checked = [], 0
    for area in AREAS:
        for src in sorted((root / area).rglob("*")):
            if src.suffix not in (".h", ".cc"):
                continue
            room = room_of(src, root)
            rel = src.relative_to(root)
            if room is None:
                problems.append(f"{rel}: in no room (no README.md above it)")
                continue
            depends, never = read_room(room / "README.md")
            if depends is None:
                problems.append(f"{rel}: {room.relative_to(root)}/README.md has no 'Depends on:' line")
                continue
            own = str(room.relative_to(root)) + "/"
            for inc in INCLUDE.findall(src.read_text()):
                checked += 1
                banned = [n for n in never if inc.startswith(n)]
                if banned:
                    problems.append(f"{rel}: includes {inc} (its room never includes {banned[0]})")
                    continue
                if not inc.startswith(tuple(a + "/" for a in AREAS) + ("tests/",)):
                    continue
                if inc.startswith(own):
                    continue
                if not any(inc == d or (d.endswith("/") and inc.startswith(d)) for d in depends):
                    problems.append(f"{rel}: includes {inc}, not in {own}README.md's 'Depends on'")
    for p in problems:
        print(p)
    print(f"layering: {checked} includes checked, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
