#!/usr/bin/env python3
"""Cost of NAT keepalives on the rtplatch fast path.

In one run this

  1. writes the RTP replay pcap of bench/throughput.py (1 k streams) and
     measures dpdk-testpmd --forward-mode=5tswap on net_pcap -> net_null,
     one forwarding lcore (the reference of the ratios);
  2. starts rtplatch-dataplane on the same vdevs plus a net_null exception
     port, one forwarding lcore, with a gateway and a static neighbour for
     it so every target's next hop is known, allocates the 1 k streams and
     measures relayed packets/s without keepalives (R0);
  3. adds N keepalive targets (198.51.100.0/24, varied ports, from
     203.0.113.10:5060, every --interval-ms, default 25 s: the shipped
     initial interval, CRLF CRLF) with pipelined
     `keepalive_add` requests of up to 100000 targets (fewer when the
     control socket's line limit, common/json_lines.h kMaxControlLine,
     allows fewer), waits until the lcore has armed all of them, and
     measures again over the same window (R1), while the first interval's
     sends are spread over the interval: from the end of the add on, the
     expected send rate is N/interval per second;

and prints one line on stdout:

  keepalive targets=N bytes_per_target=B lcore_fraction=F \\
      relay_ratio_with=R1 relay_ratio_without=R0

  bytes_per_target  (VmRSS after the add - VmRSS before) / N
  lcore_fraction    delta(keepalive_cycles) / (tsc_hz * window): the share
                    of the forwarding lcore spent emitting keepalives
                    (the dataplane counts every poll's timer-wheel check
                    once a target is armed, not only polls that send)
  relay_ratio_*     rtplatch relayed Mpps / testpmd 5tswap Mpps

On stderr it reports the keepalives_sent rate against N/interval per second and
exits non-zero if it is off by more than 10 % (or a run failed). One DPDK
process at a time; every process started here is stopped by PID on exit.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_rtp_pcap  # noqa: E402
import throughput  # noqa: E402
from make_rtp_pcap import StreamModel  # noqa: E402
from throughput import BenchError, PROCS, Processes, log, total_of  # noqa: E402

REPO = throughput.REPO
DEFAULT_TARGETS = 1000000
STREAMS = 1000
INTERVAL_MS = 25000  # the NAT policies' initial interval (--interval-ms)
WINDOW_S = 10.0
SOURCE = "203.0.113.10:5060"        # relay address 0 (StreamModel), the SIP port
TARGET_NET = "198.51.100."          # .1 .. .254
TARGET_HOSTS = 254
TARGET_PORT_MIN = 1024
TARGET_PORTS = 65536 - TARGET_PORT_MIN
MAX_BATCH = 100000                  # keepalive_add accepts 1..100000 targets
RATE_TOLERANCE = 0.10
ARM_TIMEOUT_S = 300
REQUESTS_IN_FLIGHT = 16


def max_control_line():
    """The dataplane's request line limit (bytes), read from the source it
    was built from; 64 KiB if that cannot be read."""
    try:
        with open(os.path.join(REPO, "common", "json_lines.h")) as f:
            m = re.search(r"kMaxControlLine\s*=\s*([0-9' ]+)\s*\*\s*1024", f.read())
        if m:
            return int(m.group(1).replace("'", "").strip()) * 1024
    except OSError:
        pass
    return 64 * 1024


def target_json(i):
    """Target i: host .1-.254 of 198.51.100.0/24 cycling fastest, then the
    port, so N <= 254 * 64512 targets are all distinct."""
    if i >= TARGET_HOSTS * TARGET_PORTS:
        raise ValueError("target %d: address space exhausted" % i)
    return ('{"target":"%s%d:%d","source":"%s","interval_ms":%d}'
            % (TARGET_NET, 1 + i % TARGET_HOSTS, TARGET_PORT_MIN + i // TARGET_HOSTS,
               SOURCE, INTERVAL_MS))


ADD_HEAD = '{"v":1,"cmd":"keepalive_add","targets":['
ADD_TAIL = ']}\n'


def targets_per_request(batch, max_line):
    """Targets per keepalive_add: at most `batch`, and as many of the
    longest target object as fit in a line under max_line bytes."""
    longest = len(target_json(TARGET_HOSTS * TARGET_PORTS - 1))
    fit = (max_line - 1 - len(ADD_HEAD) - len(ADD_TAIL) + 1) // (longest + 1)
    if fit < 1:
        raise BenchError("a control line of %d bytes cannot hold one target" % max_line)
    return min(batch, fit)


def add_requests(n, per_request):
    """Yields the keepalive_add request lines (bytes) for targets 0..n-1."""
    for start in range(0, n, per_request):
        stop = min(n, start + per_request)
        yield (ADD_HEAD + ",".join(target_json(i) for i in range(start, stop)) +
               ADD_TAIL).encode()


def add_targets(ctl, n, per_request):
    """Adds n targets with pipelined requests; returns (seconds, requests)."""
    requests = (n + per_request - 1) // per_request
    added = [0]
    last_log = [time.monotonic()]

    def on_reply(k, line):
        r = json.loads(line)
        if not r.get("ok"):
            raise BenchError("keepalive_add #%d failed: %s" % (k, r.get("error")))
        want = min(per_request, n - k * per_request)
        ids = r["result"].get("ids", [])
        if len(ids) != want:
            raise BenchError("keepalive_add #%d: %d ids for %d targets" % (k, len(ids), want))
        added[0] += len(ids)
        if time.monotonic() - last_log[0] > 10:
            last_log[0] = time.monotonic()
            log("keepalive_add: %d of %d targets added" % (added[0], n))

    t = time.monotonic()
    ctl.pipeline(add_requests(n, per_request), requests, on_reply, window=REQUESTS_IN_FLIGHT)
    return time.monotonic() - t, requests


def armed(stats):
    return total_of(stats, "keepalives")


def start_dataplane(args, pcap, tag):
    prefix = "rtplbench%d%s" % (os.getpid(), tag)
    log_path = os.path.join(args.tmpdir, "dataplane-%s.log" % tag)
    sock_path = os.path.join(args.tmpdir, "dp-%s.sock" % tag)
    cfg_path = os.path.join(args.tmpdir, "dp-%s.json" % tag)
    # Gateway + static neighbour: every target's next hop is known.
    with open(cfg_path, "w") as f:
        json.dump(throughput.dataplane_config(sock_path, args.packets, True), f, indent=1)
    argv = (throughput.nice_prefix(args.nice) + [args.dataplane] +
            throughput.eal_args(prefix, pcap, args.memory, True) +
            ["--", "--config", cfg_path])
    with open(log_path, "w") as logf:
        p = PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
    return p, prefix, log_path, sock_path


def run_dataplane(args, pcap, n):
    """(relayed pps without keepalives, with N targets, bytes/target,
    lcore fraction, ok)."""
    model = StreamModel()
    p, prefix, log_path, sock_path = start_dataplane(args, pcap, "ka%d" % n)
    ctl = None
    ok = True
    try:
        ctl = throughput.wait_for_control(p, sock_path)
        names = {c.get("name") for c in ctl.request("help").get("commands", [])}
        if "keepalive_add" not in names:
            raise BenchError("this dataplane has no keepalive_add (help: %s)" % sorted(names))
        throughput.allocate_streams(ctl, args.streams, model)

        def sample():
            return time.monotonic(), throughput.thread_runtimes(p.pid), ctl.request("stats")

        def window(what):
            (t1, _, s1), (t2, _, s2), share = throughput.measure_window(
                sample, args.duration, args.retries, what)
            if p.poll() is not None:
                raise BenchError("exited with status %d while measuring" % p.returncode)
            wall = t2 - t1
            rx = total_of(s2, "rx") - total_of(s1, "rx")
            relayed = total_of(s2, "relayed") - total_of(s1, "relayed")
            log("rtplatch %s: %.3f Mpps relayed (rx %.3f Mpps) over %.2f s, busiest thread "
                "got %.0f%% of a CPU" % (what, relayed / wall / 1e6, rx / wall / 1e6, wall,
                                          share * 100))
            if share < throughput.CPU_SHARE_WARN:
                log("WARNING: rtplatch %s: the fast-path lcore got only %.0f%% of a CPU; "
                    "another process shares core 1, the figure is low" % (what, share * 100))
            if rx and relayed / rx < throughput.MIN_RELAYED_FRACTION:
                log("WARNING: rtplatch %s relayed only %.2f%% of the packets received"
                    % (what, 100.0 * relayed / rx))
            return relayed / wall, wall, s1, s2

        time.sleep(args.warmup)
        pps0 = window("without keepalives")[0]

        rss0 = throughput.vm_rss_kib(p.pid)
        per_request = targets_per_request(args.batch, args.max_line)
        add_s, requests = add_targets(ctl, n, per_request)
        added_at = time.monotonic()
        log("keepalive_add: %d targets in %d requests of <= %d in %.1f s (%.0f targets/s)"
            % (n, requests, per_request, add_s, n / add_s if add_s else 0))
        deadline = time.monotonic() + ARM_TIMEOUT_S
        while True:
            st = ctl.request("stats")
            if armed(st) >= n:
                break
            if time.monotonic() > deadline:
                raise BenchError("only %d of %d targets armed after %d s"
                                 % (armed(st), n, ARM_TIMEOUT_S))
            time.sleep(0.2)
        armed_at = time.monotonic()
        rss1 = throughput.vm_rss_kib(p.pid)
        bytes_per_target = max(0, rss1 - rss0) * 1024 // n
        extra = ", ".join("%s=%s" % (k, st[k]) for k in ("keepalive_bytes", "keepalive_payloads",
                                                          "table_bytes") if k in st)
        log("armed %d targets %.1f s after the add's last reply; RSS %d -> %d KiB, "
            "%d bytes/target%s" % (armed(st), armed_at - added_at, rss0, rss1,
                                   bytes_per_target, "; " + extra if extra else ""))

        time.sleep(args.warmup)
        pps1, wall, s1, s2 = window("with %d keepalive targets" % n)
        tsc_hz = int(s2.get("tsc_hz") or 0)
        cycles = total_of(s2, "keepalive_cycles") - total_of(s1, "keepalive_cycles")
        fraction = cycles / (tsc_hz * wall) if tsc_hz and wall > 0 else float("nan")
        sent = total_of(s2, "keepalives_sent") - total_of(s1, "keepalives_sent")
        rate = sent / wall
        expected = n * 1000.0 / INTERVAL_MS
        drops = {k: int(v) - int(s1.get("total", {}).get("drops", {}).get(k, 0))
                 for k, v in s2.get("total", {}).get("drops", {}).items()
                 if k.startswith("keepalive_")}
        off = abs(rate - expected) / expected if expected else 0.0
        log("keepalives_sent: %.0f/s over %.2f s, expected N/%d s = %.0f/s (%+.1f%%); "
            "keepalive drops %s; keepalive_cycles %.0f per keepalive sent"
            % (rate, wall, INTERVAL_MS // 1000, expected, 100.0 * (rate - expected) / expected,
               drops, cycles / sent if sent else float("nan")))
        if off > RATE_TOLERANCE:
            log("FAILED: keepalive send rate %.0f/s is off by %.1f%% from the expected %.0f/s "
                "(> %.0f%%)" % (rate, 100 * off, expected, 100 * RATE_TOLERANCE))
            ok = False
        if p.poll() is not None:
            raise BenchError("exited with status %d" % p.returncode)
    except (BenchError, OSError, ValueError, KeyError, TypeError) as e:
        raise BenchError("rtplatch-dataplane N=%d: %s\n%s" % (n, e, throughput.log_tail(log_path)))
    finally:
        if ctl:
            ctl.close()
        Processes.stop(p)
        throughput.remove_dpdk_run_dir(prefix)
    return pps0, pps1, bytes_per_target, fraction, ok


def fmt(x, spec):
    return "nan" if x is None or x != x else format(x, spec)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="rtplatch keepalive cost (see module docstring)")
    ap.add_argument("--targets", type=int, default=DEFAULT_TARGETS,
                    help="keepalive targets to add (default %d)" % DEFAULT_TARGETS)
    ap.add_argument("--streams", type=int, default=STREAMS,
                    help="RTP streams in the replay (even; default %d)" % STREAMS)
    ap.add_argument("--duration", type=float, default=WINDOW_S,
                    help="measurement window, s (testpmd, without and with keepalives)")
    ap.add_argument("--warmup", type=float, default=throughput.WARMUP_S)
    ap.add_argument("--retries", type=int, default=2,
                    help="extra windows when the core was shared")
    ap.add_argument("--packets", type=int, default=65536, help="frames in the pcap")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interval-ms", type=int, default=INTERVAL_MS,
                    help="every target's interval (default: the shipped 25 s)")
    ap.add_argument("--batch", type=int, default=MAX_BATCH,
                    help="targets per keepalive_add request at most (also bounded by "
                         "the control line limit)")
    ap.add_argument("--max-line", type=int, default=max_control_line(),
                    help="control request line limit in bytes (default: kMaxControlLine "
                         "from common/json_lines.h)")
    ap.add_argument("--memory", type=int,
                    help="EAL -m for the dataplane, MB (default 4096, 8192 above 5 M targets)")
    ap.add_argument("--dataplane", default=throughput.DEFAULT_DATAPLANE)
    ap.add_argument("--testpmd", default=shutil.which("dpdk-testpmd") or "dpdk-testpmd")
    ap.add_argument("--nice", type=int, default=-10,
                    help="nice value for the DPDK processes (0: leave alone)")
    ap.add_argument("--skip-testpmd", action="store_true",
                    help="no testpmd run (ratios print as nan)")
    ap.add_argument("--tmpdir", help="scratch directory (default: a fresh mktemp dir)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep logs and the pcap")
    # Accepted for symmetry with throughput (scripts/bench passes its own).
    ap.add_argument("--skip-dataplane", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.targets < 1 or args.targets > TARGET_HOSTS * TARGET_PORTS:
        ap.error("--targets must be 1..%d" % (TARGET_HOSTS * TARGET_PORTS))
    if not 1 <= args.batch <= MAX_BATCH:
        ap.error("--batch must be 1..%d" % MAX_BATCH)
    if args.streams < 2 or args.streams % 2:
        ap.error("--streams must be even, >= 2")
    if args.memory is None:
        args.memory = 8192 if args.targets > 5000000 else 4096
    if args.nice and os.geteuid() != 0 and args.nice < 0:
        args.nice = 0
    return args


def main(argv=None):
    global INTERVAL_MS
    args = parse_args(argv)
    INTERVAL_MS = args.interval_ms
    own_tmp = throughput.start_run(args)
    if not os.access(args.dataplane, os.X_OK):
        log("no dataplane binary at %s (scripts/bench builds it)" % args.dataplane)
        return 2
    n = args.targets
    ok = True
    pps0 = pps1 = bpt = fraction = y = None
    try:
        pcap = os.path.join(args.tmpdir, "rtp-%d.pcap" % args.streams)
        make_rtp_pcap.write_pcap(pcap, args.streams, args.packets, seed=args.seed + args.streams)
        log("pcap: %d frames to %d streams; %d keepalive targets, control lines <= %d bytes, "
            "<= %d targets a request" % (args.packets, args.streams, n, args.max_line,
                                         targets_per_request(args.batch, args.max_line)))
        try:
            if not args.skip_testpmd:
                y = throughput.run_testpmd(args, pcap, "5tswap", "t5ka%d" % n)
            pps0, pps1, bpt, fraction, ok = run_dataplane(args, pcap, n)
        except BenchError as e:
            log("FAILED: %s" % e)
            ok = False
        r0 = pps0 / y if pps0 is not None and y else None
        r1 = pps1 / y if pps1 is not None and y else None
        print("keepalive targets=%d bytes_per_target=%s lcore_fraction=%s "
              "relay_ratio_with=%s relay_ratio_without=%s"
              % (n, fmt(bpt, "d"), fmt(fraction, ".4f"), fmt(r1, ".3f"), fmt(r0, ".3f")),
              flush=True)
        if not args.keep_tmp:
            os.unlink(pcap)
    finally:
        throughput.end_run(args, own_tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
