#!/usr/bin/env bash
# The demo's calls (scripts/demo): phones behind different NATs register
# with rtplatch and call a public phone and are called by it, with audio
# both ways through the DPDK relay, in network namespaces.
#
#   demo_calls_test.sh
#
# Phones (sipp, digest auth):
#   alice  behind a port-preserving Linux MASQUERADE
#   carol  behind MASQUERADE --random-fully (every mapping a random port)
#   dave   IPv6 only, no NAT
#   bob    public, no NAT (the other end of every call)
# For each of alice, carol and dave: REGISTER; the NAT verdict and its
# reasons and the keepalive interval from `rtplatchctl registrations`; a
# call to bob and a call from bob, each side playing a few seconds of PCMA
# RTP after the answer; "audio" each way is the dataplane's relayed packet
# count of that direction's stream (> 100 of the ~130 sent). Every cell is
# a PASS/FAIL check; a table follows.
#
# Output: "PASS name" / "FAIL name" per check, the table, then
# "demo_calls: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=demo_calls
MIN_PACKETS=100

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
st_main "$SUITE" "$0" "$@"
[[ -r /usr/share/sip-tester/g711a.pcap ]] || { echo "SKIP $SUITE: sip-tester's g711a.pcap missing"; exit 77; }

st_init "${RL_PREFIX:-dm$$}"
D="$ST_DOMAIN"
RELAY4="$ST_RELAY_IP:$ST_SIP_PORT"
RELAY6="[$ST_RELAY_IP6]:$ST_SIP_PORT"
BOB_IP=203.0.113.20
BOB="$BOB_IP:5060"
declare -A EP=([alice]=192.0.2.2:5060 [carol]=198.51.100.2:5060 [dave]="[2001:db8::40]:5060")
declare -A ROLE=([alice]=lan [carol]=ln2 [dave]=v6)
declare -A NAT=([alice]="MASQUERADE" [carol]="MASQUERADE random-fully" [dave]="none (IPv6)")
declare -A REMOTE=([alice]="$RELAY4" [carol]="$RELAY4" [dave]="$RELAY6")
declare -A PW=([alice]=alice-demo-1 [carol]=carol-demo-2 [dave]=dave-demo-3 [bob]=bob-demo-4)
for u in alice carol dave bob; do st_add_user "$u" "${PW[$u]}"; done

st_start_relay || rl_die "relay did not start"
st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_nat_phone nt2 ln2 203.0.113.31/24 198.51.100.1/24 198.51.100.2/24 random-fully
st_add_public_phone pub pb "$BOB_IP/24"
st_add_public_phone v6 v6 203.0.113.40/24 2001:db8::40/64
rl_wait_for 10 rl_exec v6 ping -6 -c1 -W1 "$ST_RELAY_IP6" || rl_log "no IPv6 path to the relay yet"

# Called by the caller's scenario once audio has flowed: the streams.
SNAP="$RL_TMP/snap.sh"
cat >"$SNAP" <<SH
#!/bin/sh
"$ST_CTL" --socket "$DP_SOCK" --json streams >"$RL_TMP/streams-\$1.json" 2>&1
SH
chmod +x "$SNAP"
# packets NAME LEG: packets relayed by the stream of leg a (the caller's
# side: caller -> callee audio) or b (callee -> caller) during call NAME.
packets() {
  jfile "$RL_TMP/streams-$1.json" "sum(s['packets'] for s in d['streams'] if s['leg'] == '$2')" 2>/dev/null \
    || echo 0
}
# call NAME CALLER CALLEE: one call with audio both ways.
call() {
  local name="$1" caller="$2" callee="$3" crole cep cremote erole eep uas
  if [[ $caller == bob ]]; then
    crole=pub; cep="$BOB"; cremote="$RELAY4"
  else
    crole="${ROLE[$caller]}"; cep="${EP[$caller]}"; cremote="${REMOTE[$caller]}"
  fi
  if [[ $callee == bob ]]; then erole=pub; eep="$BOB"
  else erole="${ROLE[$callee]}"; eep="${EP[$callee]}"; fi
  ST_SIPP_TIMEOUT_S=30 st_sipp_bg "$erole" "${name}_uas" "$SCN/demo_uas_audio.xml" "$eep" - \
    -key user "$callee" -mp 42000
  uas=$ST_SIPP_PID
  st_sipp_ready "$erole" "${eep##*:}" || rl_log "UAS ${name}_uas not bound"
  ST_SIPP_TIMEOUT_S=30 st_sipp "$crole" "${name}_uac" "$SCN/demo_uac_audio.xml" "$cep" "$cremote" \
    -key user "$caller" -key callee "$callee" -au "$caller" -ap "${PW[$caller]}" \
    -auth_uri "$callee@$D" -key snap "$SNAP $name" -mp 41000
  local rc=$?
  st_sipp_wait "$uas" || rc=1
  sleep 0.3
  return "$rc"
}

