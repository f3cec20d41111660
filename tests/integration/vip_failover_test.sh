#!/usr/bin/env bash
# Two rtplatch nodes share a VIP through keepalived (VRRP from Debian) and
# their bindings through Redis (issue 18). Node A is VRRP master: its
# keepalived's notify takes the VIP (`rtplatchctl vip-take`), NAT'd phones
# register to the VIP and A keeps their NAT mappings open. Node A dies
# (kill -9 of its dataplane, control plane and keepalived): B's keepalived
# becomes master, B takes the VIP (its dataplane announces it from the
# NIC, B's lease is one epoch more), adopts A's bindings from Redis, and
# sends their keepalives itself. Checked as the phones see it, on the
# wire outside their NAT: every keepalive before the kill came from A's
# MAC, every one after from B's, never both; the VIP answers ARP with B's
# MAC; and B serves the phones (a REGISTER to the VIP is answered by B,
# a new call to a phone A had is set up through B).
# A then comes back and VRRP gives it the VIP again (one epoch more, B's
# keepalives stop). Last, A is cut off from Redis by iptables while it
# still reaches its phones: its track script lowers its priority, B takes
# the VIP, A's keepalives stop, and the REGISTER A answered meanwhile is
# not written with A's old epoch once the partition heals (fenced); A
# then takes the VIP back. Last, A is drained: a call through the VIP to
# a phone registered to B is handed to B whole (B relays its media), and
# so is one to a phone registered to A, which B routes back to A (a
# spiral: the same Call-ID's second pass through A). Last, A dies during
# a call between its phone and B's: B's leg of the call takes A's over.
#
#   vip_failover_test.sh
#
# Output: "PASS name" / "FAIL name" per check, then
# "vip_failover: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or no keepalived/redis-server, or not built).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=vip_failover

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"
for tool in keepalived redis-server; do
  command -v "$tool" >/dev/null || rl_skip "$tool is not installed"
done

st_init "${RL_PREFIX:-vf$$}"
# shellcheck source=scripts/lib/vip_pair.sh
source "$ROOT/scripts/lib/vip_pair.sh"
# shellcheck source=scripts/lib/failover_calls.sh
source "$ROOT/scripts/lib/failover_calls.sh"
PHONES=6
CALLS=2
for i in $(seq 0 $((PHONES - 1))); do st_add_user "user$i" secret; done
fc_users
vp_start || true
st_node relay; A_MAC=$(mac_of relay "$RL_RELAY_TAP")
st_node relay2; B_MAC=$(mac_of relay2 "$RL_RELAY_TAP")
st_node relay
A_EPOCH=$(vip_state | cut -d' ' -f2)
rl_check a_takes_the_vip "A: taken/epoch/valid $(vip_state)" taken_valid
st_node relay2
# A VRRP flap at start (B master for a moment on a loaded machine, before
# A's first advertisement): B's release follows keepalived's BACKUP
# notify, which may come after A took the VIP.
b_backup() { [[ $(vip_state | cut -d' ' -f1) == False ]]; }
rl_wait_for 10 b_backup || true
rl_check b_stays_backup "B: $(vip_state)" b_backup

# The phones: one NAT'd host, PHONES users each from its own port (its own
# NAT mapping), registered to the VIP; the capture outside the NAT sees
# who keeps the mappings open.
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
CAPTURE="$RL_TMP/keepalives.txt"
vp_phones "$PHONES" "$CAPTURE"
rl_check phones_registered_to_the_vip "$VP_REGISTERED of $PHONES" test "$VP_REGISTERED" -eq "$PHONES"
st_node relay2
seen_on_b() { [[ $(jget "$(cctl registrations)" "sum(1 for b in d['registrations'] if b.get('node') == 'edge-a')") == "$PHONES" ]]; }
rl_check b_holds_a_copy "B holds $(jget "$(cctl registrations)" "len(d['registrations'])") bindings from edge-a" \
  rl_wait_for 5 seen_on_b

# A sends the keepalives once the NAT timeout learning has decided.
st_node relay
targets() { jget "$(dctl keepalives)" "d['total']"; }
enough_targets() { [[ $(targets) -ge $PHONES ]]; }
rl_wait_for 40 enough_targets || true
rl_check a_keeps_the_mappings_open "A's dataplane holds $(targets) keepalive targets" enough_targets

