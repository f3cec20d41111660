// The configured peers at run time: which peer a request comes from (by
// source address), the order a call tries a route's hops in, and each
// hop's health.
//
// Hops: a target whose URI has an address is one hop; a host name's hops
// come from DNS (RFC 3263, control/dns/sip_locator.h: NAPTR, SRV by
// priority and weight, A/AAAA) and are located again every kRelocateMs
// (the resolver's cache keeps each record for its TTL, so this costs a
// query only when a record expired). Until its first answer a named
// target has no hop; a failed lookup keeps the hops it had (a DNS outage
// does not take a working peer away). A hop keeps its health across
// lookups while DNS keeps returning it.
//
// Order (RFC 3263 §4.4 over RFC 2782): the hops that are up, then the
// ones that are down (a call still gets its chance if every hop is down);
// within each, a route's peers in the order it names them; within a peer,
// targets by priority (lowest first), each priority's targets in a
// weighted random order; within a target, its hops in DNS order.
//
// Health: a failure (408, 503, a transport error, no answer in time) adds
// one to the hop's run of failures, any other answer ends the run. A run of
// failures_to_down makes it down; a down hop gets an OPTIONS every
// probe_interval_s (ProbesDue), and any answer but 408 or 5xx makes it up
// again.
//
// Reload (Reconfigure): peers are matched by name and targets by URI. A
// kept one keeps its index (calls in progress hold PeerTargetRefs), its
// hops and their health; a removed one is retired, not erased: never
// matched, chosen, located or probed again, its registration withdrawn
// (REGISTER with Expires: 0). A later reload that names it again brings it
// back to its place.
//
// Single-threaded, like the proxy that owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "control/dns/sip_locator.h"
#include "control/routing/edge_config.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

// One hop of a configured target of a peer, named by its address (hops
// come and go with DNS; the address is what stays).
struct PeerTargetRef {
  uint32_t peer = 0;
  uint32_t target = 0;
  Endpoint hop;
  friend bool operator==(const PeerTargetRef& a, const PeerTargetRef& b) {
    return a.peer == b.peer && a.target == b.target && a.hop == b.hop;
  }
};

struct PeerHopHealth {
  SipHop hop;
  bool up = true;
  uint32_t failures_in_a_row = 0;
  bool probe_in_flight = false;
  int64_t last_probe_ms = 0;
  uint64_t attempts = 0;  // INVITEs sent to it
  uint64_t failures = 0;
  uint64_t went_down = 0;
  uint64_t probes_sent = 0;
};

struct PeerTargetState {
  std::vector<PeerHopHealth> hops;
  bool locating = false;
  int64_t next_locate_ms = 0;
  std::string dns_error;  // the last lookup's failure; "" after a success
  uint64_t lookups = 0;
  bool retired = false;  // a reload removed its target
};

// What a reload changed, by peer name.
struct PeerSetChange {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};

class PeerSet {
 public:
  static constexpr int64_t kRelocateMs = 10'000;
  static constexpr int64_t kRelocateAfterErrorMs = 2'000;

  // `uniform(n)` returns a number in [0, n) (n > 0); default: absl's.
  explicit PeerSet(std::vector<PeerConfig> peers,
                   std::function<uint64_t(uint64_t)> uniform = nullptr);

  // The peer a request from `source` belongs to (its trusted_sources);
  // nullopt for anyone else. The first peer listed wins an overlap.
  std::optional<uint32_t> FromSource(const IpAddress& source) const;
  // The peer whose trusted_tls_names has one of `names` (a verified
  // client certificate's), or nullopt.
  std::optional<uint32_t> FromCertificate(const std::vector<std::string>& names) const;
  std::optional<uint32_t> Find(absl::string_view name) const;

  // The hops a call on `route` tries, in order (see above).
  std::vector<PeerTargetRef> Candidates(const RouteConfig& route);
  // Peer `p`'s hops in the same order, retired or not (its registration's).
  std::vector<PeerTargetRef> HopsOf(uint32_t p);

  // A reload's peers (see above); `now_ms` for withdrawn registrations.
  PeerSetChange Reconfigure(std::vector<PeerConfig> fresh, int64_t now_ms);
  bool retired(uint32_t p) const { return retired_[p]; }
  // Its peer or its target was retired (a call in progress still holds it).
  bool retired(const PeerTargetRef& t) const;

  // Named targets whose hops are due to be located at `now_ms` (hop
  // left empty); each is marked as locating until Located.
  std::vector<PeerTargetRef> LocationsDue(int64_t now_ms);
  void Located(const PeerTargetRef& t, const absl::StatusOr<std::vector<SipHop>>& hops,
               int64_t now_ms);

  // The hop's state; nullptr when DNS no longer has it.
  const PeerHopHealth* hop(const PeerTargetRef& t) const;

  void Attempted(const PeerTargetRef& t);
  // The hop answered (any response but the failures above).
  void Succeeded(const PeerTargetRef& t);
  // The hop failed a call; true when this made it down.
  bool Failed(const PeerTargetRef& t);

  // Down hops whose next probe is due at `now_ms`; each is marked in flight
  // until ProbeDone.
  std::vector<PeerTargetRef> ProbesDue(int64_t now_ms);
  // A probe's final answer `code`, or its failure (no answer: code 0);
  // true when the hop is up again.
  bool ProbeDone(const PeerTargetRef& t, int code);

  const PeerConfig& peer(uint32_t i) const { return peers_[i]; }
  const PeerTargetConfig& target(const PeerTargetRef& t) const {
    return peers_[t.peer].targets[t.target];
  }
  const PeerTargetState& state(const PeerTargetRef& t) const { return state_[t.peer][t.target]; }
  size_t size() const { return peers_.size(); }

  // Our registration with peer `p`; nullptr when it wants none.
  PeerRegistration* registration(uint32_t p) {
    return registrations_[p] ? &*registrations_[p] : nullptr;
  }

  // For `rtplatchctl peers`: each peer with its targets and their hops,
  // and its registration at `now_ms`.
  nlohmann::json ToJson(int64_t now_ms = 0) const;

 private:
  PeerHopHealth* MutableHop(const PeerTargetRef& t);
  // Peer `p`'s targets that are not retired, in RFC 2782 order.
  std::vector<uint32_t> OrderedTargets(uint32_t p);
  std::vector<PeerTargetRef> HopsInOrder(const std::vector<uint32_t>& peers);
  void AddPeer(PeerConfig peer);
  // Kept peer `p` takes `fresh`'s settings; its targets are merged by URI.
  void UpdatePeer(uint32_t p, PeerConfig fresh, int64_t now_ms);
  // Peer `p`'s config with the targets that are not retired (what a
  // reload's config is compared with).
  PeerConfig LiveConfig(uint32_t p) const;
  // The peers not retired, by name.
  absl::flat_hash_map<std::string, uint32_t> ActiveByName() const;

  std::vector<PeerConfig> peers_;
  std::vector<std::vector<PeerTargetState>> state_;
  std::vector<std::optional<PeerRegistration>> registrations_;
  std::vector<bool> retired_;
  std::function<uint64_t(uint64_t)> uniform_;
};

}  // namespace rtplatch
