#!/usr/bin/env bash
# One relay's half of `scripts/bench relay` (bench/relay.sh runs it once per
# relay): Kamailio 5.6 and sipp phones behind two Linux NATs, the media
# relay driven by Kamailio's rtpengine module over the ng protocol, and a
# ladder of concurrent call counts, each call carrying PCMA RTP at 50
# packets/s each way, until a step loses more than 0.1 % of its packets.
#
#   bench/relay_run.sh --relay rtplatch|rtpengine [--pmd af_packet|af_xdp]
#                      [--steps "N N ..."] [--seconds S] [--rate R] [--keep]
#
#   --relay      rtplatch: rtplatch-dataplane (one forwarding lcore on
#                core 1) on the relay veth, rtplatch-control as an ng
#                server only (core 0); rtpengine: Debian's rtpengine,
#                userspace (its kernel module cannot load here), every
#                thread on core 1, one worker thread, its sockets on the
#                same veth (the relay namespace's kernel owns it)
#   --pmd        rtplatch's driver on the veth (default af_packet, with a
#                4096-frame ring; af_xdp: an XDP socket on the veth's queue)
#   --steps      concurrent calls per step (default "250 500 1000 1250 1500
#                1750 2000 2500 3000 4000")
#   --seconds    how long each call holds (default 20; at least the ramp
#                plus 15 s, so that every step has a steady phase)
#   --rate       calls set up per second (default 200)
#   --keep       keep the run's directory
#
# Both relays get the same: the same Kamailio config and ng flags
# (tests/integration/kamailio/kamailio.cfg), relay ports 20000-59999, the
# phones (sipp, bench/sipp/load_*.xml: 407 + INVITE with credentials) and
# Kamailio pinned to core 0, the relay's forwarding on core 1 alone.
#
# Measured per step:
#   loss: packets one phone sent that the other never received, over the
#     steady phase (every call up), from the phones' UDP MIBs (both read by
#     one process at one moment); step_loss_pct, over the whole step from
#     iptables counters in the phones' namespaces (UDP other than SIP), also
#     counts each call's first packets, sent to the far phone's private
#     address before its NAT mapping is learned (about 1 per call with
#     either relay: what latching costs, not capacity)
#   CPU per relayed packet over the steady phase (every call up):
#     rtpengine: utime + stime of all its threads; rtplatch: the forwarding
#     lcore's thread, times its busy share (busy / (busy + idle) cycles
#     from `stats`: the rest is empty polling); divided by the packets
#     that reached the phones. The kernel part (stime) is reported apart:
#     for both relays it holds the transmit system calls, which carry each
#     packet on through the testbed's veths, bridge and NAT to the phone in
#     the relay's own context.
#   offered: packets/s the phones sent against calls x 100 (sipp on core 0
#     may fall short: generator_pct)
#
# Output (stdout), one line per step:
#   relay_step relay=R pmd=P calls=N ok=K loss_pct=L step_loss_pct=M offered_pps=O
#     generator_pct=G relayed_pps=X ns_per_packet=C kernel_ns_per_packet=K
#     relay_cpu_pct=U core0_busy_pct=B pass=0|1
# A step passes when every call succeeded, loss_pct <= 0.1 and the phones
# sent at least 95 % of what the calls should carry (below that the
# generator, not the relay, is the limit); the ladder stops at the first
# step that does not pass. Exit 0 the ladder ran (whatever
# it found), 1 broke, 2 usage, 77 cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SCN="$HERE/sipp"

RELAY_KIND=""
PMD=af_packet
STEPS="250 500 1000 1250 1500 1750 2000 2500 3000 4000"
HOLD_S=20
RATE=200
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
while (( $# )); do
  case $1 in
    --relay) RELAY_KIND=${2:?}; shift ;;
    --pmd) PMD=${2:?}; shift ;;
    --steps) STEPS=${2:?}; shift ;;
    --seconds) HOLD_S=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --keep) export RL_KEEP_LOGS=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "relay: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ $RELAY_KIND == rtplatch || $RELAY_KIND == rtpengine ]] \
  || { echo "relay: --relay must be rtplatch or rtpengine" >&2; exit 2; }
