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
  EXPECT_FALSE(plan.nat_policy_changed);
  EXPECT_FALSE(plan.users_file_changed);
  EXPECT_THAT(plan.restart_needed, IsEmpty());
}

TEST(ConfigReloadTest, UsersAndPoliciesAreTakenLive) {
  nlohmann::json fresh = kRunning;
  fresh["users_file"] = "/etc/rtplatch/users.new";
  fresh["nat_policy"]["by_user_agent"] =
      nlohmann::json::parse(R"([{"user_agent": "Polycom*", "policy": "asymmetric_rtp"}])");
  const ReloadPlan plan = PlanReload(kRunning, fresh);
  EXPECT_TRUE(plan.nat_policy_changed);
  EXPECT_TRUE(plan.users_file_changed);
  EXPECT_THAT(plan.restart_needed, IsEmpty());
}

TEST(ConfigReloadTest, EverythingElseIsNamedForARestart) {
  nlohmann::json fresh = kRunning;
  fresh["sip_listen"] = {"203.0.113.11:5060"};
  fresh.erase("peers");                           // removed
  fresh["metrics_listen"] = "127.0.0.1:9470";      // added
  const ReloadPlan plan = PlanReload(kRunning, fresh);
  EXPECT_FALSE(plan.nat_policy_changed);
  EXPECT_THAT(plan.restart_needed, ElementsAre("metrics_listen", "peers", "sip_listen"));
}

}  // namespace
}  // namespace rtplatch
