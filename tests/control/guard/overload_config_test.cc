#include "control/guard/overload_config.h"

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

TEST(OverloadConfig, DefaultsAreOnWithHysteresisBelowT1) {
  absl::StatusOr<OverloadConfig> c = ParseOverloadConfig(nlohmann::json::object());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->enter_delay_ms, 200);
  EXPECT_EQ(c->leave_delay_ms, 50);
  EXPECT_EQ(c->retry_after_s, 5u);
}

TEST(OverloadConfig, ReadsEveryField) {
  absl::StatusOr<OverloadConfig> c = ParseOverloadConfig(nlohmann::json::parse(
      R"({"enabled": false, "interval_ms": 1000, "enter_delay_ms": 300, "leave_delay_ms": 20,
          "retry_after_s": 30, "max_admitted_calls": 10})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->enabled);
  EXPECT_EQ(c->interval_ms, 1000);
  EXPECT_EQ(c->enter_delay_ms, 300);
  EXPECT_EQ(c->leave_delay_ms, 20);
  EXPECT_EQ(c->retry_after_s, 30u);
  EXPECT_EQ(c->max_admitted_calls, 10u);
}

TEST(OverloadConfig, ErrorsNameTheField) {
  auto typo = ParseOverloadConfig(nlohmann::json::parse(R"({"enter_delay": 1})"));
  EXPECT_EQ(typo.status().message(), "config: overload.enter_delay: unknown field (typo?)");
  auto inverted = ParseOverloadConfig(
      nlohmann::json::parse(R"({"enter_delay_ms": 100, "leave_delay_ms": 100})"));
  EXPECT_EQ(inverted.status().message(),
            "config: overload.leave_delay_ms: must be below enter_delay_ms (else the shedder "
            "never settles)");
  EXPECT_FALSE(ParseOverloadConfig(nlohmann::json::parse(R"({"retry_after_s": 0})")).ok());
  EXPECT_FALSE(ParseOverloadConfig(nlohmann::json::parse("[]")).ok());
}

}  // namespace
}  // namespace rtplatch
