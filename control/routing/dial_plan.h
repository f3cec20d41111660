// The dial plan: which peers a call to a non-local target goes to, chosen
// from its Request-URI (edge_config.h's routes).
//
//   Request-URI host is one of ours:   the longest user-part prefix route,
//                                      else the default route
//   any other host:                    its domain's route, else the default
//                                      route
//
// Lookups cost one hash probe per character of the user part.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "control/routing/edge_config.h"

namespace rtplatch {

class DialPlan {
 public:
  DialPlan() = default;
  explicit DialPlan(const std::vector<RouteConfig>& routes);

  // nullptr when no route matches. `host_is_ours`: the Request-URI's host
  // is our domain or one of our addresses.
  const RouteConfig* Match(absl::string_view user, absl::string_view host,
                           bool host_is_ours) const;

  bool empty() const { return routes_.empty(); }

 private:
  std::vector<RouteConfig> routes_;
  absl::flat_hash_map<std::string, size_t> by_prefix_;
  absl::flat_hash_map<std::string, size_t> by_domain_;  // lower case
  size_t max_prefix_ = 0;
  std::optional<size_t> default_;
};

}  // namespace rtplatch
