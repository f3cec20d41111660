#!/usr/bin/env python3
"""SIP control-plane benchmark: rtplatch-control against Kamailio 5.6 +
rtpengine, in the same run, driven by sipp over UDP on 127.0.0.1 (and over
TLS by bench/tls_register_load, sipp having no TLS in Debian).

Scenarios (sipp XML in bench/sipp/):

  register_noauth  REGISTER -> 200, the next user of the users CSV per call
  register_auth    REGISTER -> 401 -> REGISTER with digest -> 200; every
                   user has its own password, which each server holds in
                   its own form (rtplatch: users file with MD5 HA1s;
                   Kamailio: htable loaded from a db_text table, checked by
                   pv_auth_check)
  call             INVITE with SDP -> server -> a sipp UAS registered as
                   bench-uas@bench.example -> 200 with SDP -> ACK -> BYE
                   -> 200; the server relays media (Kamailio:
                   rtpengine_offer/answer/delete against rtpengine; rtplatch:
                   its dataplane). No RTP flows.
  call_peer        a phone of our domain calls a number, +1555NNNNNNN at
                   bench.example (the next of a CSV), which is no local
                   user: the server's dial plan (prefix +1) sends it to the
                   carrier core, a sipp UAS on CORE_HOST:CORE_PORT (no
                   registration), media relayed as in `call`. rtplatch:
                   "peers" + "routes" (peer "core", media "always");
                   Kamailio: the dispatcher module (ds_select_dst, priority
                   order with failover) for R-URIs matching ^\+1. The
                   caller is treated as in `call`: INVITEs are not
                   challenged by either server; both check that it is from
                   our domain and not the core.
  register_tls     register_auth over TLS, each phone keeping its
                   connection: bench/tls_register_load (C++, OpenSSL) opens
                   TLS_CONNECTIONS connections from TLS_SOURCES addresses
                   (127.0.1.1...) before the step and sends every REGISTER
                   of the step over them, one transaction at a time per
                   connection (REGISTER, 401, REGISTER with MD5 digest,
                   200; the register_auth users and passwords). TLS 1.2+
                   with a certificate of a CA made here with openssl.
                   rtplatch: tls_listen + tls (shipped TLS defaults);
                   Kamailio: tls module, its default config's TCP/TLS
                   settings, TLS workers = UDP workers.
  register_auth_redis  register_auth with the registrations shared in one
                   Redis (redis-server on the server's core, no
                   persistence), started fresh for each server: rtplatch
                   as a cluster of two nodes (docs/cluster.md), the loaded
                   node edge-a on the server's core and edge-b (another
                   machine in a deployment) on the load generator's,
                   applying every change edge-a publishes; Kamailio with
                   usrloc written back (db_mode 2, every second) to Redis
                   through db_redis (Debian's kamailio-redis-modules).

For each scenario and each server (started fresh for the scenario) the
harness ramps sipp's call rate: steps of STEP_S seconds (-m rate*STEP_S),
doubling while a step passes, then bisecting between the last pass and the
first failure. A step passes when at most 1 % of its calls failed or timed
out (sipp's FailedCall plus calls that never finished; for register_tls
the generator's failed, timed-out and never-started transactions) and the
load generator completed calls at >= 90 % of the target rate (a server that queues does not pass by
answering late). The best passing target rate is the server's figure; a
server that fails its first step (or does not start) scores 0. One line per
scenario goes to stdout:

  sip scenario=NAME rtplatch_per_s=X kamailio_per_s=Y ratio=X/Y

Diagnostics go to stderr: per step the outcome, retransmissions, and the
CPU the server processes and sipp used; when sipp's core was saturated the
figure is the load generator's, and a warning says so.

Placement on this 2-core machine: everything that is the server runs on
core 1 (taskset -c 1): kamailio and its workers plus rtpengine, or
rtplatch-control plus rtplatch-dataplane (both EAL lcores on core 1; its
busy-polling forwarding lcore is set to SCHED_IDLE and its process's
autogroup to nice 19, so it only takes time core 1 would otherwise idle
away: in a deployment it has its own core, and
without RTP it has nothing to do). sipp (UAC and UAS) and
tls_register_load (one thread) run on core 0.

Ports, on 127.0.0.1: Kamailio 15060 (TLS 15061), rtpengine ng 22222 and
media 30000-39999; rtplatch 25060 (TLS 25061), its dataplane's relay ports
40000-49999; sipp 17060 (UAC) and 17061 (UAS). The core of call_peer is at
127.0.0.2:17062: rtplatch knows a peer's requests by their source address,
and the phones are at 127.0.0.1. The TLS phones connect from 127.0.1.1-8.
Every process started here is killed by PID on exit, also on ^C and on
failure.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "lib"))
import dataplane_launch  # noqa: E402
import throughput  # noqa: E402
from throughput import BenchError, PROCS, Processes, log, log_tail  # noqa: E402

REPO = throughput.REPO
HERE = os.path.dirname(os.path.abspath(__file__))
SIPP_DIR = os.path.join(HERE, "sipp")
KAMAILIO_CFG = os.path.join(HERE, "kamailio", "kamailio.cfg")
RTPENGINE_CONF = os.path.join(HERE, "kamailio", "rtpengine.conf")
DEFAULT_CONTROL = os.path.join(REPO, "build", "control", "rtplatch-control")
DEFAULT_TLS_LOAD = os.path.join(REPO, "build", "bench", "tls_register_load")

HOST = "127.0.0.1"        # sipp and both servers: loopback only
DOMAIN = "bench.example"
KAMAILIO_PORT = 15060
RTPLATCH_PORT = 25060
RTPENGINE_NG_PORT = 22222  # must match bench/kamailio/rtpengine.conf
RTPLATCH_PORT_MIN, RTPLATCH_PORT_MAX = 40000, 49999  # as many as rtpengine's
UAC_PORT = 17060
UAS_PORT = 17061
UAS_USER = "bench-uas"
CORE_HOST = "127.0.0.2"   # call_peer's carrier core (sipp UAS)
CORE_PORT = 17062
PEER_PREFIX = "+1"        # the dial plan's route to the core
PEER_NUMBERS = 1000       # +15550000000... dialled in turn
KAMAILIO_TLS_PORT = 15061
RTPLATCH_TLS_PORT = 25061
TLS_CONNECTIONS = 256     # persistent, one per phone line, reused all step
TLS_SOURCES = 8           # local addresses: 32 connections each (rtplatch
                          # takes 64 per address by default)
TLS_BIND = "127.0.1.1"    # the first of them
SERVER_CPU = "1"
SIPP_CPU = "0"

SCENARIOS = ("register_noauth", "register_auth", "call", "call_peer", "register_tls",
             "register_auth_redis")
# The sipp UAC of each sipp scenario: its XML and the Users attribute
# naming its injection file.
SIPP_UAC = {"register_noauth": ("register_noauth.xml", "csv"),
            "register_auth": ("register_auth.xml", "csv"),
            "register_auth_redis": ("register_auth.xml", "csv"),
            "call": ("call_uac.xml", "callee_csv"),
            "call_peer": ("call_uac.xml", "numbers_csv")}
AUTH_SCENARIOS = ("register_auth", "register_tls", "register_auth_redis")
REDIS_PORT = 16379        # register_auth_redis: the one Redis of the servers
REDIS_DB = 5              # Kamailio's usrloc database in it (db_redis's README)
USRLOC_TABLE_VERSION = "9"  # /usr/share/kamailio/db_redis/kamailio/location
MAX_FAILED_FRACTION = 0.01
MIN_RATE_FRACTION = 0.90  # completed calls/s over the target rate
START_RATE = 250          # calls/s of the first step
QUICK_START_RATE = 200
MAX_RATE = 64000
STEP_S = 5.0              # calls per step = rate * STEP_S
QUICK_STEP_S = 1.5
BISECT_STEPS = 2          # after the first failure (--quick: none)
QUICK_MAX_STEPS = 3       # per scenario and server
SETTLE_S = 1.0            # pause between steps: retransmissions die down
RECV_TIMEOUT_MS = 5000    # a call waiting longer for a message fails
USERS = 20000             # users in the CSV; sipp wraps around (re-REGISTER)
STARTUP_TIMEOUT_S = 60
SIPP_SATURATED = 0.95     # share of core 0 above which sipp is the limit
OTHERS_WARN = 0.10        # share of core 1 taken by others: figures disturbed
SERVER_RESTARTS = 2       # per step, for a server that crashed (checked_step)
# Kamailio UDP workers. More than the one core because a worker blocks on
# each rtpengine round trip (offer, answer, delete): with 1 worker the call
# scenario idles the core at ~40 % and peaks at about a third of what 4
# workers reach (REGISTER does not block on rtpengine). Kamailio gets its
# best configuration, not the literal one-core one.
KAMAILIO_CHILDREN = 4
# Its TCP/TLS workers (register_tls): as many, for the same reason of
# giving it its best; REGISTER over TLS blocks on nothing either way.
KAMAILIO_TCP_CHILDREN = KAMAILIO_CHILDREN
KAMAILIO_SHM_MB = 512
KAMAILIO_PKG_MB = 32


# --- processes and CPU ------------------------------------------------------------

def pinned(cpu):
    return ["taskset", "-c", cpu]


def descendants(pids):
    """pids plus every process below them (Kamailio forks its workers)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def live_process_count(pids):
    """pids and their descendants that are not zombies."""
    n = 0
    for p in descendants(pids):
        try:
            with open("/proc/%d/stat" % p) as f:
                n += f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            pass
    return n


