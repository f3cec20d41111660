#!/usr/bin/env bash
# Integration test of rtplatch-control's process skeleton on 127.0.0.1
# (no namespaces, no root): sipp OPTIONS over UDP and TCP must get 200 OK;
# a malformed request from a raw UDP socket gets 400 with
# received=127.0.0.1;rport=<its port>; garbage over UDP and TCP does not
# crash the process (it answers OPTIONS afterwards); SIGTERM exits cleanly.
#
# Output: "PASS name" / "FAIL name" per check, then
# "sip_options: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (sipp, python3 or the binary under test missing).
#
# Environment:
#   RTPLATCH_CONTROL   binary (default build/control/rtplatch-control)
#   SO_KEEP_LOGS=1     keep the per-run log directory

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CONTROL="${RTPLATCH_CONTROL:-$ROOT/build/control/rtplatch-control}"
SCENARIO="$HERE/sipp/options.xml"
SUITE=sip_options
HOST=127.0.0.1

CONTROL_PID=""
WORK=""

# shellcheck source=scripts/lib/verdicts.sh
source "$ROOT/scripts/lib/verdicts.sh"
check() {  # check NAME CMD...
  local name=$1; shift
  rl_check "$name" "" "$@"
}

command -v sipp >/dev/null 2>&1 || rl_skip "sipp not installed (package sip-tester)"
command -v python3 >/dev/null 2>&1 || rl_skip "python3 not installed"
[[ -x $CONTROL ]] || rl_skip "$CONTROL not built"

cleanup() {
  # Only what this script started.
  if [[ -n $CONTROL_PID ]] && kill -0 "$CONTROL_PID" 2>/dev/null; then
    kill -TERM "$CONTROL_PID" 2>/dev/null
    wait "$CONTROL_PID" 2>/dev/null
  fi
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ ${SO_KEEP_LOGS:-0} == 1 || $RL_FAILED -gt 0 ]]; then
      echo "logs kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
}
trap cleanup EXIT

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sip_options.XXXXXX")"

# A port free for both UDP and TCP on $HOST (the server binds both).
free_port() {
  python3 - "$HOST" <<'PY'
import socket, sys
host = sys.argv[1]
for _ in range(50):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind((host, 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind((host, port))
    except OSError:
        t.close()
        continue
    u.close(); t.close()
    print(port)
    sys.exit(0)
sys.exit(1)
PY
}

PORT="$(free_port)" || { echo "cannot find a free port"; exit 1; }
# IPv6 loopback too, when the host has it and the port is free there.
LISTEN="\"$HOST:$PORT\""
HAVE_V6=0
if python3 -c "
import socket, sys
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(('::1', int(sys.argv[1])))
    s.close()
" "$PORT" 2>/dev/null; then
  LISTEN="$LISTEN, \"[::1]:$PORT\""
  HAVE_V6=1
fi
cat >"$WORK/control.json" <<JSON
{
  "sip_listen": [$LISTEN],
  "dataplane_socket": "$WORK/dataplane.sock",
  "control_socket": "$WORK/control.sock",
  "server_header": "rtplatch-test",
  "domain": "example.test",
  "database": "$WORK/bindings.sqlite"
}
JSON

"$CONTROL" --config "$WORK/control.json" >"$WORK/control.log" 2>&1 &
CONTROL_PID=$!
ready=0
for _ in $(seq 50); do
  if grep -q "rtplatch-control: listening on" "$WORK/control.log" 2>/dev/null; then
    ready=1; break
  fi
  kill -0 "$CONTROL_PID" 2>/dev/null || break
  sleep 0.1
done
if (( ready )); then rl_pass "starts_and_listens"; else
  rl_fail "starts_and_listens" "$(tail -3 "$WORK/control.log")"
  echo "$SUITE: $RL_PASSED passed, $RL_FAILED failed"
  exit 1
fi

# sipp_options TRANSPORT(u1|t1) NAME
sipp_options() {
  local t=$1 name=$2 client_port
  client_port="$(free_port)" || return 1
  (cd "$WORK" && timeout 20 sipp -sf "$SCENARIO" -t "$t" -i "$HOST" -p "$client_port" \
      -m 1 -l 1 -timeout 10 -timeout_error -max_retrans 3 -nostdin \
      -trace_err -error_file "$WORK/sipp_$name.err" \
      "$HOST:$PORT" >"$WORK/sipp_$name.log" 2>&1 </dev/null)
}

check "options_udp_200" sipp_options u1 udp
check "options_tcp_200" sipp_options t1 tcp

# A raw UDP socket sends a truncated request (Content-Length says more
# than arrived) and must get 400 with received/rport of its own address.
RAW_OUT="$WORK/raw_400.txt"
python3 - "$HOST" "$PORT" >"$RAW_OUT" 2>&1 <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, 0))
me = s.getsockname()[1]
s.settimeout(3)
msg = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.44:5060;branch=z9hG4bK-raw-400\r\n"
       "From: <sip:raw@example.com>;tag=raw\r\n"
       "To: <sip:%s:%d>\r\n"
       "Call-ID: raw-400@test\r\n"
       "CSeq: 1 OPTIONS\r\n"
       "Content-Type: application/sdp\r\n"
       "Content-Length: 400\r\n\r\nv=0\r\n" % (host, port, host, port)).encode()
