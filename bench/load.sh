#!/usr/bin/env bash
# Load run through the whole system (scripts/bench load): sipp calls between
# two phones behind two Linux NATs, through rtplatch-control (SIP, digest
# auth) and rtplatch-dataplane (RTP relay, latching), in network namespaces
# built by scripts/lib/sip_testbed.sh.
#
#   bench/load.sh [--calls N] [--seconds S] [--rate R] [--quick] [--no-pin]
#                 [--ring-frames F] [--keep]
#
#   --calls N    concurrent calls (default 500); every call is placed once
#   --seconds S  how long each call holds, with RTP both ways (default 120)
#   --rate R     calls set up per second while ramping (default 25)
#   --quick      50 calls, 20 s (for trying things)
#   --no-pin     do not pin sipp and the control plane to core 0
#   --ring-frames F  frames in the af_packet ring that stands in for the
#                relay NIC's rx ring (default 4096; 0: the PMD's default, 512)
#   --keep       keep the run's directory (logs, sipp stats, snapshots)
#
# Topology: caller alice (side a, 192.0.2.2) behind NAT 203.0.113.30, callee
# bob (side b, 198.51.100.2) behind NAT 203.0.113.31, both plain MASQUERADE;
# the relay 203.0.113.10 (dataplane on af_packet + tap, control plane on the
# tap). bob's sipp REGISTERs with digest first; then a sipp UAS
# (bench/sipp/load_uas.xml) answers on bob's LAN and a sipp UAC
# (bench/sipp/load_uac.xml) places N calls at R calls/s (407, INVITE with
# credentials, 200, ACK). Each side streams PCMA RTP (sipp rtp_stream, 160
# bytes every 20 ms: 50 packets/s) to the relay port it was given, for S
# seconds; then both pause their streams and the caller sends BYE 1 s later
# (the relay drops a call's streams when its BYE passes).
#
# Measured independently of sipp:
#   sent / received per direction: iptables counters in the phone
#     namespaces (OUTPUT and INPUT, UDP other than the SIP port 5060);
#     lost = sent by one phone - arrived at the other; whole run
#   relay: rtplatchctl stats deltas (rx, relayed, drops by reason), a
#     mid-run `streams` snapshot (how many latched), control plane sip-stats
#   calls: sipp's stats file (SuccessfulCall / FailedCall of the UAC);
#     success_pct = successful / N
#   CPU: utime+stime from /proc/PID/stat of rtplatch-dataplane and
#     rtplatch-control over the whole call run (first INVITE to last BYE),
#     as % of one core; dataplane_worker_busy_pct: the forwarding lcore's
#     busy cycles / (busy + idle) from `stats` over the same window
# Diagnostics (stderr, and the line "load_detail ..."): the control plane's
# call counters, hop-by-hop counts (NAT FORWARD counters, frames on the
# relay's veth the dataplane never read), relay drops per direction from a
# mid-run `streams` snapshot, the steady phase (all calls up) separately,
# per-core use, sipp's CPU and watchdog, kernel backlog drops, packets the
# NATs got without a mapping, the busiest other processes.
#
# sipp 3.6.1's rtp_stream, as found: the RTP of every call of one sipp leaves
# from the same local port (-mp, 6000), each call to its own relay port
# (so the relay sees N distinct streams, all from one NAT address:port per
# side); it never reads its sockets, so the phones' kernels drop what
# arrives at full socket buffers (phone_*_rcvbuf_errors): "received" here
# is what arrived at the phone's IP layer (INPUT), not what sipp read. The
# callee stops 0.5 s before the caller, so b->a sends ~25 packets per call
# fewer.
#
# Placement (2 cores): the dataplane's forwarding lcore busy-polls core 1
# (RTPLATCH_LCORES default 0-1); sipp (both) and rtplatch-control are pinned
# to core 0 (taskset) unless --no-pin.
#
# Output (stdout), one line:
#   load calls=N concurrent=C seconds=S success_pct=P rtp_pps_each_way=50
#     sent_a_to_b=X lost_a_to_b=L loss_a_to_b_pct=Q sent_b_to_a=Y
#     lost_b_to_a=M loss_b_to_a_pct=R dataplane_cpu_pct=D
#     dataplane_worker_busy_pct=W control_cpu_pct=K
# and a "load_detail ..." line. Exit 0 when the run completed (whatever the
# figures), 1 when it broke (testbed, a process died, sipp did not finish),
# 2 usage, 77 cannot run here (not root, binaries or sipp missing).
# Run it under `flock /tmp/heavy.lock` when others share the machine.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SCN="$HERE/sipp"

