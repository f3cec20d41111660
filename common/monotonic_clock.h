// Milliseconds on CLOCK_MONOTONIC: for timeouts and retry intervals that
// must not jump with the wall clock.
#pragma once

#include <time.h>

#include <cstdint>

namespace rtplatch {

inline int64_t MonotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace rtplatch
