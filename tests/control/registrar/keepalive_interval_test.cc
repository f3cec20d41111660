#include "control/registrar/keepalive_interval.h"

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

Endpoint Ep(const char* text) { return *Endpoint::Parse(text); }

NatDecision NattedWithKeepalive() {
  NatDecision d;
  d.policy = "default";
  d.natted = true;
  d.keepalive = true;
  d.keepalive_interval_s = 60;
  return d;
}

Binding Previous(const char* source, uint32_t interval_ms,
                 Binding::Transport transport = Binding::Transport::kUdp) {
  Binding b;
  b.source = Ep(source);
  b.behind_nat = true;
  b.transport = transport;
  b.keepalive_interval_ms = interval_ms;
  b.keepalive_reason = "learnt earlier";
  return b;
}

KeepaliveInterval For(const NatDecision& d, const Binding* previous, const char* source,
                      Binding::Transport transport = Binding::Transport::kUdp) {
  return KeepaliveIntervalFor({.decision = d,
                               .previous = previous,
                               .source = Ep(source),
                               .transport = transport,
                               .initial_interval_ms = 60000,
                               .floor_ms = 5000});
}

TEST(KeepaliveIntervalTest, NoKeepaliveSaysWhy) {
  NatDecision direct;
  EXPECT_EQ(For(direct, nullptr, "203.0.113.5:5060").interval_ms, 0u);
  EXPECT_EQ(For(direct, nullptr, "203.0.113.5:5060").reason, "not NAT'd");
  NatDecision natted_off = NattedWithKeepalive();
  natted_off.keepalive = false;
  EXPECT_EQ(For(natted_off, nullptr, "203.0.113.5:5060").reason, "policy: no keepalive");
}

TEST(KeepaliveIntervalTest, NewUdpBindingStartsLearningUpToTheInitialInterval) {
  KeepaliveInterval k = For(NattedWithKeepalive(), nullptr, "203.0.113.5:40000");
  EXPECT_EQ(k.interval_ms, 60000u);
  EXPECT_TRUE(k.learning);
  EXPECT_EQ(k.reason, "learning: probing gaps up to 60000 ms (policy default)");
}

TEST(KeepaliveIntervalTest, NewTcpBindingGetsTheInitialIntervalWithoutLearning) {
  KeepaliveInterval k =
      For(NattedWithKeepalive(), nullptr, "203.0.113.5:40000", Binding::Transport::kTcp);
  EXPECT_EQ(k.interval_ms, 60000u);
  EXPECT_FALSE(k.learning);
  EXPECT_EQ(k.reason, "initial: 60000 ms (policy default)");
}

TEST(KeepaliveIntervalTest, InitialIntervalAtTheFloorLeavesNothingToLearn) {
  KeepaliveInterval k = KeepaliveIntervalFor({.decision = NattedWithKeepalive(),
                                              .source = Ep("203.0.113.5:40000"),
                                              .initial_interval_ms = 3000,
                                              .floor_ms = 5000});
  EXPECT_EQ(k.interval_ms, 3000u);
  EXPECT_FALSE(k.learning);
}

TEST(KeepaliveIntervalTest, RefreshWhileLearningKeepsLearning) {
  Binding prev = Previous("203.0.113.5:40000", 60000);
  prev.keepalive_learning = true;
  prev.keepalive_reason = "learning: NAT held 5 s; probing 10 s";
  KeepaliveInterval k = For(NattedWithKeepalive(), &prev, "203.0.113.5:40000");
  EXPECT_TRUE(k.learning);
  EXPECT_EQ(k.interval_ms, 60000u);
  EXPECT_EQ(k.reason, prev.keepalive_reason);
}

