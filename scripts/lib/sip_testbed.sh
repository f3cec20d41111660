# shellcheck shell=bash
# rtplatch SIP testbed in network namespaces (sourced library).
#
# Builds on scripts/lib/netns.sh (topology, PIDs, cleanup) and
# scripts/lib/dataplane_ctl.sh (ctl, jget, jfile): the relay host runs the
# dataplane (net_af_packet on the relay veth, net_tap exception port holding
# 203.0.113.10 and 2001:db8::10) and rtplatch-control on that tap; phones
# are namespaces on the "internet" bridge or behind Linux NATs, driven by
# sipp scenarios whose messages are traced for header checks.
#
#   source scripts/lib/sip_testbed.sh
#   st_init sp$$                          # rl_init + paths; traps set
#   st_add_user alice 'secret-a'          # before st_start_relay (or restart)
#   st_start_relay                        # inet + relay ns, dataplane, control
#   st_add_public_phone pub pb 203.0.113.20/24 2001:db8::20/64
#   st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24
#   st_sipp lan reg_alice "$DIR/register.xml" 192.0.2.2:5060 \
#       "$ST_RELAY_IP:$ST_SIP_PORT" -au alice -ap secret-a -key user alice
#   msg=$(st_msg reg_alice received '^SIP/2.0 200 ')
#   st_hdr "$msg" Contact
#   cctl registrations                    # control plane operator socket
#   dctl streams                          # dataplane socket
#   st_restart_control                    # kill -9 + start (same database)
#   st_kill_dataplane; st_start_dataplane # kill -9 + start (new tap)
#   st_node relay2; st_start_relay        # a second relay node (203.0.113.11)
#   st_node relay                         # back to the first: every st_*,
#                                         # dctl and cctl acts on the current
#
# Everything runs as root. Processes are started with rl_spawn (PIDs
# recorded, killed at exit newest first) and stopped only by PID. The
# per-run directory $RL_TMP holds every config, log, database and trace
# (kept with RL_KEEP_LOGS=1).
#
# Files in $RL_TMP:
#   dataplane.json dataplane.log dataplane.sock     (DP_CONFIG DP_LOG DP_SOCK)
#   control.json control.log control.sock           (CTL_CONFIG CTL_LOG CTL_SOCK)
#   users (ST_USERS_FILE, docs/users-file.md)  bindings.sqlite (ST_DB)
#   sipp/NAME.{msg,err,out}                         one sipp run each
#
# Environment (read when the library is sourced):
#   RTPLATCH_DATAPLANE  dataplane binary (build/dataplane/rtplatch-dataplane)
#   RTPLATCH_CONTROL    control plane binary (build/control/rtplatch-control)
#   RTPLATCHCTL         CLI (build/control/rtplatchctl)
#   RTPLATCH_LCORES     EAL -l list of the dataplane (default 0-1)
#   ST_DOMAIN           SIP domain / digest realm (default example.test)
#   ST_PORT_MIN/MAX     dataplane relay port range (default 30000..30999)
#   ST_IDLE_TIMEOUT_S   dataplane idle event timeout (default 60)
#   ST_REGISTRAR_JSON   the control config's "registrar" object
#                       (default {"min_expires": 10})
#   ST_SIP_LISTEN_JSON  the control config's "sip_listen" (default the relay's
#                       two addresses, port 5060)
#   ST_CONTROL_EXTRA    extra members for the control config, JSON text
#                       without braces, e.g. '"keepalive_payload": "zero4"'
#   ST_AUTHENTICATE     true|false (default true)
#   ST_SIPP_TIMEOUT_S   default wall-clock limit of one sipp run (20)
#   ST_CAPTURE          1: st_start_relay records the relay's tap and veth
#                       (UDP) in $RL_TMP/relay_{tap,veth}.pcap (with
#                       RL_KEEP_LOGS=1 to keep them)
#   ST_COPY_BINARIES    1 (default): st_init runs private copies of the
#                       three binaries from $RL_TMP/bin (a concurrent
#                       rebuild cannot break the run); 0: run them in place

[[ -n ${_ST_SIP_TESTBED_SH_LOADED:-} ]] && return 0
_ST_SIP_TESTBED_SH_LOADED=1

_ST_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/netns.sh
source "$_ST_LIB_DIR/netns.sh"
# shellcheck source=scripts/lib/dataplane_ctl.sh
source "$_ST_LIB_DIR/dataplane_ctl.sh"
# shellcheck source=scripts/lib/dataplane.sh
source "$_ST_LIB_DIR/dataplane.sh"