s.sendto(msg, (host, port))
try:
    data, src = s.recvfrom(65535)
except socket.timeout:
    print("NO-REPLY")
    sys.exit(0)
print("MYPORT %d" % me)
print("FROM %s:%d" % src)
print(data.decode(errors="replace"))
PY
raw_port="$(sed -n 's/^MYPORT //p' "$RAW_OUT")"
check "malformed_gets_400" grep -q "^SIP/2.0 400 " "$RAW_OUT"
check "malformed_400_received_rport" \
  grep -qE "^Via: .*received=127\.0\.0\.1;rport=${raw_port:-none}(;|[[:space:]]*$)" "$RAW_OUT"
check "malformed_400_warning" grep -q '^Warning: 399 .*truncated' "$RAW_OUT"
check "malformed_400_from_server_port" grep -q "^FROM $HOST:$PORT\$" "$RAW_OUT"

# raw_options FAMILY(4|6) TRANSPORT(udp|tcp-framing): OPTIONS from a raw
# socket. tcp-framing sends, on one connection, a CRLF keepalive, one
# request split across two writes and then two requests in one write: all
# three answered 200, in order, on that connection.
raw_options() {
  python3 - "$1" "$2" "$PORT" >"$WORK/raw_$1_$2.txt" 2>&1 <<'PY'
import socket, sys, time
fam, mode, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = "127.0.0.1" if fam == "4" else "::1"
af = socket.AF_INET if fam == "4" else socket.AF_INET6
uri_host = host if fam == "4" else "[%s]" % host
def options(n, transport):
    return ("OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s:9;branch=z9hG4bK-raw-%d;rport\r\n"
            "From: <sip:raw@example.com>;tag=raw%d\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: raw-%d@test\r\n"
            "CSeq: %d OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n" % (uri_host, port, transport, uri_host, n, n,
                                             uri_host, port, n, n)).encode()
if mode == "udp":
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(options(1, "UDP"), (host, port))
    data, _ = s.recvfrom(65535)
    sys.stdout.write(data.decode(errors="replace"))
    sys.exit(0)
t = socket.create_connection((host, port), timeout=3)
t.sendall(b"\r\n\r\n")
first = options(1, "TCP")
t.sendall(first[:40]); time.sleep(0.2); t.sendall(first[40:])
t.sendall(options(2, "TCP") + options(3, "TCP"))
buf = b""
deadline = time.time() + 3
while buf.count(b"SIP/2.0 200 OK") < 3 and time.time() < deadline:
    chunk = t.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.decode(errors="replace"))
PY
}

