#!/usr/bin/env python3
"""Media overload (issue 16): more RTP offered than one forwarding core
relays, spread over 1 000 streams; how the loss falls on the streams.

  scripts/bench overload [--quick] [--skip-rtpengine] [--skip-rtplatch]

rtplatch: rtplatch-dataplane, one forwarding lcore on core 1, its media
port a net_memif (server, the dataplane's own defaults); bench/overload_gen
(DPDK, core 0) is the memif's client in zero-copy mode (its hugepage mbufs
are the shared buffers, so it copies nothing; the dataplane's side copies
in and out as with any client) and plays the wire: 1 000 streams (500
pairs, both legs sending, each stream from its own fixed source, latched
first), interleaved, paced; what the ring refuses is lost (a NIC's
imissed), never retried. Phases: flat out (the capacity C), 1.5 x C,
3 x C, then 0.5 x C (recovery: every stream must get through at once),
then spraying: 0.5 x C of the streams plus sprayed packets from random
non-latched sources at the streams' relay ports and at unallocated ones
(--spray-x, times C).

rtpengine (bench/overload_rtpengine.py): the same pattern through
rtpengine 10.5 userspace, one worker thread, the whole process on core 1,
500 calls set up over ng; the UDP generator (bench/overload_udp_gen) on
core 0 in a network namespace over a veth; phases at its own C.

Lines on stdout (names fixed):
  overload offered_x=F streams=N relayed_mpps=X loss_mean_pct=M loss_max_pct=W streams_muted=K
  overload_rtpengine offered_x=... (the same fields)
  overload_spray spray_mpps=S legit_loss_pct=L streams_muted=K relatched=R
offered_x is the rate the generator really offered, over C (a generator
that cannot reach 3 x C prints what it reached). Per-phase detail goes to
stderr. Exit status 1 if a run broke, not if a target was missed.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "lib"))
import dataplane_launch  # noqa: E402
import overload_loss  # noqa: E402
import throughput  # noqa: E402
from throughput import PROCS, BenchError, Processes, log  # noqa: E402

REPO = throughput.REPO
DEFAULT_GEN = os.path.join(REPO, "build", "bench", "overload_gen")
STREAMS = 1000
RELAY_ADDRESS = "203.0.113.10"
GATEWAY_V4 = "203.0.113.1"
GATEWAY_MAC = "02:00:00:00:00:01"  # overload_gen's source MAC
PORT_MIN, PORT_MAX = 20000, 29999
FIRST_UNALLOCATED_PORT = 24000     # the spray's unallocated targets from here
# The phases: (name, rate as a multiple of C or None for flat out).
OVERLOAD_XS = (1.5, 3.0)
RECOVERY_X = 0.5
LEGIT_X_WHILE_SPRAYED = 0.5
LATCH_PPS = 20000                  # 20 packets a stream per second: locks in 0.5 s
LATCH_S = 1.5
FULL_SECONDS = {"capacity": 5.0, "overload": 10.0, "recovery": 5.0, "spray": 5.0}
QUICK_SECONDS = {"capacity": 2.0, "overload": 3.0, "recovery": 2.0, "spray": 2.0}
# The generator's sampling of its own offered rate may fall short of the
# target; below this share of it the line says what was reached.
REACHED_WARN = 0.97


def stream_peer(k):
    """The fixed source of stream k (0-based; pair k // 2, leg k % 2)."""
    return "198.51.100.%d" % (1 + k % 200), 10000 + k


def rtplatch_config(sock_path, relay_back):
    """Media in on the memif (port 0); relayed packets out on net_null
    (port 1) unless relay_back (then back through the memif, for the
    generator to count); the exception path on net_null (port 2)."""
    cfg = dataplane_launch.config(
        sock_path, [RELAY_ADDRESS], PORT_MIN, PORT_MAX, media_port=0,
        media_tx_port=0 if relay_back else 1, exception_port=2, idle_timeout_s=3600)
    cfg["gateway_v4"] = GATEWAY_V4
    cfg["neighbors"] = [{"ip": GATEWAY_V4, "mac": GATEWAY_MAC}]
    return cfg


def allocate(ctl):
    """500 pairs, each leg's SDP peer its stream's source; the relay of
    each stream in stream order."""
    relays = []
    for pair in range(STREAMS // 2):
        legs = {}
        for leg, k in (("a", 2 * pair), ("b", 2 * pair + 1)):
            legs[leg] = {"peer": "%s:%d" % stream_peer(k)}
        r = ctl.request("allocate", a=legs["a"], b=legs["b"])
        relays += [r["a"]["relay"], r["b"]["relay"]]
    return relays


def write_targets(path, relays):
    """overload_gen's target file: the streams, then the spray targets
    (every stream's relay port, and as many unallocated ports)."""
    with open(path, "w") as f:
        for k, relay in enumerate(relays):
            ip, port = stream_peer(k)
            rip, rport = relay.rsplit(":", 1)
            f.write("stream %s %d %s %s\n" % (ip, port, rip, rport))
        for relay in relays:
            f.write("spray %s\n" % relay.replace(":", " "))
        for i in range(len(relays)):
            f.write("spray %s %d\n" % (RELAY_ADDRESS, FIRST_UNALLOCATED_PORT + 2 * i))


# The generator's memory: 2 MB hugepages (scripts/bench overload reserves
# them for the run), one file for all of it, as memif zero-copy needs.
GEN_MEMORY_MB = 128


def generator_eal(prefix, memif_sock):
    """overload_gen's EAL arguments: core 0, the memif client in zero-copy
    mode (its own mbufs are the shared buffers; no copy on its side).
    The dataplane's side of the memif is untouched: the server copies in
    and out whatever the client does."""
    vdev = ("net_memif0,role=client,socket=%s,socket-abstract=no,zero-copy=yes"
            % memif_sock)
    return ["-l", "0", "--in-memory", "--single-file-segments", "-m", str(GEN_MEMORY_MB),
            "--no-pci", "--file-prefix", prefix, "--vdev", vdev]


def free_hugepages():
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


class GeneratorProcess:
    """overload_gen on core 0, driven one phase at a time over stdin."""

    def __init__(self, args, targets_path, memif_sock):
        self.prefix = "rtplovgen%d" % os.getpid()
        if free_hugepages() * 2 < GEN_MEMORY_MB:
            raise BenchError("overload_gen needs %d MB of free 2 MB hugepages, %d free "
                             "(scripts/bench overload reserves them)"
                             % (GEN_MEMORY_MB, free_hugepages()))
        argv = (throughput.nice_prefix(args.nice) + [args.gen] +
                generator_eal(self.prefix, memif_sock) +
                ["--", "--targets", targets_path, "--payload", str(args.payload)])
        self.log_path = os.path.join(args.tmpdir, "overload_gen.log")
        self.p = PROCS.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=open(self.log_path, "w"), text=True)
        ready = self._reply(60)
        if not ready.get("ready"):
            raise BenchError("overload_gen did not start: %s" % ready)
        if not ready.get("zero_copy"):
            raise BenchError("overload_gen's memif is not zero-copy")
        log("overload_gen: memif client, zero-copy, %d MB of hugepages" % GEN_MEMORY_MB)

    def _reply(self, timeout):
        line = self.p.stdout.readline()
        if not line:
            raise BenchError("overload_gen exited (%s)\n%s"
                             % (self.p.poll(), throughput.log_tail(self.log_path)))
        return json.loads(line)

    def phase(self, phase_id, rate_pps, seconds, spray_pps=0.0):
        self.p.stdin.write("phase %d %.0f %.3f %.0f\n" % (phase_id, rate_pps, seconds, spray_pps))
        self.p.stdin.flush()
        r = self._reply(seconds + 30)
        if "error" in r:
            raise BenchError("overload_gen: %s" % r["error"])
        return r

    def stop(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
            self.p.wait(10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        Processes.stop(self.p)
        throughput.remove_dpdk_run_dir(self.prefix)


def drops_delta(s1, s2):
    d1 = s1.get("total", {}).get("drops", {})
    d2 = s2.get("total", {}).get("drops", {})
    return {k: int(v) - int(d1.get(k, 0)) for k, v in d2.items() if int(v) - int(d1.get(k, 0))}


def busy_pct(s1, s2):
    busy = throughput.total_of(s2, "busy_cycles") - throughput.total_of(s1, "busy_cycles")
    idle = throughput.total_of(s2, "idle_cycles") - throughput.total_of(s1, "idle_cycles")
    return 100.0 * busy / (busy + idle) if busy + idle else 0.0


def stream_packets(ctl, relays):
    """Each stream's relayed-packet counter (the dataplane's own, counted
    as the packet is rewritten for tx), in stream order."""
    res = ctl.request("list", limit=STREAMS + 10)
    by_relay = {s["relay"]: int(s.get("packets", 0)) for s in res["streams"]}
    return [by_relay.get(r, 0) for r in relays]


class RtplatchRun:
    """The dataplane, its control connection, the generator and the
    streams' relays; one method per kind of phase."""

    def __init__(self, args, ctl, gen, relays):
        self.args, self.ctl, self.gen, self.relays = args, ctl, gen, relays

    def phase(self, phase_id, name, rate_pps, seconds, spray_pps=0.0):
        """One phase; returns (generator's reply, its summary), logging the
        detail. Received per stream: the generator's count if the relayed
        packets come back to it, else the dataplane's per-stream counters."""
        ctl = self.ctl
        s1, p1 = ctl.request("stats"), stream_packets(ctl, self.relays)
        r = self.gen.phase(phase_id, rate_pps, seconds, spray_pps)
        s2, p2 = ctl.request("stats"), stream_packets(ctl, self.relays)
        received = r["received"] if self.args.relay_back else [b - a for a, b in zip(p1, p2)]
        summary = overload_loss.summarize(r["offered"], received,
                                          nothing_is_muted=(name == "recovery"))
        wall = r["seconds"]
        relayed = throughput.total_of(s2, "relayed") - throughput.total_of(s1, "relayed")
        rx = throughput.total_of(s2, "rx") - throughput.total_of(s1, "rx")
        log("rtplatch %-9s: offered %.3f Mpps (target %s), ring took %.3f Mpps, relayed %.3f "
            "Mpps (dataplane rx %.3f, tx %.3f), spray offered %.3f took %.3f Mpps, lcore %.0f%% "
            "busy, loss mean %.2f%% max %.2f%%, muted %d, drops %s, stray %d, deferred %d"
            % (name, summary["offered"] / wall / 1e6,
               "flat out" if rate_pps <= 0 else "%.3f" % (rate_pps / 1e6),
               r["accepted"] / wall / 1e6, summary["received"] / wall / 1e6, rx / wall / 1e6,
               relayed / wall / 1e6, r["spray_offered"] / wall / 1e6,
               r["spray_accepted"] / wall / 1e6, busy_pct(s1, s2), summary["loss_mean_pct"],
               summary["loss_max_pct"], summary["streams_muted"], drops_delta(s1, s2) or "none",
               r["stray"], r["deferred"]))
        return r, summary

    def latch(self):
        self.phase(1, "latch", LATCH_PPS, LATCH_S)
        res = self.ctl.request("list", state="locked", limit=STREAMS + 10)
        if res["total"] != STREAMS:
            raise BenchError("%d of %d streams locked after the latching phase"
                             % (res["total"], STREAMS))
        log("rtplatch: all %d streams locked" % STREAMS)

    def overload(self):
        """Capacity, the overload phases, recovery. Returns (C, lines)."""
        sec = self.args.seconds
        r, cap = self.phase(2, "capacity", 0, sec["capacity"])
        capacity = cap["received"] / r["seconds"]
        if r["accepted"] >= cap["offered"]:
            log("WARNING: the ring took every packet flat out: the generator, not the lcore, "
                "is the limit; C is the generator's")
        log("rtplatch: capacity C = %.3f Mpps" % (capacity / 1e6))
        lines = []
        for i, x in enumerate(OVERLOAD_XS + (RECOVERY_X,)):
            name = "recovery" if x == RECOVERY_X else "%.1fx" % x
            r, s = self.phase(3 + i, name, x * capacity,
                              sec["recovery" if x == RECOVERY_X else "overload"])
            reached = s["offered"] / r["seconds"] / capacity
            if reached < REACHED_WARN * x:
                log("rtplatch: the generator reached %.2f x C of the %.1f x asked" % (reached, x))
            lines.append(overload_loss.line("overload", reached, STREAMS,
                                            s["received"] / r["seconds"] / 1e6, s))
        return capacity, lines

    def spray(self, capacity):
        before = relatches(self.ctl)
        r, s = self.phase(10, "spray", LEGIT_X_WHILE_SPRAYED * capacity,
                          self.args.seconds["spray"], self.args.spray_x * capacity)
        relatched = relatches(self.ctl) - before
        loss = 100.0 * (1 - s["received"] / s["offered"]) if s["offered"] else 0.0
        return ("overload_spray spray_mpps=%.3f legit_loss_pct=%.4f streams_muted=%d "
                "relatched=%d" % (r["spray_offered"] / r["seconds"] / 1e6, loss,
                                  s["streams_muted"], relatched))


def relatches(ctl):
    res = ctl.request("list", limit=STREAMS + 10)
    return sum(int(s.get("relatches", 0)) for s in res["streams"])


def run_rtplatch(args):
    """The dataplane and its generator; returns the lines to print."""
    prefix = "rtplov%d" % os.getpid()
    sock = os.path.join(args.tmpdir, "dp.sock")
    memif = os.path.join(args.tmpdir, "memif.sock")
    cfg_path = os.path.join(args.tmpdir, "dp.json")
    with open(cfg_path, "w") as f:
        json.dump(rtplatch_config(sock, args.relay_back), f, indent=1)
    vdevs = ["net_memif0,role=server,socket=%s,socket-abstract=no" % memif, "net_null0,no-rx=1",
             "net_null1,no-rx=1"]
    argv = (throughput.nice_prefix(args.nice) + [args.dataplane] +
            dataplane_launch.eal_args("0,1", prefix, vdevs, 1024) + ["--", "--config", cfg_path])
    log_path = os.path.join(args.tmpdir, "dataplane.log")
    dp = PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=open(log_path, "w"),
                     stderr=subprocess.STDOUT)
    ctl = gen = None
    try:
        ctl = throughput.wait_for_control(dp, sock)
        relays = allocate(ctl)
        targets = os.path.join(args.tmpdir, "targets.txt")
        write_targets(targets, relays)
        gen = GeneratorProcess(args, targets, memif)
        run = RtplatchRun(args, ctl, gen, relays)
        run.latch()
        capacity, lines = run.overload()
        lines.append(run.spray(capacity))
        if dp.poll() is not None:
            raise BenchError("the dataplane exited (%d)" % dp.returncode)
        return lines
    except (BenchError, OSError, ValueError, KeyError) as e:
        raise BenchError("rtplatch: %s\n%s" % (e, throughput.log_tail(log_path)))
    finally:
        if gen:
            gen.stop()
        if ctl:
            ctl.close()
        Processes.stop(dp)
        throughput.remove_dpdk_run_dir(prefix)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="media overload: rtplatch vs rtpengine "
                                 "(see the module docstring)")
    ap.add_argument("--quick", action="store_true", help="short phases (under 2 minutes)")
    ap.add_argument("--spray-x", type=float, default=0.5,
                    help="sprayed packets/s while spraying, times C (default 0.5: with the "
                         "streams' 0.5, as many packets as C in all)")
    ap.add_argument("--tx-null", dest="relay_back", action="store_false",
                    help="rtplatch relays to net_null and the per-stream counts are the "
                         "dataplane's own (default: relayed back through the memif and "
                         "counted by the generator)")
    ap.add_argument("--payload", type=int, default=160,
                    help="RTP payload bytes (default 160: 20 ms of PCMA)")
    ap.add_argument("--skip-rtpengine", action="store_true")
    ap.add_argument("--skip-rtplatch", action="store_true")
    ap.add_argument("--dataplane", default=throughput.DEFAULT_DATAPLANE)
    ap.add_argument("--gen", default=DEFAULT_GEN)
    ap.add_argument("--rtpengine", default="rtpengine")
    ap.add_argument("--udp-gen", default=os.path.join(REPO, "build", "bench", "overload_udp_gen"))
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--tmpdir")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args(argv)
    args.seconds = QUICK_SECONDS if args.quick else FULL_SECONDS
    return args


def main(argv=None):
    args = parse_args(argv)
    own_tmp = throughput.start_run(args)
    failed = False
    for tool in (args.gen, args.udp_gen):
        if not os.access(tool, os.X_OK):
            log("no %s (ninja -C build builds it)" % tool)
            throughput.end_run(args, own_tmp)
            return 2
    try:
        if not args.skip_rtplatch:
            try:
                for line in run_rtplatch(args):
                    print(line, flush=True)
            except BenchError as e:
                log("FAILED: %s" % e)
                failed = True
        if not args.skip_rtpengine:
            import overload_rtpengine
            try:
                for line in overload_rtpengine.run(args):
                    print(line, flush=True)
            except BenchError as e:
                log("FAILED: %s" % e)
                failed = True
    finally:
        throughput.end_run(args, own_tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
