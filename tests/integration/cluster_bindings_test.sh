#!/usr/bin/env bash
# Two rtplatch-control nodes sharing their bindings through Redis (issue 18,
# docs/cluster.md), each in a namespace of its own, Redis in a third, a
# phone in a fourth, all on the test's "internet" bridge (documentation
# prefixes only). The nodes run their shipped defaults; only the cluster
# section names them and their Redis.
#
#   redis   203.0.113.60  redis-server (appendonly, as docs/cluster.md runs it)
#   nodea   203.0.113.61  rtplatch-control "edge-a"
#   nodeb   203.0.113.62  rtplatch-control "edge-b"
#   phone   203.0.113.30, .100-.149  cluster_client.py (digest REGISTERs)
#
# What a carrier checks:
#   - a binding registered on A is on B within 100 ms, naming A as owner;
#   - refresh-only REGISTERs cost Redis at most one write per binding per
#     flush (HSETs in INFO commandstats), where each REGISTER written at
#     once would cost one each;
#   - Redis restarts: both nodes keep answering REGISTERs, reconnect, and a
#     binding made on A while Redis was down reaches B;
#   - B partitioned from Redis (packets dropped): B notices, and after the
#     partition heals has what A added meanwhile and not what A removed;
#   - Redis back empty: each node writes its own bindings again;
#   - the nodes hear each other's heartbeats, and a node killed with -9 is
#     down on the others within three of them.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib/netns.sh
source "$ROOT/scripts/lib/netns.sh"
# shellcheck source=../../scripts/lib/verdicts.sh
source "$ROOT/scripts/lib/verdicts.sh"

# shellcheck source=../../scripts/lib/cluster_testbed.sh
source "$ROOT/scripts/lib/cluster_testbed.sh"
REDIS_IP=$CL_REDIS_IP
REDIS_PORT=6379
CTL=$CL_CTL
CLIENT=$CL_CLIENT
SIP_PORT=$CL_SIP_PORT

cl_init "${RL_PREFIX:-clb$$}" a b

REDIS_PID=
start_redis() {
  rl_spawn redis "$RL_TMP/redis.log" redis-server --bind "$REDIS_IP" --port "$REDIS_PORT" \
    --dir "$RL_TMP" --appendonly yes --save "" --protected-mode no
  REDIS_PID=$RL_LAST_PID
  rl_wait_for 10 rl_exec redis redis-cli -h "$REDIS_IP" -p "$REDIS_PORT" ping
}
redis_cli() { rl_exec redis redis-cli -h "$REDIS_IP" -p "$REDIS_PORT" "$@"; }
# HSETs so far (from the nodes' scripts): one per binding written.
hset_calls() {
  redis_cli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_hset:calls=\([0-9]*\),.*/\1/p' |
    grep . || echo 0
}

start_redis || rl_die "redis-server did not start"
for n in a b; do
  cl_write_node "$n" "\"redis\": \"$REDIS_IP:$REDIS_PORT\""
  cl_start_node "$n" || rl_die "node $n did not start"
done
rl_check nodes_connected "both nodes on Redis" \
  rl_wait_for 10 bash -c 'cl_connected a && cl_connected b'

# ---- the nodes hear each other ---------------------------------------------
rl_check b_hears_a "edge-a up on B" rl_wait_for 5 bash -c '[[ $(cl_node_state b edge-a) == up ]]'
rl_check a_hears_b "edge-b up on A" rl_wait_for 5 bash -c '[[ $(cl_node_state a edge-b) == up ]]'
cluster_b=$("$CTL" --control-socket "$RL_TMP/ctl-b.sock" cluster)
echo "$cluster_b"
rl_check b_knows_a_sip "$(grep edge-a <<<"$cluster_b")" grep -q "edge-a .*${NODE_IP[a]}:$SIP_PORT" <<<"$cluster_b"

