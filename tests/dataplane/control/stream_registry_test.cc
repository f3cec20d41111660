// StreamRegistry: port allocation, lcore placement, the commands it sends
// (applied here with ApplyFlowCommand, as the owning lcore would), event
// draining and the idle scan. No EAL: rings are SpscRings, lcores are the
// DrainAll() helper.
#include "dataplane/control/stream_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

#include "dataplane/fastpath/flow_command.h"
#include "dataplane/fastpath/flow_table.h"
#include "dataplane/fastpath/neighbor_table.h"
#include "dataplane/fastpath/relay_addresses.h"
#include "dataplane/fastpath/spsc_ring.h"

namespace rtplatch {
namespace {

using ::testing::ElementsAre;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;
constexpr uint8_t kV4 = 0;  // address ids: 203.0.113.10 first
constexpr uint8_t kV6 = 1;  // then 2001:db8::10

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }
Endpoint Ep(const char* text) { return *Endpoint::Parse(text); }

LegRequest V4(std::optional<Endpoint> peer = std::nullopt) {
  LegRequest l;
  l.peer = peer;
  return l;
}
LegRequest V6(std::optional<Endpoint> peer = std::nullopt) {
  LegRequest l;
  l.ipv6 = true;
  l.peer = peer;
  return l;
}

// `leg` asking for relay RTP port `relay`.
LegRequest At(const char* relay, LegRequest leg) {
  leg.relay = Ep(relay);
  return leg;
}

class StreamRegistryTest : public ::testing::Test {
 protected:
  // 20000..20015: 8 RTP/RTCP port pairs per relay address.
  void Build(size_t lcores, size_t ring_capacity = 1024,
             LatchPolicy default_policy = LatchPolicy::kLearn,
             std::vector<IpAddress> relay_addresses = {Ip("203.0.113.10"),
                                                       Ip("2001:db8::10")}) {
    auto addresses = RelayAddresses::Create(std::move(relay_addresses));
    ASSERT_TRUE(addresses.ok()) << addresses.status();
    auto table = FlowTable::Create(std::move(*addresses), 20000, 20015);
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = std::move(*table);
    std::vector<SpscRing<FlowCommand>*> raw;
    for (size_t i = 0; i < lcores; ++i) {
      rings_.push_back(std::make_unique<SpscRing<FlowCommand>>(ring_capacity));
      raw.push_back(rings_.back().get());
    }
    registry_ = std::make_unique<StreamRegistry>(*table_, raw, default_policy, [this] {
      ++ring_waits_;
      DrainAll();
    });
  }

  // Every lcore applies its pending commands, as between two bursts.
  void DrainAll() {
    FlowCommand c;
    for (size_t i = 0; i < rings_.size(); ++i) {
      while (rings_[i]->Pop(&c)) {
        // Single-writer rule: a command only ever reaches the slot's owner.
        EXPECT_EQ(OwnerIndexOf(c.slot, static_cast<uint32_t>(rings_.size())), i)
            << "command for slot " << c.slot << " sent to lcore " << i;
        ApplyFlowCommand(*table_, c);
      }
    }
  }

  uint32_t SlotOf(const Endpoint& relay) const {
    uint8_t id = relay.ip.is_v4() ? kV4 : kV6;
    EXPECT_EQ(table_->addresses().at(id), relay.ip);
    return table_->SlotOf(id, relay.port);
  }
  Flow& RtpFlow(const StreamView& v) { return table_->at(SlotOf(v.relay)); }
  Flow& RtcpFlow(const StreamView& v) { return table_->at(SlotOf(v.rtcp_relay)); }

  PairView MustAllocate(const LegRequest& a, const LegRequest& b, std::string label = "",
                        uint64_t now_ns = 0) {
    auto p = registry_->Allocate(a, b, std::move(label), now_ns);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : PairView{};
  }