ST_ROOT="$(cd "$_ST_LIB_DIR/../.." && pwd)"
ST_SCENARIOS="$ST_ROOT/tests/integration/sipp"
ST_DATAPLANE="${RTPLATCH_DATAPLANE:-$ST_ROOT/build/dataplane/rtplatch-dataplane}"
ST_CONTROL="${RTPLATCH_CONTROL:-$ST_ROOT/build/control/rtplatch-control}"
ST_CTL="${RTPLATCHCTL:-$ST_ROOT/build/control/rtplatchctl}"
ST_LCORES="${RTPLATCH_LCORES:-0-1}"

ST_DOMAIN="${ST_DOMAIN:-example.test}"
ST_RELAY_IP=203.0.113.10
ST_RELAY_IP6=2001:db8::10
ST_SIP_PORT=5060
ST_PORT_MIN="${ST_PORT_MIN:-30000}"
ST_PORT_MAX="${ST_PORT_MAX:-30999}"
ST_IDLE_TIMEOUT_S="${ST_IDLE_TIMEOUT_S:-60}"
[[ -n ${ST_REGISTRAR_JSON:-} ]] || ST_REGISTRAR_JSON='{"min_expires": 10}'
ST_CONTROL_EXTRA="${ST_CONTROL_EXTRA:-}"
ST_AUTHENTICATE="${ST_AUTHENTICATE:-true}"
ST_SIPP_TIMEOUT_S="${ST_SIPP_TIMEOUT_S:-20}"
# The control plane's inside prefixes: the defaults plus the test LANs.
ST_INSIDE_PREFIXES='"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "169.254.0.0/16", "fc00::/7", "fe80::/10", "192.0.2.0/24"'

# Set by the functions below.
DP_PID=""; DP_SOCK=""; DP_LOG=""; DP_CONFIG=""
CTL_PID=""; CTL_SOCK=""; CTL_LOG=""; CTL_CONFIG=""
ST_USERS_FILE=""; ST_DB=""; ST_SIPP_DIR=""; ST_SIPP_PID=""; ST_CAPTURE_PID=""
ST_MSGTOOL=""

# --- relay nodes ------------------------------------------------------------

# What one relay node is: its namespace, interfaces, addresses, processes
# and files. st_node saves and restores them as a set.
_ST_NODE_VARS=(RL_RELAY_ROLE RL_RELAY_TAG RL_RELAY_VETH RL_RELAY_TAP RL_RELAY_V4 RL_RELAY_V6
  ST_RELAY_IP ST_RELAY_IP6 DP_PID DP_SOCK DP_LOG DP_CONFIG CTL_PID CTL_SOCK CTL_LOG CTL_CONFIG ST_DB)
declare -A _ST_NODES=()
ST_NODE=relay

# st_node NAME: the relay node the st_* functions, dctl and cctl act on
# from now on: relay (the first, 203.0.113.10 and 2001:db8::10, the
# default) or relayN for N in 2..9 (203.0.113.(9+N), 2001:db8::(9+N),
# files with the suffix N). A new node exists once st_start_relay ran for
# it; cleanup stops every node's processes.
st_node() {
  local name="$1" v n
  [[ $name == "$ST_NODE" ]] && return 0
  [[ $name =~ ^relay([2-9]?)$ ]] || rl_die "st_node: '$name' is not relay or relay2..relay9"
  for v in "${_ST_NODE_VARS[@]}"; do _ST_NODES["$ST_NODE $v"]=${!v}; done
  ST_NODE=$name
  if [[ -n ${_ST_NODES["$name RL_RELAY_ROLE"]+set} ]]; then
    for v in "${_ST_NODE_VARS[@]}"; do printf -v "$v" '%s' "${_ST_NODES["$name $v"]}"; done
    return 0
  fi
  n=${BASH_REMATCH[1]}
  RL_RELAY_ROLE=$name; RL_RELAY_TAG="rv$n"
  RL_RELAY_VETH="$(rl_ifname "$RL_RELAY_TAG")"; RL_RELAY_TAP="$(rl_ifname "tap$n")"
  ST_RELAY_IP="203.0.113.$(( 9 + n ))"; ST_RELAY_IP6="2001:db8::$(( 9 + n ))"
  RL_RELAY_V4="$ST_RELAY_IP/24"; RL_RELAY_V6="$ST_RELAY_IP6/64"
  DP_PID=""; CTL_PID=""
  DP_SOCK="$RL_TMP/dataplane$n.sock"; DP_LOG="$RL_TMP/dataplane$n.log"
  DP_CONFIG="$RL_TMP/dataplane$n.json"
  CTL_SOCK="$RL_TMP/control$n.sock"; CTL_LOG="$RL_TMP/control$n.log"
  CTL_CONFIG="$RL_TMP/control$n.json"; ST_DB="$RL_TMP/bindings$n.sqlite"
}

# --- setup ----------------------------------------------------------------

