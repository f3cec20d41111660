// The whole per-packet step, frame in -> verdict + frame out, on a table
// populated through the real registry and command path (no EAL).
#include "dataplane/fastpath/fast_path.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "dataplane/control/stream_registry.h"
#include "dataplane/fastpath/forward_locked.h"
#include "dataplane/fastpath/stun_responder.h"
#include "tests/dataplane/fastpath/frame_builder.h"
#include "tests/dataplane/fastpath/stun_request_builder.h"

namespace rtplatch {
namespace {

using testing::BuildRtpFrame;
using testing::DecodeFrame;
using testing::RtpSpec;

constexpr uint64_t kMs = 1'000'000;
constexpr size_t kHeadroom = 128;
IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }
Endpoint Ep(const char* t) { return *Endpoint::Parse(t); }

class FastPathTest : public ::testing::Test {
 protected:
  FastPathTest() {
    auto addrs = RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")});
    table_ = std::move(*FlowTable::Create(std::move(*addrs), 20000, 20099));
    registry_ = std::make_unique<StreamRegistry>(*table_, std::vector{&commands_},
                                                 LatchPolicy::kLearn, [this] { Drain(); });
    ctx_.table = table_.get();
    ctx_.neighbors = &neighbors_;
    ctx_.counters = &counters_;
    ctx_.events = &events_;
    ctx_.latch = LatchConfig{3, 1000 * kMs, 500 * kMs};
    std::memcpy(ctx_.relay_mac, testing::kRelayMac, 6);
    ctx_.lcore_index = 0;
    ctx_.lcore_count = 1;
    ctx_.ice = &ice_;
    for (const char* ip : {"203.0.113.20", "203.0.113.30", "2001:db8::20"}) {
      uint8_t mac[6] = {0x02, 0xaa, 0, 0, 0, static_cast<uint8_t>(neighbors_.size() + 1)};
      neighbors_.Learn(Ip(ip), mac);
    }
  }

  void Drain() {
    FlowCommand c;
    while (commands_.Pop(&c)) ApplyFlowCommand(*table_, c, &ice_);
  }

  PairView Allocate(LegRequest a, LegRequest b) {
    auto pair = registry_->Allocate(a, b, "test", 0);
    EXPECT_TRUE(pair.ok()) << pair.status();
    Drain();
    return *pair;
  }

  struct Sent {
    PacketVerdict verdict;
    testing::DecodedFrame out;
  };
  Sent Send(const char* from, const Endpoint& to, uint64_t now, uint32_t ssrc = 7,
            uint8_t first_byte = 0x80) {
    auto colon = std::string(from).rfind(':');
    std::string host = std::string(from).substr(0, colon);
    if (host.front() == '[') host = host.substr(1, host.size() - 2);
    RtpSpec spec{Ip(host.c_str()), to.ip,
                 static_cast<uint16_t>(std::stoi(std::string(from).substr(colon + 1))),
                 to.port};
    spec.ssrc = ssrc;
    spec.first_byte = first_byte;
    buf_ = BuildRtpFrame(spec, kHeadroom);
    uint8_t* frame = buf_.data() + kHeadroom;
    Sent s{ProcessFrame(ctx_, frame, static_cast<uint32_t>(buf_.size() - kHeadroom),
                        kHeadroom, now),
           {}};
    if (s.verdict.action == PacketAction::kTransmit) {
      s.out = DecodeFrame(frame + s.verdict.start_delta, s.verdict.length);
    }
    return s;
  }
  // Offers a frame built with kHeadroom to the fast path, expecting it to
  // be held; returns its length.
  uint32_t HoldFirst(std::vector<uint8_t>& buf) {
    const uint32_t len = static_cast<uint32_t>(buf.size() - kHeadroom);
    EXPECT_EQ(ProcessFrame(ctx_, buf.data() + kHeadroom, len, kHeadroom, 0).action,
              PacketAction::kHold);
    return len;
  }
  uint64_t Dropped(DropReason r) const { return counters_.drops[static_cast<size_t>(r)]; }

