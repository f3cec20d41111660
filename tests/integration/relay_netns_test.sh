#!/usr/bin/env bash
# Network-namespace integration test of the rtplatch dataplane.
#
#   relay_netns_test.sh [--dataplane | --testpmd | --all]
#
#   --dataplane  (default) the real test against build/dataplane/rtplatch-dataplane:
#                exception path (ping), allocate a pair over the control
#                socket, media from a phone behind a Linux NAT and from a
#                public peer, latching to the NAT's mapped address, and an
#                RTP Bleed attacker that must get nothing.
#   --testpmd    the same topology with dpdk-testpmd in io mode standing in
#                for the dataplane (tap <-> veth): proves the test hosts.
#   --all        both, one after the other.
#
# Topology (scripts/lib/netns.sh, every name prefixed rl<pid>):
#
#   [lan] phone 192.0.2.2 --- 192.0.2.1 [nat] 203.0.113.30 --+
#   [peer] public peer 203.0.113.20, 2001:db8::20 -----------+-- bridge [inet]
#   [att]  attacker    203.0.113.66, 2001:db8::66 -----------+
#   [relay] veth (no IP, DPDK net_af_packet0) ---------------+
#           tap (DPDK net_tap0) 203.0.113.10/24, 2001:db8::10/64
#
# Output: "PASS name" / "FAIL name" per check, then
# "relay_netns: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or the binary under test is missing).
#
# Environment:
#   RTPLATCH_DATAPLANE   dataplane binary (default build/dataplane/rtplatch-dataplane)
#   RTPLATCH_TESTPMD     testpmd binary (default dpdk-testpmd)
#   RTPLATCH_LCORES      EAL -l list (default 0-1)
#   RL_NAT_VARIANT       plain | random-fully | sip-alg (default plain)
#   RL_NAT_UDP_TIMEOUT   NAT conntrack UDP timeout in s, 0 = kernel default
#   RL_KEEP_LOGS=1       keep the per-run log directory
#   RL_PREFIX            per-run name prefix (default rl<pid>)

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
UDP_PEER="$HERE/udp_peer.py"
DATAPLANE="${RTPLATCH_DATAPLANE:-$ROOT/build/dataplane/rtplatch-dataplane}"
TESTPMD="${RTPLATCH_TESTPMD:-dpdk-testpmd}"
LCORES="${RTPLATCH_LCORES:-0-1}"
NAT_VARIANT="${RL_NAT_VARIANT:-plain}"
NAT_UDP_TIMEOUT="${RL_NAT_UDP_TIMEOUT:-0}"
SUITE=relay_netns

# Addresses (documentation prefixes only).
RELAY_IP=203.0.113.10
RELAY_IP6=2001:db8::10
PEER_IP=203.0.113.20
PEER_IP6=2001:db8::20
NAT_OUT_IP=203.0.113.30
ATTACKER_IP=203.0.113.66
ATTACKER_IP6=2001:db8::66
PHONE_IP=192.0.2.2
NAT_IN_IP=192.0.2.1
PHONE_PORT=4000
PEER_PORT=5000

# Media: 50 pps (20 ms packets) for 3 s in each direction.
RATE=50
COUNT=150
MIN_RATIO_PCT=90

MODE=dataplane
case "${1:-}" in
  ""|--dataplane) MODE=dataplane ;;
  --testpmd) MODE=testpmd ;;
  --all) MODE=all ;;
  -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--dataplane|--testpmd|--all]" >&2; exit 2 ;;
esac


# shellcheck source=scripts/lib/verdicts.sh
source "$ROOT/scripts/lib/verdicts.sh"
[[ $(id -u) -eq 0 ]] || rl_skip "needs root (network namespaces, veth, iptables)"
for tool in ip iptables ip6tables ethtool ping python3; do
  command -v "$tool" >/dev/null || rl_skip "'$tool' not found"
done
if [[ $MODE == dataplane || $MODE == all ]] && [[ ! -x $DATAPLANE ]]; then
  rl_skip "dataplane binary $DATAPLANE not built (try --testpmd for the topology check)"
fi
if [[ $MODE == testpmd || $MODE == all ]] && ! command -v "$TESTPMD" >/dev/null; then
  rl_skip "$TESTPMD not found (Debian package dpdk-dev)"
fi

# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib/netns.sh
source "$ROOT/scripts/lib/netns.sh"
# shellcheck source=scripts/lib/dataplane_ctl.sh
source "$ROOT/scripts/lib/dataplane_ctl.sh"
# shellcheck source=scripts/lib/dataplane.sh
source "$ROOT/scripts/lib/dataplane.sh"
rl_init ""  # prefix from RL_PREFIX or rl<pid>

DPDK_PID=""
DP_SOCK=""
DP_LOG=""

# ---------------------------------------------------------------------------
# The command lines of the process under test. Edit here.

# common_eal NAME: EAL arguments shared by testpmd and the dataplane; the
# vdev order makes the media port (af_packet on the relay veth) port 0 and
# the exception port (tap holding the relay IPs) port 1.
common_eal() {
  dp_testbed_eal "$1" "$LCORES"
  EAL=("${DP_EAL[@]}")
}

# dataplane_cmd CONFIG: fills DP_CMD with the dataplane's command line.
dataplane_cmd() {
  common_eal dp
  DP_CMD=("$DATAPLANE" "${EAL[@]}" -- --config "$1")
}

# testpmd_cmd: fills DP_CMD with the io-forwarding stand-in. Without -i and
# with --stats-period, testpmd forwards until SIGTERM instead of waiting on
# stdin (which is /dev/null here).
testpmd_cmd() {
  common_eal tp
  DP_CMD=("$TESTPMD" "${EAL[@]}" -- --forward-mode=io --nb-cores=1
          --rxq=1 --txq=1 --total-num-mbufs=8192 --stats-period=3600)
}

# start_dpdk NAME: runs DP_CMD in the relay namespace and waits for the tap,
# then puts the relay addresses on it.
start_dpdk() {
  local name="$1"
  DP_LOG="$RL_TMP/$name.log"
  rl_log "starting $name: ${DP_CMD[*]}"
  rl_spawn relay "$DP_LOG" "${DP_CMD[@]}"
  DPDK_PID=$RL_LAST_PID
  if ! rl_relay_wait_tap 60 "$DPDK_PID"; then
    rl_fail "${name}_started" "no tap $RL_RELAY_TAP; log tail below"
    tail -n 40 "$DP_LOG" | sed 's/^/    | /'
    return 1
  fi
  rl_pass "${name}_started" "pid $DPDK_PID, tap $RL_RELAY_TAP up with $RELAY_IP, $RELAY_IP6"
}

stop_dpdk() {
  local ns
  [[ -n $DPDK_PID ]] || return 0
  stop_pid "$DPDK_PID"
  DPDK_PID=""
  # The next DPDK run creates a new tap with a new MAC: forget the old one.
  rl_wait_for 10 bash -c "! ip -n $(rl_ns relay) link show $RL_RELAY_TAP" \
    || rl_log "warning: $RL_RELAY_TAP still present after the DPDK app exited"
  for ns in "${RL_NAMESPACES[@]}"; do
    ip -n "$ns" neigh flush all >/dev/null 2>&1 || true
  done
}

# stop_pid PID: stop a long-running process we started and forget it.
stop_pid() {
  rl_kill "$1" 10
  rl_wait "$1" 1 >/dev/null 2>&1 || true
}

rl_on_cleanup dump_dataplane_log_on_failure

# ---------------------------------------------------------------------------
# Helpers.


# ping_ok ROLE ADDR: at least one echo reply (5 tries).
ping_ok() {
  rl_exec "$1" ping -c 5 -i 0.2 -W 2 -q "$2" >/dev/null 2>&1
}

# udp ROLE NAME ARGS...: start udp_peer.py in ROLE; output in $RL_TMP/NAME.json.
# Returns once its socket is bound. Sets UDP_PID. Pass --go "$(go NAME)" to
# hold its clock until "start NAME" (python start-up is slow on a busy box).
udp() {
  local role="$1" name="$2"; shift 2
  rl_spawn "$role" "$RL_TMP/$name.log" python3 "$UDP_PEER" "$@" \
    --out "$RL_TMP/$name.json" --ready "$RL_TMP/$name.ready"
  UDP_PID=$RL_LAST_PID
  if ! rl_wait_for 10 test -s "$RL_TMP/$name.ready"; then
    rl_log "udp_peer $name did not bind; log:"; cat "$RL_TMP/$name.log" >&2
  fi
}