# st_missing: prints what is missing to run the testbed (not root, a
# binary not built, sipp/tcpdump/numpy/tools absent) and returns 1; returns 0 if nothing.
# Callers exit 77 (skip) on failure.
st_missing() {
  local tool
  if [[ $(id -u) -ne 0 ]]; then echo "needs root (network namespaces)"; return 1; fi
  for tool in ip iptables ip6tables ethtool python3 sysctl sipp timeout tcpdump; do
    command -v "$tool" >/dev/null 2>&1 || { echo "'$tool' not found"; return 1; }
  done
  # tone.py (the audio checks) runs on Debian's python3 with numpy.
  /usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "python3-numpy not installed"; return 1; }
  for tool in "$ST_DATAPLANE" "$ST_CONTROL" "$ST_CTL"; do
    [[ -x $tool ]] || { echo "$tool not built"; return 1; }
  done
  return 0
}

# st_init [PREFIX]: rl_init (per-run prefix, tmp dir, EXIT/INT/TERM
# cleanup), file paths, an empty users file, the message parser.
st_init() {
  rl_init "${1:-${RL_PREFIX:-st$$}}"
  DP_SOCK="$RL_TMP/dataplane.sock"; DP_LOG="$RL_TMP/dataplane.log"
  DP_CONFIG="$RL_TMP/dataplane.json"
  CTL_SOCK="$RL_TMP/control.sock"; CTL_LOG="$RL_TMP/control.log"
  CTL_CONFIG="$RL_TMP/control.json"
  ST_USERS_FILE="$RL_TMP/users"; ST_DB="$RL_TMP/bindings.sqlite"
  ST_SIPP_DIR="$RL_TMP/sipp"
  mkdir -p "$ST_SIPP_DIR"
  ( umask 077; printf '# sip_testbed users, realm %s\n' "$ST_DOMAIN" >"$ST_USERS_FILE" )
  _st_write_msgtool
  rl_on_cleanup _st_on_cleanup
  # A private copy of the binaries: a rebuild during the run (others share
  # the build tree) must not swap or half-write what this run executes.
  if [[ ${ST_COPY_BINARIES:-1} == 1 ]]; then
    local b dst
    mkdir -p "$RL_TMP/bin"
    for b in ST_DATAPLANE ST_CONTROL ST_CTL; do
      dst="$RL_TMP/bin/$(basename "${!b}")"
      cp "${!b}" "$dst" 2>/dev/null || { sleep 1; cp "${!b}" "$dst"; } || rl_die "cannot copy ${!b}"
      printf -v "$b" '%s' "$dst"
    done
  fi
}

# Log tails after a failed run (RL_FAILED > 0) help most.
_st_on_cleanup() {
  (( RL_FAILED > 0 )) || return 0
  local f
  for f in "$DP_LOG" "$CTL_LOG"; do
    [[ -n $f && -s $f ]] || continue
    echo "--- last lines of $(basename "$f") ---"
    tail -n 25 "$f" | sed 's/^/    | /'
  done
  return 0
}

# st_add_user USER PASSWORD [md5|sha256|password]: one users-file line for
# USER@$ST_DOMAIN. md5/sha256 store the HA1 (the registrar then offers only
# that algorithm, which is what sipp needs: it digests MD5 only); password
# stores the password itself (both algorithms offered). Default md5. The
# file is read when the control plane starts.
st_add_user() {
  local user="$1" pw="$2" form="${3:-md5}" ha1
  case "$form" in
    md5) ha1=$(printf '%s' "$user:${ST_DOMAIN,,}:$pw" | md5sum | cut -d' ' -f1)
         printf '%s@%s:md5:%s\n' "$user" "$ST_DOMAIN" "$ha1" >>"$ST_USERS_FILE" ;;
    sha256) ha1=$(printf '%s' "$user:${ST_DOMAIN,,}:$pw" | sha256sum | cut -d' ' -f1)
         printf '%s@%s:sha256:%s\n' "$user" "$ST_DOMAIN" "$ha1" >>"$ST_USERS_FILE" ;;
    password) printf '%s@%s:plain:%s\n' "$user" "$ST_DOMAIN" "$pw" >>"$ST_USERS_FILE" ;;
    *) rl_die "st_add_user: unknown form '$form'" ;;
  esac
}

# st_start_relay: the "internet" bridge, the relay namespace, the dataplane
# and the control plane. Returns 1 (with the log tail on stderr) if either
# process does not come up.
st_start_relay() {
  rl_build_inet
  rl_add_relay
  st_start_dataplane || return 1
  if [[ ${ST_CAPTURE:-0} == 1 ]]; then
    st_capture "$RL_RELAY_ROLE" "$RL_RELAY_TAP" "${RL_RELAY_ROLE}_tap" udp
    st_capture "$RL_RELAY_ROLE" "$RL_RELAY_VETH" "${RL_RELAY_ROLE}_veth" udp
  fi
  st_start_control || return 1
}

