// The dial plan (control/routing/dial_plan.h): longest prefix wins for our
// domain, domain routes for foreign hosts, the default route for the rest.
#include "control/routing/dial_plan.h"

#include <gtest/gtest.h>

namespace rtplatch {
namespace {

RouteConfig Prefix(std::string p, std::string peer) {
  RouteConfig r;
  r.prefix = std::move(p);
  r.peers = {std::move(peer)};
  return r;
}

std::string PeerOf(const RouteConfig* r) { return r == nullptr ? "(none)" : r->peers[0]; }

TEST(DialPlanTest, TheLongestPrefixWins) {
  RouteConfig domain;
  domain.domain = "carrier.example";
  domain.peers = {"carrier"};
  const DialPlan plan({Prefix("+4", "europe"), Prefix("+44", "uk"), Prefix("+4420", "london"),
                       Prefix("00", "intl"), Prefix("112", "emergency"), domain});
  EXPECT_EQ(PeerOf(plan.Match("+442071234567", "example.com", true)), "london");
  EXPECT_EQ(PeerOf(plan.Match("+441611234567", "example.com", true)), "uk");
  EXPECT_EQ(PeerOf(plan.Match("+4930123456", "example.com", true)), "europe");
  EXPECT_EQ(PeerOf(plan.Match("0044123", "example.com", true)), "intl");
  EXPECT_EQ(PeerOf(plan.Match("112", "example.com", true)), "emergency");
  EXPECT_EQ(PeerOf(plan.Match("+4", "example.com", true)), "europe");
  EXPECT_EQ(PeerOf(plan.Match("+1555", "example.com", true)), "(none)") << "no default";
  EXPECT_EQ(PeerOf(plan.Match("", "example.com", true)), "(none)");
  // Prefixes are for our own domain's numbers; other hosts go by domain.
  EXPECT_EQ(PeerOf(plan.Match("+442071234567", "other.example", false)), "(none)");
  EXPECT_EQ(PeerOf(plan.Match("bob", "CARRIER.example", false)), "carrier");
}

TEST(DialPlanTest, TheDefaultRouteTakesWhatNothingElseDoes) {
  RouteConfig fallback;
  fallback.is_default = true;
  fallback.peers = {"core"};
  const DialPlan plan({Prefix("+44", "uk"), fallback});
  EXPECT_EQ(PeerOf(plan.Match("+44123", "example.com", true)), "uk");
  EXPECT_EQ(PeerOf(plan.Match("+1555", "example.com", true)), "core");
  EXPECT_EQ(PeerOf(plan.Match("bob", "other.example", false)), "core");
  // A copy still points into its own routes.
  const DialPlan copy = plan;
  EXPECT_EQ(PeerOf(copy.Match("+1555", "example.com", true)), "core");
}

TEST(DialPlanTest, AnEmptyPlanRoutesNothing) {
  const DialPlan plan;
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.Match("+44", "example.com", true), nullptr);
}

}  // namespace
}  // namespace rtplatch
