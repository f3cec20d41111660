#!/usr/bin/env bash
# SIP over TLS to and from a carrier's core (issue 15: TLS "for phones and
# peers"): the dial plan sends a number to the core, a real Kamailio 5.6
# reached by name over TLS; the core calls our phone over its own TLS
# connection and is trusted by its client certificate's name, not its
# address; a core whose certificates come from another CA is refused both
# ways, and the calls fail cleanly.
#
#   tls_peer_test.sh
#
# Network (namespaces; documentation prefixes only):
#   relay   rtplatch at 203.0.113.10: UDP 5060 and TLS 5061, its
#           certificate (SAN IP:203.0.113.10, DNS:example.test) from a test
#           CA made here with openssl, ca_file that CA; peer "core" =
#           sip:core.carrier.example:5061;transport=tls, trusted by the
#           certificate name core.carrier.example only (no trusted
#           sources); the route "+1" -> core; the DNS server below
#   dns     dnsmasq at 203.0.113.53: core.carrier.example A 203.0.113.40
#   core    the carrier's core, 203.0.113.40: Kamailio 5.6 with tls.so
#           (tests/integration/kamailio/tls_core.cfg) on TLS 5061 (server
#           certificate DNS:core.carrier.example, client certificate for
#           its connections to us with the same name, both from the test
#           CA) and UDP 5080; behind it, on UDP 5060, sipp as the
#           softswitch: it answers +15551234567 with a 600 Hz tone and
#           calls our phone
#   alice   sipp phone behind MASQUERADE (203.0.113.30), 440 Hz
# Checks:
#   0. the edge located the core by DNS (one TLS hop, dnsmasq asked A).
#   1. alice -> +15551234567 connects, tones both ways; the edge opened
#      a TLS connection (sip-stats transport: connects, tls_handshakes) and
#      Kamailio got the INVITE over TLS (its log: proto tls; the
#      softswitch sees the edge's Via as TLS).
#   2. the core -> alice connects, tones both ways, over a connection the
#      core opened to 5061, without a digest challenge (calls_from_peers;
#      request_challenges unchanged): trusted by the certificate's name.
#   3. negative control: Kamailio restarted with a server and a client
#      certificate from another CA: alice's call gets a final 5xx/408 from
#      the edge (no hang, within the answer timeout and a margin), the
#      handshake is counted as failed and nothing reaches the softswitch;
#      the core's call to alice is refused by the edge's handshake and
#      never rings alice; Kamailio logs the edge's "unknown ca" alert both
#      ways (as a client, the edge sent the SNI core.carrier.example).
#   4. no stream left.
# Output: "PASS name" / "FAIL name" per check, then
# "tls_peer: N passed, N failed". Exit 77 when it cannot run here (no
# Kamailio with kamailio-tls-modules, dnsmasq or openssl).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=tls_peer
NUMBER=+15551234567

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
# shellcheck source=scripts/lib/carrier_dns.sh
source "$ROOT/scripts/lib/carrier_dns.sh"
# shellcheck source=scripts/lib/test_certs.sh
source "$ROOT/scripts/lib/test_certs.sh"
st_main "$SUITE" "$0" "$@"
KM_BIN="${KAMAILIO:-/usr/sbin/kamailio}"
KM_TLS_SO=/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so
[[ -x $KM_BIN ]] || { echo "SKIP $SUITE: $KM_BIN not found (kamailio)"; exit 77; }
[[ -f $KM_TLS_SO ]] || { echo "SKIP $SUITE: $KM_TLS_SO not found (kamailio-tls-modules)"; exit 77; }
if ! why=$(cd_missing); then echo "SKIP $SUITE: $why"; exit 77; fi
command -v openssl >/dev/null || { echo "SKIP $SUITE: openssl not found"; exit 77; }

st_init "${RL_PREFIX:-tp$$}"
D="$ST_DOMAIN"
CORE=203.0.113.40
CORE_NAME=core.carrier.example
KM_UDP_PORT=5080
DNS_IP=203.0.113.53
TLS="$RL_TMP/tls"
mkdir -p "$TLS"

