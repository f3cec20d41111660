// The dataplane's commands in DPDK telemetry, next to ethdev's, so
// `dpdk-telemetry.py` (or any telemetry client) shows them:
//   /rtplatch/stats    totals: rx, relayed, held, dropped, keepalives, busy %
//   /rtplatch/lcores   the same per forwarding lcore
//   /rtplatch/drops    drops by reason, summed over the lcores
//   /rtplatch/streams  streams by latch state, pairs, free relay ports
//
// DPDK calls the commands on its telemetry thread, while the main lcore
// owns the registry: the main lcore publishes a snapshot (Publish, from
// its service loop, at most every 100 ms) and the commands read that, under
// a mutex neither the forwarding lcores nor the packets ever touch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "dataplane/control/control_commands.h"
#include "dataplane/fastpath/flow.h"

struct rte_tel_data;

namespace rtplatch {

struct TelemetrySnapshot {
  DataplaneStats stats;
  std::array<size_t, kLatchStateCount> streams_by_state{};
  size_t stream_pairs = 0;
  size_t free_port_pairs_v4 = 0;
  size_t free_port_pairs_v6 = 0;
};

class TelemetryCommands {
 public:
  // Registers the commands (once per process: DPDK keeps them until
  // exit); the latest instance answers them, none after it is destroyed.
  TelemetryCommands();
  ~TelemetryCommands();
  TelemetryCommands(const TelemetryCommands&) = delete;
  TelemetryCommands& operator=(const TelemetryCommands&) = delete;

  void Publish(TelemetrySnapshot snapshot);

  // The commands' bodies (public for the callbacks DPDK calls, and tests).
  void Stats(rte_tel_data* d) const;
  void Lcores(rte_tel_data* d) const;
  void Drops(rte_tel_data* d) const;
  void Streams(rte_tel_data* d) const;

 private:
  mutable std::mutex mu_;
  TelemetrySnapshot snapshot_;
};

}  // namespace rtplatch
