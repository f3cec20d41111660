#include "control/guard/request_rate_limiter.h"

#include <algorithm>

#include "absl/strings/match.h"

namespace rtplatch {

absl::string_view SipRequestClassName(SipRequestClass c) {
  switch (c) {
    case SipRequestClass::kRegister:
      return "REGISTER";
    case SipRequestClass::kInvite:
      return "INVITE";
    case SipRequestClass::kOther:
      break;
  }
  return "other";
}

SipRequestClass ClassifySipBytes(absl::string_view bytes) {
  // Methods are case-sensitive (RFC 3261 7.1) and followed by one SP.
  if (absl::StartsWith(bytes, "REGISTER ")) return SipRequestClass::kRegister;
  if (absl::StartsWith(bytes, "INVITE ")) return SipRequestClass::kInvite;
  return SipRequestClass::kOther;
}

namespace {

RequestRateLimits AtLeastOneMs(RequestRateLimits limits) {
  limits.window_ms = std::max<int64_t>(limits.window_ms, 1);
  return limits;
}

}  // namespace

RequestRateLimiter::RequestRateLimiter(RequestRateLimits limits)
    : limits_(AtLeastOneMs(limits)) {}

void RequestRateLimiter::Roll(Counts& c, int64_t now_ms) const {
  const int64_t w = limits_.window_ms;
  const int64_t windows = (now_ms - c.window_start_ms) / w;
  if (windows <= 0) return;
  c.previous = windows == 1 ? c.current : decltype(c.previous){};
  c.current = {};
  c.window_start_ms += windows * w;
}

double RequestRateLimiter::EstimateOf(const Counts& c, size_t cls, int64_t now_ms) const {
  const double w = static_cast<double>(limits_.window_ms);
  const double into = std::clamp(static_cast<double>(now_ms - c.window_start_ms), 0.0, w);
  return c.current[cls] + c.previous[cls] * (w - into) / w;
}

bool RequestRateLimiter::Admit(const IpAddress& source, SipRequestClass c, int64_t now_ms) {
  const size_t cls = static_cast<size_t>(c);
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= limits_.max_sources) {
      ++untracked_;
      return true;
    }
    it = sources_.emplace(source, Counts{now_ms, {}, {}}).first;
  }
  Counts& counts = it->second;
  Roll(counts, now_ms);
  if (EstimateOf(counts, cls, now_ms) + 1 > limits_.per_window[cls]) return false;
  ++counts.current[cls];
  return true;
}

double RequestRateLimiter::Estimate(const IpAddress& source, SipRequestClass c,
                                    int64_t now_ms) const {
  auto it = sources_.find(source);
  if (it == sources_.end()) return 0;
  Counts counts = it->second;
  Roll(counts, now_ms);
  return EstimateOf(counts, static_cast<size_t>(c), now_ms);
}

size_t RequestRateLimiter::Sweep(int64_t now_ms) {
  const int64_t quiet_ms = 2 * limits_.window_ms;
  return absl::erase_if(sources_, [now_ms, quiet_ms](const auto& kv) {
    return now_ms - kv.second.window_start_ms >= quiet_ms;
  });
}

}  // namespace rtplatch
