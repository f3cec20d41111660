# shellcheck shell=bash
# rtplatch test hosts in network namespaces (sourced library).
#
# Builds, on one machine and without a NIC, the topology of design.md
# "Test hosts": an "internet" bridge, the relay host (DPDK on a veth with no
# IP, exception path on a net_tap holding the relay IP), public peers, and
# phones behind Linux NAT hosts. Everything it creates carries a per-run
# prefix and is removed by an EXIT/INT/TERM trap, even on failure; it only
# ever kills the PIDs it started itself (and, as a last resort, processes
# left inside the per-run namespaces it created). It never touches an
# interface outside its own namespaces: every veth is created directly
# inside the namespaces it joins.
#
#   source scripts/lib/netns.sh
#   rl_init                       # prefix rl<pid>, trap, tmp dir
#   rl_build_inet                 # ns ${RL_P}inet with bridge ${RL_P}br
#   rl_add_relay                  # ns ${RL_P}relay, veth $RL_RELAY_VETH (no IP)
#   rl_spawn relay "$RL_TMP/dp.log" dpdk-app ... \
#       --vdev net_af_packet0,iface=$RL_RELAY_VETH --vdev net_tap0,iface=$RL_RELAY_TAP
#   rl_relay_wait_tap 30 "$pid"   # tap up with 203.0.113.10/24, 2001:db8::10/64
#   rl_add_host peer pr 203.0.113.20/24 2001:db8::20/64
#   rl_add_nat_lan nat lan 203.0.113.30/24 192.0.2.1/24 192.0.2.2/24 plain 0
#   rl_exec peer ping -c1 203.0.113.10
#
# Addresses: only documentation prefixes (192.0.2.0/24, 198.51.100.0/24,
# 203.0.113.0/24, 2001:db8::/32); rl_check_addr refuses anything else.
#
# Environment:
#   RL_PREFIX     per-run prefix (default rl<pid>; at most 10 characters so
#                 that interface names stay within 15)
#   RL_KEEP_LOGS  1 = keep the per-run tmp dir (logs) after exit
#   RL_VERBOSE    1 = log every command that changes the topology

[[ -n ${_RL_NETNS_SH_LOADED:-} ]] && return 0
_RL_NETNS_SH_LOADED=1

RL_P=""
RL_TMP=""
RL_NAMESPACES=()
RL_PIDS=()
RL_DPDK_PREFIXES=()
RL_CLEANUP_HOOKS=()
RL_CLEANED=0
RL_PASSED=0
RL_FAILED=0

# The relay host rl_add_relay / rl_relay_wait_tap / rl_relay_kernel_veth
# act on: its role, veth tag and addresses (sip_testbed.sh's st_node
# switches them to build a second relay node).
RL_RELAY_ROLE=relay
RL_RELAY_TAG=rv
RL_RELAY_V4=203.0.113.10/24
RL_RELAY_V6=2001:db8::10/64
RL_RELAY_VETH=""
RL_RELAY_TAP=""

rl_log() { printf '[netns %s] %s\n' "$(date +%T)" "$*" >&2; }
rl_die() { rl_log "ERROR: $*"; exit 1; }
rl_run() {
  [[ ${RL_VERBOSE:-0} == 1 ]] && rl_log "+ $*"
  "$@"
}

# --- naming ---------------------------------------------------------------

# rl_ns ROLE -> full namespace name (${RL_P}ROLE).
rl_ns() { printf '%s%s' "$RL_P" "$1"; }

# rl_ifname TAG -> interface name ${RL_P}TAG. The prefix has at most 10
# characters and every tag used here at most 4, so names fit IFNAMSIZ (15).
rl_ifname() { printf '%s' "${RL_P}$1"; }

# rl_exec ROLE CMD... : run CMD inside namespace ${RL_P}ROLE.
rl_exec() {
  local role="$1"; shift
  ip netns exec "$(rl_ns "$role")" "$@"
}

# --- life cycle -----------------------------------------------------------

