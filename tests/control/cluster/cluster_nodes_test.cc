#include "control/cluster/cluster_nodes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

TEST(ClusterNodesTest, ANodeIsUpUntilThreeHeartbeatsAreMissed) {
  ClusterNodes nodes;
  const NodeHeartbeat a{.sip = "203.0.113.61:5060", .calls = 12, .weight = 100, .drained = false};
  ASSERT_TRUE(nodes.Heard("edge-a", a.Encode(), 1000));
  EXPECT_TRUE(nodes.Up("edge-a", 1000 + ClusterNodes::kDownAfterMs - 1));
  EXPECT_FALSE(nodes.Up("edge-a", 1000 + ClusterNodes::kDownAfterMs));
  EXPECT_FALSE(nodes.Up("edge-b", 1000)) << "never heard";
  const nlohmann::json listed = nodes.Json(1000 + ClusterNodes::kDownAfterMs);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["state"], "down");
  EXPECT_EQ(listed[0]["sip"], "203.0.113.61:5060");
  EXPECT_EQ(listed[0]["calls"], 12);
  ASSERT_TRUE(nodes.Heard("edge-a", a.Encode(), 5000));
  EXPECT_EQ(nodes.Json(5000)[0]["state"], "up") << "heard again: up again";
}

TEST(ClusterNodesTest, ABadHeartbeatIsCountedAndChangesNothing) {
  ClusterNodes nodes;
  for (const char* bad : {"", "[]", R"({"sip": 1})",
                          R"({"sip": "x", "calls": -1, "weight": 1, "drained": false})",
                          R"({"sip": "x", "calls": 1, "weight": 4294967296, "drained": false})"}) {
    EXPECT_FALSE(nodes.Heard("edge-a", bad, 1000)) << bad;
  }
  EXPECT_EQ(nodes.bad_heartbeats(), 5u);
  EXPECT_TRUE(nodes.Json(1000).empty());
  const NodeHeartbeat drained{.sip = "[2001:db8::61]:5060", .calls = 0, .weight = 7, .drained = true};
  absl::StatusOr<NodeHeartbeat> back = NodeHeartbeat::Decode(drained.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->sip, drained.sip);
  EXPECT_EQ(back->weight, 7u);
  EXPECT_TRUE(back->drained);
}

}  // namespace
}  // namespace rtplatch
