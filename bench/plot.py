#!/usr/bin/env python3
"""A PNG of the lines a `scripts/bench` run printed (matplotlib, Agg).

  python3 bench/plot.py [FILE|-] --out FILE.png    (no FILE or -: stdin)
  python3 bench/plot.py --check                    (exit 0: matplotlib loads)

`scripts/bench BENCH --plot FILE.png` runs it on the bench's stdout. It
finds the bench lines by their first word (the rest `key=value`) and draws
one subplot per kind found, in one figure:
  throughput           Mpps against streams (log x): rtplatch, testpmd
                       5tswap, testpmd io
  relay_step, relay    loss % against concurrent calls, one series per
                       relay (rtplatch per pmd, rtpengine); failed steps
                       marked x; the relay summary in the title
  sip                  rates per scenario, rtplatch against Kamailio
  ng                   cycles per second, rtplatch against rtpengine
  overload(_rtpengine) loss (mean, worst stream) against offered load
  registrar(_kamailio) bytes per binding, restart, storm goodput
  load                 loss each way through the whole system
  keepalive            relay ratio without and with the targets
  failover             calls kept of those up
  nat_learning         NAT timeout, learned after, re-registered after
Other lines are ignored; exit 1 ("plot: no bench lines in FILE") if
there is none it knows. The footnote: the plot's date and the commit
(git rev-parse --short HEAD) of this tree.
"""

import argparse
import datetime
import math
import os
import shlex
import subprocess
import sys

try:
    import matplotlib