# ---- seen on the other node within 100 ms --------------------------------
out=$(rl_exec phone python3 "$CLIENT" register_then_seen "${NODE_IP[a]}:$SIP_PORT" \
  "$RL_TMP/ctl-b.sock" user0 edge-a)
echo "$out"
ms=$(sed -n 's/.*after_ms=\([0-9.]*\).*/\1/p' <<<"$out")
rl_check seen_on_b_within_100ms "$out" \
  python3 -c "import sys; sys.exit(0 if '$ms' and float('$ms') < 100 else 1)"
rl_check not_on_a_as_remote "A holds user0 as its own, not another node's" \
  bash -c "! '$CTL' --control-socket '$RL_TMP/ctl-a.sock' --json registration user0@example.test | grep -q '\"node\"'"

# ---- a phone is reached through the node it registered to ----------------
# user90 registered on A (from .140); user91 on B sends it a MESSAGE: B
# routes it through A (only A sends from the address user90 registered
# to), A trusts B (a node: B authenticated user91) and forwards it.
rl_spawn phone "$RL_TMP/answer.log" python3 "$CLIENT" answer "${NODE_IP[a]}:$SIP_PORT" user90 8 203.0.113.140
ANSWER_PID=$RL_LAST_PID
rl_wait_for 5 grep -q "^registered" "$RL_TMP/answer.log" || true
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-b.sock" user90 edge-a 5000)
out=$(rl_exec phone python3 "$CLIENT" message "$(cl_sip b)" user91 user90)
rl_check message_through_the_owner "$out" grep -q "status=200" <<<"$out"
rl_wait "$ANSWER_PID" 15 >/dev/null
rl_check phone_reached_from_its_node "$(grep -v '^registered' "$RL_TMP/answer.log" | tr '\n' ' ')" \
  grep -q "^got MESSAGE from ${NODE_IP[a]}:$SIP_PORT" "$RL_TMP/answer.log"
proxy_stat() {
  "$CTL" --control-socket "$RL_TMP/ctl-$1.sock" --json sip-stats |
    python3 -c "import json,sys; d=json.load(sys.stdin); print(d.get('result', d)['proxy']['$2'])"
}
rl_check counted_as_routed_via_a "B via_node $(proxy_stat b via_node), A from_nodes $(proxy_stat a from_nodes)" \
  test "$(proxy_stat b via_node)" -ge 1 -a "$(proxy_stat a from_nodes)" -ge 1

# ---- refreshes coalesced --------------------------------------------------
# 50 phones register (50 urgent writes), then refresh 8 times each from the
# same address: 400 refreshes that move only the expiry, within a few
# seconds. Written one by one they would be 400 more writes; coalesced, at
# most one per binding per flush (about one a second).
before=$(hset_calls)
start=$SECONDS
out=$(rl_exec phone python3 "$CLIENT" refreshes "${NODE_IP[a]}:$SIP_PORT" 50 8 203.0.113.100)
took=$((SECONDS - start + 1))
echo "$out"
rl_check refreshes_answered "$out" grep -q "failed=0" <<<"$out"
sleep 2.5  # the last flush
after=$(hset_calls)
writes=$((after - before))
bound=$((50 + 50 * (took + 2)))
rl_check refreshes_coalesced \
  "$writes binding writes (HSET) for 50 new bindings and 400 refreshes in ${took}s (at most $bound; 450 unshared)" \
  test "$writes" -ge 50 -a "$writes" -le "$bound" -a "$writes" -lt 450
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-b.sock" user49 edge-a 3000)
rl_check latest_refresh_on_b "$out (cseq 18: the last refresh's)" grep -q "cseq=18" <<<"$out"