def cpu_seconds(pids):
    """CPU time (user + system) of pids and their descendants, seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(pids):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / tick


def core_busy_seconds(cpu):
    """Busy time of one CPU (all processes), seconds, from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%s " % cpu):
                v = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal
                return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    return 0.0


def start_logged(argv, log_path, **kw):
    with open(log_path, "w") as logf:
        return PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=logf,
                           stderr=subprocess.STDOUT, **kw)


def check_alive(p, what, log_path):
    if p.poll() is not None:
        raise BenchError("%s exited with status %d\n%s" % (what, p.returncode, log_tail(log_path)))


def sip_ping(port, p, what, log_path, timeout=STARTUP_TIMEOUT_S):
    """Waits until the server on HOST:port answers OPTIONS with 200."""
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    me = s.getsockname()[1]
    s.settimeout(0.3)
    n = 0
    try:
        while True:
            check_alive(p, what, log_path)
            n += 1
            msg = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-ping-%d-%d;rport\r\n"
                   "From: <sip:ping@%s>;tag=ping%d\r\n"
                   "To: <sip:%s:%d>\r\n"
                   "Call-ID: ping-%d-%d@bench\r\n"
                   "CSeq: %d OPTIONS\r\n"
                   "Max-Forwards: 70\r\n"
                   "Content-Length: 0\r\n\r\n"
                   % (HOST, port, HOST, me, os.getpid(), n, DOMAIN, n, HOST, port,
                      os.getpid(), n, n))
            s.sendto(msg.encode(), (HOST, port))
            try:
                data = s.recv(65536).decode(errors="replace")
                if data.startswith("SIP/2.0 200"):
                    return
                first = data.split("\r\n", 1)[0]
            except (socket.timeout, ConnectionRefusedError):
                first = "no answer"
            if time.monotonic() > deadline:
                raise BenchError("%s: OPTIONS to %s:%d: %s after %d s\n%s"
                                 % (what, HOST, port, first, timeout, log_tail(log_path)))
            time.sleep(0.05)
    finally:
        s.close()


# --- bench data: users ------------------------------------------------------------

