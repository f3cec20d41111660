#!/usr/bin/env bash
# Network-namespace integration test of the dataplane's NAT keepalives.
#
#   keepalive_netns_test.sh
#
# A UDP "phone" (192.0.2.2:5060) sits behind a Linux MASQUERADE NAT whose
# UDP conntrack timeout is 10 s; a "SIP server" socket in the relay
# namespace holds the relay address 203.0.113.10:5060 on the dataplane's tap.
# The phone sends one REGISTER; the server records the NAT'd source.
#
#   (a) keepalives ON: a target {NAT'd source, from 203.0.113.10:5060,
#       "crlf", every 3 s}; after > 3 NAT timeouts of silence the server's
#       INVITE must reach the phone, which must also have received the
#       CRLFCRLF keepalives (count ~ wait/interval, from 203.0.113.10:5060);
#       keepalive_query shows sent > 0.
#   (b) negative control, run at the same time: a second phone port whose
#       target is added, updated and removed at once; its INVITE must NOT
#       arrive (the NAT binding died), proving the NAT timeout is real.
#   (c) accuracy: 10 targets to the public peer 203.0.113.20:6000..6009
#       every 500 ms for ~20 s; the peer stamps arrivals (SO_TIMESTAMPNS),
#       the deviations of each target's inter-arrival times from 500 ms are
#       pooled and the test prints
#         keepalive_accuracy interval_ms=500 samples=N p50_dev_pct=X
#           p99_dev_pct=Y max_dev_pct=Z
#       PASS if p99 <= 1 %.
#       The same frames are also stamped on the bridge port facing the
#       relay (in the dataplane's sendto()): logged as the send-side figure,
#       to tell late sends from slow delivery. The dataplane runs at nice
#       -10 and everything else on the main lcore's CPU; the accuracy check
#       still wants a machine without other heavy jobs (a compile on both
#       cores pushes p99 past 1 %).
#   (d) IPv6: [2001:db8::10]:5060 -> [2001:db8::20]:6020 with an odd-length
#       hex payload; received by a python socket (valid UDP checksum) and
#       verified on a raw socket (checksum recomputed); also a {"text":..}
#       payload to 203.0.113.20:6021, compared byte by byte.
#   (e) bad requests get clear errors (invalid_argument / not_found naming
#       the field), all-or-nothing adds, and the dataplane keeps running;
#       update, remove, query, list filters and the defaults are checked.
#
# Everything runs concurrently: the whole test takes about 50 s.
#
# Topology (scripts/lib/netns.sh, every name prefixed ka<pid>):
#
#   [lan] phone 192.0.2.2 --- 192.0.2.1 [nat] 203.0.113.30 --+   (udp timeout 10 s)
#   [peer] public peer 203.0.113.20, 2001:db8::20 -----------+-- bridge [inet]
#   [relay] veth (no IP, DPDK net_af_packet0) ---------------+
#           tap (DPDK net_tap0) 203.0.113.10/24, 2001:db8::10/64
#
# Output: "PASS name" / "FAIL name" per check, then
# "keepalive_netns: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or the dataplane binary is missing).
#
# Environment:
#   RTPLATCH_DATAPLANE   dataplane binary (default build/dataplane/rtplatch-dataplane)
#   RTPLATCH_LCORES      EAL -l list (default 0-1)
#   RTPLATCH_NICE        nice value of the dataplane (default -10; 0: leave alone)
#   KA_WAIT_S            silence before the INVITEs (default 35; > 3 NAT timeouts)
#   KA_ACCURACY_S        length of the 500 ms accuracy run (default 20)
#   KA_ACC_TARGETS       concurrent 500 ms targets pooled for (c) (default 10)
#   RTPLATCH_HELPER_CPUS CPUs for everything but the dataplane (default: the
#                        main lcore's, i.e. the first of RTPLATCH_LCORES)
#   RL_KEEP_LOGS=1       keep the per-run log directory
#   RL_PREFIX            per-run name prefix (default ka<pid>)

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATAPLANE="${RTPLATCH_DATAPLANE:-$ROOT/build/dataplane/rtplatch-dataplane}"
LCORES="${RTPLATCH_LCORES:-0-1}"
# The forwarding lcore should own its core; on a shared 2-core machine a
# nice value keeps a compile job from preempting it for a whole time slice.
DP_NICE="${RTPLATCH_NICE:--10}"
SUITE=keepalive_netns

# Addresses (documentation prefixes only).
RELAY_IP=203.0.113.10
RELAY_IP6=2001:db8::10
PEER_IP=203.0.113.20
PEER_IP6=2001:db8::20
NAT_OUT_IP=203.0.113.30
NAT_IN_IP=192.0.2.1
PHONE_IP=192.0.2.2
SIP_PORT=5060
PHONE_A_PORT=5060      # keepalives on
PHONE_B_PORT=5062      # keepalives off (negative control)
PEER_PORT=6000         # (c) accuracy, IPv4: ports 6000 .. 6000+ACC_TARGETS-1
PEER_PORT6=6020        # (d) IPv6
PEER_TEXT_PORT=6021    # {"text":...} payload
NAT_UDP_TIMEOUT=10

WAIT_S="${KA_WAIT_S:-35}"
ACCURACY_S="${KA_ACCURACY_S:-20}"
KA_INTERVAL_MS=3000
ACC_INTERVAL_MS=500
# Concurrent 500 ms targets (ports 6000..): ~40 intervals each in 20 s, so
# p99 is not just the maximum of one target's 40 samples.
ACC_TARGETS="${KA_ACC_TARGETS:-10}"
V6_INTERVAL_MS=1000
TEXT_INTERVAL_MS=1000
V6_PAYLOAD_HEX=6b61763600ff0d0a7f   # 9 bytes: odd length, a zero byte
TEXT_PAYLOAD="OPTIONS sip:keepalive@203.0.113.30 SIP/2.0"
ACC_MAX_P99_PCT=1

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "usage: $0" >&2; exit 2 ;;
esac


# shellcheck source=scripts/lib/verdicts.sh
source "$ROOT/scripts/lib/verdicts.sh"
[[ $(id -u) -eq 0 ]] || rl_skip "needs root (network namespaces, veth, iptables)"
for tool in ip iptables ip6tables ethtool ping python3 sysctl; do
  command -v "$tool" >/dev/null || rl_skip "'$tool' not found"
