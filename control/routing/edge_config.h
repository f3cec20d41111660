// The carrier edge's configuration: named SIP peers (trunks, softswitches,
// other carriers) and the dial plan that routes calls to them. Parsed from
// the control config's "peers" and "routes" (docs/control-plane.md):
//
//   "peers": [
//     {"name": "core",
//      "targets": [{"uri": "sip:carrier.example", "priority": 1, "weight": 10},
//                  {"uri": "sip:203.0.113.41:5060", "priority": 2}],
//      "trusted_sources": ["203.0.113.40", "203.0.113.41/32"],   (default: the
//                                                targets' addresses; required
//                                                when a target is a host name,
//                                                unless trusted_tls_names)
//      "trusted_tls_names": ["core.carrier.example"],  (verified client
//                                                certificates that are the peer)
//      "media": "always" | "nat",                (default "always")
//      "answer_timeout_ms": 3000,                (no response at all: next target)
//      "failures_to_down": 3, "probe_interval_s": 10,
//      "auth": {"username": "edge", "password": "..."},  (for its challenges)
//      "register": {"aor": "sip:edge@carrier.example", "expires": 600,
//                   "contact_user": "edge"}}   (a trunk that wants REGISTER)
//   ],
//   "routes": [
//     {"prefix": "+44", "peers": ["core"]},
//     {"domain": "carrier.example", "peers": ["core"]},
//     {"default": true, "peers": ["core", "backup"]}
//   ]
//
// Every error names the field ("config: peers[0].targets[1].uri: ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "control/nat/inside_prefixes.h"
#include "control/routing/peer_registration.h"
#include "control/sip/sip_uri.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

struct PeerTargetConfig {
  std::string uri;  // as configured, for logs and `cctl peers`
  UriParts parts;
  // The URI's host when it is an address; nullopt: a host name, located by
  // DNS (RFC 3263: NAPTR, SRV, A/AAAA; control/dns/sip_locator.h).
  std::optional<IpAddress> ip;
  // RFC 2782's meaning: lower priority first; within one priority, a
  // higher weight is chosen proportionally more often.
  uint16_t priority = 1;
  uint16_t weight = 1;
  friend bool operator==(const PeerTargetConfig&, const PeerTargetConfig&) = default;
};

// Relay the media of calls with this peer always, or only where a leg is
// NAT'd or the two legs' address families differ.
enum class PeerMedia : uint8_t { kAlways, kNat };

struct PeerConfig {
  std::string name;
  std::vector<PeerTargetConfig> targets;
  // Requests from these sources are this peer's: trusted, never
  // challenged. Default: the targets' addresses (those given as addresses
  // when the peer has trusted_tls_names).
  std::vector<IpPrefix> trusted_sources;
  // ... or over TLS with a verified client certificate naming one of
  // these (subjectAltName DNS, else CN; lower case).
  std::vector<std::string> trusted_tls_names;
  PeerMedia media = PeerMedia::kAlways;
  // An INVITE a target has not answered at all (not even 100) after this
  // long goes to the next target.
  uint32_t answer_timeout_ms = 3000;
  // A target that failed this many calls in a row is down: tried only
  // after the ones that are up, and probed with OPTIONS until it answers.
  uint32_t failures_to_down = 3;
  uint32_t probe_interval_s = 10;
  // Digest credentials for a peer that challenges our requests (401/407);
  // empty: its challenges go back to the caller.
  std::string auth_username;
  std::string auth_password;
  // We register with the peer (a trunk that wants REGISTER); its calls to
  // our Contact are for the local user in their To header.
  PeerRegistrationConfig registration;
  friend bool operator==(const PeerConfig&, const PeerConfig&) = default;
};

struct RouteConfig {
  // Exactly one of: a Request-URI user prefix, a Request-URI domain, or
  // the default route.
  std::string prefix;
  std::string domain;  // lower case
  bool is_default = false;
  std::vector<std::string> peers;  // tried in this order
};

struct EdgeConfig {
  std::vector<PeerConfig> peers;
  std::vector<RouteConfig> routes;
};

// `peers` and `routes` as the config has them (null: not given). Routes
// must name configured peers; names, prefixes and domains are unique.
absl::StatusOr<EdgeConfig> ParseEdgeConfig(const nlohmann::json& peers,
                                           const nlohmann::json& routes);

}  // namespace rtplatch