class Users:
    """USERS users bench000000..., each with its own random password, in
    the three forms the two servers and sipp read."""

    def __init__(self, tmpdir, count, seed):
        rng = random.Random(seed)
        self.users = [("bench%06d" % i, "%016x" % rng.getrandbits(64)) for i in range(count)]
        d = tmpdir
        # sipp injection file: user;credentials;domain, the credentials as
        # the whole [authentication] keyword (sipp cannot nest [fieldN] in it)
        self.csv = os.path.join(d, "users.csv")
        with open(self.csv, "w") as f:
            f.write("SEQUENTIAL\n")
            for u, pw in self.users:
                f.write("%s;[authentication username=%s password=%s];%s\n"
                        % (u, u, pw, DOMAIN))
        # the UAS of the call scenario registers from its own socket
        self.uas_csv = os.path.join(d, "uas.csv")
        with open(self.uas_csv, "w") as f:
            f.write("SEQUENTIAL\n%s;-;%s\n" % (UAS_USER, DOMAIN))
        self.callee_csv = os.path.join(d, "callee.csv")
        with open(self.callee_csv, "w") as f:
            f.write("SEQUENTIAL\n%s;%s\n" % (UAS_USER, DOMAIN))
        # call_peer: numbers no user has, in the core's dial plan
        self.numbers_csv = os.path.join(d, "numbers.csv")
        with open(self.numbers_csv, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(PEER_NUMBERS):
                f.write("%s555%07d;%s\n" % (PEER_PREFIX, i, DOMAIN))
        # register_tls: bench/tls_register_load reads "user password" lines
        self.tls_users = os.path.join(d, "tls-users")
        fd = os.open(self.tls_users, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for u, pw in self.users:
                f.write("%s %s\n" % (u, pw))
        # rtplatch: docs/users-file.md, stored MD5 HA1 (sipp digests MD5 only)
        self.users_file = os.path.join(d, "users")
        fd = os.open(self.users_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# scripts/bench sip: %d users of %s\n" % (count, DOMAIN))
            for u, pw in self.users:
                ha1 = hashlib.md5(("%s:%s:%s" % (u, DOMAIN, pw)).encode()).hexdigest()
                f.write("%s@%s:md5:%s\n" % (u, DOMAIN, ha1))
        # Kamailio: db_text table `htable` loaded into htable `users`
        self.kamailio_db = os.path.join(d, "kamailio-db")
        os.makedirs(self.kamailio_db, exist_ok=True)
        with open(os.path.join(self.kamailio_db, "htable"), "w") as f:
            f.write("id(int,auto) key_name(string) key_type(int) value_type(int) "
                    "key_value(string) expires(int)\n")
            for i, (u, pw) in enumerate(self.users, 1):
                f.write("%d:%s:0:0:%s:0\n" % (i, u, pw))


class Certificates:
    """A throwaway CA and the servers' certificate it signs (P-256, valid
    two days, subjectAltName DNS:DOMAIN and IP:HOST), made with the openssl
    CLI as tests/integration/tls_phone_test.sh makes its own. Both servers
    present the same certificate; the TLS phones trust the CA."""

    def __init__(self, tmpdir):
        d = os.path.join(tmpdir, "tls")
        os.makedirs(d, exist_ok=True)
        self.ca = os.path.join(d, "ca.pem")
        self.certificate = os.path.join(d, "server.pem")
        self.private_key = os.path.join(d, "server.key")
        ca_key = os.path.join(d, "ca.key")
        csr = os.path.join(d, "server.csr")
        ext = os.path.join(d, "server.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nsubjectAltName=DNS:%s,IP:%s\n" % (DOMAIN, HOST))
        for argv in (
                ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ca_key],
                ["req", "-x509", "-new", "-key", ca_key, "-subj", "/CN=bench-ca", "-days", "2",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-out", self.ca],
                ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                 self.private_key],
                ["req", "-new", "-key", self.private_key, "-subj", "/CN=%s" % DOMAIN,
                 "-out", csr],
                ["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", self.certificate]):
            p = subprocess.run(["openssl"] + argv, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise BenchError("openssl %s: %s" % (" ".join(argv[:2]), p.stderr.strip()))


# --- servers ----------------------------------------------------------------------

class Server:
    """A SIP server under test on HOST:port, started fresh per scenario."""

    name = "?"
    port = 0
    tls_port = 0

    def __init__(self, args, users, certificates):
        self.args = args
        self.users = users
        self.certificates = certificates
        self.procs = []
        self.log_paths = []

    def start(self, scenario):
        raise NotImplementedError

    def pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def census(self):
        """Counts the server's processes once started (Kamailio's workers
        are forked, and a crashed one is not always followed by its main
        process at once): alive() wants them all."""
        self.process_count = live_process_count(self.pids())

    def alive(self):
        return (all(p.poll() is None for p in self.procs) and
                live_process_count(self.pids()) >= getattr(self, "process_count", 0))

    def stop(self):
        for p in reversed(self.procs):
            Processes.stop(p, grace_s=5.0)
        self.procs = []

    def log(self, what):
        path = os.path.join(self.args.tmpdir, "%s-%s.log" % (self.name, what))
        if path not in self.log_paths:
            self.log_paths.append(path)
        return path

    def log_tails(self, scenario):
        return "\n".join("%s:\n%s" % (os.path.basename(p), log_tail(p)) for p in self.log_paths
                         if p.endswith("-%s.log" % scenario) and os.path.exists(p))


KAMAILIO_SQLITE_SCHEMA = "/usr/share/kamailio/db_sqlite"


def start_redis(server, scenario):
    """register_auth_redis: a fresh redis-server on the server's core
    (no persistence: each server keeps its own copy, SQLite or memory),
    appended to the server's processes once it answers PING."""
    rlog = server.log("redis-" + scenario)
    redis = start_logged(pinned(SERVER_CPU) + [
        "redis-server", "--bind", HOST, "--port", str(REDIS_PORT), "--save", "",
        "--appendonly", "no", "--protected-mode", "no", "--dir", server.args.tmpdir], rlog)
    server.procs.append(redis)
    for _ in range(100):
        check_alive(redis, "redis-server", rlog)
        if subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "PING"], capture_output=True,
                          text=True).stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise BenchError("redis-server did not answer PING\n%s" % log_tail(rlog))


def make_kamailio_usrloc_db(path):
    """An empty Kamailio database with the version and location tables
    (Debian's kamailio-sqlite-modules ships the schema)."""
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    try:
        for name in ("standard-create.sql", "usrloc-create.sql"):
            with open(os.path.join(KAMAILIO_SQLITE_SCHEMA, name)) as f:
                db.executescript(f.read())
        db.commit()
    finally:
        db.close()


class KamailioServer(Server):
    """kamailio (bench/kamailio/kamailio.cfg) and rtpengine, both on core 1."""

    name = "kamailio"
    port = KAMAILIO_PORT
    tls_port = KAMAILIO_TLS_PORT

    def start(self, scenario):
        a = self.args
        rlog = self.log("rtpengine-" + scenario)
        rtpengine = start_logged(
            pinned(SERVER_CPU) + [a.rtpengine, "--config-file=" + RTPENGINE_CONF,
                                  "--config-section=rtpengine"], rlog)
        self.procs.append(rtpengine)
        self.ng_ping(rtpengine, rlog)
        self.start_kamailio(scenario, fresh_usrloc=True)

    def usrloc_db(self, scenario):
        return os.path.join(self.args.tmpdir, "kamailio-usrloc-%s.sqlite" % scenario)

    def start_kamailio(self, scenario, fresh_usrloc):
        """Kamailio alone (rtpengine is up), on a fresh usrloc database or
        on the one it left (a restart)."""
        a = self.args
        rundir = os.path.join(a.tmpdir, "kamailio-run")
        os.makedirs(rundir, exist_ok=True)
        # usrloc persists to SQLite (write-back, flushed every second) as
        # rtplatch-control persists its bindings (group commit per event-loop
        # round): both keep their registrations across a restart. This is
        # Kamailio's stock WITH_USRLOCDB setup (db_mode 2) on db_sqlite.
        usrloc_db = self.usrloc_db(scenario)
        usrloc_url = "sqlite://%s" % usrloc_db
        if scenario == "register_auth_redis":
            # usrloc write-back (db_mode 2, flushed every second) on
            # db_redis, as db_redis's README sets it up; the table's
            # version entry is what usrloc checks at startup.
            start_redis(self, scenario)
            subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "-n", str(REDIS_DB), "HSET",
                            "version:entry::location", "table_name", "location",
                            "table_version", USRLOC_TABLE_VERSION], check=True,
                           capture_output=True)
            usrloc_url = "redis://%s:%d/%d" % (HOST, REDIS_PORT, REDIS_DB)
        elif fresh_usrloc:
            make_kamailio_usrloc_db(usrloc_db)
        defines = ['BENCH_DOMAIN="%s"' % DOMAIN,
                   'RTPENGINE_SOCK="udp:%s:%d"' % (HOST, RTPENGINE_NG_PORT),
                   'BENCH_DB_URL="text://%s"' % self.users.kamailio_db,
                   'BENCH_USRLOC_DB_URL="%s"' % usrloc_url]
        if scenario == "register_auth_redis":
            defines.append("WITH_USRLOC_REDIS")
        if scenario in AUTH_SCENARIOS:
            defines.append("WITH_AUTH")
        listen = ["udp:%s:%d" % (HOST, self.port)]
        if scenario == "call_peer":
            defines += ["WITH_PEERS", 'BENCH_DISPATCHER_LIST="%s"' % self.dispatcher_list()]
        if scenario == "register_tls":
            defines += ["WITH_TLS", 'BENCH_TLS_CFG="%s"' % self.tls_cfg(),
                        "BENCH_TCP_CHILDREN=%d" % a.kamailio_tcp_children]
            listen.append("tls:%s:%d" % (HOST, self.tls_port))
        argv = (pinned(SERVER_CPU) +
                [a.kamailio, "-DD", "-E", "-f", KAMAILIO_CFG, "-n", str(a.kamailio_children),
                 "-m", str(getattr(a, "kamailio_shm_mb", KAMAILIO_SHM_MB)),
                 "-M", str(KAMAILIO_PKG_MB),
                 "-Y", rundir, "-P", os.path.join(rundir, "kamailio.pid")])
        for sock in listen:
            argv += ["-l", sock]
        for d in defines:
            argv += ["-A", d]
        klog = self.log("kamailio-" + scenario + ("" if fresh_usrloc else "-restart"))
        kamailio = start_logged(argv, klog)
        self.procs.append(kamailio)
        # The registrar bench's million accounts load from db_text first.
        sip_ping(self.port, kamailio, "kamailio", klog,
                 timeout=getattr(self.args, "kamailio_startup_timeout_s", STARTUP_TIMEOUT_S))

    def dispatcher_list(self):
        """The dispatcher's set 1: the carrier core (setid destination
        flags priority)."""
        path = os.path.join(self.args.tmpdir, "kamailio-dispatcher.list")
        with open(path, "w") as f:
            f.write("1 sip:%s:%d 0 1\n" % (CORE_HOST, CORE_PORT))
        return path

    def tls_cfg(self):
        """The tls module's profiles: the bench's certificate, TLS 1.2 or
        later (rtplatch's floor too), client certificates neither required
        nor verified (phones present none)."""
        c = self.certificates
        path = os.path.join(self.args.tmpdir, "kamailio-tls.cfg")
        with open(path, "w") as f:
            f.write("[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                    "require_certificate = no\nprivate_key = %s\ncertificate = %s\n"
                    "ca_list = %s\n\n[client:default]\nmethod = TLSv1.2+\n"
                    "verify_certificate = no\nrequire_certificate = no\n"
                    % (c.private_key, c.certificate, c.ca))
        return path

    def ng_ping(self, p, log_path):
        """Waits for rtpengine's ng socket to answer `ping` (bencode)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        try:
            while True:
                check_alive(p, "rtpengine", log_path)
                s.sendto(b"benchping d7:command4:pinge", (HOST, RTPENGINE_NG_PORT))
                try:
                    if b"pong" in s.recv(4096):
                        return
                except (socket.timeout, ConnectionRefusedError):
                    pass
                if time.monotonic() > deadline:
                    raise BenchError("rtpengine: no pong on %s:%d\n%s"
                                     % (HOST, RTPENGINE_NG_PORT, log_tail(log_path)))
                time.sleep(0.2)
        finally:
            s.close()


class RtplatchServer(Server):
    """rtplatch-dataplane (net_null vdevs, no NIC) and rtplatch-control,
    both on core 1."""

    name = "rtplatch"
    port = RTPLATCH_PORT
    tls_port = RTPLATCH_TLS_PORT

    def start(self, scenario):
        a = self.args
        for path, what in ((a.dataplane, "rtplatch-dataplane"), (a.control, "rtplatch-control")):
            if not os.access(path, os.X_OK):
                raise BenchError("no %s binary at %s" % (what, path))
        self.prefix = "rtplsip%d%s" % (os.getpid(), scenario)
        dp_sock = os.path.join(a.tmpdir, "dp-%s.sock" % scenario)
        dp_cfg = os.path.join(a.tmpdir, "dp-%s.json" % scenario)
        with open(dp_cfg, "w") as f:
            json.dump(dataplane_launch.config(
                dp_sock, [HOST], RTPLATCH_PORT_MIN, RTPLATCH_PORT_MAX,
                media_tx_port=1, exception_port=2), f, indent=1)
        dlog = self.log("dataplane-" + scenario)
        # Both EAL lcores on the server's core: the main one serves the
        # control socket (allocate/update/delete per call, the counterpart
        # of rtpengine's ng work), the forwarding one busy-polls.
        dp = start_logged(
            pinned(SERVER_CPU) +
            [a.dataplane] + dataplane_launch.eal_args(
                "0@%s,1@%s" % (SERVER_CPU, SERVER_CPU), self.prefix,
                ["net_null%d,no-rx=1" % i for i in range(3)], no_shconf=True) +
            ["--", "--config", dp_cfg], dlog)
        self.procs.append(dp)
        try:
            throughput.wait_for_control(dp, dp_sock).close()
        except BenchError as e:
            raise BenchError("rtplatch-dataplane: %s\n%s" % (e, log_tail(dlog)))
        self.idle_pollers(dp.pid)

        cfg = os.path.join(a.tmpdir, "control-%s.json" % scenario)
        with open(cfg, "w") as f:
            config = control_config(self.port, dp_sock,
                                    os.path.join(a.tmpdir, "control-%s.sock" % scenario),
                                    self.users.users_file,
                                    os.path.join(a.tmpdir, "bindings-%s.sqlite" % scenario),
                                    scenario in AUTH_SCENARIOS)
            if scenario == "call_peer":
                config.update(edge_config())
            if scenario == "register_tls":
                config.update(tls_config(self.tls_port, self.certificates))
            if scenario == "register_auth_redis":
                start_redis(self, scenario)
                config["cluster"] = cluster_config("edge-a")
            json.dump(config, f, indent=1)
        clog = self.log("control-" + scenario)
        control = start_logged(pinned(SERVER_CPU) + [a.control, "--config", cfg], clog)
        self.procs.append(control)
        sip_ping(self.port, control, "rtplatch-control", clog)
        if scenario == "register_auth_redis":
            self.start_second_node(scenario)

    def start_second_node(self, scenario):
        """register_auth_redis: node edge-b on the same Redis, holding every
        binding the loaded node makes (it applies each change Redis
        publishes); it has no dataplane (REGISTERs need none). It stands
        for a second machine: it runs on the load generator's core, not on
        the measured server core (Redis, shared by both servers' setups,
        does)."""
        a = self.args
        cfg = os.path.join(a.tmpdir, "control-%s-b.json" % scenario)
        config = control_config(self.port + 2, os.path.join(a.tmpdir, "dp-none.sock"),
                                os.path.join(a.tmpdir, "control-%s-b.sock" % scenario),
                                self.users.users_file,
                                os.path.join(a.tmpdir, "bindings-%s-b.sqlite" % scenario), True)
        config["cluster"] = cluster_config("edge-b")
        with open(cfg, "w") as f:
            json.dump(config, f, indent=1)
        blog = self.log("control-" + scenario + "-b")
        node_b = start_logged(pinned(SIPP_CPU) + [a.control, "--config", cfg], blog)
        self.procs.append(node_b)
        sip_ping(self.port + 2, node_b, "rtplatch-control (edge-b)", blog)

    @staticmethod
    def idle_pollers(pid):
        """SCHED_IDLE for the dataplane's forwarding lcores (rte-worker-N)."""
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if "worker" in comm:
                os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
                log("rtplatch-dataplane: %s (tid %s) set to SCHED_IDLE" % (comm, tid))
        # SCHED_IDLE only ranks threads within one scheduling group. With
        # autogroup on (the kernel default), each session is a group of
        # its own, weighted equally: the busy-poller's group took half of
        # core 1 from rtplatch-control whatever the policy. Nice 19 for
        # the dataplane's group (weight 15 against 1024) restores the intent.
        autogroup = "/proc/%d/autogroup" % pid
        if os.path.exists(autogroup):
            with open(autogroup, "w") as f:
                f.write("19")
            log("rtplatch-dataplane: autogroup nice 19 (%s)" % autogroup)

    def stop(self):
        super().stop()
        if getattr(self, "prefix", None):
            throughput.remove_dpdk_run_dir(self.prefix)


