#!/usr/bin/env bash
# An IPv6 phone calls an IPv4 phone behind a NAT, and back (issue 5:
# "IPv6 to IPv4 ... work"; design.md: the dataplane bridges families).
#
#   ipv6_call_test.sh
#
# dave registers over IPv6 ([2001:db8::40] -> [2001:db8::10]:5060), alice
# over IPv4 from behind a NAT. dave calls alice, then alice calls dave.
# Checked on the wire and at the dataplane:
#   - each INVITE reaches the callee with SDP of the callee's family
#     (c=IN IP4 203.0.113.10 for alice, c=IN IP6 2001:db8::10 for dave), and
#     the 200 reaches the caller with its own family;
#   - the Record-Route set names the relay in both families (RFC 5658
#     double record-routing), and the ACK/BYE from the other side arrive;
#   - while the call is up the dataplane's pair has one IPv6 and one IPv4
#     stream; afterwards no stream is left.
#
# Output: "PASS name" / "FAIL name" per check, then
# "ipv6_call: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=ipv6_call

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-v6$$}"
D="$ST_DOMAIN"
RELAY4="$ST_RELAY_IP:$ST_SIP_PORT"
RELAY6="[$ST_RELAY_IP6]:$ST_SIP_PORT"
ALICE=192.0.2.2:5060
DAVE6=2001:db8::40
DAVE="[$DAVE6]:5060"
PW_ALICE='alice-pw-5'; PW_DAVE='dave-pw-6'
st_add_user alice "$PW_ALICE"
st_add_user dave "$PW_DAVE"

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
st_add_public_phone v6 v6 203.0.113.40/24 "$DAVE6/64"
rl_wait_for 10 rl_exec v6 ping -6 -c1 -W1 "$ST_RELAY_IP6" || rl_log "no IPv6 path to the relay yet"

sdp_c() { st_body "$1" | grep -m1 '^c=' | tr -d '\r'; }
# call NAME CALLER_ROLE CALLER_EP REMOTE CALLER CALLEE_ROLE CALLEE_EP CALLEE
call() {
  local pw_var="PW_${5^^}"
  st_call "$1" "$2" "$3" "$4" "$5" "${!pw_var}" "$6" "$7" "$8" call -key snap "$SNAP $1"
  UAC_RC=$ST_UAC_RC
  UAS_RC=$ST_UAS_RC
  sleep 0.3  # the last snapshot (sipp <exec> runs in the background)
}
# Called by the caller's scenario once the call is up: the streams' families.
SNAP="$RL_TMP/snap.sh"
cat >"$SNAP" <<SH
#!/bin/sh
"$ST_CTL" --socket "$DP_SOCK" --json streams >"$RL_TMP/streams-\$1.json" 2>&1
SH
chmod +x "$SNAP"
families() {
  jfile "$RL_TMP/streams-$1.json" "' '.join(sorted('v6' if s['relay'].startswith('[') else 'v4' for s in d['streams']))"
}

st_register lan reg_alice "$ALICE" "$RELAY4" alice "$PW_ALICE"; rc_a=$?
st_register v6 reg_dave "$DAVE" "$RELAY6" dave "$PW_DAVE"; rc_d=$?
rl_check registered "alice=$rc_a dave(v6)=$rc_d" test $((rc_a + rc_d)) -eq 0
src=$(jget "$(cctl registration "dave@$D")" "d['bindings'][0]['source']")
rl_check dave_bound_over_ipv6 "source $src" test "$src" == "[$DAVE6]:5060"

for dir in v6_to_v4 v4_to_v6; do
  if [[ $dir == v6_to_v4 ]]; then
    call "$dir" v6 "$DAVE" "$RELAY6" dave lan "$ALICE" alice
    want_callee="c=IN IP4 $ST_RELAY_IP"; want_caller="c=IN IP6 $ST_RELAY_IP6"
  else
    call "$dir" lan "$ALICE" "$RELAY4" alice v6 "$DAVE" dave
    want_callee="c=IN IP6 $ST_RELAY_IP6"; want_caller="c=IN IP4 $ST_RELAY_IP"
  fi
  rl_check "${dir}_call" "uac=$UAC_RC uas=$UAS_RC" test $((UAC_RC + UAS_RC)) -eq 0
  invite=$(st_msg "${dir}_uas" received '^INVITE ')
  ok200=$(st_msg "${dir}_uac" received '^SIP/2.0 200 ' 1 INVITE)
  rl_check "${dir}_offer_family" "$(sdp_c "$invite")" test "$(sdp_c "$invite")" == "$want_callee"
  rl_check "${dir}_answer_family" "$(sdp_c "$ok200")" test "$(sdp_c "$ok200")" == "$want_caller"
  rr=$(st_hdr "$invite" Record-Route | tr '\n' ' ')
  rl_check "${dir}_double_record_route" "$rr" \
    bash -c '[[ $0 == *"'"$ST_RELAY_IP"'"* && $0 == *"'"$ST_RELAY_IP6"'"* ]]' "$rr"
  rl_check "${dir}_bye_arrived" "$(st_msg_count "${dir}_uas" received '^BYE ') BYE" \
    test "$(st_msg_count "${dir}_uas" received '^BYE ')" -ge 1
  rl_check "${dir}_bridged_streams" "$(families "$dir")" test "$(families "$dir")" == "v4 v6"
done
rl_check no_streams_left "$(jget "$(dctl streams)" "len(d['streams'])") streams" \
  test "$(jget "$(dctl streams)" "len(d['streams'])")" == 0

rl_summary "$SUITE"