go() { printf '%s' "$RL_TMP/$1.go"; }
start() { : >"$RL_TMP/$1.go"; }

# at_least N PCT OF: N >= PCT% of OF (integers).
at_least() { (( $1 * 100 >= $2 * $3 )); }

# rx_from FILE SOURCE TAG: packets in FILE's summary from SOURCE carrying TAG.
rx_from() {
  jfile "$1" "d['by_source_tag'].get('$2', {}).get('$3', 0)" 2>/dev/null || echo 0
}

build_topology() {
  rl_build_inet
  rl_add_relay
  rl_add_host peer pr "$PEER_IP/24" "$PEER_IP6/64"
  rl_add_host att at "$ATTACKER_IP/24" "$ATTACKER_IP6/64"
  rl_add_nat_lan nat lan "$NAT_OUT_IP/24" "$NAT_IN_IP/24" "$PHONE_IP/24" \
    "$NAT_VARIANT" "$NAT_UDP_TIMEOUT"
  rl_log "topology up: prefix $RL_P, NAT variant $NAT_VARIANT, logs in $RL_TMP"
}

# Exception-path checks common to both modes: ARP/ND + ICMP via the tap.
check_exception_path() {
  local who="$1"
  rl_check "${who}_ping_v4_peer_to_relay" "$PEER_IP -> $RELAY_IP" \
    ping_ok peer "$RELAY_IP"
  rl_check "${who}_ping_v6_peer_to_relay" "$PEER_IP6 -> $RELAY_IP6" \
    ping_ok peer "$RELAY_IP6"
  rl_check "${who}_ping_v4_natted_phone_to_relay" \
    "$PHONE_IP -> NAT $NAT_OUT_IP -> $RELAY_IP" ping_ok lan "$RELAY_IP"
}

# ---------------------------------------------------------------------------
# testpmd stand-in: proves the topology (veth + af_packet + tap + NAT).

run_testpmd() {
  local rx sent
  testpmd_cmd
  start_dpdk testpmd || return 0
  check_exception_path testpmd

  # UDP both ways between the public peer and a kernel socket on the relay
  # tap (what SIP will do), and from the NAT'd phone (source must be the
  # NAT's outside address).
  udp relay tp_relay both --bind "$RELAY_IP:5060" --dest "$PEER_IP:$PEER_PORT" \
    --count 50 --rate 50 --ssrc 0x7e1a0001 --tag relay --duration 2.5 --go "$(go tp)"
  local relay_pid=$UDP_PID
  udp peer tp_peer both --bind "$PEER_IP:$PEER_PORT" --dest "$RELAY_IP:5060" \
    --count 50 --rate 50 --ssrc 0x7e1a0002 --tag peer --duration 2.5 --go "$(go tp)"
  local peer_pid=$UDP_PID
  udp lan tp_phone send --bind "$PHONE_IP:$PHONE_PORT" --dest "$RELAY_IP:5060" \
    --count 50 --rate 50 --ssrc 0x7e1a0003 --tag phone --go "$(go tp)"
  local phone_pid=$UDP_PID
  start tp
  rl_wait "$phone_pid" 20; rl_wait "$peer_pid" 20; rl_wait "$relay_pid" 20

  rx=$(rx_from "$RL_TMP/tp_relay.json" "$PEER_IP:$PEER_PORT" peer)
  sent=$(jfile "$RL_TMP/tp_peer.json" "d['sent']" || echo 0)
  rl_check testpmd_udp_peer_to_relay_kernel "$rx of $sent" \
    at_least "$rx" "$MIN_RATIO_PCT" 50
  rx=$(rx_from "$RL_TMP/tp_peer.json" "$RELAY_IP:5060" relay)
  rl_check testpmd_udp_relay_kernel_to_peer "$rx of 50" \
    at_least "$rx" "$MIN_RATIO_PCT" 50
  local natted
  natted=$(jfile "$RL_TMP/tp_relay.json" \
    "sum(n.get('phone', 0) for s, n in d['by_source_tag'].items() if s.startswith('$NAT_OUT_IP:'))" \
    || echo 0)
  rl_check testpmd_udp_natted_phone_seen_as_nat_address \
    "$natted of 50 from $NAT_OUT_IP:*; sources $(jfile "$RL_TMP/tp_relay.json" "list(d['sources'])")" \
    at_least "$natted" "$MIN_RATIO_PCT" 50
  stop_dpdk
}

