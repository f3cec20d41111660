#include "dataplane/control/dataplane_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dataplane/fastpath/flow_table.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

TEST(DataplaneMetricsTest, PerLcoreCountersAndDropsByReason) {
  auto addresses = RelayAddresses::Create({*IpAddress::Parse("203.0.113.10")});
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  auto table = FlowTable::Create(std::move(*addresses), 20000, 20015);
  ASSERT_TRUE(table.ok()) << table.status();
  SpscRing<FlowCommand> ring(16);
  StreamRegistry registry(**table, {&ring}, LatchPolicy::kLearn, [] {});

  DataplaneStats stats;
  stats.tsc_hz = 1'000'000'000;
  LcoreStats l1{.lcore_id = 1, .counters = {}, .keepalives = 3};
  l1.counters.rx = 10;
  l1.counters.relayed = 8;
  l1.counters.held = 1;
  l1.counters.busy_cycles = 500'000'000;
  l1.counters.Drop(DropReason::kNotRtp, 2);
  LcoreStats l2{.lcore_id = 2, .counters = {}, .keepalives = 0};
  l2.counters.rx = 5;
  stats.lcores = {l1, l2};
  const std::string page = RenderDataplaneMetrics(stats, registry);
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_rx_packets_total{lcore=\"1\"} 10\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_rx_packets_total{lcore=\"2\"} 5\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_relayed_packets_total{lcore=\"1\"} 8\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_held_packets_total{lcore=\"1\"} 1\n"));
  EXPECT_THAT(page,
              HasSubstr("rtplatch_dataplane_dropped_packets_total{lcore=\"1\",reason=\"not_rtp\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_busy_seconds_total{lcore=\"1\"} 0.5\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_keepalive_targets{lcore=\"1\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_streams{state=\"locked\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_free_port_pairs{family=\"ipv4\"} "));
  EXPECT_THAT(page, HasSubstr("# TYPE rtplatch_dataplane_dropped_packets_total counter\n"));
}

}  // namespace
}  // namespace rtplatch