if ! { ct_cert "$TLS" ca - "" && ct_cert "$TLS" other_ca - "" &&
       ct_cert "$TLS" relay ca "IP:$ST_RELAY_IP,DNS:$D" &&
       ct_cert "$TLS" core ca "DNS:$CORE_NAME" && ct_cert "$TLS" core_client ca "DNS:$CORE_NAME" &&
       ct_cert "$TLS" other_core other_ca "DNS:$CORE_NAME" &&
       ct_cert "$TLS" other_core_client other_ca "DNS:$CORE_NAME"; }; then
  rl_die "openssl could not make the test certificates"
fi

ST_CONTROL_EXTRA=$(cat <<EOF
"tls_listen": ["$ST_RELAY_IP:5061"],
"tls": {"certificate": "$TLS/relay.pem", "private_key": "$TLS/relay.key",
        "ca_file": "$TLS/ca.pem"},
"peers": [{"name": "core", "targets": [{"uri": "sip:$CORE_NAME:5061;transport=tls"}],
           "trusted_tls_names": ["$CORE_NAME"]}],
"routes": [{"prefix": "+1", "peers": ["core"]}],
"dns": {"servers": ["$DNS_IP"]}
EOF
)
HOP="TLS $CORE:5061"
# tone_call.sh's phones: alice, and the core's softswitch (sipp on the
# core host, reached through Kamailio both ways).
declare -A MAKE=([alice]=sipp [core]=sipp)
declare -A ROLE=([alice]=lan [core]=core)
declare -A ADDR=([alice]=192.0.2.2 [core]=$CORE)
declare -A EP=([alice]=192.0.2.2:5060 [core]=$CORE:5060)
declare -A REMOTE=([alice]=$ST_RELAY_IP:$ST_SIP_PORT [core]=$CORE:$KM_UDP_PORT)
declare -A TONE=([alice]=440 [core]=600)
declare -A PW=([alice]=alice-tp-1 [core]=-)
declare -A UAC=([core]=core_uac)
st_add_user alice "${PW[alice]}"
TC_SNAP="$RL_TMP/snap.sh"
printf '#!/bin/sh\nexit 0\n' >"$TC_SNAP"; chmod +x "$TC_SNAP"

