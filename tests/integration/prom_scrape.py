#!/usr/bin/env python3
"""Reads a Prometheus /metrics page as a scraper would.

  prom_scrape.py fetch URL OUT     the page into OUT (exit 1: not 200, or
                                   not Prometheus's text format 0.0.4)
  prom_scrape.py value FILE SERIES the value of SERIES, e.g.
                                   'rtplatch_calls_total{outcome="connected"}'
                                   (labels in any order; nothing printed and
                                   exit 1 if the page has no such series)
"""
import re
import sys
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def series_key(name, labels_text):
    return name, tuple(sorted(LABEL.findall(labels_text or "")))


def fetch(url, out):
    with urllib.request.urlopen(url, timeout=5) as r:
        ctype = r.headers.get("Content-Type", "")
        body = r.read().decode("utf-8")
        if r.status != 200 or "version=0.0.4" not in ctype:
            print("status %d, Content-Type %r" % (r.status, ctype), file=sys.stderr)
            return 1
    with open(out, "w") as f:
        f.write(body)
    return 0


def value(path, series):
    m = SAMPLE.match(series + " 0")
    if not m:
        print("not a series: %r" % series, file=sys.stderr)
        return 1
    want = series_key(m.group(1), m.group(3))
    for line in open(path):
        s = SAMPLE.match(line.rstrip("\n"))
        if s and series_key(s.group(1), s.group(3)) == want:
            print(s.group(4))
            return 0
    return 1


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "fetch":
        return fetch(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 4 and sys.argv[1] == "value":
        return value(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