# st_add_public_phone ROLE TAG V4/LEN [V6/LEN]: a phone (or any host) on
# the internet segment, no NAT. TAG: at most 4 characters.
st_add_public_phone() { rl_add_host "$@"; }

# st_add_nat_phone NAT_ROLE LAN_ROLE OUTSIDE/LEN INSIDE/LEN PHONE/LEN
#                  [VARIANT] [UDP_TIMEOUT_S]
# A phone in LAN_ROLE behind a Linux NAT (rl_add_nat_lan: plain MASQUERADE,
# random-fully, sip-alg).
st_add_nat_phone() { rl_add_nat_lan "$@"; }

# --- the dataplane ----------------------------------------------------------

# ST_DP_SET (an array of KEY=JSON, optional): more dataplane config, e.g.
# standby_addresses.
st_write_dataplane_config() {
  dp_write_config "$DP_CONFIG" "$DP_SOCK" "$ST_PORT_MIN" "$ST_PORT_MAX" \
    "$ST_RELAY_IP" "$ST_RELAY_IP6" -- "idle_timeout_s=$ST_IDLE_TIMEOUT_S" \
    ${ST_DP_SET[@]+"${ST_DP_SET[@]}"}
}

# st_start_dataplane: writes the config, starts the dataplane in the relay
# namespace (port 0 af_packet on the relay veth, port 1 the tap), waits for
# the tap (then puts the relay addresses on it) and the control socket.
# Sets DP_PID.
st_start_dataplane() {
  st_write_dataplane_config
  rm -f "$DP_SOCK"
  dp_testbed_eal "dp${ST_NODE#relay}" "$ST_LCORES"
  # Two dataplanes polling the same cores (another test running at the
  # same time) delay each other's exception path by up to seconds.
  local others
  others=$(pgrep -c -x rtplatch-datapl 2>/dev/null || true)
  (( ${others:-0} > 0 )) && rl_log "warning: $others other rtplatch-dataplane process(es) running;" \
    "they share lcores $ST_LCORES with this one: expect SIP latency spikes"
  # One log across restarts: each start appends.
  echo "=== start $(date +%T.%N)" >>"$DP_LOG"
  ip netns exec "$(rl_ns "$RL_RELAY_ROLE")" "$ST_DATAPLANE" "${DP_EAL[@]}" \
    -- --config "$DP_CONFIG" </dev/null >>"$DP_LOG" 2>&1 &
  DP_PID=$!
  RL_PIDS+=("$DP_PID")
  if ! rl_relay_wait_tap 60 "$DP_PID"; then
    rl_log "dataplane did not create $RL_RELAY_TAP"; tail -n 30 "$DP_LOG" >&2
    return 1
  fi
  if ! rl_wait_for 20 test -S "$DP_SOCK"; then
    rl_log "dataplane control socket $DP_SOCK did not appear"; tail -n 30 "$DP_LOG" >&2
    return 1
  fi
  rl_log "dataplane pid $DP_PID up ($ST_RELAY_IP, $ST_RELAY_IP6, ports $ST_PORT_MIN-$ST_PORT_MAX)"
}

# st_kill_dataplane [SIGNAL]: kill the dataplane (default SIGKILL) by PID,
# wait until it and its tap are gone, and flush the neighbour caches (the
# next tap has a new MAC).
st_kill_dataplane() {
  local sig="${1:-KILL}" ns
  [[ -n $DP_PID ]] || return 0
  kill -"$sig" "$DP_PID" 2>/dev/null
  rl_wait "$DP_PID" 15 >/dev/null 2>&1 || true
  DP_PID=""
  rl_wait_for 10 bash -c "! ip -n $(rl_ns "$RL_RELAY_ROLE") link show $RL_RELAY_TAP" \
    || rl_log "warning: $RL_RELAY_TAP still present after the dataplane exited"
  for ns in "${RL_NAMESPACES[@]}"; do ip -n "$ns" neigh flush all >/dev/null 2>&1 || true; done
}

# st_capture ROLE IFNAME NAME [FILTER...]: tcpdump on IFNAME inside ROLE
# into $RL_TMP/NAME.pcap until cleanup (or rl_kill $ST_CAPTURE_PID).
# st_start_relay captures the relay's tap and veth when ST_CAPTURE=1.
st_capture() {
  local role="$1" ifname="$2" name="$3"; shift 3
  command -v tcpdump >/dev/null || { rl_log "st_capture: no tcpdump"; return 1; }
  rl_spawn "$role" "$RL_TMP/$name.tcpdump.log" tcpdump -i "$ifname" -n -s 0 -U \
    -w "$RL_TMP/$name.pcap" "$@"
  # shellcheck disable=SC2034  # for callers
  ST_CAPTURE_PID=$RL_LAST_PID
  rl_wait_for 5 grep -q listening "$RL_TMP/$name.tcpdump.log"
}

