#include "control/guard/sip_guard_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using json = nlohmann::json;

TEST(SipGuardConfig, AnEmptyObjectIsTheShippedDefaults) {
  absl::StatusOr<SipGuardConfig> c = ParseSipGuardConfig(json::object());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->rates.window_ms, 2000);
  EXPECT_THAT(c->rates.per_window, ElementsAre(40u, 20u, 80u));
  EXPECT_EQ(c->flood_ban_ms, 60'000);
  EXPECT_EQ(c->auth.per_source, 10u);
  EXPECT_EQ(c->auth.per_user, 20u);
  EXPECT_EQ(c->auth.window_ms, 60'000);
  EXPECT_EQ(c->auth_ban_ms, 600'000);
  EXPECT_FALSE(c->scanner_user_agents.empty());
  EXPECT_TRUE(c->exempt.empty());
}

TEST(SipGuardConfig, EveryFieldIsRead) {
  absl::StatusOr<SipGuardConfig> c = ParseSipGuardConfig(json::parse(R"({
    "enabled": false, "window_ms": 1000, "register_per_window": 5, "invite_per_window": 6,
    "other_per_window": 7, "max_sources": 100, "flood_ban_s": 30,
    "auth_failures_per_source": 4, "auth_failures_per_user": 8, "auth_window_s": 120,
    "auth_ban_s": 3600, "scanner_user_agents": ["Evil-Scanner"],
    "exempt": ["198.51.100.0/24", "2001:db8::/32"], "max_bans": 10})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->enabled);
  EXPECT_EQ(c->rates.window_ms, 1000);
  EXPECT_THAT(c->rates.per_window, ElementsAre(5u, 6u, 7u));
  EXPECT_EQ(c->rates.max_sources, 100u);
  EXPECT_EQ(c->flood_ban_ms, 30'000);
  EXPECT_EQ(c->auth.per_source, 4u);
  EXPECT_EQ(c->auth.per_user, 8u);
  EXPECT_EQ(c->auth.window_ms, 120'000);
  EXPECT_EQ(c->auth_ban_ms, 3'600'000);
  EXPECT_THAT(c->scanner_user_agents, ElementsAre("evil-scanner"));
  ASSERT_EQ(c->exempt.size(), 2u);
  EXPECT_TRUE(c->exempt[0].Contains(*IpAddress::Parse("198.51.100.7")));
  EXPECT_EQ(c->max_bans, 10u);
}

TEST(SipGuardConfig, AnEmptyScannerListDropsNone) {
  absl::StatusOr<SipGuardConfig> c =
      ParseSipGuardConfig(json::parse(R"({"scanner_user_agents": []})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->scanner_user_agents.empty());
}

TEST(SipGuardConfig, ErrorsNameTheField) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& k : {
           Case{R"([])", "config: guard: must be an object"},
           Case{R"({"windw_ms": 1})", "config: guard.windw_ms: unknown field (typo?)"},
           Case{R"({"window_ms": 5})", "config: guard.window_ms"},
           Case{R"({"invite_per_window": 0})", "config: guard.invite_per_window"},
           Case{R"({"exempt": ["192.0.2.1/24"]})", "config: guard.exempt[0]: "},
           Case{R"({"exempt": "192.0.2.0/24"})", "config: guard.exempt: must be a list"},
           Case{R"({"scanner_user_agents": [""]})",
                "config: guard.scanner_user_agents[0]: must be a non-empty string"},
           Case{R"({"enabled": "yes"})", "config: guard.enabled"},
       }) {
    absl::StatusOr<SipGuardConfig> c = ParseSipGuardConfig(json::parse(k.text));
    ASSERT_FALSE(c.ok()) << k.text;
    EXPECT_THAT(std::string(c.status().message()), ::testing::StartsWith(k.error)) << k.text;
  }
}

}  // namespace
}  // namespace rtplatch
