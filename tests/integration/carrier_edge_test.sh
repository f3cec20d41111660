#!/usr/bin/env bash
# rtplatch-control at a carrier's edge (issue 15): our phones call a
# PSTN-style number that the dial plan sends to the carrier's core, found
# by name in the carrier's DNS (RFC 3263), the core calls our phones, and
# the core's servers fail over and recover.
#
#   carrier_edge_test.sh
#
# Network (namespaces; documentation prefixes only):
#   relay   rtplatch (dataplane + control) at 203.0.113.10, with peer
#           "core" = sip:carrier.example, trusted by 203.0.113.40 and .41,
#           the route "+1" -> core, and the DNS server below; every other
#           setting shipped
#   dns     dnsmasq at 203.0.113.53: carrier.example NAPTR -> SIP+D2U
#           _sip._udp.carrier.example; SRV priority 10 core1.carrier.example,
#           priority 20 core2.carrier.example (port 5060); their A records
#   core1   the carrier core's primary, 203.0.113.40: sipp, the softswitch
#           answering for +15551234567 with a 600 Hz tone
#   core2   its secondary, 203.0.113.41 (the same, 700 Hz)
#   alice   sipp phone behind MASQUERADE (203.0.113.30), 440 Hz
#   erin    baresip phone behind MASQUERADE --random-fully (203.0.113.31),
#           880 Hz
# Checks:
#   0. the edge located the core by DNS: two hops, the primary first, and
#      asked NAPTR, SRV and A (dnsmasq's query log).
#   1. each phone calls +15551234567@example.test: the primary answers,
#      both sides hear each other's tone, the call is the peer's in
#      `rtplatchctl calls`, and the phone's private address never reaches
#      the core's SDP (media relayed); the core is called by its name
#      (Request-URI sip:+15551234567@carrier.example).
#   2. the core (primary) calls each phone's AOR: it rings without a digest
#      challenge (the peer is trusted by address), audio both ways; a
#      stranger's call to the number (at our domain or the carrier's) is
#      refused and never reaches the core.
#   3. failover: the primary stopped, alice's call completes through the
#      secondary, after the primary's answer timeout (3 s by default) and
#      well within the caller's patience.
#   4. after three such failures the primary's hop is down (`rtplatchctl peers`),
#      the next call goes straight to the secondary (no wait, no attempt at
#      the primary); the primary answers the OPTIONS probe (every 10 s by
#      default) and is up again; the next call is the primary's.
# Output: "PASS name" / "FAIL name" per check, then
# "carrier_edge: N passed, N failed". Exit 77 when it cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=carrier_edge
NUMBER=+15551234567

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
# shellcheck source=scripts/lib/carrier_dns.sh
source "$ROOT/scripts/lib/carrier_dns.sh"
st_main "$SUITE" "$0" "$@"
if ! why=$(bp_missing); then echo "SKIP $SUITE: $why"; exit 77; fi
if ! why=$(cd_missing); then echo "SKIP $SUITE: $why"; exit 77; fi

st_init "${RL_PREFIX:-ce$$}"
D="$ST_DOMAIN"
CORE1=203.0.113.40
CORE2=203.0.113.41
DNS_IP=203.0.113.53
ST_CONTROL_EXTRA=$(cat <<EOF
"peers": [{"name": "core", "targets": [{"uri": "sip:carrier.example"}],
           "trusted_sources": ["$CORE1", "$CORE2"]}],
"routes": [{"prefix": "+1", "peers": ["core"]}],
"dns": {"servers": ["$DNS_IP"]}
EOF
)
HOP1="UDP $CORE1:5060"
HOP2="UDP $CORE2:5060"
# The phones (tone_call.sh's arrays) and the core's two sides, by name;
# the number is whichever core target takes it (set per call).
declare -A MAKE=([alice]=sipp [erin]=baresip [core1]=sipp [core2]=sipp)
declare -A ROLE=([alice]=lan1 [erin]=lan2 [core1]=core1 [core2]=core2)
declare -A ADDR=([alice]=192.0.2.2 [erin]=192.0.2.2 [core1]=$CORE1 [core2]=$CORE2)
declare -A EP=([alice]=192.0.2.2:5060 [core1]=$CORE1:5060 [core2]=$CORE2:5060)
declare -A REMOTE=([alice]=$ST_RELAY_IP:$ST_SIP_PORT [core1]=$ST_RELAY_IP:$ST_SIP_PORT)
declare -A TONE=([alice]=440 [erin]=880 [core1]=600 [core2]=700)
declare -A PW=([alice]=alice-ce-1 [erin]=erin-ce-2 [core1]=- [core2]=-)
declare -A UAC=([core1]=core_uac)
for u in alice erin; do st_add_user "$u" "${PW[$u]}"; done

