#!/usr/bin/env bash
# Two baresip softphones call each other through rtplatch: one behind a
# Linux NAT, one on the internet segment; each hears the other's tone.
#
#   baresip_call_test.sh
#
# Phones (baresip 1.0, scripts/lib/baresip_phone.sh; digest auth; PCMA):
#   erin  behind a port-preserving MASQUERADE (192.0.2.2), sends 440 Hz
#   bob2  public, no NAT (203.0.113.20), sends 1000 Hz
# Both register; the operator view must show erin behind NAT and bob2 not.
# Then erin calls bob2 (out of the NAT) and bob2 calls erin (into it); the
# callee answers by itself. In each call:
#   - both sides reach "established" and receive RTP from the relay's
#     address (the media is anchored);
#   - after ~4 s the dataplane has relayed > 100 packets each way;
#   - hold (a=sendonly re-INVITE): the callee receives a=sendonly, the
#     caller gets a=recvonly back, and media stops (baresip 1.0 sends
#     nothing while held); resume (a=sendrecv): media flows again both ways
#     through the same streams;
#   - after the BYE both sides see the call closed and the dataplane has
#     no stream left;
#   - each side's recording of what it received (up to the hold) carries
#     the other side's tone (tone.py check-wav).
#
# Output: "PASS name" / "FAIL name" per check, then
# "baresip_call: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, binaries/sipp/baresip missing, or tone.py cannot
# run: it needs python3-numpy).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=baresip_call
TONE_TOOL="$HERE/tone.py"
MIN_PACKETS=100
# The seconds of audio before the hold, and what "flows again" means after
# the resume (50 packets/s each way while it flows).
TALK_S=4
RESUMED_S=1.5
MIN_RESUMED=40
# Packets that may still pass once the hold has been answered (in flight).
MAX_HELD=5

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
st_main "$SUITE" "$0" "$@"
if ! why=$(bp_missing); then echo "SKIP $SUITE: $why"; exit 77; fi
# tone.py runs on its own shebang's python3 (the one with numpy).
if ! "$TONE_TOOL" -h >/dev/null 2>&1; then echo "SKIP $SUITE: $TONE_TOOL cannot run (python3-numpy?)"; exit 77; fi

st_init "${RL_PREFIX:-bc$$}"
D="$ST_DOMAIN"
declare -A PW=([erin]=erin-bs-7 [bob2]=bob2-bs-8)
declare -A TONE=([erin]=440 [bob2]=1000)
for u in erin bob2; do st_add_user "$u" "${PW[$u]}"; done

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone pub pb 203.0.113.20/24
bp_start lan erin erin "${PW[erin]}" 192.0.2.2 "${TONE[erin]}" || rl_die "baresip erin did not start"
bp_start pub bob2 bob2 "${PW[bob2]}" 203.0.113.20 "${TONE[bob2]}" || rl_die "baresip bob2 did not start"

# --- helpers -----------------------------------------------------------------

# snap NAME: the dataplane's streams now, into $RL_TMP/streams-NAME.json.
snap() { dctl streams >"$RL_TMP/streams-$1.json" 2>&1; }
# packets SNAP LEG: packets relayed by leg a (caller -> callee) or b.
packets() {
  jfile "$RL_TMP/streams-$1.json" "sum(s['packets'] for s in d['streams'] if s['leg'] == '$2')" \
    2>/dev/null || echo 0
}
# rtp_source PHONE: where its latest call's RTP came from ("addr:port").
rtp_source() {
  sed -n "s/.*incoming rtp for 'audio' established, receiving from //p" "$(bp_log "$1")" \
    | tail -n 1 | tr -d '\r'
}
# both_from_relay A B: both phones receive their RTP from the relay.
both_from_relay() {
  [[ $(rtp_source "$1") == "$ST_RELAY_IP":* && $(rtp_source "$2") == "$ST_RELAY_IP":* ]]
}
# heard PHONE FREQ: tone.py's verdict on PHONE's latest recording; its
# exit status.
heard() {
  local f
  f=$(bp_recording "$1") || { echo "no recording"; return 1; }
  "$TONE_TOOL" check-wav "$f" --freq "$2" 2>&1
}
both_established() { bp_wait_established "$1" 10 && bp_wait_established "$2" 5; }
both_closed() { bp_wait_closed "$1" 10 && bp_wait_closed "$2" 5; }

