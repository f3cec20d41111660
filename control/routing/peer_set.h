// The configured peers at run time: which peer a request comes from (by
// source address), the order a call tries a route's targets in, and each
// target's health.
//
// Order (RFC 3263 §4.4 over RFC 2782): a route's peers in the order it
// names them; within a peer, targets that are up by priority (lowest
// first), each priority's targets in a weighted random order; then the
// targets that are down, in the same way (a call still gets its chance if
// every target is down).
//
// Health: a failure (408, 503, a transport error, no answer in time) adds
// one to the target's run of failures, any other answer ends the run. A
// run of failures_to_down makes it down; a down target gets an OPTIONS
// every probe_interval_s (ProbesDue), and any answer but 408 or 5xx makes
// it up again.
//
// Single-threaded, like the proxy that owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "control/routing/edge_config.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

struct PeerTargetRef {
  uint32_t peer = 0;
  uint32_t target = 0;
  friend bool operator==(PeerTargetRef a, PeerTargetRef b) {
    return a.peer == b.peer && a.target == b.target;
  }
};

struct PeerTargetHealth {
  bool up = true;
  uint32_t failures_in_a_row = 0;
  bool probe_in_flight = false;
  int64_t last_probe_ms = 0;
  uint64_t attempts = 0;  // INVITEs sent to it
  uint64_t failures = 0;
  uint64_t went_down = 0;
  uint64_t probes_sent = 0;
};

class PeerSet {
 public:
  // `uniform(n)` returns a number in [0, n) (n > 0); default: absl's.
  explicit PeerSet(std::vector<PeerConfig> peers,
                   std::function<uint64_t(uint64_t)> uniform = nullptr);

  // The peer a request from `source` belongs to (its trusted_sources);
  // nullopt for anyone else. The first peer listed wins an overlap.
  std::optional<uint32_t> FromSource(const IpAddress& source) const;
  std::optional<uint32_t> Find(absl::string_view name) const;

  // The targets a call on `route` tries, in order (see above).
  std::vector<PeerTargetRef> Candidates(const RouteConfig& route);

  void Attempted(PeerTargetRef t) { health_[t.peer][t.target].attempts++; }
  // The target answered (any response but the failures above).
  void Succeeded(PeerTargetRef t);
  // The target failed a call; true when this made it down.
  bool Failed(PeerTargetRef t);

  // Down targets whose next probe is due at `now_ms`; each is marked in
  // flight until ProbeAnswered/ProbeFailed.
  std::vector<PeerTargetRef> ProbesDue(int64_t now_ms);
  // A probe's final answer (`code`), or its failure (no answer: code 0);
  // true when the target is up again.
  bool ProbeDone(PeerTargetRef t, int code);

  const PeerConfig& peer(uint32_t i) const { return peers_[i]; }
  const PeerTargetConfig& target(PeerTargetRef t) const {
    return peers_[t.peer].targets[t.target];
  }
  const PeerTargetHealth& health(PeerTargetRef t) const { return health_[t.peer][t.target]; }
  size_t size() const { return peers_.size(); }

  // For `rtplatchctl peers`: each peer with its targets and their health.
  nlohmann::json ToJson() const;

 private:
  // Appends peer `p`'s targets whose up-state is `up`, in RFC 2782 order.
  void AppendOrdered(uint32_t p, bool up, std::vector<PeerTargetRef>& out);

  std::vector<PeerConfig> peers_;
  std::vector<std::vector<PeerTargetHealth>> health_;
  std::function<uint64_t(uint64_t)> uniform_;
};

}  // namespace rtplatch