  std::unique_ptr<FlowTable> table_;
  SpscRing<FlowCommand> commands_{1024};
  SpscRing<DataplaneEvent> events_{1024};
  std::unique_ptr<StreamRegistry> registry_;
  NeighborTable neighbors_{8};
  LcoreCounters counters_;
  IceCredentialTable ice_{16};
  FastPathContext ctx_{};
  std::vector<uint8_t> buf_;
};

TEST_F(FastPathTest, NatPhoneAndPublicPhoneHearEachOther) {
  PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.20:5000")});
  // The NAT'd phone's packets come from the NAT's mapping, not its SDP.
  Sent up = Send("203.0.113.30:31000", p.a.relay, 0);
  ASSERT_EQ(up.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(up.out.src, Ip("203.0.113.10"));
  EXPECT_EQ(up.out.src_port, p.b.relay.port);
  EXPECT_EQ(up.out.dst, Ip("203.0.113.20"));
  EXPECT_EQ(up.out.dst_port, 5000);
  EXPECT_TRUE(up.out.udp_checksum_ok && up.out.ip_checksum_ok);
  // Back: to the latched mapping, not to the private SDP address.
  Sent down = Send("203.0.113.20:5000", p.b.relay, 20 * kMs);
  ASSERT_EQ(down.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(down.out.dst, Ip("203.0.113.30"));
  EXPECT_EQ(down.out.dst_port, 31000);
  EXPECT_EQ(down.out.src_port, p.a.relay.port);
  DataplaneEvent e;
  ASSERT_TRUE(events_.Pop(&e));
  EXPECT_EQ(e.type, DataplaneEvent::Type::kLatched);
  EXPECT_EQ(e.ip, Ip("203.0.113.30"));
}

TEST_F(FastPathTest, RtpBleedAttackerGetsNothingAndIsCounted) {
  PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.20:5000")});
  for (int i = 0; i < 3; ++i) Send("203.0.113.30:31000", p.a.relay, i * 20 * kMs);
  for (int i = 0; i < 10; ++i) {
    Sent s = Send("203.0.113.66:40000", p.a.relay, (100 + i) * kMs, 99);
    EXPECT_EQ(s.verdict.action, PacketAction::kDrop);
  }
  EXPECT_EQ(Dropped(DropReason::kNotLatchedPeer), 10u);
  // The real phone still flows, and replies still go to it.
  EXPECT_EQ(Send("203.0.113.20:5000", p.b.relay, 200 * kMs).out.dst, Ip("203.0.113.30"));
}

// Media overload (issue 16): the NIC's full ring thins a stream (here one
// packet in three gets through, and once nothing for longer than the
// relatch silence) while sprayers flood both relay ports. Every packet of
// the latched peer that arrives is relayed, nothing of the spray is, the
// latch never moves, and after the outage the stream flows again at once.
TEST_F(FastPathTest, OverloadThinsAStreamButNeverMutesOrRelatchesIt) {
  PairView p = Allocate({false, Ep("203.0.113.30:31000")}, {false, Ep("203.0.113.20:5000")});
  for (int i = 0; i < 3; ++i) {  // lock both legs (window: 3 packets)
    ASSERT_EQ(Send("203.0.113.30:31000", p.a.relay, i * 20 * kMs).verdict.action,
              PacketAction::kTransmit);
    ASSERT_EQ(Send("203.0.113.20:5000", p.b.relay, i * 20 * kMs, 9).verdict.action,
              PacketAction::kTransmit);
  }
  std::mt19937 rng(16);
  auto spray = [&](uint64_t now) {
    const std::string from = "192.0.2." + std::to_string(1 + rng() % 254) + ":" +
                             std::to_string(1024 + rng() % 60000);
    const Endpoint& to = rng() % 2 ? p.a.relay : p.b.relay;
    EXPECT_EQ(Send(from.c_str(), to, now, static_cast<uint32_t>(rng())).verdict.action,
              PacketAction::kDrop);
  };
  uint64_t now = 100 * kMs;
  for (int i = 0; i < 500; ++i, now += 60 * kMs) {  // 30 s at a third of 50 packets/s
    for (int k = 0; k < 20; ++k) spray(now);
    ASSERT_EQ(Send("203.0.113.30:31000", p.a.relay, now).verdict.action, PacketAction::kTransmit);
    ASSERT_EQ(Send("203.0.113.20:5000", p.b.relay, now, 9).verdict.action,
              PacketAction::kTransmit);
  }
  // An outage longer than the relatch silence (500 ms here), sprayed.
  for (int i = 0; i < 100; ++i, now += 10 * kMs) spray(now);
  EXPECT_EQ(Send("203.0.113.30:31000", p.a.relay, now).verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(Send("203.0.113.20:5000", p.b.relay, now, 9).verdict.action, PacketAction::kTransmit);
  for (uint64_t stream : {p.a.stream, p.b.stream}) {
    const StreamView v = *registry_->Query(stream, now);
    EXPECT_EQ(v.rtp.relatches, 0u);
    EXPECT_EQ(v.rtp.state, LatchState::kLocked);
    EXPECT_EQ(v.rtp.packets, 3u + 500 + 1);
  }
  EXPECT_EQ(Dropped(DropReason::kNotLatchedPeer), 500u * 20 + 100);
}

TEST_F(FastPathTest, UnknownStreamAndNonRtpAreDroppedByReason) {
  EXPECT_EQ(Send("203.0.113.30:31000", Ep("203.0.113.10:20050"), 0).verdict.reason,
            DropReason::kUnknownStream);
  PairView p = Allocate({false, std::nullopt}, {false, Ep("203.0.113.20:5000")});
  EXPECT_EQ(Send("203.0.113.30:31000", p.a.relay, 0, 7, /*first_byte=*/0x40).verdict.reason,
            DropReason::kNotRtp);
  EXPECT_EQ(Dropped(DropReason::kUnknownStream), 1u);
  EXPECT_EQ(Dropped(DropReason::kNotRtp), 1u);
}

// A phone that probes with STUN before its RTP (RFC 5389 Binding Request
// to the relay port): counted as `stun`, not `not_rtp`, and it latches
// nothing, so the phone's RTP that follows is what the flow learns.
// A stream allocated with ICE credentials answers authentic checks on its
// RTP and RTCP ports, from the port asked, back to the sender (IPv4 and
// IPv6); wrong credentials and streams without them get no answer; checks
// never latch.
TEST_F(FastPathTest, IceChecksAreAnsweredOnlyForTheStreamsCredentials) {
  LegRequest a{false, std::nullopt};
  a.ice = MakeIceCredentials("Rl8aUfrg", "passwordpasswordpassword");
  LegRequest b{true, Ep("[2001:db8::20]:5000")};
  b.ice = MakeIceCredentials("Rl8bUfrg", "bbbbbbbbbbbbbbbbbbbbbbbb");
  PairView p = Allocate(a, b);
  PairView plain = Allocate({false, std::nullopt}, {false, Ep("203.0.113.20:5002")});
  auto check = [&](const char* src, uint16_t sport, const Endpoint& to, const char* user,
                   const char* pwd) {
    std::vector<uint8_t> stun = testing::BuildStunRequest({user, pwd});
    RtpSpec spec{Ip(src), to.ip, sport, to.port};
    spec.raw_payload = &stun;
    buf_ = BuildRtpFrame(spec, kHeadroom);
    uint8_t* frame = buf_.data() + kHeadroom;
    Sent s{ProcessFrame(ctx_, frame, static_cast<uint32_t>(buf_.size() - kHeadroom), kHeadroom,
                        0),
           {}};
    if (s.verdict.action == PacketAction::kTransmit) {
      s.out = DecodeFrame(frame + s.verdict.start_delta, s.verdict.length);
    }
    return s;
  };
  Sent v4 = check("203.0.113.30", 31000, p.a.relay, "Rl8aUfrg:peer", "passwordpasswordpassword");
  ASSERT_EQ(v4.verdict.action, PacketAction::kTransmit);
  ASSERT_TRUE(v4.out.ok);
  EXPECT_EQ(v4.out.src, p.a.relay.ip);
  EXPECT_EQ(v4.out.src_port, p.a.relay.port);
  EXPECT_EQ(v4.out.dst, Ip("203.0.113.30"));
  EXPECT_EQ(v4.out.dst_port, 31000);
  EXPECT_TRUE(v4.out.ip_checksum_ok);
  EXPECT_TRUE(v4.out.udp_checksum_ok);
  EXPECT_EQ(0, std::memcmp(v4.out.dst_mac, testing::kPeerMac, 6));
  EXPECT_EQ(0, std::memcmp(v4.out.src_mac, testing::kRelayMac, 6));
  EXPECT_TRUE(StunMessageAuthentic(v4.out.payload.data(), v4.out.payload.size(),
                                   "passwordpasswordpassword"));
  EXPECT_EQ(testing::XorMappedAddressOf(v4.out.payload).port, 31000);

  Sent rtcp = check("203.0.113.30", 31001, p.a.rtcp_relay, "Rl8aUfrg:peer",
                    "passwordpasswordpassword");
  ASSERT_EQ(rtcp.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(rtcp.out.src_port, p.a.rtcp_relay.port);

  Sent v6 = check("2001:db8::20", 5000, p.b.relay, "Rl8bUfrg:peer", "bbbbbbbbbbbbbbbbbbbbbbbb");
  ASSERT_EQ(v6.verdict.action, PacketAction::kTransmit);
  ASSERT_TRUE(v6.out.ok);
  EXPECT_TRUE(v6.out.v6);
  EXPECT_TRUE(v6.out.udp_checksum_ok);
  EXPECT_EQ(testing::XorMappedAddressOf(v6.out.payload).ip, Ip("2001:db8::20"));
  EXPECT_EQ(counters_.ice_checks_answered, 3u);

  // The other leg's credentials, a wrong password, a stream without ICE.
  EXPECT_EQ(check("203.0.113.30", 31000, p.a.relay, "Rl8bUfrg:peer", "bbbbbbbbbbbbbbbbbbbbbbbb")
                .verdict.reason,
            DropReason::kStunUnauthenticated);
  EXPECT_EQ(check("203.0.113.30", 31000, p.a.relay, "Rl8aUfrg:peer", "passwordpasswordpassworD")
                .verdict.reason,
            DropReason::kStunUnauthenticated);
  EXPECT_EQ(check("203.0.113.30", 31000, plain.a.relay, "Rl8aUfrg:peer",
                  "passwordpasswordpassword")
                .verdict.reason,
            DropReason::kStun);
  EXPECT_EQ(Dropped(DropReason::kStunUnauthenticated), 2u);
  EXPECT_EQ(counters_.ice_checks_answered, 3u);
  EXPECT_EQ(table_->at(table_->SlotOf(0, p.a.relay.port)).state, LatchState::kUnlatched);

  // Deleting the pair takes its credentials with it.
  ASSERT_TRUE(registry_->Delete(p.pair).ok());
  Drain();
  EXPECT_EQ(ice_.size(), 0u);
}

// The registry keeps every lcore within its credential table's capacity.
TEST_F(FastPathTest, IceStreamsBeyondTheLcoresCapacityAreRefused) {
  StreamRegistry small(*table_, std::vector{&commands_}, LatchPolicy::kLearn, [this] { Drain(); },
                       3);
  LegRequest ice{false, std::nullopt};
  ice.ice = MakeIceCredentials("Rl8aUfrg", "passwordpasswordpassword");
  auto first = small.Allocate(ice, ice, "two", 0);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = small.Allocate(ice, ice, "four", 0);
  EXPECT_TRUE(absl::IsResourceExhausted(second.status())) << second.status();
  EXPECT_TRUE(small.Allocate(ice, {false, std::nullopt}, "three", 0).ok());
  EXPECT_TRUE(small.Allocate({false, std::nullopt}, {false, std::nullopt}, "plain", 0).ok());
  ASSERT_TRUE(small.Delete(first->pair).ok());
  EXPECT_TRUE(small.Allocate(ice, ice, "five", 0).ok());
}

TEST_F(FastPathTest, StunBeforeRtpIsCountedApartAndNeverLatches) {
  PairView p = Allocate({false, std::nullopt}, {false, Ep("203.0.113.20:5000")});
  RtpSpec spec{Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port};
  spec.first_byte = 0x00;   // STUN: top two bits zero
  spec.second_byte = 0x01;  // Binding Request
  buf_ = BuildRtpFrame(spec, kHeadroom);
  uint8_t* frame = buf_.data() + kHeadroom;
  const size_t payload = 14 + 20 + 8;
  const uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};
  std::memcpy(frame + payload + 4, cookie, 4);
  PacketVerdict v =
      ProcessFrame(ctx_, frame, static_cast<uint32_t>(buf_.size() - kHeadroom), kHeadroom, 0);
  EXPECT_EQ(v.action, PacketAction::kDrop);
  EXPECT_EQ(v.reason, DropReason::kStun);
  EXPECT_EQ(Dropped(DropReason::kStun), 1u);
  EXPECT_EQ(Dropped(DropReason::kNotRtp), 0u);
  EXPECT_EQ(table_->at(table_->SlotOf(0, p.a.relay.port)).state, LatchState::kUnlatched);
  // Without the cookie the same bytes are just not RTP.
  frame[payload + 4] = 0;
  EXPECT_EQ(ProcessFrame(ctx_, frame, static_cast<uint32_t>(buf_.size() - kHeadroom),
                         kHeadroom, 0).reason,
            DropReason::kNotRtp);
  // The phone's RTP, from another port of its NAT, is what latches.
  EXPECT_EQ(Send("203.0.113.30:31002", p.a.relay, 10 * kMs).out.dst, Ip("203.0.113.20"));
  EXPECT_EQ(table_->at(table_->SlotOf(0, p.a.relay.port)).peer_port, 31002);
}

TEST_F(FastPathTest, HeldUntilPartnerSignalsOrLatches) {
  PairView p = Allocate({false, std::nullopt}, {false, std::nullopt});
  Sent first = Send("203.0.113.30:31000", p.a.relay, 0);
  EXPECT_EQ(first.verdict.action, PacketAction::kHold);
  EXPECT_EQ(first.verdict.reason, DropReason::kNoPeerKnown);
  EXPECT_EQ(first.verdict.slot, table_->SlotOf(0, p.a.relay.port));
  EXPECT_EQ(Dropped(DropReason::kNoPeerKnown), 0u);  // held, not dropped
  // The other side speaks: now both directions have a destination.
  EXPECT_EQ(Send("203.0.113.20:5000", p.b.relay, 10 * kMs).out.dst, Ip("203.0.113.30"));
  EXPECT_EQ(Send("203.0.113.30:31000", p.a.relay, 20 * kMs).out.dst, Ip("203.0.113.20"));
}

// Both phones behind NAT: the first to speak has nowhere to send until the
// other speaks. Its held packet goes out afterwards, rewritten like any
// other, and the stream counts it once.
TEST_F(FastPathTest, HeldPacketLeavesOnceThePartnerLatches) {
  PairView p = Allocate({false, std::nullopt}, {false, std::nullopt});
  std::vector<uint8_t> held = BuildRtpFrame(
      RtpSpec{Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port}, kHeadroom);
  uint8_t* frame = held.data() + kHeadroom;
  const uint32_t len = HoldFirst(held);
  // Still nowhere to go: it stays held.
  EXPECT_EQ(ForwardHeld(ctx_, frame, len, kHeadroom).action, PacketAction::kHold);

  // b speaks: its packet goes straight to a (latched above), and a's side
  // now has a destination too.
  Sent b = Send("203.0.113.20:5000", p.b.relay, 30 * kMs);
  ASSERT_EQ(b.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(b.out.dst, Ip("203.0.113.30"));
  PacketVerdict v = ForwardHeld(ctx_, frame, len, kHeadroom);
  ASSERT_EQ(v.action, PacketAction::kTransmit);
  testing::DecodedFrame out = DecodeFrame(frame + v.start_delta, v.length);
  EXPECT_EQ(out.src, Ip("203.0.113.10"));
  EXPECT_EQ(out.src_port, p.b.relay.port);
  EXPECT_EQ(out.dst, Ip("203.0.113.20"));
  EXPECT_EQ(out.dst_port, 5000);
  EXPECT_TRUE(out.udp_checksum_ok && out.ip_checksum_ok);
  auto a = registry_->Query(p.a.stream, 40 * kMs);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rtp.packets, 1u);
  EXPECT_EQ(a->rtp.bytes, 12u + 160u) << "the UDP payload: RTP header and 160 samples";
}

TEST_F(FastPathTest, HeldPacketOfADeletedStreamIsDropped) {
  PairView p = Allocate({false, std::nullopt}, {false, std::nullopt});
  std::vector<uint8_t> held = BuildRtpFrame(
      RtpSpec{Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port}, kHeadroom);
  uint8_t* frame = held.data() + kHeadroom;
  const uint32_t len = HoldFirst(held);
  ASSERT_TRUE(registry_->Delete(p.pair).ok());
  Drain();
  PacketVerdict v = ForwardHeld(ctx_, frame, len, kHeadroom);
  EXPECT_EQ(v.action, PacketAction::kDrop);
  EXPECT_EQ(v.reason, DropReason::kUnknownStream);
}

TEST_F(FastPathTest, UnknownNextHopAsksForSolicitation) {
  PairView p = Allocate({false, std::nullopt}, {false, Ep("198.51.100.50:5000")});
  Sent s = Send("203.0.113.30:31000", p.a.relay, 0);
  EXPECT_EQ(s.verdict.action, PacketAction::kSolicit);
  EXPECT_EQ(s.verdict.next_hop, Ip("198.51.100.50"));
  // With a gateway configured, the gateway is the next hop.
  ctx_.gateway_v4 = Ip("203.0.113.20");
  s = Send("203.0.113.30:31000", p.a.relay, 10 * kMs);
  ASSERT_EQ(s.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(s.out.dst, Ip("198.51.100.50"));
}

TEST_F(FastPathTest, Ipv6PhoneTalksToIpv4NatPhone) {
  PairView p = Allocate({true, Ep("[2001:db8::20]:6000")}, {false, Ep("192.0.2.2:4000")});
  EXPECT_FALSE(p.a.relay.ip.is_v4());
  Sent v4 = Send("203.0.113.30:31000", p.b.relay, 0);  // NAT'd v4 phone first
  ASSERT_EQ(v4.verdict.action, PacketAction::kTransmit);
  EXPECT_TRUE(v4.out.v6);
  EXPECT_EQ(v4.out.src, Ip("2001:db8::10"));
  EXPECT_EQ(v4.out.dst, Ip("2001:db8::20"));
  EXPECT_TRUE(v4.out.udp_checksum_ok);
  Sent v6 = Send("[2001:db8::20]:6000", p.a.relay, 10 * kMs);
  ASSERT_EQ(v6.verdict.action, PacketAction::kTransmit);
  EXPECT_FALSE(v6.out.v6);
  EXPECT_EQ(v6.out.dst, Ip("203.0.113.30"));
  EXPECT_EQ(v6.out.src_port, p.b.relay.port);
  EXPECT_TRUE(v6.out.udp_checksum_ok && v6.out.ip_checksum_ok);
}

// A spoofer sends to an IPv6 relay port from an IPv4-mapped address
// (::ffff:203.0.113.66): had it latched, its partner's media would leave
// as IPv4 from the IPv6 relay address (source 0.0.0.16) to 203.0.113.66.
// Dropped as malformed; the stream stays free for its phone. Found by the
// fast_path fuzz target.
TEST_F(FastPathTest, Ipv4MappedSourceNeverLatchesAnIpv6Stream) {
  PairView p = Allocate({true, Ep("[2001:db8::20]:6000")}, {false, Ep("203.0.113.20:5000")});
  RtpSpec spec{Ip("2001:db8::66"), p.a.relay.ip, 40000, p.a.relay.port};
  buf_ = BuildRtpFrame(spec, kHeadroom);
  std::memcpy(buf_.data() + kHeadroom + 14 + 8, Ip("::ffff:203.0.113.66").bytes(), 16);
  const PacketVerdict v = ProcessFrame(ctx_, buf_.data() + kHeadroom,
                                       static_cast<uint32_t>(buf_.size() - kHeadroom),
                                       kHeadroom, 0);
  EXPECT_EQ(v.action, PacketAction::kDrop);
  EXPECT_EQ(v.reason, DropReason::kMalformed);
  EXPECT_EQ(table_->Snapshot(p.a.relay.port - 20000 + 100).state, LatchState::kUnlatched);
  Sent phone = Send("[2001:db8::20]:6000", p.a.relay, 10 * kMs);
  ASSERT_EQ(phone.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(phone.out.dst, Ip("203.0.113.20"));
}

TEST_F(FastPathTest, RtcpPortIsRelayedToPartnerRtcpPort) {
  PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.20:5000")});
  ASSERT_EQ(Send("203.0.113.30:31000", p.a.relay, 0).verdict.action, PacketAction::kTransmit);
  // RTCP sender report: version 2, PT 200, SSRC at offset 4.
  Sent s = Send("203.0.113.30:31001", p.a.rtcp_relay, 1000, 7, 0x80);
  ASSERT_EQ(s.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(s.out.src_port, p.b.rtcp_relay.port);
  EXPECT_EQ(s.out.dst_port, 5001);
}

TEST_F(FastPathTest, RtcpPortIsNotLeftToASprayer) {
  // A phone that sends no RTCP (or sends it late) must not leave its RTCP
  // port to whoever sprays first: RTCP is taken only from the address the
  // stream's RTP port latched to.
  PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.20:5000")});
  EXPECT_EQ(Send("203.0.113.66:40000", p.a.rtcp_relay, 0).verdict.action, PacketAction::kDrop);
  EXPECT_EQ(Dropped(DropReason::kRtcpNotFromRtpPeer), 1u);
  ASSERT_EQ(Send("203.0.113.30:31000", p.a.relay, 1000).verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(Send("203.0.113.66:40000", p.a.rtcp_relay, 2000).verdict.action, PacketAction::kDrop);
  EXPECT_EQ(Dropped(DropReason::kRtcpNotFromRtpPeer), 2u);
  // The phone's own RTCP (its NAT's address, any port) is relayed.
  Sent s = Send("203.0.113.30:31001", p.a.rtcp_relay, 3000);
  ASSERT_EQ(s.verdict.action, PacketAction::kTransmit);
  EXPECT_EQ(s.out.dst_port, 5001);
}

TEST_F(FastPathTest, DeletedStreamStopsAtOnce) {
  PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.20:5000")});
  ASSERT_EQ(Send("203.0.113.30:31000", p.a.relay, 0).verdict.action, PacketAction::kTransmit);
  ASSERT_TRUE(registry_->Delete(p.pair).ok());
  Drain();
  EXPECT_EQ(Send("203.0.113.30:31000", p.a.relay, 10 * kMs).verdict.reason,
            DropReason::kUnknownStream);
}

TEST_F(FastPathTest, PacketForAnotherLcoreIsHandedOff) {
  ctx_.lcore_count = 2;
  Endpoint port_of_lcore1{Ip("203.0.113.10"), 20002};  // pair index 1 -> lcore 1
  Sent s = Send("203.0.113.30:31000", port_of_lcore1, 0);
  EXPECT_EQ(s.verdict.action, PacketAction::kHandoff);
  EXPECT_EQ(s.verdict.owner, 1u);
}

TEST_F(FastPathTest, ExceptionFramesReportUnknownSenders) {
  auto f = BuildRtpFrame({Ip("198.51.100.77"), Ip("203.0.113.10"), 5060, 5060});
  PacketVerdict v = ProcessFrame(ctx_, f.data(), static_cast<uint32_t>(f.size()), 0, 0);
  EXPECT_EQ(v.action, PacketAction::kException);
  DataplaneEvent e;
  ASSERT_TRUE(events_.Pop(&e));
  EXPECT_EQ(e.type, DataplaneEvent::Type::kNeighbor);
  EXPECT_EQ(e.ip, Ip("198.51.100.77"));
  EXPECT_EQ(std::memcmp(e.mac, testing::kPeerMac, 6), 0);
}

// Bad input gets a counted drop or goes to the kernel, never a crash or an
// out-of-bounds read (this suite also runs under ASan/UBSan): truncated,
// bit-flipped and random frames, aimed at live streams.
TEST_F(FastPathTest, MangledFramesAreDroppedOrPassedNeverCrash) {
  PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {true, Ep("[2001:db8::20]:6000")});
  std::mt19937 rng(1234);
  const std::vector<std::vector<uint8_t>> seeds = {
      BuildRtpFrame({Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port}),
      BuildRtpFrame({Ip("2001:db8::20"), p.b.relay.ip, 6000, p.b.relay.port}),
      BuildRtpFrame({Ip("203.0.113.30"), p.a.rtcp_relay.ip, 31001, p.a.rtcp_relay.port}),
  };
  size_t transmitted = 0, exceptions = 0, other = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> f = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0: f.resize(rng() % (f.size() + 1)); break;                 // truncate
      case 1: for (int k = 0; k < 4; ++k) f[rng() % f.size()] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
      case 2: for (int k = 0; k < 2; ++k) f[14 + rng() % 60] = static_cast<uint8_t>(rng()); break;
      default: for (auto& b : f) b = static_cast<uint8_t>(rng()); break;  // garbage
    }
    // Exact-size heap buffer so ASan sees any read past the frame.
    auto heap = std::make_unique<uint8_t[]>(kHeadroom + f.size() + 1);
    std::memcpy(heap.get() + kHeadroom, f.data(), f.size());
    PacketVerdict v = ProcessFrame(ctx_, heap.get() + kHeadroom, static_cast<uint32_t>(f.size()),
                                   kHeadroom, static_cast<uint64_t>(i) * kMs);
    if (v.action == PacketAction::kTransmit) {
      ++transmitted;
      EXPECT_LE(v.length, f.size() + 20);
    } else if (v.action == PacketAction::kException) {
      ++exceptions;
    } else {
      ++other;
    }
  }
  // Every frame is accounted for: relayed, passed to the kernel, or a
  // counted drop.
  uint64_t counted_drops = 0;
  for (uint64_t d : counters_.drops) counted_drops += d;
  EXPECT_EQ(counted_drops, other);
  EXPECT_EQ(transmitted + exceptions + other, 20000u);
  EXPECT_GT(counters_.drops[static_cast<size_t>(DropReason::kMalformed)], 0u);
  EXPECT_GT(counters_.drops[static_cast<size_t>(DropReason::kNotRtp)], 0u);
}

// --- the locked-peer fast path (forward_locked.h) ---------------------------

class ForwardLockedTest : public FastPathTest {
 protected:
  ForwardLockedTest() { ctx_.next_hops = &next_hops_; }

  // A pair whose leg a is locked to 203.0.113.30:31000 (three packets
  // close the test's learning window) and whose b peer is 203.0.113.20.
  PairView LockedPair() {
    PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.20:5000")});
    for (int i = 0; i < 3; ++i) Send("203.0.113.30:31000", p.a.relay, i * 20 * kMs);
    EXPECT_EQ(table_->Snapshot(p.a.relay.port - 20000).state, LatchState::kLocked);
    return p;
  }

  std::vector<uint8_t> Frame(const RtpSpec& spec) { return BuildRtpFrame(spec, kHeadroom); }

  // The fast path on `buf`; false (and `buf` untouched) when it declines.
  bool Forward(std::vector<uint8_t>& buf, uint64_t now, uint32_t* len) {
    RelayPacket pkt;
    const uint32_t in_len = static_cast<uint32_t>(buf.size() - kHeadroom);
    if (ClassifyFrame(buf.data() + kHeadroom, in_len, *table_, &pkt) != FrameClass::kRelay) {
      return false;
    }
    const std::vector<uint8_t> before = buf;
    const bool done = ForwardLockedV4(ctx_, buf.data() + kHeadroom, pkt, now, len);
    if (!done) {
      EXPECT_EQ(buf, before) << "a declined frame must be left as it was";
    }
    return done;
  }

  NextHopCache next_hops_;
};

TEST_F(ForwardLockedTest, WritesWhatTheFullPathWritesByteForByte) {
  PairView p = LockedPair();
  for (bool udp_checksum : {true, false}) {
    RtpSpec spec{Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port};
    spec.udp_checksum = udp_checksum;
    spec.seq = udp_checksum ? 40 : 41;
    std::vector<uint8_t> fast = Frame(spec);
    std::vector<uint8_t> full = fast;
    const Flow& flow = table_->at(p.a.relay.port - 20000);
    const uint64_t packets = flow.packets;
    const uint64_t bytes = flow.bytes;

    uint32_t fast_len = 0;
    ASSERT_TRUE(Forward(fast, 100 * kMs, &fast_len));
    EXPECT_EQ(flow.packets, packets + 1);
    EXPECT_EQ(flow.bytes, bytes + 12 + 160);
    EXPECT_EQ(flow.last_rx_ns, 100 * kMs);

    PacketVerdict v = ProcessFrame(ctx_, full.data() + kHeadroom,
                                   static_cast<uint32_t>(full.size() - kHeadroom), kHeadroom,
                                   100 * kMs);
    ASSERT_EQ(v.action, PacketAction::kTransmit);
    ASSERT_EQ(v.start_delta, 0);
    ASSERT_EQ(v.length, fast_len);
    EXPECT_EQ(std::vector<uint8_t>(fast.begin() + kHeadroom, fast.begin() + kHeadroom + fast_len),
              std::vector<uint8_t>(full.begin() + kHeadroom, full.begin() + kHeadroom + fast_len))
        << "udp_checksum " << udp_checksum;
    testing::DecodedFrame out = DecodeFrame(fast.data() + kHeadroom, fast_len);
    EXPECT_EQ(out.src, Ip("203.0.113.10"));
    EXPECT_EQ(out.src_port, p.b.relay.port);
    EXPECT_EQ(out.dst, Ip("203.0.113.20"));
    EXPECT_EQ(out.dst_port, 5000);
    EXPECT_TRUE(out.ip_checksum_ok);
    EXPECT_TRUE(out.udp_checksum_ok);
  }
}

TEST_F(ForwardLockedTest, LeavesEveryOtherCaseToTheFullPath) {
  PairView p = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.20:5000")});
  uint32_t len = 0;
  RtpSpec from_phone{Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port};
  std::vector<uint8_t> buf = Frame(from_phone);
  EXPECT_FALSE(Forward(buf, 0, &len)) << "unlatched";
  Send("203.0.113.30:31000", p.a.relay, 0);
  buf = Frame(from_phone);
  EXPECT_FALSE(Forward(buf, 10 * kMs, &len)) << "learning";
  for (int i = 1; i < 3; ++i) Send("203.0.113.30:31000", p.a.relay, i * 20 * kMs);

  RtpSpec stranger{Ip("203.0.113.66"), p.a.relay.ip, 31000, p.a.relay.port};
  buf = Frame(stranger);
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len)) << "not the locked peer's address";
  RtpSpec other_port{Ip("203.0.113.30"), p.a.relay.ip, 31002, p.a.relay.port};
  buf = Frame(other_port);
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len)) << "not the locked peer's port";
  RtpSpec not_rtp = from_phone;
  not_rtp.first_byte = 0x40;
  buf = Frame(not_rtp);
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len)) << "RTP version 1";
  RtpSpec short_packet = from_phone;
  short_packet.payload = 0;  // a bare 12-byte RTP header still goes
  buf = Frame(short_packet);
  EXPECT_TRUE(Forward(buf, 100 * kMs, &len));

  // b has no packet yet: a's packets have nowhere to go (held by the full path).
  RtpSpec from_b{Ip("203.0.113.20"), p.b.relay.ip, 5000, p.b.relay.port};
  buf = Frame(from_b);
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len)) << "b unlatched";

  // Another lcore's flow.
  ctx_.lcore_count = 2;
  ctx_.lcore_index = 1 - OwnerIndexOf(p.a.relay.port - 20000, 2);
  buf = Frame(from_phone);
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len)) << "another lcore's";
  ctx_.lcore_count = 1;
  ctx_.lcore_index = 0;
  buf = Frame(from_phone);
  EXPECT_TRUE(Forward(buf, 100 * kMs, &len));
}

