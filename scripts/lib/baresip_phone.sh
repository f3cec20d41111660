# shellcheck shell=bash
# baresip softphones in the SIP testbed (sourced library, after
# scripts/lib/sip_testbed.sh and st_init).
#
# A phone is one baresip (Debian baresip-core 1.0.0) in a testbed
# namespace, with a private config directory, registered with digest auth
# at rtplatch, sending everything (REGISTER, INVITE, ...) to the relay as
# its outbound proxy. It answers incoming calls at once, offers PCMA only,
# sends a sine tone (ausine) and records the audio it receives in each call
# (sndfile's decoder-side dump), so a test can check that it heard the
# other side's tone. It is driven over ctrl_tcp (netstring JSON on
# 127.0.0.1 inside the phone's namespace); its state (registered, call
# established, call closed) is read from its log.
#
#   source scripts/lib/sip_testbed.sh
#   source scripts/lib/baresip_phone.sh
#   st_init bc$$; st_add_user erin pw-e; st_add_user bob2 pw-b; st_start_relay
#   st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
#   st_add_public_phone pub pb 203.0.113.20/24
#   bp_start lan erin erin pw-e 192.0.2.2 440
#   bp_start pub bob2 bob2 pw-b 203.0.113.20 1000
#   bp_wait_registered erin && bp_wait_registered bob2
#   bp_mark bob2; bp_dial erin sip:bob2@example.test
#   bp_wait_established erin && bp_wait_established bob2
#   sleep 4; bp_hold erin; sleep 1; bp_resume erin; sleep 1; bp_hangup erin
#   bp_wait_closed erin; bp_wait_closed bob2
#   tests/integration/tone.py check-wav "$(bp_recording erin)" --freq 1000
#
# Environment: BARESIP (the binary, default baresip), BP_MODULE_PATH
# (default /usr/lib/baresip/modules).
#
# Functions (NAME: the phone's name, unique in the run, [a-z0-9_]):
#   bp_missing                   prints what is missing to run baresip
#                                phones and returns 1; else returns 0
#   bp_start ROLE NAME USER PASSWORD LOCAL_IP [TONE_HZ]
#                                write its config, start baresip in
#                                namespace ROLE (rl_spawn: killed by PID at
#                                cleanup), wait for its control port;
#                                returns 1 (log tail on stderr) if it does
#                                not come up. LOCAL_IP: the phone's own v4
#                                or v6 address in ROLE (the namespace may
#                                hold others: SIP and RTP use this one); a
#                                v6 phone talks to the relay's v6 address.
#                                TONE_HZ: what it sends (default 440).
#                                USER, PASSWORD: no ";", ">", quote, space.
#                                Registration starts at once (regint 600).
#   bp_stop NAME                 SIGTERM (it unregisters), SIGKILL after 5 s
#   bp_cmd NAME COMMAND [PARAMS...]
#                                one ctrl_tcp command (dial, hangup, hold,
#                                resume, reginfo, listcalls, ...); prints
#                                the response's text; returns 1 if there
#                                is no response or it says ok=false
#   bp_wait_registered NAME [TIMEOUT_S]   a 2xx to its REGISTER (default 10)
#   bp_mark NAME                 calls established/closed/failed so far no
#                                longer count for the two waits below
#                                (mark a callee before the caller dials)
#   bp_dial NAME URI             bp_mark, then call URI (sip:user@domain)
#   bp_wait_established NAME [TIMEOUT_S]  a call established since the mark
#                                (default 10 s); it becomes the mark; 1 at
#                                once if a call attempt failed since then
#   bp_wait_closed NAME [TIMEOUT_S]       an established call ended since
#                                the mark (default 10 s)
#   bp_hold NAME                 re-INVITE with a=sendonly (current call)
#   bp_resume NAME               re-INVITE with a=sendrecv
#   bp_hangup NAME               BYE (or CANCEL) on the current call
#   bp_recording NAME            path of the wav (8 kHz mono s16) of what it
#                                received in its latest call; 1 if none
#   bp_log NAME                  path of its log (baresip -v -s: events and
#                                the SIP trace)
#   bp_count NAME REGEX          how many log lines match REGEX (grep -E)
#
# Files: $RL_TMP/baresip/NAME/{config,accounts,contacts}, NAME.log,
# NAME/rec/dump-<date>-{enc,dec}.wav (per call: enc what it sent, dec what
# it received), bp_ctrl.py (the ctrl_tcp client).
#
# What baresip 1.0.0 does and does not do, and how that shaped this:
#   - ausine only makes 48 kHz stereo (hence ausrc_srate/ausrc_channels;
#     baresip resamples to PCMA's 8 kHz mono itself);
#   - aufile is only a source, not a player, and there is no audio
#     hardware: the player is an aubridge device nobody reads; the decoder
#     side still runs and sndfile dumps it;
#   - hold stops its RTP both ways (it sends nothing while it holds,
#     although it offers a=sendonly; the held side answers a=recvonly and
#     stops too); resume starts both again on the same ports;
#   - sndfile's received-audio dump ends at the call's first re-INVITE
#     (hold): bp_recording covers the call up to the hold only;
#   - ctrl_tcp serves one connection at a time (a new one replaces the
#     old) and sends events only to it: each command opens its own, and
#     events come from the log (which needs -v: ctrl_tcp logs at debug);
#   - IPv6 works (sip_listen and the outbound proxy in brackets).

