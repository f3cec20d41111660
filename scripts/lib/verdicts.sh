# Sourced by every script test (directly, or through netns.sh): one
# PASS/FAIL/SKIP vocabulary and one summary line, which scripts/test and
# scripts/demo read.
#   PASS NAME (DETAIL)        FAIL NAME (DETAIL)        SKIP SUITE: WHY (exit 77)
#   SUITE: N passed, N failed

RL_PASSED=${RL_PASSED:-0}
RL_FAILED=${RL_FAILED:-0}

rl_pass() { RL_PASSED=$((RL_PASSED + 1)); echo "PASS $1${2:+ ($2)}"; }
rl_fail() { RL_FAILED=$((RL_FAILED + 1)); echo "FAIL $1${2:+ ($2)}"; }
# rl_skip WHY: the whole suite cannot run here (a missing tool, not root);
# scripts/test counts exit 77 as a skip, apart from passes and failures.
rl_skip() { echo "SKIP ${SUITE:-$(basename "$0" .sh)}: $*"; exit 77; }
# rl_check NAME DETAIL CMD...: PASS if CMD succeeds, else FAIL.
rl_check() {
  local name="$1" detail="$2"; shift 2
  if "$@"; then rl_pass "$name" "$detail"; else rl_fail "$name" "$detail"; fi
}
# rl_summary SUITE: "SUITE: N passed, N failed"; returns 1 on any failure.
rl_summary() {
  echo "$1: $RL_PASSED passed, $RL_FAILED failed"
  (( RL_FAILED == 0 ))
}
