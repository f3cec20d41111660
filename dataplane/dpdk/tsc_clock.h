// Nanoseconds from the TSC, for the fast path and the control thread alike
// (both must agree: idle and latch times are compared across them).
#pragma once

#include <time.h>

#include <cstdint>

#include <rte_cycles.h>

namespace rtplatch {

class TscClock {
 public:
  TscClock() : hz_(CalibrateHz()), start_(rte_get_tsc_cycles()) {
    // ns = cycles * mult >> 32; exact enough for ms-scale windows.
    mult_ = static_cast<uint64_t>((1'000'000'000.0 * 4294967296.0) / static_cast<double>(hz_));
  }
  uint64_t hz() const { return hz_; }
  uint64_t ToNs(uint64_t tsc) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(tsc - start_) * mult_) >> 32);
  }
  uint64_t NowNs() const { return ToNs(rte_get_tsc_cycles()); }

 private:
  // DPDK's figure can be the nominal frequency (on VMs it read 2.600 GHz
  // for a TSC the kernel measured at 2.596): 0.15% slow clocks would eat a
  // sixth of the keepalive accuracy budget. Measure against the kernel's
  // raw monotonic clock instead (startup only; ~50 ms).
  static uint64_t CalibrateHz() {
    constexpr uint64_t kCalibrationNs = 50'000'000;
    auto now_ns = [] {
      timespec ts;
      clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
      return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
    };
    uint64_t t0 = now_ns(), c0 = rte_get_tsc_cycles();
    uint64_t t1;
    do {
      t1 = now_ns();
    } while (t1 - t0 < kCalibrationNs);
    uint64_t c1 = rte_get_tsc_cycles();
    double hz = double(c1 - c0) * 1e9 / double(t1 - t0);
    return hz > 1e6 ? static_cast<uint64_t>(hz) : rte_get_tsc_hz();
  }

  uint64_t hz_;
  uint64_t start_;
  uint64_t mult_;
};

}  // namespace rtplatch