# rl_init [PREFIX]: per-run prefix, tmp dir, traps. Call once, early.
rl_init() {
  RL_P="${1:-${RL_PREFIX:-rl$$}}"
  if [[ ! $RL_P =~ ^[a-z][a-z0-9]*$ ]] || (( ${#RL_P} > 10 )); then
    rl_die "bad prefix '$RL_P' (lowercase alnum, at most 10 characters)"
  fi
  RL_TMP="$(mktemp -d "/tmp/${RL_P}.XXXXXX")" || rl_die "mktemp failed"
  trap rl_cleanup EXIT
  trap 'rl_log "interrupted"; exit 130' INT
  trap 'rl_log "terminated"; exit 143' TERM
  RL_RELAY_VETH="$(rl_ifname "$RL_RELAY_TAG")"
  RL_RELAY_TAP="$(rl_ifname tap)"
}

# rl_on_cleanup FUNC: run FUNC (first, in registration order) at cleanup,
# while namespaces and processes still exist (e.g. dump logs, final stats).
rl_on_cleanup() { RL_CLEANUP_HOOKS+=("$1"); }

# rl_kill PID [GRACE_SECONDS]: TERM, wait, then KILL one PID we started.
rl_kill() {
  local pid="$1" grace="${2:-5}" i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for (( i = 0; i < grace * 10; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    rl_log "pid $pid ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

rl_cleanup() {
  local rc=$? hook pid ns p i
  (( RL_CLEANED )) && return "$rc"
  RL_CLEANED=1
  trap - INT TERM
  for hook in "${RL_CLEANUP_HOOKS[@]}"; do
    "$hook" || true
  done
  # Our own processes, newest first (DPDK apps get time to close their tap).
  for (( i = ${#RL_PIDS[@]} - 1; i >= 0; i-- )); do
    rl_kill "${RL_PIDS[i]}" 5
  done
  # Anything still inside our namespaces was started by us (a child of
  # something we ran); kill it by PID so the namespace can really go.
  for ns in "${RL_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      rl_log "killing leftover pid $pid in $ns"
      kill -KILL "$pid" 2>/dev/null
    done
  done
  for (( i = ${#RL_NAMESPACES[@]} - 1; i >= 0; i-- )); do
    ip netns del "${RL_NAMESPACES[i]}" 2>/dev/null \
      || rl_log "could not delete netns ${RL_NAMESPACES[i]}"
  done
  for p in "${RL_DPDK_PREFIXES[@]}"; do
    [[ -n $p && $p == "$RL_P"* ]] && rm -rf "/var/run/dpdk/$p"
  done
  if [[ -n $RL_TMP && -d $RL_TMP ]]; then
    if [[ ${RL_KEEP_LOGS:-0} == 1 ]]; then
      rl_log "logs kept in $RL_TMP"
    else
      rm -rf "$RL_TMP"
    fi
  fi
  return "$rc"
}

# rl_spawn ROLE LOGFILE CMD...: start CMD in the background inside
# ${RL_P}ROLE (ROLE "-" = current namespace), stdout+stderr to LOGFILE,
# stdin from /dev/null. Sets RL_LAST_PID and records the PID for cleanup.
rl_spawn() {
  local role="$1" log="$2"; shift 2
  if [[ $role == - ]]; then
    "$@" </dev/null >"$log" 2>&1 &
  else
    # ip netns exec execs the command: $! is the command's own PID.
    ip netns exec "$(rl_ns "$role")" "$@" </dev/null >"$log" 2>&1 &
  fi
  RL_LAST_PID=$!
  RL_PIDS+=("$RL_LAST_PID")
}

# rl_wait PID [TIMEOUT_S]: wait for a PID from rl_spawn to exit (killing
# it after TIMEOUT_S, default 60) and forget it. Returns its exit status.
rl_wait() {
  local pid="$1" timeout="${2:-60}" i rc=0 keep=() p
  for (( i = 0; i < timeout * 10; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    rl_log "pid $pid still running after ${timeout}s; killing it"
    rl_kill "$pid" 2
    rc=124
  else
    wait "$pid" 2>/dev/null; rc=$?
  fi
  for p in "${RL_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  RL_PIDS=("${keep[@]}")
  return "$rc"
}

# rl_dpdk_prefix NAME: sets RL_DPDK_PREFIX to a per-run EAL --file-prefix
# (${RL_P}NAME) whose /var/run/dpdk directory is removed at cleanup.
# (Not printed: a $(...) subshell would lose the bookkeeping.)
RL_DPDK_PREFIX=""
rl_dpdk_prefix() {
  RL_DPDK_PREFIX="${RL_P}$1"
  RL_DPDK_PREFIXES+=("$RL_DPDK_PREFIX")
}

# rl_wait_for TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds.
rl_wait_for() {
  local timeout="$1" i; shift
  for (( i = 0; i < timeout * 10; i++ )); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# --- checks and results ---------------------------------------------------

# rl_pass, rl_fail, rl_skip, rl_check, rl_summary
# shellcheck source=scripts/lib/verdicts.sh
source "$(dirname "${BASH_SOURCE[0]}")/verdicts.sh"

# rl_check_addr ADDR[/LEN]: only documentation prefixes are allowed.
rl_check_addr() {
  local a="${1%/*}"
  case "$a" in
    192.0.2.*|198.51.100.*|203.0.113.*) return 0 ;;
    2001:db8:*|2001:DB8:*) return 0 ;;
  esac
  rl_die "address $1 is not in a documentation prefix"
}

# --- building blocks ------------------------------------------------------

# rl_ns_add ROLE: create ${RL_P}ROLE with lo up and IPv6 DAD off.
rl_ns_add() {
  local ns; ns="$(rl_ns "$1")"
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    rl_die "namespace $ns already exists"
  fi
  rl_run ip netns add "$ns" || rl_die "ip netns add $ns failed"
  RL_NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  # New interfaces (including a tap created later by DPDK) inherit
  # "default": no DAD, so v6 addresses are usable at once.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0 \
    >/dev/null 2>&1 || true
}

# rl_if_nocsum ROLE IFNAME: no checksum offload on a veth, so frames that
# DPDK reads with af_packet carry complete UDP/TCP checksums (with offload
# a locally sent frame holds only a partial checksum on the wire of a veth).
rl_if_nocsum() {
  ip netns exec "$(rl_ns "$1")" ethtool -K "$2" tx off rx off >/dev/null 2>&1 \
    || rl_log "warning: could not disable checksum offload on $1/$2"
}

# rl_veth ROLE_A IF_A ROLE_B IF_B: a veth pair created directly in the two
# namespaces (never in the caller's namespace).
rl_veth() {
  local na nb; na="$(rl_ns "$1")"; nb="$(rl_ns "$3")"
  rl_run ip -n "$na" link add "$2" type veth peer name "$4" netns "$nb" \
    || rl_die "veth $1/$2 <-> $3/$4 failed"
  rl_if_nocsum "$1" "$2"
  rl_if_nocsum "$3" "$4"
}

# rl_build_inet: namespace ${RL_P}inet holding bridge ${RL_P}br, the
# "internet" segment (203.0.113.0/24, 2001:db8::/64). The bridge itself
# has no address; it only switches.
RL_BRIDGE=""
rl_build_inet() {
  local ns; ns="$(rl_ns inet)"
  [[ -n ${RL_BRIDGE:-} ]] && return 0   # built already (a second relay node)
  RL_BRIDGE="$(rl_ifname br)"
  rl_ns_add inet
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null
  rl_run ip -n "$ns" link add "$RL_BRIDGE" type bridge stp_state 0 \
    forward_delay 0 mcast_snooping 0 || rl_die "bridge failed"
  ip -n "$ns" link set "$RL_BRIDGE" up
}

# rl_attach ROLE TAG: (TAG: at most 4 characters) veth between ${RL_P}ROLE (name ${RL_P}TAG) and the
# bridge (port name ${RL_P}bTAG).
rl_attach() {
  local role="$1" tag="$2" inner port
  inner="${RL_P}$tag"; port="${RL_P}b$tag"
  [[ -n $RL_BRIDGE ]] || rl_die "rl_build_inet first"
  (( ${#tag} <= 4 )) || rl_die "interface tag '$tag' longer than 4 characters"
  rl_veth "$role" "$inner" inet "$port"
  ip -n "$(rl_ns inet)" link set "$port" master "$RL_BRIDGE" \
    || rl_die "enslaving $port failed"
  ip -n "$(rl_ns inet)" link set "$port" up
}

# rl_addr ROLE IFNAME ADDR/LEN...: add addresses (v6 with nodad), link up.
rl_addr() {
  local role="$1" ifname="$2" a ns; shift 2
  ns="$(rl_ns "$role")"
  for a in "$@"; do
    [[ -n $a ]] || continue
    rl_check_addr "$a"
    if [[ $a == *:* ]]; then
      rl_run ip -n "$ns" -6 addr add "$a" dev "$ifname" nodad \
        || rl_die "addr $a on $role/$ifname failed"
    else
      rl_run ip -n "$ns" addr add "$a" dev "$ifname" \
        || rl_die "addr $a on $role/$ifname failed"
    fi
  done
  ip -n "$ns" link set "$ifname" up
}

# rl_add_host ROLE TAG V4/LEN [V6/LEN]: a host on the internet segment.
rl_add_host() {
  local role="$1" tag="$2" v4="$3" v6="${4:-}" ifname
  rl_ns_add "$role"
  rl_attach "$role" "$tag"
  ifname="${RL_P}$tag"
  rl_addr "$role" "$ifname" "$v4" "$v6"
}

# rl_add_relay: namespace ${RL_P}$RL_RELAY_ROLE with veth $RL_RELAY_VETH on the
# bridge and no IP at all: the kernel of the relay namespace must ignore it
# (no ARP, no IPv6, raw-table drop), so only the DPDK app (af_packet, which
# sees frames before netfilter) handles what arrives there. The relay IPs
# go on the tap that the DPDK app creates: see rl_relay_wait_tap.
rl_add_relay() {
  local ns ifname
  rl_ns_add "$RL_RELAY_ROLE"
  ns="$(rl_ns "$RL_RELAY_ROLE")"
  rl_attach "$RL_RELAY_ROLE" "$RL_RELAY_TAG"
  ifname="$RL_RELAY_VETH"
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifname.disable_ipv6=1" >/dev/null
  ip -n "$ns" link set "$ifname" arp off
  ip -n "$ns" link set "$ifname" up
  ip netns exec "$ns" iptables -t raw -A PREROUTING -i "$ifname" -j DROP \
    || rl_die "iptables raw drop in relay ns failed"
  ip netns exec "$ns" ip6tables -t raw -A PREROUTING -i "$ifname" -j DROP \
    || rl_die "ip6tables raw drop in relay ns failed"
}

# rl_relay_kernel_veth: the relay namespace's kernel takes the veth back
# (ARP, IPv6, no raw-table drop) with the relay addresses on it: for a
# relay that uses the kernel's sockets (rtpengine) in place of the DPDK app.
rl_relay_kernel_veth() {
  local ns ifname="$RL_RELAY_VETH"
  ns="$(rl_ns "$RL_RELAY_ROLE")"
  ip netns exec "$ns" iptables -t raw -F PREROUTING
  ip netns exec "$ns" ip6tables -t raw -F PREROUTING
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifname.disable_ipv6=0" >/dev/null
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifname.accept_dad=0" >/dev/null 2>&1 || true
  ip -n "$ns" link set "$ifname" arp on
  rl_addr "$RL_RELAY_ROLE" "$ifname" "$RL_RELAY_V4" "$RL_RELAY_V6"
}

# rl_relay_wait_tap [TIMEOUT_S] [PID]: wait until the DPDK app (PID, if
# given, must stay alive) has created $RL_RELAY_TAP in the relay namespace,
# then give it the relay addresses and bring it up.
rl_relay_wait_tap() {
  local timeout="${1:-30}" pid="${2:-}" ns i
  ns="$(rl_ns "$RL_RELAY_ROLE")"
  for (( i = 0; i < timeout * 10; i++ )); do
    ip -n "$ns" link show "$RL_RELAY_TAP" >/dev/null 2>&1 && break
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      rl_log "DPDK process $pid exited before creating $RL_RELAY_TAP"
      return 1
    fi
    sleep 0.1
  done
  if ! ip -n "$ns" link show "$RL_RELAY_TAP" >/dev/null 2>&1; then
    rl_log "tap $RL_RELAY_TAP did not appear within ${timeout}s"
    return 1
  fi
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$RL_RELAY_TAP.accept_dad=0" \
    >/dev/null 2>&1 || true
  rl_addr "$RL_RELAY_ROLE" "$RL_RELAY_TAP" "$RL_RELAY_V4" "$RL_RELAY_V6"
}

# rl_add_nat_lan NAT_ROLE LAN_ROLE OUTSIDE/LEN INSIDE/LEN PHONE/LEN
#                [VARIANT] [UDP_TIMEOUT_S]
# A NAT host (outside on the bridge, inside towards a LAN namespace) and a
# LAN namespace holding one phone whose default route is the NAT's inside
# address. VARIANT: plain (MASQUERADE; Linux keeps the source port when it
# is free), random-fully (MASQUERADE --random-fully), sip-alg (plain plus
# the kernel's SIP helper on UDP 5060). UDP_TIMEOUT_S > 0 sets the NAT's
# nf_conntrack_udp_timeout and ..._stream in that namespace.
# Interface names: outside ${RL_P}<tag>o, inside ${RL_P}<tag>i, phone
# ${RL_P}<tag>p, where <tag> is the first 3 characters of NAT_ROLE.
rl_add_nat_lan() {
  local nat="$1" lan="$2" outside="$3" inside="$4" phone="$5"
  local variant="${6:-plain}" timeout="${7:-0}"
  local tag="${1:0:3}" nns out masq
  case "$variant" in
    plain|port-preserving|sip-alg) masq=(-j MASQUERADE) ;;
    random-fully) masq=(-j MASQUERADE --random-fully) ;;
    *) rl_die "unknown NAT variant '$variant'" ;;
  esac
  rl_ns_add "$nat"
  nns="$(rl_ns "$nat")"
  rl_attach "$nat" "${tag}o"
  out="${RL_P}${tag}o"
  rl_addr "$nat" "$out" "$outside"
  _rl_nat_inside "$nat" "$lan" "$inside" "$phone" "$out" "${masq[@]}"
  if [[ $variant == sip-alg ]]; then
    rl_run ip netns exec "$nns" iptables -t raw -A PREROUTING -p udp \
      --dport 5060 -j CT --helper sip \
      || rl_die "SIP helper in $nat failed (nf_conntrack_sip missing?)"
  fi
  if (( timeout > 0 )); then
    rl_run ip netns exec "$nns" sysctl -qw \
      "net.netfilter.nf_conntrack_udp_timeout=$timeout" \
      "net.netfilter.nf_conntrack_udp_timeout_stream=$timeout" >/dev/null \
      || rl_die "setting nf_conntrack_udp_timeout in $nat failed"
  fi
}

# _rl_nat_inside NAT LAN INSIDE/LEN PHONE/LEN OUT_IF MASQUERADE_ARGS...: the
# inside of NAT (an existing namespace whose outside interface is OUT_IF):
# a new LAN namespace on a veth (${RL_P}<tag>i in NAT, ${RL_P}<tag>p in
# LAN, <tag> = NAT's first 3 characters) holding PHONE, routed through
# INSIDE, masqueraded onto OUT_IF.
_rl_nat_inside() {
  local nat="$1" lan="$2" inside="$3" phone="$4" out="$5" tag="${1:0:3}" nns in ph
  shift 5
  nns="$(rl_ns "$nat")"
  rl_ns_add "$lan"
  in="${RL_P}${tag}i"; ph="${RL_P}${tag}p"
  rl_veth "$nat" "$in" "$lan" "$ph"
  rl_addr "$nat" "$in" "$inside"
  rl_addr "$lan" "$ph" "$phone"
  ip -n "$(rl_ns "$lan")" route add default via "${inside%/*}" \
    || rl_die "default route in $lan failed"
  ip netns exec "$nns" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
  rl_run ip netns exec "$nns" iptables -t nat -A POSTROUTING -o "$out" "$@" \
    || rl_die "MASQUERADE in $nat failed"
}

# rl_add_nat_behind_nat OUTER INNER LAN OUTSIDE MIDDLE_GW MIDDLE INSIDE PHONE
#                      [OUTER_TIMEOUT]
# A phone behind two NATs in series (a home router behind a provider's
# NAT): OUTER is a port-preserving MASQUERADE on the internet segment with
# address OUTSIDE, its LAN MIDDLE_GW/MIDDLE holds INNER (itself a plain
# MASQUERADE, kernel default timeouts), whose LAN INSIDE/PHONE holds the
# phone in LAN. OUTER_TIMEOUT (s, 0: the kernel's) is the outer NAT's UDP
# timeout. Role names' first three characters must differ.
rl_add_nat_behind_nat() {
  local outer="$1" inner="$2" lan="$3" outside="$4" middle_gw="$5" middle="$6"
  local inside="$7" phone="$8" timeout="${9:-0}"
  rl_add_nat_lan "$outer" "$inner" "$outside" "$middle_gw" "$middle" plain "$timeout"
  # INNER's outside is the phone end of OUTER's inside veth.
  _rl_nat_inside "$inner" "$lan" "$inside" "$phone" "${RL_P}${outer:0:3}p" -j MASQUERADE
}

# rl_reap_stale: opt-in helper for developers. Deletes namespaces named
# rl<pid><role> (this library's default prefix) whose <pid> is no longer a
# running process, i.e. left behind by a run that was SIGKILLed.
rl_reap_stale() {
  local ns pid
  for ns in $(ip netns list | awk '{print $1}'); do
    [[ $ns =~ ^rl([0-9]+)(inet|relay|peer|att|nat[0-9]*|lan[0-9]*)$ ]] || continue
    pid="${BASH_REMATCH[1]}"
    kill -0 "$pid" 2>/dev/null && continue
    if [[ -z $(ip netns pids "$ns" 2>/dev/null) ]]; then
      rl_log "removing stale namespace $ns"
      ip netns del "$ns"
    fi
  done
}
