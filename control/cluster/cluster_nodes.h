// The cluster's other nodes as this node hears them (docs/cluster.md):
// each node says once a second, through Redis, where its SIP is, how many
// calls it carries, its weight and whether it is drained; a node not
// heard for kDownAfterMs is down. What a node that chooses a relay for a
// new call, or takes over a dead node's phones, reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

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
  // The SIP address `node` announced, while it is up; nullopt when it is
  // down, unknown or announced none that parses.
  std::optional<Endpoint> SipOf(absl::string_view node, int64_t now_ms) const;
  // `ip` is the SIP address of a node heard since the start.
  bool IsNodeAddress(const IpAddress& ip) const;
  // The SIP address of the up, undrained node with the fewest calls for
  // its weight (weight 0: never); nullopt when there is none.
  std::optional<Endpoint> LeastLoaded(int64_t now_ms) const;
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
