#!/usr/bin/env bash
# Malformed DNS answers at the carrier edge (issue 15): a DNS server that
# answers badly on purpose neither crashes rtplatch-control nor stalls its
# event loop; the bad answers are counted, the peers they name stay
# unlocated, calls routed to them fail at once and leave no stream, and a
# peer with a real answer still takes calls.
#
#   dns_bad_answers_test.sh
#
# Network (namespaces; documentation prefixes only):
#   relay   rtplatch (dataplane + control) at 203.0.113.10, with the DNS
#           server below (time-out 1 s, 2 tries: a query gets no answer for
#           3 s) and one peer per bad name, each with its route:
#             +2001 sip:trunc.bad.example    answer cut mid-record
#             +2002 sip:loopa.bad.example    CNAME loop a -> b -> a
#             +2003 sip:srvchain.bad.example SRV target whose A is a chain
#                                            of 100 CNAMEs (TC over UDP)
#             +2004 sip:srvloop.bad.example  NAPTR/SRV/CNAME loop
#             +2005 sip:huge.bad.example     TC over UDP, 3800 A records
#                                            (60 KB) over TCP
#             +2006 sip:garbage.bad.example  the id, then random bytes
#             +2007 sip:junk.bad.example     random bytes as records
#             +2008 sip:wrongid.bad.example  a good answer, another id
#             +2009 sip:silent.bad.example   no answer
#             +3    sip:good.example         SRV -> gw.good.example, A
#                                            203.0.113.40
#   dns     tests/integration/bad_dns_server.py at 203.0.113.53 (UDP and
#           TCP 53), every query logged
#   pub     203.0.113.20: alice (sipp, our user) and sip_ping.py
#   core    203.0.113.40: sipp answering for good.example
# Checks:
#   1. while the bad lookups run (queries on the wire, some waiting for an
#      answer that never comes), the control plane answers every OPTIONS
#      and REGISTER within 1 s for 20 s (sip_ping.py), including those sent
#      while a query to a silent name was unanswered. Negative control, by
#      timing: a loop blocked on DNS (a getaddrinfo-style lookup) would
#      hold every request that arrives during the 3 s a silent query
#      waits, and such queries go out every few seconds: some round trips
#      would exceed 1 s, and the "answered during a silent query" count
#      would be 0.
#   2. the process is alive; each bad peer has no hop and says why
#      (`rtplatchctl peers` dns_error): trunc, huge, junk: malformed;
#      loopa: a CNAME loop; srvchain: a CNAME chain longer than the
#      resolver follows (8; c-ares alone follows all 100 to 203.0.113.99,
#      where a call waits 3 s for nobody); srvloop: no server (each query
#      stands alone, the locator follows no alias); garbage, wrongid,
#      silent: time-out (c-ares drops what does not match its query);
#      sip-stats "dns" counts malformed answers, failures and negatives;
#      a good query still gets its answer (the good peer is located).
#   3. a call by alice to each bad peer's route fails at once (4xx/5xx
#      within 2 s, never a hang) and leaves no stream; alice -> +3000 (the
#      good peer) connects; the loop still answers promptly at the end.
# Output: "PASS name" / "FAIL name" per check, then
# "dns_bad_answers: N passed, N failed". Exit 77 when it cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=dns_bad_answers

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"

st_init "${RL_PREFIX:-db$$}"
D="$ST_DOMAIN"
DNS_IP=203.0.113.53
PUB=203.0.113.20
CORE=203.0.113.40
LIMIT_MS=1000
PW_ALICE=alice-db-1
st_add_user alice "$PW_ALICE"

# name:route:what dns_error must say (a regex)
BAD=(
  "trunc:+2001:malformed"
  "loopa:+2002:malformed DNS answer: a CNAME loop"
  "srvchain:+2003:malformed DNS answer: a CNAME chain longer than"
  "srvloop:+2004:no SIP server found"
  "huge:+2005:malformed"
  "garbage:+2006:[Tt]imeout"
  "junk:+2007:malformed"
  "wrongid:+2008:[Tt]imeout"
  "silent:+2009:[Tt]imeout"
)
peers="" routes="" i=0
for b in "${BAD[@]}"; do
  IFS=: read -r name route _ <<<"$b"
  i=$((i + 1))
  peers+="{\"name\": \"$name\", \"targets\": [{\"uri\": \"sip:$name.bad.example\"}],
           \"trusted_sources\": [\"203.0.113.$((90 + i))\"]},"
  routes+="{\"prefix\": \"$route\", \"peers\": [\"$name\"]},"
