# Sourced by the integration tests: talking to the dataplane's control
# socket from bash (JSON lines; see docs/control-protocol.md), through
# rtplatchctl like an operator, and reading the replies.

# ctl JSON: one request on the dataplane's control socket, sent by the one
# client every test and operator uses (rtplatchctl raw); prints the reply on
# one line. Returns 1 if there is no reply (not if the reply says ok:false).
# RTPLATCHCTL names the binary (default build/control/rtplatchctl).
ctl() {
  local bin="${RTPLATCHCTL:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/control/rtplatchctl}"
  local out
  out=$("$bin" --socket "${DP_SOCK:?DP_SOCK must name the control socket}" --timeout-ms 5000 \
    raw "$1" 2>/dev/null)
  if [[ -z $out ]]; then
    echo "ctl: no reply to $1 on $DP_SOCK" >&2
    return 1
  fi
  python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))' <<<"$out"
}

# jget JSON EXPR: evaluates a Python expression over d = the parsed JSON and
# prints the value (dicts/lists as JSON, None as empty). Returns 1 if the
# expression fails (missing key, bad JSON).
jget() {
  python3 - "$1" "$2" <<'PY'
import json, sys
try:
    d = json.loads(sys.argv[1])
    v = eval(sys.argv[2], {"d": d, "sum": sum, "len": len})
except Exception as e:
    print("jget: %s: %r" % (sys.argv[2], e), file=sys.stderr)
    sys.exit(1)
if isinstance(v, (dict, list)):
    print(json.dumps(v, sort_keys=True))
elif v is None:
    print("")
else:
    print(v)
PY
}

# jfile FILE EXPR: jget over a file.
jfile() {
  [[ -s $1 ]] || { echo "jfile: $1 missing or empty" >&2; return 1; }
  jget "$(cat "$1")" "$2"
}

# After a failed run, the tail of the dataplane's log ($DP_LOG) helps most.
dump_dataplane_log_on_failure() {
  if (( RL_FAILED > 0 )) && [[ -n $DP_LOG && -f $DP_LOG ]]; then
    echo "--- last lines of $(basename "$DP_LOG") ---"
    tail -n 30 "$DP_LOG" | sed 's/^/    | /'
  fi
}