# --- tones: audio a test can hear ------------------------------------------

ST_TONE_TOOL="$ST_ROOT/tests/integration/tone.py"

# st_tone_pcap FREQ: prints the path of a 3 s pcap of a FREQ Hz tone as
# PCMA RTP (tests/integration/tone.py), made once per run.
st_tone_pcap() {
  local f="$RL_TMP/tones/tone-$1.pcap"
  if [[ ! -s $f ]]; then
    mkdir -p "$RL_TMP/tones"
    "$ST_TONE_TOOL" pcap --freq "$1" --seconds 3 --out "$f" || rl_die "cannot write $f"
  fi
  printf '%s\n' "$f"
}

# st_tone_scenario SCENARIO FREQ: prints the path of a copy of the sipp
# SCENARIO whose play_pcap_audio file (@TONE@) is a FREQ Hz tone.
st_tone_scenario() {
  local out pcap
  out="$RL_TMP/tones/$(basename "$1" .xml)-$2.xml"
  if [[ ! -s $out ]]; then
    pcap=$(st_tone_pcap "$2") || return 1
    sed "s|@TONE@|$pcap|g" "$1" >"$out" || rl_die "cannot write $out"
  fi
  printf '%s\n' "$out"
}

# st_capture_media ROLE NAME ADDRESS: records the UDP datagrams to
# ADDRESS inside ROLE, SIP (port 5060) excepted, into $RL_TMP/NAME.pcap
# (the audio that phone receives); sets ST_CAPTURE_PID. Stop it with
# rl_kill before reading the file.
st_capture_media() {
  st_capture "$1" any "$2" udp and dst host "$3" and not port "$ST_SIP_PORT"
}

# st_heard NAME FREQ: prints tone.py's verdict on the capture NAME (the
# RTP in it, as G.711) and returns 0 if it carries a FREQ Hz tone.
st_heard() {
  "$ST_TONE_TOOL" check-pcap "$RL_TMP/$1.pcap" --freq "$2" 2>&1
}

# dctl ARGS...: rtplatchctl on the dataplane socket, JSON result.
dctl() { "$ST_CTL" --socket "$DP_SOCK" --json "$@"; }

# --- the control plane ------------------------------------------------------

st_write_control_config() {
  local sip_listen="[\"$ST_RELAY_IP:$ST_SIP_PORT\", \"[$ST_RELAY_IP6]:$ST_SIP_PORT\"]"
  [[ -n ${ST_SIP_LISTEN_JSON:-} ]] && sip_listen=$ST_SIP_LISTEN_JSON
  cat >"$CTL_CONFIG" <<EOF
{
  "sip_listen": $sip_listen,
  "inside_prefixes": [$ST_INSIDE_PREFIXES],
  "dataplane_socket": "$DP_SOCK",
  "control_socket": "$CTL_SOCK",
  "domain": "$ST_DOMAIN",
  "users_file": "$ST_USERS_FILE",
  "database": "$ST_DB",
  "authenticate": $ST_AUTHENTICATE,
  "registrar": $ST_REGISTRAR_JSON${ST_CONTROL_EXTRA:+,
  $ST_CONTROL_EXTRA}
}
EOF
}

# st_start_control [WAIT_DATAPLANE(1|0)]: writes the config, starts
# rtplatch-control in the relay namespace (log appended to $CTL_LOG), waits
# until it listens and its operator socket answers, and (default) until it
# reports the dataplane connected. Sets CTL_PID.
st_start_control() {
  local want_dp="${1:-1}" mark
  st_write_control_config
  rm -f "$CTL_SOCK"
  mark=0
  [[ -f $CTL_LOG ]] && mark=$(wc -l <"$CTL_LOG")
  echo "=== start $(date +%T.%N)" >>"$CTL_LOG"
  ip netns exec "$(rl_ns "$RL_RELAY_ROLE")" "$ST_CONTROL" --config "$CTL_CONFIG" </dev/null >>"$CTL_LOG" 2>&1 &
  CTL_PID=$!
  RL_PIDS+=("$CTL_PID")
  if ! rl_wait_for 15 bash -c "tail -n +$((mark + 1)) '$CTL_LOG' | grep -q 'rtplatch-control: listening on'"; then
    rl_log "rtplatch-control did not start"; tail -n 20 "$CTL_LOG" >&2
    return 1
  fi
  kill -0 "$CTL_PID" 2>/dev/null || { rl_log "rtplatch-control exited"; return 1; }
  if ! rl_wait_for 10 cctl sip-stats; then
    rl_log "control socket $CTL_SOCK does not answer"; return 1
  fi
  if [[ $want_dp == 1 ]] && ! rl_wait_for 15 _st_dataplane_connected; then
    rl_log "rtplatch-control did not connect to the dataplane"; return 1
  fi
  rl_log "rtplatch-control pid $CTL_PID up on $ST_RELAY_IP:$ST_SIP_PORT, [$ST_RELAY_IP6]:$ST_SIP_PORT"
}

