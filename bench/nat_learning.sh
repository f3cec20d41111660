#!/usr/bin/env bash
# How long rtplatch takes to learn a NAT's UDP timeout (scripts/bench
# nat-learning): baresip phones (they answer OPTIONS, as phones do) behind
# Linux NATs with known UDP timeouts register with rtplatch-control on its
# shipped defaults, in network namespaces (scripts/lib/sip_testbed.sh); the
# registration is polled every 0.2 s until its NAT timeout is learned.
#
#   bench/nat_learning.sh [--keep]
#
# NATs (each phone its own, all at once): port-preserving MASQUERADE with a
# 10 s and a 30 s UDP timeout, and MASQUERADE --random-fully with 10 s. One
# line per NAT:
#   nat_learning nat=plain nat_timeout_s=10 learned_after_s=X interval_ms=Y
#     probes_answered=A reregistered_after_s=Z reason="..."
# learned_after_s: from the 200 to the REGISTER until the binding is no
# longer learning (the dataplane has its target); reregistered_after_s:
# from then until the phone's next REGISTER, which re-opens a mapping the
# lost probe closed (the phone is unreachable meanwhile). Needs root.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
[[ ${1:-} == --keep ]] && export RL_KEEP_LOGS=1

export ST_REGISTRAR_JSON='{}'
# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
# shellcheck source=scripts/lib/baresip_phone.sh
source "$ROOT/scripts/lib/baresip_phone.sh"
if ! why=$(st_missing) || ! why=$(bp_missing); then echo "nat_learning: skipped: $why" >&2; exit 77; fi

st_init "${RL_PREFIX:-nl$$}"
D="$ST_DOMAIN"
# name  variant       timeout  NAT outside
CASES=("p10 plain 10 203.0.113.30" "p30 plain 30 203.0.113.31" "r10 random-fully 10 203.0.113.32")
declare -A PW
for c in "${CASES[@]}"; do
  read -r name _ _ _ <<<"$c"
  PW[$name]="pw-$name-$RANDOM"
  st_add_user "$name" "${PW[$name]}"
done
st_start_relay || rl_die "relay did not start"
declare -A START
for c in "${CASES[@]}"; do
  read -r name variant timeout outside <<<"$c"
  st_add_nat_phone "n$name" "l$name" "$outside/24" 192.0.2.1/24 192.0.2.2/24 "$variant" "$timeout"
done
for c in "${CASES[@]}"; do
  read -r name _ _ _ <<<"$c"
  bp_start "l$name" "$name" "$name" "${PW[$name]}" 192.0.2.2 440 || rl_die "$name: baresip did not start"
done
for c in "${CASES[@]}"; do
  read -r name _ _ _ <<<"$c"
  bp_wait_registered "$name" 15 || rl_die "$name did not register"
  START[$name]=$(date +%s.%N)
done

field() { jget "$(cctl registration "$1@$D" 2>/dev/null)" "d['bindings'][0]['$2']" 2>/dev/null; }
# LEARNED[name]: seconds to learn; CSEQ[name]: the binding's CSeq then;
# the phone's next REGISTER (a new CSeq) re-opens a mapping a lost probe
# closed: reregistered_after_s, from the learning's end.
declare -A LEARNED=() LEARNED_AT=() CSEQ=() LINE=()
done_n=0
deadline=$((SECONDS + 240))
now() { date +%s.%N; }
while ((SECONDS < deadline && done_n < ${#CASES[@]})); do
  for c in "${CASES[@]}"; do
    read -r name variant timeout _ <<<"$c"
    [[ -n ${LINE[$name]:-} ]] && continue
    if [[ -z ${LEARNED[$name]:-} ]]; then
      [[ $(field "$name" keepalive_learning) == False ]] || continue
      LEARNED_AT[$name]=$(now)
      LEARNED[$name]=$(echo "${LEARNED_AT[$name]} - ${START[$name]}" | bc)
      CSEQ[$name]=$(field "$name" cseq)
      continue
    fi
    [[ $(field "$name" cseq) != "${CSEQ[$name]}" ]] || continue
    answered=$(grep -c '^OPTIONS sip:' "$(bp_log "$name")" 2>/dev/null)
    LINE[$name]=$(printf 'nat_learning nat=%s nat_timeout_s=%s learned_after_s=%.1f interval_ms=%s probes_answered=%s reregistered_after_s=%.1f reason="%s"' \
      "$variant" "$timeout" "${LEARNED[$name]}" "$(field "$name" keepalive_interval_ms)" \
      "${answered:-0}" "$(echo "$(now) - ${LEARNED_AT[$name]}" | bc)" \
      "$(field "$name" keepalive_reason)")
    echo "${LINE[$name]}"
    done_n=$((done_n + 1))
  done
  sleep 0.2
done
for c in "${CASES[@]}"; do
  read -r name variant timeout _ <<<"$c"
  [[ -n ${LINE[$name]:-} ]] || echo "nat_learning nat=$variant nat_timeout_s=$timeout learned_after_s=${LEARNED[$name]:-none} reregistered_after_s=none"
done