[[ -n ${_BP_BARESIP_PHONE_SH_LOADED:-} ]] && return 0
_BP_BARESIP_PHONE_SH_LOADED=1

BP_BARESIP="${BARESIP:-baresip}"
BP_MODULE_PATH="${BP_MODULE_PATH:-/usr/lib/baresip/modules}"
# ctrl_tcp listens on the namespace's loopback, one port per phone (a
# namespace may hold several phones).
BP_CTRL_PORT_BASE=4444
_BP_NEXT_PORT=$BP_CTRL_PORT_BASE

declare -A BP_ROLE=() BP_PID=() BP_PORT=() BP_EST_SEEN=() BP_CLOSED_SEEN=() BP_FAILED_SEEN=()
_BP_CTL=""

# bp_missing: prints what is missing (baresip, a module) and returns 1.
bp_missing() {
  local m
  command -v "$BP_BARESIP" >/dev/null 2>&1 || { echo "'$BP_BARESIP' not found (baresip-core)"; return 1; }
  for m in g711 ausine aubridge sndfile account menu ctrl_tcp; do
    [[ -f $BP_MODULE_PATH/$m.so ]] || { echo "baresip module $m.so not found in $BP_MODULE_PATH"; return 1; }
  done
  return 0
}

# _bp_write_ctl: the ctrl_tcp client (netstring-framed JSON; events that
# arrive before the response are skipped).
_bp_write_ctl() {
  [[ -n $_BP_CTL ]] && return 0
  _BP_CTL="$RL_TMP/baresip/bp_ctrl.py"
  mkdir -p "$RL_TMP/baresip"
  cat >"$_BP_CTL" <<'PY'
"""One baresip ctrl_tcp command (baresip_phone.sh bp_cmd)."""
import json, socket, sys

host, port, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
params = " ".join(sys.argv[4:])
req = json.dumps({"command": cmd, "params": params, "token": "bp"}).encode()
try:
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"%d:%s," % (len(req), req))
    buf = b""
    while True:
        # A netstring: "<len>:<payload>,".
        while b":" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("connection closed before a response")
            buf += chunk
        head, _, rest = buf.partition(b":")
        n = int(head)
        while len(rest) < n + 1:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("connection closed in a message")
            rest += chunk
        msg, buf = json.loads(rest[:n]), rest[n + 1:]
        if msg.get("response"):
            break
except (OSError, ValueError) as e:
    print("bp_cmd %s: %s" % (cmd, e), file=sys.stderr)
    sys.exit(1)
data = msg.get("data", "")
if data:
    print(data)
sys.exit(0 if msg.get("ok") else 1)
PY
}

# After a failed run (RL_FAILED > 0), the end of each phone's log.
_bp_on_cleanup() {
  (( RL_FAILED > 0 )) || return 0
  local name
  for name in "${!BP_ROLE[@]}"; do
    [[ -s $(bp_log "$name") ]] || continue
    echo "--- last lines of baresip $name's log ---"
    grep -v -E '^\s*$' "$(bp_log "$name")" | tail -n 25 | tr -d '\r' | sed 's/^/    | /'
  done
  return 0
}