done
[[ -x $DATAPLANE ]] || rl_skip "dataplane binary $DATAPLANE not built"
(( WAIT_S > 3 * NAT_UDP_TIMEOUT )) || { echo "KA_WAIT_S must exceed $((3 * NAT_UDP_TIMEOUT))" >&2; exit 2; }

# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib/netns.sh
source "$ROOT/scripts/lib/netns.sh"
# shellcheck source=scripts/lib/dataplane_ctl.sh
source "$ROOT/scripts/lib/dataplane_ctl.sh"
# shellcheck source=scripts/lib/dataplane.sh
source "$ROOT/scripts/lib/dataplane.sh"
rl_init "${RL_PREFIX:-ka$$}"

# Everything this script starts (python endpoints, ctl, ip, ...) runs on
# the main lcore's CPU, so the forwarding lcore's CPU is left to the
# dataplane, as on a deployment with isolated cores: on a 2-core machine a
# python start-up preempting the lcore shows up as keepalive jitter. EAL
# sets its own threads' affinity (-l), overriding the inherited mask.
HELPER_CPUS="${RTPLATCH_HELPER_CPUS:-${LCORES%%[-,]*}}"
if command -v taskset >/dev/null && taskset -pc "$HELPER_CPUS" $$ >/dev/null 2>&1; then
  rl_log "test processes pinned to CPU(s) $HELPER_CPUS; dataplane lcores $LCORES"
else
  rl_log "warning: could not pin test processes to CPU(s) $HELPER_CPUS"
fi

DPDK_PID=""
DP_SOCK=""
DP_LOG=""
DP_CONFIG=""
HELPER="$RL_TMP/ka_peer.py"
STOP="$RL_TMP/stop"

# ---------------------------------------------------------------------------
# The dataplane's command line. Edit here.

# dataplane_cmd CONFIG: fills DP_CMD. Port 0 = af_packet on the relay veth
# (the "NIC"), port 1 = the tap holding the relay addresses (exception path).
dataplane_cmd() {
  dp_testbed_eal dp "$LCORES"
  DP_CMD=()
  (( DP_NICE != 0 )) && DP_CMD=(nice -n "$DP_NICE")
  DP_CMD+=("$DATAPLANE" "${DP_EAL[@]}" -- --config "$1")
}

write_dataplane_config() {
  DP_SOCK="$RL_TMP/dataplane.sock"
  DP_CONFIG="$RL_TMP/dataplane.json"
  dp_write_config "$DP_CONFIG" "$DP_SOCK" 20000 20999 "$RELAY_IP" "$RELAY_IP6" -- \
    idle_timeout_s=60
}

