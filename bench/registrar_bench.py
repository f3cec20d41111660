#!/usr/bin/env python3
"""The registrar at scale (issue 17): N digest users registered through
sipp over UDP on 127.0.0.1, then, in the same run, what a node holding
them costs.

  scripts/bench registrar [--bindings N] [--quick] [--skip-kamailio]

Placement as in scripts/bench sip: the server on core 1 (rtplatch-control
and its dataplane on net_null, the forwarding lcore SCHED_IDLE; or
Kamailio 5.6 with usrloc written back to SQLite every second, as the SIP
bench configures it), sipp, bench/udp_register_storm, rtplatchctl and the
SIP pinger on core 0.
Every user has its own password; sipp answers the 401 of every REGISTER
(Expires 3600).

Measured, in this order, on rtplatch:
  register_cpu_us   CPU of rtplatch-control per completed refresh
                    (REGISTER, 401, REGISTER with digest, 200) at a fixed
                    rate well below capacity: first with 10 000 bindings
                    registered, then with N (users spread over all N);
                    each once the server has gone idle after the fill
                    (under 3 % of a core over a second, at most 40 s).
                    Users register in a seeded random order, not in the
                    order of their names, and refresh in the order they
                    registered, as phones' timers do: walked in name
                    order, neighbouring refreshes of the 10 000 would share
                    SQLite pages and the baseline would measure that
                    locality rather than the table's size
  bytes_per_binding growth of rtplatch-control's resident memory from
                    before the first REGISTER to N registered, over N
  list_stall_ms     the worst round trip of a SIP OPTIONS sent every
                    PING_INTERVAL_S while `rtplatchctl registrations
                    --limit 10`, `rtplatchctl registration AOR` and
                    `rtplatchctl registrations --natted --limit 10` run
                    (three times each); a ping unanswered counts as its
                    timeout
  storm_goodput_pct refreshes of all N users in turn, offered at
                    --storm-x (2) times the capacity rate (the highest
                    rate passing the SIP bench's step test, at most 1 %
                    failed and 90 % of the target completed, found by
                    doubling and bisecting twice) by
                    bench/udp_register_storm (sipp saturates core 0 above
                    about 1.3 x): completed refreshes per second over the
                    storm's steady part (its first second left out), as a
                    share of the capacity: the most refreshes per second
                    the server was seen to complete before the storm, in
                    any step of the capacity search or offered the
                    capacity rate by the storm's generator (the largest
                    denominator of these: the step test's 90 % rule lets
                    a rate pass that the server completes only 91-93 %
                    of, so its rate is not what the core can do)
  restart_s         kill -9, then every binding's expiry moved to one
                    second EXPIRE_AFTER_S ahead (in the SQLite store, the
                    way a mass expiry is staged), then the time from exec
                    to the first OPTIONS answered; the log's loaded count
                    must be N (nothing lost)
  expiry_stall_ms   the worst OPTIONS round trip from one second before
                    that expiry second to EXPIRY_WINDOW_S after it, by
                    when every binding must be gone

Kamailio gets the same registration, storm and kill -9 + restart: its
bytes_per_binding (from the PSS of all its processes: usrloc lives in
shared memory), restart_s (exec to first OPTIONS answered, usrloc loaded
from SQLite), storm_goodput_pct at twice its own capacity, and kept: the
rows its SQLite held after kill -9, of N.

Lines on stdout (names fixed):
  registrar bindings=N bytes_per_binding=B restart_s=R list_stall_ms=L expiry_stall_ms=E register_cpu_us=C storm_goodput_pct=G
  registrar_scaling register_cpu_us_10k=C0 register_cpu_us=C ratio=R
  registrar_kamailio bindings=N bytes_per_binding=B restart_s=R storm_goodput_pct=G kept=K
Targets at N = 1 000 000 (issue 17): B <= 600, R < 5, L < 10, E < 10,
G >= 90, ratio <= 1.2. Detail goes to stderr. Exit status 1 if the run
broke (a server died, registrations failed), not if a target was missed.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "lib"))
import sip_bench as sb  # noqa: E402
import throughput  # noqa: E402
from throughput import BenchError, PROCS, Processes, log, log_tail  # noqa: E402

DEFAULT_CTL = os.path.join(throughput.REPO, "build", "control", "rtplatchctl")
DEFAULT_STORM = os.path.join(throughput.REPO, "build", "bench", "udp_register_storm")
SIPP_USER_AGENT = "sipp-bench"  # bench/sipp/register_auth.xml's User-Agent
SCENARIO = "register_auth"
SCALING_BASE = 10000        # register_cpu_us is also measured at this size
# registrations/s while filling: below capacity. A first REGISTER inserts
# a row into a B-tree ordered by name, on a page anywhere in the file when
# users come in random order: at 8 000/s 4 494 of a million failed (no
# retransmissions: answered, not lost), with fuzzers on the machine.
REGISTER_RATE = 6000
REFRESH_RATE = 6000         # the rate register_cpu_us is measured at
REFRESH_S = 8.0
CAPACITY_START = 4000       # refreshes/s of the capacity ramp's first step
# As the SIP bench's steps (sip_bench.STEP_S): in 3 s steps sipp's own
# start and finish took 7-10 % of the wall time a step's completion rate is
# counted over, and a 4 000/s step, a fifth of what the core completes,
# failed its 90 % (3 585 completed/s, run 68).
CAPACITY_STEP_S = 5.0
CAPACITY_BISECTIONS = 2
STORM_S = 12.0
QUICK = {"bindings": 100000, "refresh_s": 4.0, "storm_s": 6.0, "step_s": 2.0}
PING_INTERVAL_S = 0.002     # 500 OPTIONS a second
PING_TIMEOUT_S = 2.0        # an unanswered ping counts as this
EXPIRE_AFTER_S = 20         # past the restart, so all expire in one second
EXPIRY_WINDOW_S = 15        # every binding must be gone by then
KAMAILIO_SHM_MB = 4096      # usrloc at a million contacts (512 MB in the SIP bench)


# --- the SIP pinger ---------------------------------------------------------------

class Pinger(threading.Thread):
    """OPTIONS to the server every PING_INTERVAL_S from core 0; keeps
    (sent_at, round trip) for each, an unanswered one as PING_TIMEOUT_S."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.samples = []         # (sent_at, rtt_s)
        self.pending = {}         # cseq -> sent_at
        self.stop_flag = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((sb.HOST, 0))
        self.sock.setblocking(False)
        self.me = self.sock.getsockname()[1]

    def message(self, n):
        return ("OPTIONS sip:%s:%d SIP/2.0\r\n"
                "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-rp-%d;rport\r\n"
                "From: <sip:pinger@%s>;tag=rp%d\r\nTo: <sip:%s:%d>\r\n"
                "Call-ID: rp-%d@bench\r\nCSeq: %d OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
                % (sb.HOST, self.port, sb.HOST, self.me, n, sb.DOMAIN, n, sb.HOST,
                   self.port, os.getpid(), n)).encode()

    def run(self):
        os.sched_setaffinity(0, {int(sb.SIPP_CPU)})
        n = 0
        next_send = time.monotonic()
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now >= next_send:
                n += 1
                self.pending[n] = now
                try:
                    self.sock.sendto(self.message(n), (sb.HOST, self.port))
                except OSError:
                    pass
                next_send += PING_INTERVAL_S
                if next_send < now:
                    next_send = now + PING_INTERVAL_S
            self.receive()
            while self.pending:  # oldest first (insertion order)
                cseq, sent = next(iter(self.pending.items()))
                if now - sent <= PING_TIMEOUT_S:
                    break
                del self.pending[cseq]
                self.samples.append((sent, PING_TIMEOUT_S))
            time.sleep(max(0.0, min(0.0005, next_send - time.monotonic())))

    def receive(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, ConnectionRefusedError):
                return
            now = time.monotonic()
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"cseq:"):
                    try:
                        cseq = int(line.split()[1])
                    except (IndexError, ValueError):
                        break
                    sent = self.pending.pop(cseq, None)
                    if sent is not None:
                        self.samples.append((sent, now - sent))
                    break

    def snapshot(self):
        """The samples so far, copied in one step: walking the live list
        takes the GIL for milliseconds while this thread appends to it,
        and pings answered meanwhile would likely count that wait (runs
        67-72 had round trips of 6-10 ms at +16.0-16.1 s, the moment the
        expiry window's figures were computed)."""
        return list(self.samples)

    def worst_ms(self, t0, t1):
        """The worst round trip of pings sent in [t0, t1], ms."""
        rtts = [r for s, r in self.snapshot() if t0 <= s <= t1]
        return 1000.0 * max(rtts) if rtts else float("nan")

    def stalls(self, t0, t1, over_ms=5.0, top=5):
        """Where the round trip was over `over_ms` in [t0, t1]: how many,
        and the worst `top` as "ms at +s" (seconds after t0), to match
        against a profile's timeline."""
        slow = sorted(((r, s) for s, r in self.snapshot() if t0 <= s <= t1 and r * 1000 > over_ms),
                      reverse=True)
        worst = ", ".join("%.1f ms at +%.2f s" % (1000 * r, s - t0) for r, s in slow[:top])
        return "%d over %.0f ms%s" % (len(slow), over_ms, (": " + worst) if worst else "")

    def finish(self):
        self.stop_flag.set()
        self.join(5)
        self.sock.close()


