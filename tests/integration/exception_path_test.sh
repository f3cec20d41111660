#!/usr/bin/env bash
# The dataplane's exception path carries UDP datagrams longer than one
# frame to the relay host's kernel: a SIP INVITE with ICE candidates is
# easily 1.6 kB, fragmented on the wire. af_packet (the testbed's media
# port) hands the dataplane such datagrams already reassembled, longer
# than the exception port takes; the dataplane cuts them into IP
# fragments again (dataplane/dpdk/exception_fragmenter.h). Before that,
# the exception port refused them and a phone's re-INVITE was lost.
#
#   exception_path_test.sh
#
# A UDP listener on the relay host's kernel (203.0.113.10 and
# [2001:db8::10], port 5070); a NAT'd phone and a public dual-stack phone
# send datagrams of 1400 to 1900 bytes. Checks: each arrives whole, and
# the dataplane counted the fragments it made (exception_fragments).
# Datagrams longer than af_packet's frame (about 1.9 kB reassembled) are
# truncated by the PMD itself and counted as malformed: a testbed limit
# (its framesz); a NIC delivers fragments as they are.
#
# Output: "PASS name" / "FAIL name" per check, then
# "exception_path: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or not built).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=exception_path

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-ep$$}"
PORT=5070
SIZES="1400 1500 1700 1900"
st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
st_add_public_phone pb pb 203.0.113.20/24 "2001:db8::20/64"

# The kernel side: one socket per family, printing "<family> <size>" for
# every datagram until it has been quiet for 3 s.
RECEIVED="$RL_TMP/received.txt"
rl_spawn relay "$RECEIVED" python3 -c "
import select, socket, sys
socks = {}
for fam, addr in ((socket.AF_INET, '$ST_RELAY_IP'), (socket.AF_INET6, '$ST_RELAY_IP6')):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, $PORT))
    socks[s] = 'v4' if fam == socket.AF_INET else 'v6'
print('ready', flush=True)
while True:
    r, _, _ = select.select(list(socks), [], [], 3)
    if not r:
        break
    for s in r:
        data, _ = s.recvfrom(65535)
        print(socks[s], len(data), flush=True)
"
LISTENER=$RL_LAST_PID
rl_wait_for 5 grep -q ready "$RECEIVED" || rl_log "listener not ready"

# send ROLE HOST SIZE: one datagram of SIZE bytes to HOST:PORT.
send() {
  ip netns exec "$(rl_ns "$1")" python3 -c "
import socket, sys
fam = socket.AF_INET6 if ':' in '$2' else socket.AF_INET
socket.socket(fam, socket.SOCK_DGRAM).sendto(b'x' * $3, ('$2', $PORT))"
}
for n in $SIZES; do
  send lan "$ST_RELAY_IP" "$n"; sleep 0.1
  send pb "$ST_RELAY_IP" "$n"; sleep 0.1
  send pb "$ST_RELAY_IP6" "$n"; sleep 0.1
done
rl_wait_for 10 bash -c "! kill -0 $LISTENER 2>/dev/null"

for n in $SIZES; do
  v4=$(grep -c "^v4 $n\$" "$RECEIVED")
  v6=$(grep -c "^v6 $n\$" "$RECEIVED")
  rl_check "datagram_${n}_bytes_arrived" "IPv4: $v4 of 2 (NAT'd and public phone), IPv6: $v6 of 1" \
    test "$v4" -eq 2 -a "$v6" -eq 1
done
fragments=$("$ST_CTL" --socket "$DP_SOCK" --json stats |
  python3 -c "import json,sys; print(json.load(sys.stdin)['total']['exception_fragments'])")
# Two fragments for each IPv4 datagram over 1472 bytes (3 sizes, 2
# phones). af_packet reassembles IPv4 only: IPv6 fragments reach the
# dataplane, and the kernel, as fragments.
rl_check dataplane_fragmented_for_the_kernel "$fragments fragments made (12 expected)" \
  test "${fragments:-0}" -eq 12

rl_summary "$SUITE"