_st_dataplane_connected() {
  [[ $(jget "$(cctl sip-stats 2>/dev/null)" "d['dataplane_connected']" 2>/dev/null) == True ]]
}

# st_kill_control: SIGKILL the control plane by PID (a crash: no clean
# shutdown, the database is left as the last commit made it).
st_kill_control() {
  [[ -n $CTL_PID ]] || return 0
  kill -KILL "$CTL_PID" 2>/dev/null
  rl_wait "$CTL_PID" 10 >/dev/null 2>&1 || true
  CTL_PID=""
}

# st_stop_control: SIGTERM and wait; returns its exit status.
st_stop_control() {
  local rc
  [[ -n $CTL_PID ]] || return 0
  kill -TERM "$CTL_PID" 2>/dev/null
  rl_wait "$CTL_PID" 10; rc=$?
  CTL_PID=""
  return "$rc"
}

# st_restart_control: kill -9 and start again (same config and database).
st_restart_control() { st_kill_control; st_start_control "$@"; }

# cctl ARGS...: rtplatchctl on the control plane's operator socket.
cctl() { "$ST_CTL" --control-socket "$CTL_SOCK" --json "$@"; }

# --- sipp -------------------------------------------------------------------

# st_sipp ROLE NAME SCENARIO LOCAL_IP:PORT REMOTE [SIPP_ARGS...]
# Runs one sipp call (-m 1) in namespace ROLE, in the foreground, bounded
# by $ST_SIPP_TIMEOUT_S (override: ST_SIPP_TIMEOUT_S=N st_sipp ...).
# REMOTE: host:port of the first hop ([v6]:port), "-" for a UAS that only
# answers. Every message sent and received goes to $ST_SIPP_DIR/NAME.msg
# (read with st_msg), errors to NAME.err, the screen to NAME.out.
# Predefined keywords for scenarios: [domain], [relay_ip], [relay_port];
# add more with -key NAME VALUE. Digest: -au USER -ap PASSWORD (the digest
# uri is sip:$ST_DOMAIN, what rtplatch expects for a REGISTER to the
# domain; pass -auth_uri to change it). Returns sipp's exit status (0: the
# call succeeded, 1: it failed, 124: killed on timeout).
st_sipp() {
  _st_sipp_argv "$@" || return 2
  local rc
  timeout -k 2 "$((ST_SIPP_TIMEOUT_S + 5))" ip netns exec "$(rl_ns "$1")" \
    "${_ST_SIPP_ARGV[@]}" </dev/null >"$ST_SIPP_DIR/$2.out" 2>&1
  rc=$?
  [[ $rc -ne 0 ]] && rl_log "sipp $2 exited $rc (see $ST_SIPP_DIR/$2.{out,err,msg})"
  return "$rc"
}

# st_sipp_bg ROLE NAME SCENARIO LOCAL REMOTE [SIPP_ARGS...]: the same in
# the background (rl_spawn); sets ST_SIPP_PID. Collect it with
# st_sipp_wait. Use it for the callee (UAS) of a call, started before the
# caller; st_sipp_ready NAME waits until it has bound its socket.
st_sipp_bg() {
  _st_sipp_argv "$@" || return 2
  rl_spawn "$1" "$ST_SIPP_DIR/$2.out" timeout -k 2 "$((ST_SIPP_TIMEOUT_S + 5))" \
    "${_ST_SIPP_ARGV[@]}"
  # shellcheck disable=SC2034  # for callers
  ST_SIPP_PID=$RL_LAST_PID
}

# st_sipp_wait PID [TIMEOUT_S]: wait for a background sipp; its exit status.
st_sipp_wait() { rl_wait "$1" "${2:-$((ST_SIPP_TIMEOUT_S + 10))}"; }

# st_sipp_ready ROLE PORT [TIMEOUT_S]: wait until a UDP socket is bound on
# PORT inside ROLE (sipp takes a moment to start).
st_sipp_ready() {
  rl_wait_for "${3:-10}" bash -c \
    "ip netns exec $(rl_ns "$1") ss -Huln 'sport = :$2' | grep -q ."
}