[[ $PMD == af_packet || $PMD == af_xdp ]] || { echo "relay: --pmd must be af_packet or af_xdp" >&2; exit 2; }
for n in $STEPS $HOLD_S $RATE; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "relay: '$n' is not a positive integer" >&2; exit 2; }
done

export ST_PORT_MIN=20000 ST_PORT_MAX=59999
export ST_RING_FRAMES=4096 ST_MEDIA_PMD=$PMD
export ST_SIPP_TIMEOUT_S=20
NG=127.0.0.1:2223

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/kamailio.sh
source "$ROOT/scripts/lib/kamailio.sh"
# shellcheck source=bench/media_phones.sh
source "$HERE/media_phones.sh"
if ! why=$(st_missing); then echo "SKIP relay: $why"; exit 77; fi
if ! why=$(km_missing); then echo "SKIP relay: $why"; exit 77; fi
command -v sox >/dev/null || { echo "SKIP relay: sox not found (the audio file)"; exit 77; }
command -v rtpengine >/dev/null || { echo "SKIP relay: rtpengine not installed"; exit 77; }

log() { printf '[relay %s %s] %s\n' "$RELAY_KIND" "$(date +%T)" "$*" >&2; }
broke() { log "ERROR: $*"; RL_FAILED=$((RL_FAILED + 1)); exit 1; }

st_init "rb$$"
RELAY="$ST_RELAY_IP:$ST_SIP_PORT"
A_IP=$MP_A_IP; B_IP=$MP_B_IP
A_PW=alice-relay-1; B_PW=bob-relay-2
km_add_user alice "$A_PW"
km_add_user bob "$B_PW"

RELAY_PID=""
if [[ $RELAY_KIND == rtplatch ]]; then
  # rtplatch-control as an ng server only, on its shipped defaults.
  ST_SIP_LISTEN_JSON='[]'
  ST_CONTROL_EXTRA="\"ng_listen\": [\"$NG\"]"
  st_start_relay || broke "rtplatch did not start"
  taskset -a -p -c 0 "$CTL_PID" >/dev/null || broke "could not pin rtplatch-control"
  RELAY_PID=$DP_PID
  log "dataplane port 0: $(tr '\0' '\n' <"/proc/$DP_PID/cmdline" | grep -E '^net_af_(packet|xdp)0')"
else
  rl_build_inet
  rl_add_relay
  rl_relay_kernel_veth
  rl_spawn relay "$RL_TMP/rtpengine.log" taskset -c 1 rtpengine --foreground --log-stderr \
    --table=-1 --interface="$ST_RELAY_IP" --listen-ng="$NG" \
    --port-min="$ST_PORT_MIN" --port-max="$ST_PORT_MAX" --num-threads=1
  RELAY_PID=$RL_LAST_PID
  rl_wait_for 10 bash -c "ip netns exec $(rl_ns relay) ss -lnu | grep -qF ' $NG '" \
    || broke "rtpengine does not listen on $NG (see $RL_TMP/rtpengine.log)"
fi
KM_CPUS=0 km_start relay "$RELAY" "udp:$NG" || broke "kamailio did not start"
mp_add_phones || broke "the phones' testbed failed"

st_register ln2 reg_bob "$B_IP:5060" "$RELAY" bob "$B_PW" -key expires 3600 \
  || broke "bob did not register with Kamailio"