  std::unique_ptr<FlowTable> table_;
  std::vector<std::unique_ptr<SpscRing<FlowCommand>>> rings_;
  std::unique_ptr<StreamRegistry> registry_;
  int ring_waits_ = 0;
};

// ---------------------------------------------------------------- allocation

TEST_F(StreamRegistryTest, AllocationOrderIsDeterministicLowestPortOnAddressZeroFirst) {
  Build(1);
  PairView p1 = MustAllocate(V4(), V4(), "call-1");
  EXPECT_EQ(p1.pair, 1u);
  EXPECT_EQ(p1.a.stream, 1u);
  EXPECT_EQ(p1.b.stream, 2u);
  EXPECT_EQ(p1.a.leg, 'a');
  EXPECT_EQ(p1.b.leg, 'b');
  EXPECT_EQ(p1.a.label, "call-1");
  EXPECT_EQ(p1.a.relay, Ep("203.0.113.10:20000"));
  EXPECT_EQ(p1.a.rtcp_relay, Ep("203.0.113.10:20001"));
  EXPECT_EQ(p1.b.relay, Ep("203.0.113.10:20002"));
  EXPECT_EQ(p1.b.rtcp_relay, Ep("203.0.113.10:20003"));

  PairView p2 = MustAllocate(V4(), V4());
  EXPECT_EQ(p2.pair, 2u);
  EXPECT_EQ(p2.a.relay, Ep("203.0.113.10:20004"));
  EXPECT_EQ(p2.b.relay, Ep("203.0.113.10:20006"));
  EXPECT_EQ(registry_->stream_count(), 4u);
  EXPECT_EQ(registry_->pair_count(), 2u);
}

TEST_F(StreamRegistryTest, SameRequestsOnAFreshRegistryGiveTheSamePorts) {
  std::vector<uint16_t> first;
  for (int round = 0; round < 2; ++round) {
    rings_.clear();
    Build(2);
    std::vector<uint16_t> ports;
    for (int i = 0; i < 3; ++i) {
      PairView p = MustAllocate(V4(), i == 1 ? V6() : V4());
      ports.push_back(p.a.relay.port);
      ports.push_back(p.b.relay.port);
    }
    if (round == 0) first = ports;
    else EXPECT_EQ(ports, first);
  }
}

TEST_F(StreamRegistryTest, BothLegsOfAPairLandOnTheSameLcoreWithTwoRings) {
  Build(2);
  std::set<uint32_t> used_lcores;
  for (int i = 0; i < 4; ++i) {
    PairView p = MustAllocate(V4(), i % 2 ? V6() : V4());
    const uint32_t lcore = p.a.lcore_index;
    used_lcores.insert(lcore);
    EXPECT_EQ(p.b.lcore_index, lcore);
    for (const StreamView* v : {&p.a, &p.b}) {
      EXPECT_EQ(OwnerIndexOf(SlotOf(v->relay), 2), lcore) << v->relay.ToString();
      EXPECT_EQ(OwnerIndexOf(SlotOf(v->rtcp_relay), 2), lcore) << v->rtcp_relay.ToString();
    }
  }
  EXPECT_EQ(used_lcores, (std::set<uint32_t>{0, 1})) << "pairs should spread over lcores";
  DrainAll();  // checks every command went to its slot's owner
}

TEST_F(StreamRegistryTest, PairsAlternateLcoresRoundRobin) {
  Build(2);
  EXPECT_EQ(MustAllocate(V4(), V4()).a.lcore_index, 0u);
  EXPECT_EQ(MustAllocate(V4(), V4()).a.lcore_index, 1u);
  EXPECT_EQ(MustAllocate(V4(), V4()).a.lcore_index, 0u);
}

TEST_F(StreamRegistryTest, FallsBackToAnotherLcoreWhenTheNextOneIsFull) {
  Build(2);  // per lcore: 4 v4 port pairs = 2 stream pairs
  std::vector<PairView> pairs;
  for (int i = 0; i < 4; ++i) pairs.push_back(MustAllocate(V4(), V4()));
  ASSERT_EQ(pairs[1].a.lcore_index, 1u);
  // Next turn is lcore 0, which is full; lcore 1 gets a pair back.
  ASSERT_TRUE(registry_->Delete(pairs[1].pair).ok());
  PairView p = MustAllocate(V4(), V4());
  EXPECT_EQ(p.a.lcore_index, 1u);
  EXPECT_EQ(p.b.lcore_index, 1u);
}

TEST_F(StreamRegistryTest, Ipv6LegGetsTheV6Address) {
  Build(1);
  PairView p = MustAllocate(V4(), V6());
  EXPECT_EQ(p.a.relay, Ep("203.0.113.10:20000"));
  EXPECT_EQ(p.b.relay, Ep("[2001:db8::10]:20000"));
  EXPECT_EQ(p.b.rtcp_relay, Ep("[2001:db8::10]:20001"));
  PairView q = MustAllocate(V6(), V6());
  EXPECT_EQ(q.a.relay, Ep("[2001:db8::10]:20002"));
  EXPECT_EQ(q.b.relay, Ep("[2001:db8::10]:20004"));
}

// ng "direction": a leg on the relay address facing its phone's network.
TEST_F(StreamRegistryTest, LegAddressPicksTheRelayAddressOfItsNetwork) {
  Build(1, 1024, LatchPolicy::kLearn, {Ip("203.0.113.10"), Ip("198.51.100.10")});
  LegRequest outside = V4();
  outside.address = Ip("203.0.113.10");
  LegRequest inside = V4();
  inside.address = Ip("198.51.100.10");
  PairView p = MustAllocate(outside, inside);
  EXPECT_EQ(p.a.relay.ip, Ip("203.0.113.10"));
  EXPECT_EQ(p.b.relay.ip, Ip("198.51.100.10"));
  EXPECT_EQ(p.b.rtcp_relay.ip, Ip("198.51.100.10"));
  PairView q = MustAllocate(inside, outside);
  EXPECT_EQ(q.a.relay.ip, Ip("198.51.100.10"));
  EXPECT_EQ(q.b.relay.ip, Ip("203.0.113.10"));

  // The inside address's 8 pairs run out while the outside one has room.
  for (int i = 0; i < 3; ++i) MustAllocate(inside, inside);
  auto full = registry_->Allocate(inside, V4(), "", 0);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  EXPECT_TRUE(registry_->Allocate(outside, V4(), "", 0).ok());
}

TEST_F(StreamRegistryTest, LegAddressThatIsNoRelayAddressOrOfTheWrongFamilyIsRejected) {
  Build(1);
  LegRequest stranger = V4();
  stranger.address = Ip("192.0.2.99");
  auto r = registry_->Allocate(stranger, V4(), "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("a.address"));
  LegRequest v6_on_v4 = V4();
  v6_on_v4.address = Ip("2001:db8::10");
  r = registry_->Allocate(V4(), v6_on_v4, "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("b.address"));
  EXPECT_EQ(registry_->stream_count(), 0u);
}

TEST_F(StreamRegistryTest, PeerOfTheWrongFamilyIsRejectedWithoutAllocating) {
  Build(1);
  const size_t free_v4 = registry_->free_port_pairs(false);
  const size_t free_v6 = registry_->free_port_pairs(true);
  auto r = registry_->Allocate(V4(Ep("[2001:db8::5]:4000")), V4(), "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = registry_->Allocate(V4(), V6(Ep("192.0.2.5:4000")), "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_EQ(registry_->stream_count(), 0u);
  EXPECT_EQ(registry_->free_port_pairs(false), free_v4);
  EXPECT_EQ(registry_->free_port_pairs(true), free_v6);
  // An unspecified (hold) address is not a family mismatch.
  EXPECT_TRUE(registry_->Allocate(V6(Endpoint{Ip("0.0.0.0"), 4000}), V4(), "", 0).ok());
}

TEST_F(StreamRegistryTest, ExhaustionIsResourceExhaustedAndAFreedPairIsAllocatableAgain) {
  Build(1);
  EXPECT_EQ(registry_->free_port_pairs(false), 8u);
  EXPECT_EQ(registry_->free_port_pairs(true), 8u);
  std::vector<PairView> pairs;
  for (int i = 0; i < 4; ++i) pairs.push_back(MustAllocate(V4(), V4()));
  EXPECT_EQ(registry_->free_port_pairs(false), 0u);
  auto r = registry_->Allocate(V4(), V4(), "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  // Running out of IPv4 ports does not block IPv6 calls.
  EXPECT_TRUE(registry_->Allocate(V6(), V6(), "", 0).ok());

  ASSERT_TRUE(registry_->Delete(pairs[2].pair).ok());
  EXPECT_EQ(registry_->free_port_pairs(false), 2u);
  PairView again = MustAllocate(V4(), V4());
  EXPECT_EQ(again.a.relay, pairs[2].a.relay);
  EXPECT_EQ(again.b.relay, pairs[2].b.relay);
}

TEST_F(StreamRegistryTest, FailedAllocationLeaksNoPorts) {
  Build(1);
  for (int i = 0; i < 4; ++i) MustAllocate(V4(), V4());
  const size_t free_v6 = registry_->free_port_pairs(true);
  // Leg a (v6) finds a port, leg b (v4) does not: a's port must come back.
  auto r = registry_->Allocate(V6(), V4(), "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(registry_->free_port_pairs(true), free_v6);
  EXPECT_EQ(registry_->stream_count(), 8u);
}

TEST_F(StreamRegistryTest, FreedPortsAreReusedLast) {
  Build(1);
  PairView p1 = MustAllocate(V4(), V4());  // 20000, 20002
  MustAllocate(V4(), V4());                // 20004, 20006
  ASSERT_TRUE(registry_->Delete(p1.pair).ok());
  PairView p3 = MustAllocate(V4(), V4());
  EXPECT_EQ(p3.a.relay.port, 20008);
  EXPECT_EQ(p3.b.relay.port, 20010);
  PairView p4 = MustAllocate(V4(), V4());
  EXPECT_EQ(p4.a.relay.port, 20012);
  EXPECT_EQ(p4.b.relay.port, 20014);
  PairView p5 = MustAllocate(V4(), V4());  // only now the freed ones
  EXPECT_EQ(p5.a.relay.port, 20000);
  EXPECT_EQ(p5.b.relay.port, 20002);
}

// --------------------------------------------------------- requested relays
// After a dataplane restart the control plane re-pushes every live pair at
// the relay ports the phones were told (LegRequest::relay).

TEST_F(StreamRegistryTest, RequestedRelayIsTakenExactly) {
  Build(1);
  const size_t free_v4 = registry_->free_port_pairs(false);
  const size_t free_v6 = registry_->free_port_pairs(true);
  PairView p = MustAllocate(At("203.0.113.10:20006", V4(Ep("192.0.2.1:4000"))),
                            At("[2001:db8::10]:20010", V6(Ep("[2001:db8::5]:5000"))));
  EXPECT_EQ(p.a.relay, Ep("203.0.113.10:20006"));
  EXPECT_EQ(p.a.rtcp_relay, Ep("203.0.113.10:20007"));
  EXPECT_EQ(p.b.relay, Ep("[2001:db8::10]:20010"));
  EXPECT_EQ(p.b.rtcp_relay, Ep("[2001:db8::10]:20011"));
  EXPECT_EQ(registry_->free_port_pairs(false), free_v4 - 1);
  EXPECT_EQ(registry_->free_port_pairs(true), free_v6 - 1);
  DrainAll();
  EXPECT_EQ(RtpFlow(p.a).state, LatchState::kUnlatched);
  EXPECT_EQ(RtpFlow(p.a).partner_slot, SlotOf(p.b.relay));
  EXPECT_EQ(RtcpFlow(p.b).partner_slot, SlotOf(p.a.rtcp_relay));
  // The same port number on the other address is another port pair.
  PairView q = MustAllocate(At("[2001:db8::10]:20006", V6()), V4());
  EXPECT_EQ(q.a.relay, Ep("[2001:db8::10]:20006"));
  EXPECT_EQ(q.b.relay, Ep("203.0.113.10:20000")) << "unrequested leg: next free as usual";
}

TEST_F(StreamRegistryTest, RequestedRelayInUseIsAlreadyExistsAndAllocatesNothing) {
  Build(1);
  PairView first = MustAllocate(At("203.0.113.10:20006", V4()), V4());  // b: 20000
  ASSERT_EQ(first.b.relay, Ep("203.0.113.10:20000"));
  const size_t free_v4 = registry_->free_port_pairs(false);
  for (const char* taken : {"203.0.113.10:20006", "203.0.113.10:20000"}) {
    auto r = registry_->Allocate(At(taken, V4()), V4(), "", 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << taken << r.status();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr("a.relay")) << r.status();
    r = registry_->Allocate(V4(), At(taken, V4()), "", 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << taken << r.status();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr("b.relay")) << r.status();
  }
  // b is free, a is not: b must not be taken either.
  auto r = registry_->Allocate(At("203.0.113.10:20006", V4()), At("203.0.113.10:20008", V4()),
                               "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
  EXPECT_EQ(registry_->stream_count(), 2u);
  EXPECT_EQ(registry_->free_port_pairs(false), free_v4);
  EXPECT_EQ(MustAllocate(At("203.0.113.10:20008", V4()), V4()).a.relay,
            Ep("203.0.113.10:20008"));
}

TEST_F(StreamRegistryTest, RequestedRelayThatIsNoRelayPortPairIsInvalidArgument) {
  Build(1);
  struct Case {
    LegRequest a;
    LegRequest b;
    const char* why;
  };
  const std::vector<Case> cases = {
      {At("203.0.113.10:20007", V4()), V4(), "odd"},
      {V4(), At("203.0.113.10:20016", V4()), "outside"},
      {At("203.0.113.10:19998", V4()), V4(), "outside"},
      {At("203.0.113.99:20000", V4()), V4(), "not a relay address"},
      {V4(), At("[2001:db8::99]:20000", V6()), "not a relay address"},
      {At("[2001:db8::10]:20000", V4()), V4(), "family"},
      {V4(), At("203.0.113.10:20000", V6()), "family"},
      {At("203.0.113.10:20004", V4()), At("203.0.113.10:20004", V4()), "both legs"},
  };
  for (const Case& c : cases) {
    auto r = registry_->Allocate(c.a, c.b, "", 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.why << r.status();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.why));
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(".relay"));
  }
  EXPECT_EQ(registry_->stream_count(), 0u);
  EXPECT_EQ(registry_->free_port_pairs(false), 8u);
  EXPECT_EQ(registry_->free_port_pairs(true), 8u);
}

TEST_F(StreamRegistryTest, DeletedRequestedRelayCanBeRequestedAgain) {
  Build(1);
  PairView p = MustAllocate(At("203.0.113.10:20010", V4()), At("203.0.113.10:20012", V4()));
  ASSERT_TRUE(registry_->Delete(p.pair).ok());
  DrainAll();
  PairView again =
      MustAllocate(At("203.0.113.10:20010", V4()), At("203.0.113.10:20012", V4()));
  EXPECT_EQ(again.a.relay, p.a.relay);
  EXPECT_EQ(again.b.relay, p.b.relay);
  EXPECT_NE(again.pair, p.pair) << "ids stay dataplane-assigned";
  DrainAll();
  EXPECT_EQ(RtpFlow(again.a).state, LatchState::kUnlatched);
  EXPECT_EQ(RtpFlow(again.a).partner_slot, SlotOf(again.b.relay));
}

TEST_F(StreamRegistryTest, RequestedAndFreedRelayIsNeverHandedOutTwice) {
  Build(1);
  // Taken from the middle of the free queue, then everything else.
  PairView requested =
      MustAllocate(At("203.0.113.10:20004", V4()), At("203.0.113.10:20010", V4()));
  std::multiset<uint16_t> ports = {requested.a.relay.port, requested.b.relay.port};
  for (int i = 0; i < 3; ++i) {
    PairView p = MustAllocate(V4(), V4());
    ports.insert(p.a.relay.port);
    ports.insert(p.b.relay.port);
  }
  EXPECT_EQ(std::set<uint16_t>(ports.begin(), ports.end()).size(), 8u) << "a port twice";
  EXPECT_EQ(registry_->Allocate(V4(), V4(), "", 0).status().code(),
            absl::StatusCode::kResourceExhausted);

  // Freed, it comes back exactly once.
  ASSERT_TRUE(registry_->Delete(requested.pair).ok());
  EXPECT_EQ(registry_->free_port_pairs(false), 2u);
  PairView reused = MustAllocate(V4(), V4());
  EXPECT_EQ(reused.a.relay.port, 20004);
  EXPECT_EQ(reused.b.relay.port, 20010);
  EXPECT_EQ(registry_->free_port_pairs(false), 0u);
  EXPECT_EQ(registry_->Allocate(V4(), V4(), "", 0).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(registry_->Allocate(At("203.0.113.10:20004", V4()), V4(), "", 0).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(StreamRegistryTest, UnrequestedLegLandsOnTheRequestedLegsLcore) {
  Build(2);  // lcore of a port pair: (slot / 2) % 2, so v4 20002 is lcore 1
  PairView p = MustAllocate(V4(), At("203.0.113.10:20002", V4()));
  EXPECT_EQ(p.b.relay, Ep("203.0.113.10:20002"));
  EXPECT_EQ(p.b.lcore_index, 1u);
  EXPECT_EQ(p.a.lcore_index, 1u);
  EXPECT_EQ(p.a.relay, Ep("203.0.113.10:20006")) << "lcore 1's next free pair";
  PairView q = MustAllocate(At("203.0.113.10:20010", V4()), V6());
  EXPECT_EQ(q.a.lcore_index, 1u);
  EXPECT_EQ(q.b.lcore_index, 1u);
  EXPECT_EQ(OwnerIndexOf(SlotOf(q.b.relay), 2), 1u) << q.b.relay.ToString();
  DrainAll();  // checks every command went to its slot's owner
  // Requested pairs leave the round-robin turn alone.
  EXPECT_EQ(MustAllocate(V4(), V4()).a.lcore_index, 0u);
}

TEST_F(StreamRegistryTest, RequestedRelaysOnDifferentLcoresAreInvalidArgument) {
  Build(2);
  auto r = registry_->Allocate(At("203.0.113.10:20000", V4()), At("203.0.113.10:20002", V4()),
                               "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("lcore")) << r.status();
  EXPECT_EQ(registry_->stream_count(), 0u);
  EXPECT_EQ(registry_->free_port_pairs(false), 8u);
  // Same lcore: fine.
  PairView p = MustAllocate(At("203.0.113.10:20000", V4()), At("203.0.113.10:20004", V4()));
  EXPECT_EQ(p.a.lcore_index, 0u);
  EXPECT_EQ(p.b.lcore_index, 0u);
}

TEST_F(StreamRegistryTest, RequestedRelayWhoseLcoreIsFullIsResourceExhaustedAndLeaksNothing) {
  Build(2);  // v4 on lcore 1: 20002, 20006, 20010, 20014
  MustAllocate(At("203.0.113.10:20002", V4()), V4());
  MustAllocate(At("203.0.113.10:20010", V4()), V4());
  const size_t free_v6 = registry_->free_port_pairs(true);
  // v6 20002 is free and on lcore 1, but lcore 1 has no v4 pair for b.
  auto r = registry_->Allocate(At("[2001:db8::10]:20002", V6()), V4(), "", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("lcore 1")) << r.status();
  EXPECT_EQ(registry_->free_port_pairs(true), free_v6);
  PairView p = MustAllocate(At("[2001:db8::10]:20002", V6()), V6());
  EXPECT_EQ(p.a.relay, Ep("[2001:db8::10]:20002"));
  EXPECT_EQ(p.b.lcore_index, 1u);
}

// ------------------------------------------------------ commands and flows

TEST_F(StreamRegistryTest, DrainedFlowsArePartneredWithEgressToThePartnersExpectedPeer) {
  Build(1);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V4(Ep("192.0.2.2:5000")));
  DrainAll();
  const uint32_t a_rtp = SlotOf(p.a.relay), a_rtcp = SlotOf(p.a.rtcp_relay);
  const uint32_t b_rtp = SlotOf(p.b.relay), b_rtcp = SlotOf(p.b.rtcp_relay);
  EXPECT_EQ(a_rtcp, a_rtp + 1);

  const Flow& fa = table_->at(a_rtp);
  EXPECT_EQ(fa.state, LatchState::kUnlatched);
  EXPECT_EQ(fa.policy, LatchPolicy::kLearn);
  EXPECT_EQ(fa.partner_slot, b_rtp);
  EXPECT_EQ(fa.expected_ip, Ip("192.0.2.1"));
  EXPECT_EQ(fa.expected_port, 4000);
  EXPECT_EQ(fa.flags & kFlowRtcp, 0);
  ASSERT_TRUE(fa.flags & kFlowEgressReady);
  // Packets arriving at a leave from b's relay port towards b's peer.
  EXPECT_EQ(fa.egress_dst_ip, Ip("192.0.2.2"));
  EXPECT_EQ(fa.egress_dst_port, 5000);
  EXPECT_EQ(fa.egress_addr_id, kV4);
  EXPECT_EQ(fa.egress_src_port, p.b.relay.port);

  const Flow& fb = table_->at(b_rtp);
  EXPECT_EQ(fb.partner_slot, a_rtp);
  ASSERT_TRUE(fb.flags & kFlowEgressReady);
  EXPECT_EQ(fb.egress_dst_ip, Ip("192.0.2.1"));
  EXPECT_EQ(fb.egress_dst_port, 4000);
  EXPECT_EQ(fb.egress_src_port, p.a.relay.port);

  // RTCP flows pair with RTCP flows and target the peer's port + 1.
  const Flow& fa_rtcp = table_->at(a_rtcp);
  EXPECT_EQ(fa_rtcp.state, LatchState::kUnlatched);
  EXPECT_TRUE(fa_rtcp.flags & kFlowRtcp);
  EXPECT_EQ(fa_rtcp.partner_slot, b_rtcp);
  EXPECT_EQ(fa_rtcp.expected_port, 4001);
  ASSERT_TRUE(fa_rtcp.flags & kFlowEgressReady);
  EXPECT_EQ(fa_rtcp.egress_dst_ip, Ip("192.0.2.2"));
  EXPECT_EQ(fa_rtcp.egress_dst_port, 5001);
  EXPECT_EQ(fa_rtcp.egress_src_port, p.b.rtcp_relay.port);
  EXPECT_EQ(table_->at(b_rtcp).egress_dst_port, 4001);

  // Generations tie events to this install.
  EXPECT_NE(fa.generation, 0);
  EXPECT_EQ(table_->at(a_rtcp).generation, fa.generation);
  EXPECT_NE(fb.generation, fa.generation);
}

TEST_F(StreamRegistryTest, MixedFamilyPairEgressLeavesFromThePartnersAddress) {
  Build(1);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V6(Ep("[2001:db8::99]:6000")));
  DrainAll();
  const Flow& fa = RtpFlow(p.a);  // v4 in, v6 out
  ASSERT_TRUE(fa.flags & kFlowEgressReady);
  EXPECT_EQ(fa.egress_addr_id, kV6);
  EXPECT_EQ(fa.egress_dst_ip, Ip("2001:db8::99"));
  EXPECT_EQ(fa.egress_dst_port, 6000);
  const Flow& fb = RtpFlow(p.b);
  EXPECT_EQ(fb.egress_addr_id, kV4);
  EXPECT_EQ(fb.egress_dst_ip, Ip("192.0.2.1"));
}

TEST_F(StreamRegistryTest, RtcpMuxLegKeepsRtcpOnThePeersRtpPort) {
  Build(1);
  LegRequest b = V4(Ep("192.0.2.2:5000"));
  b.rtcp_mux = true;
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), b);
  DrainAll();
  EXPECT_TRUE(RtpFlow(p.b).flags & kFlowRtcpMux);
  EXPECT_EQ(RtcpFlow(p.b).expected_port, 5000);
  EXPECT_EQ(RtcpFlow(p.a).egress_dst_port, 5000);
  EXPECT_EQ(RtcpFlow(p.b).egress_dst_port, 4001);  // a is not muxed
}

TEST_F(StreamRegistryTest, LegWithoutPeerLeavesPartnerEgressNotReady) {
  Build(1);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V4());
  DrainAll();
  EXPECT_FALSE(RtpFlow(p.a).flags & kFlowEgressReady);  // b's peer unknown
  EXPECT_TRUE(RtpFlow(p.b).flags & kFlowEgressReady);
}

TEST_F(StreamRegistryTest, PolicyDefaultsFromConfigAndCanBeSetPerLeg) {
  Build(1, 1024, LatchPolicy::kStrict);
  LegRequest b = V4();
  b.policy = LatchPolicy::kAsymmetric;
  PairView p = MustAllocate(V4(), b);
  EXPECT_EQ(p.a.rtp.policy, LatchPolicy::kStrict);
  EXPECT_EQ(p.b.rtp.policy, LatchPolicy::kAsymmetric);
  DrainAll();
  EXPECT_EQ(RtpFlow(p.a).policy, LatchPolicy::kStrict);
  EXPECT_EQ(RtpFlow(p.b).policy, LatchPolicy::kAsymmetric);
  EXPECT_EQ(RtcpFlow(p.b).policy, LatchPolicy::kAsymmetric);
}

TEST_F(StreamRegistryTest, FullCommandRingWaitsForTheLcoreInsteadOfDroppingCommands) {
  Build(1, /*ring_capacity=*/2);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V4(Ep("192.0.2.2:5000")));
  EXPECT_GT(ring_waits_, 0);
  DrainAll();
  for (const StreamView* v : {&p.a, &p.b}) {
    EXPECT_EQ(RtpFlow(*v).state, LatchState::kUnlatched);
    EXPECT_EQ(RtcpFlow(*v).state, LatchState::kUnlatched);
    EXPECT_TRUE(RtpFlow(*v).flags & kFlowEgressReady);
  }
}

TEST_F(StreamRegistryTest, QueryBeforeTheLcoreAppliedShowsWhatWasAsked) {
  Build(1);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V4());
  auto v = registry_->Query(p.a.stream, 0);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->rtp.state, LatchState::kUnlatched);
  EXPECT_EQ(v->rtp.expected_ip, Ip("192.0.2.1"));
  EXPECT_EQ(v->rtp.expected_port, 4000);
  EXPECT_FALSE(v->idle_ns.has_value());
}

TEST_F(StreamRegistryTest, UpdateChangesExpectedPeerAndPolicy) {
  Build(1);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V4(Ep("192.0.2.2:5000")));
  DrainAll();

