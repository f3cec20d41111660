#!/usr/bin/env bash
# The seed experiment end to end (and the demo's calls): phones of two
# makes behind every kind of NAT register with rtplatch, call and are
# called, and hear each other through the DPDK relay.
#
#   e2e_phones_test.sh [--makes "sipp baresip"]
#
# Network (namespaces): every phone is a host of its own; the LANs all use
# 192.0.2.0/24 (phone .2) behind their own NAT, as real homes all use the
# same private range. NAT outside addresses (sipp / baresip phone):
#   plain   MASQUERADE (port-preserving)             203.0.113.30 / .35
#   rand    MASQUERADE --random-fully                203.0.113.31 / .36
#   short   MASQUERADE, UDP timeout 10 s             203.0.113.32 / .37
#   double  two NATs in series, the outer one port-    203.0.113.43 / .44
#           preserving with a 10 s UDP timeout
#   alg     MASQUERADE + kernel SIP ALG (nf_nat_sip) 203.0.113.33 / .38
#   pub     no NAT, on the internet segment          203.0.113.21 / .22
#   v6      IPv6, no NAT                             2001:db8::40 / ::41
#   tls     baresip over TLS (port 5061), MASQUERADE      - / .39
#   carol   sipp, behind her own MASQUERADE (.34): the "other LAN" callee
#   bob     sipp, public (.20): the far end of the public calls
#   core    the carrier's core (.50): a sipp softswitch that answers
#           +15551234567 and calls our phones; rtplatch finds it by name
#           (peer "core" = sip:carrier.example, route "+1") in the
#           carrier's DNS
#   dns     dnsmasq (.53): carrier.example NAPTR -> SRV -> A of the core
# Each make (sipp, baresip; --makes picks) has one phone in each of
# plain..v6, each sending its own tone (PCMA). For every phone:
#   1. REGISTER with digest; the operator view shows it NAT'd with reasons
#      (plain, rand, short, double) or not NAT'd (alg: the ALG fixed the
#      message; pub; v6). A NAT'd phone's NAT timeout is being learned:
#      no dataplane keepalive target yet. Every phone registers before any
#      call, so all NAT timeouts are learned at once while the phones are
#      quiet.
#   2. a NAT'd phone's interval must be learned (and below the NAT's
#      timeout for short and double; a baresip phone, which answers the
#      probes, keeps 25 s behind a NAT with the kernel's long timeouts),
#      and the phone re-registers as its 60 s expiry asks. Then every phone
#      is silent for two short-NAT timeouts, so the calls into short and
#      double only ring if the keepalives held the binding. All on the
#      shipped defaults: no keepalive setting is tuned here.
#   3. a call from bob (into the NAT: the case NAT breaks) and a call from
#      the carrier's core to the phone's AOR (a trusted peer: no
#      challenge); then a call to carol (LAN to LAN), a call to bob (to
#      the public phone), and a call to +15551234567 (routed to the
#      carrier's core, found by DNS). The TLS phone is reached over its
#      own connection, kept open by itself (no dataplane keepalive: those
#      are UDP only).
#   4. in every call each side records what it receives and must hear the
#      other's tone (tone.py: dominant frequency, purity, level), and the
#      dataplane counts >100 relayed packets each way. bob's call holds
#      (a=sendonly) and resumes the call; audio must flow both ways again
#      after the resume; after each BYE no stream is left.
#   5. negative control (short variant): with the phone's keepalive target
#      removed, bob's call after two NAT timeouts never reaches the phone
#      (one wait for all of them).
# Then a table: phone, make, NAT, NAT detected (why), keepalive, the five
# calls, audio each way, hold/resume, streams freed.
#
# Output: "PASS name" / "FAIL name" per check, the table, then
# "e2e_phones: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or binaries/sipp/tcpdump/numpy/dnsmasq missing).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCN="$HERE/sipp"
SUITE=e2e_phones
MIN_PACKETS=100
NAT_TIMEOUT_S=10
# A binding's learning ends within about a minute of quiet (probes after
# 5, 10, 20 and 25 s gaps); calls in between restart the gaps.
LEARN_WAIT_S=150