_st_sipp_argv() {
  local role="$1" name="$2" sf="$3" local_ep="$4" remote="$5" ip port
  shift 5
  [[ -f $sf ]] || { rl_log "st_sipp: no scenario $sf"; return 1; }
  if [[ $local_ep == \[* ]]; then ip="${local_ep%]:*}"; ip="${ip#[}"; port="${local_ep##*]:}"
  else ip="${local_ep%:*}"; port="${local_ep##*:}"; fi
  rm -f "$ST_SIPP_DIR/$name".{msg,err,out}
  _ST_SIPP_ARGV=(sipp -sf "$sf" -i "$ip" -p "$port" -t u1 -m 1 -l 1 -nostdin
    -timeout "${ST_SIPP_TIMEOUT_S}s" -timeout_error -max_retrans 4
    -trace_msg -message_file "$ST_SIPP_DIR/$name.msg"
    -trace_err -error_file "$ST_SIPP_DIR/$name.err"
    -key domain "$ST_DOMAIN" -key relay_ip "$ST_RELAY_IP" -key relay_port "$ST_SIP_PORT"
    "$@")
  [[ " $* " == *" -auth_uri "* ]] || _ST_SIPP_ARGV+=(-auth_uri "$ST_DOMAIN")
  [[ $remote != - ]] && _ST_SIPP_ARGV+=("$remote")
  return 0
}

# --- the shape every SIP integration test shares ---------------------------

# st_main SUITE SCRIPT [ARGS...]: -h/--help prints SCRIPT's header comment
# and exits 0, any other argument is a usage error (exit 2), and a machine
# that cannot run the test skips it (exit 77, "SKIP SUITE: why").
st_main() {
  local suite="$1" script="$2" why; shift 2
  case "${1:-}" in
    "") ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$script"; exit 0 ;;
    *) echo "usage: $script" >&2; exit 2 ;;
  esac
  if ! why=$(st_missing); then echo "SKIP $suite: $why"; exit 77; fi
}

# st_register ROLE NAME LOCAL REMOTE USER PASSWORD [SIPP_ARGS...]: one
# REGISTER with digest (tests/integration/sipp/sip_proxy_register.xml,
# expires 600 unless -key expires is given); sipp's exit status.
st_register() {
  local role="$1" name="$2" local_ep="$3" remote="$4" user="$5" pw="$6"; shift 6
  st_sipp "$role" "$name" "$ST_SCENARIOS/sip_proxy_register.xml" "$local_ep" "$remote" \
    -key user "$user" -key expires 600 -au "$user" -ap "$pw" "$@"
}

# st_reg ROLE NAME LOCAL USER PASSWORD [SIPP_ARGS...]: st_register to the
# relay's IPv4 SIP address.
st_reg() { st_register "$1" "$2" "$3" "$ST_RELAY_IP:$ST_SIP_PORT" "$4" "$5" "${@:6}"; }

# st_streams_left: the dataplane's stream count ("?" if it cannot say);
# st_no_streams_left: it is 0 (a call's pairs were freed).
# st_learned USER...: every binding of each USER has its NAT timeout
# learned (keepalive_learning false; a user without bindings is not).
st_learned() {
  local u out
  for u in "$@"; do
    out=$(cctl registration "$u@$ST_DOMAIN" 2>/dev/null) || return 1
    [[ $(jget "$out" "len(d['bindings']) > 0 and not any(b['keepalive_learning'] for b in d['bindings'])" 2>/dev/null) == True ]] || return 1
  done
}
# st_wait_learned SECONDS USER...: waits for st_learned (a sipp phone, which
# answers no probe, is learned about 9 s after it registered).
st_wait_learned() {
  local t="$1"; shift
  rl_wait_for "$t" st_learned "$@" || rl_log "still learning after ${t} s: $*"
}
st_streams_left() { jget "$(dctl streams 2>/dev/null)" "len(d['streams'])" 2>/dev/null || echo "?"; }
st_no_streams_left() { [[ $(st_streams_left) == 0 ]]; }