# --- snapshots ----------------------------------------------------------------
sipp_running() { [[ -n $(mp_sipp_of "$1") ]]; }
# snap DIR: the phones' counters, the relay's threads, the cores.
snap() {
  local d="$1" pa pb
  mkdir -p "$d"
  date +%s.%N >"$d/time"
  # Both phones' UDP MIBs read by one process, microseconds apart: the
  # steady phase's loss needs both ends of a direction at one moment.
  pa=$(mp_sipp_of "${uac:-0}"); pb=$(mp_sipp_of "${uas:-0}")
  [[ -n $pa && -n $pb ]] && cat "/proc/$pa/net/snmp" "/proc/$pb/net/snmp" >"$d/snmp_ab" 2>/dev/null
  printf 'a_out %s\na_in %s\nb_out %s\nb_in %s\n' "$(mp_ipt_pkts lan OUTPUT)" "$(mp_ipt_pkts lan INPUT)" \
    "$(mp_ipt_pkts ln2 OUTPUT)" "$(mp_ipt_pkts ln2 INPUT)" >"$d/ipt"
  cat /proc/"$RELAY_PID"/task/*/stat >"$d/threads" 2>/dev/null
  grep '^cpu' /proc/stat >"$d/procstat"
  [[ $RELAY_KIND == rtplatch ]] && dctl stats >"$d/dstats.json" 2>/dev/null
  return 0
}

# --- the ladder -----------------------------------------------------------------
SIPP_COMMON=(-t u1 -nostdin -max_retrans 5 -key domain "$ST_DOMAIN" -trace_err -trace_stat -fd 5)
cd "$RL_TMP" || broke "cd $RL_TMP"
for calls in $STEPS; do
  ramp=$(( (calls + RATE - 1) / RATE ))
  hold=$(( HOLD_S > ramp + 15 ? HOLD_S : ramp + 15 ))
  limit=$(( ramp + hold + 60 ))
  dir="$RL_TMP/step$calls"; mkdir -p "$dir"
  log "step: $calls calls at $RATE/s, each holding ${hold}s"
  rl_spawn ln2 "$dir/uas.out" taskset -c 0 timeout -k 5 "$limit" \
    sipp -sf "$SCN/load_uas.xml" -i "$B_IP" -p 5060 -m "$calls" -d $(( hold * 1000 - 500 )) \
    "${SIPP_COMMON[@]}" -stf "$dir/uas_stat.csv" -error_file "$dir/uas_err.log" -key user bob
  uas=$RL_LAST_PID
  st_sipp_ready ln2 5060 || broke "the UAS did not bind"
  snap "$dir/start"
  t0=$(date +%s)
  rl_spawn lan "$dir/uac.out" taskset -c 0 timeout -k 5 "$limit" \
    sipp -sf "$SCN/load_uac.xml" -i "$A_IP" -p 5060 -m "$calls" -l "$calls" -r "$RATE" -rp 1000 \
    -d $(( hold * 1000 )) "${SIPP_COMMON[@]}" -stf "$dir/uac_stat.csv" -error_file "$dir/uac_err.log" \
    -key user alice -key callee bob -au alice -ap "$A_PW" -auth_uri "bob@$ST_DOMAIN" "$RELAY"
  uac=$RL_LAST_PID
  rl_wait_for 5 sipp_running "$uac" || broke "the UAC did not start"
  # The steady phase: every call up (ramp + 3 s) until the first ends (- 2 s).
  sleep $(( ramp + 3 )); snap "$dir/steady_from"
  sleep $(( hold - ramp - 5 )); snap "$dir/steady_to"
  st_sipp_wait "$uac" "$limit"; uac_rc=$?
  st_sipp_wait "$uas" 30; uas_rc=$?
  uac=""; uas=""
  sleep 1   # the last packets
  snap "$dir/end"
  kill -0 "$RELAY_PID" 2>/dev/null || broke "the relay died (step $calls)"
  kill -0 "$KM_PID" 2>/dev/null || broke "kamailio died (step $calls)"
  # sipp 1: some calls failed; 124: calls still hung at the time limit
  # (an overloaded relay leaves them unanswered); the UAS then waits for
  # calls that never come until its own limit. Results, not breakage: the
  # step fails. Anything else broke.
  (( uac_rc <= 1 || uac_rc == 124 )) || broke "the UAC (sipp) exited $uac_rc (see $dir/uac.out)"
  (( uas_rc <= 1 || uas_rc == 124 )) || broke "the UAS (sipp) exited $uas_rc"
  (( uac_rc == 124 )) && log "the UAC still had calls up at its time limit (${limit}s)"
  if (( uac_rc != 0 )); then
    log "failed calls, as sipp saw them: $(grep -v '^\s*$' "$dir/uac_err.log" 2>/dev/null | cut -c1-160 | sort | uniq -c | sort -rn | head -n 3 | tr '\n' ';')"
  fi
  line=$(python3 "$HERE/relay_step.py" "$dir" "$RELAY_KIND" "$PMD" "$calls") \
    || broke "the step's summary failed"
  echo "$line"
  [[ $line == *" pass=1"* ]] || break
  # The previous step's calls leave the relay after the 30 s delete delay;
  # their ports are in the range's other half meanwhile.
  sleep 2
done
exit 0