  auto v = registry_->Update(p.a.stream, std::optional<Endpoint>(Ep("192.0.2.9:6000")),
                             LatchPolicy::kStrict, 0);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->rtp.expected_ip, Ip("192.0.2.9"));
  EXPECT_EQ(v->rtp.expected_port, 6000);
  EXPECT_EQ(v->rtp.policy, LatchPolicy::kStrict);
  DrainAll();
  EXPECT_EQ(RtpFlow(p.a).expected_ip, Ip("192.0.2.9"));
  EXPECT_EQ(RtpFlow(p.a).expected_port, 6000);
  EXPECT_EQ(RtpFlow(p.a).policy, LatchPolicy::kStrict);
  EXPECT_EQ(RtcpFlow(p.a).expected_port, 6001);
  EXPECT_EQ(RtcpFlow(p.a).policy, LatchPolicy::kStrict);
  // b's packets now go to a's new peer.
  EXPECT_EQ(RtpFlow(p.b).egress_dst_ip, Ip("192.0.2.9"));
  EXPECT_EQ(RtpFlow(p.b).egress_dst_port, 6000);
  EXPECT_EQ(RtcpFlow(p.b).egress_dst_port, 6001);
  // b itself is untouched.
  EXPECT_EQ(RtpFlow(p.b).expected_ip, Ip("192.0.2.2"));
  EXPECT_EQ(RtpFlow(p.b).policy, LatchPolicy::kLearn);

  // Policy alone keeps the peer.
  v = registry_->Update(p.a.stream, std::nullopt, LatchPolicy::kAsymmetric, 0);
  ASSERT_TRUE(v.ok()) << v.status();
  DrainAll();
  EXPECT_EQ(RtpFlow(p.a).policy, LatchPolicy::kAsymmetric);
  EXPECT_EQ(RtpFlow(p.a).expected_ip, Ip("192.0.2.9"));
  EXPECT_EQ(RtpFlow(p.a).expected_port, 6000);
  auto q = registry_->Query(p.a.stream, 0);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->rtp.policy, LatchPolicy::kAsymmetric);
  EXPECT_EQ(q->rtp.expected_port, 6000);

  // Peer alone keeps the policy.
  v = registry_->Update(p.a.stream, std::optional<Endpoint>(Ep("192.0.2.10:7000")),
                        std::nullopt, 0);
  ASSERT_TRUE(v.ok());
  DrainAll();
  EXPECT_EQ(RtpFlow(p.a).policy, LatchPolicy::kAsymmetric);
  EXPECT_EQ(RtpFlow(p.a).expected_port, 7000);

  // An explicit empty peer clears it, and b's egress is no longer ready.
  v = registry_->Update(p.a.stream, std::optional<Endpoint>(), std::nullopt, 0);
  ASSERT_TRUE(v.ok());
  DrainAll();
  EXPECT_TRUE(RtpFlow(p.a).expected_ip.is_unspecified());
  EXPECT_EQ(RtpFlow(p.a).expected_port, 0);
  EXPECT_FALSE(RtpFlow(p.b).flags & kFlowEgressReady);
  q = registry_->Query(p.a.stream, 0);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->rtp.expected_port, 0);
}

