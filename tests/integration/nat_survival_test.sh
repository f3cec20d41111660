#!/usr/bin/env bash
# NAT bindings kept alive by the dataplane's keepalives, end to end
# (design.md rule 5 and the failure mode "NAT UDP timeout shorter than the
# keepalive interval"; issue 6 scenarios 5 and 6, issue 13).
#
#   nat_survival_test.sh
#
# Four phones behind four Linux NATs whose UDP mappings expire after 10 s
# of silence, on the shipped registrar and NAT policy defaults except two
# User-Agent rules an operator would write:
#   alice  "fast-keepalive" rule: every 3 s, at or below the 5 s floor, so
#          nothing to learn: the target is there at once -> after 25 s of
#          silence an incoming call still rings her
#   dave   "no-keepalive" rule (negative control) -> the same call never
#          reaches him: the mapping really died
#   carol  sipp behind MASQUERADE --random-fully: her NAT timeout is
#          learned (she answers no probe: the 5 s floor), she re-registers
#          within the 60 s a learning binding gets, and bob's call after
#          the silence rings her
#   fran   baresip (answers the probes) behind her own --random-fully NAT:
#          the 5 s probe is answered, the 10 s one is not (the NAT dropped
#          the mapping), so 5 s is learned; her next REGISTER comes from a
#          new port (the dead mapping's successor), the dataplane's target
#          follows it, and bob's call after the silence is answered by her.
#
# Output: "PASS name" / "FAIL name" per check, then
# "nat_survival: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp/baresip missing). About 2 min.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=nat_survival
NAT_TIMEOUT_S=10
SILENCE_S=25

export ST_REGISTRAR_JSON='{}'
export ST_CONTROL_EXTRA='"nat_policy": {"by_user_agent": [{"user_agent": "fast-keepalive*", "policy": "default", "keepalive_interval_s": 3},
                      {"user_agent": "no-keepalive*", "policy": "default", "keepalive": "never"}]}'
# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
st_main "$SUITE" "$0" "$@"
if ! why=$(bp_missing); then echo "SKIP $SUITE: $why"; exit 77; fi

st_init "${RL_PREFIX:-ns$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
ALICE=192.0.2.2:5060
CAROL=198.51.100.2:5060
DAVE=192.0.2.66:5060
BOB_IP=203.0.113.20
BOB="$BOB_IP:5060"
FRAN_IP=192.0.2.130
PW_ALICE=alice-ns-1; PW_CAROL=carol-ns-2; PW_DAVE=dave-ns-3; PW_BOB=bob-ns-4; PW_FRAN=fran-ns-5
for u in alice carol dave bob fran; do pw_var="PW_${u^^}"; st_add_user "$u" "${!pw_var}"; done

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain "$NAT_TIMEOUT_S"
st_add_nat_phone nt2 ln2 203.0.113.31/24 198.51.100.1/24 198.51.100.2/24 random-fully "$NAT_TIMEOUT_S"
st_add_nat_phone nt3 ln3 203.0.113.32/24 192.0.2.65/26 192.0.2.66/26 plain "$NAT_TIMEOUT_S"
st_add_nat_phone nt4 ln4 203.0.113.33/24 192.0.2.129/26 "$FRAN_IP/26" random-fully "$NAT_TIMEOUT_S"
st_add_public_phone pub pb "$BOB_IP/24"

reg_ua() {  # reg_ua ROLE NAME LOCAL USER PASSWORD USER_AGENT
  st_sipp "$1" "$2" "$SCN/register_as_user_agent.xml" "$3" "$RELAY_EP" -key user "$4" \
    -key expires 600 -key ua "$6" -au "$4" -ap "$5"
}
binding() {  # binding USER EXPR: a field of USER's binding
  jget "$(cctl registration "$1@$D")" "d['bindings'][0]$2"
}
target_interval() {  # the dataplane keepalive target's interval for USER ('' if none)
  jget "$(dctl keepalives)" \
    "next((k['interval_ms'] for k in d['keepalives'] if k.get('label') == 'rc-ka:$1@$D'), '')"
}

st_register pub reg_bob "$BOB" "$RELAY_EP" bob "$PW_BOB"
reg_ua lan reg_alice "$ALICE" alice "$PW_ALICE" fast-keepalive-phone/1.0; rc_a=$?
reg_ua ln3 reg_dave "$DAVE" dave "$PW_DAVE" no-keepalive-phone/1.0; rc_d=$?
st_register ln2 reg_carol1 "$CAROL" "$RELAY_EP" carol "$PW_CAROL"; rc_c=$?
bp_start ln4 fran fran "$PW_FRAN" "$FRAN_IP" 700 && bp_wait_registered fran 10
rc_f=$?
rl_check registered "alice=$rc_a dave=$rc_d carol=$rc_c fran=$rc_f" \
  test $((rc_a + rc_d + rc_c + rc_f)) -eq 0
rl_check alice_keepalive_3s "$(binding alice "['keepalive_interval_ms']") ms, target '$(target_interval alice)'" \
  test "$(binding alice "['keepalive_interval_ms']")" == 3000 -a "$(target_interval alice)" == 3000
