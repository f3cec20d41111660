// The cluster's other nodes as this node hears them (docs/cluster.md):
// each node says once a second, through Redis, where its SIP is, how many
// calls it carries, its weight and whether it is drained; a node not
// heard for kDownAfterMs is down. What a node that chooses a relay for a
// new call, or takes over a dead node's phones, reads.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

// What a node says of itself in its heartbeat.
struct NodeHeartbeat {
  std::string sip;  // its SIP address, ip:port
  uint64_t calls = 0;
  uint32_t weight = 100;
  bool drained = false;

  std::string Encode() const;
  static absl::StatusOr<NodeHeartbeat> Decode(absl::string_view text);
};

class ClusterNodes {
 public:
  // Three heartbeats missed.
  static constexpr int64_t kDownAfterMs = 3000;

  // `node` said `heartbeat` (its JSON) at `now_ms`; false if it did not
  // decode (counted).
  bool Heard(absl::string_view node, absl::string_view heartbeat, int64_t now_ms);
  bool Up(absl::string_view node, int64_t now_ms) const;
  // Every node heard since the start, with its state at `now_ms`.
  nlohmann::json Json(int64_t now_ms) const;
  uint64_t bad_heartbeats() const { return bad_heartbeats_; }

 private:
  struct Seen {
    NodeHeartbeat heartbeat;
    int64_t heard_ms = 0;
  };
  absl::btree_map<std::string, Seen> nodes_;  // few: ordered for the listing
  uint64_t bad_heartbeats_ = 0;
};

}  // namespace rtplatch
