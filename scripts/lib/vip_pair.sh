# shellcheck shell=bash
# shellcheck disable=SC2034  # variables the sourcing script reads
# Two rtplatch nodes sharing one VIP through keepalived (VRRP from Debian)
# and their state through Redis (issue 18), for the failover suites and
# scripts/bench failover (sourced after scripts/lib/sip_testbed.sh, whose
# st_init has run). Node A (role relay, node "edge-a") has the higher VRRP
# priority; node B (relay2, "edge-b") is its backup. Each node's
# keepalived notify takes and releases the VIP in rtplatch
# (`rtplatchctl vip-take/vip-release`), and its track script (`vip-check`)
# lowers its priority while it cannot reach Redis or lost the lease.
#
#   vp_start               Redis and both nodes, keepalived on each; waits
#                          until A holds the VIP (1 if not); VP_LCORES_B:
#                          B's EAL lcores (default: A's)
#   vp_node_config NAME    the control config of node NAME (edge-a, edge-b)
#   vp_keepalived ROLE PRIORITY
#                          keepalived for the node of ROLE
#   vp_kill_a              kill -9 of A's keepalived, control plane and
#                          dataplane; VP_KILLED_AT: when (epoch seconds)
#   vip_state              "taken epoch valid" of the VIP on the current node
#   taken_valid            the current node holds the VIP with a valid lease
#   a_master               A holds it, B does not
#   mac_of ROLE DEV        the MAC of DEV in ROLE's namespace
#   vp_phones N FILE       outside the phones' NAT (role nat), a capture of
#                          the keepalives from the VIP into FILE (epoch
#                          times, MACs); then user0..user{N-1} register to
#                          the VIP from the LAN (role lan), each from its own
#                          port; VP_REGISTERED: how many got 200
#
# VIP, VP_REDIS_IP, VP_CLIENT (tests/integration/cluster_client.py).

[[ -n ${_VP_SH_LOADED:-} ]] && return 0
_VP_SH_LOADED=1

VIP=203.0.113.70
VP_REDIS_IP=203.0.113.60
VP_CLIENT="$ROOT/tests/integration/cluster_client.py"
# shellcheck disable=SC2034  # read by st_write_dataplane_config
ST_DP_SET=("standby_addresses=[\"$VIP\"]")

# SIP on the node's own address and on the VIP, and the cluster (and
# $VP_CONTROL_EXTRA: more of the control config, JSON members).
vp_node_config() {
  ST_SIP_LISTEN_JSON="[\"$ST_RELAY_IP:$ST_SIP_PORT\", \"$VIP:$ST_SIP_PORT\"]"
  ST_CONTROL_EXTRA="\"cluster\": {\"node\": \"$1\", \"redis\": \"$VP_REDIS_IP:6379\", \"vips\": [\"$VIP\"]}"
  [[ -n ${VP_CONTROL_EXTRA:-} ]] && ST_CONTROL_EXTRA+=", $VP_CONTROL_EXTRA"
  return 0
}

# VRRP for the VIP on the node's exception tap (its adverts go out through
# the dataplane and the NIC like any frame for the kernel), 200 ms adverts
# (VRRPv3: a master is declared dead after about 0.7 s). Its two
# processes' PIDs are in $RL_TMP/ka-ROLE.pid and ka-ROLE-vrrp.pid.
vp_keepalived() {
  local name=$1 prio=$2 conf="$RL_TMP/keepalived-$1.conf" notify="$RL_TMP/notify-$1.sh"
  st_node "$name"
  cat >"$notify" <<EOS
#!/bin/sh
# keepalived: notify TYPE NAME STATE PRIORITY
case "\$3" in
  MASTER) exec "$ST_CTL" --control-socket "$CTL_SOCK" vip-take $VIP ;;
  *) exec "$ST_CTL" --control-socket "$CTL_SOCK" vip-release $VIP ;;
esac
EOS
  chmod 755 "$notify"
  cat >"$conf" <<EOS