st_register pub reg_bob "$BOB" "$RELAY4" bob "${PW[bob]}" || rl_log "bob did not register over IPv4"
declare -A VERDICT KA OUT IN AOUT AIN
for u in alice carol dave; do
  st_register "${ROLE[$u]}" "reg_$u" "${EP[$u]}" "${REMOTE[$u]}" "$u" "${PW[$u]}"
  rl_check "${u}_registered" "sipp rc=$?" test $? -eq 0
  b=$(cctl registration "$u@$D" 2>/dev/null)
  natted=$(jget "$b" "d['bindings'][0]['behind_nat']" 2>/dev/null)
  reasons=$(jget "$b" "','.join(d['bindings'][0]['nat_reasons'])" 2>/dev/null)
  ka=$(jget "$b" "d['bindings'][0]['keepalive_interval_ms']" 2>/dev/null)
  if [[ $u == dave ]]; then
    VERDICT[$u]="no"; rl_check "${u}_not_natted" "natted=$natted" test "$natted" == False
  else
    # The first reason the detector recorded, and how many more fired.
    n=$(tr ',' '\n' <<<"$reasons" | grep -c .)
    VERDICT[$u]="yes: ${reasons%%,*}$( ((n > 1)) && echo " +$((n - 1))")"
    rl_check "${u}_natted" "natted=$natted ($reasons)" test "$natted" == True
  fi
  KA[$u]=$([[ -n $ka && $ka != 0 ]] && echo "$((ka / 1000)) s" || echo "none")

  call "${u}_out" "$u" bob; OUT[$u]=$?
  rl_check "${u}_call_out" "$u -> bob" test "${OUT[$u]}" -eq 0
  AOUT[$u]="$(packets "${u}_out" a)/$(packets "${u}_out" b)"
  rl_check "${u}_out_audio_both_ways" "relayed $u->bob / bob->$u: ${AOUT[$u]}" \
    test "$(packets "${u}_out" a)" -gt "$MIN_PACKETS" -a "$(packets "${u}_out" b)" -gt "$MIN_PACKETS"

  call "${u}_in" bob "$u"; IN[$u]=$?
  rl_check "${u}_call_in" "bob -> $u" test "${IN[$u]}" -eq 0
  AIN[$u]="$(packets "${u}_in" b)/$(packets "${u}_in" a)"
  rl_check "${u}_in_audio_both_ways" "relayed $u->bob / bob->$u: ${AIN[$u]}" \
    test "$(packets "${u}_in" a)" -gt "$MIN_PACKETS" -a "$(packets "${u}_in" b)" -gt "$MIN_PACKETS"
done

ok() { [[ $1 == 0 ]] && echo ok || echo FAILED; }
echo
printf '%-6s %-24s %-38s %-9s %-9s %-9s %-10s %-10s\n' phone "NAT" "NAT detected (why)" keepalive \
  "call out" "call in" "audio out*" "audio in*"
for u in alice carol dave; do
  printf '%-6s %-24s %-38s %-9s %-9s %-9s %-10s %-10s\n' "$u" "${NAT[$u]}" "${VERDICT[$u]}" \
    "${KA[$u]}" "$(ok "${OUT[$u]}")" "$(ok "${IN[$u]}")" "${AOUT[$u]}" "${AIN[$u]}"
done
echo "* RTP packets the relay forwarded, phone->bob / bob->phone (each side sent ~130)"
echo

rl_summary "$SUITE"