st_start_relay || rl_die "relay did not start"
# The carrier's DNS: the edge's first lookups (as it started) found no
# server; it asks again every 2 s until it locates the core.
st_add_public_phone dns dn "$DNS_IP/24"
cd_start dns "$DNS_IP" --naptr-record=carrier.example,10,10,S,SIP+D2U,,_sip._udp.carrier.example \
  --srv-host=_sip._udp.carrier.example,core1.carrier.example,5060,10,10 \
  --srv-host=_sip._udp.carrier.example,core2.carrier.example,5060,20,10 \
  --host-record=core1.carrier.example,$CORE1 --host-record=core2.carrier.example,$CORE2
st_add_nat_phone na1 lan1 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_nat_phone na2 lan2 203.0.113.31/24 192.0.2.1/24 192.0.2.2/24 random-fully
st_add_public_phone core1 c1 "$CORE1/24"
st_add_public_phone core2 c2 "$CORE2/24"
st_add_public_phone stranger sx 203.0.113.66/24

TC_SNAP="$RL_TMP/snap.sh"
printf '#!/bin/sh\nexit 0\n' >"$TC_SNAP"; chmod +x "$TC_SNAP"

hop_field() {  # HOP FIELD: e.g. "UDP 203.0.113.40:5060" state
  jget "$(cctl peers 2>/dev/null)" \
    "[h['$2'] for p in d['peers'] for t in p['targets'] for h in t['hops'] if h['hop'] == '$1'][0]" \
    2>/dev/null
}
peer_state() { hop_field "$1" state; }
peer_attempts() { hop_field "$1" attempts; }
hops_located() {
  [[ $(jget "$(cctl peers 2>/dev/null)" \
       "[h['hop'] for h in d['peers'][0]['targets'][0]['hops']] == ['$HOP1', '$HOP2']" \
       2>/dev/null) == True ]]
}
sip_stat() { jget "$(cctl sip-stats 2>/dev/null)" "d['proxy']['$1']" 2>/dev/null; }
# The INVITEs a core target's sipp received in its latest UAS run.
sdp_at_core() { grep -h '^c=IN' "$ST_SIPP_DIR/$1_uas.msg" 2>/dev/null | sort -u | tr '\n' ' '; }

# 0. The core, located by DNS.
rl_wait_for 20 hops_located
rl_check core_located_by_dns "hops: $(jget "$(cctl peers 2>/dev/null)" "d['peers'][0]['targets'][0]['hops']" 2>/dev/null)" \
  hops_located
for q in "NAPTR carrier.example" "SRV _sip._udp.carrier.example" "A core1.carrier.example" \
         "A core2.carrier.example"; do
  rl_check "dns_asked_${q%% *}_${q#* }" "dnsmasq logged: query[${q% *}] ${q#* }" cd_asked $q
done

rl_check alice_registered "200 to its REGISTER (digest)" tc_register alice
rl_check erin_registered "baresip registered (digest)" tc_register erin

# Their NAT timeouts are learned first (the shipped defaults): the
# learner's OPTIONS probes would otherwise reach a sipp phone's UAS in place
# of the core's INVITE. sipp alice then registers again, as the 60 s expiry
# of a binding still learning asks (baresip does so by itself).
# alice registers again at once: her first binding (60 s, while learning)
# would expire while erin's learning runs, and a new binding starts
# learning afresh, its probes landing on her UAS.
st_wait_learned 30 alice
rl_check alice_nat_timeout_learned "keepalive interval learned" st_learned alice
rl_check alice_registered_again "200 to its second REGISTER" tc_register alice
st_wait_learned 120 erin
rl_check erin_nat_timeout_learned "keepalive interval learned" st_learned erin
rl_check alice_still_learned "her refreshed binding kept its interval" st_learned alice

# 1. Our phones call the number: the primary answers.
tc_alias "$NUMBER" core1
for p in alice erin; do
  n="${p}_to_core"
  tc_call "$n" "$p" "$NUMBER"
  tc_check_heard "$n" "$p" "$NUMBER" "$p -> $NUMBER through the primary"
  rl_check "${n}_relayed_sdp" "c= lines the core got: $(sdp_at_core "$n")" \
    bash -c "[[ '$(sdp_at_core "$n")' == *'c=IN IP4 $ST_RELAY_IP'* && '$(sdp_at_core "$n")' != *192.0.2.* ]]"
  ruri=$(grep -h -m1 '^INVITE ' "$ST_SIPP_DIR/${n}_uas.msg" 2>/dev/null | tr -d '\r')
  rl_check "${n}_core_called_by_name" "$ruri" \
    test "$ruri" == "INVITE sip:$NUMBER@carrier.example SIP/2.0"
