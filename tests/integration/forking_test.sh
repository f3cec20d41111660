#!/usr/bin/env bash
# Parallel forking (issue 15, RFC 3261 16.7): one AOR registered from two
# phones of different makes behind different NATs; a call to it rings
# both, the first to answer gets the call with audio both ways, the other
# gets CANCEL, and no stream is left after the BYE.
#
#   forking_test.sh
#
# Network (namespaces; documentation prefixes only):
#   relay   rtplatch at 203.0.113.10, shipped settings
#   lan1    behind MASQUERADE (203.0.113.30): alice (sipp, the caller, port
#           5060) and dan's desk phone (sipp, port 5070), which rings and
#           must be CANCELled
#   lan2    behind MASQUERADE --random-fully (203.0.113.31): dan's baresip,
#           which answers at once
# Checks: both of dan's contacts are registered; the call rings the desk
# (its INVITE arrives) and the baresip; the baresip answers and each side
# hears the other's tone; the desk gets CANCEL (its scenario: 180, CANCEL,
# 200, 487, ACK); `sip-stats` counts one forked call and one cancelled
# branch; no stream is left after the BYE.
# Output: "PASS name" / "FAIL name" per check, then
# "forking: N passed, N failed". Exit 77 when it cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=forking

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
st_main "$SUITE" "$0" "$@"
if ! why=$(bp_missing); then echo "SKIP $SUITE: $why"; exit 77; fi

st_init "${RL_PREFIX:-fk$$}"
D="$ST_DOMAIN"
declare -A MAKE=([alice]=sipp [dan]=baresip)
declare -A ROLE=([alice]=lan1 [dan]=lan2)
declare -A ADDR=([alice]=192.0.2.2 [dan]=192.0.2.2)
declare -A EP=([alice]=192.0.2.2:5060)
declare -A REMOTE=([alice]=$ST_RELAY_IP:$ST_SIP_PORT)
declare -A TONE=([alice]=440 [dan]=880)
declare -A PW=([alice]=alice-fk-1 [dan]=dan-fk-2)
for u in alice dan; do st_add_user "$u" "${PW[$u]}"; done

st_start_relay || rl_die "relay did not start"
st_add_nat_phone na1 lan1 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_nat_phone na2 lan2 203.0.113.31/24 192.0.2.1/24 192.0.2.2/24 random-fully
TC_SNAP="$RL_TMP/snap.sh"
printf '#!/bin/sh\nexit 0\n' >"$TC_SNAP"; chmod +x "$TC_SNAP"
sip_stat() { jget "$(cctl sip-stats 2>/dev/null)" "d['proxy']['$1']" 2>/dev/null; }
contacts() { jget "$(cctl registration "dan@$D" 2>/dev/null)" "len(d['bindings'])" 2>/dev/null; }
desk_register() { st_register lan1 "reg_dan_desk$1" 192.0.2.2:5070 "$ST_RELAY_IP:$ST_SIP_PORT" dan "${PW[dan]}"; }

rl_check alice_registered "200 to its REGISTER" tc_register alice
rl_check dan_desk_registered "sipp, 192.0.2.2:5070 behind 203.0.113.30" desk_register 1
# The desk's NAT timeout is learned (about 9 s: a sipp phone answers no
# probe) before it is called, so no probe reaches its scenario; it then
# registers again, as the 60 s expiry of a learning binding asks.
st_wait_learned 30 alice dan
rl_check dan_desk_registered_again "after its NAT timeout was learned" desk_register 2
rl_check dan_baresip_registered "baresip behind 203.0.113.31" tc_register dan
rl_check dan_has_two_contacts "$(contacts) bindings for dan@$D" test "$(contacts)" == 2

# The desk rings and must be cancelled; the baresip answers.
ST_SIPP_TIMEOUT_S=40 st_sipp_bg lan1 dan_desk_uas "$ST_SCENARIOS/fork_uas_cancelled.xml" \
  192.0.2.2:5070 - -key user dan
desk=$ST_SIPP_PID
st_sipp_ready lan1 5070 || rl_log "the desk's UAS is not bound"
tc_call alice_to_dan alice dan
tc_check_heard alice_to_dan alice dan "alice -> dan@$D: the baresip answered"
st_sipp_wait "$desk" 10; rc=$?
rl_check desk_rang "its INVITE arrived" \
  bash -c "grep -q '^INVITE sip:dan@' '$ST_SIPP_DIR/dan_desk_uas.msg'"
rl_check desk_cancelled "180, CANCEL, 200, 487, ACK (sipp exit $rc)" test "$rc" -eq 0
rl_check fork_counted "calls_forked=$(sip_stat calls_forked) cancelled=$(sip_stat fork_branches_cancelled)" \
  test "$(sip_stat calls_forked)" -eq 1 -a "$(sip_stat fork_branches_cancelled)" -eq 1
rl_wait_for 5 st_no_streams_left
rl_check streams_freed "$(st_streams_left) streams left after the BYE" st_no_streams_left

rl_summary "$SUITE"
