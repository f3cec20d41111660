// Keepalives without EAL: the control-side registry and the lcore-side
// scheduler wired through their real ring, on a fake clock; and the bytes
// of the emitted frames.
#include <gtest/gtest.h>

#include <map>

#include "dataplane/keepalive/keepalive_registry.h"
#include "dataplane/keepalive/keepalive_scheduler.h"
#include "dataplane/fastpath/packet_headers.h"
#include "tests/dataplane/fastpath/frame_builder.h"

namespace rtplatch {
namespace {

constexpr uint64_t kMs = 1'000'000;
// The fake clock starts here, as a real one would (not at 0).
constexpr uint64_t kT0 = 1000 * kMs;
IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }
Endpoint Ep(const char* t) { return *Endpoint::Parse(t); }

class KeepaliveTest : public ::testing::Test {
 protected:
  KeepaliveTest()
      : addresses_(*RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")})),
        registry_(addresses_, {&ring_}, [this] { Drain(); }),
        scheduler_(registry_.slab(0), kT0) {}

  void Drain() {
    KeepaliveCommand c;
    while (ring_.Pop(&c)) ASSERT_TRUE(scheduler_.Apply(c, now_, &events_));
    DataplaneEvent e;
    while (events_.Pop(&e)) {
      if (e.type == DataplaneEvent::Type::kKeepaliveFreed) registry_.Freed(0, e.slot);
    }
  }
  // Runs the lcore side until `until`, one poll per ms; returns send times
  // per target id-less index.
  std::map<uint32_t, std::vector<uint64_t>> RunUntil(uint64_t until) {
    std::map<uint32_t, std::vector<uint64_t>> sends;
    for (; now_ <= until; now_ += kMs) {
      Drain();
      scheduler_.Run(now_, 1000, [&](uint32_t index, KeepaliveTarget& t) {
        sends[index].push_back(now_);
        ++t.sent;
        t.last_sent_ns = now_;
      });
    }
    return sends;
  }
  KeepaliveSpec Spec(const char* target, uint32_t interval_ms) {
    KeepaliveSpec s;
    s.target = Ep(target);
    s.source = Ep("203.0.113.10:5060");
    s.interval_ms = interval_ms;
    return s;
  }

  RelayAddresses addresses_;
  SpscRing<KeepaliveCommand> ring_{1024};
  SpscRing<DataplaneEvent> events_{1024};
  KeepaliveRegistry registry_;
  KeepaliveScheduler scheduler_;
  uint64_t now_ = kT0;
};

// first_within_ms: a million targets reinstalled after a takeover fire
// within it, spread over it, then every interval.
TEST_F(KeepaliveTest, FirstWithinBringsEveryFirstSendForward) {
  std::vector<KeepaliveSpec> specs;
  for (int i = 0; i < 200; ++i) {
    KeepaliveSpec s = Spec(("203.0.113.30:" + std::to_string(4000 + i)).c_str(), 25000);
    s.first_within_ms = 2000;
    specs.push_back(s);
  }
  ASSERT_TRUE(registry_.Add(specs, now_).ok());
  auto sends = RunUntil(kT0 + 2000 * kMs);
  EXPECT_EQ(sends.size(), 200u) << "each target once within 2 s, not within its 25 s interval";
  uint64_t latest = 0;
  for (const auto& [target, times] : sends) {
    ASSERT_EQ(times.size(), 1u) << target;
    latest = std::max(latest, times[0]);
  }
  EXPECT_GT(latest, kT0 + 1000 * kMs) << "spread over the window, not all at once";
}

TEST_F(KeepaliveTest, SendsEveryIntervalAfterASpreadFirstSend) {
  auto ids = registry_.Add({Spec("203.0.113.30:4000", 1000)}, now_);
  ASSERT_TRUE(ids.ok()) << ids.status();
  auto sends = RunUntil(kT0 + 5500 * kMs);
  ASSERT_EQ(sends.size(), 1u);
  const auto& times = sends.begin()->second;
  ASSERT_GE(times.size(), 5u);
  EXPECT_LT(times[0], kT0 + 1000 * kMs) << "first send falls inside the first interval";
  for (size_t i = 1; i < times.size(); ++i) {
    EXPECT_EQ(times[i] - times[i - 1], 1000 * kMs) << "send " << i;
  }
  auto view = registry_.Query((*ids)[0], now_);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->sent, times.size());
}

TEST_F(KeepaliveTest, JitterStaysWithinBoundsAndNeverDoubleSends) {
  KeepaliveSpec spec = Spec("203.0.113.30:4000", 200);
  spec.jitter_ms = 150;
  ASSERT_TRUE(registry_.Add({spec}, now_).ok());
  auto sends = RunUntil(kT0 + 20000 * kMs);
  const auto& times = sends.begin()->second;
  ASSERT_GT(times.size(), 60u);
  bool varied = false;
  for (size_t i = 1; i < times.size(); ++i) {
    uint64_t gap = times[i] - times[i - 1];
    EXPECT_GE(gap, 1 * kMs) << "two sends in one poll";
    EXPECT_LE(gap, (200 + 150 + 1) * kMs);
    varied = varied || gap != 200 * kMs;
  }
  EXPECT_TRUE(varied) << "jitter must move the sends";
}

TEST_F(KeepaliveTest, ManyTargetsAreSpreadNotBurst) {
  std::vector<KeepaliveSpec> specs;
  for (int i = 0; i < 6000; ++i) specs.push_back(Spec("198.51.100.7:5060", 6000));
  ASSERT_TRUE(registry_.Add(specs, now_).ok());
  auto sends = RunUntil(kT0 + 5999 * kMs);
  std::map<uint64_t, int> per_second;
  size_t total = 0;
  for (const auto& [index, times] : sends) {
    for (uint64_t t : times) {
      ++per_second[(t - kT0) / (1000 * kMs)];
      ++total;
    }
  }
  EXPECT_EQ(total, 6000u) << "each target exactly once in its first interval";
  for (const auto& [second, count] : per_second) {
    EXPECT_LT(count, 1300) << "second " << second << " got a burst";
  }
}

TEST_F(KeepaliveTest, UpdateReArmsWithTheNewInterval) {
  auto ids = registry_.Add({Spec("203.0.113.30:4000", 1000)}, now_);
  RunUntil(kT0 + 2500 * kMs);
  ASSERT_TRUE(registry_.Update((*ids)[0], 300, std::nullopt, now_).ok());
  auto sends = RunUntil(kT0 + 4000 * kMs);
  const auto& times = sends.begin()->second;
  ASSERT_GE(times.size(), 3u);
  for (size_t i = 1; i < times.size(); ++i) EXPECT_EQ(times[i] - times[i - 1], 300 * kMs);
  EXPECT_EQ(registry_.Query((*ids)[0], now_)->interval_ms, 300u);
}

TEST_F(KeepaliveTest, RemovedTargetStopsAndItsIndexIsReusedOnlyAfterTheAck) {
  auto ids = registry_.Add({Spec("203.0.113.30:4000", 500)}, now_);
  RunUntil(kT0 + 1000 * kMs);
  ASSERT_TRUE(registry_.Remove(*ids).ok());
  EXPECT_FALSE(registry_.Query((*ids)[0], now_).ok());
  auto after = RunUntil(kT0 + 3000 * kMs);
  EXPECT_TRUE(after.empty()) << "a removed target must not send";
  auto again = registry_.Add({Spec("203.0.113.31:4000", 500)}, now_);
  EXPECT_EQ((*again)[0], (*ids)[0]) << "acknowledged index is reused";
  EXPECT_EQ(registry_.count(), 1u);
}

TEST_F(KeepaliveTest, BadSpecsAreRejectedWholeWithTheFieldNamed) {
  std::vector<KeepaliveSpec> specs = {Spec("203.0.113.30:4000", 1000),
                                      Spec("203.0.113.31:4000", 50)};
  auto r = registry_.Add(specs, now_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("targets[1].interval_ms"), std::string::npos)
      << r.status();
  EXPECT_EQ(registry_.count(), 0u) << "all or nothing";
  KeepaliveSpec foreign = Spec("203.0.113.30:4000", 1000);
  foreign.source = Ep("203.0.113.99:5060");
  EXPECT_NE(registry_.Add({foreign}, now_).status().message().find("not one of the relay"),
            std::string::npos);
  KeepaliveSpec mixed = Spec("[2001:db8::20]:5060", 1000);
  EXPECT_FALSE(registry_.Add({mixed}, now_).ok()) << "IPv4 source to an IPv6 target";
  KeepaliveSpec jitter = Spec("203.0.113.30:4000", 1000);
  jitter.jitter_ms = 1000;
  EXPECT_FALSE(registry_.Add({jitter}, now_).ok());
}

TEST_F(KeepaliveTest, ListFiltersByTargetAndLabel) {
  KeepaliveSpec a = Spec("203.0.113.30:4000", 1000);
  a.label = "alice";
  KeepaliveSpec b = Spec("203.0.113.31:4000", 1000);
  ASSERT_TRUE(registry_.Add({a, b}, now_).ok());
  size_t total = 0;
  auto by_ip = registry_.List(Ip("203.0.113.31"), std::nullopt, 0, 10, now_, &total);
  ASSERT_EQ(total, 1u);
  EXPECT_EQ(by_ip[0].target, Ep("203.0.113.31:4000"));
  auto by_label = registry_.List(std::nullopt, std::string("alice"), 0, 10, now_, &total);
  ASSERT_EQ(total, 1u);
  EXPECT_EQ(by_label[0].label, "alice");
}

TEST(KeepaliveFrameTest, Ipv4AndIpv6FramesCarryThePayloadWithValidChecksums) {
  for (const char* family : {"v4", "v6"}) {
    bool v6 = std::string(family) == "v6";
    EgressHeaders e{testing::kRelayMac, testing::kPeerMac,
                    v6 ? Ip("2001:db8::10") : Ip("203.0.113.10"),
                    v6 ? Ip("2001:db8::20") : Ip("203.0.113.30"), 5060, 4000};
    const uint8_t payload[4] = {'\r', '\n', '\r', '\n'};
    uint8_t frame[128];
    uint32_t len = BuildUdpFrame(frame, e, payload, 4);
    auto d = testing::DecodeFrame(frame, len);
    ASSERT_TRUE(d.ok) << family;
    EXPECT_EQ(d.v6, v6);
    EXPECT_EQ(d.src, e.src_ip);
    EXPECT_EQ(d.dst, e.dst_ip);
    EXPECT_EQ(d.src_port, 5060);
    EXPECT_EQ(d.dst_port, 4000);
    EXPECT_TRUE(d.ip_checksum_ok);
    EXPECT_TRUE(d.udp_checksum_ok);
    EXPECT_FALSE(d.udp_checksum_zero);
    EXPECT_EQ(d.payload, std::vector<uint8_t>(payload, payload + 4));
  }
}

}  // namespace
}  // namespace rtplatch
