// A cluster node's side of the shared binding table (docs/cluster.md):
// this node's binding changes go to Redis through the link (the
// registrar's BindingReplica), and the other nodes' changes come back
// into the registrar, in bounded slices per loop round so a full read of
// the table after a reconnect never stalls SIP.
//
// Reconciling after each (re)connect, also in slices:
//   - other nodes' bindings this node holds but the table no longer has
//     (removed while this node was away: their messages were lost) go;
//   - when the Redis server is not the one last seen (its run_id: the
//     first connect, or a restart that may have lost data), this node
//     writes all its own bindings again, as fast as Redis takes them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "control/cluster/cluster_nodes.h"
#include "control/cluster/redis_link.h"
#include "control/registrar/binding_replica.h"
#include "control/registrar/registrar.h"

namespace rtplatch {

class SharedBindings : public BindingReplica {
 public:
  struct Counters {
    uint64_t applied = 0;    // other nodes' bindings put here
    uint64_t refreshed = 0;  // other nodes' bindings held here given a new expiry
    uint64_t removed = 0;    // other nodes' bindings taken away
    uint64_t displaced = 0;  // this node's bindings a phone took elsewhere
    uint64_t bad_values = 0; // shared values that did not decode
    uint64_t swept = 0;      // other nodes' bindings gone from the table meanwhile
    uint64_t rewritten = 0;  // own bindings written again to a new Redis
  };
  // Bindings looked at per round while sweeping or rewriting.
  static constexpr size_t kReconcileSlice = 2048;
  // Own bindings waiting in the link before the rewrite adds more: the
  // rewrite goes as fast as Redis takes it, not into memory.
  static constexpr size_t kRewriteBacklog = 20000;

  // `link`, `registrar` and `nodes` are borrowed and outlive this.
  // `vips`: the addresses this node may take over; a binding that arrived
  // on one is written fenced by its lease (redis_link.h).
  SharedBindings(RedisLink& link, Registrar& registrar, ClusterNodes& nodes,
                 std::vector<IpAddress> vips = {});

  // BindingReplica.
  void Put(const Binding& binding, bool urgent) override;
  void Remove(const Binding& binding) override;
  void Refresh(const Binding& binding) override;

  // Applies up to `budget` of the other nodes' changes at `now` (unix
  // seconds; an expired binding is skipped) and their heartbeats (heard at
  // `now_ms`, monotonic). This node's bindings they displaced go to
  // `displaced` (the keepalive sync removes their targets). True when
  // more wait.
  bool Poll(size_t budget, int64_t now, int64_t now_ms, std::vector<BindingChange>& displaced);

  const Counters& counters() const { return counters_; }
  bool reconciling() const { return phase_ != Phase::kServing || rewriting_; }

 private:
  enum class Phase : uint8_t { kServing, kReading, kSweeping };
  void Apply(RedisLink::Remote& r, int64_t now, int64_t now_ms,
             std::vector<BindingChange>& displaced);
  // One slice of each; true while there is more.
  bool SweepSlice(int64_t now);
  bool RewriteSlice(int64_t now);

  // The VIP `b` arrived on, or unspecified.
  IpAddress FenceOf(const Binding& b) const;

  RedisLink& link_;
  Registrar& registrar_;
  const std::vector<IpAddress> vips_;
  ClusterNodes& nodes_;
  Counters counters_;
  Phase phase_ = Phase::kServing;
  // Other nodes' bindings ("aor\ncontact") the table holds, read since
  // kSnapshotBegin (and changed since): what the sweep keeps.
  absl::flat_hash_set<std::string> seen_;
  std::string sweep_after_;  // the AOR the sweep goes on from
  std::string last_run_id_;
  bool rewriting_ = false;
  std::string rewrite_after_;
};

}  // namespace rtplatch
