#!/usr/bin/env python3
"""Checks a Grafana dashboard's queries against live /metrics pages.

  dashboard_check.py DASHBOARD.json PAGE [PAGE ...]

For every Prometheus query (`expr`) in the dashboard: each rtplatch_ metric
it names is a series on one of the pages (scraped from running processes),
each label it groups by is a label of that metric there, and promtool
parses the query (as a recording rule; skipped with a note when promtool
is missing). Prints "ok: N queries, M metrics" or every problem, exit 1.
"""
import json
import re
import shutil
import subprocess
import sys
import tempfile

NAME = re.compile(r"\b(rtplatch_[a-z0-9_]+)\b")
BY = re.compile(r"\bby\s*\(([^)]*)\)")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')


def page_labels(paths):
    """metric name -> the label names its samples carry."""
    labels = {}
    for path in paths:
        for line in open(path):
            m = SAMPLE.match(line.rstrip("\n"))
            if m:
                labels.setdefault(m.group(1), set()).update(LABEL.findall(m.group(2) or ""))
    return labels


def queries(dashboard):
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel.get("title", "?"), target["expr"]


def promtool_problems(exprs):
    if shutil.which("promtool") is None:
        print("note: promtool missing, query syntax not checked", file=sys.stderr)
        return []
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:query_%d" % i, "expr": e} for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(rules, f)  # JSON is YAML
        f.flush()
        r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True,
                           text=True)
    return [] if r.returncode == 0 else ["promtool: " + (r.stdout + r.stderr).strip()]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    dashboard = json.load(open(sys.argv[1]))
    labels = page_labels(sys.argv[2:])
    problems, names, exprs = [], set(), []
    for title, expr in queries(dashboard):
        exprs.append(expr)
        used = set(NAME.findall(expr))
        names |= used
        for name in sorted(used):
            if name not in labels:
                problems.append("%s: %s is on no page" % (title, name))
        for group in BY.findall(expr):
            for label in (g.strip() for g in group.split(",") if g.strip()):
                if label != "le" and not any(label in labels.get(n, ()) for n in used):
                    problems.append("%s: no metric of '%s' has label %s" % (title, expr, label))
    if not exprs:
        problems.append("no queries in %s" % sys.argv[1])
    problems += promtool_problems(exprs)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("ok: %d queries, %d metrics" % (len(exprs), len(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