CALLS=500
HOLD_S=120
RATE=25
PIN=1
RING_FRAMES=4096
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
while (( $# )); do
  case $1 in
    --calls) CALLS=${2:?}; shift ;;
    --seconds) HOLD_S=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --quick) CALLS=50; HOLD_S=20 ;;
    --no-pin) PIN=0 ;;
    --ring-frames) RING_FRAMES=${2:?}; shift ;;
    --keep) export RL_KEEP_LOGS=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "load: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in CALLS HOLD_S RATE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "load: ${v,,} must be a positive integer" >&2; exit 2; }
done
[[ $RING_FRAMES =~ ^[0-9]+$ ]] || { echo "load: --ring-frames must be a number" >&2; exit 2; }
(( HOLD_S >= 5 )) || { echo "load: --seconds must be at least 5" >&2; exit 2; }

# Relay ports: each call takes 2 legs x (RTP + RTCP); twice what N needs.
export ST_PORT_MIN=30000
export ST_PORT_MAX=$(( 30000 + (CALLS * 8 > 6000 ? CALLS * 8 : 6000) - 1 ))
(( ST_PORT_MAX <= 65535 )) || { echo "load: too many calls for one relay address" >&2; exit 2; }
RAMP_S=$(( (CALLS + RATE - 1) / RATE ))
# No idle events during the run (the phones never stop sending until BYE).
export ST_IDLE_TIMEOUT_S=$(( HOLD_S + RAMP_S + 600 ))
export ST_SIPP_TIMEOUT_S=20

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=bench/media_phones.sh
source "$HERE/media_phones.sh"
if ! why=$(st_missing); then echo "SKIP load: $why"; exit 77; fi
command -v sox >/dev/null || { echo "SKIP load: sox not found (the audio file)"; exit 77; }

log() { printf '[load %s] %s\n' "$(date +%T)" "$*" >&2; }
broke() { log "ERROR: $*"; RL_FAILED=$((RL_FAILED + 1)); exit 1; }

st_init "ld$$"
# The relay's "NIC" here is net_af_packet on a veth, whose rx ring holds 512
# frames unless told otherwise: 10 ms of this load's 50 000 frames/s, so any
# 10 ms the forwarding lcore is kept off its core (another process, a kernel
# thread) loses packets. A NIC's ring would be the dataplane's
# rx_descriptors (1024 by default) and usually sized up for such a load.
export ST_RING_FRAMES=$RING_FRAMES
RELAY="$ST_RELAY_IP:$ST_SIP_PORT"
A_IP=$MP_A_IP; B_IP=$MP_B_IP
A_PW=alice-load-1; B_PW=bob-load-2
st_add_user alice "$A_PW"
st_add_user bob "$B_PW"
st_start_relay || broke "relay did not start"
log "relay media port: $(tr '\0' '\n' <"/proc/$DP_PID/cmdline" | grep '^net_af_packet')"
mp_add_phones || broke "the phones' testbed failed"
# On the NATs: media that reached the NAT itself (no mapping: dropped), and
# media forwarded from and to the phone.
for r in nat:$A_IP nt2:$B_IP; do
  rl_exec "${r%%:*}" iptables -w -A INPUT -p udp ! --dport 5060 || broke "iptables in ${r%%:*}"
  rl_exec "${r%%:*}" iptables -w -A FORWARD -s "${r#*:}" -p udp ! --sport 5060 || broke "iptables in ${r%%:*}"
  rl_exec "${r%%:*}" iptables -w -A FORWARD -d "${r#*:}" -p udp ! --dport 5060 || broke "iptables in ${r%%:*}"
done

PINCMD=()
if [[ $PIN == 1 ]]; then
  PINCMD=(taskset -c 0)
  taskset -a -p -c 0 "$CTL_PID" >/dev/null || log "warning: could not pin rtplatch-control"
fi

