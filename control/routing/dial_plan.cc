#include "control/routing/dial_plan.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace rtplatch {

DialPlan::DialPlan(const std::vector<RouteConfig>& routes) : routes_(routes) {
  for (size_t i = 0; i < routes_.size(); ++i) {
    const RouteConfig& r = routes_[i];
    if (r.is_default) {
      default_ = i;
    } else if (!r.prefix.empty()) {
      by_prefix_.emplace(r.prefix, i);
      max_prefix_ = std::max(max_prefix_, r.prefix.size());
    } else {
      by_domain_.emplace(absl::AsciiStrToLower(r.domain), i);
    }
  }
}

const RouteConfig* DialPlan::Match(absl::string_view user, absl::string_view host,
                                   bool host_is_ours) const {
  if (!host_is_ours) {
    auto it = by_domain_.find(absl::AsciiStrToLower(host));
    if (it != by_domain_.end()) return &routes_[it->second];
  } else {
    for (size_t len = std::min(user.size(), max_prefix_); len > 0; --len) {
      auto it = by_prefix_.find(user.substr(0, len));
      if (it != by_prefix_.end()) return &routes_[it->second];
    }
  }
  return default_ ? &routes_[*default_] : nullptr;
}

}  // namespace rtplatch