def control_config(port, dp_sock, ctl_sock, users_file, database, require_auth):
    """rtplatch-control's config for the bench (control/control_config.h):
      domain        the SIP domain served, also the digest realm; an INVITE
                    to sip:USER@domain is routed to USER's registered binding
      users_file    docs/users-file.md
      database      the registrar's SQLite binding store
      authenticate  false: REGISTER and INVITE are not challenged (the
                    register_noauth, call and call_peer scenarios, as
                    Kamailio's config does for them); true: digest.
    """
    return {
        "sip_listen": ["%s:%d" % (HOST, port)],
        "dataplane_socket": dp_sock,
        "control_socket": ctl_sock,
        "server_header": "rtplatch-bench",
        "domain": DOMAIN,
        "users_file": users_file,
        "database": database,
        "authenticate": require_auth,
    }


def cluster_config(node):
    """register_auth_redis: a node of a cluster on the bench's Redis
    (docs/cluster.md): its bindings written to Redis, refreshes coalesced
    about once a second, the other node's applied."""
    return {"node": node, "redis": "%s:%d" % (HOST, REDIS_PORT)}


def edge_config():
    """call_peer: the carrier core as a peer, and the dial plan's route to
    it (docs/control-plane.md, "The carrier edge"). Trusted by its address,
    every other peer setting shipped (media "always", 3 s answer timeout,
    failover, health)."""
    return {
        "peers": [{"name": "core",
                   "targets": [{"uri": "sip:%s:%d" % (CORE_HOST, CORE_PORT)}],
                   "trusted_sources": [CORE_HOST],
                   "media": "always"}],
        "routes": [{"prefix": PEER_PREFIX, "peers": ["core"]}],
    }


