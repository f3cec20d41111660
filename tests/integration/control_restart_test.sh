#!/usr/bin/env bash
# Restarts of either process, in network namespaces (scripts/lib/sip_testbed.sh).
#
#   control_restart_test.sh
#
# design.md: the control plane is the source of truth; bindings survive its
# restart (SQLite), the dataplane keeps nothing and is repopulated.
#
#   (a) kill -9 of the control plane: alice (behind a NAT), carol (behind
#       another NAT) and bob (public) register; the control plane is killed
#       with SIGKILL and started again on the same database. Afterwards the
#       operator socket lists all three bindings with their NAT verdicts,
#       the dataplane holds exactly one keepalive target per NAT'd binding
#       (the predecessor's were replaced, not doubled), and an incoming
#       call from bob reaches alice and carol through their NATs, and one
#       from alice reaches bob.
#   (b) kill -9 of the dataplane during a call: bob calls alice and the call
#       stays up; the dataplane is killed and started again; the control
#       plane reconnects and pushes the call's stream pair back at the same
#       relay ports (the phones were told them in SDP) and the keepalive
#       targets; the BYE then goes through and the streams are deleted.
#   (c) the dataplane unreachable (its control socket not served): a new
#       call gets 503 with a Warning naming the dataplane, the control plane
#       keeps serving REGISTER, and calls work again once it connects.
#
# Output: "PASS name" / "FAIL name" per check, then
# "control_restart: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=control_restart

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-cr$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
ALICE=192.0.2.2:5060
CAROL=198.51.100.2:5060
BOB_IP=203.0.113.20
BOB="$BOB_IP:5060"
PW_ALICE='alice-pw-7'; PW_BOB='bob-pw-8'; PW_CAROL='carol-pw-9'
st_add_user alice "$PW_ALICE"
st_add_user bob "$PW_BOB"
st_add_user carol "$PW_CAROL"

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
st_add_nat_phone nt2 ln2 203.0.113.31/24 198.51.100.1/24 198.51.100.2/24
st_add_public_phone pub pb "$BOB_IP/24"

# call NAME CALLER_ROLE CALLER_EP CALLER CALLEE_ROLE CALLEE_EP CALLEE: one
# basic call (st_call); 0 if both sides succeeded.
call() {
  local pw_var="PW_${4^^}"
  st_call "$1" "$2" "$3" "$RELAY_EP" "$4" "${!pw_var}" "$5" "$6" "$7"
}
keepalive_targets() {  # the dataplane's keepalive targets labelled by us
  local out
  out=$(dctl keepalives 2>/dev/null) || { echo -1; return; }
  jget "$out" "len([k for k in d.get('keepalives', d if isinstance(d, list) else []) if k.get('label','').startswith('rc-ka:')])"
}
bindings() {
  local out
  out=$(cctl registrations 2>/dev/null) || { echo -1; return; }
  jget "$out" "d['total']"
}
natted_aors() {
  local out
  out=$(cctl registrations --natted 2>/dev/null) || return 1
  jget "$out" "','.join(sorted(r['aor'] for r in d['registrations']))"
}

# --- (a) kill -9 of the control plane ----------------------------------------

st_reg lan reg_alice "$ALICE" alice "$PW_ALICE"; rc_a=$?
st_reg ln2 reg_carol "$CAROL" carol "$PW_CAROL"; rc_c=$?
st_reg pub reg_bob "$BOB" bob "$PW_BOB"; rc_b=$?
rl_check registered "alice=$rc_a carol=$rc_c bob=$rc_b" test $((rc_a + rc_c + rc_b)) -eq 0
rl_check bindings_before "$(bindings) bindings" test "$(bindings)" == 3
# A NAT'd binding's target comes once its NAT timeout is learned; then the
# phones re-register as they would within the 60 s a learning binding gets.
st_wait_learned 30 alice carol
st_reg lan reg_alice2 "$ALICE" alice "$PW_ALICE" || rl_log "alice did not re-register"
st_reg ln2 reg_carol2 "$CAROL" carol "$PW_CAROL" || rl_log "carol did not re-register"
rl_check keepalives_before "$(keepalive_targets) targets" test "$(keepalive_targets)" == 2

st_restart_control || rl_die "the control plane did not come back after kill -9"
rl_check bindings_after_kill9 "$(bindings) bindings" test "$(bindings)" == 3
rl_check natted_after_kill9 "natted: $(natted_aors)" test "$(natted_aors)" == "alice@$D,carol@$D"
# ReinstallAll replaced the predecessor's targets: still one per NAT'd binding.
rl_check keepalives_after_kill9 "$(keepalive_targets) targets" test "$(keepalive_targets)" == 2

