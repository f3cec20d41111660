// Repeated log messages, limited per source (common/log_rate_limiter.h).
#include "common/log_rate_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

constexpr char kPlaceA = 0;
constexpr char kPlaceB = 0;
constexpr const char* kFormat = "peer %s is down";

TEST(LogRateLimiterTest, ABurstPerWindowThenHeldBackAndCounted) {
  LogRateLimiter limiter(LogRateLimits{.window_ms = 10'000, .burst = 3, .max_sources = 16});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Admit(&kPlaceA, "", kFormat, 100 * i).write);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(limiter.Admit(&kPlaceA, "", kFormat, 500).write);
  EXPECT_EQ(limiter.suppressed_total(), 4u);
  const LogRateLimiter::Verdict next = limiter.Admit(&kPlaceA, "", kFormat, 10'000);
  EXPECT_TRUE(next.write) << "a new window";
  EXPECT_EQ(next.suppressed_before, 4u) << "told with the next message";
  EXPECT_EQ(limiter.Admit(&kPlaceA, "", kFormat, 10'001).suppressed_before, 0u);
}

TEST(LogRateLimiterTest, SourcesAreThePlaceAndTheKey) {
  LogRateLimiter limiter(LogRateLimits{.window_ms = 10'000, .burst = 1, .max_sources = 16});
  EXPECT_TRUE(limiter.Admit(&kPlaceA, "203.0.113.5", kFormat, 0).write);
  EXPECT_FALSE(limiter.Admit(&kPlaceA, "203.0.113.5", kFormat, 1).write);
  EXPECT_TRUE(limiter.Admit(&kPlaceA, "203.0.113.6", kFormat, 2).write)
      << "one noisy source does not silence another";
  EXPECT_TRUE(limiter.Admit(&kPlaceB, "203.0.113.5", kFormat, 3).write)
      << "nor another place's message";
}

TEST(LogRateLimiterTest, WhatWentQuietIsToldOnceItsWindowIsOver) {
  LogRateLimiter limiter(LogRateLimits{.window_ms = 10'000, .burst = 1, .max_sources = 16});
  limiter.Admit(&kPlaceA, "core", kFormat, 0);
  limiter.Admit(&kPlaceA, "core", kFormat, 1);
  limiter.Admit(&kPlaceA, "core", kFormat, 2);
  limiter.Admit(&kPlaceA, "other", kFormat, 3);  // written, nothing held back
  EXPECT_TRUE(limiter.TakeExpired(9'999).empty()) << "its window is still open";
  const std::vector<LogRateLimiter::Suppressed> told = limiter.TakeExpired(10'000);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].key, "core");
  EXPECT_EQ(told[0].count, 2u);
  EXPECT_STREQ(told[0].format, kFormat);
  EXPECT_TRUE(limiter.TakeExpired(30'000).empty()) << "told once";
  EXPECT_EQ(limiter.Admit(&kPlaceA, "core", kFormat, 30'001).suppressed_before, 0u);
}

TEST(LogRateLimiterTest, AFloodOfKeysSharesOneEntryOnceTheTableIsFull) {
  LogRateLimiter limiter(LogRateLimits{.window_ms = 10'000, .burst = 2, .max_sources = 4});
  int written = 0;
  for (int i = 0; i < 1000; ++i) {
    written += limiter.Admit(&kPlaceA, absl::StrCat("198.51.100.", i % 250), kFormat, 5).write;
  }
  EXPECT_LE(limiter.sources(), 5u) << "four sources, then the shared overflow entry";
  EXPECT_EQ(written, 4 * 2 + 2) << "each of the four its burst, the rest one burst together";
  // Once their windows are over and what they held back was told, the
  // sources make room for new ones.
  EXPECT_EQ(limiter.TakeExpired(20'000).size(), 5u);
  EXPECT_TRUE(limiter.Admit(&kPlaceA, "203.0.113.99", kFormat, 20'000).write);
  EXPECT_EQ(limiter.sources(), 1u) << "the quiet ones were pruned, the new one has its own";
}

}  // namespace
}  // namespace rtplatch