# bp_start ROLE NAME USER PASSWORD LOCAL_IP [TONE_HZ]
# (BP_REGINT=S bp_start ...: the registration interval it asks for, and so
# how often it re-REGISTERs; default 600. BP_MEDIANAT=ice bp_start ...: the
# phone is a full ICE agent (baresip's ice module, host candidates only:
# there is no STUN server), offering and answering ICE and checking
# connectivity before media. BP_TLS=CAFILE bp_start ...: SIP over TLS to
# the relay's TLS port (ST_TLS_PORT, default 5061), the relay's certificate
# verified against CAFILE; BP_TLS_CERT=PEM adds the phone's own
# certificate and key, one file.)
bp_start() {
  local role="$1" name="$2" user="$3" pw="$4" ip="$5" tone="${6:-440}" dir relay listen
  [[ $name =~ ^[a-z0-9_]+$ ]] || rl_die "bp_start: bad phone name '$name'"
  [[ -z ${BP_PID[$name]:-} ]] || rl_die "bp_start: phone $name already started"
  # The accounts line quotes nothing: these would end or split it.
  [[ $user$pw != *[\;\>\"\ ]* ]] || rl_die "bp_start: ';', '>', '\"' or ' ' in user or password"
  [[ -n $_BP_CTL ]] || rl_on_cleanup _bp_on_cleanup
  _bp_write_ctl
  dir="$RL_TMP/baresip/$name"
  mkdir -p "$dir/rec"
  BP_PORT[$name]=$_BP_NEXT_PORT; _BP_NEXT_PORT=$(( _BP_NEXT_PORT + 1 ))
  if [[ $ip == *:* ]]; then listen="[$ip]:5060"; relay="[$ST_RELAY_IP6]:$ST_SIP_PORT"
  else listen="$ip:5060"; relay="$ST_RELAY_IP:$ST_SIP_PORT"; fi
  local tls_lines="" transport=udp
  if [[ -n ${BP_TLS:-} ]]; then
    transport=tls
    if [[ $ip == *:* ]]; then relay="[$ST_RELAY_IP6]:${ST_TLS_PORT:-5061}"
    else relay="$ST_RELAY_IP:${ST_TLS_PORT:-5061}"; fi
    tls_lines="sip_cafile		$BP_TLS"
    [[ -n ${BP_TLS_CERT:-} ]] && tls_lines+=$'\n'"sip_certificate		$BP_TLS_CERT"
  fi
  local medianat_module="" medianat_param=""
  if [[ -n ${BP_MEDIANAT:-} ]]; then
    [[ -f $BP_MODULE_PATH/${BP_MEDIANAT}.so ]] || rl_die "bp_start: no baresip module ${BP_MEDIANAT}.so"
    medianat_module="module			${BP_MEDIANAT}.so"
    medianat_param=";medianat=$BP_MEDIANAT"
  fi
  # No audio hardware, no STUN/NAT-PMP: only the modules a test phone needs.
  cat >"$dir/config" <<EOF
# baresip_phone.sh: phone $name ($user@$ST_DOMAIN) in namespace $role
poll_method		epoll
# Its own address for SIP and media: the namespace may hold other phones'.
net_interface		$ip
sip_listen		$listen
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,${name}_nobody
audio_source		ausine,$tone
audio_alert		aubridge,${name}_nobody
ausrc_srate		48000
ausrc_channels		2
audio_level		no
rtp_ports		40000-40999
rtcp_mux		no
module_path		$BP_MODULE_PATH
module			g711.so
module			ausine.so
module			aubridge.so
module			sndfile.so
$medianat_module
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:${BP_PORT[$name]}
snd_path		$dir/rec
$tls_lines
# No per-call status line (it rewrites itself with \\r several times a second).
statmode_default	off
EOF
  # Everything goes to the relay (outbound proxy); answer at once; PCMA only.
  local aor_param=""
  [[ $transport == tls ]] && aor_param=";transport=tls"
  printf '<sip:%s@%s%s>;auth_pass=%s;outbound="sip:%s;transport=%s";answermode=auto;audio_codecs=pcma;regint=%s%s\n' \
    "$user" "$ST_DOMAIN" "$aor_param" "$pw" "$relay" "$transport" "${BP_REGINT:-600}" \
    "$medianat_param" >"$dir/accounts"
  : >"$dir/contacts"
  BP_ROLE[$name]=$role
  BP_EST_SEEN[$name]=0; BP_CLOSED_SEEN[$name]=0; BP_FAILED_SEEN[$name]=0  # a new log
  rl_spawn "$role" "$RL_TMP/baresip/$name.log" "$BP_BARESIP" -f "$dir" -v -s
  BP_PID[$name]=$RL_LAST_PID
  if ! _bp_wait_up "$name" 10; then
    rl_log "baresip $name did not start"; tail -n 20 "$(bp_log "$name")" >&2
    return 1
  fi
  rl_log "baresip $name pid ${BP_PID[$name]} up ($user@$ST_DOMAIN at $listen, tone $tone Hz)"
}

# _bp_wait_up NAME TIMEOUT_S: until its control port listens and it says
# it is ready; fails at once if it exits (a bad config, an address in use).
_bp_wait_up() {
  local name="$1" i
  for (( i = 0; i < $2 * 10; i++ )); do
    kill -0 "${BP_PID[$name]}" 2>/dev/null || return 1
    (( $(bp_count "$name" 'ctrl_tcp: TCP socket listening|^baresip is ready') >= 2 )) && return 0
    sleep 0.1
  done
  return 1
}

# bp_stop NAME: SIGTERM (baresip unregisters), SIGKILL after 5 s.
bp_stop() {
  local name="$1"
  [[ -n ${BP_PID[$name]:-} ]] || return 0
  rl_kill "${BP_PID[$name]}" 5
  rl_wait "${BP_PID[$name]}" 1 >/dev/null 2>&1
  BP_PID[$name]=""
}

# bp_log NAME: path of the phone's log (baresip -v -s: SIP trace included).
bp_log() { printf '%s\n' "$RL_TMP/baresip/$1.log"; }

# bp_count NAME REGEX: how many lines of its log match REGEX (grep -E).
bp_count() {
  local n
  n=$(grep -c -E -- "$2" "$(bp_log "$1")" 2>/dev/null)
  printf '%s\n' "${n:-0}"
}

# bp_cmd NAME COMMAND [PARAMS...]
bp_cmd() {
  local name="$1"; shift
  [[ -n ${BP_PID[$name]:-} ]] || { rl_log "bp_cmd: phone $name is not running"; return 1; }
  rl_exec "${BP_ROLE[$name]}" python3 "$_BP_CTL" 127.0.0.1 "${BP_PORT[$name]}" "$@"
}

# Log lines of baresip 1.0's menu module (the UI prints them; events).
_BP_REGISTERED=': \{[0-9]+/(UDP|TLS)/v[46]\} 2[0-9][0-9] '
_BP_ESTABLISHED=': Call established: '
# "Call with PEER terminated": an established call ended (either side).
# "session closed: REASON": the far end or the network ended a session,
# a failed attempt too ("session closed: 407 ..."); not when this side
# hangs up.
_BP_CLOSED=': Call with .* terminated'
_BP_SESSION_CLOSED=': session closed: '

# bp_wait_registered NAME [TIMEOUT_S]: a 2xx to its REGISTER in the log.
bp_wait_registered() {
  rl_wait_for "${2:-10}" _bp_more "$1" "$_BP_REGISTERED" 0
}

_bp_more() { (( $(bp_count "$1" "$2") > $3 )); }

# bp_mark NAME: calls established, ended or failed before now no longer
# count for bp_wait_established / bp_wait_closed (bp_dial does it for the
# caller; a test marks the callee before the other side dials).
bp_mark() {
  BP_EST_SEEN[$1]=$(bp_count "$1" "$_BP_ESTABLISHED")
  BP_CLOSED_SEEN[$1]=$(bp_count "$1" "$_BP_CLOSED")
  BP_FAILED_SEEN[$1]=$(bp_count "$1" "$_BP_SESSION_CLOSED")
}

# bp_dial NAME URI: mark, then dial.
bp_dial() { bp_mark "$1"; bp_cmd "$1" dial "$2" >/dev/null; }

# bp_wait_established NAME [TIMEOUT_S]: a call established since the mark
# (or since the last bp_wait_established), which then becomes the mark.
# Returns 1 at once if a call attempt failed since the mark (a "session
# closed" line: 4xx-6xx, timeout).
bp_wait_established() {
  local name="$1" timeout="${2:-10}" i n
  for (( i = 0; i < timeout * 10; i++ )); do
    n=$(bp_count "$name" "$_BP_ESTABLISHED")
    if (( n > ${BP_EST_SEEN[$name]:-0} )); then BP_EST_SEEN[$name]=$n; return 0; fi
    n=$(bp_count "$name" "$_BP_SESSION_CLOSED")
    if (( n > ${BP_FAILED_SEEN[$name]:-0} )); then BP_FAILED_SEEN[$name]=$n; return 1; fi
    sleep 0.1
  done
  return 1
}

# bp_wait_closed NAME [TIMEOUT_S]: an established call ended (BYE sent or
# received) since the mark (or the last bp_wait_closed): it becomes the mark.
bp_wait_closed() {
  rl_wait_for "${2:-10}" _bp_more "$1" "$_BP_CLOSED" "${BP_CLOSED_SEEN[$1]:-0}" || return 1
  BP_CLOSED_SEEN[$1]=$(bp_count "$1" "$_BP_CLOSED")
}

# bp_hangup / bp_hold / bp_resume NAME: on its current call (menu's
# commands; hold offers a=sendonly, resume a=sendrecv).
bp_hangup() { bp_cmd "$1" hangup >/dev/null; }
bp_hold() { bp_cmd "$1" hold >/dev/null; }
bp_resume() { bp_cmd "$1" resume >/dev/null; }

# bp_recording NAME: the decoder-side dump (what the phone heard) of its
# latest call, as its log names it.
bp_recording() {
  local f
  f=$(sed -n 's/^sndfile: dumping decode audio to //p' "$(bp_log "$1")" 2>/dev/null | tail -n 1)
  f=${f%$'\r'}
  [[ -n $f && -f $f ]] || return 1
  printf '%s\n' "$f"
}