TEST_F(StreamRegistryTest, UpdateRejectsUnknownStreamAndWrongFamilyPeer) {
  Build(1);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V6());
  EXPECT_EQ(registry_->Update(999, std::nullopt, LatchPolicy::kStrict, 0).status().code(),
            absl::StatusCode::kNotFound);
  auto v = registry_->Update(p.a.stream, std::optional<Endpoint>(Ep("[2001:db8::5]:4000")),
                             std::nullopt, 0);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << v.status();
  v = registry_->Update(p.b.stream, std::optional<Endpoint>(Ep("192.0.2.5:4000")),
                        std::nullopt, 0);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << v.status();
  // The rejected update changed nothing.
  auto q = registry_->Query(p.a.stream, 0);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->rtp.expected_ip, Ip("192.0.2.1"));
}

TEST_F(StreamRegistryTest, DeleteFreesAllFourSlotsAndQueryIsThenNotFound) {
  Build(1);
  PairView p = MustAllocate(V4(Ep("192.0.2.1:4000")), V4(Ep("192.0.2.2:5000")));
  PairView other = MustAllocate(V4(), V4());
  DrainAll();
  ASSERT_TRUE(registry_->Delete(p.pair).ok());
  DrainAll();
  for (const StreamView* v : {&p.a, &p.b}) {
    EXPECT_EQ(RtpFlow(*v).state, LatchState::kFree) << v->relay.ToString();
    EXPECT_EQ(RtcpFlow(*v).state, LatchState::kFree) << v->rtcp_relay.ToString();
    EXPECT_FALSE(RtpFlow(*v).flags & kFlowEgressReady);
  }
  EXPECT_EQ(registry_->Query(p.a.stream, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Query(p.b.stream, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Delete(p.pair).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Update(p.a.stream, std::nullopt, LatchPolicy::kStrict, 0)
                .status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->stream_count(), 2u);
  EXPECT_EQ(registry_->pair_count(), 1u);
  EXPECT_EQ(registry_->free_port_pairs(false), 6u);
  // The other pair is untouched.
  EXPECT_EQ(RtpFlow(other.a).state, LatchState::kUnlatched);
  EXPECT_TRUE(registry_->Query(other.b.stream, 0).ok());
  size_t total = 0;
  auto list = registry_->List({}, 0, 100, 0, &total);
  EXPECT_EQ(total, 2u);
}

TEST_F(StreamRegistryTest, DeletingEveryPairInAnyOrderKeepsTheRegistryConsistent) {
  Build(2);
  std::vector<PairView> pairs;
  for (int i = 0; i < 4; ++i) pairs.push_back(MustAllocate(V4(), V6()));
  for (int i : {1, 3, 0, 2}) {
    ASSERT_TRUE(registry_->Delete(pairs[i].pair).ok());
    std::vector<ControlEvent> events;
    registry_->ScanIdle(100 * kSec, kSec, 100, &events);  // walks the dense list
    for (const ControlEvent& e : events) {
      EXPECT_TRUE(registry_->Query(e.stream, 0).ok()) << "idle event for deleted stream";
    }
  }
  EXPECT_EQ(registry_->stream_count(), 0u);
  EXPECT_EQ(registry_->free_port_pairs(false), 8u);
  EXPECT_EQ(registry_->free_port_pairs(true), 8u);
}

// --------------------------------------------------------------------- list

class StreamRegistryListTest : public StreamRegistryTest {
 protected:
  void SetUp() override {
    Build(1);
    LegRequest strict = V4(Ep("192.0.2.2:5000"));
    strict.policy = LatchPolicy::kStrict;
    p1_ = MustAllocate(V4(Ep("192.0.2.1:4000")), strict, "call-1");  // streams 1, 2
    p2_ = MustAllocate(V4(), V4(), "call-2");                         // streams 3, 4
    p3_ = MustAllocate(V4(), V4(Ep("192.0.2.1:4002")), "call-1");     // streams 5, 6
    DrainAll();
    // Stream 3's lcore latched a peer.
    Flow& f = RtpFlow(p2_.a);
    f.state = LatchState::kLocked;
    f.peer_ip = Ip("198.51.100.7");
    f.peer_port = 31000;
  }
  std::vector<uint64_t> Ids(const StreamFilter& filter, size_t offset = 0,
                            size_t limit = 100, size_t* total_out = nullptr) {
    size_t total = 12345;
    std::vector<uint64_t> ids;
    for (const StreamView& v : registry_->List(filter, offset, limit, 0, &total)) {
      ids.push_back(v.stream);
    }
    if (total_out) *total_out = total;
    return ids;
  }
  PairView p1_, p2_, p3_;
};

TEST_F(StreamRegistryListTest, NoFilterListsEveryStreamInIdOrder) {
  size_t total = 0;
  EXPECT_THAT(Ids({}, 0, 100, &total), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(total, 6u);
}

TEST_F(StreamRegistryListTest, FiltersByLabel) {
  StreamFilter f;
  f.label = "call-1";
  size_t total = 0;
  EXPECT_THAT(Ids(f, 0, 100, &total), ElementsAre(1, 2, 5, 6));
  EXPECT_EQ(total, 4u);
  f.label = "nope";
  EXPECT_TRUE(Ids(f, 0, 100, &total).empty());
  EXPECT_EQ(total, 0u);
}

TEST_F(StreamRegistryListTest, FiltersByState) {
  StreamFilter f;
  f.state = LatchState::kLocked;
  EXPECT_THAT(Ids(f), ElementsAre(3));
  f.state = LatchState::kUnlatched;
  EXPECT_THAT(Ids(f), ElementsAre(1, 2, 4, 5, 6));
  f.state = LatchState::kLearning;
  EXPECT_TRUE(Ids(f).empty());
}

TEST_F(StreamRegistryListTest, FiltersByPolicy) {
  StreamFilter f;
  f.policy = LatchPolicy::kStrict;
  EXPECT_THAT(Ids(f), ElementsAre(2));
  f.policy = LatchPolicy::kLearn;
  EXPECT_THAT(Ids(f), ElementsAre(1, 3, 4, 5, 6));
}

TEST_F(StreamRegistryListTest, FiltersByPeerIpExpectedOrLearned) {
  StreamFilter f;
  f.peer_ip = Ip("192.0.2.1");  // expected by streams 1 and 6
  EXPECT_THAT(Ids(f), ElementsAre(1, 6));
  f.peer_ip = Ip("198.51.100.7");  // learned by stream 3
  EXPECT_THAT(Ids(f), ElementsAre(3));
  f.peer_ip = Ip("192.0.2.200");
  EXPECT_TRUE(Ids(f).empty());
}

TEST_F(StreamRegistryListTest, CombinedFiltersAreAnded) {
  StreamFilter f;
  f.label = "call-1";
  f.peer_ip = Ip("192.0.2.1");
  f.policy = LatchPolicy::kLearn;
  EXPECT_THAT(Ids(f), ElementsAre(1, 6));
  f.state = LatchState::kLocked;
  EXPECT_TRUE(Ids(f).empty());
}

TEST_F(StreamRegistryListTest, OffsetAndLimitPageWhileTotalCountsAllMatches) {
  size_t total = 0;
  EXPECT_THAT(Ids({}, 1, 2, &total), ElementsAre(2, 3));
  EXPECT_EQ(total, 6u);
  EXPECT_THAT(Ids({}, 4, 100, &total), ElementsAre(5, 6));
  EXPECT_EQ(total, 6u);
  EXPECT_TRUE(Ids({}, 6, 100, &total).empty());
  EXPECT_EQ(total, 6u);
  EXPECT_TRUE(Ids({}, 0, 0, &total).empty());
  EXPECT_EQ(total, 6u);
  StreamFilter f;
  f.label = "call-1";
  EXPECT_THAT(Ids(f, 1, 2, &total), ElementsAre(2, 5));
  EXPECT_EQ(total, 4u);
}

TEST_F(StreamRegistryListTest, ListedViewsCarryLabelAndLearnedPeer) {
  size_t total = 0;
  auto views = registry_->List({}, 2, 1, 0, &total);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].stream, 3u);
  EXPECT_EQ(views[0].label, "call-2");
  EXPECT_EQ(views[0].rtp.state, LatchState::kLocked);
  EXPECT_EQ(views[0].rtp.peer_ip, Ip("198.51.100.7"));
  EXPECT_EQ(views[0].rtp.peer_port, 31000);
}

// ------------------------------------------------------------------- events

class StreamRegistryEventTest : public StreamRegistryTest {
 protected:
  void SetUp() override {
    Build(1);
    p_ = MustAllocate(V4(Ep("192.0.2.1:4000")), V4(Ep("192.0.2.2:5000")));
    DrainAll();
  }
  DataplaneEvent Latch(DataplaneEvent::Type type, uint32_t slot, uint16_t generation,
                       const char* ip, uint16_t port) {
    DataplaneEvent e{};
    e.type = type;
    e.slot = slot;
    e.generation = generation;
    e.ip = Ip(ip);
    e.port = port;
    return e;
  }
  std::vector<ControlEvent> Drain() {
    std::vector<SpscRing<DataplaneEvent>*> rings = {&events_a_, &events_b_};
    std::vector<ControlEvent> out;
    registry_->DrainEvents(rings, neighbors_, &out);
    return out;
  }
  PairView p_;
  SpscRing<DataplaneEvent> events_a_{64};
  SpscRing<DataplaneEvent> events_b_{64};
  NeighborTable neighbors_{8};
};

TEST_F(StreamRegistryEventTest, LatchedEventBecomesControlEventForItsStream) {
  const uint32_t slot = SlotOf(p_.b.relay);
  ASSERT_TRUE(events_a_.Push(Latch(DataplaneEvent::Type::kLatched, slot,
                                   table_->at(slot).generation, "198.51.100.7", 31000)));
  auto out = Drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, ControlEvent::Type::kLatched);
  EXPECT_EQ(out[0].stream, p_.b.stream);
  EXPECT_EQ(out[0].pair, p_.pair);
  EXPECT_EQ(out[0].peer, Ep("198.51.100.7:31000"));
  EXPECT_TRUE(Drain().empty()) << "the ring was drained";
}

