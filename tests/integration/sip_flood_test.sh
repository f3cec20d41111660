#!/usr/bin/env bash
# The SIP front door under attack (issue 16): while one host floods
# REGISTER and another INVITE with sipp, far above what any phone sends, a
# third guesses a phone's password and a fourth scans, our phones register
# and call with audio both ways; the flooders, the guesser and the scanner
# are stopped by the guard on the shipped defaults.
#
#   sip_flood_test.sh
#
# Network (namespaces; documentation prefixes only):
#   relay   rtplatch at 203.0.113.10 (dataplane + control), shipped
#           defaults but for one exempt prefix: "guard": {"exempt":
#           ["203.0.113.70/32"]} (a monitoring host)
#   alice   sipp phone behind MASQUERADE (203.0.113.30), 440 Hz
#   bob     sipp phone, public (203.0.113.20), 1000 Hz
#   fl1     203.0.113.66: sipp, REGISTER flood, 2000/s for 15 s
#   fl2     203.0.113.67: sipp, INVITE flood (to nobody@), 2000/s for 15 s
#   gs      203.0.113.68: a password guesser (sip_attacker.py guess): one
#           REGISTER for bob, then 13 with a real digest of wrong passwords
#   sc      203.0.113.69: a scanner: one OPTIONS as "monitoring/1.0", then
#           5 as "friendly-scanner"
#   mon     203.0.113.70 (exempt) and bu 203.0.113.71 (not): 150 OPTIONS
#           each as fast as they go
# Checks:
#   1. during the floods alice registers again and calls bob, bob calls
#      alice: each connects and each side hears the other's tone;
#   2. both flooders are banned (rtplatchctl bans: "flood: over 40
#      REGISTER ...", "over 20 INVITE ..."), at most a window's worth of
#      their requests was let through, the rest dropped before parsing;
#   3. the guesser's first 9 wrong digests are challenged (401), the 10th
#      is refused (403, the shipped 10 failures per source), and nothing
#      after it is answered; it is banned for failed authentication;
#   4. the scanner's ordinary OPTIONS is answered, none of its
#      friendly-scanner ones are; the drops are counted;
#   5. the exempt host's burst is answered in full; the same burst from the
#      next address is cut at the rate limit and that host banned
#      (negative control: the limit is what stops it);
#   6. `rtplatchctl unban` lets the guesser in again (its OPTIONS answered);
#   7. overload (none so far: the floods above were the guard's): a swarm
#      from 16384 IPv6 /64s (sip_swarm.py in ov, 2001:db8:ff00::/48), each
#      within the guard's limits, sends new INVITEs and REGISTERs as fast
#      as it can for 12 s, starting once a held call between alice and bob
#      is up; the control plane sheds: the call's re-INVITEs and BYE still
#      pass (it ends cleanly, tones heard both ways), the swarm's INVITEs
#      get 503 with Retry-After, its REGISTERs are dropped (counted); when
#      the swarm stops the shedding ends and a new call connects;
#   8. rtplatch-control stayed up; its resident memory grew by < 32 MB.
# Output: "PASS name" / "FAIL name" per check, then
# "sip_flood: N passed, N failed". Exit 77 when it cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=sip_flood
ATTACKER="$HERE/sip_attacker.py"
FLOOD_RATE=2000
FLOOD_CALLS=30000

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-fl$$}"
D="$ST_DOMAIN"
RELAY="$ST_RELAY_IP:$ST_SIP_PORT"
ST_REGISTRAR_JSON='{}'
ST_CONTROL_EXTRA='"guard": {"exempt": ["203.0.113.70/32"]}'
declare -A MAKE=([alice]=sipp [bob]=sipp)
declare -A ROLE=([alice]=lan [bob]=pb)
declare -A ADDR=([alice]=192.0.2.2 [bob]=203.0.113.20)
declare -A EP=([alice]=192.0.2.2:5060 [bob]=203.0.113.20:5060)
declare -A REMOTE=([alice]=$RELAY [bob]=$RELAY)
declare -A TONE=([alice]=440 [bob]=1000)
declare -A PW=([alice]=alice-fl-1 [bob]=bob-fl-2)
for u in alice bob; do st_add_user "$u" "${PW[$u]}"; done

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone pb pb 203.0.113.20/24
for h in "fl1 66" "fl2 67" "gs 68" "sc 69" "mon 70" "bu 71"; do
  st_add_public_phone "${h% *}" "${h% *}" "203.0.113.${h#* }/24"
done
TC_SNAP="$RL_TMP/snap.sh"
printf '#!/bin/sh\nexit 0\n' >"$TC_SNAP"; chmod +x "$TC_SNAP"