MAKES="sipp baresip"
if [[ ${1:-} == --makes ]]; then MAKES="$2"; shift 2; fi

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/tone_call.sh
source "$ROOT/scripts/lib/tone_call.sh"
# shellcheck source=scripts/lib/carrier_dns.sh
source "$ROOT/scripts/lib/carrier_dns.sh"
# shellcheck source=scripts/lib/test_certs.sh
source "$ROOT/scripts/lib/test_certs.sh"
st_main "$SUITE" "$0" "$@"
if ! why=$(cd_missing); then echo "SKIP $SUITE: $why"; exit 77; fi
if [[ " $MAKES " == *" baresip "* ]]; then
  # shellcheck source=scripts/lib/baresip_phone.sh
  source "$ROOT/scripts/lib/baresip_phone.sh"
  if ! why=$(bp_missing); then echo "SKIP $SUITE: $why"; exit 77; fi
fi

st_init "${RL_PREFIX:-e2$$}"
D="$ST_DOMAIN"
ST_PORT_MAX=31999
# The shipped registrar and NAT policy defaults (the demo runs on them).
ST_REGISTRAR_JSON='{}'
RELAY4="$ST_RELAY_IP:$ST_SIP_PORT"
RELAY6="[$ST_RELAY_IP6]:$ST_SIP_PORT"
NUMBER=+15551234567
CORE_IP=203.0.113.50
DNS_IP=203.0.113.53
TLS="$RL_TMP/tls"
mkdir -p "$TLS"
ct_cert "$TLS" ca - "" && ct_cert "$TLS" relay ca "IP:$ST_RELAY_IP,DNS:$D" \
  || rl_die "openssl could not make the test certificates"
# The carrier's core as a peer and the relay's TLS listener; everything
# else shipped.
ST_CONTROL_EXTRA=$(cat <<EOF
"peers": [{"name": "core", "targets": [{"uri": "sip:carrier.example"}],
           "trusted_sources": ["$CORE_IP"]}],
"routes": [{"prefix": "+1", "peers": ["core"]}],
"dns": {"servers": ["$DNS_IP"]},
"tls_listen": ["$ST_RELAY_IP:5061"],
"tls": {"certificate": "$TLS/relay.pem", "private_key": "$TLS/relay.key",
        "ca_file": "$TLS/ca.pem"}
EOF
)

read -r -a VARIANTS <<<"${E2E_VARIANTS:-plain rand short double alg pub v6 tls}"
declare -A NAT_LABEL=([plain]="MASQUERADE" [rand]="MASQUERADE random-fully" [tls]="MASQUERADE (TLS)"
  [short]="MASQUERADE, UDP ${NAT_TIMEOUT_S} s" [double]="2 NATs, outer UDP ${NAT_TIMEOUT_S} s"
  [alg]="MASQUERADE + SIP ALG" [pub]="none (public)" [v6]="none (IPv6)")
declare -A NAT_EXPECTED=([plain]=True [rand]=True [short]=True [double]=True [alg]=False
  [pub]=False [v6]=False [tls]=True)
# The variants whose NAT forgets a mapping after NAT_TIMEOUT_S of silence.
is_short() { [[ $1 == short || $1 == double ]]; }
# Only baresip speaks TLS here (Debian's sipp 3.6.1 is built without
# OpenSSL).
has_variant() { [[ $2 != tls || $1 == baresip ]]; }
# Each phone has a host (namespace) of its own: behind NATs, one NAT per
# phone (roles: NAT, LAN), LANs all 192.0.2.0/24 with the phone at .2.
# double: the phone's own NAT (NAT_ROLE) sits in the LAN of the outer one
# (OUTER_ROLE), 198.51.100.0/24 between them.
declare -A NAT_ROLE=([splain]=npl [srand]=nrf [sshort]=nto [sdouble]=ndi [salg]=nal
  [bplain]=mpl [brand]=mrf [bshort]=mto [bdouble]=mdi [balg]=mal [btls]=mtl)
declare -A OUTER_ROLE=([sdouble]=ndo [bdouble]=mdo)
declare -A NAT_OUT=([splain]=203.0.113.30 [srand]=203.0.113.31 [sshort]=203.0.113.32
  [salg]=203.0.113.33 [sdouble]=203.0.113.43 [bplain]=203.0.113.35 [brand]=203.0.113.36
  [bshort]=203.0.113.37 [balg]=203.0.113.38 [bdouble]=203.0.113.44 [btls]=203.0.113.39)
