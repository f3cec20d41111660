// Failed digest attempts (a wrong password, an unknown user: the two look
// the same from outside), counted per source and per user name over a
// window, as fail2ban does around Kamailio's log. Once either count
// reaches its limit the caller answers 403 and bans the source: a guesser
// behind one address stops at once, and one spread over many addresses
// stops getting answers for the user it targets.
//
// Bounded like the rate limiter: counts older than a window are forgotten
// by Sweep; when max_entries are held, a new key is not tracked (its
// failures still reach the other count).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace rtplatch {

struct AuthFailureLimits {
  uint32_t per_source = 10;
  uint32_t per_user = 20;
  int64_t window_ms = 60'000;
  size_t max_entries = 262144;
};

class AuthFailureLimiter {
 public:
  explicit AuthFailureLimiter(AuthFailureLimits limits) : limits_(limits) {}

  // Counts one failure of `user` from `source`; true when the source's or
  // the user's count has reached its limit.
  bool Failed(const IpAddress& source, absl::string_view user, int64_t now_ms);
  // Forgets counts whose window has ended; returns how many.
  size_t Sweep(int64_t now_ms);

  const AuthFailureLimits& limits() const { return limits_; }
  size_t tracked() const { return by_source_.size() + by_user_.size(); }

 private:
  struct Count {
    int64_t window_start_ms = 0;
    uint32_t failures = 0;
  };
  template <typename Map, typename Key>
  uint32_t Add(Map& map, const Key& key, int64_t now_ms);

  const AuthFailureLimits limits_;
  absl::flat_hash_map<IpAddress, Count> by_source_;
  absl::flat_hash_map<std::string, Count> by_user_;
};

}  // namespace rtplatch