guard() { jget "$(cctl sip-stats 2>/dev/null)" "d['guard']['$1']" 2>/dev/null; }
overload() { jget "$(cctl sip-stats 2>/dev/null)" "d['overload']['$1']" 2>/dev/null; }
not_overloaded() { [[ $(overload overloaded) == False ]]; }
# Shedding off in two looks a second apart: the queue has drained.
drained() { not_overloaded && sleep 1 && not_overloaded; }
ban_reason() {
  jget "$(cctl bans 2>/dev/null)" \
    "next((b['reason'] for b in d['bans'] if b['source'] == '$1'), '')" 2>/dev/null
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$CTL_PID/status" 2>/dev/null || echo 0; }
attack() { rl_exec "$1" python3 "$ATTACKER" "${@:2}"; }

rl_check alice_registered "200 to its REGISTER (digest)" tc_register alice
rl_check bob_registered "200 to its REGISTER (digest)" tc_register bob
st_wait_learned 30 alice
rss_before=$(rss_kb)

# The floods: sipp, one request per "call", answers ignored.
flood() {
  rl_spawn "$1" "$RL_TMP/$1.out" timeout 40 sipp -sf "$ST_SCENARIOS/$2" -i "$3" -p 5060 -t u1 \
    -r "$FLOOD_RATE" -m "$FLOOD_CALLS" -l "$FLOOD_CALLS" -nostdin -key domain "$D" \
    -key callee nobody "$RELAY"
}
flood fl1 flood_register.xml 203.0.113.66; pid_reg=$RL_LAST_PID
flood fl2 flood_invite.xml 203.0.113.67; pid_inv=$RL_LAST_PID
sleep 2

# 1. Our phones, during the floods.
rl_check alice_registered_during_flood "200 to its REGISTER" tc_register alice
tc_call alice_to_bob alice bob
tc_check_heard alice_to_bob alice bob "alice -> bob during the floods"
tc_call bob_to_alice bob alice
tc_check_heard bob_to_alice bob alice "bob -> alice during the floods"

# 3., 4. and 5., still during the floods.
guessed=$(attack gs guess 203.0.113.68 "$ST_RELAY_IP" 5060 bob "$D" 13)
rl_log "$guessed"
want="guess answers 401 401 401 401 401 401 401 401 401 403 - - -"
rl_check guesser_refused_at_the_limit "'$guessed' (want '$want')" test "$guessed" == "$want"
rl_check guesser_banned "ban: '$(ban_reason 203.0.113.68)'" \
  bash -c "[[ '$(ban_reason 203.0.113.68)' == auth:* ]]"
scanned=$(attack sc scan 203.0.113.69 "$ST_RELAY_IP" 5060 5)
rl_check scanner_unanswered "$scanned" test "$scanned" == "scan control_answered=1 scanner_answered=0"
mon=$(attack mon burst 203.0.113.70 "$ST_RELAY_IP" 5060 150)
rl_check exempt_burst_answered "$mon" test "$mon" == "burst sent=150 answered=150"
bu=$(attack bu burst 203.0.113.71 "$ST_RELAY_IP" 5060 150)
bu_answered=${bu##*answered=}
rl_check burst_cut_at_the_limit "$bu (other_per_window 80)" \
  test "${bu_answered:-999}" -ge 70 -a "${bu_answered:-999}" -le 80
rl_check burst_source_banned "ban: '$(ban_reason 203.0.113.71)'" \
  bash -c "[[ '$(ban_reason 203.0.113.71)' == flood:* ]]"

rl_wait "$pid_reg" 40 >/dev/null; rl_wait "$pid_inv" 40 >/dev/null
sent_reg=$(grep -Eo 'Successful call +\| +[0-9]+ +\| +[0-9]+' "$RL_TMP/fl1.out" | awk '{print $NF}' | tail -1)
rl_log "REGISTER flood: sipp sent ${sent_reg:-?}; guard: $(jget "$(cctl sip-stats 2>/dev/null)" "d['guard']" 2>/dev/null)"

# 2. The flooders.
rl_check register_flooder_banned "ban: '$(ban_reason 203.0.113.66)'" \
  bash -c "[[ '$(ban_reason 203.0.113.66)' == 'flood: over 40 REGISTER in 2000 ms' ]]"
rl_check invite_flooder_banned "ban: '$(ban_reason 203.0.113.67)'" \
  bash -c "[[ '$(ban_reason 203.0.113.67)' == 'flood: over 20 INVITE in 2000 ms' ]]"
dropped=$(guard dropped_banned)
rl_check floods_dropped_before_parsing "dropped_banned=$dropped of $((2 * FLOOD_CALLS)) sent" \
  test "${dropped:-0}" -ge $((2 * FLOOD_CALLS * 9 / 10))
rl_check drops_counted "flood_bans=$(guard flood_bans) auth_bans=$(guard auth_bans) dropped_scanner=$(guard dropped_scanner)" \
  test "$(guard flood_bans)" -eq 3 -a "$(guard auth_bans)" -eq 1 -a "$(guard dropped_scanner)" -eq 5

# 6. Unban.
unbanned=$(jget "$(cctl unban 203.0.113.68 2>&1)" "d['unbanned']" 2>&1)
rl_check unban_lifts_the_ban "unbanned $unbanned; ban left: '$(ban_reason 203.0.113.68)'" \
  bash -c "[[ -z '$(ban_reason 203.0.113.68)' ]]"
again=$(attack gs burst 203.0.113.68 "$ST_RELAY_IP" 5060 1)
rl_check guesser_answered_after_unban "$again" test "$again" == "burst sent=1 answered=1"

# 7. Overload: more than one control plane serves, from more sources than
# per-source limits can stop.
rl_check no_shedding_before "overloads=$(overload overloads) (the floods so far were the guard's)" \
  test "$(overload overloads)" -eq 0
st_add_public_phone ov ov 203.0.113.72/24 2001:db8::72/64
ip -n "$(rl_ns ov)" -6 route add local 2001:db8:ff00::/48 dev lo
ip -n "$(rl_ns "$RL_RELAY_ROLE")" -6 route add 2001:db8:ff00::/48 via 2001:db8::72
swarm_start="$RL_TMP/swarm.start"
rl_spawn ov "$RL_TMP/swarm.out" python3 "$HERE/sip_swarm.py" 2001:db8:ff00 16384 \
  "$ST_RELAY_IP6" 5060 12 "$swarm_start"
pid_swarm=$RL_LAST_PID
# The swarm starts when the call is up: its in-dialog requests fall inside.
printf '#!/bin/sh\n[ "$1 $2" = "overload_call up" ] && touch %s\nexit 0\n' "$swarm_start" >"$TC_SNAP"
tc_call overload_call alice bob hold
tc_check_heard overload_call alice bob "set up before the overload; held, resumed and ended during it"
rl_wait "$pid_swarm" 40 >/dev/null
swarm=$(tail -1 "$RL_TMP/swarm.out")
rl_log "$swarm; overload: $(jget "$(cctl sip-stats 2>/dev/null)" "d['overload']" 2>/dev/null)"
swarm_field() { grep -Eo "$1=[0-9]+" <<<"$swarm" | cut -d= -f2; }
rl_check shedding_engaged "overloads=$(overload overloads) max_delay_ms=$(overload max_delay_ms)" \
  test "$(overload overloads)" -ge 1
rl_check in_dialog_passed_while_shedding "passed_in_dialog=$(overload passed_in_dialog)" \
  test "$(overload passed_in_dialog)" -ge 3
rl_check new_requests_got_503_retry_after "$swarm" \
  test "$(swarm_field answered_503)" -ge 100 -a \
  "$(swarm_field with_retry_after)" -eq "$(swarm_field answered_503)"
rl_check registers_refused_counted "refused_registers=$(overload refused_registers) refused_invites=$(overload refused_invites)" \
  test "$(overload refused_registers)" -ge 100 -a \
  "$(($(overload refused_invites) + $(overload refused_registers)))" -ge "$(swarm_field answered_503)"
rl_check swarm_not_banned "flood_bans=$(guard flood_bans) (16384 sources, each within its limits)" \
  test "$(guard flood_bans)" -eq 3
rl_check shedding_ends "the queue drained within 20 s of the swarm's end" rl_wait_for 20 drained
printf '#!/bin/sh\nexit 0\n' >"$TC_SNAP"
tc_call after_overload bob alice
tc_check_heard after_overload bob alice "a new call once the swarm stopped"

# 8. Still up, memory bounded.
rss_after=$(rss_kb)
rl_check control_plane_up "pid $CTL_PID" kill -0 "$CTL_PID"
# Each of the swarm's requests that was served (challenged) keeps its
# answer for a retransmission for 32 s (Timer J), in a ring of at most
# 131072 answers (sip_transactions.h): that, not a leak, is the growth.
rl_check memory_bounded "VmRSS ${rss_before} kB -> ${rss_after} kB" \
  test $((rss_after - rss_before)) -lt $((256 * 1024))
rl_wait_for 5 st_no_streams_left
rl_check streams_freed "$(st_streams_left) streams left" st_no_streams_left

rl_summary "$SUITE"