TEST_F(StreamRegistryEventTest, RelatchAndRtcpSlotEventsMapToTheStream) {
  const uint32_t rtcp = SlotOf(p_.a.rtcp_relay);
  ASSERT_TRUE(events_b_.Push(Latch(DataplaneEvent::Type::kRelatched, rtcp,
                                   table_->at(rtcp).generation, "198.51.100.8", 31001)));
  auto out = Drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, ControlEvent::Type::kRelatched);
  EXPECT_EQ(out[0].stream, p_.a.stream);
  EXPECT_EQ(out[0].peer, Ep("198.51.100.8:31001"));
}

TEST_F(StreamRegistryEventTest, StaleGenerationIsIgnored) {
  const uint32_t slot = SlotOf(p_.a.relay);
  const uint16_t gen = table_->at(slot).generation;
  ASSERT_TRUE(events_a_.Push(Latch(DataplaneEvent::Type::kLatched, slot,
                                   static_cast<uint16_t>(gen + 100), "198.51.100.7", 31000)));
  ASSERT_TRUE(events_a_.Push(Latch(DataplaneEvent::Type::kLatched, slot, gen,
                                   "198.51.100.9", 31002)));
  auto out = Drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].peer, Ep("198.51.100.9:31002"));
}

TEST_F(StreamRegistryEventTest, EventForAReusedSlotFromTheOldCallIsIgnored) {
  // Exhaust the v4 ports so the deleted pair's slots are the only ones left.
  for (int i = 0; i < 3; ++i) MustAllocate(V4(), V4());
  const uint32_t slot = SlotOf(p_.a.relay);
  const uint16_t old_gen = table_->at(slot).generation;
  ASSERT_TRUE(registry_->Delete(p_.pair).ok());
  // Latch from a deleted slot, before anyone reused it.
  ASSERT_TRUE(events_a_.Push(Latch(DataplaneEvent::Type::kLatched, slot, old_gen,
                                   "198.51.100.7", 31000)));
  EXPECT_TRUE(Drain().empty());
  PairView reuse = MustAllocate(V4(), V4());
  ASSERT_EQ(SlotOf(reuse.a.relay), slot);
  DrainAll();
  ASSERT_TRUE(events_a_.Push(Latch(DataplaneEvent::Type::kLatched, slot, old_gen,
                                   "198.51.100.7", 31000)));
  EXPECT_TRUE(Drain().empty()) << "old call's latch attributed to the new stream";
}

