#include "control/config_reload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const nlohmann::json kRunning = nlohmann::json::parse(R"({
  "sip_listen": ["203.0.113.10:5060"],
  "domain": "example.test",
  "users_file": "/etc/rtplatch/users",
  "nat_policy": {"default": "default"},
  "peers": [{"name": "core", "targets": ["198.51.100.5:5060"]}]
})");

TEST(ConfigReloadTest, TheSameFileChangesNothing) {
  const ReloadPlan plan = PlanReload(kRunning, kRunning);
  EXPECT_THAT(plan.changed_live, IsEmpty());
  EXPECT_THAT(plan.restart_needed, IsEmpty());
}

TEST(ConfigReloadTest, UsersPoliciesPeersRoutesAndLogLevelAreTakenLive) {
  nlohmann::json fresh = kRunning;
  fresh["users_file"] = "/etc/rtplatch/users.new";
  fresh["nat_policy"]["by_user_agent"] =
      nlohmann::json::parse(R"([{"user_agent": "Polycom*", "policy": "asymmetric_rtp"}])");
  fresh.erase("peers");  // removed
  fresh["routes"] = nlohmann::json::parse(R"([{"default": true, "peers": []}])");  // added
  fresh["log_level"] = "debug";
  const ReloadPlan plan = PlanReload(kRunning, fresh);
  EXPECT_THAT(plan.changed_live,
              ElementsAre("log_level", "nat_policy", "peers", "routes", "users_file"));
  EXPECT_TRUE(plan.changed("peers"));
  EXPECT_FALSE(plan.changed("domain"));
  EXPECT_THAT(plan.restart_needed, IsEmpty());
}

TEST(ConfigReloadTest, EverythingElseIsNamedForARestart) {
  nlohmann::json fresh = kRunning;
  fresh["sip_listen"] = {"203.0.113.11:5060"};
  fresh.erase("domain");                          // removed
  fresh["metrics_listen"] = "127.0.0.1:9470";      // added
  const ReloadPlan plan = PlanReload(kRunning, fresh);
  EXPECT_THAT(plan.changed_live, IsEmpty());
  EXPECT_THAT(plan.restart_needed, ElementsAre("domain", "metrics_listen", "sip_listen"));
}

TEST(ConfigReloadTest, WhatIsAppliedKeepsTheRestartMembersRunning) {
  nlohmann::json fresh = kRunning;
  fresh["sip_listen"] = {"203.0.113.11:5060"};
  fresh.erase("users_file");
  fresh["routes"] = nlohmann::json::parse(R"([{"default": true, "peers": ["core"]}])");
  const nlohmann::json applied = AppliedAfterReload(kRunning, fresh);
  EXPECT_EQ(applied["sip_listen"], kRunning["sip_listen"]);  // waits for a restart
  EXPECT_FALSE(applied.contains("users_file"));              // taken: left out
  EXPECT_EQ(applied["routes"], fresh["routes"]);             // taken: added
  // Compared again, only the restart member still differs.
  EXPECT_THAT(PlanReload(applied, fresh).restart_needed, ElementsAre("sip_listen"));
  EXPECT_THAT(PlanReload(applied, fresh).changed_live, IsEmpty());
}

}  // namespace
}  // namespace rtplatch