// The NAT forgot the mapping within the gap under test: learning starts
// again on the new one (halving the ceiling could still be too long, with
// the full NAT'd expiry to wait for the next REGISTER).
TEST(KeepaliveIntervalTest, NewMappingWhileLearningRestartsTheLearning) {
  Binding prev = Previous("203.0.113.5:40000", 60000);
  prev.keepalive_learning = true;
  KeepaliveInterval k = For(NattedWithKeepalive(), &prev, "203.0.113.5:40001");
  EXPECT_TRUE(k.learning);
  EXPECT_EQ(k.interval_ms, 60000u);
  EXPECT_EQ(k.reason,
            "learning: restarted on a new mapping (203.0.113.5:40000 -> 203.0.113.5:40001)");
}

TEST(KeepaliveIntervalTest, LearningUdpBindingReRegisteringOverTcpStopsLearning) {
  Binding prev = Previous("203.0.113.5:40000", 60000);
  prev.keepalive_learning = true;
  KeepaliveInterval k =
      For(NattedWithKeepalive(), &prev, "203.0.113.5:40000", Binding::Transport::kTcp);
  EXPECT_FALSE(k.learning);
}

TEST(KeepaliveIntervalTest, NewSourcePortHalvesThePreviousInterval) {
  const Binding prev = Previous("203.0.113.5:40000", 60000);
  KeepaliveInterval k = For(NattedWithKeepalive(), &prev, "203.0.113.5:40002");
  EXPECT_EQ(k.interval_ms, 30000u);
  EXPECT_EQ(k.reason, "mapping changed: source port 40000 -> 40002; interval 60000 -> 30000 ms");
}

TEST(KeepaliveIntervalTest, NewSourceAddressHalvesAndNamesBoth) {
  const Binding prev = Previous("[2001:db8::5]:40000", 20000);
  KeepaliveInterval k = For(NattedWithKeepalive(), &prev, "[2001:db8::6]:40000");
  EXPECT_EQ(k.interval_ms, 10000u);
  EXPECT_EQ(k.reason,
            "mapping changed: source [2001:db8::5]:40000 -> [2001:db8::6]:40000; interval "
            "20000 -> 10000 ms");
}

TEST(KeepaliveIntervalTest, HalvingStopsAtTheFloor) {
  const Binding prev = Previous("203.0.113.5:40000", 6000);
  KeepaliveInterval k = For(NattedWithKeepalive(), &prev, "203.0.113.5:40001");
  EXPECT_EQ(k.interval_ms, 5000u);
  EXPECT_EQ(k.reason, "mapping changed: source port 40000 -> 40001; interval 6000 -> 5000 ms (floor)");
}

TEST(KeepaliveIntervalTest, TcpReconnectFromANewPortIsNotADeadMapping) {
  const Binding prev = Previous("203.0.113.5:40000", 60000, Binding::Transport::kTcp);
  KeepaliveInterval k =
      For(NattedWithKeepalive(), &prev, "203.0.113.5:40009", Binding::Transport::kTcp);
  EXPECT_EQ(k.interval_ms, 60000u);
}

TEST(KeepaliveIntervalTest, SameMappingKeepsWhatWasLearnt) {
  const Binding prev = Previous("203.0.113.5:40000", 15000);
  KeepaliveInterval k = For(NattedWithKeepalive(), &prev, "203.0.113.5:40000");
  EXPECT_EQ(k.interval_ms, 15000u);
  EXPECT_EQ(k.reason, "learnt earlier");
}

// A NAT that held the longest gap probed keeps the initial interval, and a
// refresh does not start the learning (and its probes) again.
TEST(KeepaliveIntervalTest, SameMappingLearntAtTheInitialIntervalStaysThere) {
  Binding prev = Previous("203.0.113.5:40000", 60000);
  prev.keepalive_reason = "learned: NAT held a 60 s gap";
  KeepaliveInterval k = For(NattedWithKeepalive(), &prev, "203.0.113.5:40000");
  EXPECT_EQ(k.interval_ms, 60000u);
  EXPECT_FALSE(k.learning);
  EXPECT_EQ(k.reason, "learned: NAT held a 60 s gap");
}

}  // namespace
}  // namespace rtplatch