rl_check dave_no_keepalive "interval $(binding dave "['keepalive_interval_ms']"), target '$(target_interval dave)'" \
  test "$(binding dave "['keepalive_interval_ms']")" == 0 -a -z "$(target_interval dave)"
for u in carol fran; do
  rl_check "${u}_nat_timeout_being_learned" "learning=$(binding $u "['keepalive_learning']"), target '$(target_interval $u)'" \
    test "$(binding $u "['keepalive_learning']")" == True -a -z "$(target_interval $u)"
done
fran1=$(binding fran "['source']")
fran_cseq=$(binding fran "['cseq']")

# --- the learning: the probes find each NAT's timeout -----------------------
learned() { [[ $(binding "$1" "['keepalive_learning']") == False ]]; }
rl_wait_for 60 learned carol || rl_log "carol: still learning"
rl_wait_for 90 learned fran || rl_log "fran: still learning"
for u in carol fran; do
  rl_check "${u}_learned_below_the_nat_timeout" \
    "$(binding $u "['keepalive_interval_ms']") ms: $(binding $u "['keepalive_reason']")" \
    test "$(binding $u "['keepalive_interval_ms']")" -lt $((NAT_TIMEOUT_S * 1000))
done
rl_check fran_answered_a_probe "$(binding fran "['keepalive_reason']")" \
  grep -q "NAT held 5 s" <<<"$(binding fran "['keepalive_reason']")"
# carol re-registers as a phone does within its 60 s; fran on her own.
st_register ln2 reg_carol2 "$CAROL" "$RELAY_EP" carol "$PW_CAROL" || rl_log "carol: re-REGISTER failed"
refreshed() { [[ $(binding fran "['cseq']") != "$fran_cseq" ]]; }
rl_wait_for 70 refreshed || rl_log "fran: no refresh within 70 s"
fran2=$(binding fran "['source']")
rl_log "fran: source $fran1 -> $fran2: $(binding fran "['keepalive_reason']")"
fran_target=$(jget "$(dctl keepalives)" \
  "next((k['target'] for k in d['keepalives'] if k.get('label') == 'rc-ka:fran@$D'), '')")
rl_check fran_target_follows "dataplane target $(target_interval fran) ms to $fran_target, binding at $fran2" \
  test "$(target_interval fran)" == "$(binding fran "['keepalive_interval_ms']")" -a "$fran_target" == "$fran2"
rl_check carol_target "dataplane target $(target_interval carol) ms" \
  test "$(target_interval carol)" == "$(binding carol "['keepalive_interval_ms']")"

# --- silence, then bob calls everyone ---------------------------------------
rl_log "silence for ${SILENCE_S}s (NAT UDP timeout ${NAT_TIMEOUT_S}s)"
sleep "$SILENCE_S"
st_call to_alice pub "$BOB" "$RELAY_EP" bob "$PW_BOB" lan "$ALICE" alice
rl_check alice_rings_after_silence "uac=$ST_UAC_RC uas=$ST_UAS_RC" \
  test "$ST_UAC_RC" -eq 0 -a "$ST_UAS_RC" -eq 0
st_call to_carol pub "$BOB" "$RELAY_EP" bob "$PW_BOB" ln2 "$CAROL" carol
rl_check carol_rings_after_silence "uac=$ST_UAC_RC uas=$ST_UAS_RC" \
  test "$ST_UAC_RC" -eq 0 -a "$ST_UAS_RC" -eq 0
bp_mark fran
# (PCMA, what fran accepts: e2e_uac.xml with bob's tone.)
st_sipp pub to_fran "$(st_tone_scenario "$SCN/e2e_uac.xml" 1000)" "$BOB" "$RELAY_EP" -key user bob \
  -key callee fran -au bob -ap "$PW_BOB" -auth_uri "fran@$D" -mp 41000 -key snap true
rc=$?
bp_wait_established fran 5; rc_est=$?
rl_check fran_answers_after_silence "bob's call rc=$rc, established at fran: $((rc_est == 0))" \
  test "$rc" -eq 0 -a "$rc_est" -eq 0
# Negative control: dave's mapping is gone, so the INVITE is dropped by his
# NAT and his phone never sees it (both sipp runs give up after 8 s).
ST_SIPP_TIMEOUT_S=8 st_call to_dave pub "$BOB" "$RELAY_EP" bob "$PW_BOB" ln3 "$DAVE" dave
rl_check dave_unreachable_without_keepalives "INVITEs at dave: $(st_msg_count to_dave_uas received '^INVITE ')" \
  test "$(st_msg_count to_dave_uas received '^INVITE ')" == 0
# ... while the proxy did take it (the authenticated INVITE got its 100
# Trying, as the first one did before the 407; nothing refused it).
rl_check dave_invite_was_sent "$(st_msg_count to_dave_uac received '^SIP/2.0 100 ') x 100 Trying" \
  test "$(st_msg_count to_dave_uac received '^SIP/2.0 100 ')" -ge 2

rl_summary "$SUITE"
