// One test per latching rule; named after design.md's failure modes where
// they prove one (RTP Bleed, NAT rebinding, asymmetric phones). Every rule
// runs for IPv4 and IPv6 peers: the addresses are written as IPv4 and
// mapped into 2001:db8::/32 for the IPv6 run.
#include "dataplane/fastpath/latch.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

constexpr uint64_t kMs = 1'000'000;

enum class Family { kIpv4, kIpv6 };

class LatchTest : public ::testing::TestWithParam<Family> {
 protected:
  // "a.b.c.d" as itself, or as 2001:db8:a:b:c::d in the IPv6 run.
  IpAddress Ip(const char* v4) const {
    std::string text = v4;
    if (GetParam() == Family::kIpv6) {
      unsigned a, b, c, d;
      sscanf(v4, "%u.%u.%u.%u", &a, &b, &c, &d);
      text = absl::StrCat("2001:db8:", a, ":", b, ":", c, "::", d);
    }
    return *IpAddress::Parse(text);
  }

  LatchTest() {
    config_.window_packets = 5;
    config_.window_ns = 1000 * kMs;
    config_.relatch_silence_ns = 500 * kMs;
    flow_.state = LatchState::kUnlatched;
    flow_.policy = LatchPolicy::kLearn;
  }
  void Expect(const char* signalled_ip, uint16_t port) {
    flow_.expected_ip = Ip(signalled_ip);
    flow_.expected_port = port;
  }
  // Runs the packet through decide + apply, as the fast path does.
  LatchDecision Receive(const char* ip, uint16_t port, uint32_t ssrc, uint64_t now) {
    PacketSource src{Ip(ip), port, ssrc};
    LatchDecision d = DecideLatch(flow_, src, now, config_);
    ApplyLatch(flow_, d, src, now, config_);
    if (d.verdict != LatchVerdict::kDrop) flow_.last_rx_ns = now;
    return d;
  }

  Flow flow_{};
  LatchConfig config_;
};

TEST_P(LatchTest, LearnLatchesFirstSourceBehindNat) {
  Expect("192.0.2.2", 4000);  // private SDP address
  EXPECT_EQ(Receive("203.0.113.30", 31000, 7, 0).verdict, LatchVerdict::kLatch);
  EXPECT_EQ(flow_.state, LatchState::kLearning);
  EXPECT_EQ(flow_.peer_ip, Ip("203.0.113.30"));
  EXPECT_EQ(flow_.peer_port, 31000);
  EXPECT_EQ(Receive("203.0.113.30", 31000, 7, 20 * kMs).verdict, LatchVerdict::kForward);
}

TEST_P(LatchTest, LocksAfterWindowPackets) {
  for (int i = 0; i < 5; ++i) Receive("203.0.113.30", 31000, 7, i * 20 * kMs);
  EXPECT_EQ(flow_.state, LatchState::kLocked);
}

TEST_P(LatchTest, LocksAfterWindowTime) {
  Receive("203.0.113.30", 31000, 7, 0);
  Receive("203.0.113.30", 31000, 7, 1001 * kMs);
  EXPECT_EQ(flow_.state, LatchState::kLocked);
}

TEST_P(LatchTest, RtpBleedSprayAfterWindowIsDropped) {
  for (int i = 0; i < 5; ++i) Receive("203.0.113.30", 31000, 7, i * 20 * kMs);
  ASSERT_EQ(flow_.state, LatchState::kLocked);
  LatchDecision d = Receive("203.0.113.66", 40000, 99, 120 * kMs);
  EXPECT_EQ(d.verdict, LatchVerdict::kDrop);
  EXPECT_EQ(d.reason, DropReason::kNotLatchedPeer);
  EXPECT_EQ(flow_.peer_ip, Ip("203.0.113.30"));
}

TEST_P(LatchTest, RtpBleedSprayDuringWindowDoesNotStealLatch) {
  Receive("203.0.113.30", 31000, 7, 0);
  EXPECT_EQ(Receive("203.0.113.66", 40000, 99, 5 * kMs).verdict, LatchVerdict::kDrop);
  EXPECT_EQ(flow_.peer_ip, Ip("203.0.113.30"));
}

TEST_P(LatchTest, RtpBleedAttackerCannotRelatchEvenWhenPeerSilent) {
  for (int i = 0; i < 5; ++i) Receive("203.0.113.30", 31000, 7, i * 20 * kMs);
  // Peer silent long enough, but the attacker is another IP with another SSRC.
  LatchDecision d = Receive("203.0.113.66", 40000, 99, 5000 * kMs);
  EXPECT_EQ(d.verdict, LatchVerdict::kDrop);
  EXPECT_EQ(flow_.peer_ip, Ip("203.0.113.30"));
}