# bob registers (digest); the binding outlives the run.
st_register ln2 reg_bob "$B_IP:5060" "$RELAY" bob "$B_PW" -key expires "$((HOLD_S + RAMP_S + 600))" \
  || broke "bob did not register"
log "bob registered (behind NAT: $(jget "$(cctl registration "bob@$ST_DOMAIN" 2>/dev/null)" \
  "d['bindings'][0]['behind_nat']" 2>/dev/null))"

# --- snapshots --------------------------------------------------------------
SNAP="$RL_TMP/snap"
mkdir -p "$SNAP"
UAC_PID=""; UAS_PID=""
# snap NAME: every counter, as raw files under $SNAP/NAME.
snap() {
  local d="$SNAP/$1" p pa pb
  mkdir -p "$d"
  date +%s.%N >"$d/time"
  # Both phones' UDP MIBs read by one process, microseconds apart (through
  # a process in each namespace): the steady-phase loss needs the two ends
  # of a direction read at the same moment.
  pa=$(mp_sipp_of "${UAC_PID:-0}"); pb=$(mp_sipp_of "${UAS_PID:-0}")
  [[ -n $pa && -n $pb ]] && cat "/proc/$pa/net/snmp" "/proc/$pb/net/snmp" >"$d/snmp_ab" 2>/dev/null
  {
    echo "a_out $(mp_ipt_pkts lan OUTPUT)"
    echo "a_in $(mp_ipt_pkts lan INPUT)"
    echo "b_out $(mp_ipt_pkts ln2 OUTPUT)"
    echo "b_in $(mp_ipt_pkts ln2 INPUT)"
    echo "nat_a_in $(mp_ipt_pkts nat INPUT)"
    echo "nat_b_in $(mp_ipt_pkts nt2 INPUT)"
    echo "nat_a_fwd_out $(mp_ipt_pkts nat FORWARD 1)"
    echo "nat_a_fwd_in $(mp_ipt_pkts nat FORWARD 2)"
    echo "nat_b_fwd_out $(mp_ipt_pkts nt2 FORWARD 1)"
    echo "nat_b_fwd_in $(mp_ipt_pkts nt2 FORWARD 2)"
    # Frames that reached the relay's veth (the dataplane reads them with
    # af_packet; what its ring had no room for never shows in its rx).
    echo "relay_veth_rx $(rl_exec relay cat "/sys/class/net/$RL_RELAY_VETH/statistics/rx_packets")"
  } >"$d/ipt"
  dctl stats >"$d/dstats.json" 2>/dev/null
  cctl sip-stats >"$d/csip.json" 2>/dev/null
  for p in dp:"$DP_PID" ctl:"$CTL_PID" uac:"$(mp_sipp_of "${UAC_PID:-0}")" uas:"$(mp_sipp_of "${UAS_PID:-0}")"; do
    [[ -n ${p#*:} ]] && cat "/proc/${p#*:}/stat" >"$d/${p%%:*}.stat" 2>/dev/null
  done
  cat /proc/"$DP_PID"/task/*/stat >"$d/dp_threads" 2>/dev/null
  grep '^cpu' /proc/stat >"$d/procstat"
  # Every process's CPU: who else used the cores (interference).
  cat /proc/[0-9]*/stat >"$d/allstat" 2>/dev/null
  cat /proc/net/softnet_stat >"$d/softnet"
  rl_exec lan cat /proc/net/snmp >"$d/snmp_a" 2>/dev/null
  rl_exec ln2 cat /proc/net/snmp >"$d/snmp_b" 2>/dev/null
}

# --- the run ----------------------------------------------------------------
HOLD_MS=$(( HOLD_S * 1000 ))
# The callee stops its stream half a second before the caller does, so it
# waits in <recv BYE> (not in a pause) when the BYE comes.
UAS_HOLD_MS=$(( HOLD_MS - 500 ))
RUN_LIMIT_S=$(( RAMP_S + HOLD_S + 120 ))
SIPP_COMMON=(-t u1 -nostdin -max_retrans 5 -key domain "$ST_DOMAIN"
  -trace_err -trace_stat -fd 5 -trace_screen -trace_counts)
cd "$RL_TMP" || broke "cd $RL_TMP"

rl_spawn ln2 "$ST_SIPP_DIR/uas.out" "${PINCMD[@]}" timeout -k 5 "$RUN_LIMIT_S" \
  sipp -sf "$SCN/load_uas.xml" -i "$B_IP" -p 5060 -m "$CALLS" -d "$UAS_HOLD_MS" \
  "${SIPP_COMMON[@]}" -stf "$ST_SIPP_DIR/uas_stat.csv" -screen_file "$ST_SIPP_DIR/uas_screen.log" \
  -error_file "$ST_SIPP_DIR/uas_err.log" -key user bob
UAS_PID=$RL_LAST_PID
st_sipp_ready ln2 5060 || broke "the UAS did not bind"

snap start
T0=$(date +%s)
log "placing $CALLS calls at $RATE/s, each holding ${HOLD_S}s with RTP both ways (ramp ${RAMP_S}s)"
rl_spawn lan "$ST_SIPP_DIR/uac.out" "${PINCMD[@]}" timeout -k 5 "$RUN_LIMIT_S" \
  sipp -sf "$SCN/load_uac.xml" -i "$A_IP" -p 5060 -m "$CALLS" -l "$CALLS" -r "$RATE" -rp 1000 \
  -d "$HOLD_MS" "${SIPP_COMMON[@]}" -stf "$ST_SIPP_DIR/uac_stat.csv" \
  -screen_file "$ST_SIPP_DIR/uac_screen.log" -error_file "$ST_SIPP_DIR/uac_err.log" \
  -key user alice -key callee bob -au alice -ap "$A_PW" -auth_uri "bob@$ST_DOMAIN" "$RELAY"
UAC_PID=$RL_LAST_PID

# The steady phase: every call up (ramp + 3 s) until the first call's hold
# ends (- 2 s). Too short (a quick run with a slow ramp): no steady phase.
STEADY_FROM=$(( RAMP_S + 3 )); STEADY_TO=$(( HOLD_S - 2 ))
(( STEADY_TO - STEADY_FROM >= 3 )) || { STEADY_FROM=-1; STEADY_TO=-1; }
MID=$(( STEADY_FROM >= 0 ? (STEADY_FROM + STEADY_TO) / 2 : -1 ))
alive_check() {
  kill -0 "$DP_PID" 2>/dev/null || broke "rtplatch-dataplane died"
  kill -0 "$CTL_PID" 2>/dev/null || broke "rtplatch-control died"
}
last_report=0
while :; do
  el=$(( $(date +%s) - T0 ))
  if (( el == STEADY_FROM )) && [[ ! -d $SNAP/steady_from ]]; then
    snap steady_from
    # Other work (another test's dataplane) on these cores skews every figure.
    others=$(pgrep -c -x rtplatch-datapl 2>/dev/null || true)
    (( ${others:-0} > 1 )) && log "warning: $((others - 1)) other rtplatch-dataplane process(es) are running"
  fi
  if (( el == MID )) && [[ ! -f $SNAP/streams.json ]]; then
    dctl streams --limit $(( CALLS * 4 + 100 )) >"$SNAP/streams.json" 2>/dev/null
    cctl calls --limit $(( CALLS * 2 + 100 )) >"$SNAP/calls.json" 2>/dev/null
  fi
  if (( el == STEADY_TO )) && [[ ! -d $SNAP/steady_to ]]; then snap steady_to; fi
  kill -0 "$UAC_PID" 2>/dev/null || break
  alive_check
  if (( el - last_report >= 10 )); then
    last_report=$el
    log "t=${el}s: $(tail -n 1 "$ST_SIPP_DIR/uac_stat.csv" 2>/dev/null \
      | awk -F';' '{ print "calls created " $13 ", current " $14 ", ok " $16 ", failed " $18 }');" \
      "not (yet) arrived a->b $(( $(mp_ipt_pkts lan OUTPUT) - $(mp_ipt_pkts ln2 INPUT) ))," \
      "b->a $(( $(mp_ipt_pkts ln2 OUTPUT) - $(mp_ipt_pkts lan INPUT) ))"
  fi
  sleep 0.2
done
st_sipp_wait "$UAC_PID" 30; UAC_RC=$?
UAC_PID=""
st_sipp_wait "$UAS_PID" 30; UAS_RC=$?
UAS_PID=""
T_END=$(( $(date +%s) - T0 ))
sleep 0.5   # the last packets
snap end
alive_check
log "UAC exited $UAC_RC, UAS exited $UAS_RC after ${T_END}s"
(( UAC_RC == 124 || UAC_RC == 137 )) && broke "the UAC did not finish in ${RUN_LIMIT_S}s"
[[ -s $ST_SIPP_DIR/uac_stat.csv ]] || broke "no sipp statistics (see $ST_SIPP_DIR/uac.out)"

python3 - "$SNAP" "$ST_SIPP_DIR" "$CALLS" "$HOLD_S" "$RATE" "$UAC_RC" "$UAS_RC" <<'PY'
import json, os, sys

snap, sippdir, calls, hold, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
uac_rc, uas_rc = int(sys.argv[6]), int(sys.argv[7])
HZ = os.sysconf("SC_CLK_TCK")


def err(*a):
    print("[load]", *a, file=sys.stderr)


def rd(name, f):
    p = os.path.join(snap, name, f)
    return open(p).read() if os.path.exists(p) else None


def have(name):
    return os.path.isdir(os.path.join(snap, name))


def ipt(name):
    out = {}
    for line in (rd(name, "ipt") or "").splitlines():
        k, _, v = line.partition(" ")
        out[k] = int(v) if v.strip().isdigit() else None
    return out


def jload(name, f):
    t = rd(name, f)
    try:
        return json.loads(t) if t else None
    except ValueError:
        return None


def t(name):
    return float(rd(name, "time"))


def cpu_ticks(name, who):
    s = rd(name, who + ".stat")
    if not s:
        return None
    f = s.rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)


def cpu_pct(a, b, who):
    x, y = cpu_ticks(a, who), cpu_ticks(b, who)
    if x is None or y is None:
        return None
    return 100.0 * (y - x) / HZ / (t(b) - t(a))


def lcores(name):
    d = jload(name, "dstats.json") or {}
    return d.get("lcores", [])


def dsum(name, key):
    return sum(l.get(key, 0) for l in lcores(name))


def drops(name):
    out = {}
    for l in lcores(name):
        for k, v in l.get("drops", {}).items():
            out[k] = out.get(k, 0) + v
    return out


def busy_pct(a, b):
    db = dsum(b, "busy_cycles") - dsum(a, "busy_cycles")
    di = dsum(b, "idle_cycles") - dsum(a, "idle_cycles")
    return 100.0 * db / (db + di) if db + di > 0 else None


def worker_times(name):
    # (utime, stime) of the forwarding lcore's thread(s) (rte-worker-N)
    u = st = 0
    found = False
    for line in (rd(name, "dp_threads") or "").splitlines():
        try:
            _, rest = line.split(" (", 1)
            comm, f = rest.rsplit(") ", 1)
        except ValueError:
            continue
        if comm.startswith("rte-worker"):
            f = f.split()
            u += int(f[11]); st += int(f[12]); found = True
    return (u, st) if found else None


def worker_kernel_pct(a, b):
    # The share of the forwarding core spent in the kernel: af_packet's tx
    # system calls, which carry each frame on through the testbed's veths,
    # bridge and NAT to the phone's socket in the caller's context.
    x, y = worker_times(a), worker_times(b)
    if x is None or y is None:
        return None
    return 100.0 * (y[1] - x[1]) / HZ / (t(b) - t(a))


def core_use(a, b):
    def parse(name):
        out = {}
        for line in (rd(name, "procstat") or "").splitlines():
            f = line.split()
            if f[0] != "cpu":
                v = [int(x) for x in f[1:]]
                out[f[0]] = (sum(v), v[3] + v[4])  # total, idle + iowait
        return out
    x, y = parse(a), parse(b)
    return {c: 100.0 * (1 - (y[c][1] - x[c][1]) / max(1, y[c][0] - x[c][0])) for c in x if c in y}


def softnet_drops(name):
    return sum(int(l.split()[1], 16) for l in (rd(name, "softnet") or "").splitlines() if l.strip())


def udp_snmp(name, side):
    text = rd(name, "snmp_" + side) or ""
    rows = [l.split() for l in text.splitlines() if l.startswith("Udp:")]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))


