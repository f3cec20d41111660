# Sourced by the integration tests: talking to the dataplane's control
# socket from bash (JSON lines; see docs/control-protocol.md).

# ctl JSON: one request on the dataplane's control socket; prints the reply
# line. Returns 1 if there is no reply (not if the reply says ok:false).
ctl() {
  python3 - "${DP_SOCK:?DP_SOCK must name the control socket}" "$1" <<'PY'
import json, socket, sys
path, text = sys.argv[1], sys.argv[2]
req = json.loads(text)
req.setdefault("v", 1)
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
except OSError as e:
    print("ctl: %s: %s" % (path, e), file=sys.stderr)
    sys.exit(1)
line = buf.decode("utf-8", "replace").strip()
if not line:
    print("ctl: no reply to %s" % text, file=sys.stderr)
    sys.exit(1)
print(line)
PY
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