def tls_config(port, certificates):
    """register_tls: a TLS listener with the bench's certificate
    (docs/control-plane.md, "TLS, TCP and SIP Outbound"); every other TLS
    setting shipped (TLS 1.2+, connection limits, time-outs)."""
    return {
        "tls_listen": ["%s:%d" % (HOST, port)],
        "tls": {"certificate": certificates.certificate,
                "private_key": certificates.private_key,
                "ca_file": certificates.ca},
    }


# --- sipp -------------------------------------------------------------------------

def parse_stat_file(path):
    """The last row of sipp's -trace_stat CSV as {column: value}."""
    with open(path, errors="replace") as f:
        rows = [line.rstrip("\n").split(";") for line in f if line.strip()]
    if len(rows) < 2:
        raise BenchError("sipp stat file %s has no data" % path)
    return dict(zip(rows[0], rows[-1]))


def stat_int(row, key):
    try:
        return int(row.get(key, "0") or 0)
    except ValueError:
        return 0


class SippRun:
    """Outcome of one sipp UAC run."""

    def __init__(self, calls, successful, failed, retrans, wall_s, cpu_s):
        self.calls = calls
        self.successful = successful
        self.failed = failed
        self.retrans = retrans
        self.wall_s = wall_s
        self.cpu_s = cpu_s

    @property
    def unfinished(self):
        return max(0, self.calls - self.successful - self.failed)


