#include "control/guard/auth_failure_limiter.h"

namespace rtplatch {

template <typename Map, typename Key>
uint32_t AuthFailureLimiter::Add(Map& map, const Key& key, int64_t now_ms) {
  auto it = map.find(key);
  if (it == map.end()) {
    if (by_source_.size() + by_user_.size() >= limits_.max_entries) return 1;
    it = map.emplace(key, Count{now_ms, 0}).first;
  }
  Count& c = it->second;
  if (now_ms - c.window_start_ms >= limits_.window_ms) c = Count{now_ms, 0};
  return ++c.failures;
}

bool AuthFailureLimiter::Failed(const IpAddress& source, absl::string_view user,
                                int64_t now_ms) {
  const uint32_t from_source = Add(by_source_, source, now_ms);
  const uint32_t for_user = Add(by_user_, std::string(user), now_ms);
  return from_source >= limits_.per_source || for_user >= limits_.per_user;
}

size_t AuthFailureLimiter::Sweep(int64_t now_ms) {
  auto ended = [this, now_ms](const auto& kv) {
    return now_ms - kv.second.window_start_ms >= limits_.window_ms;
  };
  return absl::erase_if(by_source_, ended) + absl::erase_if(by_user_, ended);
}

}  // namespace rtplatch
