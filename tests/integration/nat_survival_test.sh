#!/usr/bin/env bash
# NAT bindings kept alive by the dataplane's keepalives, end to end
# (design.md rule 5 and the failure mode "NAT UDP timeout shorter than the
# keepalive interval"; issue 6 scenarios 5 and 6).
#
#   nat_survival_test.sh
#
# Three phones behind three Linux NATs whose UDP mappings expire after 10 s
# of silence; the NAT policy is chosen by User-Agent:
#   alice  keepalives every 3 s            -> after 25 s of silence an
#                                             incoming call still rings her
#   dave   keepalives off (negative control) -> the same call never reaches
#                                             him: the mapping really died
#   carol  keepalives every 30 s, behind MASQUERADE --random-fully, so a
#          dead mapping comes back on a new port: each re-REGISTER after the
#          mapping died halves her interval (30 s -> 15 s -> 7.5 s, the
#          registrar's adaptive interval), the dataplane's target follows,
#          and then an incoming call after 25 s of silence rings her.
#   fran   baresip (the second phone make) on carol's path: her own
#          --random-fully NAT and a 24 s registration interval, so her own
#          re-REGISTERs come after her mapping died (until the interval
#          has shrunk below the NAT's timeout): the same halving, and bob's
#          call after the silence is answered by her.
#
# Output: "PASS name" / "FAIL name" per check, then
# "nat_survival: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp/baresip missing). About 90 s.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=nat_survival
NAT_TIMEOUT_S=10
SILENCE_S=25

export ST_REGISTRAR_JSON='{"min_expires": 10, "keepalive_min_interval_ms": 2000}'
export ST_CONTROL_EXTRA='"nat_policy": {"default": {"policy": "default", "keepalive_interval_s": 30},
    "by_user_agent": [{"user_agent": "fast-keepalive*", "policy": "default", "keepalive_interval_s": 3},
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
BP_REGINT=24 bp_start ln4 fran fran "$PW_FRAN" "$FRAN_IP" 700 && bp_wait_registered fran 10
rc_f=$?
rl_check registered "alice=$rc_a dave=$rc_d carol=$rc_c fran=$rc_f" \
  test $((rc_a + rc_d + rc_c + rc_f)) -eq 0
rl_check alice_keepalive_3s "$(binding alice "['keepalive_interval_ms']") ms" \
  test "$(binding alice "['keepalive_interval_ms']")" == 3000
rl_check dave_no_keepalive "interval $(binding dave "['keepalive_interval_ms']"), target '$(target_interval dave)'" \
  test "$(binding dave "['keepalive_interval_ms']")" == 0 -a -z "$(target_interval dave)"
rl_check carol_keepalive_30s "$(binding carol "['keepalive_interval_ms']") ms" \
  test "$(binding carol "['keepalive_interval_ms']")" == 30000
rl_check fran_keepalive_30s "$(binding fran "['keepalive_interval_ms']") ms" \
  test "$(binding fran "['keepalive_interval_ms']")" == 30000
port1=$(binding carol "['source']")
fran1=$(binding fran "['source']")

# --- the adaptive interval: carol's and fran's mappings die under 30 s ------
for round in 2 3; do
  sleep $((NAT_TIMEOUT_S + 3))
  st_register ln2 "reg_carol$round" "$CAROL" "$RELAY_EP" carol "$PW_CAROL"
done
# fran re-REGISTERs on her own: the first REGISTER and two refreshes.
rl_wait_for 40 _bp_more fran "$_BP_REGISTERED" 2 || rl_log "fran: fewer than two refreshes"
port3=$(binding carol "['source']")
ka=$(binding carol "['keepalive_interval_ms']")
why=$(binding carol "['keepalive_reason']")
rl_check carol_new_source_ports "first $port1, now $port3" test "$port1" != "$port3"
rl_check carol_interval_halved_twice "$ka ms ($why)" test "$ka" == 7500
rl_check carol_target_follows "dataplane target $(target_interval carol) ms" \
  test "$(target_interval carol)" == 7500
fran3=$(binding fran "['source']")
ka=$(binding fran "['keepalive_interval_ms']")
rl_check fran_new_source_ports "first $fran1, now $fran3" test "$fran1" != "$fran3"
rl_check fran_interval_halved_twice "$ka ms ($(binding fran "['keepalive_reason']"))" \
  test "$ka" == 7500
rl_check fran_target_follows "dataplane target $(target_interval fran) ms" \
  test "$(target_interval fran)" == 7500

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
