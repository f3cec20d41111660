#include "dataplane/dpdk/telemetry_commands.h"

#include <rte_telemetry.h>

#include <atomic>
#include <string>
#include <utility>

#include "common/drop_reason.h"

namespace rtplatch {
namespace {

std::atomic<TelemetryCommands*> current{nullptr};

// A command's reply when the dataplane is gone or not yet up.
int Unavailable(rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "error", "dataplane not running");
  return 0;
}

template <void (TelemetryCommands::*Body)(rte_tel_data*) const>
int Command(const char* /*cmd*/, const char* /*params*/, rte_tel_data* d) {
  const TelemetryCommands* t = current.load(std::memory_order_acquire);
  if (t == nullptr) return Unavailable(d);
  (t->*Body)(d);
  return 0;
}

uint64_t Dropped(const LcoreCounters& c) {
  uint64_t n = 0;
  for (uint64_t v : c.drops) n += v;
  return n;
}

// busy / (busy + idle) in percent, 0 before any cycle is counted.
uint64_t BusyPercent(const LcoreCounters& c) {
  const uint64_t all = c.busy_cycles + c.idle_cycles;
  return all == 0 ? 0 : c.busy_cycles * 100 / all;
}

void AddCounters(rte_tel_data* d, const LcoreCounters& c, size_t keepalive_targets) {
  rte_tel_data_add_dict_u64(d, "rx", c.rx);
  rte_tel_data_add_dict_u64(d, "rx_bytes", c.rx_bytes);
  rte_tel_data_add_dict_u64(d, "relayed", c.relayed);
  rte_tel_data_add_dict_u64(d, "held", c.held);
  rte_tel_data_add_dict_u64(d, "handoff", c.handoff);
  rte_tel_data_add_dict_u64(d, "exception_in", c.exception_in);
  rte_tel_data_add_dict_u64(d, "dropped", Dropped(c));
  rte_tel_data_add_dict_u64(d, "keepalives_sent", c.keepalives_sent);
  rte_tel_data_add_dict_u64(d, "keepalive_targets", keepalive_targets);
  rte_tel_data_add_dict_u64(d, "busy_percent", BusyPercent(c));
}

}  // namespace

TelemetryCommands::TelemetryCommands() {
  // DPDK refuses a second registration of a name; the first one's
  // callbacks read whichever instance is current.
  static const bool registered = [] {
    rte_telemetry_register_cmd("/rtplatch/stats", &Command<&TelemetryCommands::Stats>,
                               "rtplatch dataplane totals. No parameters");
    rte_telemetry_register_cmd("/rtplatch/lcores", &Command<&TelemetryCommands::Lcores>,
                               "rtplatch counters per forwarding lcore. No parameters");
    rte_telemetry_register_cmd("/rtplatch/drops", &Command<&TelemetryCommands::Drops>,
                               "rtplatch drops by reason. No parameters");
    rte_telemetry_register_cmd("/rtplatch/streams", &Command<&TelemetryCommands::Streams>,
                               "rtplatch streams by latch state, free ports. No parameters");
    return true;
  }();
  (void)registered;
  current.store(this, std::memory_order_release);
}

TelemetryCommands::~TelemetryCommands() {
  TelemetryCommands* self = this;
  current.compare_exchange_strong(self, nullptr, std::memory_order_acq_rel);
  // A command already running holds mu_: wait it out before going away.
  std::lock_guard<std::mutex> lock(mu_);
}

void TelemetryCommands::Publish(TelemetrySnapshot snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snapshot);
}

void TelemetryCommands::Stats(rte_tel_data* d) const {
  std::lock_guard<std::mutex> lock(mu_);
  LcoreCounters total;
  size_t targets = 0;
  for (const LcoreStats& l : snapshot_.stats.lcores) {
    total.Accumulate(l.counters);
    targets += l.keepalives;
  }
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "lcores", snapshot_.stats.lcores.size());
  AddCounters(d, total, targets);
  rte_tel_data_add_dict_u64(d, "stream_pairs", snapshot_.stream_pairs);
}

void TelemetryCommands::Lcores(rte_tel_data* d) const {
  std::lock_guard<std::mutex> lock(mu_);
  rte_tel_data_start_dict(d);
  for (const LcoreStats& l : snapshot_.stats.lcores) {
    rte_tel_data* one = rte_tel_data_alloc();
    if (one == nullptr) continue;
    rte_tel_data_start_dict(one);
    AddCounters(one, l.counters, l.keepalives);
    const std::string name = "lcore_" + std::to_string(l.lcore_id);
    rte_tel_data_add_dict_container(d, name.c_str(), one, 0);  // DPDK frees `one`
  }
}

void TelemetryCommands::Drops(rte_tel_data* d) const {
  std::lock_guard<std::mutex> lock(mu_);
  LcoreCounters total;
  for (const LcoreStats& l : snapshot_.stats.lcores) total.Accumulate(l.counters);
  rte_tel_data_start_dict(d);
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    const std::string name(kDropReasonNames[r]);
    rte_tel_data_add_dict_u64(d, name.c_str(), total.drops[r]);
  }
}

void TelemetryCommands::Streams(rte_tel_data* d) const {
  std::lock_guard<std::mutex> lock(mu_);
  rte_tel_data_start_dict(d);
  for (LatchState s : {LatchState::kUnlatched, LatchState::kLearning, LatchState::kLocked}) {
    const std::string name(LatchStateName(s));
    rte_tel_data_add_dict_u64(d, name.c_str(), snapshot_.streams_by_state[static_cast<size_t>(s)]);
  }
  rte_tel_data_add_dict_u64(d, "pairs", snapshot_.stream_pairs);
  rte_tel_data_add_dict_u64(d, "free_port_pairs_v4", snapshot_.free_port_pairs_v4);
  rte_tel_data_add_dict_u64(d, "free_port_pairs_v6", snapshot_.free_port_pairs_v6);
}

}  // namespace rtplatch