call in_alice pub "$BOB" bob lan "$ALICE" alice
rl_check incoming_call_alice_after_kill9 "bob -> alice through the NAT" test $? -eq 0
call in_carol pub "$BOB" bob ln2 "$CAROL" carol
rl_check incoming_call_carol_after_kill9 "bob -> carol through the other NAT" test $? -eq 0
call out_alice lan "$ALICE" alice pub "$BOB" bob
rl_check call_to_bob_after_kill9 "alice -> bob" test $? -eq 0

# --- (b) kill -9 of the dataplane during a call ------------------------------

ST_SIPP_TIMEOUT_S=60 st_sipp_bg lan long_uas "$SCN/sip_proxy_uas_call.xml" "$ALICE" - \
  -key user alice -mp 42000
long_uas=$ST_SIPP_PID
st_sipp_ready lan "${ALICE##*:}" || rl_log "long_uas not bound"
ST_SIPP_TIMEOUT_S=60 st_sipp_bg pub long_uac "$SCN/restart_uac_long_call.xml" "$BOB" \
  "$RELAY_EP" -key user bob -key callee alice -au bob -ap "$PW_BOB" -auth_uri "alice@$D" \
  -mp 41000 -d 25000
long_uac=$ST_SIPP_PID
relays() {  # the relay endpoints of every stream, sorted
  local out
  out=$(dctl streams 2>/dev/null) || return 1
  jget "$out" "' '.join(sorted(s['relay'] for s in d['streams']))"
}
rl_wait_for 15 bash -c "[[ -n \"\$($ST_CTL --socket $DP_SOCK --json streams 2>/dev/null | \
  python3 -c 'import json,sys; print(\" \".join(s[\"relay\"] for s in json.load(sys.stdin)[\"streams\"]))')\" ]]" \
  || rl_log "no streams for the long call"
before=$(relays)
rl_check long_call_up "streams at $before" test -n "$before"

st_kill_dataplane KILL
st_start_dataplane || rl_die "the dataplane did not come back"
# The control plane notices on its next call or event poll and re-pushes.
rl_wait_for 15 bash -c "[[ \$($ST_CTL --control-socket $CTL_SOCK --json sip-stats | \
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"dataplane_connected\"] and d[\"proxy\"][\"pairs_repushed\"] > 0)') == True ]]" \
  || rl_log "no re-push seen"
after=$(relays)
rl_check repushed_same_relay_ports "before: $before; after: $after" test -n "$after" -a "$before" == "$after"
rl_check keepalives_repushed "$(keepalive_targets) targets" test "$(keepalive_targets)" == 2

st_sipp_wait "$long_uac" 70; rc_uac=$?
st_sipp_wait "$long_uas" 70; rc_uas=$?
rl_check long_call_bye_after_dataplane_restart "uac=$rc_uac uas=$rc_uas" \
  test $((rc_uac + rc_uas)) -eq 0
rl_wait_for 5 bash -c "[[ -z \"\$($ST_CTL --socket $DP_SOCK --json streams 2>/dev/null | \
  python3 -c 'import json,sys; print(\" \".join(s[\"relay\"] for s in json.load(sys.stdin)[\"streams\"]))')\" ]]" >/dev/null
rl_check streams_deleted_after_bye "streams: '$(relays)'" test -z "$(relays)"

# --- (c) the dataplane unreachable: 503, registrations still served ----------
# (Killing the dataplane would take the relay's address with it: its tap is
# the host's only way in. Its control socket is what the control plane
# needs, so the control plane is restarted pointing at a socket nobody
# serves.)

real_dp_sock="$DP_SOCK"
DP_SOCK="$RL_TMP/nobody-serves-this.sock"
st_restart_control 0 || rl_die "the control plane did not start without a dataplane"
DP_SOCK="$real_dp_sock"
# A caller from another domain (not challenged) calls alice.
st_sipp pub down_503 "$SCN/sip_proxy_invite_rejected.xml" "$BOB_IP:5090" "$RELAY_EP" \
  -key user carl -key from_domain elsewhere.test -key callee alice -key to_domain "$D"
rc=$?
m=$(st_msg down_503 received '^SIP/2.0 503 ' 2>/dev/null)
rl_check call_503_dataplane_unreachable "sipp rc=$rc" test -n "$m"
warning=$(st_hdr "$m" Warning 2>/dev/null)
rl_check call_503_warning "$warning" grep -qi dataplane <<<"$warning"
st_reg lan reg_alice_down "$ALICE" alice "$PW_ALICE"
rl_check register_while_dataplane_unreachable "REGISTER rc=$?" test $? -eq 0
st_restart_control || rl_die "the control plane did not reconnect to the dataplane"
call after_503 pub "$BOB" bob lan "$ALICE" alice
rl_check call_after_dataplane_back "bob -> alice" test $? -eq 0

rl_summary "$SUITE"
