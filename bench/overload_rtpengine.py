#!/usr/bin/env python3
"""The rtpengine half of `scripts/bench overload` (bench/overload.py).

Two network namespaces joined by one veth, created here with a per-run
prefix and always removed:
  <p>r  the relay: rtpengine 10.5 userspace as bench/relay_run.sh runs it
        (--table=-1, one worker thread, --num-threads=1, the whole process
        on core 1), media on 203.0.113.1, ng on 127.0.0.1:2223;
  <p>g  the phones: 198.51.100.2 (every call's A side) and 192.0.2.2
        (every B side), port 4000 each; bench/overload_udp_gen on core 0
        sends and counts.
500 calls are set up over ng (offer from A, answer from B); both legs of
every call send, so the same 1 000 streams as on rtplatch. Phases as on
rtplatch, at rtpengine's own capacity C: 1.5 x C, 3 x C, 0.5 x C. C is
the most it relays in a ramp of paced steps, on 500 calls of its own,
deleted afterwards: flat out, rtpengine strikes every call's socket five
times within a second and then discards what those calls send, for good,
so a flat-out phase measures how fast it mutes; the overload phases get
500 fresh calls.

  ip netns exec <p>r python3 overload_rtpengine.py --ng-setup|--ng-delete CALLS PREFIX
                                                                   (internal)
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import overload_loss  # noqa: E402
import throughput  # noqa: E402
from throughput import PROCS, BenchError, Processes, log  # noqa: E402

RELAY_IP = "203.0.113.1"
A_IP, B_IP, PHONE_PORT = "198.51.100.2", "192.0.2.2", 4000
NG = ("127.0.0.1", 2223)
CALLS = 500
CALIBRATION_STEPS = [50000 + 25000 * i for i in range(15)]  # packets/s
DEFAULT_UDP_GEN = os.path.join(throughput.REPO, "build", "bench", "overload_udp_gen")


# --- ng (runs inside the relay namespace) ------------------------------------

def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"


def sdp(ip):
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
            % (ip, ip, PHONE_PORT))


def ng_request(sock, cookie, msg, want_port=True):
    """cookie: unique in the process's life (rtpengine answers a repeated
    cookie from its cache, whatever the request)."""
    cookie = cookie.encode()
    sock.sendto(cookie + b" " + bencode(msg), NG)
    for _ in range(50):
        reply = sock.recv(65536)
        if reply.startswith(cookie + b" "):
            break
    if b"6:result2:ok" not in reply:
        raise RuntimeError("ng %s: %r" % (msg["command"], reply[:200]))
    if not want_port:
        return 0
    m = re.search(rb"m=audio (\d+) ", reply)
    if not m:
        raise RuntimeError("ng %s: no m= line in %r" % (msg["command"], reply[:300]))
    return int(m.group(1))


def ng_setup(calls, prefix):
    """Offer + answer per call; prints the streams' lines for the
    generator (stream 2k: A -> the port the answer gave A; 2k+1: B -> the
    port the offer gave B)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    for k in range(calls):
        common = {"call-id": "%s-%d" % (prefix, k), "from-tag": "a%d" % k,
                  "replace": ["origin", "session-connection"]}
        b_port = ng_request(sock, "%s-o%d" % (prefix, k),
                            dict(common, command="offer", sdp=sdp(A_IP)))
        a_port = ng_request(sock, "%s-a%d" % (prefix, k), dict(common, command="answer", sdp=sdp(B_IP),
                                               **{"to-tag": "b%d" % k}))
        print("stream %s %d %s %d" % (A_IP, PHONE_PORT, RELAY_IP, a_port))
        print("stream %s %d %s %d" % (B_IP, PHONE_PORT, RELAY_IP, b_port))
    sys.stdout.flush()


def ng_delete(calls, prefix):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    for k in range(calls):
        ng_request(sock, "%s-d%d" % (prefix, k), {"command": "delete", "call-id": "%s-%d" % (prefix, k),
                                      "from-tag": "a%d" % k, "delete delay": 0}, False)


# --- the testbed (runs in the root namespace) --------------------------------