start_dataplane() {
  write_dataplane_config
  dataplane_cmd "$DP_CONFIG"
  DP_LOG="$RL_TMP/dataplane.log"
  rl_log "starting dataplane: ${DP_CMD[*]}"
  rl_spawn relay "$DP_LOG" "${DP_CMD[@]}"
  DPDK_PID=$RL_LAST_PID
  if ! rl_relay_wait_tap 60 "$DPDK_PID"; then
    rl_fail dataplane_started "no tap $RL_RELAY_TAP; log tail below"
    tail -n 40 "$DP_LOG" | sed 's/^/    | /'
    return 1
  fi
  if ! rl_wait_for 20 test -S "$DP_SOCK"; then
    rl_fail dataplane_started "control socket $DP_SOCK did not appear"
    return 1
  fi
  local aff
  aff=$(for t in /proc/"$DPDK_PID"/task/*; do
          printf '%s:%s ' "$(cat "$t/comm" 2>/dev/null)" \
            "$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status" 2>/dev/null)"
        done)
  rl_log "dataplane threads (name:cpus): $aff"
  rl_pass dataplane_started "pid $DPDK_PID, tap $RL_RELAY_TAP up with $RELAY_IP, $RELAY_IP6"
}

on_cleanup() {
  : >"$STOP" 2>/dev/null || true
  dump_dataplane_log_on_failure
}
rl_on_cleanup on_cleanup

# ---------------------------------------------------------------------------
# Helpers.


# ok REPLY: prints True if the reply has ok:true.
ok() { jget "$1" "d.get('ok')" 2>/dev/null; }

# error_is REPLY CODE WORD: the reply is an error with CODE whose message
# names WORD (the bad field).
error_is() {
  [[ $(jget "$1" "(not d['ok']) and d['error']['code'] == '$2' and '$3' in d['error']['message']" 2>/dev/null) == True ]]
}

now() { date +%s.%N; }
# sleep_until EPOCH_S: sleep until the wall clock reaches EPOCH_S.
sleep_until() {
  local left
  left=$(python3 -c "import sys,time; print(max(0.0, float(sys.argv[1]) - time.time()))" "$1")
  sleep "$left"
}

ping_ok() { rl_exec "$1" ping -c 3 -i 0.2 -W 2 -q "$2" >/dev/null 2>&1; }

# listener ROLE NAME ARGS...: start the helper in ROLE; its JSON goes to
# $RL_TMP/NAME.json. Returns once its sockets are bound. Sets LISTENER_PID.
listener() {
  local role="$1" name="$2"; shift 2
  rl_spawn "$role" "$RL_TMP/$name.log" python3 "$HELPER" "$@" \
    --out "$RL_TMP/$name.json" --ready "$RL_TMP/$name.ready"
  LISTENER_PID=$RL_LAST_PID
  if ! rl_wait_for 15 test -s "$RL_TMP/$name.ready"; then
    rl_log "helper $name did not bind; log:"; cat "$RL_TMP/$name.log" >&2
  fi
}

write_helper() {
  cat >"$HELPER" <<'PY'
#!/usr/bin/env python3
"""UDP endpoints of the keepalive test.

listen  [--bind ADDR...] [--register DEST --tag T] [--raw IFNAME [--sniff-port P...]]
        --stop FILE --out F --ready R
    Records every datagram on each socket with its kernel receive time
    (SO_TIMESTAMPNS, CLOCK_REALTIME), source and payload. --register: a
    phone; sends a REGISTER from the first socket to DEST every 0.5 s until
    a "SIP/2.0 200" comes back. --raw: also reads IFNAME with AF_PACKET and
    recomputes the UDP checksum of every frame to one of the bound ports;
    --sniff-port records frames to P (bound or not) with their kernel time.
    Runs until FILE exists (or --max-duration).
server  --bind ADDR --expect a,b --out F --ready R
    A SIP registrar stand-in: answers each REGISTER with 200 OK and writes
    {tag: "ip:port" it came from} once every expected tag was seen.
invite  --bind ADDR --dest ADDR [--dest ...]
    Sends an INVITE (twice, 200 ms apart) to each destination.
"""
import argparse, errno, json, os, select, socket, struct, sys, time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
PACKET_OUTGOING = 4


def hostport(text):
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:])
    host, _, port = text.rpartition(":")
    return host, int(port)


def fmt(addr):
    return ("[%s]:%d" if ":" in addr[0] else "%s:%d") % (addr[0], addr[1])


def udp_socket(text):
    host, port = hostport(text)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((host, port))
    s.setblocking(False)
    return s


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def ready(path, socks):
    with open(path, "w") as f:
        f.write(" ".join(fmt(s.getsockname()[:2]) for s in socks) + "\n")


def recv_all(s):
    """[(kernel time, source, payload)] of every queued datagram."""
    out = []
    while True:
        try:
            data, anc, _flags, addr = s.recvmsg(65535, 64)
        except BlockingIOError:
            return out
        except OSError as e:
            if e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                continue
            raise
        t = time.time()
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = struct.unpack("@qq", cdata[:16])
                t = sec + nsec / 1e9
        out.append((t, fmt(addr[:2]), data))


def csum_ok(pseudo, udp):
    data = pseudo + udp
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def check_frame(frame, ports):
    """(dport, 'ok'|'bad'|'zero', source, destination, payload) for a UDP
    frame to one of ports, else None."""
    if len(frame) < 14:
        return None
    et = struct.unpack_from("!H", frame, 12)[0]
    l3 = frame[14:]
    if et == 0x0800 and len(l3) >= 20 and l3[9] == 17:
        ihl = (l3[0] & 15) * 4
        total = struct.unpack_from("!H", l3, 2)[0]
        udp = l3[ihl:total]
        if len(udp) < 8:
            return None
        dport, ulen, ck = struct.unpack_from("!HHH", udp, 2)
        if dport not in ports:
            return None
        src = "%s:%d" % (socket.inet_ntop(socket.AF_INET, l3[12:16]), struct.unpack_from("!H", udp)[0])
        dst = "%s:%d" % (socket.inet_ntop(socket.AF_INET, l3[16:20]), dport)
        if ck == 0:
            return dport, "zero", src, dst, udp[8:ulen]
        pseudo = l3[12:20] + struct.pack("!BBH", 0, 17, ulen)
        return (dport, "ok" if ulen == len(udp) and csum_ok(pseudo, udp[:ulen]) else "bad",
                src, dst, udp[8:ulen])
    if et == 0x86DD and len(l3) >= 48 and l3[6] == 17:
        plen = struct.unpack_from("!H", l3, 4)[0]
        udp = l3[40:40 + plen]
        if len(udp) < 8:
            return None
        dport, ulen, ck = struct.unpack_from("!HHH", udp, 2)
        if dport not in ports:
            return None
        src = "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, l3[8:24]), struct.unpack_from("!H", udp)[0])
        dst = "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, l3[24:40]), dport)
        if ck == 0:
            return dport, "zero", src, dst, udp[8:ulen]
        pseudo = l3[8:40] + struct.pack("!IxxxB", ulen, 17)
        return (dport, "ok" if ulen == len(udp) and csum_ok(pseudo, udp[:ulen]) else "bad",
                src, dst, udp[8:ulen])
    return None


def listen(a):
    socks = [udp_socket(b) for b in a.bind]
    raw = None
    if a.raw:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        raw.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        raw.bind((a.raw, 0))
        raw.setblocking(False)
    ports = {s.getsockname()[1] for s in socks} | set(a.sniff_port)
    ready(a.ready, socks)
    rec = {fmt(s.getsockname()[:2]): [] for s in socks}
    sniffed = {}
    rawstat = {}
    reg = hostport(a.register) if a.register else None
    registered, tries, next_reg = False, 0, 0.0
    poller = select.poll()
    for s in socks + ([raw] if raw else []):
        poller.register(s, select.POLLIN)
    end = time.monotonic() + a.max_duration
    while time.monotonic() < end and not os.path.exists(a.stop):
        if reg and not registered and time.monotonic() >= next_reg and tries < 20:
            msg = ("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;rport\r\n"
                   "From: <sip:%s@example.test>\r\nCSeq: %d REGISTER\r\n"
                   "Content-Length: 0\r\n\r\n" % (reg[0], fmt(socks[0].getsockname()[:2]),
                                                  a.tag, tries + 1)).encode()
            try:
                socks[0].sendto(msg, reg)
            except OSError:
                pass
            tries += 1
            next_reg = time.monotonic() + 0.5
        for fd, _ in poller.poll(100):
            if raw and fd == raw.fileno():
                while True:
                    try:
                        frame, anc, _fl, info = raw.recvmsg(65535, 64)
                    except BlockingIOError:
                        break
                    if info[2] == PACKET_OUTGOING:
                        continue
                    r = check_frame(frame, ports)
                    if r:
                        k = rawstat.setdefault(str(r[0]), {"ok": 0, "bad": 0, "zero": 0})
                        k[r[1]] += 1
                        if r[0] in a.sniff_port:
                            t = time.time()
                            for level, kind, cdata in anc:
                                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                                    sec, nsec = struct.unpack("@qq", cdata[:16])
                                    t = sec + nsec / 1e9
                            sniffed.setdefault(r[3], []).append([round(t, 6), r[2], r[4].hex()])
                continue
            for s in socks:
                if s.fileno() != fd:
                    continue
                name = fmt(s.getsockname()[:2])
                for t, src, data in recv_all(s):
                    rec[name].append([round(t, 6), src, data.hex()])
                    if reg and data.startswith(b"SIP/2.0 200"):
                        registered = True
    rec.update(sniffed)
    write_json(a.out, {"sockets": rec, "registered": registered, "register_tries": tries,
                       "raw": rawstat})


def server(a):
    s = udp_socket(a.bind[0])
    ready(a.ready, [s])
    want = set(a.expect.split(","))
    seen = {}
    end = time.monotonic() + a.max_duration
    linger = None
    while time.monotonic() < end and (linger is None or time.monotonic() < linger):
        select.select([s], [], [], 0.1)
        for _t, src, data in recv_all(s):
            if not data.startswith(b"REGISTER "):
                continue
            tag = None
            for line in data.decode("ascii", "replace").split("\r\n"):
                if line.startswith("From: <sip:"):
                    tag = line[len("From: <sip:"):].split("@")[0]
            if tag in want:
                seen[tag] = src
            s.sendto(b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
                     hostport(src))
        if linger is None and want <= set(seen):
            linger = time.monotonic() + 0.3   # answer retransmissions in flight
    write_json(a.out, seen)
    return 0 if want <= set(seen) else 1


def invite(a):
    s = udp_socket(a.bind[0])
    for rnd in range(2):
        for d in a.dest:
            msg = ("INVITE sip:phone@%s SIP/2.0\r\nCSeq: %d INVITE\r\n"
                   "Content-Length: 0\r\n\r\n" % (d, rnd + 1)).encode()
            try:
                s.sendto(msg, hostport(d))
            except OSError:
                pass
        time.sleep(0.2)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("listen", "server", "invite"))
    ap.add_argument("--bind", action="append", default=[])
    ap.add_argument("--register")
    ap.add_argument("--tag", default="phone")
    ap.add_argument("--raw")
    ap.add_argument("--sniff-port", type=int, action="append", default=[],
                    help="with --raw: record frames to this UDP port (no socket) "
                         "under 'dst ip:port', stamped when the frame was queued")
    ap.add_argument("--expect", default="")
    ap.add_argument("--dest", action="append", default=[])
    ap.add_argument("--stop", default="/nonexistent/stop")
    ap.add_argument("--out")
    ap.add_argument("--ready", default=os.devnull)
    ap.add_argument("--max-duration", type=float, default=150.0)
    a = ap.parse_args()
    return {"listen": listen, "server": server, "invite": invite}[a.mode](a) or 0


if __name__ == "__main__":
    sys.exit(main())
PY
}

# analyze FILE SOCKETS PAYLOAD_HEX SOURCE T0 T1 INTERVAL_MS: one JSON object
# about the keepalives (datagrams equal to PAYLOAD_HEX) that SOCKETS (comma
# separated; each one target's) in FILE received: count, count between T0
# and T1 (epoch s), wrong_source, other payloads, inter-arrival statistics
# per socket, pooled, and their deviation from INTERVAL_MS in %.
analyze() {
  python3 - "$@" <<'PY'
import json, math, sys
path, sock, payload, source, t0, t1, interval = sys.argv[1:8]
t0, t1, interval = float(t0), float(t1), float(interval) / 1000.0
try:
    socks = json.load(open(path))["sockets"]
    per_sock = [socks.get(s, []) for s in sock.split(",")]
except Exception as e:
    print(json.dumps({"error": repr(e), "count": 0}))
    sys.exit(0)
pk = [p for ps in per_sock for p in ps]
ka = [p for p in pk if p[2] == payload]
inwin = [p for p in ka if t0 <= p[0] <= t1]
gaps = []
for ps in per_sock:  # inter-arrival times per socket, pooled
    times = [p[0] for p in ps if p[2] == payload]
    gaps += [b - a for a, b in zip(times, times[1:])]
times = sorted(p[0] for p in ka)
dev = sorted(abs(g - interval) / interval * 100.0 for g in gaps)

def pct(q):
    # Nearest rank: the smallest value with at least q of the samples <= it.
    if not dev:
        return None
    k = max(0, min(len(dev) - 1, math.ceil(q * len(dev) - 1e-9) - 1))
    return round(dev[k], 3)

r = {"count": len(ka), "count_window": len(inwin),
     "wrong_source": sum(1 for p in ka if p[1] != source),
     "sources": sorted({p[1] for p in ka}),
     "other": [bytes.fromhex(p[2])[:40].decode("ascii", "replace") for p in pk if p[2] != payload],
     "samples": len(gaps),
     "max_gap_s": round(max(gaps), 3) if gaps else None,
     "mean_gap_ms": round(sum(gaps) / len(gaps) * 1000, 3) if gaps else None,
     "first_s": round(times[0] - t0, 3) if times else None,
     "p50_dev_pct": pct(0.50), "p99_dev_pct": pct(0.99),
     "max_dev_pct": round(dev[-1], 3) if dev else None,
     "min_dev_pct": round(dev[0], 3) if dev else None}
print(json.dumps(r, sort_keys=True))
PY
}

# invite_received FILE SOCKET: number of INVITEs SOCKET in FILE received.
invite_received() {
  jfile "$1" "sum(1 for p in d['sockets'].get('$2', []) if bytes.fromhex(p[2]).startswith(b'INVITE '))" \
    2>/dev/null || echo 0
}

# ---------------------------------------------------------------------------

# cpu_mask LIST: "0", "0,2", "0-3" -> hex mask for rps_cpus.
cpu_mask() {
  python3 -c '
import sys
m = 0
for part in sys.argv[1].split(","):
    lo, _, hi = part.partition("-")
    for c in range(int(lo), int(hi or lo) + 1):
        m |= 1 << c
print("%x" % m)' "$1"
}

# The dataplane's af_packet tx runs veth_xmit in the lcore's sendto(): the
# bridge and the receiving hosts are then processed in softirq on the
# lcore's CPU, which the busy-polling lcore leaves only at scheduler ticks
# (ksoftirqd), so arrivals quantise to 4 ms. A NIC needs no CPU time from
# the sender to put a frame on the wire; RPS on the bridge port that
# receives the relay's frames moves that work to the helpers' CPU(s).
steer_relay_rx() {
  local port="${RL_P}brv" mask
  mask=$(cpu_mask "$HELPER_CPUS") || return 0
  if rl_exec inet sh -c "echo $mask > /sys/class/net/$port/queues/rx-0/rps_cpus" 2>/dev/null; then
    rl_log "RPS: frames from the relay processed on CPU mask $mask ($port)"
  else
    rl_log "warning: could not set rps_cpus on $port"
  fi
}

build_topology() {
  rl_build_inet
  rl_add_relay
  steer_relay_rx
  rl_add_host peer pr "$PEER_IP/24" "$PEER_IP6/64"
  rl_add_nat_lan nat lan "$NAT_OUT_IP/24" "$NAT_IN_IP/24" "$PHONE_IP/24" plain "$NAT_UDP_TIMEOUT"
  local t ts
  t=$(rl_exec nat sysctl -n net.netfilter.nf_conntrack_udp_timeout 2>/dev/null)
  ts=$(rl_exec nat sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream 2>/dev/null)
  rl_check nat_udp_timeout "nf_conntrack_udp_timeout=$t, _stream=$ts in $(rl_ns nat)" \
    test "$t" == "$NAT_UDP_TIMEOUT" -a "$ts" == "$NAT_UDP_TIMEOUT"
  rl_log "topology up: prefix $RL_P, logs in $RL_TMP"
}

# (e) bad requests: each must fail with a clear error and change nothing.
check_bad_requests() {
  local r good="{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\"}"
  local total_before total_after
  total_before=$(jget "$(ctl '{"cmd":"keepalive_list","limit":1}')" "d['result']['total']" 2>/dev/null)

  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":{\"hex\":\"zz00\"}}]}")
  rl_check bad_payload_hex_not_hex "$r" error_is "$r" invalid_argument payload
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":{\"hex\":\"abc\"}}]}")
  rl_check bad_payload_hex_odd_length "$r" error_is "$r" invalid_argument payload
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":\"ping\"}]}")
  rl_check bad_payload_unknown_name "$r" error_is "$r" invalid_argument payload
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":{\"text\":\"$(printf 'x%.0s' $(seq 1201))\"}}]}")
  rl_check bad_payload_too_long "${r:0:200}" error_is "$r" invalid_argument payload
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"203.0.113.99:$SIP_PORT\"}]}")
  rl_check bad_source_not_relay_address "$r" error_is "$r" invalid_argument source
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"[$PEER_IP6]:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\"}]}")
  rl_check bad_source_family_mismatch "$r" error_is "$r" invalid_argument source
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"interval_ms\":0}]}")
  rl_check bad_interval_zero "$r" error_is "$r" invalid_argument interval_ms
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"interval_ms\":99}]}")
  rl_check bad_interval_below_100 "$r" error_is "$r" invalid_argument interval_ms
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PEER_IP:6100\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"interval_ms\":1000,\"jitter_ms\":1000}]}")
  rl_check bad_jitter_not_below_interval "$r" error_is "$r" invalid_argument jitter_ms
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"not-an-address\",\"source\":\"$RELAY_IP:$SIP_PORT\"}]}")
  rl_check bad_target_address "$r" error_is "$r" invalid_argument target
  r=$(ctl '{"cmd":"keepalive_add","targets":[]}')
  rl_check bad_targets_empty "$r" error_is "$r" invalid_argument targets
  # All or nothing: one good and one bad target add nothing.
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[$good,{\"target\":\"$PEER_IP:6101\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"interval_ms\":0}]}")
  total_after=$(jget "$(ctl '{"cmd":"keepalive_list","limit":1}')" "d['result']['total']" 2>/dev/null)
  # shellcheck disable=SC2016  # $1.. belong to the inner bash
  rl_check bad_batch_all_or_nothing "$r; total $total_before -> $total_after" \
    bash -c '[[ $1 == True && -n $2 && $2 == "$3" ]]' _ \
    "$(error_is "$r" invalid_argument interval_ms && echo True)" "$total_before" "$total_after"
  # Unknown ids: not_found, and a known id in the same list is not removed.
  r=$(ctl "{\"cmd\":\"keepalive_remove\",\"ids\":[$ID_A,987654321]}")
  # shellcheck disable=SC2016  # $1.. belong to the inner bash
  rl_check bad_remove_unknown_id_removes_nothing "$r; then query $ID_A ok=$(ok "$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_A}")")" \
    bash -c '[[ $1 == yes && $2 == True ]]' _ \
    "$(error_is "$r" not_found 987654321 && echo yes)" "$(ok "$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_A}")")"
  r=$(ctl '{"cmd":"keepalive_query","id":987654321}')
  rl_check bad_query_unknown_id "$r" error_is "$r" not_found 987654321
  r=$(ctl "{\"cmd\":\"keepalive_update\",\"id\":$ID_A,\"interval_ms\":0}")
  rl_check bad_update_interval_zero "$r" error_is "$r" invalid_argument interval_ms
  r=$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_A}")
  rl_check bad_update_changed_nothing "$r" \
    test "$(jget "$r" "d['result']['interval_ms']" 2>/dev/null)" == "$KA_INTERVAL_MS"

  # Defaults: payload crlf (4 bytes), interval 60000, jitter 0.
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[$good]}")
  local id
  id=$(jget "$r" "d['result']['ids'][0]" 2>/dev/null)
  r=$(ctl "{\"cmd\":\"keepalive_query\",\"id\":${id:-0}}")
  rl_check keepalive_defaults "$r" \
    test "$(jget "$r" "(d['result']['payload_bytes'], d['result']['interval_ms'], d['result']['jitter_ms'], d['result']['source'], d['result']['target'])" 2>/dev/null)" \
      == "(4, 60000, 0, '$RELAY_IP:$SIP_PORT', '$PEER_IP:6100')"
  [[ -n $id ]] && ctl "{\"cmd\":\"keepalive_remove\",\"ids\":[$id]}" >/dev/null

  r=$(ctl '{"v":1,"cmd":"version"}')
  # shellcheck disable=SC2016  # $1.. belong to the inner bash
  rl_check bad_requests_dataplane_still_running "pid $DPDK_PID; $r" \
    bash -c 'kill -0 "$1" && [[ $2 == True ]]' _ "$DPDK_PID" "$(ok "$r")"
}

run() {
  start_dataplane || return 0
  local r names
  r=$(ctl '{"cmd":"help"}')
  names=$(jget "$r" "' '.join(c['name'] for c in d['result']['commands'])" 2>/dev/null)
  local c missing=""
  for c in keepalive_add keepalive_update keepalive_remove keepalive_query keepalive_list; do
    [[ " $names " == *" $c "* ]] || missing+=" $c"
  done
  if [[ -n $missing ]]; then
    rl_fail help_lists_keepalive_commands "missing:$missing (help: $names)"
    return 0
  fi
  rl_pass help_lists_keepalive_commands

  # The dataplane learns next-hop MACs from frames it sees: the pings (and
  # the phones' REGISTERs) teach it the peer's and the NAT's addresses.
  rl_check exception_ping_v4_peer_to_relay "$PEER_IP -> $RELAY_IP" ping_ok peer "$RELAY_IP"
  rl_check exception_ping_v6_peer_to_relay "$PEER_IP6 -> $RELAY_IP6" ping_ok peer "$RELAY_IP6"

  # --- listeners: the public peer (c, d, text payload) and the SIP server.
  local k acc_binds=() acc_socks="" acc_targets=""
  for (( k = 0; k < ACC_TARGETS; k++ )); do
    acc_binds+=(--bind "$PEER_IP:$((PEER_PORT + k))")
    acc_socks+="${acc_socks:+,}$PEER_IP:$((PEER_PORT + k))"
    acc_targets+=",
    {\"target\":\"$PEER_IP:$((PEER_PORT + k))\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":\"zero4\",\"interval_ms\":$ACC_INTERVAL_MS,\"label\":\"accuracy\"}"
  done
  listener peer peer listen "${acc_binds[@]}" --bind "[$PEER_IP6]:$PEER_PORT6" \
    --bind "$PEER_IP:$PEER_TEXT_PORT" --raw "$(rl_ifname pr)" --stop "$STOP"
  local peer_pid=$LISTENER_PID
  # Diagnostic: the same frames on the bridge port facing the relay, stamped
  # in the dataplane's sendto() (send side), to tell late sends from slow
  # delivery when (c) fails.
  local sniff_ports=()
  for (( k = 0; k < ACC_TARGETS; k++ )); do sniff_ports+=(--sniff-port $((PEER_PORT + k))); done
  listener inet wire listen --raw "${RL_P}brv" "${sniff_ports[@]}" --stop "$STOP"
  local wire_pid=$LISTENER_PID
  listener relay server server --bind "$RELAY_IP:$SIP_PORT" --expect a,b --max-duration 20
  local server_pid=$LISTENER_PID
  listener lan phone_a listen --bind "$PHONE_IP:$PHONE_A_PORT" --register "$RELAY_IP:$SIP_PORT" \
    --tag a --stop "$STOP"
  local phone_a_pid=$LISTENER_PID
  listener lan phone_b listen --bind "$PHONE_IP:$PHONE_B_PORT" --register "$RELAY_IP:$SIP_PORT" \
    --tag b --stop "$STOP"
  local phone_b_pid=$LISTENER_PID
  rl_wait "$server_pid" 25
  local src_a src_b
  src_a=$(jfile "$RL_TMP/server.json" "d.get('a')" 2>/dev/null)
  src_b=$(jfile "$RL_TMP/server.json" "d.get('b')" 2>/dev/null)
  rl_check register_seen_from_nat "phone a $PHONE_IP:$PHONE_A_PORT -> $src_a, phone b $PHONE_IP:$PHONE_B_PORT -> $src_b" \
    test "${src_a%:*}" == "$NAT_OUT_IP" -a "${src_b%:*}" == "$NAT_OUT_IP" -a "$src_a" != "$src_b"
  if [[ ${src_a%:*} != "$NAT_OUT_IP" || ${src_b%:*} != "$NAT_OUT_IP" ]]; then
    rl_log "server log:"; cat "$RL_TMP/server.log" >&2
    return 0
  fi

  # --- add every target in one request (all or nothing, ids in order).
  local text_json
  text_json=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$TEXT_PAYLOAD")
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[
    {\"target\":\"$src_a\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":\"crlf\",\"interval_ms\":$KA_INTERVAL_MS,\"label\":\"phone-a\"},
    {\"target\":\"$src_b\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":\"crlf\",\"interval_ms\":$KA_INTERVAL_MS,\"label\":\"phone-b\"},
    {\"target\":\"[$PEER_IP6]:$PEER_PORT6\",\"source\":\"[$RELAY_IP6]:$SIP_PORT\",\"payload\":{\"hex\":\"$V6_PAYLOAD_HEX\"},\"interval_ms\":$V6_INTERVAL_MS,\"label\":\"v6\"},
    {\"target\":\"$PEER_IP:$PEER_TEXT_PORT\",\"source\":\"$RELAY_IP:$SIP_PORT\",\"payload\":{\"text\":$text_json},\"interval_ms\":$TEXT_INTERVAL_MS,\"label\":\"text\"}]}")
  local t_add
  t_add=$(now)
  local ids
  ids=$(jget "$r" "' '.join(str(i) for i in d['result']['ids'])" 2>/dev/null)
  read -r ID_A ID_B ID_V6 ID_TEXT <<<"$ids"
  if [[ -z ${ID_TEXT:-} ]]; then
    rl_fail keepalive_add "$r"
    return 0
  fi
  rl_pass keepalive_add "ids $ids"

  # (b) negative control: phone b's target is updated, then removed at once.
  r=$(ctl "{\"cmd\":\"keepalive_update\",\"id\":$ID_B,\"interval_ms\":5000}")
  rl_check keepalive_update "$r" \
    test "$(jget "$r" "(d['result']['id'], d['result']['interval_ms'], d['result']['target'], d['result']['label'])" 2>/dev/null)" \
      == "($ID_B, 5000, '$src_b', 'phone-b')"
  r=$(ctl "{\"cmd\":\"keepalive_remove\",\"ids\":[$ID_B]}")
  rl_check keepalive_remove "$r" test "$(jget "$r" "d['result']['removed']" 2>/dev/null)" == 1
  local t_remove_b
  t_remove_b=$(now)
  r=$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_B}")
  rl_check keepalive_query_removed_not_found "$r" error_is "$r" not_found "$ID_B"

  r=$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_A}")
  rl_check keepalive_query_fields "$r" \
    test "$(jget "$r" "(d['result']['target'], d['result']['source'], d['result']['payload_bytes'], d['result']['interval_ms'], d['result']['label'])" 2>/dev/null)" \
      == "('$src_a', '$RELAY_IP:$SIP_PORT', 4, $KA_INTERVAL_MS, 'phone-a')"
  r=$(ctl "{\"cmd\":\"keepalive_list\",\"target_ip\":\"$NAT_OUT_IP\"}")
  rl_check keepalive_list_filter_target_ip "$r" \
    test "$(jget "$r" "(d['result']['total'], [k['id'] for k in d['result']['keepalives']])" 2>/dev/null)" == "(1, [$ID_A])"
  r=$(ctl '{"cmd":"keepalive_list","label":"v6"}')
  rl_check keepalive_list_filter_label "$r" \
    test "$(jget "$r" "(d['result']['total'], d['result']['keepalives'][0]['target'], d['result']['keepalives'][0]['payload_bytes'])" 2>/dev/null)" \
      == "(1, '[$PEER_IP6]:$PEER_PORT6', $(( ${#V6_PAYLOAD_HEX} / 2 )))"

  # (e) while the wait runs.
  check_bad_requests

  r=$(ctl '{"cmd":"stats"}')
  printf '%s\n' "$r" >"$RL_TMP/stats_armed.json"
  rl_check stats_keepalives_armed "$(jget "$r" "'total keepalives %s, per lcore %s' % (d['result']['total']['keepalives'], [l['keepalives'] for l in d['result']['lcores']])" 2>/dev/null)" \
    test "$(jget "$r" "(d['result']['total']['keepalives'], sum(l['keepalives'] for l in d['result']['lcores']))" 2>/dev/null)" == "(3, 3)"

  # --- (c) accuracy: ACC_TARGETS targets at 500 ms for ACCURACY_S, started
  # after the control-socket checks above: their python start-ups on the
  # helpers' CPU (where RPS delivers the peer's packets) would delay
  # deliveries to the peer by a scheduler tick, which is the test host's
  # jitter, not the dataplane's. The window itself runs no commands.
  r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[${acc_targets#,}]}")
  local t_acc ID_ACC
  t_acc=$(now)
  ID_ACC=$(jget "$r" "' '.join(str(i) for i in d['result']['ids'])" 2>/dev/null)
  rl_check keepalive_add_accuracy_targets "ids $ID_ACC" test "$(wc -w <<<"$ID_ACC")" == "$ACC_TARGETS"
  sleep_until "$(python3 -c "print($t_acc + $ACCURACY_S)")"
  local q_acc q_text q_v6
  q_acc=$(ctl "{\"cmd\":\"keepalive_list\",\"label\":\"accuracy\"}")
  q_text=$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_TEXT}")
  r=$(ctl "{\"cmd\":\"keepalive_remove\",\"ids\":[${ID_ACC// /,},${ID_TEXT:-0}]}")
  local t_acc_end
  t_acc_end=$(now)
  rl_check keepalive_remove_accuracy_and_text "$r" \
    test "$(jget "$r" "d['result']['removed']" 2>/dev/null)" == $((ACC_TARGETS + 1))

  # --- (a)/(b): silence until WAIT_S after the add, then the INVITEs.
  sleep_until "$(python3 -c "print($t_add + $WAIT_S)")"
  local q_a st_end t_inv
  q_a=$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_A}")
  q_v6=$(ctl "{\"cmd\":\"keepalive_query\",\"id\":$ID_V6}")
  t_inv=$(now)
  rl_exec relay python3 "$HELPER" invite --bind "$RELAY_IP:$SIP_PORT" --dest "$src_a" --dest "$src_b" \
    >"$RL_TMP/invite.log" 2>&1
  st_end=$(ctl '{"cmd":"stats"}')
  printf '%s\n' "$st_end" >"$RL_TMP/stats_end.json"
  sleep 1
  : >"$STOP"
  rl_wait "$phone_a_pid" 10; rl_wait "$phone_b_pid" 10; rl_wait "$peer_pid" 10
  rl_wait "$wire_pid" 10

  local pa pb inv_a inv_b ka_a ka_b
  pa="$PHONE_IP:$PHONE_A_PORT"; pb="$PHONE_IP:$PHONE_B_PORT"
  rl_check phones_registered "a: $(jfile "$RL_TMP/phone_a.json" "(d['registered'], d['register_tries'])"), b: $(jfile "$RL_TMP/phone_b.json" "(d['registered'], d['register_tries'])")" \
    test "$(jfile "$RL_TMP/phone_a.json" "d['registered']" 2>/dev/null)$(jfile "$RL_TMP/phone_b.json" "d['registered']" 2>/dev/null)" == TrueTrue
  inv_a=$(invite_received "$RL_TMP/phone_a.json" "$pa")
  inv_b=$(invite_received "$RL_TMP/phone_b.json" "$pb")
  local wait_done
  wait_done=$(python3 -c "print(round($t_inv - $t_add, 1))")
  rl_check a_invite_reaches_phone_with_keepalives "$inv_a INVITE(s) to $src_a after ${wait_done}s of silence (NAT timeout ${NAT_UDP_TIMEOUT}s)" \
    test "$inv_a" -ge 1
  rl_check b_invite_lost_without_keepalives "$inv_b INVITE(s) to $src_b after ${wait_done}s (binding must have expired)" \
    test "$inv_b" == 0

  ka_a=$(analyze "$RL_TMP/phone_a.json" "$pa" 0d0a0d0a "$RELAY_IP:$SIP_PORT" "$t_add" "$t_inv" "$KA_INTERVAL_MS")
  ka_b=$(analyze "$RL_TMP/phone_b.json" "$pb" 0d0a0d0a "$RELAY_IP:$SIP_PORT" "$t_add" "$t_inv" "$KA_INTERVAL_MS")
  printf '%s\n' "$ka_a" >"$RL_TMP/ka_a.json"
  local n_a sent_a lo hi
  n_a=$(jget "$ka_a" "d['count_window']")
  sent_a=$(jget "$q_a" "d['result']['sent']" 2>/dev/null || echo 0)
  # First send at a random point of the first interval, then every interval.
  lo=$(python3 -c "print(int(($t_inv - $t_add) * 1000 // $KA_INTERVAL_MS) - 1)")
  hi=$(python3 -c "import math; print(math.ceil(($t_inv - $t_add) * 1000 / $KA_INTERVAL_MS) + 1)")
  rl_check a_keepalives_received "$n_a CRLFCRLF in ${wait_done}s (expected $lo..$hi at ${KA_INTERVAL_MS} ms), max gap $(jget "$ka_a" "d['max_gap_s']")s, first after $(jget "$ka_a" "d['first_s']")s" \
    test "$n_a" -ge "$lo" -a "$n_a" -le "$hi"
  rl_check a_keepalives_from_relay_sip_socket "sources $(jget "$ka_a" "d['sources']"), other datagrams $(jget "$ka_a" "d['other']")" \
    test "$(jget "$ka_a" "d['wrong_source']")" == 0 -a "$(jget "$ka_a" "d['sources']")" == "[\"$RELAY_IP:$SIP_PORT\"]"
  rl_check a_keepalive_query_sent "query: sent $sent_a, last_sent_ms_ago $(jget "$q_a" "d['result']['last_sent_ms_ago']" 2>/dev/null); phone received $n_a" \
    test "${sent_a:-0}" -gt 0 -a "${sent_a:-0}" -ge $((n_a - 1)) -a "${sent_a:-0}" -le $((n_a + 1))
  rl_check b_removed_target_stopped "phone b got $(jget "$ka_b" "d['count']") keepalives (target removed within $(python3 -c "print(round($t_remove_b - $t_add, 2))")s of the add)" \
    test "$(jget "$ka_b" "d['count']")" -le 1

  # --- (c) accuracy at the public peer.
  local acc
  acc=$(analyze "$RL_TMP/peer.json" "$acc_socks" 00000000 "$RELAY_IP:$SIP_PORT" "$t_acc" "$t_acc_end" "$ACC_INTERVAL_MS")
  printf '%s\n' "$acc" >"$RL_TMP/accuracy.json"
  echo "keepalive_accuracy interval_ms=$ACC_INTERVAL_MS samples=$(jget "$acc" "d['samples']") p50_dev_pct=$(jget "$acc" "d['p50_dev_pct']") p99_dev_pct=$(jget "$acc" "d['p99_dev_pct']") max_dev_pct=$(jget "$acc" "d['max_dev_pct']")"
  rl_log "accuracy: mean period $(jget "$acc" "d['mean_gap_ms']") ms for $ACC_INTERVAL_MS ms, min deviation $(jget "$acc" "d['min_dev_pct']")%, first keepalive $(jget "$acc" "d['first_s']") s after the add"
  local wire
  wire=$(analyze "$RL_TMP/wire.json" "$acc_socks" 00000000 "$RELAY_IP:$SIP_PORT" "$t_acc" "$t_acc_end" "$ACC_INTERVAL_MS")
  rl_log "accuracy at the bridge (send side): samples=$(jget "$wire" "d['samples']") p50_dev_pct=$(jget "$wire" "d['p50_dev_pct']") p99_dev_pct=$(jget "$wire" "d['p99_dev_pct']") max_dev_pct=$(jget "$wire" "d['max_dev_pct']") mean period $(jget "$wire" "d['mean_gap_ms']") ms"
  local acc_n min_n
  acc_n=$(jget "$acc" "d['count']")
  min_n=$(( ACC_TARGETS * (ACCURACY_S * 1000 / ACC_INTERVAL_MS - 2) ))
  rl_check c_accuracy_samples "$acc_n zero4 keepalives at $PEER_IP:$PEER_PORT..$((PEER_PORT + ACC_TARGETS - 1)) in ${ACCURACY_S}s (>= $min_n), list sent $(jget "$q_acc" "sum(k['sent'] for k in d['result']['keepalives'])" 2>/dev/null), wrong source $(jget "$acc" "d['wrong_source']"), other $(jget "$acc" "len(d['other'])")" \
    test "$acc_n" -ge "$min_n" -a "$(jget "$acc" "d['wrong_source']")" == 0
  rl_check c_accuracy_p99_within_${ACC_MAX_P99_PCT}pct "p50 $(jget "$acc" "d['p50_dev_pct']")% p99 $(jget "$acc" "d['p99_dev_pct']")% max $(jget "$acc" "d['max_dev_pct']")% of ${ACC_INTERVAL_MS} ms, mean period $(jget "$acc" "d['mean_gap_ms']") ms; send side p99 $(jget "$wire" "d['p99_dev_pct']")% max $(jget "$wire" "d['max_dev_pct']")%" \
    python3 -c "import sys; v=sys.argv[1]; sys.exit(0 if v not in ('', 'None') and float(v) <= $ACC_MAX_P99_PCT else 1)" \
      "$(jget "$acc" "d['p99_dev_pct']")"

  # --- (d) IPv6, and the text payload.
  local v6 n_v6 raw_v6 txt n_txt text_hex
  v6=$(analyze "$RL_TMP/peer.json" "[$PEER_IP6]:$PEER_PORT6" "$V6_PAYLOAD_HEX" "[$RELAY_IP6]:$SIP_PORT" "$t_add" "$t_inv" "$V6_INTERVAL_MS")
  n_v6=$(jget "$v6" "d['count']")
  raw_v6=$(jfile "$RL_TMP/peer.json" "d['raw'].get('$PEER_PORT6', {})" 2>/dev/null) || raw_v6='{}'
  rl_check d_ipv6_keepalives_received "$n_v6 datagrams with the exact payload from $(jget "$v6" "d['sources']"), other $(jget "$v6" "d['other']"), query sent $(jget "$q_v6" "d['result']['sent']" 2>/dev/null)" \
    test "$n_v6" -ge $(( WAIT_S * 1000 / V6_INTERVAL_MS - 3 )) -a "$(jget "$v6" "d['wrong_source']")" == 0 \
      -a "$(jget "$v6" "len(d['other'])")" == 0
  rl_check d_ipv6_udp_checksum_valid "raw socket: $raw_v6" \
    test "$(jget "$raw_v6" "(d.get('ok', 0) >= $n_v6 > 0, d.get('bad'), d.get('zero'))" 2>/dev/null)" == "(True, 0, 0)"
  local raw_v4
  raw_v4=$(jfile "$RL_TMP/peer.json" "d['raw'].get('$PEER_PORT', {})" 2>/dev/null) || raw_v4='{}'
  rl_check c_ipv4_udp_checksum_valid "raw socket: $raw_v4" \
    test "$(jget "$raw_v4" "(d.get('ok', 0) > 0, d.get('bad'))" 2>/dev/null)" == "(True, 0)"
  text_hex=$(python3 -c 'import sys; print(sys.argv[1].encode().hex())' "$TEXT_PAYLOAD")
  txt=$(analyze "$RL_TMP/peer.json" "$PEER_IP:$PEER_TEXT_PORT" "$text_hex" "$RELAY_IP:$SIP_PORT" "$t_add" "$t_acc_end" "$TEXT_INTERVAL_MS")
  n_txt=$(jget "$txt" "d['count']")
  rl_check text_payload_received "$n_txt datagrams equal to '$TEXT_PAYLOAD' (query sent $(jget "$q_text" "d['result']['sent']" 2>/dev/null)), other $(jget "$txt" "d['other']")" \
    test "$n_txt" -ge $(( ACCURACY_S * 1000 / TEXT_INTERVAL_MS - 2 )) -a "$(jget "$txt" "len(d['other'])")" == 0

  # --- counters.
  rl_check stats_keepalive_counters "$(jget "$st_end" "'sent %s, armed %s, no_mbuf %s, next_hop_unknown %s, keepalive_cycles %s' % tuple(d['result']['total'].get(k, d['result']['total']['drops'].get(k)) for k in ('keepalives_sent', 'keepalives', 'keepalive_no_mbuf', 'keepalive_next_hop_unknown', 'keepalive_cycles'))" 2>/dev/null)" \
    test "$(jget "$st_end" "(d['result']['total']['keepalives_sent'] >= $sent_a + $n_v6, d['result']['total']['keepalives'], d['result']['total']['drops']['keepalive_no_mbuf'])" 2>/dev/null)" \
      == "(True, 2, 0)"
  rl_check dataplane_still_running "pid $DPDK_PID" kill -0 "$DPDK_PID"
}

write_helper
build_topology
run
rl_summary "$SUITE"