TEST_F(StreamRegistryEventTest, NeighborEventsFeedTheNeighborTable) {
  DataplaneEvent e{};
  e.type = DataplaneEvent::Type::kNeighbor;
  e.ip = Ip("203.0.113.1");
  const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x53, 0x01};
  std::memcpy(e.mac, mac, 6);
  ASSERT_TRUE(events_b_.Push(e));
  DataplaneEvent v6 = e;
  v6.ip = Ip("fe80::1");
  v6.mac[5] = 0x02;
  ASSERT_TRUE(events_b_.Push(v6));

  uint8_t found[6] = {};
  EXPECT_FALSE(neighbors_.Lookup(Ip("203.0.113.1"), found));
  EXPECT_TRUE(Drain().empty()) << "neighbors are not control events";
  ASSERT_TRUE(neighbors_.Lookup(Ip("203.0.113.1"), found));
  EXPECT_EQ(0, std::memcmp(found, mac, 6));
  ASSERT_TRUE(neighbors_.Lookup(Ip("fe80::1"), found));
  EXPECT_EQ(found[5], 0x02);
  EXPECT_EQ(neighbors_.size(), 2u);
}

// --------------------------------------------------------------------- idle

TEST_F(StreamRegistryTest, ScanIdleReportsOnceAfterTimeoutAndAgainOnlyAfterTrafficResumes) {
  Build(1);
  PairView p = MustAllocate(V4(), V4(), "", /*now_ns=*/0);
  DrainAll();
  const uint64_t timeout = 10 * kSec;
  std::vector<ControlEvent> out;

  RtpFlow(p.a).last_rx_ns = 1 * kSec;
  RtpFlow(p.b).last_rx_ns = 1 * kSec;
  registry_->ScanIdle(5 * kSec, timeout, 100, &out);
  EXPECT_TRUE(out.empty());

  registry_->ScanIdle(20 * kSec, timeout, 100, &out);
  ASSERT_EQ(out.size(), 2u);
  std::set<uint64_t> idle_streams;
  for (const ControlEvent& e : out) {
    EXPECT_EQ(e.type, ControlEvent::Type::kIdle);
    EXPECT_EQ(e.pair, p.pair);
    EXPECT_EQ(e.idle_ns, 19 * kSec);
    idle_streams.insert(e.stream);
  }
  EXPECT_EQ(idle_streams, (std::set<uint64_t>{p.a.stream, p.b.stream}));

  out.clear();
  registry_->ScanIdle(21 * kSec, timeout, 100, &out);
  EXPECT_TRUE(out.empty()) << "reported twice without traffic in between";

  // a's traffic resumes (on RTCP only: that counts too), then stops again.
  RtcpFlow(p.a).last_rx_ns = 22 * kSec;
  registry_->ScanIdle(23 * kSec, timeout, 100, &out);
  EXPECT_TRUE(out.empty());
  registry_->ScanIdle(31 * kSec, timeout, 100, &out);
  EXPECT_TRUE(out.empty());
  registry_->ScanIdle(33 * kSec, timeout, 100, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].stream, p.a.stream);
  EXPECT_EQ(out[0].idle_ns, 11 * kSec);
}