def delta(a, b, key):
    x, y = ipt(a).get(key), ipt(b).get(key)
    return None if x is None or y is None else y - x


def fmt(v, spec="%.1f"):
    return "na" if v is None else spec % v


# --- calls: sipp's stats file (the last line: cumulative counters) ---------
def sipp_rows(path):
    if not os.path.exists(path):
        return []
    lines = [l for l in open(path).read().splitlines() if l.strip()]
    head = lines[0].rstrip(";").split(";") if lines else []
    return [dict(zip(head, l.rstrip(";").split(";"))) for l in lines[1:]]


def sipp_stats(path):
    rows = sipp_rows(path)
    return rows[-1] if rows else {}


def sipp_ms(v):
    # HH:MM:SS:usec
    try:
        h, m, sec, us = (int(x) for x in v.split(":"))
        return (h * 3600 + m * 60 + sec) * 1000.0 + us / 1000.0
    except (AttributeError, ValueError):
        return None


uac = sipp_stats(os.path.join(sippdir, "uac_stat.csv"))
uas = sipp_stats(os.path.join(sippdir, "uas_stat.csv"))
ok = int(uac.get("SuccessfulCall(C)", 0))
failed = int(uac.get("FailedCall(C)", 0))
created = int(uac.get("TotalCallCreated", 0))
uas_ok = int(uas.get("SuccessfulCall(C)", 0))
success_pct = 100.0 * ok / calls

