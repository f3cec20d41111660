// Per-source request rates, as Kamailio's pike module keeps them: what one
// address sends is counted in fixed windows, separately for REGISTER,
// INVITE and everything else (other requests and responses). A source over
// a class's limit is refused; the caller bans it.
//
// The rate over the last window is estimated from two counters: the current
// window's, plus the previous window's weighted by the part of it still
// inside the last window_ms. A burst that straddles a window boundary is
// not forgiven, and a source costs three counters per class, not a log of
// timestamps.
//
// Bounded: a source quiet for two windows is forgotten by Sweep. When
// max_sources are tracked, a new source is let through untracked (counted):
// a flood from that many addresses is beyond what per-source limits stop,
// and refusing unknown sources would lock out every phone instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace rtplatch {

enum class SipRequestClass : uint8_t { kRegister, kInvite, kOther };
inline constexpr size_t kSipRequestClassCount = 3;
absl::string_view SipRequestClassName(SipRequestClass c);  // "REGISTER", "INVITE", "other"

// The class of a raw SIP message, from its first word alone (no parse):
// the method of a request, kOther for a response or anything else.
SipRequestClass ClassifySipBytes(absl::string_view bytes);

struct RequestRateLimits {
  int64_t window_ms = 2000;
  // Per class, in the order of SipRequestClass. Generous for a NAT that
  // hides an office (dozens of phones re-registering after a power cut);
  // operators exempt larger sites (sip_guard.h).
  std::array<uint32_t, kSipRequestClassCount> per_window = {40, 20, 80};
  size_t max_sources = 262144;
};

class RequestRateLimiter {
 public:
  explicit RequestRateLimiter(RequestRateLimits limits);

  // Counts one message; false when it takes `source` over its class's
  // limit (the message is not counted then).
  bool Admit(const IpAddress& source, SipRequestClass c, int64_t now_ms);
  // The estimated count over the last window (tests, reasons).
  double Estimate(const IpAddress& source, SipRequestClass c, int64_t now_ms) const;
  // Forgets sources quiet for two windows; returns how many. Call about
  // once a window.
  size_t Sweep(int64_t now_ms);

  const RequestRateLimits& limits() const { return limits_; }
  size_t tracked() const { return sources_.size(); }
  uint64_t untracked() const { return untracked_; }

 private:
  struct Counts {
    int64_t window_start_ms = 0;
    std::array<uint32_t, kSipRequestClassCount> current{};
    std::array<uint32_t, kSipRequestClassCount> previous{};
  };
  // Moves `c` to the window holding now_ms.
  void Roll(Counts& c, int64_t now_ms) const;
  double EstimateOf(const Counts& c, size_t cls, int64_t now_ms) const;

  const RequestRateLimits limits_;
  absl::flat_hash_map<IpAddress, Counts> sources_;
  uint64_t untracked_ = 0;
};

}  // namespace rtplatch