done
ST_CONTROL_EXTRA=$(cat <<EOF
"peers": [$peers
          {"name": "good", "targets": [{"uri": "sip:good.example"}],
           "trusted_sources": ["$CORE"]}],
"routes": [$routes {"prefix": "+3", "peers": ["good"]}],
"dns": {"servers": ["$DNS_IP"], "timeout_ms": 1000, "tries": 2}
EOF
)

st_start_relay || rl_die "relay did not start"
st_add_public_phone dns dn "$DNS_IP/24"
DNS_LOG="$RL_TMP/bad_dns.log"
rl_spawn dns "$RL_TMP/bad_dns.out" python3 -u "$HERE/bad_dns_server.py" "$DNS_IP" "$DNS_LOG"
st_add_public_phone pub pb "$PUB/24"
st_add_public_phone core co "$CORE/24"
rl_wait_for 5 grep -q listening "$DNS_LOG" || rl_log "the DNS server did not start"

peers_json() { cctl peers 2>/dev/null; }
target_field() {  # PEER FIELD
  jget "$(peers_json)" "[p for p in d['peers'] if p['name'] == '$1'][0]['targets'][0]['$2']" 2>/dev/null
}
dns_stat() { jget "$(cctl sip-stats 2>/dev/null)" "d['dns']['$1']" 2>/dev/null; }
alive() { kill -0 "$CTL_PID" 2>/dev/null && cctl sip-stats >/dev/null 2>&1; }
# The edge asks again every 2 s after an error: wait for the first queries.
rl_wait_for 10 grep -q 'silent.bad.example' "$DNS_LOG" || rl_log "no query for silent.bad.example yet"

# 1. Prompt answers while the bad lookups run.
malformed0=$(dns_stat malformed)
failures0=$(dns_stat failures)
SAMPLES="$RL_TMP/in_flight"
( while :; do dns_stat in_flight >>"$SAMPLES"; sleep 0.5; done ) &
sampler=$!
PING_LOG="$RL_TMP/ping.log"
ping_out=$(rl_exec pub python3 "$HERE/sip_ping.py" "$PUB" "$ST_RELAY_IP" "$ST_SIP_PORT" alice "$D" \
  20 "$LIMIT_MS" "$PING_LOG" 0.05)
ping_rc=$?
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
rl_check answers_prompt_during_bad_lookups "$ping_out (limit ${LIMIT_MS} ms)" test "$ping_rc" -eq 0
max_in_flight=$(sort -n "$SAMPLES" 2>/dev/null | tail -n 1)
rl_check lookups_were_in_flight "dns in_flight up to ${max_in_flight:-?} during the 20 s" \
  test "${max_in_flight:-0}" -gt 0
# Requests sent while a query to a name that never gets a usable answer
# (silent, wrongid, garbage) was on the wire, less than one time-out after
# it left, and answered in time.
during=$(python3 - "$DNS_LOG" "$PING_LOG" "$LIMIT_MS" <<'PY'
import sys
queries = [float(l.split()[0]) for l in open(sys.argv[1])
           if l.split()[1:2] == ["udp"] and any(n in l for n in
              ("silent.bad.example", "wrongid.bad.example", "garbage.bad.example"))]
n = 0
for l in open(sys.argv[2]):
    t, _, code, rtt = l.split()
    if rtt != "-" and float(rtt) <= float(sys.argv[3]) and \
            any(q < float(t) < q + 0.9 for q in queries):
        n += 1
print(n)
PY
)
rl_check answered_while_query_unanswered "$during requests answered in time while a silent query waited" \
  test "${during:-0}" -ge 10
silent_queries=$(grep -c ' udp .* silent.bad.example silent' "$DNS_LOG")
rl_check silent_queries_sent "$silent_queries queries to silent.bad.example (never answered)" \
  test "$silent_queries" -ge 3