declare -A NAT_VARIANT=([plain]=plain [rand]=random-fully [short]=plain [alg]=sip-alg [tls]=plain)
declare -A MAKE_PUB=([sipp]=203.0.113.21 [baresip]=203.0.113.22)
declare -A MAKE_V6=([sipp]="203.0.113.40 2001:db8::40" [baresip]="203.0.113.41 2001:db8::41")
declare -A MAKE_TAG=([sipp]=s [baresip]=b)

BOB_IP=203.0.113.20; BOB="$BOB_IP:5060"; BOB_TONE=1000
CAROL_IP=192.0.2.2; CAROL="$CAROL_IP:5060"; CAROL_TONE=1200

# Per phone: make, role, address (for captures), SIP endpoint, first hop,
# tone, password.
declare -A MAKE ROLE ADDR EP REMOTE TONE PW VARIANT
PHONES=()
tone=400
for make in $MAKES; do
  for v in "${VARIANTS[@]}"; do
    has_variant "$make" "$v" || continue
    p="${MAKE_TAG[$make]}$v"
    PHONES+=("$p"); MAKE[$p]=$make; VARIANT[$p]=$v
    case $v in
      pub) ROLE[$p]="pu${MAKE_TAG[$make]}"; ADDR[$p]=${MAKE_PUB[$make]}
           EP[$p]="${ADDR[$p]}:5060"; REMOTE[$p]=$RELAY4 ;;
      v6) ROLE[$p]="v6${MAKE_TAG[$make]}"; ADDR[$p]=${MAKE_V6[$make]#* }
          EP[$p]="[${ADDR[$p]}]:5060"; REMOTE[$p]=$RELAY6 ;;
      *) ROLE[$p]="l${NAT_ROLE[$p]}"; ADDR[$p]=192.0.2.2
         EP[$p]="${ADDR[$p]}:5060"; REMOTE[$p]=$RELAY4 ;;
    esac
    TONE[$p]=$tone; tone=$((tone + 50))
    PW[$p]="pw-$p-$RANDOM"
    st_add_user "$p" "${PW[$p]}"
  done
done
PW[bob]=bob-e2e-1; PW[carol]=carol-e2e-2
st_add_user bob "${PW[bob]}"; st_add_user carol "${PW[carol]}"
ROLE[bob]=pb; ADDR[bob]=$BOB_IP; EP[bob]=$BOB; REMOTE[bob]=$RELAY4; TONE[bob]=$BOB_TONE; MAKE[bob]=sipp
ROLE[carol]=lca; ADDR[carol]=$CAROL_IP; EP[carol]=$CAROL; REMOTE[carol]=$RELAY4
TONE[carol]=$CAROL_TONE; MAKE[carol]=sipp
# The core: answers the number, calls with a trusted peer's INVITE.
ROLE[core]=co; ADDR[core]=$CORE_IP; EP[core]="$CORE_IP:5060"; REMOTE[core]=$RELAY4
TONE[core]=600; MAKE[core]=sipp; PW[core]=-
declare -A UAC=([core]=core_uac)
tc_alias "$NUMBER" core

st_start_relay || rl_die "relay did not start"
for p in "${PHONES[@]}"; do
  v=${VARIANT[$p]}
  case $v in
    pub) st_add_public_phone "${ROLE[$p]}" "${ROLE[$p]}" "${ADDR[$p]}/24" ;;
    v6) st_add_public_phone "${ROLE[$p]}" "${ROLE[$p]}" "${MAKE_V6[${MAKE[$p]}]% *}/24" \
          "${ADDR[$p]}/64" ;;
    double) rl_add_nat_behind_nat "${OUTER_ROLE[$p]}" "${NAT_ROLE[$p]}" "${ROLE[$p]}" \
              "${NAT_OUT[$p]}/24" 198.51.100.1/24 198.51.100.2/24 192.0.2.1/24 192.0.2.2/24 \
              "$NAT_TIMEOUT_S" ;;
    *) st_add_nat_phone "${NAT_ROLE[$p]}" "${ROLE[$p]}" "${NAT_OUT[$p]}/24" 192.0.2.1/24 \
         192.0.2.2/24 "${NAT_VARIANT[$v]}" "$([[ $v == short ]] && echo "$NAT_TIMEOUT_S" || echo 0)" ;;
  esac