// The idle scan also takes a census of latch states (metrics), published
// whole at the end of each pass: a gauge that never walks every stream at
// once.
TEST_F(StreamRegistryTest, ScanIdleCountsStreamsByLatchStateEachPass) {
  Build(1);
  PairView p = MustAllocate(V4(), V4());
  PairView q = MustAllocate(V4(), V4());
  DrainAll();
  std::vector<ControlEvent> out;
  EXPECT_EQ(registry_->states_seen()[static_cast<size_t>(LatchState::kUnlatched)], 0u)
      << "nothing before the first pass ends";
  RtpFlow(p.a).state = LatchState::kLocked;
  RtpFlow(q.b).state = LatchState::kLearning;
  registry_->ScanIdle(kSec, 10 * kSec, 4, &out);  // one pass, not yet published
  EXPECT_EQ(registry_->states_seen()[static_cast<size_t>(LatchState::kLocked)], 0u);
  registry_->ScanIdle(kSec, 10 * kSec, 1, &out);  // the next pass begins
  const auto& seen = registry_->states_seen();
  EXPECT_EQ(seen[static_cast<size_t>(LatchState::kUnlatched)], 2u);
  EXPECT_EQ(seen[static_cast<size_t>(LatchState::kLearning)], 1u);
  EXPECT_EQ(seen[static_cast<size_t>(LatchState::kLocked)], 1u);
  ASSERT_TRUE(registry_->Delete(q.pair).ok());
  DrainAll();
  registry_->ScanIdle(kSec, 10 * kSec, 3, &out);
  EXPECT_EQ(seen[static_cast<size_t>(LatchState::kUnlatched)], 1u) << "after the delete's pass";
  EXPECT_EQ(seen[static_cast<size_t>(LatchState::kLearning)], 0u);
}

