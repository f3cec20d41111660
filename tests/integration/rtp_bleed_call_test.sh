#!/usr/bin/env bash
# RTP Bleed against a live call set up through rtplatch-control (design.md
# failure mode "RTP Bleed"; issue 6 scenario 7).
#
#   rtp_bleed_call_test.sh
#
# alice (behind a NAT) calls bob (public); each plays its own tone (PCMA
# RTP, 440 Hz and 1000 Hz) and records what it receives. Meanwhile an attacker on the internet segment (203.0.113.66) sprays
# every relay port of the dataplane's range with RTP, starting a moment
# after the answer (the window in which a careless relay latches), and
# listens for anything coming back. Checks: the attacker receives no
# datagram at all; the call completes and its audio flows both ways
# (each side hears the other's tone; relayed packet counts); each stream latched to its phone (alice's NAT
# address, bob), never to the attacker, and so did the RTCP ports (the
# phones send no RTCP; before the fix this test found, the first sprayed
# packet latched them); the spray shows up as counted drops.
#
# Output: "PASS name" / "FAIL name" per check, then
# "rtp_bleed_call: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp/tcpdump/numpy missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=rtp_bleed_call
MIN_PACKETS=100

export ST_PORT_MIN=30000 ST_PORT_MAX=30199
# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-rb$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
ALICE=192.0.2.2:5060
NAT_OUT=203.0.113.30
BOB_IP=203.0.113.20
BOB="$BOB_IP:5060"
ATTACKER_IP=203.0.113.66
PW_ALICE=alice-rb-1; PW_BOB=bob-rb-2
st_add_user alice "$PW_ALICE"
st_add_user bob "$PW_BOB"

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan "$NAT_OUT/24" 192.0.2.1/24 192.0.2.2/24
st_add_public_phone pub pb "$BOB_IP/24"
st_add_public_phone atk atk "$ATTACKER_IP/24"

st_register lan reg_alice "$ALICE" "$RELAY_EP" alice "$PW_ALICE"; rc_a=$?
st_register pub reg_bob "$BOB" "$RELAY_EP" bob "$PW_BOB"; rc_b=$?
rl_check registered "alice=$rc_a bob=$rc_b" test $((rc_a + rc_b)) -eq 0

# The attacker: from 2.0 s after it starts, for 4 s, one 172-byte RTP packet
# to every relay port (RTP and RTCP) per round; counts whatever comes back.
ATTACK_LOG="$RL_TMP/attacker.log"
rl_spawn atk "$ATTACK_LOG" python3 -u -c '
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
attacker=$RL_LAST_PID

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
res=$(cat "$ATTACK_LOG" 2>/dev/null)
rl_check attacker_sprayed "$res" grep -qE '^sent [1-9][0-9]{3,}' <<<"$res"
rl_check attacker_received_nothing "$res" grep -q 'received 0$' <<<"$res"
S="$RL_TMP/streams-call.json"
pk_a=$(jfile "$S" "sum(s['packets'] for s in d['streams'] if s['leg'] == 'a')")
pk_b=$(jfile "$S" "sum(s['packets'] for s in d['streams'] if s['leg'] == 'b')")
rl_check audio_both_ways_under_attack "relayed alice->bob $pk_a, bob->alice $pk_b" \
  test "$pk_a" -gt "$MIN_PACKETS" -a "$pk_b" -gt "$MIN_PACKETS"
heard=$(st_heard heard_by_bob 440)
rl_check bob_heard_alice_under_attack "$heard" grep -q '^tone ' <<<"$heard"
heard=$(st_heard heard_by_alice 1000)
rl_check alice_heard_bob_under_attack "$heard" grep -q '^tone ' <<<"$heard"
peers=$(jfile "$S" "' '.join(sorted((s['learned_peer'] or '-').rsplit(':', 1)[0] for s in d['streams']))")
rl_check latched_to_the_phones "learned peers: $peers" test "$peers" == "$BOB_IP $NAT_OUT"
# The phones send no RTCP: their RTCP ports must not have latched to the
# sprayer either (RTCP is taken only from the RTP port's peer).
rtcp=$(jfile "$S" "' '.join(sorted((s['rtcp']['learned_peer'] or '-') for s in d['streams']))")
rl_check rtcp_ports_not_taken "RTCP learned peers: $rtcp" test "$rtcp" == "- -"
drops=$(jget "$(dctl stats)" "sum(d['total']['drops'].values())")
rl_check spray_counted_as_drops "$drops drops" test "$drops" -gt 100

rl_summary "$SUITE"
