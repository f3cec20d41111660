#!/usr/bin/env bash
# Kamailio 5.6 drives rtplatch as its media relay over rtpengine's ng
# protocol (issue 14), with Kamailio's own rtpengine and nathelper modules
# and a config as their documentation shows (rtpengine_manage(),
# fix_nated_*; tests/integration/kamailio/kamailio.cfg).
#
#   kamailio_ng_test.sh
#
# On the relay host: the dataplane, rtplatch-control in its ng-only mode
# ("sip_listen": [], ng on 127.0.0.1:2223), Kamailio on
# 203.0.113.10:5060 with rtpengine_sock udp:127.0.0.1:2223. Phones of both
# makes register with Kamailio: alice (sipp, behind a MASQUERADE NAT), bob
# (sipp, public), carol (baresip, behind a random-fully NAT). Then:
#   - alice calls bob, bob calls alice, carol calls bob: the call connects,
#     each side hears the other's tone through the relay, Kamailio's
#     $rtpstat (a query of the relay, logged on BYE) counts packets, and
#     the dataplane carried them;
#   - every BYE frees the streams (after rtpengine's default 30 s delete
#     delay), and rtplatch's ng counters saw each offer, answer, delete;
#   - the harness itself: rtpengine (Debian's, userspace) in rtplatch's
#     place on the same ng socket, alice calls bob: connected, both tones
#     heard, $rtpstat non-zero.
#
# Output: "PASS name" / "FAIL name" per check, then
# "kamailio_ng: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root; kamailio, rtpengine, baresip or sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=kamailio_ng

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
# shellcheck source=scripts/lib/kamailio.sh
source "$ROOT/scripts/lib/kamailio.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
st_main "$SUITE" "$0" "$@"
why=$(km_missing) || rl_skip "$why"
why=$(bp_missing) || rl_skip "$why"
command -v rtpengine >/dev/null 2>&1 || rl_skip "rtpengine not installed (rtpengine-daemon)"

st_init "${RL_PREFIX:-km$$}"
NG=127.0.0.1:2223
RELAY4="$ST_RELAY_IP:$ST_SIP_PORT"
# rtplatch-control on shipped defaults, as an ng server only.
ST_SIP_LISTEN_JSON='[]'
ST_CONTROL_EXTRA="\"ng_listen\": [\"$NG\"]"
MIN_PACKETS=50

declare -A ROLE ADDR EP REMOTE TONE PW MAKE MEDIANAT
ROLE[alice]=lan; ADDR[alice]=192.0.2.2; TONE[alice]=440; PW[alice]=alice-pw-k1; MAKE[alice]=sipp
ROLE[bob]=pb; ADDR[bob]=203.0.113.20; TONE[bob]=1000; PW[bob]=bob-pw-k2; MAKE[bob]=sipp
ROLE[carol]=lan2; ADDR[carol]=192.0.2.2; TONE[carol]=660; PW[carol]=carol-pw-k3; MAKE[carol]=baresip
# Full ICE agents (baresip's ice module): Kamailio asks ICE=force for them.
ROLE[dave]=lan3; ADDR[dave]=192.0.2.2; TONE[dave]=550; PW[dave]=dave-pw-k4; MAKE[dave]=baresip
ROLE[erin]=pe; ADDR[erin]=203.0.113.21; TONE[erin]=880; PW[erin]=erin-pw-k5; MAKE[erin]=baresip
MEDIANAT[dave]=ice; MEDIANAT[erin]=ice
for p in alice bob carol dave erin; do
  EP[$p]="${ADDR[$p]}:5060"; REMOTE[$p]=$RELAY4
  km_add_user "$p" "${PW[$p]}"
done

st_start_relay || rl_die "relay did not start"
km_start relay "$RELAY4" "udp:$NG" || rl_die "kamailio did not start"
st_add_nat_phone na1 lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone pb pb 203.0.113.20/24
st_add_nat_phone na2 lan2 203.0.113.31/24 192.0.2.1/24 192.0.2.2/24 random-fully
st_add_nat_phone na3 lan3 203.0.113.32/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone pe pe 203.0.113.21/24

# Per-stream packet counters of the dataplane while a call is up.
TC_SNAP="$RL_TMP/snap.sh"
cat >"$TC_SNAP" <<SH
#!/bin/sh
"$ST_CTL" --socket "$DP_SOCK" --json streams >"$RL_TMP/streams-\$1-\$2.json" 2>&1
SH
chmod +x "$TC_SNAP"
# relayed NAME CALL_ID: packets of that call's streams (pairs labelled
# "ng:<branch>:<line>:<call-id>"; an earlier call's may still be there,
# waiting out the delete delay).
relayed() { km_call_packets "$RL_TMP/streams-$1-up.json" "$2"; }

# The last "$rtpstat" Kamailio logged (on a BYE): its RTP packet count
# and byte count.
rtpstat_packets() {
  km_log_grep 'rtpstat ' | tail -1 | sed -n 's/.*RTP: [-0-9]* bytes, \([0-9]*\) packets.*/\1/p'
}
rtpstat_bytes() {
  km_log_grep 'rtpstat ' | tail -1 | sed -n 's/.*RTP: \([-0-9]*\) bytes, .*/\1/p'
}

