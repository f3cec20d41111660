// The dataplane process's parts wired together: flow table, registry,
// lcore contexts, ports, control server. main.cc launches it; the DPDK
// tests build one on ring ports and step it on the main thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "absl/status/statusor.h"
#include "common/control_server.h"
#include "common/metrics_http_server.h"
#include "dataplane/control/control_commands.h"
#include "dataplane/control/dataplane_config.h"
#include "dataplane/keepalive/keepalive_registry.h"
#include "dataplane/keepalive/keepalive_scheduler.h"
#include "dataplane/dpdk/lcore_loop.h"
#include "dataplane/dpdk/telemetry_commands.h"
#include "dataplane/fastpath/neighbor_table.h"
#include "dataplane/control/stream_registry.h"
#include "dataplane/dpdk/tsc_clock.h"

namespace rtplatch {

class Dataplane {
 public:
  // Sets up ports and per-lcore state for `lcore_ids` (forwarding lcores,
  // in order: lcore index i runs queue i). EAL must be initialised.
  static absl::StatusOr<std::unique_ptr<Dataplane>> Create(DataplaneConfig config,
                                                           std::vector<uint32_t> lcore_ids);
  ~Dataplane();

  // Opens the control socket (config.control_socket) and, when
  // configured, /metrics (config.metrics_listen).
  absl::Status ListenControl();
  // Starts the forwarding lcores on their cores (rte_eal_remote_launch).
  absl::Status LaunchLcores();
  // Main-thread duties for up to `timeout_ms`: control socket, events,
  // idle scan. Call in a loop until Stop().
  void ServiceControl(int timeout_ms);
  void Stop();
  bool stopping() const { return quit_.load(); }

  // For tests: the request handler, the lcores, the time source.
  std::string HandleRequest(absl::string_view line);
  LcoreContext& lcore(size_t index) { return *lcores_[index]; }
  size_t lcore_count() const { return lcores_.size(); }
  const TscClock& clock() const { return clock_; }
  NeighborTable& neighbors() { return neighbors_; }
  // Drains events and, every 50 ms, runs an idle scan; returns the event lines.
  std::vector<std::string> DrainEventLines();

 private:
  Dataplane(DataplaneConfig config, std::unique_ptr<FlowTable> table);
  absl::Status SetUpLcores(const std::vector<uint32_t>& lcore_ids);
  // Lcore `index`'s mbuf pool (on its socket) and, with several lcores, its
  // hand-off ring.
  absl::Status CreateLcoreMemory(uint32_t instance, uint32_t index, uint32_t lcore_id,
                                 bool handoff);
  std::unique_ptr<LcoreContext> MakeLcoreContext(uint32_t index, uint32_t lcore_id,
                                                 uint32_t lcore_count,
                                                 const uint8_t relay_mac[6]);
  void RelayMac(uint8_t out[6]) const;
  absl::StatusOr<int> ExceptionInterface() const;
  absl::Status StartPorts();
  DataplaneStats CollectStats() const;

  const DataplaneConfig config_;
  TscClock clock_;
  std::unique_ptr<FlowTable> table_;
  NeighborTable neighbors_;
  std::vector<std::unique_ptr<SpscRing<FlowCommand>>> command_rings_;
  std::vector<std::unique_ptr<SpscRing<DataplaneEvent>>> event_rings_;
  std::vector<SpscRing<DataplaneEvent>*> event_ring_ptrs_;
  std::vector<std::unique_ptr<SpscRing<KeepaliveCommand>>> keepalive_rings_;
  std::vector<std::unique_ptr<KeepaliveScheduler>> keepalive_schedulers_;
  std::unique_ptr<KeepaliveRegistry> keepalives_;
  std::vector<rte_ring*> handoff_rings_;
  std::vector<rte_mempool*> pools_;
  std::vector<std::unique_ptr<LcoreContext>> lcores_;
  std::unique_ptr<StreamRegistry> registry_;
  std::unique_ptr<KernelAddresses> kernel_addresses_;
  std::unique_ptr<ControlCommands> commands_;
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<MetricsHttpServer> metrics_;  // null without metrics_listen
  // DPDK telemetry's /rtplatch/* commands, answered from a snapshot the
  // main lcore publishes every kTelemetryIntervalNs.
  static constexpr uint64_t kTelemetryIntervalNs = 100'000'000;
  std::unique_ptr<TelemetryCommands> telemetry_;
  uint64_t last_telemetry_ns_ = 0;
  std::atomic<bool> quit_{false};
  bool launched_ = false;
  uint64_t last_idle_scan_ns_ = 0;
};

}  // namespace rtplatch