done
st_add_nat_phone nca lca 203.0.113.34/24 192.0.2.1/24 192.0.2.2/24 plain
st_add_public_phone pb pb "$BOB_IP/24"
st_add_public_phone co co "$CORE_IP/24"
st_add_public_phone dn dn "$DNS_IP/24"
cd_start dn "$DNS_IP" --naptr-record=carrier.example,10,10,S,SIP+D2U,,_sip._udp.carrier.example \
  --srv-host=_sip._udp.carrier.example,core.carrier.example,5060,10,10 \
  --host-record=core.carrier.example,$CORE_IP
for p in "${PHONES[@]}"; do
  [[ ${VARIANT[$p]} == v6 ]] || continue
  rl_wait_for 10 rl_exec "${ROLE[$p]}" ping -6 -c1 -W1 "$ST_RELAY_IP6" \
    || rl_log "$p: no IPv6 path to the relay yet"
done

# [snap] in the caller's scenario: the dataplane's streams at that moment.
SNAP="$RL_TMP/snap.sh"
cat >"$SNAP" <<SH
#!/bin/sh
"$ST_CTL" --socket "$DP_SOCK" --json streams >"$RL_TMP/streams-\$1-\$2.json" 2>&1
SH
chmod +x "$SNAP"
TC_SNAP=$SNAP

# packets CALL PHASE LEG: packets the relay forwarded on leg a (caller ->
# callee) or b (callee -> caller) at that snapshot.
packets() {
  jfile "$RL_TMP/streams-$1-$2.json" \
    "sum(s['packets'] for s in d['streams'] if s['leg'] == '$3')" 2>/dev/null || echo 0
}

# call NAME CALLER CALLEE [hold]: tc_call (CALL_OK, HEARD_BY_CALLEE,
# HEARD_BY_CALLER) and, with hold, RESUMED ("a/b" packets relayed after
# the resume).
call() {
  tc_call "$@"
  if [[ -n ${4:-} ]]; then
    RESUMED="$(( $(packets "$1" resumed a) - $(packets "$1" held a) ))/$(( $(packets "$1" resumed b) - $(packets "$1" held b) ))"
  fi
}

# check_call NAME CALLER CALLEE: the checks every call gets; prints
# "ok"/"FAILED" for the call cell, sets OUT_OK / IN_OK (the phone's own
# audio reached the far end / the far end's reached the phone) for PHONE.
check_call() {
  local name="$1" caller="$2" callee="$3" a b
  tc_check_heard "$name" "$caller" "$callee" "$caller -> $callee"
  a=$(packets "$name" up a); b=$(packets "$name" up b)
  rl_check "${name}_relayed_both_ways" "relayed $caller->$callee $a, $callee->$caller $b" \
    test "$a" -gt "$MIN_PACKETS" -a "$b" -gt "$MIN_PACKETS"
  rl_wait_for 5 st_no_streams_left
  rl_check "${name}_streams_freed" "$(st_streams_left) streams left after BYE" st_no_streams_left
}

# negative_control_prepare PHONE: the same phone without the relay's
# keepalives: removes its keepalive target from the dataplane (a baresip
# phone's INVITEs seen so far are counted, to tell a new one). After twice
# the NAT's UDP timeout (one wait for every such phone), negative_control
# has bob call it: the INVITE must die at the NAT (the phone never sees it;
# bob cancels after 4 s) and the attempt must leave no stream behind once
# the branch times out. Sets NEG[PHONE].
declare -A NEG_BEFORE
negative_control_prepare() {
  local p="$1" id
  id=$(jget "$(dctl keepalives)" \
    "next((k['id'] for k in d['keepalives'] if k.get('label') == 'rc-ka:$p@$D'), '')")
  rl_check "${p}_keepalive_removed" "target '${id}'" dctl keepalive-remove "${id:-none}"
  if [[ ${MAKE[$p]} == baresip ]]; then
    # Its log traces every SIP message; the calls from bob before this one
    # show an INVITE is seen there when one arrives.
    NEG_BEFORE[$p]=$(bp_count "$p" '^INVITE sip:')
    rl_check "${p}_invites_visible_in_its_log" "${NEG_BEFORE[$p]} so far" test "${NEG_BEFORE[$p]}" -gt 0
  fi
}