# keepalive_lines MAC: keepalives captured from MAC (to the NAT's outside).
keepalive_lines() { grep -c "^[^ ]* $1 > " "$CAPTURE"; }
# phones_kept_by MAC FROM_LINE: NAT ports that got a keepalive from MAC
# in the capture's lines after FROM_LINE.
phones_kept_by() {
  tail -n +"$(($2 + 1))" "$CAPTURE" | grep "^[^ ]* $1 > " |
    sed -n 's/.* > 203\.0\.113\.30\.\([0-9]*\):.*/\1/p' | sort -u | wc -l
}
sleep 3
before_a=$(keepalive_lines "$A_MAC"); before_b=$(keepalive_lines "$B_MAC")
rl_check one_sender_before "keepalives so far: $before_a from A, $before_b from B" \
  test "$before_a" -gt 0 -a "$before_b" -eq 0

# Calls through A: bob (behind his own NAT) registered to the VIP, alice
# calls him CALLS times, RTP both ways, each call held 20 s (past the kill).
FC_HAVE_CALLER=1
fc_add_phones || rl_log "the callee's NAT failed"
fc_register_callee || rl_log "bob did not register"
fc_start_calls "$CALLS" 20 || rl_log "sipp did not start"
st_node relay
fc_calls_up "$CALLS" 20 || true
rl_check a_carries_the_calls "A: $(jget "$(cctl calls)" "[c['state'] for c in d['calls']]")" \
  fc_calls_up "$CALLS" 1
fc_save_calls
fc_capture_start "$VIP" || rl_log "tcpdump not listening"
sleep 2

# --- node A dies: keepalived (both its processes), control plane, dataplane.
killed_at_line=$(grep -c . "$CAPTURE")
# The epoch A holds as it dies (a flap at start may have moved it on).
A_EPOCH=$(vip_state | cut -d' ' -f2)
vp_kill_a
killed=$VP_KILLED_AT
st_node relay2
rl_wait_for 10 taken_valid || true
took=$(python3 -c "import time; print('%.1f' % (time.time() - $killed))")
rl_check b_takes_the_vip "B: taken/epoch/valid $(vip_state), $took s after the kill (A held epoch $A_EPOCH)" \
  test "$(vip_state)" = "True $((A_EPOCH + 1)) True"
# adopted: every binding this node holds is its own, and at least PHONES.
adopted() {
  [[ $(jget "$(cctl registrations)" "len(d['registrations']) >= $PHONES and all('node' not in b for b in d['registrations'])") == True ]]
}
table=$("$ST_CTL" --control-socket "$CTL_SOCK" cluster)
rl_check operator_sees_the_vip "$(grep "$VIP" <<<"$table")" \
  grep -Eq "^$VIP +yes +$((A_EPOCH + 1)) +yes +no" <<<"$table"
rl_check b_adopts_the_bindings "B owns $(rl_wait_for 5 adopted; jget "$(cctl registrations)" "sum(1 for b in d['registrations'] if 'node' not in b)") of $PHONES" adopted
rl_wait_for 10 enough_targets || true
rl_check b_keeps_the_mappings_open "B's dataplane holds $(targets) keepalive targets" enough_targets
all_kept_by_b() { [[ $(phones_kept_by "$B_MAC" "$killed_at_line") -ge $PHONES ]]; }
rl_wait_for 30 all_kept_by_b || true
rl_check every_phone_kept_by_b "$(phones_kept_by "$B_MAC" "$killed_at_line") of $PHONES NAT mappings got B's keepalives" all_kept_by_b
after_a=$(( $(keepalive_lines "$A_MAC") - before_a ))
rl_check one_sender_after "keepalives from A since the capture's line $killed_at_line: $after_a (A is dead; before its death: $before_a)" \
  test "$(tail -n +"$((killed_at_line + 1))" "$CAPTURE" | grep -c "^[^ ]* $A_MAC > ")" -eq 0
