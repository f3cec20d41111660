// The clocks of the bench's load generators (tls_register_load,
// udp_register_storm): monotonic time for timers and pacing, and the
// process's own CPU time, which each reports next to its wall time.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <cstdint>

namespace rtplatch::bench {

inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace rtplatch::bench
