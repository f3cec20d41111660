#!/usr/bin/env bash
# scripts/bench relay: calls per core through Kamailio 5.6 + rtplatch against
# Kamailio 5.6 + rtpengine, on the same wire (bench/relay_run.sh runs each
# relay's ladder in a testbed of its own).
#
#   bench/relay.sh [--quick] [--pmd af_packet|af_xdp|both] [--keep]
#                  [options of bench/relay_run.sh: --steps --seconds --rate]
#
#   --quick   steps 250 and 500 only, 15 s calls (under 4 minutes): the
#             harness works, not a figure to quote
#   --pmd     rtplatch's driver(s) on the relay veth (default both: the
#             "relay" line takes the one that carried more calls, then the
#             one that spent less per packet)
#
# Output (stdout): every relay_step line of the ladders, then one line per
# rtplatch driver
#   relay_pmd pmd=P rtplatch_calls=N ratio=R rtplatch_ns_per_packet=X
#     rtplatch_kernel_ns_per_packet=K rtplatch_own_ns_per_packet=O
#     limit=relay|testbed|none
# and
#   relay rtplatch_calls=N rtpengine_calls=M ratio=R rtplatch_ns_per_packet=X
#     rtpengine_ns_per_packet=Y loss_pct=L
# where N and M are the most concurrent calls each relay carried in a step
# that passed (bench/relay_run.sh), R = N / M, X and Y the CPU per relayed
# packet at that step, L rtplatch's steady-phase loss there; and
#   relay_detail pmd=P rtpengine_kernel_ns_per_packet=K ns_ratio=Y/X
#     rtplatch_limit=relay|testbed|none rtpengine_limit=...
# limit=relay: in the step after N the relay's forwarding core was at least
# 90 % busy; limit=testbed: it had room, and the rest of the testbed (sipp
# phones, Kamailio and the NATs' forwarding, all on core 0) gave out first
# (calls failed, packets lost or not sent), so the relay's own limit is
# higher than N; none: every step passed. K is "na" for af_xdp, whose
# receive makes system calls on empty polls too.
# Exit 0 the runs completed, 1 one broke, 77 cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PMDS="af_packet af_xdp"
RUN_ARGS=()
while (( $# )); do
  case $1 in
    --quick) RUN_ARGS+=(--steps "250 500" --seconds 15) ;;
    --pmd)
      case ${2:-} in
        both) PMDS="af_packet af_xdp" ;;
        af_packet|af_xdp) PMDS=$2 ;;
        *) echo "relay: --pmd must be af_packet, af_xdp or both" >&2; exit 2 ;;
      esac
      shift ;;
    --keep) RUN_ARGS+=(--keep) ;;
    --steps|--seconds|--rate) RUN_ARGS+=("$1" "${2:?}"); shift ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "relay: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

out=$(mktemp -t rtplatch-relay.XXXXXX)
trap 'rm -f "$out"' EXIT
run() {
  "$HERE/relay_run.sh" "$@" "${RUN_ARGS[@]}" | tee -a "$out"
  local rc=${PIPESTATUS[0]}
  (( rc == 0 )) || { echo "relay: bench/relay_run.sh $* exited $rc" >&2; exit "$rc"; }
}
run --relay rtpengine
for pmd in $PMDS; do run --relay rtplatch --pmd "$pmd"; done
python3 "$HERE/relay_summary.py" "$out"