# --- media over the whole run ----------------------------------------------
sent_ab, recv_ab = delta("start", "end", "a_out"), delta("start", "end", "b_in")
sent_ba, recv_ba = delta("start", "end", "b_out"), delta("start", "end", "a_in")
lost_ab = sent_ab - recv_ab
lost_ba = sent_ba - recv_ba
pct = lambda l, s: 100.0 * l / s if s else 0.0

# --- CPU over the call run (start: before the first INVITE; end: after the
# last BYE and both sipps exited) -------------------------------------------
dp_cpu = cpu_pct("start", "end", "dp")
ctl_cpu = cpu_pct("start", "end", "ctl")
busy = busy_pct("start", "end")

# The concurrency reached: the control plane's call table at mid-run.
concurrent = None
calls_snap = None
p = os.path.join(snap, "calls.json")
if os.path.exists(p):
    try:
        calls_snap = json.load(open(p))
    except ValueError:
        calls_snap = None
if isinstance(calls_snap, dict):
    lst = calls_snap.get("calls")
    concurrent = len(lst) if isinstance(lst, list) else calls_snap.get("count")
if concurrent is None:
    # No mid-run snapshot (no steady phase): the most sipp had up at once.
    concurrent = max([int(r.get("CurrentCall", 0) or 0) for r in sipp_rows(
        os.path.join(sippdir, "uac_stat.csv"))] or [0])