negative_control() {
  local p="$1" uas="" got rc
  if [[ ${MAKE[$p]} == sipp ]]; then
    ST_SIPP_TIMEOUT_S=10 st_sipp_bg "${ROLE[$p]}" "${p}_neg_uas" \
      "$(st_tone_scenario "$SCN/e2e_uas.xml" "${TONE[$p]}")" "${EP[$p]}" - -key user "$p" -mp 42000
    uas=$ST_SIPP_PID
    st_sipp_ready "${ROLE[$p]}" 5060 || rl_log "UAS ${p}_neg_uas not bound"
  fi
  # From another port of bob's host: the INVITE's final response (when the
  # dead branch times out) and its retransmissions must not land on the
  # sipp that answers as bob in the next calls.
  ST_SIPP_TIMEOUT_S=15 st_sipp pb "${p}_neg_uac" "$SCN/e2e_uac_unanswered.xml" "$BOB_IP:5070" "$RELAY4" \
    -key user bob -key callee "$p" -au bob -ap "${PW[bob]}" -auth_uri "$p@$D" -mp 41000
  rc=$?
  rl_check "${p}_no_keepalive_call_cancelled" "bob's CANCEL answered, then his INVITE with 487 (sipp rc=$rc)" \
    test "$rc" -eq 0
  if [[ -n $uas ]]; then
    st_sipp_wait "$uas" >/dev/null
    got=$(st_msg_count "${p}_neg_uas" received '^INVITE ')
  else
    got=$(( $(bp_count "$p" '^INVITE sip:') - ${NEG_BEFORE[$p]:-0} ))
  fi
  rl_check "${p}_unreachable_without_keepalives" "INVITEs that reached $p: $got" test "$got" -eq 0
  # The call's streams are freed with the CANCEL (the dead branch times out
  # in the background).
  rl_wait_for 3 st_no_streams_left
  rl_check "${p}_no_keepalive_streams_freed" "$(st_streams_left) streams left" st_no_streams_left
  NEG[$p]=$( ((rc == 0 && got == 0)) && echo "lost ok" || echo FAILED)
}

# target_interval PHONE: its dataplane keepalive target's interval ('' if none).
target_interval() {
  jget "$(dctl keepalives)" \
    "next((k['interval_ms'] for k in d['keepalives'] if k.get('label') == 'rc-ka:$1@$D'), '')"
}
binding_field() { jget "$(cctl registration "$1@$D" 2>/dev/null)" "d['bindings'][0]['$2']" 2>/dev/null; }
_learned() { [[ $(binding_field "$1" keepalive_learning) == False ]]; }

# learned_then_refreshed PHONE: waits for the NAT timeout learning of a
# NAT'd phone to end and checks its outcome; then the phone re-registers as
# a phone does before its (60 s, while learning) expiry: a sipp phone by
# another REGISTER, a baresip phone by its own refresh (seen, once it came,
# in the binding's longer expiry). That REGISTER opens
# the mapping again if the probe that found its end closed it. Sets KA.
learned_then_refreshed() {
  local p="$1" v=${VARIANT[$1]} ka why target seen
  rl_wait_for "$LEARN_WAIT_S" _learned "$p" || rl_log "$p: still learning after ${LEARN_WAIT_S} s"
  ka=$(binding_field "$p" keepalive_interval_ms); why=$(binding_field "$p" keepalive_reason)
  rl_log "$p: keepalive $ka ms: $why"
  rl_check "${p}_nat_timeout_learned" "$ka ms: $why" _learned "$p"
  target=$(target_interval "$p")
  rl_check "${p}_keepalive_target_installed" "dataplane target '$target' ms, binding $ka ms" \
    test "$target" == "$ka"
  if is_short "$v"; then
    rl_check "${p}_interval_below_nat_timeout" "$ka ms < ${NAT_TIMEOUT_S} s" \
      test "${ka:-99999}" -lt $((NAT_TIMEOUT_S * 1000))
  elif [[ ${MAKE[$p]} == baresip ]]; then
    # It answers every probe behind a NAT that keeps mappings for minutes:
    # the interval must not shrink below the initial 25 s.
    rl_check "${p}_long_nat_keeps_initial_interval" "$ka ms" test "${ka:-0}" -eq 25000
  fi
  KA[$p]="$((${ka:-0} / 1000)) s ${why%%:*}"
  case ${MAKE[$p]} in
    sipp) st_register "${ROLE[$p]}" "rereg_$p" "${EP[$p]}" "${REMOTE[$p]}" "$p" "${PW[$p]}" \
            || rl_log "$p: re-REGISTER failed" ;;
    baresip) rl_wait_for 70 _refreshed_since_learned "$p" \
               || rl_log "$p: no REGISTER refresh within 70 s" ;;
  esac
}
# A REGISTER since the learning ended got the long expiry (while learning,
# at most 60 s): it may have come long before we look.
_refreshed_since_learned() { local e; e=$(binding_field "$1" expires_in); [[ -n $e && $e -gt 60 ]]; }

