#include "control/guard/request_rate_limiter.h"

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

RequestRateLimits Limits(uint32_t registers, uint32_t invites, uint32_t other) {
  RequestRateLimits l;
  l.window_ms = 1000;
  l.per_window = {registers, invites, other};
  return l;
}

TEST(ClassifySipBytes, TakesTheMethodFromTheFirstWordOnly) {
  EXPECT_EQ(ClassifySipBytes("REGISTER sip:example.test SIP/2.0\r\n"), SipRequestClass::kRegister);
  EXPECT_EQ(ClassifySipBytes("INVITE sip:bob@example.test SIP/2.0\r\n"), SipRequestClass::kInvite);
  EXPECT_EQ(ClassifySipBytes("OPTIONS sip:example.test SIP/2.0\r\n"), SipRequestClass::kOther);
  EXPECT_EQ(ClassifySipBytes("SIP/2.0 200 OK\r\n"), SipRequestClass::kOther);
  EXPECT_EQ(ClassifySipBytes("invite sip:bob SIP/2.0"), SipRequestClass::kOther);  // case matters
  EXPECT_EQ(ClassifySipBytes("INVITEX sip:bob SIP/2.0"), SipRequestClass::kOther);
  EXPECT_EQ(ClassifySipBytes(""), SipRequestClass::kOther);
}

TEST(RequestRateLimiter, RefusesTheRequestThatGoesOverTheClassLimit) {
  RequestRateLimiter r(Limits(3, 2, 10));
  const IpAddress a = Ip("203.0.113.66");
  EXPECT_TRUE(r.Admit(a, SipRequestClass::kInvite, 0));
  EXPECT_TRUE(r.Admit(a, SipRequestClass::kInvite, 10));
  EXPECT_FALSE(r.Admit(a, SipRequestClass::kInvite, 20));
  // The other classes and other sources have their own counts.
  EXPECT_TRUE(r.Admit(a, SipRequestClass::kRegister, 20));
  EXPECT_TRUE(r.Admit(Ip("203.0.113.67"), SipRequestClass::kInvite, 20));
}

TEST(RequestRateLimiter, ABurstAcrossAWindowBoundaryIsNotForgiven) {
  RequestRateLimiter r(Limits(10, 10, 10));
  const IpAddress a = Ip("2001:db8::66");
  // The window starts with the source's first request; the burst comes at
  // its end.
  ASSERT_TRUE(r.Admit(a, SipRequestClass::kRegister, 0));
  for (int i = 0; i < 9; ++i) ASSERT_TRUE(r.Admit(a, SipRequestClass::kRegister, 990 + i));
  // Just past the boundary the previous window still weighs in full.
  EXPECT_NEAR(r.Estimate(a, SipRequestClass::kRegister, 1000), 10.0, 0.01);
  EXPECT_FALSE(r.Admit(a, SipRequestClass::kRegister, 1000));
  // Halfway through the next window half the old burst remains: 5 more.
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += r.Admit(a, SipRequestClass::kRegister, 1500);
  EXPECT_EQ(admitted, 5);
}

TEST(RequestRateLimiter, ASteadyRateUnderTheLimitIsNeverRefused) {
  RequestRateLimiter r(Limits(10, 10, 10));
  const IpAddress a = Ip("203.0.113.66");
  for (int64_t t = 0; t < 60'000; t += 125) {  // 8 per second
    ASSERT_TRUE(r.Admit(a, SipRequestClass::kRegister, t)) << "at " << t << " ms";
  }
}

TEST(RequestRateLimiter, AQuietSourceIsForgottenAfterTwoWindows) {
  RequestRateLimiter r(Limits(10, 10, 10));
  r.Admit(Ip("203.0.113.66"), SipRequestClass::kOther, 0);
  r.Admit(Ip("203.0.113.67"), SipRequestClass::kOther, 1500);
  EXPECT_EQ(r.Sweep(2100), 1u);
  EXPECT_EQ(r.tracked(), 1u);
}

TEST(RequestRateLimiter, AFullTableLetsNewSourcesThroughUntrackedAndCountsThem) {
  RequestRateLimits l = Limits(1, 1, 1);
  l.max_sources = 2;
  RequestRateLimiter r(l);
  EXPECT_TRUE(r.Admit(Ip("203.0.113.1"), SipRequestClass::kOther, 0));
  EXPECT_TRUE(r.Admit(Ip("203.0.113.2"), SipRequestClass::kOther, 0));
  EXPECT_TRUE(r.Admit(Ip("203.0.113.3"), SipRequestClass::kOther, 0));
  EXPECT_TRUE(r.Admit(Ip("203.0.113.3"), SipRequestClass::kOther, 0));
  EXPECT_EQ(r.untracked(), 2u);
  EXPECT_FALSE(r.Admit(Ip("203.0.113.1"), SipRequestClass::kOther, 0));
}

}  // namespace
}  // namespace rtplatch