def sipp_argv(args, scenario_xml, local_port, inf=None, remote_port=None, local_host=HOST):
    argv = (pinned(SIPP_CPU) +
            [args.sipp, "-sf", os.path.join(SIPP_DIR, scenario_xml),
             "-i", local_host, "-p", str(local_port), "-t", "u1",
             "-buff_size", str(4 << 20), "-recv_timeout", str(RECV_TIMEOUT_MS),
             "-nostdin", "-trace_err", "-max_log_size", str(8 << 20)])
    if scenario_xml.startswith("register"):
        # a REGISTER that failed is over: no BYE for it
        argv += ["-default_behaviors", "all,-bye"]
    if inf:
        argv += ["-inf", inf]
    # The digest uri must be the Request-URI (RFC 2617 3.2.2.5; rtplatch
    # checks it); sipp defaults to remote_ip:port.
    argv += ["-auth_uri", DOMAIN]
    if remote_port:
        argv.append("%s:%d" % (HOST, remote_port))
    return argv


def run_sipp(args, scenario_xml, remote_port, local_port, inf, rate, calls, tag):
    """Runs a sipp UAC for `calls` calls at `rate` calls/s; SippRun."""
    stat = os.path.join(args.tmpdir, "sipp-%s.csv" % tag)
    err = os.path.join(args.tmpdir, "sipp-%s.err" % tag)
    out = os.path.join(args.tmpdir, "sipp-%s.log" % tag)
    nominal = calls / rate
    argv = (sipp_argv(args, scenario_xml, local_port, inf, remote_port) +
            ["-r", str(rate), "-rp", "1000", "-m", str(calls),
             "-l", str(max(100, int(rate * RECV_TIMEOUT_MS / 1000 * 1.5))),
             "-timeout", "%ds" % int(nominal + 3 * RECV_TIMEOUT_MS / 1000 + 5),
             "-trace_stat", "-stf", stat, "-fd", "1", "-error_file", err])
    t0 = time.monotonic()
    p = start_logged(argv, out)
    cpu0 = 0.0
    try:
        cpu_last = cpu0
        while True:
            try:
                p.wait(0.2)
                break
            except subprocess.TimeoutExpired:
                cpu_last = cpu_seconds([p.pid])
            if time.monotonic() - t0 > nominal + 3 * RECV_TIMEOUT_MS / 1000 + 30:
                raise BenchError("sipp %s did not finish" % tag)
    finally:
        Processes.stop(p, grace_s=3.0)
        PROCS.procs.remove(p)
    wall = time.monotonic() - t0
    if p.returncode not in (0, 1):
        raise BenchError("sipp %s exited with status %d\n%s" % (tag, p.returncode, log_tail(out)))
    row = parse_stat_file(stat)
    return SippRun(stat_int(row, "OutgoingCall(C)"), stat_int(row, "SuccessfulCall(C)"),
                   stat_int(row, "FailedCall(C)"), stat_int(row, "Retransmissions(C)"),
                   wall, cpu_last)


UAS_REGISTER_ATTEMPTS = 6
UAS_REGISTER_RETRY_S = 5

class Uas:
    """The callee of the call scenario: registers bench-uas from UAS_PORT,
    then answers calls there until stopped."""

    def __init__(self, args, server, users, n):
        self.args = args
        tag = "%s-uas-%d" % (server.name, n)
        # After an overloaded step a server may need a while to drain the
        # aborted calls' retransmissions: the callee registers again, a few
        # seconds apart, before the step counts as broken (the same for both
        # servers).
        for attempt in range(UAS_REGISTER_ATTEMPTS):
            r = run_sipp(args, "register_noauth.xml", server.port, UAS_PORT, users.uas_csv,
                         10, 1, "%s-register-%d" % (tag, attempt))
            if r.successful == 1:
                break
            log("%s: bench-uas REGISTER attempt %d failed; retrying in %d s"
                % (server.name, attempt + 1, UAS_REGISTER_RETRY_S))
            time.sleep(UAS_REGISTER_RETRY_S)
        if r.successful != 1:
            raise BenchError("%s: bench-uas could not register in %d attempts (sipp: %d "
                             "failed; see sipp-%s-register-*)"
                             % (server.name, UAS_REGISTER_ATTEMPTS, r.failed, tag))
        self.log_path = os.path.join(args.tmpdir, "sipp-%s.log" % tag)
        self.p = start_logged(sipp_argv(args, "call_uas.xml", UAS_PORT) +
                              ["-error_file", os.path.join(args.tmpdir, "sipp-%s.err" % tag)],
                              self.log_path)
        time.sleep(0.3)
        check_alive(self.p, "sipp UAS", self.log_path)

    def stop(self):
        Processes.stop(self.p, grace_s=3.0)