# refresh_far_ends: bob and carol re-register, as their phones' refresh
# timers would over a run this long (carol is NAT'd: her first expiry is
# the 60 s of a binding whose NAT timeout is being learned).
refresh_far_ends() {
  st_register "${ROLE[bob]}" "reg_bob_$1" "$BOB" "$RELAY4" bob "${PW[bob]}" \
    || rl_log "bob did not re-register"
  st_register "${ROLE[carol]}" "reg_carol_$1" "$CAROL" "$RELAY4" carol "${PW[carol]}" \
    || rl_log "carol did not re-register"
}

# Cells of the table, per phone.
declare -A VERDICT KA TO_LAN TO_PUB FROM_PUB TO_CORE FROM_CORE AUDIO_OUT AUDIO_IN HOLD FREED NEG
cell() { [[ $1 == 0 ]] && echo ok || echo FAILED; }
heard() { grep -q '^tone ' <<<"$1"; }

# bob and carol are the far ends of the calls.
st_register "${ROLE[bob]}" reg_bob "$BOB" "$RELAY4" bob "${PW[bob]}" || rl_log "bob did not register"
st_register "${ROLE[carol]}" reg_carol "$CAROL" "$RELAY4" carol "${PW[carol]}" \
  || rl_log "carol did not register"

# 1. Every phone registers first, so that the NAT timeouts of all of them
# are learned at once, while they are quiet (a call restarts the gaps).
# baresip phones first: they refresh their bindings themselves, while a
# sipp phone's 60 s (while learning) must not run out before step 2
# re-registers it.
declare -A NATTED SOURCE0
reg_order=()
for p in "${PHONES[@]}"; do [[ ${MAKE[$p]} == baresip ]] && reg_order+=("$p"); done
for p in "${PHONES[@]}"; do [[ ${MAKE[$p]} != baresip ]] && reg_order+=("$p"); done
for p in "${reg_order[@]}"; do
  v=${VARIANT[$p]}
  if [[ $v == tls ]]; then BP_TLS="$TLS/ca.pem" tc_register "$p"; else tc_register "$p"; fi
  rl_check "${p}_registered" "${MAKE[$p]} behind ${NAT_LABEL[$v]}" test $? -eq 0
  b=$(cctl registration "$p@$D" 2>/dev/null)
  natted=$(jget "$b" "d['bindings'][0]['behind_nat']" 2>/dev/null)
  reasons=$(jget "$b" "','.join(d['bindings'][0]['nat_reasons'])" 2>/dev/null)
  ka=$(jget "$b" "d['bindings'][0]['keepalive_interval_ms']" 2>/dev/null)
  rl_check "${p}_nat_verdict" "behind_nat=$natted ($reasons), want ${NAT_EXPECTED[$v]}" \
    test "$natted" == "${NAT_EXPECTED[$v]}"
  learning=$(jget "$b" "d['bindings'][0]['keepalive_learning']" 2>/dev/null)
  NATTED[$p]=$natted
  VERDICT[$p]="no"
  if [[ $natted == True ]]; then
    n=$(tr ',' '\n' <<<"$reasons" | grep -c .)
    VERDICT[$p]="yes: ${reasons%%,*}$( ((n > 1)) && echo " +$((n - 1))")"
  fi
  KA[$p]=$([[ -n $ka && $ka != 0 && $ka != None ]] && echo "$((ka / 1000)) s" || echo "none")
  if [[ $v == tls ]]; then
    # Its TLS connection is its binding: nothing to learn, no UDP
    # keepalives from the NIC; it keeps the connection open itself.
    transport=$(jget "$b" "d['bindings'][0]['transport']" 2>/dev/null)
    SOURCE0[$p]=$(jget "$b" "d['bindings'][0]['source']" 2>/dev/null)
    rl_check "${p}_keeps_its_own_connection" \
      "transport=$transport learning=$learning, dataplane target '$(target_interval "$p")'" \
      test "$transport" == tls -a "$learning" == False -a -z "$(target_interval "$p")"
    KA[$p]="phone's (TLS)"
  elif [[ $natted == True ]]; then
    rl_check "${p}_nat_timeout_being_learned" \
      "learning=$learning, ceiling ${ka:-none} ms, dataplane target '$(target_interval "$p")'" \
      test "$learning" == True -a "${ka:-0}" -eq 25000
  fi