done
rl_check calls_counted_to_peer "calls_to_peers=$(sip_stat calls_to_peers)" \
  test "$(sip_stat calls_to_peers)" -eq 2
rl_check primary_took_both "primary attempts=$(peer_attempts "$HOP1")" \
  test "$(peer_attempts "$HOP1")" -eq 2
rl_wait_for 5 st_no_streams_left
rl_check streams_freed_after_core_calls "$(st_streams_left) streams left" st_no_streams_left

# 2. The core calls our phones, unchallenged.
challenges=$(sip_stat request_challenges)
for p in alice erin; do
  n="core_to_${p}"
  tc_call "$n" core1 "$p"
  tc_check_heard "$n" core1 "$p" "core -> $p@$D (trusted peer)"
done
rl_check core_never_challenged "request_challenges (407s) $challenges -> $(sip_stat request_challenges)" \
  test "$(sip_stat request_challenges)" -eq "$challenges"
rl_check calls_counted_from_peer "calls_from_peers=$(sip_stat calls_from_peers)" \
  test "$(sip_stat calls_from_peers)" -eq 2
# A stranger may not use the edge to reach the carrier: neither the number
# at our domain (not a local user, and only our users follow the dial
# plan) nor at the carrier's.
attempts=$(peer_attempts "$HOP1")
for to in "$D" carrier.example; do
  st_sipp stranger "stranger_to_${to%%.*}" "$ST_SCENARIOS/sip_proxy_invite_rejected.xml" \
    203.0.113.66:5060 "$ST_RELAY_IP:$ST_SIP_PORT" -key user mallory \
    -key from_domain elsewhere.example -key callee "$NUMBER" -key to_domain "$to"
  rc=$?
  got=$(st_msg "stranger_to_${to%%.*}" received '^SIP/2.0 [3-6]' | head -n 1 | tr -d '\r')
  rl_check "stranger_to_${to%%.*}_refused" "to $NUMBER@$to: '$got' (sipp exit $rc)" test "$rc" -eq 0
done
rl_check stranger_never_reached_core "primary attempts $attempts -> $(peer_attempts "$HOP1")" \
  test "$(peer_attempts "$HOP1")" -eq "$attempts"

# 3. Failover: the primary is gone (nothing listens at 203.0.113.40).
tc_alias "$NUMBER" core2
start=$(date +%s.%N)
tc_call alice_failover alice "$NUMBER"
took=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
tc_check_heard alice_failover alice "$NUMBER" "alice -> $NUMBER through the secondary"
rl_check failover_counted "peer_no_answer=$(sip_stat peer_no_answer) peer_failovers=$(sip_stat peer_failovers)" \
  test "$(sip_stat peer_no_answer)" -eq 1 -a "$(sip_stat peer_failovers)" -eq 1
rl_check primary_still_up_after_one_failure "state=$(peer_state "$HOP1")" \
  test "$(peer_state "$HOP1")" == up

# 4. Two more failures: down; then straight to the secondary.
for i in 2 3; do tc_call "alice_failover$i" alice "$NUMBER"; done
rl_check primary_down_after_three_failures "state=$(peer_state "$HOP1")" \
  test "$(peer_state "$HOP1")" == down
attempts=$(peer_attempts "$HOP1")
failovers=$(sip_stat peer_failovers)
tc_call alice_primary_down alice "$NUMBER"
tc_check_heard alice_primary_down alice "$NUMBER" "alice -> $NUMBER, primary down"
rl_check down_primary_not_tried "primary attempts $attempts -> $(peer_attempts "$HOP1"), failovers $failovers -> $(sip_stat peer_failovers)" \
  test "$(peer_attempts "$HOP1")" -eq "$attempts" -a "$(sip_stat peer_failovers)" -eq "$failovers"

# The primary comes back: it answers the next probe, and takes calls again.
ST_SIPP_TIMEOUT_S=25 st_sipp core1 primary_probe "$ST_SCENARIOS/core_options_uas.xml" \
  "$CORE1:5060" -
