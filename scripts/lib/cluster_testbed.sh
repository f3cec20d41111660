# shellcheck shell=bash
# rtplatch cluster nodes in network namespaces (sourced library, after
# netns.sh and verdicts.sh): Redis's namespace, one per node, one for the
# phones, all on the test's "internet" bridge (documentation prefixes only).
#
#   source scripts/lib/cluster_testbed.sh
#   cl_init clb a b                 # namespaces redis, nodea, nodeb, phone
#   cl_write_node a '"redis": "203.0.113.60:6379"'   # the cluster section's rest
#   cl_start_node a                 # sets NODE_PID[a]
#   cl_connected a                  # its Redis link is up
#   cl_node_state b edge-a          # up, down or nothing (B's view)
#   python3 "$CL_CLIENT" register "$(cl_sip a)" user0   # in the phone ns: rl_exec phone
#
# Each node runs the shipped defaults; only its cluster section is the test's.

CL_CONTROL="${RTPLATCH_CONTROL:-$ROOT/build/control/rtplatch-control}"
CL_CTL="${RTPLATCHCTL:-$ROOT/build/control/rtplatchctl}"
CL_CLIENT="$ROOT/tests/integration/cluster_client.py"
CL_REDIS_IP=203.0.113.60
CL_SIP_PORT=5060
declare -A NODE_IP=([a]=203.0.113.61 [b]=203.0.113.62 [c]=203.0.113.63)
declare -A NODE_PID

# cl_init PREFIX NODE...: skips unless root with redis-server and a build;
# then the namespaces, a users file (user0..user99, password "secret"), and
# 50 phone addresses (203.0.113.100-149) besides the phone's .30.
cl_init() {
  local prefix=$1 n i
  shift
  [[ $(id -u) -eq 0 ]] || rl_skip "needs root (namespaces)"
  command -v redis-server >/dev/null || rl_skip "redis-server is not installed"
  [[ -x $CL_CONTROL ]] || rl_skip "no $CL_CONTROL (build first)"
  rl_init "$prefix"
  rl_build_inet
  rl_add_host redis rd "$CL_REDIS_IP/24"
  for n in "$@"; do rl_add_host "node$n" "n$n" "${NODE_IP[$n]}/24"; done
  rl_add_host phone ph 203.0.113.30/24
  for i in $(seq 100 149); do ip -n "$(rl_ns phone)" addr add "203.0.113.$i/24" dev "$(rl_ifname ph)"; done
  printf 'user%d@example.test:secret\n' $(seq 0 99) >"$RL_TMP/users"
  export CL_CTL RL_TMP
}

# cl_write_node NODE CLUSTER_REST: the node's control config; CLUSTER_REST
# is what its "cluster" object holds besides "node".
cl_write_node() {
  cat >"$RL_TMP/node-$1.json" <<EOF2
{
  "sip_listen": ["${NODE_IP[$1]}:$CL_SIP_PORT"],
  "dataplane_socket": "$RL_TMP/dp-$1.sock",
  "control_socket": "$RL_TMP/ctl-$1.sock",
  "domain": "example.test",
  "users_file": "$RL_TMP/users",
  "database": "$RL_TMP/bindings-$1.sqlite",
  "cluster": {"node": "edge-$1", $2}
}
EOF2
}

cl_start_node() {
  rl_spawn "node$1" "$RL_TMP/node-$1.log" "$CL_CONTROL" --config "$RL_TMP/node-$1.json"
  NODE_PID[$1]=$RL_LAST_PID
  rl_wait_for 15 "$CL_CTL" --control-socket "$RL_TMP/ctl-$1.sock" sip-stats ||
    { tail -n 20 "$RL_TMP/node-$1.log" >&2; return 1; }
}

cl_sip() { echo "${NODE_IP[$1]}:$CL_SIP_PORT"; }
cl_sock() { echo "$RL_TMP/ctl-$1.sock"; }

# cl_stat NODE FIELD: a field of the node's sip-stats "cluster" section.
cl_stat() {
  "$CL_CTL" --control-socket "$RL_TMP/ctl-$1.sock" --json sip-stats |
    python3 -c "import json,sys; d=json.load(sys.stdin); d=d.get('result',d); print(json.dumps(d['cluster']['$2']))"
}
cl_connected() { [[ $(cl_stat "$1" connected) == true ]]; }
cl_disconnected() { [[ $(cl_stat "$1" connected) == false ]]; }
# cl_node_state ASKING NODE: up, down, or nothing when never heard.
cl_node_state() {
  "$CL_CTL" --control-socket "$RL_TMP/ctl-$1.sock" --json cluster |
    python3 -c "import json,sys; d=json.load(sys.stdin); d=d.get('result',d); print(''.join(n['state'] for n in d['nodes'] if n['node']=='$2'))"
}
export -f cl_stat cl_connected cl_disconnected cl_node_state