# ---- Redis restarts -------------------------------------------------------
rl_kill "$REDIS_PID" 5
rl_check nodes_notice_redis_down "A counts itself disconnected" rl_wait_for 5 cl_disconnected a
out=$(rl_exec phone python3 "$CLIENT" register "${NODE_IP[a]}:$SIP_PORT" user60)
rl_check a_serves_without_redis "$out" grep -q "status=200" <<<"$out"
out=$(rl_exec phone python3 "$CLIENT" register "${NODE_IP[b]}:$SIP_PORT" user61)
rl_check b_serves_without_redis "$out" grep -q "status=200" <<<"$out"
start_redis || rl_die "redis-server did not restart"
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-b.sock" user60 edge-a 10000)
rl_check down_time_binding_reaches_b "$out" grep -q "^seen" <<<"$out"
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-a.sock" user61 edge-b 10000)
rl_check down_time_binding_reaches_a "$out" grep -q "^seen" <<<"$out"
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-b.sock" user0 edge-a 1000)
rl_check earlier_binding_kept_on_b "$out" grep -q "^seen" <<<"$out"

# ---- a partition: B cut off from Redis (packets dropped, no reset) -------
rl_exec nodeb iptables -A OUTPUT -d "$REDIS_IP" -j DROP
rl_check partition_noticed "B's PING goes unanswered: B counts itself disconnected" \
  rl_wait_for 10 cl_disconnected b
out=$(rl_exec phone python3 "$CLIENT" unregister "${NODE_IP[a]}:$SIP_PORT" user7 10)
rl_check unregistered_during_partition "$out" grep -q "status=200" <<<"$out"
out=$(rl_exec phone python3 "$CLIENT" register "${NODE_IP[a]}:$SIP_PORT" user70)
rl_check registered_during_partition "$out" grep -q "status=200" <<<"$out"
rl_exec nodeb iptables -D OUTPUT -d "$REDIS_IP" -j DROP
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-b.sock" user70 edge-a 10000)
rl_check partition_binding_read_on_reconnect "$out (its message was lost)" grep -q "^seen" <<<"$out"
out=$(python3 "$CLIENT" gone "$RL_TMP/ctl-b.sock" user7 10000)
rl_check partition_removal_swept_on_reconnect "$out (its message was lost)" grep -q "^gone" <<<"$out"

# ---- Redis comes back empty (its data lost): each node writes its own again
rl_kill "$REDIS_PID" 5
rm -rf "$RL_TMP/appendonlydir" "$RL_TMP"/*.aof "$RL_TMP/dump.rdb"
start_redis || rl_die "redis-server did not restart"
rl_check own_bindings_rewritten "A wrote user0 to the empty Redis again" \
  rl_wait_for 10 bash -c "[[ \$(ip netns exec '$(rl_ns redis)' redis-cli -h $REDIS_IP -p $REDIS_PORT hlen rtplatch:b:user0@example.test) -ge 1 ]]"
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-b.sock" user0 edge-a 10000)
rl_check b_still_sees_a_binding "$out" grep -q "^seen" <<<"$out"
out=$(python3 "$CLIENT" seen "$RL_TMP/ctl-a.sock" user61 edge-b 10000)
rl_check a_still_sees_b_binding "$out" grep -q "^seen" <<<"$out"

# ---- a node dies: the others see it down within three heartbeats ---------
kill -9 "${NODE_PID[a]}"
start=$(date +%s.%N)
rl_check a_down_on_b "edge-a down on B after kill -9" rl_wait_for 6 bash -c '[[ $(cl_node_state b edge-a) == down ]]'
echo "edge-a seen down after $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
# Its phones cannot be reached through B now (B does not hold the address
# they registered to): a clear 480, not a request sent from B.
out=$(rl_exec phone python3 "$CLIENT" message "$(cl_sip b)" user91 user90)
rl_check dead_nodes_phone_480 "$out" grep -q "status=480" <<<"$out"

for n in b; do
  echo "node $n cluster: $("$CTL" --control-socket "$RL_TMP/ctl-$n.sock" --json sip-stats |
    python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps(d.get('result', d)['cluster']))")"
done
rl_summary cluster_bindings