rl_check primary_answered_probe "sipp answered an OPTIONS (exit $?)" \
  bash -c "grep -q '^OPTIONS sip:carrier.example SIP/2.0' '$ST_SIPP_DIR/primary_probe.msg'"
primary_up() { [[ $(peer_state "$HOP1") == up ]]; }
rl_wait_for 3 primary_up
rl_check primary_up_again "state=$(peer_state "$HOP1") peers_recovered=$(sip_stat peers_recovered)" \
  test "$(peer_state "$HOP1")" == up
tc_alias "$NUMBER" core1
tc_call alice_primary_back alice "$NUMBER"
tc_check_heard alice_primary_back alice "$NUMBER" "alice -> $NUMBER, primary back"
rl_log "failover call took ${took} s (the primary's answer timeout is 3 s)"
rl_check failover_within_timeout "the failover call took ${took} s (3 s timeout + 5 s call)" \
  python3 -c "import sys; sys.exit(0 if 8.0 <= $took < 15 else 1)"

# 5. Reload of peers and routes with a call up.
cp "$CTL_CONFIG" "$RL_TMP/control.before_reload.json"
edit_config() {  # PYTHON: edits dict c, the control config
  python3 - "$RL_TMP/control.before_reload.json" "$CTL_CONFIG" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
}
edit_config "c['peers'] = [{'name': 'direct', 'targets': [{'uri': 'sip:$CORE2:5060'}]}]
c['routes'] = [{'prefix': '+1', 'peers': ['direct']}]"
calls_up() { [[ $(jget "$(cctl calls 2>/dev/null)" "len(d['calls'])" 2>/dev/null) == 1 ]]; }
# In the background, once alice's call is up: the reload, and the calls
# that are up right after it.
( rl_wait_for 10 calls_up
  cctl reload >"$RL_TMP/reload_mid_call.json" 2>&1
  jget "$(cctl calls 2>/dev/null)" "len(d['calls'])" >"$RL_TMP/calls_after_reload" 2>&1 ) &
reloader=$!
tc_call alice_across_reload alice "$NUMBER"
wait "$reloader"
out=$(cat "$RL_TMP/reload_mid_call.json")
rl_check reload_took_peers_and_routes "$(head -c 300 <<<"$out")" \
  test "$(jget "$out" "' '.join([','.join(d['peers'][k]) for k in ('added', 'removed', 'changed')] + [d['routes'], str(len(d['restart_needed']))])" 2>/dev/null)" == \
  "direct core  reloaded 0"
rl_check reload_kept_the_call "calls right after the reload: $(cat "$RL_TMP/calls_after_reload")" \
  test "$(cat "$RL_TMP/calls_after_reload")" == 1
tc_check_heard alice_across_reload alice "$NUMBER" "alice -> $NUMBER (primary), reloaded mid-call"
rl_check reload_kept_registrations "alice's bindings: $(jget "$(cctl registration "alice@$D")" "len(d['bindings'])" 2>/dev/null)" \
  test "$(jget "$(cctl registration "alice@$D")" "len(d['bindings'])" 2>/dev/null)" == 1
rl_check reload_peers_listed "$(jget "$(cctl peers 2>/dev/null)" "','.join(p['name'] for p in d['peers'])" 2>/dev/null)" \
  test "$(jget "$(cctl peers 2>/dev/null)" "','.join(p['name'] for p in d['peers'])" 2>/dev/null)" == direct
tc_alias "$NUMBER" core2
tc_call alice_new_route alice "$NUMBER"
tc_check_heard alice_new_route alice "$NUMBER" "alice -> $NUMBER by the reloaded route (secondary)"
rl_check new_route_took_the_new_peer "direct's attempts at $HOP2: $(peer_attempts "$HOP2")" \
  test "$(peer_attempts "$HOP2")" == 1
edit_config "c['routes'] = [{'prefix': '+1', 'peers': ['nosuch']}]"
out=$(cctl reload 2>&1)
rl_check reload_route_to_no_peer_refused "$(head -c 240 <<<"$out")" \
  grep -q 'reload refused, running config kept: .*nosuch' <<<"$out"
rl_check refused_reload_keeps_peers "$(jget "$(cctl peers 2>/dev/null)" "','.join(p['name'] for p in d['peers'])" 2>/dev/null)" \
  test "$(jget "$(cctl peers 2>/dev/null)" "','.join(p['name'] for p in d['peers'])" 2>/dev/null)" == direct
rl_wait_for 5 st_no_streams_left
rl_check streams_freed_at_end "$(st_streams_left) streams left" st_no_streams_left

rl_summary "$SUITE"