except ImportError:
    # Debian's python3-matplotlib lives in /usr/bin/python3's dist-packages;
    # a python3 of its own on PATH (pyenv, venv) does not see it.
    DEBIAN_PYTHON = "/usr/bin/python3"
    if (os.access(DEBIAN_PYTHON, os.X_OK)
            and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON] + sys.argv)
    sys.exit("plot: no matplotlib (apt-get install python3-matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RTPLATCH = "tab:blue"
OTHERS = ("tab:orange", "tab:green", "tab:red", "tab:purple")


# --- parsing -----------------------------------------------------------------

def parse_line(line):
    """(kind, {key: value}) of a bench line, None for any other line."""
    try:
        words = shlex.split(line)  # nat_learning's reason="..." has spaces
    except ValueError:
        words = line.split()
    if len(words) < 2 or not all("=" in w for w in words[1:]):
        return None
    return words[0], dict(w.split("=", 1) for w in words[1:])


def parse(text):
    """{kind: [fields, ...]}, in the order the lines came."""
    lines = {}
    for line in text.splitlines():
        parsed = parse_line(line)
        if parsed:
            lines.setdefault(parsed[0], []).append(parsed[1])
    return lines


def num(value):
    """A figure as a float; None for na, nan, none, missing."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def latest(rows, *keys):
    """The last row for each value of keys (a run printed twice: the last)."""
    out = {}
    for r in rows:
        out[tuple(r.get(k) for k in keys)] = r
    return list(out.values())


def last(lines, kind):
    rows = lines.get(kind)
    return rows[-1] if rows else None


def short(v):
    """A bar's label: 64000, 12.3, 0.74, na."""
    if v is None:
        return "na"
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.1f" % v if abs(v) >= 10 else "%.2f" % v


# --- drawing helpers ---------------------------------------------------------

def grouped_bars(ax, groups, series, log=False):
    """Bars of each (name, values) side by side per group, values on top."""
    width = 0.8 / len(series)
    colors = (RTPLATCH,) + OTHERS
    # A log axis needs a positive figure; zero and missing draw no bar.
    log = log and any(v and v > 0 for _, values in series for v in values)
    for i, (name, values) in enumerate(series):
        offset = (i - (len(series) - 1) / 2) * width
        heights = [v if v is not None and (v > 0 or not log) else float("nan") for v in values]
        bars = ax.bar([g + offset for g in range(len(groups))], heights, width,
                      label=name, color=colors[i % len(colors)])
        ax.bar_label(bars, labels=[short(v) for v in values], fontsize=7)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_xlim(-0.5 - 0.5 / len(groups), len(groups) - 0.5 + 0.5 / len(groups))
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.margins(y=0.15)
    if len(series) > 1:
        ax.legend(fontsize=8)


def points(rows, xkey, ykey):
    """[(x, y)] of the rows with both figures, sorted by x."""
    pts = [(num(r.get(xkey)), num(r.get(ykey))) for r in rows]
    return sorted((x, y) for x, y in pts if x is not None and y is not None)


# --- one function per kind of line ---------------------------------------------

def draw_throughput(ax, lines):
    rows = latest(lines["throughput"], "streams")
    for key, label, style in (("rtplatch_mpps", "rtplatch", "o-"),
                              ("testpmd_5tswap_mpps", "testpmd 5tswap", "s--"),
                              ("testpmd_io_mpps", "testpmd io", "^:")):
        pts = [p for p in points(rows, "streams", key) if p[0] > 0]
        if pts:
            ax.plot(*zip(*pts), style, label=label)
    for r in rows:
        x, y, ratio = num(r.get("streams")), num(r.get("rtplatch_mpps")), num(r.get("ratio_5tswap"))
        if x and y is not None and ratio is not None:
            ax.annotate("%.2f x 5tswap" % ratio, (x, y), textcoords="offset points",
                        xytext=(0, -14), ha="center", fontsize=7, color=RTPLATCH)
    ax.set_xscale("log")
    ax.margins(x=0.1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("streams allocated")
    ax.set_ylabel("Mpps (one forwarding lcore)")
    ax.set_title("Relay throughput against streams")
    ax.legend(fontsize=8)


def relay_series(steps):
    """{label: [(calls, loss %, passed)]} of the relay_step lines."""
    series = {}
    for s in latest(steps, "relay", "pmd", "calls"):
        calls, loss = num(s.get("calls")), num(s.get("loss_pct"))
        if calls is None or loss is None:
            continue
        label = ("rtpengine" if s.get("relay") == "rtpengine"
                 else "rtplatch (%s)" % s.get("pmd"))
        series.setdefault(label, []).append((calls, loss, s.get("pass") == "1"))
    return {k: sorted(v) for k, v in sorted(series.items(), reverse=True)}


def relay_title(lines):
    s = last(lines, "relay")
    if not s:
        return "Relay loss against concurrent calls"
    return ("Relay: rtplatch %s calls, rtpengine %s (x %s)"
            % (s.get("rtplatch_calls"), s.get("rtpengine_calls"), s.get("ratio")))


def relay_color(label):
    if label == "rtpengine":
        return OTHERS[0]
    return RTPLATCH if "af_xdp" in label else OTHERS[3]


def draw_relay(ax, lines):
    series = relay_series(lines.get("relay_step", []))
    if not series:
        return draw_relay_summary(ax, lines)
    for label, pts in series.items():
        color = relay_color(label)
        calls, loss, _ = zip(*pts)
        ax.plot(calls, loss, "-", color=color, label=label)
        for ok, marker in ((True, "o"), (False, "x")):
            mine = [(c, l) for c, l, passed in pts if passed == ok]
            if mine:
                ax.plot(*zip(*mine), marker, color=color, markersize=6 if ok else 10, mew=2)
    ax.plot([], [], "kx", mew=2, label="step failed")
    ax.axhline(0.1, color="grey", ls="--", lw=1, label="0.1 % step limit")
    losses = [l for pts in series.values() for _, l, _ in pts]
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_ylim(min(-0.005, 2 * min(losses)), max(1.0, 3 * max(losses)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v))
    ax.set_xlabel("concurrent calls (PCMA, 50 packets/s each way)")
    ax.set_ylabel("loss in the steady phase (%)")
    ax.set_title(relay_title(lines))
    ax.legend(fontsize=8)


def draw_relay_summary(ax, lines):
    """Only relay lines, no steps: the calls each relay carried."""
    rows = lines["relay"]
    grouped_bars(ax, ["run %d" % (i + 1) for i in range(len(rows))],
                 [("rtplatch", [num(r.get("rtplatch_calls")) for r in rows]),
                  ("rtpengine", [num(r.get("rtpengine_calls")) for r in rows])])
    ax.set_ylabel("concurrent calls carried")
    ax.set_title(relay_title(lines))


def draw_sip(ax, lines):
    rows = latest(lines["sip"], "scenario")
    grouped_bars(ax, [r.get("scenario", "?").replace("_", "\n", 1) for r in rows],
                 [("rtplatch", [num(r.get("rtplatch_per_s")) for r in rows]),
                  ("Kamailio", [num(r.get("kamailio_per_s")) for r in rows])], log=True)
    ax.set_ylabel("registrations or calls per second (log)")
    ax.set_title("SIP rate per scenario (ratio: %s)"
                 % ", ".join(str(r.get("ratio")) for r in rows))


def draw_ng(ax, lines):
    r = lines["ng"][-1]
    grouped_bars(ax, ["offer + answer + delete"],
                 [("rtplatch", [num(r.get("rtplatch_per_s"))]),
                  ("rtpengine", [num(r.get("rtpengine_per_s"))])])
    ax.set_ylabel("cycles per second")
    ax.set_title("ng protocol: rtplatch against rtpengine (x %s)" % r.get("ratio"))


def overload_title(lines):
    spray = last(lines, "overload_spray")
    if not spray:
        return "Loss against offered load (1 000 streams)"
    return ("Loss against offered load; spray %s Mpps: %s %% legit loss"
            % (spray.get("spray_mpps"), spray.get("legit_loss_pct")))


def draw_overload(ax, lines):
    for kind, name, color in (("overload", "rtplatch", RTPLATCH),
                              ("overload_rtpengine", "rtpengine", OTHERS[0])):
        rows = lines.get(kind, [])
        for key, what, style in (("loss_mean_pct", "mean", "o-"),
                                 ("loss_max_pct", "worst stream", "v--")):
            pts = points(rows, "offered_x", key)
            if pts:
                ax.plot(*zip(*pts), style, color=color, label="%s %s" % (name, what))
        for r in rows:
            muted, x, y = num(r.get("streams_muted")), num(r.get("offered_x")), num(r.get("loss_max_pct"))
            if muted and x is not None and y is not None:
                ax.annotate("%d muted" % muted, (x, y), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color=color)
    ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set_ylim(0, 105)
    ax.set_xlabel("offered load (x the relay's capacity C)")
    ax.set_ylabel("loss per stream (%)")
    ax.set_title(overload_title(lines))
    ax.legend(fontsize=8)


REGISTRAR_FIGURES = (("bytes_per_binding", "bytes per binding"),
                     ("restart_s", "restart (s)"),
                     ("storm_goodput_pct", "storm goodput (%)"))


def registrar_title(lines, ours):
    title = "Registrar, %s bindings" % (ours or {}).get("bindings", "?")
    scaling = last(lines, "registrar_scaling")
    if scaling:
        base = [k for k in scaling if k.startswith("register_cpu_us_")]
        if base:
            title += "; CPU per REGISTER %s -> %s us" % (scaling[base[0]],
                                                        scaling.get("register_cpu_us"))
    return title


def draw_registrar(ax, lines):
    ours, theirs = last(lines, "registrar"), last(lines, "registrar_kamailio")
    series = [(name, [num(row.get(k)) for k, _ in REGISTRAR_FIGURES])
              for name, row in (("rtplatch", ours), ("Kamailio + usrloc", theirs)) if row]
    if not series:  # registrar_scaling alone: its title says it all
        series = [("rtplatch", [None] * len(REGISTRAR_FIGURES))]
    grouped_bars(ax, [label for _, label in REGISTRAR_FIGURES], series, log=True)
    ax.set_title(registrar_title(lines, ours or theirs))


def draw_load(ax, lines):
    rows = lines["load"]
    grouped_bars(ax, ["%s calls, %s %% ok" % (r.get("calls"), r.get("success_pct")) for r in rows],
                 [("caller -> callee", [num(r.get("loss_a_to_b_pct")) for r in rows]),
                  ("callee -> caller", [num(r.get("loss_b_to_a_pct")) for r in rows])])
    ax.set_ylabel("RTP packets lost (%)")
    ax.set_title("Loss through the whole system (two NATs, PCMA 50 pps each way)")


def draw_keepalive(ax, lines):
    rows = lines["keepalive"]
    grouped_bars(ax, ["%s targets, %s B each" % (r.get("targets"), r.get("bytes_per_target"))
                      for r in rows],
                 [("without keepalives", [num(r.get("relay_ratio_without")) for r in rows]),
                  ("with keepalives", [num(r.get("relay_ratio_with")) for r in rows])])
    ax.set_ylabel("relay rate / testpmd 5tswap")
    ax.set_title("Relaying 1 k streams with NAT keepalive targets")


def draw_failover(ax, lines):
    rows = lines["failover"]
    grouped_bars(ax, ["run %d: gap %s ms, %s bindings lost"
                      % (i + 1, r.get("media_gap_ms"), r.get("bindings_lost"))
                      for i, r in enumerate(rows)],
                 [("calls up", [num(r.get("calls")) for r in rows]),
                  ("calls kept", [num(r.get("calls_kept")) for r in rows])])
    ax.set_ylabel("calls")
    ax.set_title("Failover: kill -9 of node A")


def draw_nat_learning(ax, lines):
    rows = latest(lines["nat_learning"], "nat", "nat_timeout_s")
    grouped_bars(ax, ["%s %s s" % (r.get("nat"), r.get("nat_timeout_s")) for r in rows],
                 [("NAT timeout", [num(r.get("nat_timeout_s")) for r in rows]),
                  ("learned after", [num(r.get("learned_after_s")) for r in rows]),
                  ("re-registered after", [num(r.get("reregistered_after_s")) for r in rows])])
    ax.set_ylabel("seconds")
    ax.set_title("NAT timeout learning (shipped defaults)")


# (kinds that call for the panel, its function), in the figure's order.
PANELS = (
    (("throughput",), draw_throughput),
    (("relay_step", "relay"), draw_relay),
    (("sip",), draw_sip),
    (("ng",), draw_ng),
    (("overload", "overload_rtpengine"), draw_overload),
    (("registrar", "registrar_kamailio", "registrar_scaling"), draw_registrar),
    (("load",), draw_load),
    (("keepalive",), draw_keepalive),
    (("failover",), draw_failover),
    (("nat_learning",), draw_nat_learning),
)


# --- the figure --------------------------------------------------------------

def revision():
    """This tree's commit (short), or None outside git."""
    try:
        r = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def footnote(source):
    rev = revision()
    return "rtplatch %s, plotted %s from %s" % (
        rev or "(no git)", datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), source)


def figure(lines, source):
    """The figure of the panels lines call for; None if none."""
    panels = [draw for kinds, draw in PANELS if any(k in lines for k in kinds)]
    if not panels:
        return None
    cols = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 4.8 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, draw in zip(flat, panels):
        draw(ax, lines)
        ax.grid(True, which="major", alpha=0.3)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    fig.text(0.005, 0.005, footnote(source), fontsize=7, color="grey")
    fig.tight_layout(rect=(0, 0.025, 1, 1))
    return fig


def read_input(path):
    if path in (None, "-"):
        return sys.stdin.read(), "stdin"
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(), path


def main(argv=None):
    ap = argparse.ArgumentParser(description="a PNG of a scripts/bench run's lines")
    ap.add_argument("input", nargs="?", help="the bench's output (default: stdin)")
    ap.add_argument("--out", help="the PNG to write")
    ap.add_argument("--check", action="store_true",
                    help="only check that matplotlib loads (scripts/bench --plot, before a run)")
    args = ap.parse_args(argv)
    if args.check:
        return 0
    if not args.out:
        ap.error("--out FILE.png is required")
    try:
        text, source = read_input(args.input)
    except OSError as e:
        print("plot: cannot read %s: %s" % (args.input, e.strerror), file=sys.stderr)
        return 1
    fig = figure(parse(text), source)
    if fig is None:
        print("plot: no bench lines in %s" % source, file=sys.stderr)
        return 1
    fig.savefig(args.out, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
