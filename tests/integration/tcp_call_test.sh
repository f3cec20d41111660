#!/usr/bin/env bash
# SIP over TCP and calls between two NAT'd phones (issue 5: "TCP too, with
# connection reuse for responses and requests to a TCP-registered phone";
# "Calls between ... two NAT'd phones ... work").
#
#   tcp_call_test.sh
#
# alice (behind one NAT) registers over TCP and keeps her connection open;
# carol (behind another NAT) registers over UDP. carol calls alice: the
# INVITE must reach alice over her own TCP connection (the proxy opens no
# connection to a phone behind NAT), with a Record-Route for each transport
# (RFC 5658), SDP on the relay; the call connects and ends. The binding
# shows transport tcp and no keepalive target (TCP phones keep their own
# connection alive). After alice's connection closes, a call to her gets
# 480 (no way to reach her), not a hang.
#
# Output: "PASS name" / "FAIL name" per check, then
# "tcp_call: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=tcp_call

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-tc$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
ALICE=192.0.2.2:5070
CAROL=198.51.100.2:5060
PW_ALICE='alice-pw-t'; PW_CAROL='carol-pw-u'
st_add_user alice "$PW_ALICE"
st_add_user carol "$PW_CAROL"

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
st_add_nat_phone nt2 ln2 203.0.113.31/24 198.51.100.1/24 198.51.100.2/24

# alice: REGISTER over TCP, then answer on the same connection
# (tcp_phone.py: sipp cannot take a new Call-ID's INVITE in a UAC scenario).
ALICE_LOG="$RL_TMP/alice_tcp.msg"
rl_spawn lan "$RL_TMP/alice_tcp.out" timeout 60 python3 -u "$HERE/tcp_phone.py" \
  "${ALICE%:*}" "${ALICE##*:}" "$ST_RELAY_IP" "$ST_SIP_PORT" alice "$PW_ALICE" "$D" "$ALICE_LOG"
alice=$RL_LAST_PID
rl_wait_for 15 grep -q '^registered' "$RL_TMP/alice_tcp.out" || rl_log "alice did not register over TCP"
b=$(cctl registration "alice@$D" 2>/dev/null)
rl_check tcp_binding "$(jget "$b" "d['bindings'][0]['transport']") natted=$(jget "$b" "d['bindings'][0]['behind_nat']")" \
  test "$(jget "$b" "d['bindings'][0]['transport']")" == tcp -a "$(jget "$b" "d['bindings'][0]['behind_nat']")" == True
kas=$(jget "$(dctl keepalives)" "sum(1 for k in d['keepalives'] if k.get('label') == 'rc-ka:alice@$D')")
rl_check tcp_binding_has_no_udp_keepalive "$kas targets" test "$kas" == 0

st_sipp ln2 reg_carol "$SCN/sip_proxy_register.xml" "$CAROL" "$RELAY_EP" -key user carol \
  -key expires 600 -au carol -ap "$PW_CAROL"
rl_check udp_registered "carol rc=$?" test $? -eq 0

st_sipp ln2 carol_calls "$SCN/sip_proxy_uac_call.xml" "$CAROL" "$RELAY_EP" -key user carol \
  -key callee alice -au carol -ap "$PW_CAROL" -auth_uri "alice@$D" -key snap true -mp 41000
rc_uac=$?
rl_wait "$alice" 50; rc_alice=$?
rl_check nat_to_nat_call_over_tcp "carol rc=$rc_uac, alice rc=$rc_alice" test $((rc_uac + rc_alice)) -eq 0
# The phone's log: every message it received, a blank line between.
phone_msg() {  # phone_msg REGEX: the first received message whose first line matches
  python3 - "$ALICE_LOG" "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read().replace("\r\n", "\n")
for msg in re.split(r"\n\n(?=[A-Z]+ sip:|SIP/2.0 )", text):
    if re.match(sys.argv[2], msg):
        print(msg)
        break
else:
    sys.exit(1)
PY
}
invite=$(phone_msg '^INVITE ')
via=$(st_hdr "$invite" Via | head -1)
rl_check invite_via_tcp "$via" grep -q '^SIP/2.0/TCP 203.0.113.10:5060' <<<"$via"
rr=$(st_hdr "$invite" Record-Route | tr '\n' ' ')
rl_check double_record_route "$rr" \
  bash -c '[[ $0 == *"transport=tcp"* && $(grep -o "203.0.113.10" <<<"$0" | wc -l) -ge 2 ]]' "$rr"
c=$(st_body "$invite" | grep -m1 '^c=' | tr -d '\r')
rl_check sdp_on_relay "$c" test "$c" == "c=IN IP4 $ST_RELAY_IP"
rl_check bye_over_tcp "$(phone_msg '^BYE ' | head -1)" phone_msg '^BYE '
rl_check streams_deleted "$(jget "$(dctl streams)" "len(d['streams'])") streams" \
  test "$(jget "$(dctl streams)" "len(d['streams'])")" == 0

# alice's phone has exited: her connection is gone and so is the way to her.
st_sipp ln2 carol_calls_again "$SCN/sip_proxy_invite_rejected.xml" "$CAROL" "$RELAY_EP" \
  -key user carl -key from_domain elsewhere.test -key callee alice -key to_domain "$D"
m=$(st_msg carol_calls_again received '^SIP/2.0 480 ' 2>/dev/null)
rl_check closed_connection_gives_480 "$(head -1 <<<"$m")" test -n "$m"

rl_summary "$SUITE"
