#!/usr/bin/env bash
# scripts/testbed --for N, run in the background as a user would, must
# clean up and exit at once on SIGTERM and on SIGINT: no namespace, veth or
# process of its run left behind (issue 13: it used to sleep out N first).
#
# Needs root (the testbed's namespaces). Prints PASS/FAIL lines and
# "testbed_signal: N passed, N failed".
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=testbed_signal
# shellcheck source=scripts/lib/verdicts.sh
source "$ROOT/scripts/lib/verdicts.sh"

[[ $(id -u) -eq 0 ]] || rl_skip "needs root (network namespaces)"
[[ -x $ROOT/build/dataplane/rtplatch-dataplane && -x $ROOT/build/control/rtplatch-control ]] ||
  rl_skip "build/ is not built"

TMP=$(mktemp -d /tmp/tbsig.XXXXXX)
TB_PID=""
cleanup() {
  if [[ -n $TB_PID ]] && kill -0 "$TB_PID" 2>/dev/null; then kill -KILL "$TB_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# run_and_signal SIGNAL PREFIX: starts the testbed for 600 s with one LAN,
# waits until it is up, sends SIGNAL, checks it exits within 15 s and left
# no namespace named after its prefix.
run_and_signal() {
  local sig=$1 prefix=$2 log="$TMP/$2.log" i
  # Job control on for the launch: a non-interactive shell's background
  # jobs would otherwise start with SIGINT ignored (and untrappable).
  set -m
  RL_PREFIX=$prefix "$ROOT/scripts/testbed" --lan plain --for 600 >"$log" 2>&1 &
  TB_PID=$!
  set +m
  for ((i = 0; i < 900; i++)); do
    grep -q "rtplatch testbed up" "$log" && break
    kill -0 "$TB_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "rtplatch testbed up" "$log"; then
    rl_fail "${sig,,}_testbed_came_up" "$(tail -5 "$log" | tr '\n' ' ')"
    return
  fi
  local start=$SECONDS
  kill "-$sig" "$TB_PID"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$TB_PID" 2>/dev/null || break
    sleep 0.1
  done
  local took=$((SECONDS - start))
  if kill -0 "$TB_PID" 2>/dev/null; then
    rl_fail "${sig,,}_exits_at_once" "still running ${took}s after SIG$sig"
    kill -KILL "$TB_PID" 2>/dev/null
  else
    rl_pass "${sig,,}_exits_at_once" "${took}s after SIG$sig"
  fi
  wait "$TB_PID" 2>/dev/null
  TB_PID=""
  local left
  left=$(ip netns list | awk '{print $1}' | grep -c "^${prefix}" || true)
  rl_check "${sig,,}_namespaces_removed" "$left left with prefix $prefix" test "$left" -eq 0
}

run_and_signal TERM "tbt$$"
run_and_signal INT "tbi$$"
rl_summary "$SUITE"