# check_call NAME CALLER CALLEE RELAY: what every call gets.
check_call() {
  local name="$1" caller="$2" callee="$3" relay="$4" n
  tc_check_heard "$name" "$caller" "$callee" "$caller -> $callee through kamailio + $relay"
  n=$(rtpstat_packets)
  rl_check "${name}_rtpstat_counts_packets" "kamailio: $(km_log_grep 'rtpstat ' | tail -1 | sed 's/.*rtpstat //')" \
    test "${n:-0}" -gt "$MIN_PACKETS" -a "$(rtpstat_bytes)" -ge $(( ${n:-0} * 172 ))
}

for p in alice bob carol dave erin; do
  tc_register "$p"; rc=$?
  rl_check "${p}_registered_with_kamailio" "${MAKE[$p]} at ${EP[$p]}" test "$rc" -eq 0
done

# --- rtplatch as the relay --------------------------------------------------
for c in "alice bob" "bob alice" "carol bob"; do
  read -r caller callee <<<"$c"
  name="rtplatch_${caller}_${callee}"
  tc_call "$name" "$caller" "$callee"
  check_call "$name" "$caller" "$callee" rtplatch
  id=$(km_last_call_id)
  rl_check "${name}_dataplane_relayed" "$(relayed "$name" "$id") packets of call $id while up" \
    test "$(relayed "$name" "$id")" -gt "$MIN_PACKETS"
done
# ICE=force: the relay is each ICE phone's only candidate, and the
# dataplane answers their connectivity checks. Calls without ICE sent none.
dp_stat() { "$ST_CTL" --socket "$DP_SOCK" --json stats | python3 -c "import json,sys; t=json.load(sys.stdin)['total']; print($1)"; }
rl_check rtplatch_no_ice_checks_without_ice "$(dp_stat "t['ice_checks_answered']") answered before" \
  test "$(dp_stat "t['ice_checks_answered'] + t['drops']['stun'] + t['drops']['stun_unauthenticated']")" -eq 0
tc_call rtplatch_dave_erin dave erin
check_call rtplatch_dave_erin dave erin rtplatch
for p in dave erin; do
  rl_check "rtplatch_ice_${p}_checks_complete" "$(bp_count "$p" 'connectivity check is complete') completed, $(bp_count "$p" 'connectivity check failed') failed" \
    test "$(bp_count "$p" 'connectivity check is complete')" -ge 1 -a "$(bp_count "$p" 'connectivity check failed')" -eq 0
done
# What erin was offered: the relay as the one candidate, none of dave's.
rl_check rtplatch_ice_relay_only_candidate "$(bp_count erin "^a=candidate:.* $ST_RELAY_IP ") relay, $(bp_count erin '^a=candidate:.* 192\.0\.2\.') private candidates seen by erin" \
  test "$(bp_count erin "^a=candidate:.* $ST_RELAY_IP ")" -ge 1 -a "$(bp_count erin '^a=candidate:.* 192\.0\.2\.')" -eq 0
# The re-INVITE baresip sends once ICE completes is 1.6 kB: fragmented on
# the wire, cut again for the relay host's kernel (Kamailio).
rl_check rtplatch_large_sip_fragmented_for_kamailio "$(dp_stat "t['exception_fragments']") fragments" \
  test "$(dp_stat "t['exception_fragments']")" -ge 2
rl_check rtplatch_ice_checks_answered "$(dp_stat "(t['ice_checks_answered'], t['drops']['stun_unauthenticated'])") (answered, unauthenticated)" \
  test "$(dp_stat "int(t['ice_checks_answered'] >= 2 and t['drops']['stun_unauthenticated'] == 0)")" -eq 1

stats=$(cctl sip-stats)
rl_check rtplatch_ng_commands_seen "$(jget "$stats" "{k: d['ng'][k] for k in ('offers', 'answers', 'deletes', 'errors')}")" \
  test "$(jget "$stats" "d['ng']['offers'] >= 4 and d['ng']['answers'] >= 4 and d['ng']['deletes'] >= 4 and d['ng']['errors'] == 0")" == True
# rtpengine's delete delay (30 s by default, as rtplatch ships) before the ports go.
rl_wait_for 45 st_no_streams_left
rl_check rtplatch_bye_freed_streams "$(st_streams_left) streams left" st_no_streams_left
rl_check rtplatch_no_calls_left "$(jget "$(cctl sip-stats)" "d['ng']['calls']") ng calls" \
  test "$(jget "$(cctl sip-stats)" "d['ng']['calls']")" == 0

# --- the harness with rtpengine in rtplatch's place -------------------------
st_stop_control
rl_spawn relay "$RL_TMP/rtpengine.log" rtpengine --foreground --log-stderr --table=-1 \
  --interface="$ST_RELAY_IP" --listen-ng="$NG" --port-min=40000 --port-max=40999
RTPENGINE_PID=$RL_LAST_PID
rl_wait_for 10 bash -c "ip netns exec $(rl_ns relay) ss -lnu | grep -qF ' $NG '" \
  || rl_log "rtpengine does not listen on $NG"
tc_call rtpengine_alice_bob alice bob
check_call rtpengine_alice_bob alice bob rtpengine
rl_check rtpengine_still_running "pid $RTPENGINE_PID" kill -0 "$RTPENGINE_PID"
rl_check kamailio_still_running "pid $KM_PID" kill -0 "$KM_PID"

rl_summary "$SUITE"
