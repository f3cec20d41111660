#!/usr/bin/env bash
# RTP Bleed against a live call set up through rtplatch-control (design.md
# failure mode "RTP Bleed"; issue 6 scenario 7).
#
#   rtp_bleed_call_test.sh
#
# alice (sipp, behind a NAT) calls bob (public); each plays its own tone
# (PCMA RTP, 440 Hz and 1000 Hz) and records what it receives. Meanwhile an
# attacker on the internet segment (203.0.113.66) sprays every relay port
# of the dataplane's range with RTP, starting a moment after the answer
# (the window in which a careless relay latches), and listens for anything
# coming back. Checks: the attacker receives no datagram at all; the call
# completes and its audio flows both ways (each side hears the other's
# tone; relayed packet counts); each stream latched to its phone (alice's
# NAT address, bob), never to the attacker, and so did the RTCP ports (the
# phones send no RTCP; before the fix this test found, the first sprayed
# packet latched them); the spray shows up as counted drops. Then the same
# attack on a call from erin, a baresip phone behind another NAT.
#
# Output: "PASS name" / "FAIL name" per check, then
# "rtp_bleed_call: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp/baresip/tcpdump/numpy missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=rtp_bleed_call
MIN_PACKETS=100

export ST_PORT_MIN=30000 ST_PORT_MAX=30199
# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
st_main "$SUITE" "$0" "$@"
if ! why=$(bp_missing); then echo "SKIP $SUITE: $why"; exit 77; fi

st_init "${RL_PREFIX:-rb$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
ALICE=192.0.2.2:5060
NAT_OUT=203.0.113.30
BOB_IP=203.0.113.20
BOB="$BOB_IP:5060"
ATTACKER_IP=203.0.113.66
PW_ALICE=alice-rb-1; PW_BOB=bob-rb-2; PW_ERIN=erin-rb-3
st_add_user alice "$PW_ALICE"
st_add_user bob "$PW_BOB"
st_add_user erin "$PW_ERIN"
ERIN_NAT_OUT=203.0.113.31

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan "$NAT_OUT/24" 192.0.2.1/24 192.0.2.2/24
st_add_public_phone pub pb "$BOB_IP/24"
st_add_public_phone atk atk "$ATTACKER_IP/24"

st_register lan reg_alice "$ALICE" "$RELAY_EP" alice "$PW_ALICE"; rc_a=$?
st_register pub reg_bob "$BOB" "$RELAY_EP" bob "$PW_BOB"; rc_b=$?
rl_check registered "alice=$rc_a bob=$rc_b" test $((rc_a + rc_b)) -eq 0

# spawn_attacker LOG: from 2.0 s after it starts, for 4 s, one 172-byte RTP
# packet to every relay port (RTP and RTCP) per round; counts whatever comes
# back ("sent N received M" in LOG). Sets ATTACKER (its PID).
spawn_attacker() {
rl_spawn atk "$1" python3 -u -c '
import socket, struct, sys, time
relay, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40000))
s.setblocking(False)
got = sent = 0
time.sleep(2.0)
end = time.time() + 4.0
seq = 0
while time.time() < end:
    for port in range(lo, hi + 1):
        seq = (seq + 1) & 0xffff
        pkt = struct.pack("!BBHII", 0x80, 8, seq, seq * 160, 0xbadc0de) + b"\xd5" * 160
        try:
            s.sendto(pkt, (relay, port)); sent += 1
        except BlockingIOError:
            pass
    try:
        while True:
            s.recvfrom(2048); got += 1
    except BlockingIOError:
        pass
    time.sleep(0.02)
time.sleep(0.5)
try:
    while True:
        s.recvfrom(2048); got += 1
except BlockingIOError:
    pass
print("sent %d received %d" % (sent, got), flush=True)
' "$ST_RELAY_IP" "$ST_PORT_MIN" "$ST_PORT_MAX"
ATTACKER=$RL_LAST_PID
}
# attack_checks NAME LOG: the attacker sprayed, and got nothing back.
attack_checks() {
  local res
  res=$(cat "$2" 2>/dev/null)
  rl_check "${1}_sprayed" "$res" grep -qE '^sent [1-9][0-9]{3,}' <<<"$res"
  rl_check "${1}_received_nothing" "$res" grep -q 'received 0$' <<<"$res"
}
# heard_check NAME CAPTURE FREQ: the capture carries the FREQ Hz tone.
heard_check() {
  local heard
  heard=$(st_heard "$2" "$3")
  rl_check "$1" "$heard" grep -q '^tone ' <<<"$heard"
}
ATTACK_LOG="$RL_TMP/attacker.log"
spawn_attacker "$ATTACK_LOG"
attacker=$ATTACKER