# 2. Alive; each bad peer unlocated, with its reason; counted.
rl_check control_alive "pid $CTL_PID" alive
all_failed() {
  local b name
  for b in "${BAD[@]}"; do
    IFS=: read -r name _ _ <<<"$b"
    [[ -n $(target_field "$name" dns_error) ]] || return 1
  done
}
good_located() {
  [[ $(jget "$(peers_json)" "[h['hop'] for p in d['peers'] if p['name'] == 'good' for h in p['targets'][0]['hops']] == ['UDP $CORE:5060']" 2>/dev/null) == True ]]
}
rl_wait_for 40 all_failed || rl_log "some bad peers have no dns_error yet"
for b in "${BAD[@]}"; do
  IFS=: read -r name _ want <<<"$b"
  err=$(target_field "$name" dns_error)
  hops=$(target_field "$name" hops)
  # shellcheck disable=SC2016  # bash -c's own arguments
  rl_check "${name}_unlocated" "hops=$hops lookups=$(target_field "$name" dns_lookups) dns_error='$err'" \
    bash -c '[[ $0 == "[]" && $1 =~ $2 ]]' "$hops" "$err" "$want"
done
rl_wait_for 10 good_located
rl_check good_peer_located "hops: $(target_field good hops)" good_located
rl_check malformed_counted "dns malformed $malformed0 -> $(dns_stat malformed)" \
  test "$(dns_stat malformed)" -gt "$malformed0"
rl_check failures_counted "dns failures $failures0 -> $(dns_stat failures)" \
  test "$(dns_stat failures)" -gt "$failures0"
rl_check stats_dns "$(jget "$(cctl sip-stats)" "d['dns']" 2>/dev/null)" \
  test "$(dns_stat negative)" -gt 0 -a "$(dns_stat answers)" -gt 0
rl_check tcp_fallback_used "$(grep -c ' tcp ' "$DNS_LOG") queries over TCP (after TC)" \
  grep -q ' tcp [A-Z]* huge.bad.example ' "$DNS_LOG"

# 3. Calls to the bad peers fail at once; no stream left.
for b in "${BAD[@]}"; do
  IFS=: read -r name route _ <<<"$b"
  n="call_$name"
  start=$(date +%s.%N)
  ST_SIPP_TIMEOUT_S=10 st_sipp pub "$n" "$HERE/sipp/uac_call_refused.xml" "$PUB:5062" \
    "$ST_RELAY_IP:$ST_SIP_PORT" -key user alice -key callee "${route}0000" -au alice \
    -ap "$PW_ALICE" -auth_uri "${route}0000@$D"
  rc=$?
  took=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
  got=$(st_msg "$n" received '^SIP/2.0 [4-6]' 2 2>/dev/null | head -n 1 | tr -d '\r')
  rl_check "${n}_fails_fast" "'$got' after ${took} s (sipp exit $rc)" \
    python3 -c "import sys; sys.exit(0 if $rc == 0 and $took < 2 else 1)"
done
rl_wait_for 5 st_no_streams_left
rl_check no_stream_left_after_bad_calls "$(st_streams_left) streams" st_no_streams_left

st_call good_call pub "$PUB:5062" "$ST_RELAY_IP:$ST_SIP_PORT" alice "$PW_ALICE" core "$CORE:5060" +3000
rl_check good_peer_call "uac rc=$ST_UAC_RC uas rc=$ST_UAS_RC ($(st_msg good_call_uas received '^INVITE ' | head -n 1 | tr -d '\r'))" \
  test "$ST_UAC_RC" -eq 0 -a "$ST_UAS_RC" -eq 0
rl_wait_for 5 st_no_streams_left
rl_check no_stream_left_at_end "$(st_streams_left) streams" st_no_streams_left

ping_out=$(rl_exec pub python3 "$HERE/sip_ping.py" "$PUB" "$ST_RELAY_IP" "$ST_SIP_PORT" alice "$D" \
  3 "$LIMIT_MS" "$RL_TMP/ping_end.log" 0.05)
ping_rc=$?
rl_check answers_prompt_at_end "$ping_out" test "$ping_rc" -eq 0
rl_check control_alive_at_end "pid $CTL_PID" alive

rl_summary "$SUITE"
