#!/usr/bin/env bash
# TCP and TLS connections dropped mid-registration (issue 15): a phone
# whose connection goes away while it registers is reached again once it
# reconnects and registers, over its new connection; while it is away a
# call to it fails at once (no stale binding sends it to the dead
# connection), and no connection is left behind.
#
#   conn_drop_test.sh
#
# Network (namespaces; documentation prefixes only):
#   relay   rtplatch at 203.0.113.10: UDP/TCP 5060 and TLS 5061, its
#           certificate (SAN IP:203.0.113.10, DNS:example.test) from a test
#           CA made here (scripts/lib/test_certs.sh); every other setting
#           shipped
#   lan     the phones (tests/integration/tcp_phone.py, one at a time) at
#           192.0.2.2 behind MASQUERADE (203.0.113.30)
#   pub     carol (sipp over UDP, our user) and a stranger at 203.0.113.20
# Four phones, each: connect, REGISTER, 401, then the connection drops:
#   tcp_fin   over TCP, after the 401 (the challenge never answered), FIN
#   tcp_rst   over TCP, right after the authenticated REGISTER (its 200
#             never read), RST, and back from the same source port
#   tls_fin   over TLS, after the 401, FIN (no close_notify)
#   tls_rst   over TLS, after the authenticated REGISTER, RST
# Checks, per phone:
#   - the dropped connection is gone (sip-stats transport "connections"
#     back to what it was, tcp_closed counted);
#   - while it is away: no binding (dropped at the challenge) or a binding
#     to the dead connection (dropped after the REGISTER); either way a
#     call to it gets 480/408/404/503 within 2 s (the negative control:
#     the same call after the reconnect connects);
#   - it reconnects (a new connection, TLS handshake counted) and
#     registers: one binding, over tcp / tls;
#   - carol calls it (UDP, digest): the INVITE reaches the phone over its
#     new connection and the call runs to its BYE;
#   - once the phone has gone, its connection is closed too (connections
#     back to the start: nothing leaked); no stream left at the end.
# Output: "PASS name" / "FAIL name" per check, then
# "conn_drop: N passed, N failed". Exit 77 when it cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=conn_drop
SCN="$HERE/sipp"

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/test_certs.sh
source "$ROOT/scripts/lib/test_certs.sh"
st_main "$SUITE" "$0" "$@"
command -v openssl >/dev/null || { echo "SKIP $SUITE: openssl not found"; exit 77; }

st_init "${RL_PREFIX:-cd$$}"
D="$ST_DOMAIN"
RELAY_EP="$ST_RELAY_IP:$ST_SIP_PORT"
TLS_PORT=5061
PHONE_IP=192.0.2.2
CAROL=203.0.113.20:5060
TLS="$RL_TMP/tls"
mkdir -p "$TLS"
ct_cert "$TLS" ca - "" && ct_cert "$TLS" relay ca "IP:$ST_RELAY_IP,DNS:$D" ||
  rl_die "openssl could not make the test certificates"

ST_CONTROL_EXTRA=$(cat <<EOF
"tls_listen": ["$ST_RELAY_IP:$TLS_PORT"],
"tls": {"certificate": "$TLS/relay.pem", "private_key": "$TLS/relay.key",
        "ca_file": "$TLS/ca.pem"}
EOF
)
PW_CAROL=carol-cd-1
st_add_user carol "$PW_CAROL"
# name: transport, where it drops, how, and the source port it comes back from
PHONES=("tcp_fin tcp challenge fin 5071" "tcp_rst tcp register rst 5080"
        "tls_fin tls challenge fin 5091" "tls_rst tls register rst 5101")
declare -A PW=()
for p in "${PHONES[@]}"; do
  read -r name _ <<<"$p"
  PW[$name]="${name//_/-}-pw"
  st_add_user "$name" "${PW[$name]}"
done

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 "$PHONE_IP/24" plain
st_add_public_phone pub pb 203.0.113.20/24

tstat() { jget "$(cctl sip-stats 2>/dev/null)" "d['transport']['$1']" 2>/dev/null; }
connections_are() { [[ $(tstat connections) == "$1" ]]; }
bindings() { jget "$(cctl registration "$1@$D" 2>/dev/null)" "len(d['bindings'])" 2>/dev/null || echo 0; }
binding() { jget "$(cctl registration "$1@$D" 2>/dev/null)" "d['bindings'][0]['$2']" 2>/dev/null; }
# A call from a stranger to USER: which final answer, and how long it took.
refused_call() {  # NAME USER
  local start rc
  start=$(date +%s.%N)
  ST_SIPP_TIMEOUT_S=8 st_sipp pub "$1" "$SCN/sip_proxy_invite_rejected.xml" 203.0.113.20:5070 \
    "$RELAY_EP" -key user stranger -key from_domain elsewhere.test -key callee "$2" -key to_domain "$D"
  rc=$?
  REFUSED_TOOK=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
  REFUSED_GOT=$(st_msg "$1" received '^SIP/2.0 [3-6]' 2>/dev/null | head -n 1 | tr -d '\r')
  return "$rc"
}