# --- users and sipp ------------------------------------------------------------------

def write_csv(path, users):
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for u, pw in users:
            f.write("%s;[authentication username=%s password=%s];%s\n" % (u, u, pw, sb.DOMAIN))
    return path


def sipp_register(args, server, csv, rate, calls, tag):
    """sipp register_auth for `calls` users of `csv` at `rate`; SippRun."""
    return sb.run_sipp(args, "register_auth.xml", server.port, sb.UAC_PORT, csv, rate, calls, tag)


def fill(args, server, csv, count, tag, required=1.0):
    """Registers `count` users; at least `required` of them must succeed.
    Returns how many did."""
    t0 = time.monotonic()
    r = sipp_register(args, server, csv, args.register_rate, count, tag)
    log("%s: %d registrations at %d/s in %.1f s: %d ok, %d failed, %d retransmissions"
        % (server.name, count, args.register_rate, time.monotonic() - t0, r.successful,
           r.failed, r.retrans))
    if r.successful < required * count:
        raise BenchError("%s: %d of %d registrations failed" % (server.name, count - r.successful,
                                                                 count))
    return r.successful


def settle(server, tag, idle_share=0.03, limit_s=40.0):
    """Waits until the server's processes use under idle_share of a core
    over a second (at most limit_s): what a fill leaves behind (its
    transactions' timer J, the WAL's checkpoint, freed memory going back)
    is not a refresh's cost."""
    pids = server.sip_pids()
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        c0 = sb.cpu_seconds(pids)
        time.sleep(1.0)
        if sb.cpu_seconds(pids) - c0 < idle_share:
            break
    log("%s: %s: idle after %.0f s" % (server.name, tag, time.monotonic() - t0))