TEST_F(ForwardLockedTest, IPv6AndUnknownNextHopsGoTheFullWay) {
  // An IPv6 peer on b: a's packets leave as IPv6.
  PairView v6 = Allocate({false, Ep("192.0.2.2:4000")}, {true, Ep("[2001:db8::20]:5000")});
  for (int i = 0; i < 3; ++i) Send("203.0.113.30:31000", v6.a.relay, i * 20 * kMs);
  uint32_t len = 0;
  RtpSpec to_v6{Ip("203.0.113.30"), v6.a.relay.ip, 31000, v6.a.relay.port};
  std::vector<uint8_t> buf = Frame(to_v6);
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len)) << "IPv6 egress";

  // A peer whose MAC nobody knows, and no gateway: the full path solicits.
  PairView dark = Allocate({false, Ep("192.0.2.2:4000")}, {false, Ep("203.0.113.99:5000")});
  for (int i = 0; i < 3; ++i) Send("203.0.113.30:31000", dark.a.relay, i * 20 * kMs);
  RtpSpec to_dark{Ip("203.0.113.30"), dark.a.relay.ip, 31000, dark.a.relay.port};
  buf = Frame(to_dark);
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len)) << "next hop unknown";
}

// A locked peer's packet whose IP payload runs past its UDP datagram:
// the one-pass path leaves it to the full path, which sends the datagram
// with the total length cut to it (found by the fast_path fuzz target).
TEST_F(ForwardLockedTest, BytesAfterTheUdpDatagramGoTheFullWay) {
  PairView p = LockedPair();
  RtpSpec spec{Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port};
  std::vector<uint8_t> buf = Frame(spec);
  buf.push_back(0xee);  // one byte more in the IP payload than in the datagram
  uint8_t* ip = buf.data() + kHeadroom + 14;
  const uint32_t total = ((ip[2] << 8) | ip[3]) + 1;
  testing::SetIpv4TotalLength(ip, static_cast<uint16_t>(total));
  uint32_t len = 0;
  EXPECT_FALSE(Forward(buf, 100 * kMs, &len));

  const PacketVerdict v = ProcessFrame(ctx_, buf.data() + kHeadroom,
                                       static_cast<uint32_t>(buf.size() - kHeadroom), kHeadroom,
                                       100 * kMs);
  ASSERT_EQ(v.action, PacketAction::kTransmit);
  EXPECT_EQ(v.length, total - 1 + 14);
  EXPECT_EQ((ip[2] << 8) | ip[3], total - 1);
  testing::DecodedFrame out = DecodeFrame(buf.data() + kHeadroom, v.length);
  EXPECT_TRUE(out.ip_checksum_ok);
  EXPECT_TRUE(out.udp_checksum_ok);
}