# call CALLER CALLEE: one call and its checks (named CALLER_to_CALLEE_*).
call() {
  local caller="$1" callee="$2" n="${1}_to_$2" a b ha hb sendonly recvonly v rc
  bp_mark "$callee"
  sendonly=$(bp_count "$callee" 'a=sendonly'); recvonly=$(bp_count "$caller" 'a=recvonly')
  bp_dial "$caller" "sip:$callee@$D" || rl_log "dial command failed"
  both_established "$caller" "$callee"; rc=$?
  rl_check "${n}_established" "$caller -> $callee, auto-answered" test "$rc" -eq 0
  if (( rc != 0 )); then
    # Nothing else of this call can be checked.
    bp_hangup "$caller" >/dev/null 2>&1
    return 1
  fi
  sleep "$TALK_S"
  snap "$n-up"
  a=$(packets "$n-up" a); b=$(packets "$n-up" b)
  rl_check "${n}_relayed_both_ways" "relayed $caller->$callee $a, $callee->$caller $b" \
    test "$a" -gt "$MIN_PACKETS" -a "$b" -gt "$MIN_PACKETS"
  v="$caller from $(rtp_source "$caller"), $callee from $(rtp_source "$callee")"
  rl_check "${n}_media_from_relay" "$v" both_from_relay "$caller" "$callee"

  # Hold: the re-INVITE's offer and answer must cross the relay, and media
  # pause (counted from 0.5 s after the command: the answer is in by then).
  bp_hold "$caller" || rl_log "hold command failed"
  sleep 0.5; snap "$n-held1"; sleep 1; snap "$n-held2"
  rl_check "${n}_hold_offer_reached_callee" "a=sendonly lines in $callee's trace: $sendonly -> $(bp_count "$callee" 'a=sendonly')" \
    test "$(bp_count "$callee" 'a=sendonly')" -gt "$sendonly"
  rl_check "${n}_hold_answer_reached_caller" "a=recvonly lines in $caller's trace: $recvonly -> $(bp_count "$caller" 'a=recvonly')" \
    test "$(bp_count "$caller" 'a=recvonly')" -gt "$recvonly"
  ha=$(( $(packets "$n-held2" a) - $(packets "$n-held1" a) ))
  hb=$(( $(packets "$n-held2" b) - $(packets "$n-held1" b) ))
  rl_check "${n}_media_paused_on_hold" "relayed in 1 s of hold: $caller->$callee $ha, $callee->$caller $hb" \
    test "$ha" -le "$MAX_HELD" -a "$hb" -le "$MAX_HELD"
  bp_resume "$caller" || rl_log "resume command failed"
  sleep "$RESUMED_S"; snap "$n-resumed"
  a=$(( $(packets "$n-resumed" a) - $(packets "$n-held2" a) ))
  b=$(( $(packets "$n-resumed" b) - $(packets "$n-held2" b) ))
  rl_check "${n}_media_flows_after_resume" "relayed in ${RESUMED_S} s: $caller->$callee $a, $callee->$caller $b" \
    test "$a" -ge "$MIN_RESUMED" -a "$b" -ge "$MIN_RESUMED"

  bp_hangup "$caller" || rl_log "hangup command failed"
  rl_check "${n}_closed" "BYE seen by both" both_closed "$caller" "$callee"
  rl_wait_for 5 st_no_streams_left
  rl_check "${n}_streams_freed" "$(st_streams_left) streams left after the BYE" st_no_streams_left

  v=$(heard "$callee" "${TONE[$caller]}"); rc=$?
  rl_check "${n}_callee_heard_caller" "$callee heard: $v" test "$rc" -eq 0
  v=$(heard "$caller" "${TONE[$callee]}"); rc=$?
  rl_check "${n}_caller_heard_callee" "$caller heard: $v" test "$rc" -eq 0
}

# --- the test --------------------------------------------------------------------

for u in erin bob2; do
  rl_check "${u}_registered" "200 to its REGISTER (digest)" bp_wait_registered "$u" 10
done
natted=$(jget "$(cctl registration "erin@$D" 2>/dev/null)" "d['bindings'][0]['behind_nat']" 2>/dev/null)
rl_check erin_behind_nat "behind_nat=$natted" test "$natted" == True
natted=$(jget "$(cctl registration "bob2@$D" 2>/dev/null)" "d['bindings'][0]['behind_nat']" 2>/dev/null)
rl_check bob2_not_behind_nat "behind_nat=$natted" test "$natted" == False

call erin bob2
call bob2 erin

rl_summary "$SUITE"