# The longest any NAT mapping went without a keepalive across the kill:
# from A's last to B's first, per NAT port (tcpdump's clock times).
gap=$(python3 - "$CAPTURE" "$A_MAC" "$B_MAC" <<'PY'
import re, sys
last_a, first_b = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"([\d.]+) (\S+) > .* > 203\.0\.113\.30\.(\d+):", line)
    if not m:
        continue
    t = float(m[1])
    if m[2] == sys.argv[2]:
        last_a[m[3]] = t
    elif m[2] == sys.argv[3]:
        first_b.setdefault(m[3], t)
gaps = [first_b[p] - last_a[p] for p in last_a if p in first_b]
print("%.1f" % max(gaps) if gaps else "none")
PY
)
rl_check mappings_outlive_the_failover "longest gap between keepalives across the kill: $gap s (a NAT's UDP timeout is 30 s at the shortest)" \
  python3 -c "import sys; sys.exit(0 if '$gap' != 'none' and float('$gap') < 30 else 1)"
# The calls: B read them from Redis with the VIP and relays them at the same
# ports; both phones hear each other again, and the BYE at the end of the
# hold reaches bob through B.
rl_check b_carries_the_calls "B: $(jget "$(cctl calls)" "[c['state'] for c in d['calls']]"), adopted $(jget "$(cctl sip-stats)" "d['cluster']['calls_adopted']")" \
  fc_calls_up "$CALLS" 5
fc_calls_ended 60
fc_capture_stop
media=$(fc_media "$killed")
rl_check calls_heard_both_ways_after_the_kill "$media" grep -q "kept=$CALLS " <<<"$media"
rl_check media_gap_bounded "$media (a keepalived master change is about 1 s)" \
  python3 -c "import re, sys; m = re.search(r'media_gap_ms=(\d+)', '$media'); sys.exit(0 if m and int(m[1]) < 5000 else 1)"
rl_check calls_end_through_b "alice's calls completed (BYE answered through B): ${FC_SIPP_OK} of $CALLS" \
  test "$FC_SIPP_OK" = "$CALLS"
neigh=$(ip -n "$(rl_ns nat)" neigh show "$VIP")
rl_check vip_resolves_to_b "the NAT's neighbour entry: $neigh (B is $B_MAC)" grep -q "$B_MAC" <<<"$neigh"
out=$(ip netns exec "$(rl_ns lan)" python3 "$VP_CLIENT" register "$VIP:$ST_SIP_PORT" user0 2)
rl_check b_answers_the_vip "$out" grep -q "status=200" <<<"$out"
# A's phones are still reachable for new calls: one more call from alice
# to bob (registered to the VIP while A held it), set up and ended
# through B, B relaying its media from the VIP.
pairs_b() { jget "$(cctl sip-stats)" "d['proxy']['pairs_allocated']"; }
pairs_before=$(pairs_b)
fc_capture_start "$VIP" || rl_log "tcpdump not listening"
fc_start_calls 1 4 || rl_log "sipp did not start"
fc_calls_ended 30
fc_capture_stop
rl_check new_call_to_a_phone_through_b "the call completed: ${FC_SIPP_OK}; B allocated $(( $(pairs_b) - pairs_before )) pairs; alice got $(fc_frames_from alice "$VIP"), bob $(fc_frames_from bob "$VIP") RTP frames from the VIP" \
  test "${FC_SIPP_OK:-0}" = 1 -a "$(pairs_b)" -gt "$pairs_before" -a "$(fc_frames_from alice "$VIP")" -gt 50 -a "$(fc_frames_from bob "$VIP")" -gt 50

# --- A comes back: VRRP gives it the VIP again (it has the higher
# priority), one epoch more; it adopts the bindings back from B and B's
# keepalives stop.
B_EPOCH=$(vip_state | cut -d' ' -f2)
st_node relay; vp_node_config edge-a
st_start_dataplane || rl_die "node A's dataplane did not restart"
st_start_control || rl_die "node A's control plane did not restart"
A_MAC=$(mac_of relay "$RL_RELAY_TAP")  # a new tap, a new MAC
vp_keepalived relay 150
back_at_line=$(grep -c . "$CAPTURE")
rl_wait_for 20 a_master || true
st_node relay
rl_check a_takes_the_vip_back "A: taken/epoch/valid $(vip_state) (B held epoch $B_EPOCH)" \
  test "$(vip_state)" = "True $((B_EPOCH + 1)) True"