done

# 2. Each NAT'd phone's interval is learned; it re-registers as its 60 s
# expiry (while learning) asks.
for p in "${PHONES[@]}"; do
  [[ ${NATTED[$p]} == True && ${VARIANT[$p]} != tls ]] && learned_then_refreshed "$p"
done

# The sipp phones refresh their registrations, as their timers would (the
# calls below outlast the first expiry); the baresip phones refresh
# themselves. A sipp phone refreshes only when this script says so: from
# here on, whenever its last REGISTER is older than REFRESH_DUE_S. A NAT'd
# binding gets 600 s at most (max_expires_natted), and in slow runs one
# ran out before its negative control: the late REGISTER then made a new
# binding whose NAT timeout was being learned again, with no keepalive
# target to remove.
REFRESH_DUE_S=240
declare -A LAST_REGISTER
refresh_due_sipp_phones() {
  local p
  for p in "${PHONES[@]}"; do
    [[ ${MAKE[$p]} == sipp ]] || continue
    (( SECONDS - ${LAST_REGISTER[$p]:--1000} >= REFRESH_DUE_S )) || continue
    st_register "${ROLE[$p]}" "refresh_${p}_$SECONDS" "${EP[$p]}" "${REMOTE[$p]}" "$p" "${PW[$p]}" \
      || rl_log "$p: refresh REGISTER failed"
    LAST_REGISTER[$p]=$SECONDS
  done
}
refresh_due_sipp_phones

# 3. Several NAT timeouts of silence from every phone: only the relay's
# keepalives keep the short NATs' mappings (the negative controls at the
# end show the mappings die without them). The calls into the phones come
# first.
rl_log "waiting $((NAT_TIMEOUT_S * 2)) s (twice the short NATs' UDP timeout) before the calls"
sleep $((NAT_TIMEOUT_S * 2))

# 4. The calls, phone by phone: into it first, then out of it.
for p in "${PHONES[@]}"; do
  v=${VARIANT[$p]}
  refresh_far_ends "$p"
  refresh_due_sipp_phones
  out_ok=0; in_ok=0

  call "${p}_in" bob "$p" hold; check_call "${p}_in" bob "$p"
  FROM_PUB[$p]=$(cell "$CALL_OK")
  heard "$HEARD_BY_CALLEE" || in_ok=1; heard "$HEARD_BY_CALLER" || out_ok=1
  ra=${RESUMED%/*}; rb=${RESUMED#*/}
  rl_check "${p}_in_audio_after_resume" "relayed after resume bob->$p $ra, $p->bob $rb" \
    test "$ra" -gt "$MIN_PACKETS" -a "$rb" -gt "$MIN_PACKETS"
  HOLD[$p]=$( ((ra > MIN_PACKETS && rb > MIN_PACKETS)) && echo ok || echo FAILED)

  # From the carrier's core (a trusted peer: no challenge) to the AOR.
  call "core_$p" core "$p"; check_call "core_$p" core "$p"
  FROM_CORE[$p]=$(cell "$CALL_OK")
  heard "$HEARD_BY_CALLEE" || in_ok=1; heard "$HEARD_BY_CALLER" || out_ok=1

  call "${p}_lan" "$p" carol; check_call "${p}_lan" "$p" carol
  TO_LAN[$p]=$(cell "$CALL_OK")
  heard "$HEARD_BY_CALLEE" || out_ok=1; heard "$HEARD_BY_CALLER" || in_ok=1

  call "${p}_pub" "$p" bob; check_call "${p}_pub" "$p" bob
  TO_PUB[$p]=$(cell "$CALL_OK")
  heard "$HEARD_BY_CALLEE" || out_ok=1; heard "$HEARD_BY_CALLER" || in_ok=1

  # To the carrier's core: the dial plan's "+1" route, the core by DNS.
  call "${p}_core" "$p" "$NUMBER"; check_call "${p}_core" "$p" "$NUMBER"
  TO_CORE[$p]=$(cell "$CALL_OK")
  heard "$HEARD_BY_CALLEE" || out_ok=1; heard "$HEARD_BY_CALLER" || in_ok=1

  if [[ $v == tls ]]; then
    source1=$(binding_field "$p" source)
    rl_check "${p}_one_connection_throughout" "binding source ${SOURCE0[$p]} -> $source1" \
      test -n "${SOURCE0[$p]}" -a "${SOURCE0[$p]}" == "$source1"
  fi
  AUDIO_OUT[$p]=$(cell $out_ok); AUDIO_IN[$p]=$(cell $in_ok)
  FREED[$p]=$(st_no_streams_left && echo yes || echo NO)
  NEG[$p]="-"