TEST_F(StreamRegistryTest, ScanIdleCountsFromAllocationWhenNoPacketEverArrived) {
  Build(1);
  PairView p = MustAllocate(V4(), V4(), "", /*now_ns=*/100 * kSec);
  DrainAll();
  std::vector<ControlEvent> out;
  registry_->ScanIdle(105 * kSec, 10 * kSec, 100, &out);
  EXPECT_TRUE(out.empty());
  registry_->ScanIdle(111 * kSec, 10 * kSec, 100, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].idle_ns, 11 * kSec);
  auto v = registry_->Query(p.a.stream, 111 * kSec);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->idle_ns.has_value()) << "no packet yet: idle_ms is null";
}

TEST_F(StreamRegistryTest, ScanIdleBudgetBoundsWorkAndTheCursorCoversEveryStream) {
  Build(1);
  for (int i = 0; i < 3; ++i) MustAllocate(V4(), V4(), "", 0);
  DrainAll();
  std::set<uint64_t> seen;
  for (int call = 0; call < 6; ++call) {
    std::vector<ControlEvent> out;
    registry_->ScanIdle(100 * kSec, kSec, 1, &out);
    EXPECT_LE(out.size(), 1u);
    for (const ControlEvent& e : out) seen.insert(e.stream);
  }
  EXPECT_EQ(seen, (std::set<uint64_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(StreamRegistryTest, QueryReportsIdleSinceTheLastPacket) {
  Build(1);
  PairView p = MustAllocate(V4(), V4(), "", 0);
  DrainAll();
  RtpFlow(p.a).last_rx_ns = 2 * kSec;
  RtcpFlow(p.a).last_rx_ns = 3 * kSec;
  auto v = registry_->Query(p.a.stream, 3 * kSec + 250 * kMs);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->idle_ns.has_value());
  EXPECT_EQ(*v->idle_ns, 250 * kMs);
}

// Regression (found failing against commit 40a44e7, stream_registry.cc
// LastActivity): a slot's last_rx_ns survives kRemove, so until the owner
// lcore applies the new kInstall (which zeroes the flow) LastActivity read
// the *previous call's* last packet time. The Allocate reply is built right
// after the commands are queued, so on a reused slot it showed the old
// call's idle time, and an idle scan in that window reported the brand-new
// stream as idle. Fixed by ignoring the slot's times until its generation
// matches the stream's.
class StreamRegistryReusedSlotTest : public StreamRegistryTest {
 protected:
  void SetUp() override {
    Build(1);
    PairView old = MustAllocate(V4(), V4(), "old", 0);
    for (int i = 0; i < 3; ++i) MustAllocate(V4(), V4(), "", 0);  // exhaust v4
    DrainAll();
    RtpFlow(old.a).last_rx_ns = 1 * kSec;  // the old call's last packets
    RtpFlow(old.b).last_rx_ns = 1 * kSec;
    ASSERT_TRUE(registry_->Delete(old.pair).ok());
    DrainAll();
    old_ = old;
  }
  PairView old_;
};

TEST_F(StreamRegistryReusedSlotTest, AllocateReplyOnAReusedSlotShowsNoIdleTime) {
  PairView fresh = MustAllocate(V4(), V4(), "new", 100 * kSec);  // lcore not run yet
  ASSERT_EQ(fresh.a.relay, old_.a.relay);
  EXPECT_FALSE(fresh.a.idle_ns.has_value())
      << "fresh stream shows the old call's idle time " << *fresh.a.idle_ns;
}

TEST_F(StreamRegistryReusedSlotTest, ScanIdleDoesNotReportAFreshStreamOnAReusedSlot) {
  PairView fresh = MustAllocate(V4(), V4(), "new", 100 * kSec);  // lcore not run yet
  ASSERT_EQ(fresh.a.relay, old_.a.relay);
  std::vector<ControlEvent> out;
  registry_->ScanIdle(100 * kSec, 10 * kSec, 100, &out);
  for (const ControlEvent& e : out) {
    EXPECT_NE(e.pair, fresh.pair)
        << "stream " << e.stream << " allocated just now reported idle for "
        << e.idle_ns / kSec << " s (old call's last packet)";
  }
}

}  // namespace
}  // namespace rtplatch