rl_check a_adopts_the_bindings_back "A owns $(rl_wait_for 5 adopted; jget "$(cctl registrations)" "sum(1 for b in d['registrations'] if 'node' not in b)") of $PHONES" adopted
sleep 1
b_stopped_at_line=$(grep -c . "$CAPTURE")
all_kept_by_a() { [[ $(phones_kept_by "$A_MAC" "$b_stopped_at_line") -ge $PHONES ]]; }
rl_wait_for 30 all_kept_by_a || true
rl_check every_phone_kept_by_a_again "$(phones_kept_by "$A_MAC" "$b_stopped_at_line") of $PHONES mappings (A's dataplane holds $(targets) targets)" all_kept_by_a
rl_check b_stopped "keepalives from B since A took the VIP back (+1 s): $(tail -n +"$((b_stopped_at_line + 1))" "$CAPTURE" | grep -c "^[^ ]* $B_MAC > ") (line $back_at_line on)" \
  test "$(tail -n +"$((b_stopped_at_line + 1))" "$CAPTURE" | grep -c "^[^ ]* $B_MAC > ")" -eq 0

# --- A cut off from Redis (it still reaches its phones): its check fails,
# B becomes master and takes the VIP; A's lease lapses and its keepalives
# stop. A REGISTER A answers meanwhile cannot be written with A's old
# epoch once the partition heals.
st_node relay
A_EPOCH=$(vip_state | cut -d' ' -f2)
ns_a=$(rl_ns relay)
ip netns exec "$ns_a" iptables -A OUTPUT -d "$VP_REDIS_IP" -j DROP
ip netns exec "$ns_a" iptables -A INPUT -s "$VP_REDIS_IP" -j DROP
cut_at=$(date +%s.%N)
out=$(ip netns exec "$(rl_ns lan)" python3 "$VP_CLIENT" register "$VIP:$ST_SIP_PORT" user5 3)
rl_check a_answers_while_cut_off "$out" grep -q "status=200" <<<"$out"
st_node relay2
b_master() { st_node relay2; taken_valid; }
rl_wait_for 15 b_master || true
took=$(python3 -c "import time; print('%.1f' % (time.time() - $cut_at))")
rl_check b_takes_the_vip_from_the_cut_off_a "B: taken/epoch/valid $(vip_state), $took s after the cut (A held epoch $A_EPOCH)" \
  test "$(vip_state)" = "True $((A_EPOCH + 1)) True"
# Read now: once the partition heals, A may take the VIP back before B is
# asked again (then B holds none and says epoch 0).
B_EPOCH=$(vip_state | cut -d' ' -f2)
cut_line=$(grep -c . "$CAPTURE")
sleep 6
rl_check cut_off_a_sends_no_keepalives "keepalives from A in the 6 s after B took the VIP: $(tail -n +"$((cut_line + 1))" "$CAPTURE" | grep -c "^[^ ]* $A_MAC > ")" \
  test "$(tail -n +"$((cut_line + 1))" "$CAPTURE" | grep -c "^[^ ]* $A_MAC > ")" -eq 0
ip netns exec "$ns_a" iptables -D OUTPUT -d "$VP_REDIS_IP" -j DROP
ip netns exec "$ns_a" iptables -D INPUT -s "$VP_REDIS_IP" -j DROP
st_node relay
reconnected() { [[ $(jget "$(cctl sip-stats)" "d['cluster']['connected']") == True ]]; }
rl_wait_for 10 reconnected || true
fenced() { jget "$(cctl sip-stats)" "d['cluster']['fenced_writes']"; }
rl_check stale_write_fenced "A's fenced_writes after the partition healed: $(rl_wait_for 5 bash -c true; fenced)" \
  test "$(fenced)" -ge 1
# The contact user5 registered on the cut-off A (its latest CSeq): A holds
# it, the shared table never got it.
made_on_a=$(jget "$(cctl registration "user5@$ST_DOMAIN")" "max(d['bindings'], key=lambda b: b['cseq'])['contact']")
in_redis=$(ip netns exec "$(rl_ns redis)" redis-cli -h "$VP_REDIS_IP" HEXISTS "rtplatch:b:user5@$ST_DOMAIN" "$made_on_a")
rl_check stale_write_not_in_the_shared_table "HEXISTS for $made_on_a: $in_redis" test "$in_redis" = 0

