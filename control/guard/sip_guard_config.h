// The guard's settings (sip_guard.h) and their JSON form, the "guard"
// object of rtplatch-control's config; every field optional, defaults as
// below, unknown fields refused:
//
//   "guard": {
//     "enabled": true,
//     "window_ms": 2000,           per-source request rates over this window:
//     "register_per_window": 40,
//     "invite_per_window": 20,
//     "other_per_window": 80,      other requests and responses
//     "max_sources": 262144,       sources tracked at once
//     "flood_ban_s": 60,
//     "auth_failures_per_source": 10,   failed digests within auth_window_s
//     "auth_failures_per_user": 20,     before 403 and a ban of the source
//     "auth_window_s": 60,
//     "auth_ban_s": 600,
//     "scanner_user_agents": ["friendly-scanner", ...],  [] drops none
//     "exempt": ["198.51.100.0/24"],    never limited (trusted peers never are)
//     "max_bans": 65536
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/guard/auth_failure_limiter.h"
#include "control/guard/ban_list.h"
#include "control/guard/request_rate_limiter.h"
#include "control/nat/inside_prefixes.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

struct SipGuardConfig {
  bool enabled = true;
  RequestRateLimits rates;
  int64_t flood_ban_ms = 60'000;
  AuthFailureLimits auth;
  int64_t auth_ban_ms = 600'000;
  // Case-insensitive substrings of a request's User-Agent, in lower case;
  // a match is dropped unanswered. Empty: none dropped.
  std::vector<std::string> scanner_user_agents = {
      "friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sipscan",
      "vaxsipuseragent",  "iwar",       "sundayddr", "smap"};
  // Never limited or banned (besides the trusted peers): monitoring, a
  // site whose many phones share one address.
  std::vector<IpPrefix> exempt;
  size_t max_bans = BanList::kDefaultMaxBans;
};

// Errors name the field: "config: guard.window_ms: ...".
absl::StatusOr<SipGuardConfig> ParseSipGuardConfig(const nlohmann::json& j);

}  // namespace rtplatch