SNAP="$RL_TMP/snap.sh"
cat >"$SNAP" <<SH
#!/bin/sh
"$ST_CTL" --socket "$DP_SOCK" --json streams >"$RL_TMP/streams-\$1.json" 2>&1
SH
chmod +x "$SNAP"
# Each phone sends its own tone and records what it receives: the call's
# audio must still be the other phone's tone while the spray runs.
st_capture_media lan heard_by_alice "${ALICE%:*}"; cap_alice=$ST_CAPTURE_PID
st_capture_media pub heard_by_bob "$BOB_IP"; cap_bob=$ST_CAPTURE_PID
ST_SIPP_TIMEOUT_S=30 st_sipp_bg pub bleed_uas "$(st_tone_scenario "$SCN/e2e_uas.xml" 1000)" "$BOB" - \
  -key user bob -mp 42000
uas=$ST_SIPP_PID
st_sipp_ready pub 5060 || rl_log "bleed_uas not bound"
ST_SIPP_TIMEOUT_S=30 st_sipp lan bleed_uac "$(st_tone_scenario "$SCN/e2e_uac.xml" 440)" "$ALICE" "$RELAY_EP" \
  -key user alice -key callee bob -au alice -ap "$PW_ALICE" -auth_uri "bob@$D" \
  -key snap "$SNAP call" -mp 41000
rc_uac=$?
st_sipp_wait "$uas"; rc_uas=$?
rl_wait "$attacker" 20 >/dev/null 2>&1
rl_kill "$cap_alice"; rl_kill "$cap_bob"

rl_check call_completed "uac=$rc_uac uas=$rc_uas" test $((rc_uac + rc_uas)) -eq 0
attack_checks attacker "$ATTACK_LOG"
S="$RL_TMP/streams-call.json"
pk_a=$(jfile "$S" "sum(s['packets'] for s in d['streams'] if s['leg'] == 'a')")
pk_b=$(jfile "$S" "sum(s['packets'] for s in d['streams'] if s['leg'] == 'b')")
rl_check audio_both_ways_under_attack "relayed alice->bob $pk_a, bob->alice $pk_b" \
  test "$pk_a" -gt "$MIN_PACKETS" -a "$pk_b" -gt "$MIN_PACKETS"
heard_check bob_heard_alice_under_attack heard_by_bob 440
heard_check alice_heard_bob_under_attack heard_by_alice 1000
peers=$(jfile "$S" "' '.join(sorted((s['learned_peer'] or '-').rsplit(':', 1)[0] for s in d['streams']))")
rl_check latched_to_the_phones "learned peers: $peers" test "$peers" == "$BOB_IP $NAT_OUT"
# The phones send no RTCP: their RTCP ports must not have latched to the
# sprayer either (RTCP is taken only from the RTP port's peer).
rtcp=$(jfile "$S" "' '.join(sorted((s['rtcp']['learned_peer'] or '-') for s in d['streams']))")
rl_check rtcp_ports_not_taken "RTCP learned peers: $rtcp" test "$rtcp" == "- -"
drops=$(jget "$(dctl stats)" "sum(d['total']['drops'].values())")
rl_check spray_counted_as_drops "$drops drops" test "$drops" -gt 100

# --- the same attack on a call from baresip (the second phone make) -------
st_add_nat_phone nt2 ln2 "$ERIN_NAT_OUT/24" 192.0.2.1/24 192.0.2.2/24
bp_start ln2 erin erin "$PW_ERIN" 192.0.2.2 440 && bp_wait_registered erin 10
rl_check erin_registered "baresip behind $ERIN_NAT_OUT" test $? -eq 0
st_capture_media ln2 heard_by_erin 192.0.2.2; cap_erin=$ST_CAPTURE_PID
st_capture_media pub heard_by_bob2 "$BOB_IP"; cap_bob=$ST_CAPTURE_PID
ST_SIPP_TIMEOUT_S=30 st_sipp_bg pub bleed2_uas "$(st_tone_scenario "$SCN/e2e_uas.xml" 1000)" "$BOB" - \
  -key user bob -mp 42000
uas=$ST_SIPP_PID
st_sipp_ready pub 5060 || rl_log "bleed2_uas not bound"
ATTACK2_LOG="$RL_TMP/attacker2.log"
spawn_attacker "$ATTACK2_LOG"
bp_dial erin "sip:bob@$D" && bp_wait_established erin 10; rc_call=$?
sleep 5  # the spray runs from 2 s to 6 s after the attacker started
"$SNAP" call2
bp_hangup erin
st_sipp_wait "$uas"; rc_uas=$?
rl_wait "$ATTACKER" 20 >/dev/null 2>&1
rl_kill "$cap_erin"; rl_kill "$cap_bob"
rl_check erin_call_completed "established=$((rc_call == 0)) uas=$rc_uas" test $((rc_call + rc_uas)) -eq 0
attack_checks attacker2 "$ATTACK2_LOG"
heard_check bob_heard_erin_under_attack heard_by_bob2 440
heard_check erin_heard_bob_under_attack heard_by_erin 1000
S="$RL_TMP/streams-call2.json"
peers=$(jfile "$S" "' '.join(sorted((s['learned_peer'] or '-').rsplit(':', 1)[0] for s in d['streams']))")
rl_check erin_call_latched_to_the_phones "learned peers: $peers" test "$peers" == "$BOB_IP $ERIN_NAT_OUT"

rl_summary "$SUITE"