# --- The partition healed: A's check passes again and VRRP (A has the
# higher priority) gives it the VIP back, one epoch more. Waited for here:
# the drained stage below needs to know which node holds the VIP.
rl_wait_for 20 a_master || true
st_node relay
rl_check a_takes_the_vip_back_after_the_heal "A: taken/epoch/valid $(vip_state) (B held epoch $B_EPOCH)" \
  test "$(vip_state)" = "True $((B_EPOCH + 1)) True"

# --- A (holding the VIP) drained: a new call to a phone registered to B
# goes to B whole. bob registers to B's own address; alice calls him
# through the VIP: A hands the INVITE to B (bob's node, up and not
# drained), B relays the media, and A relays none of it.
st_node relay
cctl drain on >/dev/null
pairs_a() { jget "$(cctl sip-stats)" "d['proxy']['pairs_allocated']"; }
handed_off_a() { jget "$(cctl sip-stats)" "d['proxy']['calls_handed_off']"; }
pairs_before=$(pairs_a)
handed_before=$(handed_off_a)
st_node relay2
B_IP=$ST_RELAY_IP
st_register ln2 reg_bob_b "$FC_B_IP:5060" "$B_IP:$ST_SIP_PORT" bob "$FC_B_PW" -key expires 3600 ||
  rl_log "bob did not register to B"
st_node relay
rl_wait_for 5 python3 "$VP_CLIENT" seen "$CTL_SOCK" bob edge-b 100 >/dev/null ||
  rl_log "A does not see bob on B"
fc_capture_start "$B_IP" || rl_log "tcpdump not listening"
fc_start_calls 1 6 || rl_log "sipp did not start"
fc_calls_ended 30
fc_capture_stop
st_node relay
rl_check drained_a_hands_the_call_to_b "A handed off $(( $(handed_off_a) - handed_before )), allocated $(( $(pairs_a) - pairs_before )) pairs; the call completed: ${FC_SIPP_OK}; A: $(vip_state)" \
  test "$(handed_off_a)" -gt "$handed_before" -a "$(pairs_a)" -eq "$pairs_before" -a "${FC_SIPP_OK:-0}" = 1
heard="alice got $(fc_frames_from alice "$B_IP"), bob $(fc_frames_from bob "$B_IP") RTP frames from B ($B_IP)"
rl_check media_relayed_by_b "$heard" test "$(fc_frames_from alice "$B_IP")" -gt 100 -a "$(fc_frames_from bob "$B_IP")" -gt 100

# --- Still drained, a call to one of A's own phones: bob leaves B and
# registers to the VIP again. A hands the call to B for its media; B
# routes it back to A (bob's node): the same Call-ID's second pass, a
# call of its own on A (a spiral), rings bob. B relays the media, A none;
# the BYE crosses both passes.
st_node relay2
st_register ln2 unreg_bob_b "$FC_B_IP:5060" "$B_IP:$ST_SIP_PORT" bob "$FC_B_PW" -key expires 0 ||
  rl_log "bob did not leave B"