class Testbed:
    """The two namespaces and the veth; removed by close()."""

    def __init__(self):
        self.prefix = "ov%d" % (os.getpid() % 100000)
        self.relay_ns, self.gen_ns = self.prefix + "r", self.prefix + "g"
        self.created = []

    def build(self):
        p = self.prefix
        for ns in (self.relay_ns, self.gen_ns):
            self._ip("netns", "add", ns)
            self.created.append(ns)
            self._ip("-n", ns, "link", "set", "lo", "up")
        va, vb = p + "g0", p + "r0"
        self._ip("-n", self.gen_ns, "link", "add", va, "type", "veth", "peer", "name", vb,
                 "netns", self.relay_ns)
        for ns, dev, addrs in ((self.gen_ns, va, (A_IP + "/24", B_IP + "/24")),
                               (self.relay_ns, vb, (RELAY_IP + "/24",))):
            for a in addrs:
                self._ip("-n", ns, "addr", "add", a, "dev", dev)
            self._ip("-n", ns, "link", "set", dev, "up")
        self._ip("-n", self.gen_ns, "route", "add", "203.0.113.0/24", "dev", va)
        for net in ("198.51.100.0/24", "192.0.2.0/24"):
            self._ip("-n", self.relay_ns, "route", "add", net, "dev", vb)

    @staticmethod
    def _ip(*argv):
        subprocess.run(["ip"] + list(argv), check=True, capture_output=True, timeout=30)

    def exec_argv(self, ns, argv):
        return ["ip", "netns", "exec", ns] + argv

    def udp_drops(self, ns):
        """RcvbufErrors of the namespace's UDP MIB."""
        out = subprocess.run(self.exec_argv(ns, ["cat", "/proc/net/snmp"]), check=True,
                             capture_output=True, text=True).stdout
        rows = [l.split() for l in out.splitlines() if l.startswith("Udp:")]
        return int(dict(zip(rows[0], rows[1]))["RcvbufErrors"])

    def close(self):
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.created = []


def start_rtpengine(args, bed):
    log_path = os.path.join(args.tmpdir, "rtpengine.log")
    argv = bed.exec_argv(bed.relay_ns, [
        "taskset", "-c", "1", args.rtpengine, "--foreground", "--log-stderr", "--table=-1",
        "--interface=" + RELAY_IP, "--listen-ng=%s:%d" % NG, "--port-min=30000",
        "--port-max=39999", "--num-threads=1"])
    p = PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=open(log_path, "w"),
                    stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        if p.poll() is not None:
            raise BenchError("rtpengine exited\n" + throughput.log_tail(log_path))
        ss = subprocess.run(bed.exec_argv(bed.relay_ns, ["ss", "-lnu"]), capture_output=True,
                            text=True).stdout
        if " %s:%d " % NG in ss:
            return p, log_path
        if time.monotonic() > deadline:
            raise BenchError("rtpengine does not listen on ng\n" + throughput.log_tail(log_path))
        time.sleep(0.2)


def start_generator(args, bed, targets):
    argv = bed.exec_argv(bed.gen_ns, ["taskset", "-c", "0", args.udp_gen, "--targets", targets])
    log_path = os.path.join(args.tmpdir, "overload_udp_gen.log")
    p = PROCS.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=open(log_path, "w"), text=True)
    ready = json.loads(p.stdout.readline() or "{}")
    if not ready.get("ready"):
        raise BenchError("overload_udp_gen did not start\n" + throughput.log_tail(log_path))
    return p


def phase(gen, bed, phase_id, name, rate_pps, seconds):
    drops0 = (bed.udp_drops(bed.relay_ns), bed.udp_drops(bed.gen_ns))
    gen.stdin.write("phase %d %.0f %.3f\n" % (phase_id, rate_pps, seconds))
    gen.stdin.flush()
    line = gen.stdout.readline()
    if not line:
        raise BenchError("overload_udp_gen exited")
    r = json.loads(line)
    relay_drops = bed.udp_drops(bed.relay_ns) - drops0[0]
    sink_drops = bed.udp_drops(bed.gen_ns) - drops0[1]
    s = overload_loss.summarize(r["offered"], r["received"],
                                nothing_is_muted=(name == "recovery"))
    wall = r["seconds"]
    log("rtpengine %-9s: offered %.3f Mpps (target %s), relayed %.3f Mpps, dropped at "
        "rtpengine's sockets %.3f Mpps, loss mean %.2f%% max %.2f%%, muted %d, skipped %d, "
        "stray %d" % (name, s["offered"] / wall / 1e6,
                      "flat out" if rate_pps <= 0 else "%.3f" % (rate_pps / 1e6),
                      s["received"] / wall / 1e6, relay_drops / wall / 1e6,
                      s["loss_mean_pct"], s["loss_max_pct"], s["streams_muted"],
                      r["skipped"], r["stray"]))
    if sink_drops:
        log("WARNING: the generator's own sockets dropped %d relayed packets (counted as "
            "rtpengine's loss)" % sink_drops)
    return r, s


