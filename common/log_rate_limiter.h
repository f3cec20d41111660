// Rate limiting of repeated log messages, per source: a source is one
// place in the code that logs, together with a key (a peer's address, a
// peer's name; "" when the place has one source). Each source may log
// `burst` messages per `window_ms`; what it logs beyond that is counted,
// not written, and the count is told with its next message or, when none
// comes, once its window is over (TakeExpired). A flood from many keys
// cannot grow the table past `max_sources`: beyond it, new sources of a
// place share one overflow entry.
//
// Not thread-safe: the Logger serialises calls. Time comes in as an
// argument (tests drive it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

struct LogRateLimits {
  int64_t window_ms = 30'000;
  uint32_t burst = 5;
  size_t max_sources = 1024;
};

class LogRateLimiter {
 public:
  explicit LogRateLimiter(LogRateLimits limits = {}) : limits_(limits) {}

  struct Verdict {
    bool write = false;
    // Written: how many of this source's messages were held back before it.
    uint64_t suppressed_before = 0;
  };
  // `place`: the logging place (its format string's address will do);
  // `format`: shown in the summary of what was suppressed.
  Verdict Admit(const void* place, absl::string_view key, const char* format, int64_t now_ms);

  struct Suppressed {
    std::string key;
    const char* format = nullptr;
    uint64_t count = 0;
  };
  // Sources whose window ended with messages held back, and how many;
  // their counts start again from zero.
  std::vector<Suppressed> TakeExpired(int64_t now_ms);

  size_t sources() const { return sources_.size(); }
  uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  // Keyed by (place, key).
  struct Source {
    const char* format = nullptr;
    int64_t window_start_ms = 0;
    uint32_t written_in_window = 0;
    uint64_t suppressed = 0;
  };
  // Makes room by dropping sources whose window is over with nothing held.
  void Prune(int64_t now_ms);

  static constexpr int64_t kPruneEveryMs = 1000;

  LogRateLimits limits_;
  int64_t last_prune_ms_ = INT64_MIN / 2;
  absl::flat_hash_map<std::pair<const void*, std::string>, Source> sources_;
  uint64_t suppressed_total_ = 0;
};

}  // namespace rtplatch