fc_register_callee || rl_log "bob did not register to the VIP"
st_node relay
bob_on_a() { [[ $(jget "$(cctl registration "bob@$ST_DOMAIN")" "[b.get('node', '') for b in d['bindings']]") == '[""]' ]]; }
rl_check bob_registered_to_a "$(rl_wait_for 5 bob_on_a; jget "$(cctl registration "bob@$ST_DOMAIN")" "[(b['contact'], b.get('node', 'here')) for b in d['bindings']]")" bob_on_a
spiralled_a() { jget "$(cctl sip-stats)" "d['proxy']['calls_spiralled']"; }
pairs_before=$(pairs_a)
handed_before=$(handed_off_a)
spiralled_before=$(spiralled_a)
fc_capture_start "$B_IP" || rl_log "tcpdump not listening"
fc_start_calls 1 8 || rl_log "sipp did not start"
st_node relay
both_passes() { [[ $(jget "$(cctl calls)" "sorted((c['state'], c['spiral']) for c in d['calls'])") == '[["confirmed", false], ["confirmed", true]]' ]]; }
rl_wait_for 8 both_passes || true
rl_check drained_a_carries_both_passes "A: $(jget "$(cctl calls)" "[(c['state'], c['spiral'], c['anchored']) for c in d['calls']]")" both_passes
fc_calls_ended 30
fc_capture_stop
st_node relay
rl_check own_phone_call_spirals_through_b "A handed off $(( $(handed_off_a) - handed_before )), spiralled $(( $(spiralled_a) - spiralled_before )), allocated $(( $(pairs_a) - pairs_before )) pairs; the call completed: ${FC_SIPP_OK}" \
  test "$(handed_off_a)" -eq $((handed_before + 1)) -a "$(spiralled_a)" -eq $((spiralled_before + 1)) -a "$(pairs_a)" -eq "$pairs_before" -a "${FC_SIPP_OK:-0}" = 1
heard="alice got $(fc_frames_from alice "$B_IP"), bob $(fc_frames_from bob "$B_IP") RTP frames from B ($B_IP)"
rl_check spiral_media_relayed_by_b "$heard" test "$(fc_frames_from alice "$B_IP")" -gt 100 -a "$(fc_frames_from bob "$B_IP")" -gt 100
no_calls() { [[ $(jget "$(cctl calls)" "len(d['calls'])") == 0 ]]; }
rl_check spiral_passes_end_with_the_bye "A holds $(rl_wait_for 5 no_calls; jget "$(cctl calls)" "len(d['calls'])") calls after the BYE" no_calls
cctl drain off >/dev/null

# --- A call between the two nodes' phones when A dies: bob leaves the VIP
# and registers to B's own address; alice (on the VIP) calls him, and A
# relays the media (B passes it on). A is killed with -9: B takes the VIP,
# and its leg of the call takes A's over (alice, at A's relay ports): both
# phones hear each other again, and the BYE at the end reaches bob.
st_register ln2 unreg_bob_vip "$FC_B_IP:5060" "$VIP:$ST_SIP_PORT" bob "$FC_B_PW" -key expires 0 ||
  rl_log "bob did not leave the VIP"
st_register ln2 reg_bob_b2 "$FC_B_IP:5060" "$B_IP:$ST_SIP_PORT" bob "$FC_B_PW" -key expires 3600 ||
  rl_log "bob did not register to B"
rl_wait_for 5 python3 "$VP_CLIENT" seen "$CTL_SOCK" bob edge-b 100 >/dev/null ||
  rl_log "A does not see bob on B"
fc_start_calls 1 20 || rl_log "sipp did not start"
fc_calls_up 1 20 || true
rl_check inter_node_call_relayed_by_a "A: $(jget "$(cctl calls)" "[(c['state'], c['anchored']) for c in d['calls']]")" \
  test "$(jget "$(cctl calls)" "[(c['state'], c['anchored']) for c in d['calls']]")" = '[["confirmed", true]]'
fc_save_calls
fc_capture_start "$VIP" || rl_log "tcpdump not listening"
sleep 2
vp_kill_a
killed=$VP_KILLED_AT
st_node relay2
rl_wait_for 10 taken_valid || true
spliced() { [[ $(jget "$(cctl sip-stats)" "d['proxy']['calls_spliced']") -ge 1 ]]; }
rl_wait_for 5 spliced || true
rl_check b_takes_over_the_dead_leg "B: $(jget "$(cctl calls)" "[(c['state'], c['anchored'], c['legs'][0]['signalling'], c['legs'][1]['signalling']) for c in d['calls']]"), spliced $(jget "$(cctl sip-stats)" "d['proxy']['calls_spliced']")" spliced
fc_calls_ended 60
fc_capture_stop
media=$(fc_media "$killed")
rl_check inter_node_call_heard_after_the_kill "$media" grep -q "kept=1 " <<<"$media"
rl_check inter_node_call_ends_through_b "alice's call completed (BYE answered through B): ${FC_SIPP_OK} of 1" \
  test "$FC_SIPP_OK" = 1

rl_summary "$SUITE"