print("load calls=%d concurrent=%s seconds=%d success_pct=%.2f rtp_pps_each_way=50 "
      "sent_a_to_b=%d lost_a_to_b=%d loss_a_to_b_pct=%.4f sent_b_to_a=%d lost_b_to_a=%d "
      "loss_b_to_a_pct=%.4f dataplane_cpu_pct=%s dataplane_worker_busy_pct=%s control_cpu_pct=%s"
      % (calls, concurrent, hold, success_pct, sent_ab, lost_ab, pct(lost_ab, sent_ab),
         sent_ba, lost_ba, pct(lost_ba, sent_ba), fmt(dp_cpu), fmt(busy), fmt(ctl_cpu)))

# --- details ---------------------------------------------------------------
c0 = (jload("start", "csip.json") or {}).get("proxy", {})
c1 = (jload("end", "csip.json") or {}).get("proxy", {})
cp = {k: c1.get(k, 0) - c0.get(k, 0) for k in ("calls_connected", "calls_ended_bye",
                                                "calls_failed", "calls_ended_idle",
                                                "rejected_dataplane")}
rx = dsum("end", "rx") - dsum("start", "rx")
exc = dsum("end", "exception_in") - dsum("start", "exception_in")
relayed = dsum("end", "relayed") - dsum("start", "relayed")
d0, d1 = drops("start"), drops("end")
ddrops = {k: d1.get(k, 0) - d0.get(k, 0) for k in d1 if d1.get(k, 0) - d0.get(k, 0)}
streams = None
p = os.path.join(snap, "streams.json")
if os.path.exists(p):
    try:
        streams = json.load(open(p)).get("streams")
    except (ValueError, AttributeError):
        streams = None
