// Nanoseconds from the TSC, for the fast path and the control thread alike
// (both must agree: idle and latch times are compared across them).
#pragma once

#include <cstdint>

#include <rte_cycles.h>

namespace rtplatch {

class TscClock {
 public:
  TscClock() : hz_(rte_get_tsc_hz()), start_(rte_get_tsc_cycles()) {
    // ns = cycles * mult >> 32; exact enough for ms-scale windows.
    mult_ = static_cast<uint64_t>((1'000'000'000.0 * 4294967296.0) / static_cast<double>(hz_));
  }
  uint64_t hz() const { return hz_; }
  uint64_t ToNs(uint64_t tsc) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(tsc - start_) * mult_) >> 32);
  }
  uint64_t NowNs() const { return ToNs(rte_get_tsc_cycles()); }

 private:
  uint64_t hz_;
  uint64_t start_;
  uint64_t mult_;
};

}  // namespace rtplatch