done

# 5. Negative controls (the short variant): the keepalives of all of them
# removed, one wait of two NAT timeouts, then bob calls each.
short_phones=()
for p in "${PHONES[@]}"; do [[ ${VARIANT[$p]} == short ]] && short_phones+=("$p"); done
if (( ${#short_phones[@]} )); then
  refresh_due_sipp_phones
  for p in "${short_phones[@]}"; do negative_control_prepare "$p"; done
  rl_log "keepalives off for ${short_phones[*]}: waiting $((NAT_TIMEOUT_S * 2)) s before bob calls (must not ring)"
  sleep $((NAT_TIMEOUT_S * 2))
  for p in "${short_phones[@]}"; do negative_control "$p"; done
fi
for p in "${PHONES[@]}"; do [[ ${MAKE[$p]} == baresip ]] && bp_stop "$p"; done

# Every ->core call went to the core by name: the relay asked the carrier's DNS.
for q in "NAPTR carrier.example" "SRV _sip._udp.carrier.example" "A core.carrier.example" \
         "AAAA core.carrier.example"; do
  rl_check "core_located_by_dns_${q%% *}" "dnsmasq logged: query[${q% *}] ${q#* }" cd_asked $q
done

echo
fmt='%-8s %-7s %-28s %-38s %-13s %-6s %-6s %-6s %-6s %-6s %-9s %-9s %-7s %-6s %-8s\n'
# shellcheck disable=SC2059  # the format is ours
printf "$fmt" phone make "NAT" "NAT detected (why)" keepalive "->LAN" "->pub" "<-pub" "->core" \
  "<-core" "audio out" "audio in" hold freed "no KA"
for p in "${PHONES[@]}"; do
  # shellcheck disable=SC2059
  printf "$fmt" "$p" "${MAKE[$p]}" "${NAT_LABEL[${VARIANT[$p]}]}" "${VERDICT[$p]}" "${KA[$p]}" \
    "${TO_LAN[$p]}" "${TO_PUB[$p]}" "${FROM_PUB[$p]}" "${TO_CORE[$p]}" "${FROM_CORE[$p]}" \
    "${AUDIO_OUT[$p]}" "${AUDIO_IN[$p]}" \
    "${HOLD[$p]}" "${FREED[$p]}" "${NEG[$p]}"
done
echo "->LAN: call to carol behind another NAT; ->pub / <-pub: call to / from bob (public);"
echo "->core / <-core: call to $NUMBER (the carrier's core, found by DNS) / from the core."
echo "audio out / in: the far end heard this phone's tone / this phone heard the far end's,"
echo "in all five calls (dominant frequency of the received RTP); hold: audio both ways after"
echo "a hold and resume; freed: no dataplane stream left after the BYEs; no KA: with its"
echo "keepalives removed, bob's call after two NAT timeouts never reached the phone."
echo "keepalive: the interval learned for the phone's NAT on the shipped defaults, and why;"
echo "a TLS phone keeps its own connection open (NIC keepalives are UDP only)."
echo

rl_summary "$SUITE"