# ---------------------------------------------------------------------------
# The real dataplane.

write_dataplane_config() {
  DP_SOCK="$RL_TMP/dataplane.sock"
  DP_CONFIG="$RL_TMP/dataplane.json"
  dp_write_config "$DP_CONFIG" "$DP_SOCK" 20000 20999 "$RELAY_IP" "$RELAY_IP6" -- \
    learning_window_packets=10 learning_window_ms=1000 relatch_silence_ms=2000 idle_timeout_s=60
}

# drops_total STATS_JSON: sum of every drop reason.
drops_total() { jget "$1" "sum(d['result']['total']['drops'].values())"; }

run_dataplane() {
  local reply ok
  write_dataplane_config
  dataplane_cmd "$DP_CONFIG"
  start_dpdk dataplane || return 0
  if ! rl_wait_for 20 test -S "$DP_SOCK"; then
    rl_fail dataplane_control_socket "$DP_SOCK did not appear"
    return 0
  fi
  reply=$(ctl '{"cmd":"version"}')
  rl_check dataplane_control_version "$reply" \
    test "$(jget "$reply" "d['ok'] and d['result']['protocol']")" == 1

  check_exception_path dataplane

  # --- allocate a pair: leg a = NAT'd phone (SDP says its private address),
  # leg b = public peer.
  reply=$(ctl "{\"cmd\":\"allocate\",\"id\":\"alloc-$RL_P\",\"label\":\"call-$RL_P\",
    \"a\":{\"family\":\"ipv4\",\"peer\":\"$PHONE_IP:$PHONE_PORT\",\"policy\":\"learn\"},
    \"b\":{\"family\":\"ipv4\",\"peer\":\"$PEER_IP:$PEER_PORT\",\"policy\":\"learn\"}}")
  ok=$(jget "$reply" "d['ok']" 2>/dev/null)
  if [[ $ok != True ]]; then
    rl_fail dataplane_allocate "$reply"
    return 0
  fi
  local pair sa sb ra rb
  pair=$(jget "$reply" "d['result']['pair']")
  sa=$(jget "$reply" "d['result']['a']['stream']")
  sb=$(jget "$reply" "d['result']['b']['stream']")
  ra=$(jget "$reply" "d['result']['a']['relay']")
  rb=$(jget "$reply" "d['result']['b']['relay']")
  rl_check dataplane_allocate "pair $pair: a=$sa relay $ra, b=$sb relay $rb" \
    test -n "$ra" -a -n "$rb" -a "${ra%:*}" == "$RELAY_IP" -a "${rb%:*}" == "$RELAY_IP"

  local before_stats before_drops
  before_stats=$(ctl '{"cmd":"stats"}')
  before_drops=$(drops_total "$before_stats" || echo 0)

  # --- phase 1: media both ways for 3 s. The phone starts first (as the
  # caller's RTP usually does) so leg a is latched when the peer starts.
  udp lan phone1 both --bind "$PHONE_IP:$PHONE_PORT" --dest "$ra" \
    --count $COUNT --rate $RATE --ssrc 0x0a0a0001 --tag phone --duration 5.5 \
    --go "$(go phone1)"
  local phone_pid=$UDP_PID
  udp peer peer1 both --bind "$PEER_IP:$PEER_PORT" --dest "$rb" \
    --count $COUNT --rate $RATE --ssrc 0x0b0b0001 --tag peer --duration 5 \
    --go "$(go peer1)"
  local peer_pid=$UDP_PID
  start phone1
  sleep 0.5
  start peer1
  rl_wait "$peer_pid" 30; rl_wait "$phone_pid" 30

  local phone_sent peer_sent rx
  phone_sent=$(jfile "$RL_TMP/phone1.json" "d['sent']" || echo 0)
  peer_sent=$(jfile "$RL_TMP/peer1.json" "d['sent']" || echo 0)
  rx=$(rx_from "$RL_TMP/peer1.json" "$rb" phone)
  rl_check media_phone_to_peer_via_relay_b "$rx of $phone_sent from $rb; sources $(jfile "$RL_TMP/peer1.json" "d['sources']")" \
    at_least "$rx" "$MIN_RATIO_PCT" "$phone_sent"
  rx=$(rx_from "$RL_TMP/phone1.json" "$ra" peer)
  rl_check media_peer_to_natted_phone_via_relay_a "$rx of $peer_sent from $ra; sources $(jfile "$RL_TMP/phone1.json" "d['sources']")" \
    at_least "$rx" "$MIN_RATIO_PCT" "$peer_sent"

  # --- control plane view: latched peers and counters.
  local qa qb la lb
  qa=$(ctl "{\"cmd\":\"query\",\"stream\":$sa}")
  qb=$(ctl "{\"cmd\":\"query\",\"stream\":$sb}")
  la=$(jget "$qa" "d['result']['learned_peer']" 2>/dev/null)
  lb=$(jget "$qb" "d['result']['learned_peer']" 2>/dev/null)
  rl_check query_a_latched_to_nat_mapping \
    "learned $la, state $(jget "$qa" "d['result']['state']" 2>/dev/null), expected (SDP) $PHONE_IP:$PHONE_PORT" \
    test "${la%:*}" == "$NAT_OUT_IP" -a "$(jget "$qa" "d['result']['state']" 2>/dev/null)" != unlatched
  rl_check query_b_latched_to_peer "learned $lb, state $(jget "$qb" "d['result']['state']" 2>/dev/null)" \
    test "$lb" == "$PEER_IP:$PEER_PORT"
  local pa pb
  pa=$(jget "$qa" "d['result']['packets']" 2>/dev/null || echo 0)
  pb=$(jget "$qb" "d['result']['packets']" 2>/dev/null || echo 0)
  rl_check query_packet_counters "a $pa packets (phone sent $phone_sent), b $pb (peer sent $peer_sent)" \
    at_least "${pa:-0}" "$MIN_RATIO_PCT" "$phone_sent"
  local st relayed
  st=$(ctl '{"cmd":"stats"}')
  printf '%s\n' "$st" >"$RL_TMP/stats_phase1.json"
  relayed=$(jget "$st" "d['result']['total']['relayed']" 2>/dev/null || echo 0)
  rl_check stats_relayed_counter "$(jget "$st" "'relayed %s rx %s exception_in %s exception_out %s solicits %s, streams %s pairs %s' % (tuple(d['result']['total'].get(k) for k in ('relayed', 'rx', 'exception_in', 'exception_out', 'solicits')) + (d['result']['streams'], d['result']['pairs']))" 2>/dev/null)" \
    at_least "${relayed:-0}" "$MIN_RATIO_PCT" $((phone_sent + peer_sent))

  # --- phase 2: RTP Bleed. Media keeps flowing; an attacker sprays both
  # relay ports (after the learning window) and must get nothing back.
  before_stats=$(ctl '{"cmd":"stats"}')
  before_drops=$(drops_total "$before_stats" || echo 0)
  local da_before db_before
  da_before=$(jget "$(ctl "{\"cmd\":\"query\",\"stream\":$sa}")" "d['result']['drops']" 2>/dev/null || echo 0)
  db_before=$(jget "$(ctl "{\"cmd\":\"query\",\"stream\":$sb}")" "d['result']['drops']" 2>/dev/null || echo 0)
  udp lan phone2 both --bind "$PHONE_IP:$PHONE_PORT" --dest "$ra" \
    --count 125 --rate $RATE --ssrc 0x0a0a0001 --first-seq 2000 --tag phone \
    --duration 4 --go "$(go media2)"
  phone_pid=$UDP_PID
  udp peer peer2 both --bind "$PEER_IP:$PEER_PORT" --dest "$rb" \
    --count 125 --rate $RATE --ssrc 0x0b0b0001 --first-seq 2000 --tag peer \
    --duration 4 --go "$(go media2)"
  peer_pid=$UDP_PID
  udp att attacker both --bind "$ATTACKER_IP:31337" --dest "$ra" --dest "$rb" \
    --count 200 --rate 100 --ssrc 0x66666666 --tag attacker --duration 3 \
    --go "$(go attack)"
  local att_pid=$UDP_PID
  start media2
  sleep 0.3
  start attack
  rl_wait "$att_pid" 30; rl_wait "$peer_pid" 30; rl_wait "$phone_pid" 30

  local att_sent att_rx leaked
  att_sent=$(jfile "$RL_TMP/attacker.json" "d['sent']" || echo 0)
  att_rx=$(jfile "$RL_TMP/attacker.json" "d['received']" || echo -1)
  rl_check bleed_attacker_receives_nothing "attacker sent $att_sent to $ra and $rb, received $att_rx" \
    test "$att_rx" == 0 -a "$att_sent" -gt 0
  leaked=$(( $(jfile "$RL_TMP/phone2.json" "d['tags'].get('attacker', 0)" || echo 1) \
           + $(jfile "$RL_TMP/peer2.json" "d['tags'].get('attacker', 0)" || echo 1) ))
  rl_check bleed_attacker_not_relayed_to_call "$leaked attacker packets reached phone or peer" \
    test "$leaked" == 0
  phone_sent=$(jfile "$RL_TMP/phone2.json" "d['sent']" || echo 0)
  peer_sent=$(jfile "$RL_TMP/peer2.json" "d['sent']" || echo 0)
  rx=$(rx_from "$RL_TMP/peer2.json" "$rb" phone)
  rl_check bleed_media_phone_to_peer_continues "$rx of $phone_sent" \
    at_least "$rx" "$MIN_RATIO_PCT" "$phone_sent"
  rx=$(rx_from "$RL_TMP/phone2.json" "$ra" peer)
  rl_check bleed_media_peer_to_phone_continues "$rx of $peer_sent" \
    at_least "$rx" "$MIN_RATIO_PCT" "$peer_sent"

  local after_stats after_drops reasons
  after_stats=$(ctl '{"cmd":"stats"}')
  after_drops=$(drops_total "$after_stats" || echo 0)
  reasons=$(python3 - "$before_stats" "$after_stats" <<'PY'
import json, sys
try:
    b = json.loads(sys.argv[1])["result"]["total"]["drops"]
    a = json.loads(sys.argv[2])["result"]["total"]["drops"]
    print(" ".join("%s+%d" % (k, a[k] - b.get(k, 0)) for k in sorted(a)
                   if a[k] - b.get(k, 0)))
except Exception as e:
    print("unparsable stats: %r" % e)
PY
)
  rl_check bleed_drops_counted "drops +$((after_drops - before_drops)) for $att_sent attacker packets: $reasons" \
    at_least $((after_drops - before_drops)) "$MIN_RATIO_PCT" "$att_sent"
  qa=$(ctl "{\"cmd\":\"query\",\"stream\":$sa}")
  qb=$(ctl "{\"cmd\":\"query\",\"stream\":$sb}")
  local da db
  da=$(jget "$qa" "d['result']['drops']" 2>/dev/null || echo 0)
  db=$(jget "$qb" "d['result']['drops']" 2>/dev/null || echo 0)
  rl_check bleed_stream_drop_counters "a drops $da_before -> $da, b drops $db_before -> $db" \
    test $((da - da_before)) -gt 0 -a $((db - db_before)) -gt 0
  rl_check bleed_no_relatch_to_attacker \
    "a learned $(jget "$qa" "d['result']['learned_peer']" 2>/dev/null), b learned $(jget "$qb" "d['result']['learned_peer']" 2>/dev/null)" \
    test "$(jget "$qa" "d['result']['learned_peer']" 2>/dev/null)" == "$la" \
      -a "$(jget "$qb" "d['result']['learned_peer']" 2>/dev/null)" == "$lb"

  # --- teardown over the control socket.
  reply=$(ctl "{\"cmd\":\"delete\",\"id\":\"del-$RL_P\",\"pair\":$pair}")
  rl_check control_delete_pair "$reply" \
    test "$(jget "$reply" "d['ok'] and d['result']['deleted']")" == "$pair"
  reply=$(ctl "{\"cmd\":\"query\",\"stream\":$sa}")
  rl_check control_query_deleted_not_found "$reply" \
    test "$(jget "$reply" "(not d['ok']) and d['error']['code']")" == not_found

  rl_check dataplane_still_running "pid $DPDK_PID" kill -0 "$DPDK_PID"
  stop_dpdk
}

# ---------------------------------------------------------------------------

build_topology
case "$MODE" in
  testpmd) run_testpmd ;;
  dataplane) run_dataplane ;;
  all) run_testpmd; run_dataplane ;;
esac
rl_summary "$SUITE"