TEST_F(ForwardLockedTest, ANeighborsNewMacIsUsedAtOnce) {
  PairView p = LockedPair();
  RtpSpec spec{Ip("203.0.113.30"), p.a.relay.ip, 31000, p.a.relay.port};
  uint32_t len = 0;
  std::vector<uint8_t> buf = Frame(spec);
  ASSERT_TRUE(Forward(buf, 100 * kMs, &len));  // remembered in the cache
  const uint8_t moved[6] = {0x02, 0xbb, 0, 0, 0, 0x42};
  ASSERT_TRUE(neighbors_.Learn(Ip("203.0.113.20"), moved));
  buf = Frame(spec);
  ASSERT_TRUE(Forward(buf, 120 * kMs, &len));
  EXPECT_EQ(0, std::memcmp(buf.data() + kHeadroom, moved, 6));
}

// A sprayed packet at a locked flow: DropNotLatchedPeer drops what the
// full path drops, with the same reason and counts, and leaves every other
// case (the peer, a silent peer's successor, STUN, a short packet) to it.
TEST_F(ForwardLockedTest, SprayerDropIsTheFullPathsVerdict) {
  PairView p = LockedPair();  // a: signalled 192.0.2.2, locked to 203.0.113.30:31000
  struct Case {
    const char* from;
    uint64_t now;
    uint8_t first_byte;
    bool dropped_fast;
  };
  const Case cases[] = {
      {"198.51.100.9:40000", 100 * kMs, 0x80, true},   // a sprayer
      {"192.0.2.2:4002", 100 * kMs, 0x80, true},       // the SDP address, too late
      {"203.0.113.30:31000", 100 * kMs, 0x80, false},  // the peer: forwarded
      {"198.51.100.9:40000", 100 * kMs, 0x00, false},  // not RTP (STUN's top bits)
      {"198.51.100.9:40000", 5000 * kMs, 0x80, false},  // the peer fell silent
  };
  for (const Case& c : cases) {
    auto colon = std::string(c.from).rfind(':');
    RtpSpec spec{Ip(std::string(c.from).substr(0, colon).c_str()), p.a.relay.ip,
                 static_cast<uint16_t>(std::stoi(std::string(c.from).substr(colon + 1))),
                 p.a.relay.port};
    spec.first_byte = c.first_byte;
    spec.ssrc = 0x5eed;
    std::vector<uint8_t> buf = Frame(spec);
    const uint32_t len = static_cast<uint32_t>(buf.size() - kHeadroom);
    RelayPacket pkt;
    ASSERT_EQ(ClassifyFrame(buf.data() + kHeadroom, len, *table_, &pkt), FrameClass::kRelay);
    const LcoreCounters before = counters_;
    const uint64_t flow_drops = table_->at(pkt.slot).drops;
    DropReason reason{};
    const bool fast = DropNotLatchedPeer(ctx_, buf.data() + kHeadroom, pkt, c.now, &reason);
    EXPECT_EQ(fast, c.dropped_fast) << c.from;
    if (!fast) {
      EXPECT_EQ(counters_.drops, before.drops) << c.from;
      continue;
    }
    // The full path, on the same frame and state, from the same counts.
    const LcoreCounters after_fast = counters_;
    counters_ = before;
    table_->at(pkt.slot).drops = flow_drops;
    const PacketVerdict full = ProcessFrame(ctx_, buf.data() + kHeadroom, len, kHeadroom, c.now);
    EXPECT_EQ(full.action, PacketAction::kDrop) << c.from;
    EXPECT_EQ(full.reason, reason) << c.from;
    EXPECT_EQ(counters_.drops, after_fast.drops) << c.from;
    EXPECT_EQ(table_->at(pkt.slot).drops, flow_drops + 1);
  }
}

TEST(NextHopCacheTest, AnEntryHoldsOnlyAtItsVersionAndForItsAddress) {
  NextHopCache cache;
  const uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
  uint8_t got[6] = {};
  EXPECT_FALSE(cache.Find(0x0a0b0c0d, 1, got));
  cache.Remember(0x0a0b0c0d, 1, mac);
  ASSERT_TRUE(cache.Find(0x0a0b0c0d, 1, got));
  EXPECT_EQ(0, std::memcmp(got, mac, 6));
  EXPECT_FALSE(cache.Find(0x0a0b0c0d, 2, got)) << "the neighbor table moved on";
  EXPECT_FALSE(cache.Find(0x0a0b0c0e, 1, got)) << "another address";
}

}  // namespace
}  // namespace rtplatch
