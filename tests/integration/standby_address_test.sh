#!/usr/bin/env bash
# A standby relay address (a VIP keepalived moves between nodes, issue 18)
# taken and released at runtime over the dataplane's control socket:
# while not held, media to it is dropped (address_not_held) and no
# keepalive leaves from it (keepalive_not_held); taken, the dataplane
# announces it from the NIC (gratuitous ARP, unsolicited NA), the kernel's
# tap gets it (so ARP and ND for it are answered), media is relayed and
# keepalives flow; released, all of that stops again.
#
#   standby_address_test.sh
#
# One dataplane with standby addresses 203.0.113.70 and 2001:db8::70, a
# public dual-stack phone on the segment capturing ARP and ICMPv6. A pair
# of streams on each VIP, prepared before the take (as a failover does);
# the phone sends RTP to one stream and counts what the other relays back.
#
# Output: "PASS name" / "FAIL name" per check, then
# "standby_address: N passed, N failed". Exit 0 all passed, 1 any
# failure, 77 skipped (not root, or not built).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=standby_address

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/dataplane_ctl.sh
source "$ROOT/scripts/lib/dataplane_ctl.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-sa$$}"
VIP=203.0.113.70
VIP6=2001:db8::70
PHONE=203.0.113.20
PHONE6=2001:db8::20
# shellcheck disable=SC2034  # read by st_write_dataplane_config
ST_DP_SET=("standby_addresses=[\"$VIP\", \"$VIP6\"]")
st_start_relay || rl_die "relay did not start"
st_add_public_phone pb pb "$PHONE/24" "$PHONE6/64"
PHONE_IF="${RL_P}pb"
RELAY_MAC=$(ip -n "$(rl_ns "$RL_RELAY_ROLE")" -br link show "$RL_RELAY_TAP" | awk '{print $3}')

CAPTURE="$RL_TMP/phone.txt"
rl_spawn pb "$CAPTURE" tcpdump -i "$PHONE_IF" -n -e -l 'arp or icmp6'
rl_wait_for 5 grep -q listening "$CAPTURE" || rl_log "tcpdump not listening"

held() { jget "$(ctl '{"cmd":"address_list"}')" \
  "[a['held'] for a in d['result']['addresses'] if a['address'] == '$1'][0]"; }
drops() { jget "$(ctl '{"cmd":"stats"}')" "d['result']['total']['drops']['$1']"; }
tap_addresses() { ip -n "$(rl_ns "$RL_RELAY_ROLE")" -br addr show dev "$RL_RELAY_TAP"; }

# A pair on each VIP, prepared while not held: the phone's port 40000
# talks to leg a, leg b relays to the phone's port 40002.
A_PORT=$(( (ST_PORT_MIN + 1) / 2 * 2 + 100 )); B_PORT=$(( A_PORT + 2 ))
for v in "$VIP" "[$VIP6]"; do
  p=$([[ $v == \[* ]] && echo "[$PHONE6]" || echo "$PHONE")
  r=$(ctl "{\"cmd\":\"allocate\",\"a\":{\"relay\":\"$v:$A_PORT\",\"peer\":\"$p:40000\"},\"b\":{\"relay\":\"$v:$B_PORT\",\"peer\":\"$p:40002\"}}")
  rl_check "pair_prepared_on_$v" "$r" test "$(jget "$r" "d['ok']")" = True
done
r=$(ctl "{\"cmd\":\"keepalive_add\",\"targets\":[{\"target\":\"$PHONE:40004\",\"source\":\"$VIP:5060\",\"interval_ms\":100}]}")
rl_check keepalive_installed_on_the_vip "$r" test "$(jget "$r" "d['ok']")" = True

# relayed VIP PHONE_IP: RTP packets from PHONE_IP:40000 to VIP:A_PORT for
# 1 s (50 packets); prints how many came back to PHONE_IP:40002, and how
# many keepalives reached PHONE_IP:40004 meanwhile.
relayed() {
  ip netns exec "$(rl_ns pb)" python3 - "$1" "$2" "$A_PORT" <<'PY'
import socket, struct, sys, time
vip, me, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in vip else socket.AF_INET
tx, rx, ka = (socket.socket(fam, socket.SOCK_DGRAM) for _ in range(3))
tx.bind((me, 40000)); rx.bind((me, 40002)); rx.settimeout(0.01)
ka.bind((me, 40004)); ka.setblocking(False)
got = kas = 0
end = time.time() + 1.0
for seq in range(50):
    tx.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x7e57) + b"\0" * 160, (vip, port))
    try:
        while True:
            rx.recv(2048); got += 1
    except OSError:
        pass
    time.sleep(0.02)
time.sleep(0.3)
for s, name in ((rx, "rtp"), (ka, "ka")):
    s.setblocking(False)
    try:
        while True:
            s.recv(2048)
            if s is rx: got += 1
            else: kas += 1
    except OSError:
        pass
print(got, kas)
PY
}

# --- not held: the phone reaches the dataplane (a static neighbour entry),
# the dataplane drops it.
ip -n "$(rl_ns pb)" neigh replace "$VIP" lladdr "$RELAY_MAC" dev "$PHONE_IF"
before=$(drops address_not_held)
read -r got kas < <(relayed "$VIP" "$PHONE")
after=$(drops address_not_held)
rl_check not_held_relays_nothing "relayed back $got of 50, drops address_not_held $before -> $after" \
  test "$got" -eq 0 -a $(( after - before )) -ge 50