global_defs {
  router_id $name
  vrrp_version 3
  script_user root
}
# The check fails while the node cannot reach Redis, or lost the lease of
# a VIP it holds (a VRRP flap at start: both were master for a moment):
# its priority drops below the other node's, which takes the VIP; if
# neither reaches Redis, both drop and the order stays.
vrrp_script rtplatch_lease {
  script "$ST_CTL --control-socket $CTL_SOCK vip-check $VIP"
  interval 1
  fall 1
  rise 1
  weight -60
}
vrrp_instance vip70 {
  state BACKUP
  interface $RL_RELAY_TAP
  virtual_router_id 70
  priority $prio
  advert_int 0.2
  # keepalived puts the VIP on the tap too (it wants one); address_take
  # finds it there, and its own gratuitous ARPs leave through the dataplane.
  virtual_ipaddress {
    $VIP/32 dev $RL_RELAY_TAP
  }
  track_script {
    rtplatch_lease
  }
  notify $notify
}
EOS
  rl_spawn "$RL_RELAY_ROLE" "$RL_TMP/keepalived-$name.log" keepalived -n -l -D --vrrp \
    -f "$conf" -p "$RL_TMP/ka-$name.pid" -r "$RL_TMP/ka-$name-vrrp.pid" \
    -c "$RL_TMP/ka-$name-chk.pid"
}

vip_state() {
  jget "$(cctl cluster)" "' '.join(str(x) for v in d['vips'] for x in (v['taken'], v['epoch'], v['lease_valid']))"
}
taken_valid() { [[ $(vip_state) == "True "*" True" ]]; }
mac_of() { ip -n "$(rl_ns "$1")" -br link show "$2" | awk '{print $3}'; }
a_master() {
  st_node relay2; [[ $(vip_state | cut -d' ' -f1) == False ]] || { st_node relay; return 1; }
  st_node relay; taken_valid
}

vp_phones() {
  local i out
  rl_spawn nat "$2" tcpdump -i "${RL_P}nato" -n -e -l -tt \
    "udp and src host $VIP and src port $ST_SIP_PORT"
  rl_wait_for 5 grep -q listening "$2" || rl_log "tcpdump not listening"
  VP_REGISTERED=0
  for i in $(seq 0 $(($1 - 1))); do
    out=$(ip netns exec "$(rl_ns lan)" python3 "$VP_CLIENT" register "$VIP:$ST_SIP_PORT" "user$i")
    [[ $out == *status=200* ]] && VP_REGISTERED=$((VP_REGISTERED + 1))
  done
}

vp_start() {
  st_node relay; vp_node_config edge-a
  st_start_relay || { rl_log "node A did not start"; return 1; }
  rl_add_host redis rd "$VP_REDIS_IP/24"
  rl_spawn redis "$RL_TMP/redis.log" redis-server --bind "$VP_REDIS_IP" --port 6379 --save "" \
    --appendonly no --protected-mode no --dir "$RL_TMP"
  st_node relay2; vp_node_config edge-b
  # VP_LCORES_B (optional): B's EAL lcores, e.g. its forwarding lcore on
  # another core than A's.
  local lcores=$ST_LCORES
  ST_LCORES=${VP_LCORES_B:-$ST_LCORES}
  st_start_relay || { ST_LCORES=$lcores; rl_log "node B did not start"; return 1; }
  ST_LCORES=$lcores
  vp_keepalived relay 150
  vp_keepalived relay2 100
  rl_wait_for 20 a_master
}

vp_kill_a() {
  local f
  st_node relay
  for f in "$RL_TMP/ka-relay-vrrp.pid" "$RL_TMP/ka-relay.pid"; do
    [[ -s $f ]] && kill -KILL "$(cat "$f")" 2>/dev/null
  done
  kill -KILL "$CTL_PID" "$DP_PID" 2>/dev/null
  VP_KILLED_AT=$(date +%s.%N)
}