ordered_cseqs() {  # the CSeq lines of the replies, in order
  [[ "$(grep -o '^CSeq: [0-9]*' "$1" | tr '\n' ' ')" == "CSeq: 1 CSeq: 2 CSeq: 3 " ]]
}
raw_options 4 tcp-framing
check "tcp_framing_keepalive_split_pipelined" ordered_cseqs "$WORK/raw_4_tcp-framing.txt"
if (( HAVE_V6 )); then
  raw_options 6 udp
  check "options_udp_ipv6_200" grep -q "^SIP/2.0 200 OK" "$WORK/raw_6_udp.txt"
  check "options_udp_ipv6_received" grep -qE "^Via: .*;received=::1(;|[[:space:]]*$)" "$WORK/raw_6_udp.txt"
  check "options_udp_ipv6_rport" grep -qE "^Via: .*;rport=[0-9]+" "$WORK/raw_6_udp.txt"
  raw_options 6 tcp-framing
  check "tcp_framing_ipv6" ordered_cseqs "$WORK/raw_6_tcp-framing.txt"
else
  echo "SKIP ipv6 checks: no ::1 or port taken there"
fi

# A slow reader (tiny receive buffer, reads only after sending 2000
# pipelined requests): replies queue in the server and drain on EPOLLOUT.
python3 - "$HOST" "$PORT" >"$WORK/slow_reader.txt" 2>&1 <<'PY'
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
N = 2000
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
t.settimeout(10)
t.connect((host, port))
req = b"".join((
    "OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.9:9;branch=z9hG4bK-slow-%d\r\n"
    "From: <sip:slow@example.com>;tag=s\r\nTo: <sip:%s:%d>\r\nCall-ID: slow@test\r\n"
    "CSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n" % (host, port, i, host, port, i + 1)
).encode() for i in range(N))
t.sendall(req)
time.sleep(1)
buf = b""
while buf.count(b"SIP/2.0 200 OK") < N:
    chunk = t.recv(65536)
    if not chunk:
        break
    buf += chunk
print("replies %d" % buf.count(b"SIP/2.0 200 OK"))
print("last_cseq_ok %s" % (b"CSeq: %d OPTIONS" % N in buf))
PY
check "tcp_slow_reader_gets_all_replies" grep -q "^replies 2000$" "$WORK/slow_reader.txt"
check "tcp_slow_reader_in_order" grep -q "^last_cseq_ok True$" "$WORK/slow_reader.txt"

# Garbage: random datagrams, a TLS hello, binary junk over TCP, a TCP
# stream with an unusable Content-Length, and one that never ends its
# headers past 64 KiB.
python3 - "$HOST" "$PORT" >"$WORK/garbage.log" 2>&1 <<'PY'
import os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in (0, 1, 13, 512, 1400, 8000, 65000):
    u.sendto(os.urandom(n), (host, port))
u.sendto(b"\x16\x03\x01\x00\x05hello", (host, port))
u.sendto(b"INVITE\r\n\r\n", (host, port))
u.sendto(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", (host, port))
u.sendto(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCSeq: 1 OPTIONS\r\n\x00\r\n\r\n", (host, port))
def tcp(payload, shut=True):
    t = socket.create_connection((host, port), timeout=3)
    try:
        t.sendall(payload)
        if shut:
            t.shutdown(socket.SHUT_WR)
        t.settimeout(2)
        try:
            while t.recv(65536):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        t.close()
tcp(os.urandom(4096))
tcp(b"\r\n\r\n\r\n")
tcp(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: banana\r\n\r\n")
tcp(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 999999999\r\n\r\n")
tcp(b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 70000, shut=False)
print("sent")
PY
check "garbage_sent" grep -q "^sent" "$WORK/garbage.log"
check "survives_garbage" kill -0 "$CONTROL_PID"
check "options_udp_200_after_garbage" sipp_options u1 udp_after
check "options_tcp_200_after_garbage" sipp_options t1 tcp_after

# Clean shutdown on SIGTERM.
kill -TERM "$CONTROL_PID" 2>/dev/null
rc=0
wait "$CONTROL_PID" || rc=$?
CONTROL_PID=""
check "sigterm_clean_exit" test "$rc" -eq 0
check "sigterm_reports_counters" grep -q 'shutting down: .*"udp_datagrams":[0-9]' "$WORK/control.log"

echo "$SUITE: $RL_PASSED passed, $RL_FAILED failed"
(( RL_FAILED == 0 ))