def ng(args, bed, rlog, what, prefix):
    r = subprocess.run(bed.exec_argv(bed.relay_ns, [
        sys.executable, os.path.abspath(__file__), "--ng-" + what, str(CALLS), prefix]),
        capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise BenchError("ng %s failed: %s\n%s" % (what, r.stderr[-2000:], throughput.log_tail(rlog)))
    return r.stdout


def generator_for(args, bed, rlog, prefix):
    """500 fresh calls named PREFIX-k and a generator sending their 1000
    streams; every stream's first packets sent (warmup)."""
    targets = os.path.join(args.tmpdir, "rtpengine_%s.txt" % prefix)
    with open(targets, "w") as f:
        f.write(ng(args, bed, rlog, "setup", prefix))
    log("rtpengine: %d calls (%s-*) set up over ng" % (CALLS, prefix))
    gen = start_generator(args, bed, targets)
    phase(gen, bed, 1, "warmup", 20000, 1.0)
    return gen


def stop_generator(gen):
    try:
        gen.stdin.write("quit\n")
        gen.stdin.close()
    except (OSError, ValueError):
        pass
    Processes.stop(gen)


def calibrate(args, bed, rlog):
    """rtpengine's capacity C: the most it relays in a ramp of paced steps
    (CALIBRATION_STEPS, until a step loses over a fifth), on calls of their
    own, deleted afterwards. Not one flat-out phase as on rtplatch:
    rtpengine strikes and mutes calls within a second, so what it relays
    over a flat-out phase depends on how fast it mutes them."""
    gen = generator_for(args, bed, rlog, "calibration")
    capacity = 0.0
    try:
        for i, rate in enumerate(CALIBRATION_STEPS):
            r, s = phase(gen, bed, 10 + i, "ramp%.0fk" % (rate / 1e3), rate,
                         args.seconds["capacity"] / 4)
            capacity = max(capacity, s["received"] / r["seconds"])
            if s["loss_mean_pct"] > 20:
                break
    finally:
        stop_generator(gen)
    ng(args, bed, rlog, "delete", "calibration")
    log("rtpengine: capacity C = %.3f Mpps" % (capacity / 1e6))
    return capacity


def phases(args, gen, bed, capacity):
    """1.5x, 3x, recovery; the overload_rtpengine lines."""
    lines = []
    for i, x in enumerate((1.5, 3.0, 0.5)):
        name = "recovery" if x == 0.5 else "%.1fx" % x
        r, s = phase(gen, bed, 3 + i, name, x * capacity,
                     args.seconds["recovery" if x == 0.5 else "overload"])
        reached = s["offered"] / r["seconds"] / capacity
        lines.append(overload_loss.line("overload_rtpengine", reached, 2 * CALLS,
                                        s["received"] / r["seconds"] / 1e6, s))
    return lines


def run(args):
    """rtpengine under the same pattern; returns its lines."""
    bed = rtpengine = gen = None
    try:
        bed = Testbed()
        bed.build()
        rtpengine, rlog = start_rtpengine(args, bed)
        capacity = calibrate(args, bed, rlog)
        gen = generator_for(args, bed, rlog, "overload")
        lines = phases(args, gen, bed, capacity)
        if rtpengine.poll() is not None:
            raise BenchError("rtpengine exited during the run\n" + throughput.log_tail(rlog))
        muted = sum(1 for l in open(rlog, errors="replace")
                    if "overload-" in l and "discarding packet" in l)
        log("rtpengine: %d of the overload phases' %d ports logged 'UDP receive queue exceeded "
            "5 times: discarding packet'" % (muted, 2 * CALLS))
        return lines
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        raise BenchError("rtpengine: %s" % e)
    finally:
        if gen:
            stop_generator(gen)
        if rtpengine:
            Processes.stop(rtpengine)
        if bed:
            bed.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--ng-setup":
        ng_setup(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--ng-delete":
        ng_delete(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("internal: bench/overload.py runs this module")
