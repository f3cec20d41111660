#!/usr/bin/env bash
# Two rtplatch ng nodes in one Kamailio rtpengine set (issue 14): when one
# is at its session limit, or gone, Kamailio's next offer goes to the
# other, and the call connects with audio both ways through it.
#
#   kamailio_nodes_test.sh
#
# Kamailio 5.6 on a host of its own (203.0.113.5, the config of
# kamailio_ng_test.sh) with the set "udp:203.0.113.10:2223=1000
# udp:203.0.113.11:2223=1": node 1 weighs so much more that Kamailio
# offers nearly every call to it first (a call's first node is a hash of
# its Call-ID over the weights), so each step below exercises the
# failover. Each node is a dataplane and rtplatch-control in ng-only mode
# on the node's public address (the two forwarding lcores share core 1
# here); node 1 is configured for one session ("ng": {"max_sessions":
# 1}: the limit is the scenario), node 2 on shipped defaults. Phones:
# alice (sipp behind a MASQUERADE NAT), bob (sipp, public).
#   1. both nodes up: alice calls bob; the call connects, both tones are
#      heard, node 1's dataplane carried it and node 2's did not;
#   2. node 1 at its session limit (call 1 waits out its 30 s delete delay
#      there, still one of node 1's sessions): bob calls alice; node 1
#      answers "load limit", Kamailio says so and tries node 2, which
#      carries the call (connected, both tones heard);
#   3. node 1 killed (its control plane and dataplane, SIGKILL): alice
#      calls bob; Kamailio's offer to node 1 times out, it disables the
#      node and node 2 carries the call.
#
# Output: "PASS name" / "FAIL name" per check, then
# "kamailio_nodes: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root; kamailio or sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=kamailio_nodes

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/kamailio.sh
source "$ROOT/scripts/lib/kamailio.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
st_main "$SUITE" "$0" "$@"
why=$(km_missing) || rl_skip "$why"

st_init "${RL_PREFIX:-kn$$}"
KM_IP=203.0.113.5
PROXY="$KM_IP:5060"
NG_PORT=2223
MIN_PACKETS=50
ST_SIP_LISTEN_JSON='[]'

declare -A ROLE ADDR EP REMOTE TONE PW MAKE
ROLE[alice]=lan; ADDR[alice]=192.0.2.2; TONE[alice]=440; PW[alice]=alice-pw-n1; MAKE[alice]=sipp
ROLE[bob]=pb; ADDR[bob]=203.0.113.20; TONE[bob]=1000; PW[bob]=bob-pw-n2; MAKE[bob]=sipp
for p in alice bob; do
  EP[$p]="${ADDR[$p]}:5060"; REMOTE[$p]=$PROXY
  km_add_user "$p" "${PW[$p]}"
done

# Node 1 (st_node relay) with room for one session, node 2 (relay2) as shipped.
ST_CONTROL_EXTRA="\"ng_listen\": [\"203.0.113.10:$NG_PORT\"], \"ng\": {\"max_sessions\": 1}"
st_start_relay || rl_die "node 1 did not start"
st_node relay2
ST_CONTROL_EXTRA="\"ng_listen\": [\"$ST_RELAY_IP:$NG_PORT\"]"
st_start_relay || rl_die "node 2 did not start"
NODE2_DP_SOCK=$DP_SOCK
st_node relay
NODE1_DP_SOCK=$DP_SOCK

st_add_public_phone proxy px "$KM_IP/24"
km_start proxy "$PROXY" "udp:203.0.113.10:$NG_PORT=1000 udp:203.0.113.11:$NG_PORT=1" \
  || rl_die "kamailio did not start"
st_add_nat_phone na1 lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone pb pb 203.0.113.20/24

# Both nodes' streams while a call is up (node 1's socket is gone once it
# is killed: its file then holds the error).
TC_SNAP="$RL_TMP/snap.sh"
cat >"$TC_SNAP" <<SH
#!/bin/sh
"$ST_CTL" --socket "$NODE1_DP_SOCK" --json streams >"$RL_TMP/streams1-\$1-\$2.json" 2>&1
"$ST_CTL" --socket "$NODE2_DP_SOCK" --json streams >"$RL_TMP/streams2-\$1-\$2.json" 2>&1
SH
chmod +x "$TC_SNAP"
# check_call NAME CALLER CALLEE NODE: connected, both tones heard, and the
# media went through node NODE (1, 2) and not the other one.
check_call() {
  local name="$1" caller="$2" callee="$3" node="$4" id mine theirs
  tc_check_heard "$name" "$caller" "$callee" "$caller -> $callee through kamailio + rtplatch node $node"
  id=$(km_last_call_id)
  mine=$(km_call_packets "$RL_TMP/streams$node-$name-up.json" "$id")
  theirs=$(km_call_packets "$RL_TMP/streams$(( 3 - node ))-$name-up.json" "$id")
  rl_check "${name}_media_through_node$node" \
    "call $id: node $node relayed $mine packets while up, the other node $theirs" \
    test "$mine" -gt "$MIN_PACKETS" -a "$theirs" == 0
}

for p in alice bob; do
  tc_register "$p"; rc=$?
  rl_check "${p}_registered_with_kamailio" "${MAKE[$p]} at ${EP[$p]}" test "$rc" -eq 0
done

# --- 1. both nodes up: node 1 (weight 1000) carries the call ------------------
tc_call call1 alice bob
check_call call1 alice bob 1

# --- 2. node 1 at its session limit: node 2 carries the next call ---------------
st_node relay
calls1=$(jget "$(cctl sip-stats)" "d['ng']['calls']")
rl_check node1_at_its_limit "node 1 holds $calls1 of its 1 session (call 1 in its delete delay)" \
  test "$calls1" == 1
tc_call call2 bob alice
check_call call2 bob alice 2
limited=$(jget "$(cctl sip-stats)" "d['ng']['load_limited']")
rl_check node1_answered_load_limit "node 1 load_limited=$limited" test "${limited:-0}" -ge 1
rl_check kamailio_tried_next_node "$(km_log_grep 'load limit' | tail -1 | sed 's/.*rtpp_function_call(): //')" \
  km_logged "203.0.113.10:$NG_PORT has reached its load limit.*trying next one"

# --- 3. node 1 killed: node 2 carries the next call ------------------------------
st_kill_control
st_kill_dataplane
tc_call call3 alice bob
check_call call3 alice bob 2
rl_check kamailio_saw_node1_gone "$(km_log_grep 'RTPEngine <udp:203.0.113.10' | tail -1 | sed 's/.*send_rtpp_command(): //')" \
  km_logged "(timeout waiting reply|can't send command).*RTPEngine <udp:203.0.113.10:$NG_PORT>"
rl_check kamailio_still_running "pid $KM_PID" kill -0 "$KM_PID"

rl_summary "$SUITE"
