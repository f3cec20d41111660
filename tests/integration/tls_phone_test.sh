#!/usr/bin/env bash
# SIP over TLS (issue 15): a baresip phone behind a NAT registers with
# rtplatch over TLS, calls and is called with audio both ways; a phone
# whose certificate the server does not trust is refused; a phone whose
# TLS connection went away is unreachable until it connects again, and is
# reached over its new connection.
#
#   tls_phone_test.sh
#
# Network (namespaces; documentation prefixes only):
#   relay   rtplatch at 203.0.113.10: UDP/TCP 5060 and TLS 5061, its
#           certificate (SAN IP:203.0.113.10, DNS:example.test) from a test
#           CA made here with openssl; every other setting shipped
#   lan     erin, baresip over TLS, behind MASQUERADE (203.0.113.30)
#   pub     bob2, baresip over UDP, public (203.0.113.20)
#   evil    mallory, baresip over TLS presenting a certificate from another
#           CA (203.0.113.66)
# Checks: erin's binding is TLS and NAT'd; erin -> bob2 and bob2 -> erin
# connect with each tone heard; mallory's handshakes fail (counted) and it
# never registers; erin stopped: bob2's call fails; erin back (a new TLS
# connection): bob2's call reaches it with audio.
# Not here: sipp over TLS (Debian's sipp 3.6.1 is built without OpenSSL:
# "To use a TLS transport you must compile SIPp with OpenSSL").
# Output: "PASS name" / "FAIL name" per check, then
# "tls_phone: N passed, N failed". Exit 77 when it cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=tls_phone

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
# shellcheck source=scripts/lib/test_certs.sh
source "$ROOT/scripts/lib/test_certs.sh"
st_main "$SUITE" "$0" "$@"
if ! why=$(bp_missing); then echo "SKIP $SUITE: $why"; exit 77; fi
command -v openssl >/dev/null || { echo "SKIP $SUITE: openssl not found"; exit 77; }

st_init "${RL_PREFIX:-tl$$}"
D="$ST_DOMAIN"
TLS="$RL_TMP/tls"
mkdir -p "$TLS"

ct_cert "$TLS" ca - "" && ct_cert "$TLS" other_ca - "" &&
  ct_cert "$TLS" relay ca "IP:$ST_RELAY_IP,DNS:$D" && ct_cert "$TLS" mallory other_ca "" || rl_die "openssl could not make the test certificates"
cat "$TLS/mallory.pem" "$TLS/mallory.key" >"$TLS/mallory-both.pem"

ST_CONTROL_EXTRA=$(cat <<EOF
"tls_listen": ["$ST_RELAY_IP:5061"],
"tls": {"certificate": "$TLS/relay.pem", "private_key": "$TLS/relay.key",
        "ca_file": "$TLS/ca.pem"}
EOF
)
declare -A MAKE=([erin]=baresip [bob2]=baresip)
declare -A ROLE=([erin]=lan [bob2]=pub)
declare -A ADDR=([erin]=192.0.2.2 [bob2]=203.0.113.20)
declare -A TONE=([erin]=440 [bob2]=1000)
declare -A PW=([erin]=erin-tl-1 [bob2]=bob2-tl-2 [mallory]=mal-tl-3)
for u in erin bob2 mallory; do st_add_user "$u" "${PW[$u]}"; done
TC_SNAP="$RL_TMP/snap.sh"
printf '#!/bin/sh\nexit 0\n' >"$TC_SNAP"; chmod +x "$TC_SNAP"

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone pub pb 203.0.113.20/24
st_add_public_phone evil ev 203.0.113.66/24

binding() { jget "$(cctl registration "erin@$D" 2>/dev/null)" "d['bindings'][0]['$1']" 2>/dev/null; }
transport_stat() { jget "$(cctl sip-stats 2>/dev/null)" "d['transport']['$1']" 2>/dev/null; }
start_erin() { BP_TLS="$TLS/ca.pem" bp_start lan erin erin "${PW[erin]}" 192.0.2.2 440; }

rl_check erin_started "baresip over TLS" start_erin
rl_check erin_registered_over_tls "200 to its REGISTER over TLS" bp_wait_registered erin 15
rl_check bob2_registered "baresip over UDP" tc_register bob2
rl_check erin_binding_is_tls "transport=$(binding transport) behind_nat=$(binding behind_nat)" \
  test "$(binding transport)" == tls -a "$(binding behind_nat)" == True

tc_call erin_to_bob2 erin bob2
tc_check_heard erin_to_bob2 erin bob2 "erin (TLS) -> bob2 (UDP)"
tc_call bob2_to_erin bob2 erin
tc_check_heard bob2_to_erin bob2 erin "bob2 -> erin over erin's TLS connection"

# A certificate from another CA: no handshake, no registration.
failures=$(transport_stat tls_handshake_failures)
BP_TLS="$TLS/ca.pem" BP_TLS_CERT="$TLS/mallory-both.pem" \
  bp_start evil mallory mallory "${PW[mallory]}" 203.0.113.66 700 || rl_log "mallory did not start"
sleep 4
rl_check untrusted_certificate_refused "tls_handshake_failures $failures -> $(transport_stat tls_handshake_failures)" \
  test "$(transport_stat tls_handshake_failures)" -gt "$failures"
rl_check untrusted_never_registered "$(jget "$(cctl registration "mallory@$D" 2>/dev/null)" "len(d['bindings'])" 2>/dev/null) bindings" \
  bash -c "[[ \$(jget \"\$(cctl registration mallory@$D 2>/dev/null)\" \"len(d['bindings'])\" 2>/dev/null) != [1-9]* ]]"
bp_stop mallory

# erin goes away (its TLS connection closes): unreachable, then reachable
# again over its new connection.
bp_stop erin
bp_mark bob2
bp_dial bob2 "sip:erin@$D" >/dev/null
not_established() { ! bp_wait_established bob2 6; }
rl_check call_to_gone_connection_fails "bob2's call finds no connection to erin" not_established
bp_hangup bob2 >/dev/null 2>&1
rl_check erin_restarted "baresip over TLS again" start_erin
rl_check erin_registered_again "200 over a new TLS connection" bp_wait_registered erin 15
tc_call bob2_to_erin_again bob2 erin
tc_check_heard bob2_to_erin_again bob2 erin "bob2 -> erin after it reconnected"
rl_check tls_handshakes_counted "tls_handshakes=$(transport_stat tls_handshakes)" \
  test "$(transport_stat tls_handshakes)" -ge 2
rl_wait_for 5 st_no_streams_left
rl_check streams_freed "$(st_streams_left) streams left" st_no_streams_left

rl_summary "$SUITE"