TEST_P(LatchTest, SignalledAddressWinsDuringWindow) {
  Expect("198.51.100.7", 5000);
  Receive("203.0.113.66", 40000, 99, 0);  // someone else first
  EXPECT_EQ(Receive("198.51.100.7", 5000, 7, 10 * kMs).verdict, LatchVerdict::kRelatch);
  EXPECT_EQ(flow_.peer_ip, Ip("198.51.100.7"));
  // And the early bird is now refused.
  EXPECT_EQ(Receive("203.0.113.66", 40000, 99, 20 * kMs).verdict, LatchVerdict::kDrop);
}

TEST_P(LatchTest, NatRebindingRelatchesSameIpAfterSilence) {
  for (int i = 0; i < 5; ++i) Receive("203.0.113.30", 31000, 7, i * 20 * kMs);
  // Same NAT, new port, before the silence threshold: refused.
  EXPECT_EQ(Receive("203.0.113.30", 31002, 7, 200 * kMs).verdict, LatchVerdict::kDrop);
  // After the locked peer fell silent: the rebinding is followed.
  EXPECT_EQ(Receive("203.0.113.30", 31002, 7, 900 * kMs).verdict, LatchVerdict::kRelatch);
  EXPECT_EQ(flow_.peer_port, 31002);
  EXPECT_EQ(flow_.relatches, 1u);
}

TEST_P(LatchTest, NatRebindingRelatchesOnSsrcContinuityFromNewIp) {
  for (int i = 0; i < 5; ++i) Receive("203.0.113.30", 31000, 7, i * 20 * kMs);
  EXPECT_EQ(Receive("203.0.113.31", 32000, 7, 2000 * kMs).verdict, LatchVerdict::kRelatch);
  EXPECT_EQ(flow_.peer_ip, Ip("203.0.113.31"));
}

TEST_P(LatchTest, StrictRefusesAnythingButSignalledIp) {
  flow_.policy = LatchPolicy::kStrict;
  Expect("198.51.100.7", 5000);
  LatchDecision d = Receive("203.0.113.66", 40000, 99, 0);
  EXPECT_EQ(d.verdict, LatchVerdict::kDrop);
  EXPECT_EQ(d.reason, DropReason::kNotSignalledAddress);
  EXPECT_EQ(flow_.state, LatchState::kUnlatched);
  // Same IP, other port (phone sends from another port): latches to it.
  EXPECT_EQ(Receive("198.51.100.7", 5002, 7, 10 * kMs).verdict, LatchVerdict::kLatch);
  EXPECT_EQ(flow_.peer_port, 5002);
}

TEST_P(LatchTest, StrictRelatchMustStayOnSignalledIp) {
  flow_.policy = LatchPolicy::kStrict;
  Expect("198.51.100.7", 5000);
  for (int i = 0; i < 5; ++i) Receive("198.51.100.7", 5000, 7, i * 20 * kMs);
  // SSRC continuity from another IP is not enough under strict.
  EXPECT_EQ(Receive("203.0.113.31", 32000, 7, 2000 * kMs).verdict, LatchVerdict::kDrop);
  EXPECT_EQ(Receive("198.51.100.7", 5004, 7, 2000 * kMs).verdict, LatchVerdict::kRelatch);
}

TEST_P(LatchTest, AsymmetricPhoneNeverLatches) {
  flow_.policy = LatchPolicy::kAsymmetric;
  Expect("198.51.100.7", 5000);
  // Sends from 5999 while it wants RTP on 5000: forwarded, not latched.
  EXPECT_EQ(Receive("198.51.100.7", 5999, 7, 0).verdict, LatchVerdict::kForward);
  EXPECT_EQ(flow_.state, LatchState::kUnlatched);
  EXPECT_EQ(Receive("203.0.113.66", 40000, 99, 10 * kMs).reason,
            DropReason::kNotSignalledAddress);
}

TEST_P(LatchTest, SignalledAddressAfterWindowIsCountedSeparately) {
  Expect("198.51.100.7", 5000);
  for (int i = 0; i < 5; ++i) Receive("203.0.113.30", 31000, 7, i * 20 * kMs);
  LatchDecision d = Receive("198.51.100.7", 5000, 8, 150 * kMs);
  EXPECT_EQ(d.verdict, LatchVerdict::kDrop);
  EXPECT_EQ(d.reason, DropReason::kLearningWindowClosed);
}

TEST_P(LatchTest, FreeFlowDropsAsUnknownStream) {
  flow_.state = LatchState::kFree;
  EXPECT_EQ(Receive("203.0.113.30", 31000, 7, 0).reason, DropReason::kUnknownStream);
}

INSTANTIATE_TEST_SUITE_P(BothFamilies, LatchTest,
                         ::testing::Values(Family::kIpv4, Family::kIpv6),
                         [](const ::testing::TestParamInfo<Family>& info) {
                           return info.param == Family::kIpv4 ? "Ipv4" : "Ipv6";
                         });

}  // namespace
}  // namespace rtplatch
