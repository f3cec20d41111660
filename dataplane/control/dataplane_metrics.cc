#include "dataplane/control/dataplane_metrics.h"

#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/drop_reason.h"
#include "common/prometheus_text.h"

namespace rtplatch {
namespace {

// The drop reasons' and latch states' names are std::string_view.
absl::string_view Abseil(std::string_view name) { return {name.data(), name.size()}; }

// One counter family with a sample per lcore.
void PerLcore(PrometheusText& t, const DataplaneStats& stats, const std::vector<std::string>& ids,
              absl::string_view name, absl::string_view help,
              uint64_t (*field)(const LcoreCounters&)) {
  t.Family(name, MetricType::kCounter, help);
  for (size_t i = 0; i < stats.lcores.size(); ++i) {
    t.Sample(static_cast<double>(field(stats.lcores[i].counters)), {{"lcore", ids[i]}});
  }
}

void Cycles(PrometheusText& t, const DataplaneStats& stats, const std::vector<std::string>& ids) {
  // Seconds from TSC cycles: a rate of busy over busy + idle is the
  // lcore's load, whatever the CPU's clock.
  const double hz = stats.tsc_hz != 0 ? static_cast<double>(stats.tsc_hz) : 1.0;
  for (const auto& [name, help, busy] :
       {std::tuple{"rtplatch_dataplane_busy_seconds_total",
                   "Time the lcore's loop spent on packets (TSC).", true},
        std::tuple{"rtplatch_dataplane_idle_seconds_total",
                   "Time the lcore's loop polled and found nothing (TSC).", false}}) {
    t.Family(name, MetricType::kCounter, help);
    for (size_t i = 0; i < stats.lcores.size(); ++i) {
      const LcoreCounters& c = stats.lcores[i].counters;
      t.Sample(static_cast<double>(busy ? c.busy_cycles : c.idle_cycles) / hz,
               {{"lcore", ids[i]}});
    }
  }
}

}  // namespace

std::string RenderDataplaneMetrics(const DataplaneStats& stats, const StreamRegistry& registry) {
  PrometheusText t;
  std::vector<std::string> ids;
  for (const LcoreStats& l : stats.lcores) ids.push_back(absl::StrCat(l.lcore_id));
  PerLcore(t, stats, ids, "rtplatch_dataplane_rx_packets_total",
           "Packets received on the media port.", [](const LcoreCounters& c) { return c.rx; });
  PerLcore(t, stats, ids, "rtplatch_dataplane_rx_bytes_total", "Bytes received on the media port.",
           [](const LcoreCounters& c) { return c.rx_bytes; });
  PerLcore(t, stats, ids, "rtplatch_dataplane_relayed_packets_total",
           "RTP and RTCP packets relayed to the partner.",
           [](const LcoreCounters& c) { return c.relayed; });
  PerLcore(t, stats, ids, "rtplatch_dataplane_held_packets_total",
           "Packets kept until their partner's destination was known.",
           [](const LcoreCounters& c) { return c.held; });
  PerLcore(t, stats, ids, "rtplatch_dataplane_handoff_packets_total",
           "Packets passed to the lcore that owns their stream.",
           [](const LcoreCounters& c) { return c.handoff; });
  PerLcore(t, stats, ids, "rtplatch_dataplane_exception_packets_total",
           "Packets not ours, passed to the kernel's interface.",
           [](const LcoreCounters& c) { return c.exception_in; });
  PerLcore(t, stats, ids, "rtplatch_dataplane_keepalives_sent_total",
           "NAT keepalives sent from the NIC.",
           [](const LcoreCounters& c) { return c.keepalives_sent; });
  PerLcore(t, stats, ids, "rtplatch_dataplane_events_lost_total",
           "Latch and neighbor events lost on a full ring.",
           [](const LcoreCounters& c) { return c.events_lost; });
  t.Family("rtplatch_dataplane_dropped_packets_total", MetricType::kCounter,
           "Packets dropped, by reason (common/drop_reason.h).");
  for (size_t i = 0; i < stats.lcores.size(); ++i) {
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      t.Sample(static_cast<double>(stats.lcores[i].counters.drops[r]),
               {{"lcore", ids[i]}, {"reason", Abseil(kDropReasonNames[r])}});
    }
  }
  Cycles(t, stats, ids);
  t.Family("rtplatch_dataplane_keepalive_targets", MetricType::kGauge,
           "NAT keepalive targets armed, by lcore.");
  for (size_t i = 0; i < stats.lcores.size(); ++i) {
    t.Sample(static_cast<double>(stats.lcores[i].keepalives), {{"lcore", ids[i]}});
  }
  t.Family("rtplatch_dataplane_streams", MetricType::kGauge,
           "Streams by latch state, as the last pass of the idle scan found them.");
  for (LatchState s : {LatchState::kUnlatched, LatchState::kLearning, LatchState::kLocked}) {
    t.Sample(static_cast<double>(registry.states_seen()[static_cast<size_t>(s)]),
             {{"state", Abseil(LatchStateName(s))}});
  }
  t.Gauge("rtplatch_dataplane_stream_pairs", "Stream pairs (calls' media lines) allocated.",
          static_cast<double>(registry.pair_count()));
  t.Family("rtplatch_dataplane_free_port_pairs", MetricType::kGauge,
           "Relay port pairs still free, by address family.");
  t.Sample(static_cast<double>(registry.free_port_pairs(false)), {{"family", "ipv4"}});
  t.Sample(static_cast<double>(registry.free_port_pairs(true)), {{"family", "ipv6"}});
  t.Gauge("rtplatch_dataplane_neighbors", "Next hops resolved (ARP and NDP).",
          static_cast<double>(stats.neighbors));
  return t.Take();
}

}  // namespace rtplatch