class CoreUas:
    """The carrier core of call_peer: a sipp UAS at CORE_HOST:CORE_PORT
    answering the calls the server routes to it (no registration: the
    servers know it from their peer and dispatcher configs)."""

    def __init__(self, args, server, n):
        tag = "%s-core-%d" % (server.name, n)
        self.log_path = os.path.join(args.tmpdir, "sipp-%s.log" % tag)
        self.p = start_logged(sipp_argv(args, "call_uas.xml", CORE_PORT, local_host=CORE_HOST) +
                              ["-error_file", os.path.join(args.tmpdir, "sipp-%s.err" % tag)],
                              self.log_path)
        time.sleep(0.3)
        check_alive(self.p, "sipp core UAS", self.log_path)

    def stop(self):
        Processes.stop(self.p, grace_s=3.0)


# --- TLS phones -------------------------------------------------------------------

def run_tls_load(args, server, users, rate, calls, tag):
    """register_tls: bench/tls_register_load for `calls` transactions at
    `rate`/s against the server's TLS port; a SippRun (its wall and CPU
    time cover the transactions, not the handshakes before them)."""
    out = os.path.join(args.tmpdir, "tls-load-%s.json" % tag)
    err = os.path.join(args.tmpdir, "tls-load-%s.err" % tag)
    argv = (pinned(SIPP_CPU) +
            [args.tls_load, "--server", "%s:%d" % (HOST, server.tls_port),
             "--server-name", DOMAIN, "--ca", server.certificates.ca,
             "--users", users.tls_users, "--domain", DOMAIN,
             "--rate", str(rate), "--count", str(calls),
             "--connections", str(args.tls_connections), "--sources", str(TLS_SOURCES),
             "--bind", TLS_BIND, "--timeout-ms", str(RECV_TIMEOUT_MS)])
    limit = calls / rate + 3 * RECV_TIMEOUT_MS / 1000 + 45  # + handshakes
    with open(out, "w") as outf, open(err, "w") as errf:
        p = PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf)
        try:
            p.wait(limit)
        except subprocess.TimeoutExpired:
            raise BenchError("tls_register_load %s did not finish" % tag)
        finally:
            Processes.stop(p, grace_s=3.0)
            PROCS.procs.remove(p)
    try:
        with open(out) as f:
            r = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        raise BenchError("tls_register_load %s (status %s) printed no report\n%s"
                         % (tag, p.returncode, log_tail(err)))
    if r["first_error"]:
        log("%s register_tls: %d connections (%d lost); first error: %s"
            % (server.name, r["connections"], r["connections_lost"], r["first_error"]))
    # Never-started transactions count as unfinished (calls - started).
    return SippRun(r["started"], r["completed"], r["failed"], 0, r["wall_s"], r["cpu_s"])


# --- the ramp ---------------------------------------------------------------------

def step(args, server, scenario, users, rate, n, completed=None):
    """One step at `rate`; True if it passed. Its completed calls per
    second are appended to the list `completed` when one is given."""
    calls = max(1, int(rate * args.step_s))
    tag = "%s-%s-%d" % (server.name, scenario, n)
    # A fresh callee per step: after an overloaded step the old one is
    # still busy with the aborted calls' retransmissions, and every later
    # step would measure that instead of the server.
    uas = (Uas(args, server, users, n) if scenario == "call" else
           CoreUas(args, server, n) if scenario == "call_peer" else None)
    try:
        srv0 = cpu_seconds(server.pids())
        core0 = core_busy_seconds(SERVER_CPU)
        t0 = time.monotonic()
        if scenario == "register_tls":
            r = run_tls_load(args, server, users, rate, calls, tag)
        else:
            xml, inf = SIPP_UAC[scenario]
            r = run_sipp(args, xml, server.port, UAC_PORT, getattr(users, inf), rate, calls,
                         tag)
        wall = time.monotonic() - t0
    finally:
        if uas:
            uas.stop()
    srv = cpu_seconds(server.pids()) - srv0
    others = max(0.0, core_busy_seconds(SERVER_CPU) - core0 - srv) / wall if wall else 0
    bad = r.failed + r.unfinished + max(0, calls - r.calls)
    done_rate = r.successful / r.wall_s if r.wall_s > 0 else 0
    ok = bad <= MAX_FAILED_FRACTION * calls and done_rate >= MIN_RATE_FRACTION * rate
    if completed is not None:
        completed.append(done_rate)
    sipp_share = r.cpu_s / r.wall_s if r.wall_s else 0
    generator = "tls_register_load" if scenario == "register_tls" else "sipp UAC"
    log("%s %s step %d: %d/s x %d calls: %d ok, %d failed, %d unfinished, %d retrans; "
        "%.0f completed/s; server CPU %.0f%% of core %s (others %.0f%%), %s %.0f%% "
        "of core %s -> %s"
        % (server.name, scenario, n, rate, calls, r.successful, r.failed,
           r.unfinished + max(0, calls - r.calls), r.retrans, done_rate,
           100 * srv / wall if wall else 0, SERVER_CPU, 100 * others, generator,
           100 * sipp_share, SIPP_CPU,
           "pass" if ok else "FAIL"))
    if sipp_share >= SIPP_SATURATED:
        log("WARNING: %s saturated core %s at %d/s; this step measures the load "
            "generator, not %s" % (generator, SIPP_CPU, rate, server.name))
    if others > OTHERS_WARN:
        log("WARNING: other processes took %.0f%% of core %s during this step; %s's "
            "figure is low" % (100 * others, SERVER_CPU, server.name))
    if not server.alive():
        raise ServerDied("%s died during the step" % server.name)
    return ok


class ServerDied(BenchError):
    pass