ua, ub = udp_snmp("start", "a"), udp_snmp("end", "a")
va, vb = udp_snmp("start", "b"), udp_snmp("end", "b")
rcvbuf_a = ub.get("RcvbufErrors", 0) - ua.get("RcvbufErrors", 0)
rcvbuf_b = vb.get("RcvbufErrors", 0) - va.get("RcvbufErrors", 0)
nat_a = delta("start", "end", "nat_a_in")
nat_b = delta("start", "end", "nat_b_in")
backlog = softnet_drops("end") - softnet_drops("start")
cores = core_use("start", "end")
detail = ["load_detail",
          "uac_created=%d" % created, "uac_ok=%d" % ok, "uac_failed=%d" % failed,
          "uas_ok=%d" % uas_ok, "uac_rc=%d" % uac_rc, "uas_rc=%d" % uas_rc,
          "sip_retransmissions=%d" % (int(uac.get("Retransmissions(C)", 0) or 0)
                                      + int(uas.get("Retransmissions(C)", 0) or 0)),
          "invite_to_200_ms_avg=%s" % fmt(sipp_ms(uac.get("ResponseTime1(C)"))),
          # sipp's own overload signal (its main loop late by > 1 s / > 20 ms)
          "sipp_watchdog_major=%d" % sum(int(x.get("WatchdogMajor(C)", 0) or 0) for x in (uac, uas)),
          "sipp_watchdog_minor=%d" % sum(int(x.get("WatchdogMinor(C)", 0) or 0) for x in (uac, uas)),
          # the control plane's view of the same calls
          "control_calls_connected=%d" % cp["calls_connected"],
          "control_calls_ended_bye=%d" % cp["calls_ended_bye"],
          "control_calls_failed=%d" % cp["calls_failed"],
          "control_calls_ended_idle=%d" % cp["calls_ended_idle"],
          "control_rejected_dataplane=%d" % cp["rejected_dataplane"],
          "recv_a_to_b=%d" % recv_ab, "recv_b_to_a=%d" % recv_ba,
          "relay_media_rx=%d" % (rx - exc), "relay_relayed=%d" % relayed,
          "relay_drops=%s" % (",".join("%s:%d" % kv for kv in sorted(ddrops.items())) or "none"),
          "nat_a_unmapped=%s" % nat_a, "nat_b_unmapped=%s" % nat_b,
          "phone_a_rcvbuf_errors=%d" % rcvbuf_a, "phone_b_rcvbuf_errors=%d" % rcvbuf_b,
          "kernel_backlog_drops=%d" % backlog,
          # hop by hop (whole run): the NATs' FORWARD counters, the media
          # frames that reached the relay's veth
          "nat_a_forwarded_out=%s" % delta("start", "end", "nat_a_fwd_out"),
          "nat_b_forwarded_out=%s" % delta("start", "end", "nat_b_fwd_out"),
          # frames on the relay's veth the dataplane never read (its
          # af_packet ring was full)
          "relay_ring_missed=%s" % (delta("start", "end", "relay_veth_rx") - rx),
          "nat_b_forwarded_in=%s" % delta("start", "end", "nat_b_fwd_in"),
          "nat_a_forwarded_in=%s" % delta("start", "end", "nat_a_fwd_in")]
# sipp's CPU: its process exists only while it runs: the steady phase only.
# Lost packets the relay counted as dropped, or that reached a NAT with no
# mapping; the rest were lost where nothing here counts (kernel queues).
detail.append("lost_unaccounted=%d" % (lost_ab + lost_ba - sum(ddrops.values())
                                       - (nat_a or 0) - (nat_b or 0)))
if streams is not None:
    latched = sum(1 for s in streams if s.get("learned_peer"))
    detail.append("midrun_streams=%d" % len(streams))
    detail.append("midrun_streams_latched=%d" % latched)
    # A stream's drops are packets that arrived on its leg: leg a's are a->b.
    for leg, d in (("a", "a_to_b"), ("b", "b_to_a")):
        detail.append("midrun_relay_drops_%s=%d" % (d, sum(s.get("drops", 0) for s in streams
                                                              if s.get("leg") == leg)))
