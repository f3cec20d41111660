#!/usr/bin/env bash
# Calls the phones never end are ended by the proxy (design.md: dataplane
# idle events; issue 5: "A dataplane idle-timeout event ends the call on
# both sides with BYE", "dialog timeouts delete streams").
#
#   media_timeout_test.sh
#
# Two dialog timeouts that end calls the phones never end themselves.
#
# (a) alice (behind a NAT) and bob (public) register; bob calls alice; neither
# sends RTP. The dataplane runs with idle_timeout_s=3: after the timeout
# rtplatch-control must send a BYE to each phone (both sipp scenarios wait
# for it and answer 200), give the reason ("media timeout"), count the call
# as ended by idle, and delete the streams.
# (b) RFC 3261 timer C, with max_ringing_s=4: bob calls alice, whose phone
# rings (180) and never answers; the proxy CANCELs the branch, bob gets 487,
# alice's phone gets the CANCEL, and the streams are deleted.
#
# Output: "PASS name" / "FAIL name" per check, then
# "media_timeout: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=media_timeout

export ST_IDLE_TIMEOUT_S=3
export ST_CONTROL_EXTRA='"max_ringing_s": 4'
# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-mt$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
ALICE=192.0.2.2:5060
BOB_IP=203.0.113.20
BOB="$BOB_IP:5060"
PW_ALICE='alice-pw-1'; PW_BOB='bob-pw-2'
st_add_user alice "$PW_ALICE"
st_add_user bob "$PW_BOB"

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
st_add_public_phone pub pb "$BOB_IP/24"

stat() {  # stat KEY: a proxy counter from sip-stats
  jget "$(cctl sip-stats)" "d['proxy']['$1']"
}
streams() { jget "$(dctl streams)" "len(d['streams'])"; }

st_reg lan reg_alice "$ALICE" alice "$PW_ALICE"; rc_a=$?
st_reg pub reg_bob "$BOB" bob "$PW_BOB"; rc_b=$?
rl_check registered "alice=$rc_a bob=$rc_b" test $((rc_a + rc_b)) -eq 0

# The callee waits for the BYE (sip_proxy_uas_call.xml expects one after
# the ACK); the caller too (timeout_uac_silent_call.xml).
ST_SIPP_TIMEOUT_S=40 st_sipp_bg lan silent_uas "$SCN/sip_proxy_uas_call.xml" "$ALICE" - \
  -key user alice -mp 42000
uas=$ST_SIPP_PID
st_sipp_ready lan "${ALICE##*:}" || rl_log "silent_uas not bound"
start=$(date +%s)
ST_SIPP_TIMEOUT_S=40 st_sipp pub silent_uac "$SCN/timeout_uac_silent_call.xml" "$BOB" "$RELAY_EP" \
  -key user bob -key callee alice -au bob -ap "$PW_BOB" -auth_uri "alice@$D" -mp 41000
rc_uac=$?
st_sipp_wait "$uas" 50; rc_uas=$?
took=$(( $(date +%s) - start ))
rl_check caller_got_bye "uac rc=$rc_uac" test "$rc_uac" -eq 0
rl_check callee_got_bye "uas rc=$rc_uas" test "$rc_uas" -eq 0
bye=$(st_msg silent_uac received '^BYE ' 2>/dev/null)
reason=$(st_hdr "$bye" Reason 2>/dev/null)
rl_check bye_says_why "Reason: $reason" grep -q 'media timeout' <<<"$reason"
# Idle after 3 s of silence, reported within the dataplane's scan period.
rl_check ended_after_the_timeout "call ended after ${took}s (idle timeout ${ST_IDLE_TIMEOUT_S}s)" \
  test "$took" -ge "$ST_IDLE_TIMEOUT_S" -a "$took" -le 25
rl_check counted_as_idle "calls_ended_idle=$(stat calls_ended_idle)" test "$(stat calls_ended_idle)" == 1
rl_check no_calls_left "calls=$(jget "$(cctl calls)" "d['total']")" \
  test "$(jget "$(cctl calls)" "d['total']")" == 0
rl_check streams_deleted "streams=$(streams)" test "$(streams)" == 0

# --- (b) timer C --------------------------------------------------------------

ST_SIPP_TIMEOUT_S=40 st_sipp_bg lan ring_uas "$SCN/sip_proxy_uas_cancel.xml" "$ALICE" - \
  -key user alice -mp 42000
uas=$ST_SIPP_PID
st_sipp_ready lan "${ALICE##*:}" || rl_log "ring_uas not bound"
start=$(date +%s)
ST_SIPP_TIMEOUT_S=40 st_sipp pub ring_uac "$SCN/timeout_uac_ring_forever.xml" "$BOB" "$RELAY_EP" \
  -key user bob -key callee alice -au bob -ap "$PW_BOB" -auth_uri "alice@$D" -mp 41000
rc_uac=$?
st_sipp_wait "$uas" 50; rc_uas=$?
took=$(( $(date +%s) - start ))
rl_check ring_timeout_caller_487 "uac rc=$rc_uac after ${took}s" test "$rc_uac" -eq 0
rl_check ring_timeout_callee_cancelled "uas rc=$rc_uas" test "$rc_uas" -eq 0
rl_check ring_timeout_after_max_ringing "${took}s (max_ringing_s 4)" test "$took" -ge 4 -a "$took" -le 15
rl_check ring_timeout_counted "calls_ring_timeout=$(stat calls_ring_timeout)" \
  test "$(stat calls_ring_timeout)" == 1
rl_check ring_timeout_streams_deleted "streams=$(streams)" test "$(streams)" == 0

rl_summary "$SUITE"