base=$(tstat connections)
rl_check no_connection_at_start "connections=$base" test "$base" == 0
handshakes=$(tstat tls_handshakes)

for p in "${PHONES[@]}"; do
  read -r name transport at how back <<<"$p"
  out="$RL_TMP/$name.out"
  resume="$RL_TMP/$name.resume"
  port=$ST_SIP_PORT; tls_args=()
  [[ $transport == tls ]] && { port=$TLS_PORT; tls_args=(--tls "$TLS/ca.pem"); }
  rst_args=(); [[ $how == rst ]] && rst_args=(--rst)
  closed=$(tstat tcp_closed)
  local_port=$((back - 1))
  [[ $how == rst ]] && local_port=$back  # back from the port it left
  rl_spawn lan "$out" timeout 60 python3 -u "$HERE/tcp_phone.py" "${tls_args[@]}" --drop "$at" \
    "${rst_args[@]}" --resume "$resume" --reconnect-port "$back" "$PHONE_IP" "$local_port" \
    "$ST_RELAY_IP" "$port" "$name" "${PW[$name]}" "$D" "$RL_TMP/$name.msg"
  phone=$RL_LAST_PID
  rl_wait_for 15 grep -q '^dropped' "$out" || rl_log "$name: $(tr '\n' ' ' <"$out")"
  rl_check "${name}_dropped" "$(grep -m1 '^dropped' "$out")" grep -q '^dropped' "$out"
  rl_wait_for 5 connections_are "$base"
  rl_check "${name}_old_connection_gone" "connections=$(tstat connections) tcp_closed $closed -> $(tstat tcp_closed)" \
    bash -c "[[ $(tstat connections) == $base && $(tstat tcp_closed) -gt $closed ]]"
  if [[ $at == challenge ]]; then
    rl_check "${name}_no_binding_while_away" "$(bindings "$name") bindings" test "$(bindings "$name")" == 0
  else
    rl_check "${name}_stale_binding_while_away" "$(bindings "$name") binding(s), transport $(binding "$name" transport)" \
      test "$(bindings "$name")" == 1 -a "$(binding "$name" transport)" == "$transport"
  fi
  refused_call "${name}_call_while_away" "$name"
  rc=$?
  rl_check "${name}_call_while_away_fails_fast" "'$REFUSED_GOT' after ${REFUSED_TOOK} s (sipp exit $rc)" \
    python3 -c "import sys; sys.exit(0 if $rc == 0 and $REFUSED_TOOK < 2 and '$REFUSED_GOT'.split()[1:2] in (['480'], ['408'], ['404'], ['503']) else 1)"

  touch "$resume"
  rl_wait_for 15 grep -q '^registered' "$out" || rl_log "$name: $(tr '\n' ' ' <"$out")"
  rl_check "${name}_registered_again" "$(grep '^connected' "$out" | tr '\n' ' ')" \
    bash -c "grep -q '^registered' '$out' && [[ \$(grep -c '^connected' '$out') == 2 ]]"
  rl_check "${name}_one_binding" "$(bindings "$name") binding(s), transport $(binding "$name" transport), source $(binding "$name" source)" \
    test "$(bindings "$name")" == 1 -a "$(binding "$name" transport)" == "$transport"
  rl_check "${name}_one_connection" "connections=$(tstat connections)" connections_are "$((base + 1))"

  st_sipp pub "${name}_called" "$SCN/sip_proxy_uac_call.xml" "$CAROL" "$RELAY_EP" -key user carol \
    -key callee "$name" -au carol -ap "$PW_CAROL" -auth_uri "$name@$D" -key snap true -mp 41000
  rc_uac=$?
  rl_wait "$phone" 20; rc_phone=$?
  rl_check "${name}_reached_over_new_connection" "carol rc=$rc_uac, phone rc=$rc_phone: $(grep -E '^(invite|call)' "$out" | tr '\n' ' ')" \
    bash -c "[[ $rc_uac == 0 && $rc_phone == 0 ]] && grep -q '^invite on connection 2' '$out' && grep -q '^call done' '$out'"
  rl_wait_for 5 connections_are "$base"
  rl_check "${name}_no_connection_leaked" "connections=$(tstat connections) after the phone left" \
    connections_are "$base"
done

rl_check tls_handshakes_counted "tls_handshakes $handshakes -> $(tstat tls_handshakes) (two TLS phones, two connections each)" \
  test "$(tstat tls_handshakes)" -ge $((handshakes + 4))
rl_check accepted_counted "tcp_accepted=$(tstat tcp_accepted) tls_accepted=$(tstat tls_accepted)" \
  test "$(tstat tcp_accepted)" -ge 4 -a "$(tstat tls_accepted)" -ge 4
rl_wait_for 5 st_no_streams_left
rl_check no_stream_left "$(st_streams_left) streams" st_no_streams_left
rl_check control_alive "pid $CTL_PID" kill -0 "$CTL_PID"

rl_summary "$SUITE"
