#include "common/log_rate_limiter.h"

#include <tuple>
#include <utility>

namespace rtplatch {

namespace {

// The key new sources of a place share once the table is full.
constexpr absl::string_view kOverflowKey = "(other sources)";

}  // namespace

LogRateLimiter::Verdict LogRateLimiter::Admit(const void* place, absl::string_view key,
                                              const char* format, int64_t now_ms) {
  std::pair<const void*, std::string> id(place, std::string(key));
  auto it = sources_.find(id);
  if (it == sources_.end()) {
    if (sources_.size() >= limits_.max_sources) Prune(now_ms);
    if (sources_.size() >= limits_.max_sources) id.second = std::string(kOverflowKey);
    bool inserted = false;
    std::tie(it, inserted) = sources_.try_emplace(std::move(id));
    if (inserted) it->second = Source{format, now_ms};
  }
  Source& s = it->second;
  if (now_ms - s.window_start_ms >= limits_.window_ms) {
    s.window_start_ms = now_ms;
    s.written_in_window = 0;
  }
  if (s.written_in_window >= limits_.burst) {
    ++s.suppressed;
    ++suppressed_total_;
    return Verdict{};
  }
  ++s.written_in_window;
  const Verdict v{true, s.suppressed};
  s.suppressed = 0;
  return v;
}

std::vector<LogRateLimiter::Suppressed> LogRateLimiter::TakeExpired(int64_t now_ms) {
  std::vector<Suppressed> out;
  for (auto& [id, s] : sources_) {
    if (s.suppressed == 0 || now_ms - s.window_start_ms < limits_.window_ms) continue;
    out.push_back(Suppressed{id.second, s.format, s.suppressed});
    s.suppressed = 0;  // told: the source may be pruned
  }
  return out;
}

void LogRateLimiter::Prune(int64_t now_ms) {
  // A full table under a flood of new keys: one pass a second, not one
  // per message.
  if (now_ms - last_prune_ms_ < kPruneEveryMs) return;
  last_prune_ms_ = now_ms;
  absl::erase_if(sources_, [&](const auto& entry) {
    const Source& s = entry.second;
    return s.suppressed == 0 && now_ms - s.window_start_ms >= limits_.window_ms;
  });
}

}  // namespace rtplatch
