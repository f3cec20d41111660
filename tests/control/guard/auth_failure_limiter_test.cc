#include "control/guard/auth_failure_limiter.h"

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

AuthFailureLimits Limits() {
  AuthFailureLimits l;
  l.per_source = 3;
  l.per_user = 5;
  l.window_ms = 10'000;
  return l;
}

TEST(AuthFailureLimiter, OneSourceGuessingReachesItsLimit) {
  AuthFailureLimiter a(Limits());
  EXPECT_FALSE(a.Failed(Ip("203.0.113.66"), "alice", 0));
  EXPECT_FALSE(a.Failed(Ip("203.0.113.66"), "bob", 1));
  EXPECT_TRUE(a.Failed(Ip("203.0.113.66"), "carol", 2));
}

TEST(AuthFailureLimiter, ManySourcesGuessingOneUserReachTheUsersLimit) {
  AuthFailureLimiter a(Limits());
  for (int i = 1; i <= 4; ++i) {
    EXPECT_FALSE(a.Failed(IpAddress::FromV4(0xCB007100u + i), "alice", i)) << i;
  }
  EXPECT_TRUE(a.Failed(Ip("203.0.113.5"), "alice", 5));
  // Another user from a fresh source is still answered.
  EXPECT_FALSE(a.Failed(Ip("203.0.113.6"), "bob", 6));
}

TEST(AuthFailureLimiter, FailuresOlderThanTheWindowAreForgotten) {
  AuthFailureLimiter a(Limits());
  a.Failed(Ip("203.0.113.66"), "alice", 0);
  a.Failed(Ip("203.0.113.66"), "alice", 1);
  EXPECT_FALSE(a.Failed(Ip("203.0.113.66"), "alice", 10'001));  // a new window: 1
  EXPECT_EQ(a.Sweep(20'002), 2u);
  EXPECT_EQ(a.tracked(), 0u);
}

TEST(AuthFailureLimiter, StaysBoundedUnderRandomUserNames) {
  AuthFailureLimits l = Limits();
  l.max_entries = 100;
  AuthFailureLimiter a(l);
  for (int i = 0; i < 10'000; ++i) a.Failed(Ip("203.0.113.66"), "user" + std::to_string(i), i);
  EXPECT_LE(a.tracked(), 100u);
}

}  // namespace
}  // namespace rtplatch
