#!/usr/bin/env bash
# OPTIONS "qualify" finds dead NAT'd bindings (issue 5, keepalives).
#
#   qualify_test.sh
#
# rtplatch-control runs with qualify_interval_s=2. alice and carol, each
# behind a NAT, register. alice's phone stays up and answers every OPTIONS
# (a small responder on her registered port); carol's phone goes away
# after registering. Within a qualify round plus the OPTIONS transaction's
# timeout (timer F, 32 s) carol's binding and its keepalive target must be
# gone and counted (qualify_dead), while alice's binding, her keepalive
# target and her answers (qualify_answered) remain.
#
# Output: "PASS name" / "FAIL name" per check, then
# "qualify: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=qualify

export ST_CONTROL_EXTRA='"qualify_interval_s": 2'
# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-qu$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
ALICE=192.0.2.2:5060
CAROL=198.51.100.2:5060
PW_ALICE='alice-pw-3'; PW_CAROL='carol-pw-4'
st_add_user alice "$PW_ALICE"
st_add_user carol "$PW_CAROL"

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
st_add_nat_phone nt2 ln2 203.0.113.31/24 198.51.100.1/24 198.51.100.2/24

stat() { jget "$(cctl sip-stats)" "d['proxy']['$1']"; }
registered() {  # registered AOR -> 1 or 0
  jget "$(cctl registrations)" "sum(1 for r in d['registrations'] if r['aor'] == '$1@$D')"
}
keepalives_for() {  # keepalive targets labelled for AOR
  jget "$(dctl keepalives)" "sum(1 for k in d['keepalives'] if k.get('label') == 'rc-ka:$1@$D')"
}

st_reg lan reg_alice "$ALICE" alice "$PW_ALICE"; rc_a=$?
st_reg ln2 reg_carol "$CAROL" carol "$PW_CAROL"; rc_c=$?
rl_check registered "alice=$rc_a carol=$rc_c" test $((rc_a + rc_c)) -eq 0
# Qualify leaves bindings alone while their NAT timeout is learned (their
# probes go unanswered here: learned at the floor in about 9 s); then both
# re-register as phones do within the 60 s a learning binding gets.
st_wait_learned 30 alice carol
st_reg lan reg_alice2 "$ALICE" alice "$PW_ALICE" || rl_log "alice did not re-register"
st_reg ln2 reg_carol2 "$CAROL" carol "$PW_CAROL" || rl_log "carol did not re-register"

# alice's phone: answers OPTIONS with 200 (Via, From, To, Call-ID, CSeq
# copied) on the port she registered from, until killed.
rl_spawn lan "$RL_TMP/alice_responder.log" python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.2", 5060))
while True:
    data, peer = s.recvfrom(65535)
    text = data.decode("utf-8", "replace")
    if not text.startswith("OPTIONS "):
        continue
    keep = [l for l in text.split("\r\n")
            if l.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")]
    reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
    s.sendto(reply.encode(), peer)
    print("answered OPTIONS from %s:%d" % peer, flush=True)
'
responder=$RL_LAST_PID

# carol's binding must go within a round (2 s) + timer F (32 s) + slack.
rl_wait_for 50 bash -c "[[ \$($ST_CTL --control-socket $CTL_SOCK --json registrations | \
  python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)[\"registrations\"] if r[\"aor\"].startswith(\"carol@\")))') == 0 ]]"
rl_check dead_binding_removed "carol registered: $(registered carol)" test "$(registered carol)" == 0
rl_check dead_keepalive_removed "carol targets: $(keepalives_for carol)" test "$(keepalives_for carol)" == 0
rl_check counted_dead "qualify_dead=$(stat qualify_dead)" test "$(stat qualify_dead)" == 1
rl_check live_binding_kept "alice registered: $(registered alice)" test "$(registered alice)" == 1
rl_check live_keepalive_kept "alice targets: $(keepalives_for alice)" test "$(keepalives_for alice)" == 1
answered=$(grep -c '^answered OPTIONS' "$RL_TMP/alice_responder.log")
rl_check live_phone_qualified "alice answered $answered OPTIONS, qualify_answered=$(stat qualify_answered)" \
  test "$answered" -ge 5 -a "$(stat qualify_answered)" -ge 5
rl_kill "$responder"

rl_summary "$SUITE"