rl_check not_held_sends_no_keepalive "$kas keepalives arrived, keepalive_not_held $(drops keepalive_not_held)" \
  test "$kas" -eq 0 -a "$(drops keepalive_not_held)" -gt 0
rl_check not_held_not_on_the_tap "tap: $(tap_addresses)" bash -c "! grep -q ' $VIP/32' <<<'$(tap_addresses)'"

# --- take both.
ip -n "$(rl_ns pb)" neigh del "$VIP" dev "$PHONE_IF"
for v in "$VIP" "$VIP6"; do
  r=$(ctl "{\"cmd\":\"address_take\",\"address\":\"$v\"}")
  rl_check "take_$v" "$r" test "$(jget "$r" "d['ok'] and d['result']['held']")" = True
done
sleep 1
garps=$(grep -c " $RELAY_MAC > ff:ff:ff:ff:ff:ff.*Request who-has $VIP tell $VIP," "$CAPTURE")
nas=$(grep -c " $RELAY_MAC > 33:33:00:00:00:01.*neighbor advertisement, tgt is $VIP6," "$CAPTURE")
sent=$(jget "$(ctl '{"cmd":"stats"}')" "d['result']['total']['announcements']")
rl_check gratuitous_arps_from_the_relay_mac "$garps of 3 seen by the phone ($sent announcements sent in all)" \
  test "$garps" -eq 3
rl_check unsolicited_nas_from_the_relay_mac "$nas of 3 seen by the phone" test "$nas" -eq 3
tap=$(tap_addresses)
rl_check taken_addresses_on_the_tap "$tap" \
  bash -c "grep -q ' $VIP/32' <<<'$tap' && grep -q ' $VIP6/128' <<<'$tap'"
rl_check listed_as_held "address_list: $VIP $(held "$VIP"), $VIP6 $(held "$VIP6")" \
  test "$(held "$VIP")" = True -a "$(held "$VIP6")" = True

# Held: the phone resolves the VIP through the kernel (ARP, ND) and its
# media is relayed; the keepalives flow.
read -r got kas < <(relayed "$VIP" "$PHONE")
rl_check held_relays_ipv4 "relayed back $got of 50, $kas keepalives in 1.3 s" \
  test "$got" -ge 45 -a "$kas" -ge 8
read -r got6 _ < <(relayed "$VIP6" "$PHONE6")
rl_check held_relays_ipv6 "relayed back $got6 of 50" test "$got6" -ge 45

# --- release the IPv4 VIP: nothing relayed or sent again, off the tap; the
# phone still has the relay's MAC for it (as after a move, until the new
# holder's announcement), so its packets still arrive and are dropped.
r=$(ctl "{\"cmd\":\"address_release\",\"address\":\"$VIP\"}")
rl_check release "$r" test "$(jget "$r" "d['ok'] and not d['result']['held']")" = True
ip -n "$(rl_ns pb)" neigh replace "$VIP" lladdr "$RELAY_MAC" dev "$PHONE_IF"
before=$(drops address_not_held)
read -r got kas < <(relayed "$VIP" "$PHONE")
after=$(drops address_not_held)
rl_check released_relays_nothing "relayed back $got, $kas keepalives, drops address_not_held $before -> $after" \
  test "$got" -eq 0 -a "$kas" -eq 0 -a $(( after - before )) -ge 50
tap=$(tap_addresses)
rl_check released_off_the_tap "$tap" bash -c "! grep -q ' $VIP/32' <<<'$tap' && grep -q ' $VIP6/128' <<<'$tap'"
read -r got6 _ < <(relayed "$VIP6" "$PHONE6")
rl_check other_vip_still_held "IPv6 VIP relayed back $got6 of 50" test "$got6" -ge 45

# The kernel has the VIP while the dataplane does not hold it (keepalived's
# virtual_ipaddress adds it before its notify runs the take): what the
# kernel sends from it does not leave.
rx=$RL_TMP/from_vip.txt
rl_spawn pb "$rx" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$PHONE', 40006)); s.settimeout(2)
try:
    s.recvfrom(100); print('received')
except OSError:
    print('nothing')"
listener=$RL_LAST_PID
sleep 0.3
before=$(drops exception_not_held)
ip -n "$(rl_ns "$RL_RELAY_ROLE")" addr add "$VIP/32" dev "$RL_RELAY_TAP"
ip netns exec "$(rl_ns "$RL_RELAY_ROLE")" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$VIP', 5060))
for _ in range(3): s.sendto(b'OPTIONS', ('$PHONE', 40006))"
ip -n "$(rl_ns "$RL_RELAY_ROLE")" addr del "$VIP/32" dev "$RL_RELAY_TAP"
rl_wait "$listener" 5 >/dev/null 2>&1 || true
rl_check kernel_silent_on_a_released_vip "the phone: $(cat "$rx"); exception_not_held $before -> $(drops exception_not_held)" \
  bash -c "grep -q nothing '$rx' && (( $(drops exception_not_held) - before >= 3 ))"

# Bad requests: a clear error, nothing changed.
r=$(ctl "{\"cmd\":\"address_release\",\"address\":\"$ST_RELAY_IP\"}")
rl_check fixed_address_refused "$r" grep -q "is a fixed relay address" <<<"$r"
r=$(ctl '{"cmd":"address_take","address":"203.0.113.99"}')
rl_check unknown_address_refused "$r" grep -q "is not a relay address" <<<"$r"

rl_summary "$SUITE"