# st_call NAME CALLER_ROLE CALLER_EP REMOTE CALLER CALLER_PW CALLEE_ROLE
#         CALLEE_EP CALLEE [KIND] [UAC_ARGS...]
# One call through the proxy: the callee's sipp (sip_proxy_uas_KIND.xml)
# in the background, then the caller's (sip_proxy_uac_KIND.xml), which
# authenticates (407) as CALLER. KIND: call (default), cancel, hold. Runs
# NAME_uas and NAME_uac; sets ST_UAC_RC and ST_UAS_RC; 0 if both succeeded.
st_call() {
  local name="$1" crole="$2" cep="$3" remote="$4" caller="$5" pw="$6"
  local erole="$7" eep="$8" callee="$9" kind="${10:-call}" uas
  shift $(( $# < 10 ? $# : 10 ))
  st_sipp_bg "$erole" "${name}_uas" "$ST_SCENARIOS/sip_proxy_uas_$kind.xml" "$eep" - \
    -key user "$callee" -mp 42000
  uas=$ST_SIPP_PID
  st_sipp_ready "$erole" "${eep##*:}" || rl_log "UAS ${name}_uas not bound"
  # The caller scenarios run [snap] at fixed points; "true" if not given.
  [[ " $* " == *" -key snap "* ]] || set -- "$@" -key snap true
  st_sipp "$crole" "${name}_uac" "$ST_SCENARIOS/sip_proxy_uac_$kind.xml" "$cep" "$remote" \
    -key user "$caller" -key callee "$callee" -au "$caller" -ap "$pw" \
    -auth_uri "$callee@$ST_DOMAIN" -mp 41000 "$@"
  ST_UAC_RC=$?
  st_sipp_wait "$uas"
  ST_UAS_RC=$?
  (( ST_UAC_RC == 0 && ST_UAS_RC == 0 ))
}

# --- reading traced messages ------------------------------------------------

# st_msg NAME DIR REGEX [N] [CSEQ]: prints the Nth (1-based; negative
# counts from the end; default 1) message in sipp run NAME's trace whose
# direction is DIR (sent | received | any), whose first line matches the
# Python regex REGEX and, if given, whose CSeq is CSEQ: a method ("INVITE")
# or number and method ("3 INVITE"). Retransmissions are separate
# messages: select by CSeq to be independent of them. Lines end in \n (CRs
# removed). Returns 1 if there is none.
st_msg() {
  python3 "$ST_MSGTOOL" get "$ST_SIPP_DIR/$1.msg" "$2" "$3" "${4:-1}" "${5:-}"
}

# st_msg_count NAME DIR REGEX [CSEQ]: how many such messages.
st_msg_count() {
  python3 "$ST_MSGTOOL" count "$ST_SIPP_DIR/$1.msg" "$2" "$3" 1 "${4:-}"
}

# st_hdr MESSAGE NAME: the values of header NAME (compact forms and case
# folded), one per line, in order. Returns 1 if there is none.
st_hdr() { python3 "$ST_MSGTOOL" hdr "$1" "$2"; }

# st_body MESSAGE: the message body.
st_body() { python3 "$ST_MSGTOOL" body "$1"; }

_st_write_msgtool() {
  ST_MSGTOOL="$RL_TMP/st_sipmsg.py"
  cat >"$ST_MSGTOOL" <<'PY'
"""Reads sipp -trace_msg files (sip_testbed.sh st_msg / st_hdr / st_body)."""
import re, signal, sys

# A reader that takes only the first line (st_hdr ... | head -1) closes the
# pipe early: end quietly as other command-line tools do.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)

COMPACT = {"v": "via", "f": "from", "t": "to", "m": "contact", "i": "call-id",
           "l": "content-length", "c": "content-type", "k": "supported",
           "s": "subject", "e": "content-encoding", "o": "event", "r": "refer-to"}
SEP = re.compile(r"^-{20,} ")
HEAD = re.compile(r"^(UDP|TCP|TLS|SCTP) message (sent|received)")


def messages(path):
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return []
    out, cur, direction = [], None, None
    for line in text.replace("\r", "").split("\n"):
        if SEP.match(line):
            if cur is not None:
                out.append((direction, "\n".join(cur).strip("\n")))
            cur, direction = None, None
            continue
        m = HEAD.match(line)
        if m and cur is None:
            direction, cur = m.group(2), []
            continue
        if cur is not None:
            cur.append(line)
    if cur is not None:
        out.append((direction, "\n".join(cur).strip("\n")))
    return [(d, t + "\n") for d, t in out if t.strip()]


def split(msg):
    head, _, body = msg.partition("\n\n")
    lines = head.split("\n")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif ":" in line:
            n, _, v = line.partition(":")
            n = n.strip().lower()
            headers.append((COMPACT.get(n, n), v.strip()))
    return lines[0], headers, body


def select(path, direction, regex, cseq):
    rx = re.compile(regex)
    for d, msg in messages(path):
        if direction != "any" and d != direction:
            continue
        first, headers, _ = split(msg)
        if not rx.search(first):
            continue
        if cseq:
            values = [" ".join(v.split()) for n, v in headers if n == "cseq" and v.split()]
            if not values:
                continue
            got = values[0].upper() if " " in cseq else values[0].split()[-1].upper()
            if got != " ".join(cseq.split()).upper():
                continue
        yield msg


def main():
    cmd = sys.argv[1]
    if cmd in ("get", "count"):
        path, direction, regex, n, cseq = sys.argv[2:7]
        found = list(select(path, direction, regex, cseq))
        if cmd == "count":
            print(len(found))
            return 0
        n = int(n)
        i = n - 1 if n > 0 else n
        if not found or not (-len(found) <= i < len(found)):
            return 1
        sys.stdout.write(found[i])
        return 0
    if cmd == "hdr":
        _, headers, _ = split(sys.argv[2])
        want = sys.argv[3].lower()
        want = COMPACT.get(want, want)
        vals = [v for n, v in headers if n == want]
        for v in vals:
            print(v)
        return 0 if vals else 1
    if cmd == "body":
        sys.stdout.write(split(sys.argv[2])[2])
        return 0
    return 2


sys.exit(main())
PY
}