# core_start NAME SERVER_CERT CLIENT_CERT: Kamailio with tls_core.cfg in
# the core namespace, its certificates DIR/SERVER_CERT.{pem,key} and
# DIR/CLIENT_CERT.{pem,key}, the test CA as the one it checks ours with;
# log $RL_TMP/NAME.log. Sets KM_PID, KM_LOG.
KM_PID=""; KM_LOG=""
core_start() {
  local name="$1" server="$2" client="$3" cfg="$RL_TMP/$1.cfg" tls_cfg="$RL_TMP/$1-tls.cfg"
  cat >"$tls_cfg" <<EOF
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = $TLS/$server.pem
private_key = $TLS/$server.key
ca_list = $TLS/ca.pem

[client:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
certificate = $TLS/$client.pem
private_key = $TLS/$client.key
ca_list = $TLS/ca.pem
EOF
  sed -e "s|@CORE_IP@|$CORE|g" -e "s|@UDP_PORT@|$KM_UDP_PORT|" -e "s|@DOMAIN@|$D|" \
      -e "s|@SOFTSWITCH@|${EP[core]}|" -e "s|@EDGE@|$ST_RELAY_IP:5061|" \
      -e "s|@TLS_CFG@|$tls_cfg|" "$ROOT/tests/integration/kamailio/tls_core.cfg" >"$cfg"
  mkdir -p "$RL_TMP/$name-run"
  KM_LOG="$RL_TMP/$name.log"
  rl_spawn core "$KM_LOG" "$KM_BIN" -f "$cfg" -DD -E -m 64 -M 8 \
    -Y "$RL_TMP/$name-run" -w "$RL_TMP/$name-run"
  KM_PID=$RL_LAST_PID
  if ! rl_wait_for 15 bash -c "ip netns exec $(rl_ns core) ss -Hlnt 'sport = :5061' | grep -q ."; then
    rl_log "kamailio ($name) did not start"; tail -n 30 "$KM_LOG" >&2
    return 1
  fi
  rl_log "kamailio ($name) pid $KM_PID up on tls:$CORE:5061, udp:$CORE:$KM_UDP_PORT"
}
core_stop() { [[ -n $KM_PID ]] && rl_kill "$KM_PID" 5; KM_PID=""; }
km_lines() { grep -cE "$1" "$KM_LOG" 2>/dev/null; }

hop_field() {  # FIELD of the core's hop
  jget "$(cctl peers 2>/dev/null)" \
    "[h['$1'] for p in d['peers'] for t in p['targets'] for h in t['hops'] if h['hop'] == '$HOP'][0]" \
    2>/dev/null
}
hop_located() { [[ -n $(hop_field state) ]]; }
sip_stat() { jget "$(cctl sip-stats 2>/dev/null)" "d['proxy']['$1']" 2>/dev/null; }
transport_stat() { jget "$(cctl sip-stats 2>/dev/null)" "d['transport']['$1']" 2>/dev/null; }

st_start_relay || rl_die "relay did not start"
st_add_public_phone dns dn "$DNS_IP/24"
cd_start dns "$DNS_IP" --host-record="$CORE_NAME,$CORE"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone core co "$CORE/24"
core_start kamailio core core_client || rl_die "kamailio did not start"

# 0. The core, located by DNS (an explicit port: A/AAAA only).
rl_wait_for 20 hop_located
rl_check core_located_by_dns "hops: $(jget "$(cctl peers 2>/dev/null)" "d['peers'][0]['targets'][0]['hops']" 2>/dev/null)" \
  hop_located
rl_check dns_asked_A "dnsmasq logged: query[A] $CORE_NAME" cd_asked A "$CORE_NAME"

rl_check alice_registered "200 to its REGISTER (digest)" tc_register alice
# Its NAT timeout is learned first (the learner's OPTIONS probes would
# otherwise reach its UAS in place of the core's INVITE), then it
# registers again, as the 60 s expiry of a binding still learning asks.
st_wait_learned 30 alice
rl_check alice_nat_timeout_learned "keepalive interval learned" st_learned alice
rl_check alice_registered_again "200 to its second REGISTER" tc_register alice

# 1. alice calls the number: over TLS to Kamailio, on to the softswitch.
connects=$(transport_stat connects)
handshakes=$(transport_stat tls_handshakes)
tc_alias "$NUMBER" core
tc_call alice_to_core alice "$NUMBER"
tc_check_heard alice_to_core alice "$NUMBER" "alice -> $NUMBER through the core over TLS"
rl_check edge_opened_tls_connection \
  "connects $connects -> $(transport_stat connects), tls_handshakes $handshakes -> $(transport_stat tls_handshakes)" \
  test "$(transport_stat connects)" -gt "$connects" -a "$(transport_stat tls_handshakes)" -gt "$handshakes"
rl_check core_got_invite_over_tls "kamailio: $(grep -m1 -o "core: INVITE sip:$NUMBER.*" "$KM_LOG")" \
  grep -qE "core: INVITE sip:\\$NUMBER@$CORE_NAME:5061[;=a-z]* from $ST_RELAY_IP:[0-9]+ proto tls" "$KM_LOG"
via=$(st_hdr "$(st_msg alice_to_core_uas received '^INVITE ')" Via 2>/dev/null)
edge_via=$(grep -m1 "$ST_RELAY_IP" <<<"$via")
rl_check softswitch_sees_edge_via_tls "edge's Via: $edge_via" \
  grep -q "^SIP/2.0/TLS $ST_RELAY_IP:5061" <<<"$edge_via"
rl_check calls_counted_to_peer "calls_to_peers=$(sip_stat calls_to_peers)" \
  test "$(sip_stat calls_to_peers)" -eq 1
rl_wait_for 5 st_no_streams_left
rl_check streams_freed_after_call_to_core "$(st_streams_left) streams left" st_no_streams_left

# 2. The core calls alice over its own TLS connection, unchallenged.
challenges=$(sip_stat request_challenges)
accepted=$(transport_stat tls_accepted)
tc_call core_to_alice core alice
tc_check_heard core_to_alice core alice "core -> alice@$D over TLS (trusted by certificate)"
rl_check core_never_challenged "request_challenges (407s) $challenges -> $(sip_stat request_challenges)" \
  test "$(sip_stat request_challenges)" -eq "$challenges"
rl_check calls_counted_from_peer "calls_from_peers=$(sip_stat calls_from_peers)" \
  test "$(sip_stat calls_from_peers)" -eq 1
rl_check core_connected_to_5061 "tls_accepted $accepted -> $(transport_stat tls_accepted)" \
  test "$(transport_stat tls_accepted)" -gt "$accepted"
rl_check core_replied_over_tls "kamailio: $(grep -m1 -o 'core: reply 200 to INVITE from .* proto tls' "$KM_LOG")" \
  grep -qE "core: reply 200 to INVITE from $ST_RELAY_IP:5061 proto tls" "$KM_LOG"
rl_wait_for 5 st_no_streams_left

# 3. Negative control: the core's certificates from another CA.
core_stop
core_start kamailio_other_ca other_core other_core_client || rl_die "kamailio did not start again"
failures=$(transport_stat tls_handshake_failures)
start=$(date +%s.%N)
ST_SIPP_TIMEOUT_S=15 st_sipp lan alice_to_untrusted_core "$ST_SCENARIOS/uac_call_refused.xml" \
  "${EP[alice]}" "${REMOTE[alice]}" -key user alice -key callee "$NUMBER" -au alice \
  -ap "${PW[alice]}" -auth_uri "$NUMBER@$D"
rc=$?
took=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
got=$(st_msg alice_to_untrusted_core received '^SIP/2.0 [4-6]' -1 | head -n 1 | tr -d '\r')
rl_check call_to_untrusted_core_fails_cleanly "'$got' after ${took} s (sipp exit $rc)" \
  bash -c "[[ $rc == 0 && '$got' =~ ^SIP/2.0\ (408|5[0-9][0-9])\  ]]"
rl_check call_to_untrusted_core_within_timeout "${took} s (answer timeout 3 s)" \
  python3 -c "import sys; sys.exit(0 if $took < 8 else 1)"
rl_check untrusted_core_handshake_failed "tls_handshake_failures $failures -> $(transport_stat tls_handshake_failures)" \
  test "$(transport_stat tls_handshake_failures)" -gt "$failures"
rl_check untrusted_core_got_unknown_ca_alert "kamailio: $(grep -m1 -o 'TLS accept:.*' "$KM_LOG")" \
  grep -q "TLS accept:.*alert unknown ca (sni: $CORE_NAME)" "$KM_LOG"
rl_check untrusted_core_got_no_invite "INVITEs over TLS in its log: $(km_lines 'core: INVITE .* proto tls')" \
  test "$(km_lines 'core: INVITE .* proto tls')" -eq 0

failures=$(transport_stat tls_handshake_failures)
from_peers=$(sip_stat calls_from_peers)
ST_SIPP_TIMEOUT_S=15 st_sipp core core_untrusted_to_alice "$ST_SCENARIOS/core_uac_refused.xml" \
  "${EP[core]}" "${REMOTE[core]}" -key user core -key callee alice
rc=$?
got=$(st_msg core_untrusted_to_alice received '^SIP/2.0 [4-6]' -1 | head -n 1 | tr -d '\r')
rl_check untrusted_core_call_refused "'$got' (sipp exit $rc)" test "$rc" -eq 0
rl_check untrusted_client_handshake_failed "tls_handshake_failures $failures -> $(transport_stat tls_handshake_failures)" \
  test "$(transport_stat tls_handshake_failures)" -gt "$failures"
rl_check untrusted_client_got_unknown_ca_alert "from the edge's 5061: $(grep -A1 'TLS read:.*alert unknown ca' "$KM_LOG" | grep -o "src addr: .*" | head -n 1)" \
  bash -c "grep -A1 'TLS read:.*alert unknown ca' '$KM_LOG' | grep -q 'src addr: $ST_RELAY_IP:5061'"
rl_check untrusted_core_never_reached_alice "calls_from_peers $from_peers -> $(sip_stat calls_from_peers)" \
  test "$(sip_stat calls_from_peers)" -eq "$from_peers"

# 4. Nothing left behind.
rl_wait_for 5 st_no_streams_left
rl_check streams_freed_at_end "$(st_streams_left) streams left" st_no_streams_left

rl_summary "$SUITE"
