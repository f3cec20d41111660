#!/usr/bin/env bash
# The cluster's Redis behind Sentinel (issue 18, docs/cluster.md): a master,
# a replica and three sentinels in Redis's namespace; nodes A and B find
# the master through the sentinels; node C is given the master's address
# itself (the negative control). Then the master is killed with -9.
#
#   redis   203.0.113.60  master :6379, replica :6380, sentinels :26379-26381
#   nodea   203.0.113.61  rtplatch-control "edge-a" (sentinels)
#   nodeb   203.0.113.62  rtplatch-control "edge-b" (sentinels)
#   nodec   203.0.113.63  rtplatch-control "edge-c" (the master's address)
#   phone   203.0.113.30, .100-.149
#
# What a carrier checks: after the failover A and B write to the new
# master, a binding made on A after it reaches B, and every binding
# registered before it is in the new master (the count of acknowledged
# writes lost is printed); C, which does not ask Sentinel, stays cut off.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib/netns.sh
source "$ROOT/scripts/lib/netns.sh"
# shellcheck source=../../scripts/lib/verdicts.sh
source "$ROOT/scripts/lib/verdicts.sh"
# shellcheck source=../../scripts/lib/cluster_testbed.sh
source "$ROOT/scripts/lib/cluster_testbed.sh"

command -v redis-sentinel >/dev/null || rl_skip "redis-sentinel is not installed"
cl_init "${RL_PREFIX:-cls$$}" a b c
IP=$CL_REDIS_IP

redis_at() { local port=$1; shift; rl_exec redis redis-cli -h "$IP" -p "$port" "$@"; }
sentinel_master_port() {
  redis_at 26379 sentinel get-master-addr-by-name rtplatch 2>/dev/null | sed -n 2p
}

declare -A REDIS_PID
for port in 6379 6380; do
  replica=()
  [[ $port == 6380 ]] && replica=(--replicaof "$IP" 6379)
  mkdir -p "$RL_TMP/redis-$port"
  rl_spawn redis "$RL_TMP/redis-$port.log" redis-server --bind "$IP" --port "$port" \
    --dir "$RL_TMP/redis-$port" --appendonly yes --save "" --protected-mode no "${replica[@]}"
  REDIS_PID[$port]=$RL_LAST_PID
  rl_wait_for 10 redis_at "$port" ping >/dev/null || rl_die "redis on $port did not start"
done
for port in 26379 26380 26381; do
  # Sentinel rewrites its config file: one each, in the test's directory.
  cat >"$RL_TMP/sentinel-$port.conf" <<EOF
port $port
bind $IP
protected-mode no
dir $RL_TMP
sentinel monitor rtplatch $IP 6379 2
sentinel down-after-milliseconds rtplatch 1000
sentinel failover-timeout rtplatch 5000
EOF
  rl_spawn redis "$RL_TMP/sentinel-$port.log" redis-sentinel "$RL_TMP/sentinel-$port.conf"
done
rl_check replica_in_sync "the replica follows the master" \
  rl_wait_for 15 bash -c "ip netns exec $(rl_ns redis) redis-cli -h $IP -p 6379 info replication | grep -q 'connected_slaves:1'"
rl_check sentinels_see_master "sentinels name :6379" \
  rl_wait_for 15 bash -c "[[ \$(ip netns exec $(rl_ns redis) redis-cli -h $IP -p 26379 sentinel get-master-addr-by-name rtplatch | sed -n 2p) == 6379 ]]"

SENTINELS="\"sentinels\": [\"$IP:26379\", \"$IP:26380\", \"$IP:26381\"], \"master\": \"rtplatch\""
cl_write_node a "$SENTINELS"
cl_write_node b "$SENTINELS"
cl_write_node c "\"redis\": \"$IP:6379\""
for n in a b c; do cl_start_node "$n" || rl_die "node $n did not start"; done
rl_check nodes_connected "A, B and C on the master" \
  rl_wait_for 10 bash -c 'cl_connected a && cl_connected b && cl_connected c'

for i in $(seq 0 9); do
  rl_exec phone python3 "$CL_CLIENT" register "$(cl_sip a)" "user$i" >/dev/null
done
out=$(python3 "$CL_CLIENT" seen "$(cl_sock b)" user9 edge-a 5000)
rl_check b_sees_before_failover "$out" grep -q "^seen" <<<"$out"

kill -9 "${REDIS_PID[6379]}"
start=$(date +%s.%N)
rl_check sentinels_promote_replica "the sentinels name :6380" \
  rl_wait_for 30 bash -c "[[ \$(ip netns exec $(rl_ns redis) redis-cli -h $IP -p 26379 sentinel get-master-addr-by-name rtplatch | sed -n 2p) == 6380 ]]"
echo "failover named after $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
out=$(rl_exec phone python3 "$CL_CLIENT" register "$(cl_sip a)" user10)
rl_check a_serves_during_failover "$out" grep -q "status=200" <<<"$out"
rl_check a_follows_to_new_master "A connected again" rl_wait_for 15 cl_connected a
rl_check b_follows_to_new_master "B connected again" rl_wait_for 15 cl_connected b
out=$(python3 "$CL_CLIENT" seen "$(cl_sock b)" user10 edge-a 10000)
rl_check b_sees_after_failover "$out" grep -q "^seen" <<<"$out"
echo "edge-a after the failover: write_failures=$(cl_stat a write_failures) rewritten=$(cl_stat a rewritten) connects=$(cl_stat a connects)"

missing_in_new_master() {
  local lost=0 i
  for i in $(seq 0 10); do
    [[ $(redis_at 6380 hlen "rtplatch:b:user$i@example.test") -ge 1 ]] || lost=$((lost + 1))
  done
  echo "$lost"
}
# What the failover itself lost (acknowledged by the old master, not yet
# replicated), then every binding made on A in the new master once A has
# written its own again (the new master's run_id is not the old one's;
# the rewrite goes with the next flush, about a second).
echo "acknowledged writes lost at the failover: $(missing_in_new_master) of 11"
rl_wait_for 10 bash -c '[[ $(cl_stat a reconciling) == false && $(cl_stat a pending_writes) == 0 ]]'
lost=$(missing_in_new_master)
rl_check no_binding_lost "bindings of user0..user10 missing from the new master after A's rewrite: $lost" \
  test "$lost" -eq 0

# The negative control: C has the old master's address and no sentinels.
sleep 3
rl_check c_without_sentinel_stays_cut_off "C still disconnected" cl_disconnected c
rl_summary cluster_sentinel