def checked_step(args, server, scenario, users, rate, n):
    """step(); a server that died during it is started again and the step
    run again, up to SERVER_RESTARTS times per step. Debian's Kamailio
    5.6.3 tls module with OpenSSL 3 crashes now and then between steps of
    register_tls, as one step's 256 connections close and the next one's
    open (a TLS worker's shared memory overwritten from tls_init.c:323,
    kamailio issue 3791; the `tls_threads_mode` setting that avoids it came
    with 5.7.5 and 5.8): its figure is its throughput, not the crash.
    Every restart is logged with the dead server's log tail."""
    for attempt in range(SERVER_RESTARTS + 1):
        try:
            return step(args, server, scenario, users, rate, n)
        except ServerDied as e:
            if attempt == SERVER_RESTARTS:
                raise
            log("WARNING: %s %s step %d: %s; restarting it and running the step again "
                "(restart %d of %d)\n%s" % (server.name, scenario, n, e, attempt + 1,
                                            SERVER_RESTARTS, server.log_tails(scenario)))
            server.stop()
            time.sleep(SETTLE_S)
            server.start(scenario)
            server.census()
    return False


def ramp(args, server, scenario, users):
    """Best passing rate (calls/s) of `server` in `scenario`; 0 if none."""
    try:
        server.start(scenario)
        server.census()
        best, worst_fail, n = 0, None, 0
        rate = args.start_rate
        while rate <= args.max_rate:
            n += 1
            if checked_step(args, server, scenario, users, rate, n):
                best = rate
                rate *= 4 if args.quick else 2
            else:
                worst_fail = rate
                break
            if args.quick and n >= QUICK_MAX_STEPS:
                break
            time.sleep(SETTLE_S)
        # bisect between the last pass and the first failure
        for _ in range(0 if args.quick or worst_fail is None or best == 0 else BISECT_STEPS):
            rate = int(round((best + worst_fail) / 2 / 10.0)) * 10
            if rate <= best or rate >= worst_fail:
                break
            time.sleep(SETTLE_S)
            n += 1
            if checked_step(args, server, scenario, users, rate, n):
                best = rate
            else:
                worst_fail = rate
        return best
    finally:
        server.stop()


# --- main -------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="rtplatch-control vs Kamailio 5.6 + rtpengine (see module docstring)")
    ap.add_argument("--quick", action="store_true",
                    help="%d short steps per server and scenario (under 2 minutes)"
                    % QUICK_MAX_STEPS)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma-separated subset of %s" % ",".join(SCENARIOS))
    ap.add_argument("--servers", default="rtplatch,kamailio",
                    help="comma-separated subset of rtplatch,kamailio")
    ap.add_argument("--step", type=float, dest="step_s", help="seconds per step")
    ap.add_argument("--start-rate", type=int)
    ap.add_argument("--max-rate", type=int, default=MAX_RATE)
    ap.add_argument("--users", type=int, default=USERS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kamailio-children", type=int, default=KAMAILIO_CHILDREN,
                    help="Kamailio UDP workers (-n, default %(default)s)")
    ap.add_argument("--kamailio-tcp-children", type=int, default=KAMAILIO_TCP_CHILDREN,
                    help="Kamailio TCP/TLS workers (register_tls, default %(default)s)")
    ap.add_argument("--tls-connections", type=int, default=TLS_CONNECTIONS,
                    help="register_tls: persistent TLS connections (default %%(default)s, "
                    "at most 64 per each of the %d source addresses)" % TLS_SOURCES)
    ap.add_argument("--tls-load", default=DEFAULT_TLS_LOAD,
                    help="bench/tls_register_load binary (built with the tree)")
    ap.add_argument("--dataplane", default=throughput.DEFAULT_DATAPLANE)
    ap.add_argument("--control", default=DEFAULT_CONTROL)
    ap.add_argument("--kamailio", default=shutil.which("kamailio", path="/usr/sbin:/usr/bin")
                    or "kamailio")
    ap.add_argument("--rtpengine", default=shutil.which("rtpengine") or "rtpengine")
    ap.add_argument("--sipp", default=shutil.which("sipp") or "sipp")
    ap.add_argument("--tmpdir", help="scratch directory (default: a fresh mktemp dir, "
                    "removed on exit); scripts/bench passes its own")
    ap.add_argument("--keep-tmp", action="store_true", help="keep logs and sipp traces")
    args = ap.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.scenarios:
        if s not in SCENARIOS:
            ap.error("unknown scenario %s" % s)
    args.servers = [s for s in args.servers.split(",") if s]
    for s in args.servers:
        if s not in ("rtplatch", "kamailio"):
            ap.error("unknown server %s" % s)
    if args.step_s is None:
        args.step_s = QUICK_STEP_S if args.quick else STEP_S
    if args.start_rate is None:
        args.start_rate = QUICK_START_RATE if args.quick else START_RATE
    return args


def fmt_ratio(x, y):
    return "nan" if not y else "%.2f" % (x / y)


def main(argv=None):
    args = parse_args(argv)
    own_tmp = throughput.start_run(args)
    failed = False
    try:
        for tool in (args.sipp, args.kamailio, args.rtpengine):
            if not shutil.which(tool):
                log("%s not found (scripts/setup installs sip-tester, kamailio, "
                    "rtpengine-daemon)" % tool)
                return 2
        if "register_tls" in args.scenarios and not os.access(args.tls_load, os.X_OK):
            log("no %s (ninja -C build builds it with the tree)" % args.tls_load)
            return 2
        users = Users(args.tmpdir, args.users, args.seed)
        certificates = Certificates(args.tmpdir) if "register_tls" in args.scenarios else None
        servers = {"kamailio": KamailioServer(args, users, certificates),
                   "rtplatch": RtplatchServer(args, users, certificates)}
        for scenario in args.scenarios:
            got = {}
            for name in ("kamailio", "rtplatch"):
                if name not in args.servers:
                    continue
                try:
                    got[name] = ramp(args, servers[name], scenario, users)
                except BenchError as e:
                    log("FAILED: %s %s: %s" % (name, scenario, e))
                    got[name] = 0
                    # Kamailio is the reference: the bench is broken without
                    # it. rtplatch scores 0 (its SIP slices are in progress).
                    failed |= name == "kamailio"
            x, y = got.get("rtplatch", 0), got.get("kamailio", 0)
            print("sip scenario=%s rtplatch_per_s=%d kamailio_per_s=%d ratio=%s"
                  % (scenario, x, y, fmt_ratio(x, y)), flush=True)
    finally:
        throughput.end_run(args, own_tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
