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

// What the proxy routes by: a node's SIP address while it is up, whether
// a source is a node, and which node takes new calls from a busy one.
TEST(ClusterNodesTest, NewCallsGoToTheUpUndrainedNodeWithTheFewestCallsForItsWeight) {
  ClusterNodes nodes;
  EXPECT_EQ(nodes.LeastLoaded(1000), std::nullopt) << "nobody heard";
  auto beat = [](const char* sip, uint64_t calls, uint32_t weight, bool drained) {
    return NodeHeartbeat{.sip = sip, .calls = calls, .weight = weight, .drained = drained}.Encode();
  };
  ASSERT_TRUE(nodes.Heard("edge-a", beat("203.0.113.61:5060", 300, 100, false), 1000));
  ASSERT_TRUE(nodes.Heard("edge-b", beat("203.0.113.62:5060", 500, 200, false), 1000));
  ASSERT_TRUE(nodes.Heard("edge-c", beat("203.0.113.63:5060", 0, 100, true), 1000));
  ASSERT_TRUE(nodes.Heard("edge-d", beat("203.0.113.64:5060", 0, 0, false), 1000));
  ASSERT_TRUE(nodes.Heard("edge-e", beat("not an address", 0, 100, false), 1000));
  // b: 2.5 calls a weight unit, a: 3; c is drained, d has weight 0, e no address.
  EXPECT_EQ(nodes.LeastLoaded(1000), Endpoint::Parse("203.0.113.62:5060").value());
  ASSERT_TRUE(nodes.Heard("edge-a", beat("203.0.113.61:5060", 300, 100, false), 2500));
  EXPECT_EQ(nodes.LeastLoaded(1000 + ClusterNodes::kDownAfterMs), Endpoint::Parse("203.0.113.61:5060").value())
      << "b is down";
  EXPECT_EQ(nodes.SipOf("edge-a", 2500), Endpoint::Parse("203.0.113.61:5060").value());
  EXPECT_EQ(nodes.SipOf("edge-b", 1000 + ClusterNodes::kDownAfterMs), std::nullopt) << "down";
  EXPECT_EQ(nodes.SipOf("edge-e", 1000), std::nullopt) << "no address";
  EXPECT_EQ(nodes.SipOf("edge-x", 1000), std::nullopt) << "never heard";
  EXPECT_TRUE(nodes.IsNodeAddress(IpAddress::Parse("203.0.113.62").value())) << "down, still a node";
  EXPECT_FALSE(nodes.IsNodeAddress(IpAddress::Parse("203.0.113.30").value()));
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