def start_profile(args, pids, name, off_cpu=False):
    """With --profile DIR: perf samples the SIP server's threads while a
    refresh or a storm is measured (DIR/NAME.perf), the means to find what
    grows with N and what shedding costs. With `off_cpu` it also records
    every switch off a core with its stack (a stall's cause when the loop
    waits rather than works), on the monotonic clock the pinger's stall
    times are on. Sampling costs CPU too, so a profiled run's figures are
    not quoted."""
    if not args.profile:
        return None
    os.makedirs(args.profile, exist_ok=True)
    out = os.path.join(args.profile, name + ".perf")
    events = ["-e", "cpu-clock", "-e", "sched:sched_switch"] if off_cpu else []
    log("%s: profile %s from %.3f (monotonic)" % (name, out, time.monotonic()))
    return subprocess.Popen(["perf", "record", "-q", "-k", "mono", "-F", "499", "--call-graph",
                             "dwarf,8192"] + events + ["-o", out, "-p",
                                                       ",".join(str(p) for p in pids)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(profiler):
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)


def cpu_per_refresh_us(args, server, csv, tag):
    """CPU of the SIP server's processes per completed refresh, µs."""
    calls = int(REFRESH_RATE * args.refresh_s)
    settle(server, tag)
    pids = server.sip_pids()
    profiler = start_profile(args, pids, "%s-%s" % (server.name, tag))
    c0 = sb.cpu_seconds(pids)
    r = sipp_register(args, server, csv, REFRESH_RATE, calls, tag)
    used = sb.cpu_seconds(pids) - c0
    stop_profile(profiler)
    if r.successful < 0.99 * calls:
        raise BenchError("%s: %d of %d refreshes at %d/s failed" % (server.name,
                         calls - r.successful, calls, REFRESH_RATE))
    us = 1e6 * used / max(1, r.successful)
    log("%s: %s: %.1f us of CPU per refresh (%d at %d/s, %.2f s of CPU)"
        % (server.name, tag, us, r.successful, REFRESH_RATE, used))
    return us


def capacity_per_s(args, server, users, completed):
    """The highest refresh rate (of all N users in turn) that passes the
    SIP bench's step test: at most 1 % failed and at least 90 % of the
    target completed per second. Doubling from CAPACITY_START, then
    bisecting twice. Each step's completed refreshes per second are
    appended to `completed`."""
    best, fail, n, rate = 0, None, 0, CAPACITY_START
    while fail is None and rate <= sb.MAX_RATE:
        n += 1
        if sb.step(args, server, SCENARIO, users, rate, n, completed):
            best, rate = rate, rate * 2
        else:
            fail = rate
        time.sleep(sb.SETTLE_S)
    for _ in range(0 if fail is None or best == 0 else CAPACITY_BISECTIONS):
        rate = int(round((best + fail) / 2 / 100.0)) * 100
        if rate <= best or rate >= fail:
            break
        n += 1
        if sb.step(args, server, SCENARIO, users, rate, n, completed):
            best = rate
        else:
            fail = rate
        time.sleep(sb.SETTLE_S)
    if best == 0:
        raise BenchError("%s passed no step from %d/s" % (server.name, CAPACITY_START))
    log("%s: capacity %d refreshes/s" % (server.name, best))
    return best


def storm_goodput_pct(args, server, users, capacity, completed, tag):
    """Refreshes completed per second under a storm offered at storm_x (2)
    x the capacity rate, % of the most the server was seen to complete
    per second before it: in any step of the capacity search
    (`completed`), or offered the capacity rate by the storm's own
    generator. The largest of these is the denominator, so G can only
    come out lower than against any one of them."""
    completed = completed + [
        completed_per_s(args, server, users, capacity, capacity, tag + "-at-capacity")]
    time.sleep(sb.SETTLE_S)
    stormed = completed_per_s(args, server, users, int(args.storm_x * capacity), capacity, tag)
    most = max(completed)
    log("%s: %.0f refreshes/s completed under the storm; the most completed per second before "
        "it %.0f/s (steps and at the capacity rate %d/s: %s): %.1f %% (%.1f %% of the capacity "
        "rate)" % (server.name, stormed, most, capacity,
                   " ".join("%.0f" % c for c in completed), 100.0 * stormed / most,
                   100.0 * stormed / capacity))
    return 100.0 * stormed / max(1.0, most)


def completed_per_s(args, server, users, rate, capacity, tag):
    """Refreshes of all N users in turn, offered at `rate` for storm_s by
    bench/udp_register_storm on core 0 (sipp saturates that core above
    about 1.3 x); completed per second over the steady part (its first
    second left out)."""
    out = os.path.join(args.tmpdir, "storm-%s.jsonl" % tag)
    argv = sb.pinned(sb.SIPP_CPU) + [
        # From sipp's address: the same Contact, so each is a refresh.
        args.storm, "--server", "%s:%d" % (sb.HOST, server.port), "--users", users.tls_users,
        "--bind", sb.HOST, "--port", str(sb.UAC_PORT),
        "--domain", sb.DOMAIN, "--rate", str(rate), "--seconds", str(args.storm_s),
        "--timeout-ms", str(sb.RECV_TIMEOUT_MS),
        # The phones sipp registered (bench/sipp/register_auth.xml): the
        # same User-Agent, or each first refresh rewrites its binding.
        "--user-agent", SIPP_USER_AGENT]
    profiler = start_profile(args, server.sip_pids(), "%s-%s" % (server.name, tag))
    with open(out, "w") as f:
        p = PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    try:
        p.wait(args.storm_s + 3 * sb.RECV_TIMEOUT_MS / 1000 + 30)
    except subprocess.TimeoutExpired:
        raise BenchError("udp_register_storm did not finish\n%s" % log_tail(out))
    finally:
        stop_profile(profiler)
        Processes.stop(p, grace_s=2.0)
        PROCS.procs.remove(p)
    try:
        rows = [json.loads(line) for line in open(out) if line.startswith("{")]
    except ValueError:
        raise BenchError("udp_register_storm: bad output\n%s" % log_tail(out))
    window = [r for r in rows if not r.get("done") and 1.0 <= r["t"] <= args.storm_s + 0.5]
    if len(window) < 2 or not rows[-1].get("done"):
        raise BenchError("udp_register_storm: too few reports in %s\n%s" % (out, log_tail(out)))
    per_s = ((window[-1]["completed"] - window[0]["completed"]) /
             (window[-1]["t"] - window[0]["t"]))
    d = rows[-1]
    # Second by second: a dip says when, the mean alone does not.
    steps = [r for r in rows if not r.get("done")]
    log("%s: %s: completed each second: %s" % (server.name, tag, " ".join(
        "%d" % (b["completed"] - a["completed"]) for a, b in zip(steps, steps[1:]))))
    log("%s: %s: offered %d/s for %.0f s (generator CPU %.1f s in %.1f s): %.0f completed/s; "
        "of %d: %d completed, %d refused (503), %d failed, %d timed out, %d retransmissions; "
        "capacity rate %.0f/s" % (server.name, tag, rate, args.storm_s, d["cpu_s"], d["wall_s"],
                                  per_s, d["started"], d["completed"], d["refused"], d["failed"],
                                  d["timed_out"], d["retransmissions"], capacity))
    return per_s


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def rss_parts(pid):
    """RssAnon, RssFile and RssShmem of pid, MB: what a resident figure is made of."""
    parts = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                parts[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    return " ".join("%s %.1f MB" % kv for kv in sorted(parts.items()))


def pss_bytes(pids):
    total = 0
    for p in sb.descendants(pids):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


# --- rtplatch ---------------------------------------------------------------------------

class Rtplatch(sb.RtplatchServer):
    """The SIP bench's rtplatch, whose control plane can be killed and
    started again alone on the same config and store."""

    def control(self):
        return self.procs[-1]

    def sip_pids(self):
        """rtplatch-control alone: the dataplane's forwarding lcore takes
        whatever core 1 leaves idle (SCHED_IDLE), REGISTER or not."""
        return [self.control().pid]

    def database(self):
        return os.path.join(self.args.tmpdir, "bindings-%s.sqlite" % SCENARIO)

    def ctl(self, *argv):
        """rtplatchctl on the control socket from core 0; (seconds, output)."""
        sock = os.path.join(self.args.tmpdir, "control-%s.sock" % SCENARIO)
        t0 = time.monotonic()
        p = subprocess.run(sb.pinned(sb.SIPP_CPU) + [self.args.ctl, "--control-socket", sock,
                           "--json"] + list(argv), capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise BenchError("rtplatchctl %s: %s" % (" ".join(argv), p.stderr.strip()))
        return time.monotonic() - t0, p.stdout

    def registered(self):
        return int(json.loads(self.ctl("registrations", "--limit", "1")[1])["total"])

    def kill9_and_restart(self, expire_at):
        """kill -9 of the control plane; every binding to expire at
        `expire_at`; start again. Returns seconds to the first answer."""
        c = self.control()
        os.kill(c.pid, signal.SIGKILL)
        c.wait()
        self.procs.remove(c)
        PROCS.procs.remove(c)
        db = sqlite3.connect(self.database())
        try:
            db.execute("UPDATE bindings SET expires_at = ?", (expire_at,))
            # A logged refresh lies over its row (control/registrar/refresh_log.h).
            db.execute("UPDATE refreshes SET expires_at = ?", (expire_at,))
            db.commit()
        finally:
            db.close()
        cfg = os.path.join(self.args.tmpdir, "control-%s.json" % SCENARIO)
        clog = self.log("control-restart")
        t0 = time.monotonic()
        control = sb.start_logged(sb.pinned(sb.SERVER_CPU) + [self.args.control, "--config", cfg],
                                  clog)
        self.procs.append(control)
        wait_answering(self.port, control, clog)
        return time.monotonic() - t0, clog


def wait_answering(port, p, log_path, timeout=120):
    """Polls OPTIONS every 10 ms until answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sb.HOST, 0))
    s.settimeout(0.01)
    me = s.getsockname()[1]
    deadline = time.monotonic() + timeout
    n = 0
    try:
        while time.monotonic() < deadline:
            sb.check_alive(p, "server", log_path)
            n += 1
            s.sendto(("OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-w%d;"
                      "rport\r\nFrom: <sip:w@%s>;tag=w%d\r\nTo: <sip:%s:%d>\r\nCall-ID: w%d-%d\r\n"
                      "CSeq: %d OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                      % (sb.HOST, port, sb.HOST, me, n, sb.DOMAIN, n, sb.HOST, port, os.getpid(),
                         n, n)).encode(), (sb.HOST, port))
            try:
                while True:
                    if s.recv(65536).startswith(b"SIP/2.0 200"):
                        return
            except (socket.timeout, ConnectionRefusedError):
                pass
    finally:
        s.close()
    raise BenchError("no answer to OPTIONS on port %d in %d s\n%s" % (port, timeout,
                                                                      log_tail(log_path)))


def loaded_count(log_path):
    with open(log_path, errors="replace") as f:
        for line in f:
            if " bindings loaded" in line:
                return int(line.split(" bindings loaded")[0].rsplit(" ", 1)[1])
    raise BenchError("no 'bindings loaded' line in %s" % log_path)


def registration_order(args, users):
    """The users in the order they register: seeded, unrelated to their
    names (a population's registration times are); with
    --registration-order name, by name (the figures before 2026-12-05)."""
    order = list(users)
    if args.registration_order == "random":
        random.Random(args.seed).shuffle(order)
    return order


def spread(users, count):
    """`count` users spread evenly over all of them."""
    step = max(1, len(users) // count)
    return users[::step][:count]


def run_rtplatch(args, users):
    n = len(users.users)
    base = min(SCALING_BASE, n)
    registered = registration_order(args, users.users)
    server = Rtplatch(args, users, None)
    server.start(SCENARIO)
    control = server.control()
    d = args.tmpdir
    rss0 = rss_bytes(control.pid)
    fill(args, server, write_csv(os.path.join(d, "first.csv"), registered[:base]), base, "fill-1")
    c0 = cpu_per_refresh_us(args, server, write_csv(os.path.join(d, "refresh-base.csv"),
                                                     registered[:base]), "refresh-%d" % base)
    if n > base:
        fill(args, server, write_csv(os.path.join(d, "rest.csv"), registered[base:]), n - base,
             "fill-2")
    rss1 = rss_bytes(control.pid)
    bpb = (rss1 - rss0) / n
    log("rtplatch: resident %.1f MB before, %.1f MB with %d bindings: %.0f bytes per binding"
        " (%s)" % (rss0 / 1e6, rss1 / 1e6, n, bpb, rss_parts(control.pid)))
    c = cpu_per_refresh_us(args, server, write_csv(os.path.join(d, "refresh-spread.csv"),
                                                   spread(registered, base)), "refresh-%d" % n)

    pinger = Pinger(server.port)
    pinger.start()
    try:
        profiler = start_profile(args, server.sip_pids(), "rtplatch-list", off_cpu=True)
        time.sleep(1.0)
        t0 = time.monotonic()
        log("rtplatch: worst OPTIONS round trip in a quiet second before them: %.1f ms"
            % pinger.worst_ms(t0 - 1.0, t0))
        log("rtplatch: the list window starts at %.3f (monotonic)" % t0)
        for i in range(3):
            s1, _ = server.ctl("registrations", "--limit", "10")
            aor = "%s@%s" % (users.users[random.randrange(n)][0], sb.DOMAIN)
            s2, _ = server.ctl("registration", aor)
            # A filter across AORs: a bounded slice a call (docs/control-protocol.md).
            s3, _ = server.ctl("registrations", "--natted", "--limit", "10")
            log("rtplatch: registrations --limit 10 took %.3f s, registration AOR %.3f s, "
                "registrations --natted --limit 10 %.3f s" % (s1, s2, s3))
        time.sleep(0.2)
        stop_profile(profiler)
        t1 = time.monotonic()
        list_stall = pinger.worst_ms(t0, t1)
        log("rtplatch: worst OPTIONS round trip while they ran: %.1f ms (%s)"
            % (list_stall, pinger.stalls(t0, t1)))

        completed = []
        capacity = capacity_per_s(args, server, users, completed)
        goodput = storm_goodput_pct(args, server, users, capacity, completed, "storm")
        stats = json.loads(server.ctl("sip-stats")[1])
        log("rtplatch: after the storm: overload %s" % json.dumps(stats.get("overload")))
        log("rtplatch: after the storm: sip-stats %s" % json.dumps(
            {k: v for k, v in stats.items() if k != "overload"}))
        log("rtplatch: resident %.1f MB after the storm" % (rss_bytes(server.control().pid) / 1e6))
        time.sleep(1.0)  # the storm's last retransmissions

        expire_at = int(time.time()) + EXPIRE_AFTER_S
        restart_s, clog = server.kill9_and_restart(expire_at)
        loaded = loaded_count(clog)
        log("rtplatch: kill -9 and restart: answering after %.2f s, %d of %d bindings loaded"
            % (restart_s, loaded, n))
        if loaded != n:
            raise BenchError("rtplatch lost %d bindings across kill -9" % (n - loaded))
        # The window: from the second before the expiry to EXPIRY_WINDOW_S
        # after it; no operator command runs in it (a list would stall SIP
        # itself), the count is read after it.
        window_start = time.monotonic() + (expire_at - 1 - time.time())
        log("rtplatch: the expiry window starts at %.3f (monotonic)" % window_start)
        profiler = start_profile(args, server.sip_pids(), "rtplatch-expiry", off_cpu=True)
        while time.time() < expire_at + EXPIRY_WINDOW_S:
            time.sleep(0.1)
        stop_profile(profiler)
        window_end = window_start + 1 + EXPIRY_WINDOW_S
        expiry_stall = pinger.worst_ms(window_start, window_end)
        left = server.registered()
        log("rtplatch: %d of %d bindings left %d s after their expiry second; worst OPTIONS "
            "round trip from the second before: %.1f ms (%s)"
            % (left, n, EXPIRY_WINDOW_S, expiry_stall, pinger.stalls(window_start, window_end)))
        log("rtplatch: binding store after the expiry: %s"
            % json.dumps(json.loads(server.ctl("sip-stats")[1]).get("binding_store")))
        if left:
            raise BenchError("%d bindings outlived their expiry by %d s" % (left, EXPIRY_WINDOW_S))
    finally:
        pinger.finish()
        server.stop()
    print("registrar bindings=%d bytes_per_binding=%.0f restart_s=%.2f list_stall_ms=%.1f "
          "expiry_stall_ms=%.1f register_cpu_us=%.1f storm_goodput_pct=%.1f"
          % (n, bpb, restart_s, list_stall, expiry_stall, c, goodput), flush=True)
    print("registrar_scaling register_cpu_us_%dk=%.1f register_cpu_us=%.1f ratio=%.2f"
          % (base // 1000, c0, c, c / c0), flush=True)


# --- Kamailio ---------------------------------------------------------------------------

def run_kamailio(args, users):
    n = len(users.users)
    args.kamailio_shm_mb = KAMAILIO_SHM_MB
    args.kamailio_startup_timeout_s = 900  # htable loads N accounts from db_text
    server = sb.KamailioServer(args, users, None)
    server.sip_pids = server.pids  # Kamailio and its workers (rtpengine idles)
    server.start(SCENARIO)
    try:
        pss0 = pss_bytes(server.pids())
        registered = registration_order(args, users.users)
        # Kamailio at a million does not keep up with the bench's fill rate
        # (16 658 of a million failed at 6 000/s, 406 232 retransmissions):
        # its figures are per user registered, as long as 95 % were.
        n = fill(args, server, write_csv(os.path.join(args.tmpdir, "k-fill.csv"), registered),
                 len(registered), "k-fill", required=0.95)
        time.sleep(2.0)  # usrloc's write-back timer
        bpb = (pss_bytes(server.pids()) - pss0) / n
        log("kamailio: PSS %.1f MB before, %.1f MB with %d contacts: %.0f bytes per binding"
            % (pss0 / 1e6, (pss0 + bpb * n) / 1e6, n, bpb))
        c = cpu_per_refresh_us(args, server, write_csv(os.path.join(args.tmpdir, "k-refresh.csv"),
                                                       spread(registered, SCALING_BASE)),
                               "k-refresh")
        completed = []
        capacity = capacity_per_s(args, server, users, completed)
        goodput = storm_goodput_pct(args, server, users, capacity, completed, "k-storm")
        time.sleep(1.0)
        kamailio = server.procs.pop()  # after rtpengine
        for p in sb.descendants([kamailio.pid]):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kamailio.wait()
        db = sqlite3.connect(server.usrloc_db(SCENARIO))
        kept = db.execute("SELECT COUNT(*) FROM location").fetchone()[0]
        db.close()
        t0 = time.monotonic()
        server.start_kamailio(SCENARIO, fresh_usrloc=False)  # returns once answering
        restart_s = time.monotonic() - t0
        log("kamailio: kill -9: %d of %d rows in SQLite; restart answering after %.2f s"
            % (kept, n, restart_s))
    finally:
        server.stop()
    print("registrar_kamailio bindings=%d bytes_per_binding=%.0f restart_s=%.2f "
          "storm_goodput_pct=%.1f kept=%d" % (n, bpb, restart_s, goodput, kept), flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="the registrar at scale (see module docstring)")
    ap.add_argument("--bindings", type=int)
    ap.add_argument("--quick", action="store_true", help="%d bindings, short phases"
                    % QUICK["bindings"])
    ap.add_argument("--skip-kamailio", action="store_true")
    ap.add_argument("--skip-rtplatch", action="store_true")
    ap.add_argument("--register-rate", type=int, default=REGISTER_RATE)
    ap.add_argument("--storm-x", type=float, default=2.0,
                    help="the storm's offered rate over capacity (default 2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--registration-order", choices=("random", "name"), default="random",
                    help="the order users register and refresh in (default random)")
    ap.add_argument("--dataplane", default=throughput.DEFAULT_DATAPLANE)
    ap.add_argument("--control", default=sb.DEFAULT_CONTROL)
    ap.add_argument("--ctl", default=DEFAULT_CTL)
    ap.add_argument("--storm", default=DEFAULT_STORM, help="bench/udp_register_storm binary")
    ap.add_argument("--kamailio", default=shutil.which("kamailio", path="/usr/sbin:/usr/bin")
                    or "kamailio")
    ap.add_argument("--rtpengine", default=shutil.which("rtpengine") or "rtpengine")
    ap.add_argument("--sipp", default=shutil.which("sipp") or "sipp")
    ap.add_argument("--profile", metavar="DIR",
                    help="record perf profiles of each refresh measurement and storm into DIR")
    ap.add_argument("--tmpdir")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args(argv)
    if args.bindings is None:
        args.bindings = QUICK["bindings"] if args.quick else 1000000
    args.refresh_s = QUICK["refresh_s"] if args.quick else REFRESH_S
    args.storm_s = QUICK["storm_s"] if args.quick else STORM_S
    args.step_s = QUICK["step_s"] if args.quick else CAPACITY_STEP_S
    # What sip_bench's servers read from args.
    args.kamailio_children = sb.KAMAILIO_CHILDREN
    args.kamailio_tcp_children = sb.KAMAILIO_TCP_CHILDREN
    return args


def main(argv=None):
    args = parse_args(argv)
    own_tmp = throughput.start_run(args)
    failed = False
    try:
        t0 = time.monotonic()
        users = sb.Users(args.tmpdir, args.bindings, args.seed)
        log("%d users written in %.1f s" % (args.bindings, time.monotonic() - t0))
        for name, run in (("rtplatch", run_rtplatch), ("kamailio", run_kamailio)):
            if getattr(args, "skip_" + name):
                continue
            try:
                run(args, users)
            except BenchError as e:
                log("FAILED: %s: %s" % (name, e))
                failed = True
    finally:
        throughput.end_run(args, own_tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