if have("steady_from") and have("steady_to"):
    a, b = "steady_from", "steady_to"
    dur = t(b) - t(a)
    s_ab, s_ba = delta(a, b, "a_out"), delta(a, b, "b_out")

    def mib(name):
        text = rd(name, "snmp_ab") or ""
        rows = [l.split() for l in text.splitlines() if l.startswith("Udp:")]
        if len(rows) < 4:
            return None
        out = []
        for h, v in ((rows[0], rows[1]), (rows[2], rows[3])):
            m = dict(zip(h[1:], (int(x) for x in v[1:])))
            out.append((m["OutDatagrams"], m["InDatagrams"] + m["InErrors"] + m["NoPorts"]))
        return out
    ma, mb = mib(a), mib(b)
    detail += ["steady_s=%.1f" % dur,
               "steady_pps_a_to_b=%.0f" % (s_ab / dur), "steady_pps_b_to_a=%.0f" % (s_ba / dur)]
    if ma and mb:
        # UDP datagrams sent by one phone minus those its peer's UDP layer
        # got, over the steady phase (SIP included: a few keepalives). Not
        # a loss figure by itself: packets in flight at the window's two
        # edges (a few ms at 25 000/s: tens of packets) move it either way.
        detail += ["steady_sent_minus_arrived_a_to_b=%d"
                   % ((mb[0][0] - ma[0][0]) - (mb[1][1] - ma[1][1])),
                   "steady_sent_minus_arrived_b_to_a=%d"
                   % ((mb[1][0] - ma[1][0]) - (mb[0][1] - ma[0][1]))]
    detail += [
               "steady_dataplane_cpu_pct=%s" % fmt(cpu_pct(a, b, "dp")),
               "steady_worker_busy_pct=%s" % fmt(busy_pct(a, b)),
               "steady_worker_kernel_pct=%s" % fmt(worker_kernel_pct(a, b)),
               "steady_control_cpu_pct=%s" % fmt(cpu_pct(a, b, "ctl")),
               "steady_uac_cpu_pct=%s" % fmt(cpu_pct(a, b, "uac")),
               "steady_uas_cpu_pct=%s" % fmt(cpu_pct(a, b, "uas"))]
    sc = core_use(a, b)
    # The busiest processes that are not this run's (pids in no snapshot file).
    def allstat(name):
        out = {}
        for line in (rd(name, "allstat") or "").splitlines():
            try:
                pid, rest = line.split(" (", 1)
                comm, f = rest.rsplit(") ", 1)
                f = f.split()
                out[int(pid)] = (comm, int(f[11]) + int(f[12]))
            except ValueError:
                continue
        return out
    ours = set()
    for n in (a, b):
        for w in ("dp", "ctl", "uac", "uas"):
            s_ = rd(n, w + ".stat")
            if s_:
                ours.add(int(s_.split(" ", 1)[0]))
    x, y = allstat(a), allstat(b)
    others = sorted(((y[p][1] - x[p][1], y[p][0]) for p in y if p in x and p not in ours),
                    reverse=True)[:3]
    detail.append("steady_other_procs=%s" % ",".join(
        "%s:%.1f" % (c.replace(" ", "_"), 100.0 * v / HZ / dur) for v, c in others if v > 0))
    detail += ["steady_%s_busy_pct=%.1f" % (c, v) for c, v in sorted(sc.items())]
detail += ["run_%s_busy_pct=%.1f" % (c, v) for c, v in sorted(cores.items())]
print(" ".join(detail))
PY
rc=$?
(( rc == 0 )) || broke "the summary failed"
# sipp: 0 every call succeeded, 1 some failed (a result, not a breakage);
# anything else is sipp itself failing.
(( UAC_RC <= 1 )) || broke "the UAC (sipp) exited $UAC_RC (see $ST_SIPP_DIR/uac.out)"
(( UAS_RC <= 1 )) || broke "the UAS (sipp) exited $UAS_RC (see $ST_SIPP_DIR/uas.out)"
exit 0
