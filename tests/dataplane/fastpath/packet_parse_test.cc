// ClassifyFrame: which frames are relay traffic (UDP to a relay address and
// port), with the slot, offsets and source the fast path then trusts, and
// which go to the kernel or are dropped as malformed; every length field
// lying, every truncation. FrameSender: the next-hop learning source.
// Frames come from frame_builder.h and are then edited where a test needs
// a header to lie.
#include "dataplane/fastpath/packet_parse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/dataplane/fastpath/frame_builder.h"

namespace rtplatch {
namespace {

using testing::BuildRtpFrame;
using testing::RtpSpec;

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

// Four relay addresses, ids 0..3 in this order; ports 20001..20101, which
// the table rounds to the 100 ports 20002..20101 (whole even/odd pairs).
constexpr uint16_t kFirstPort = 20002;
constexpr uint16_t kLastPort = 20101;
constexpr uint32_t kPorts = 100;

std::unique_ptr<FlowTable> MakeTable() {
  auto addrs = RelayAddresses::Create(
      {Ip("203.0.113.10"), Ip("2001:db8::10"), Ip("203.0.113.11"), Ip("2001:db8::11")});
  auto table = FlowTable::Create(std::move(*addrs), 20001, 20101);
  return std::move(*table);
}

struct Family {
  const char* name;
  bool v6;
  const char* peer;       // the phone
  const char* relay;      // a relay address (not the first one)
  uint8_t relay_id;       // its id in MakeTable()
  const char* elsewhere;  // same family, not ours
  uint8_t icmp;           // ICMP's protocol number in this family
};

class ClassifyFamilyTest : public ::testing::TestWithParam<Family> {
 protected:
  uint32_t ip_len() const { return GetParam().v6 ? kIpv6HeaderLen : kIpv4HeaderLen; }
  uint8_t* ip(std::vector<uint8_t>& f) const { return f.data() + kEtherHeaderLen; }
  uint8_t* udp(std::vector<uint8_t>& f) const { return ip(f) + ip_len(); }
  uint8_t& protocol(std::vector<uint8_t>& f) const { return ip(f)[GetParam().v6 ? 6 : 9]; }

  // RTP from the peer's port 31000 to `dst`:`port`.
  std::vector<uint8_t> Frame(uint16_t port, const char* dst = nullptr, size_t payload = 160) const {
    RtpSpec s{Ip(GetParam().peer), Ip(dst ? dst : GetParam().relay), 31000, port};
    s.payload = payload;
    return BuildRtpFrame(s);
  }

  // Classifies exactly `len` bytes of `f` from a heap copy of that size, so
  // a read past the frame's end is a sanitizer error, not a silent read of
  // the bytes that were cut off.
  FrameClass Classify(const std::vector<uint8_t>& f, size_t len) {
    std::vector<uint8_t> exact(f.begin(), f.begin() + static_cast<ptrdiff_t>(len));
    pkt_ = RelayPacket{};
    return ClassifyFrame(exact.empty() ? nullptr : exact.data(), static_cast<uint32_t>(len),
                         *table_, &pkt_);
  }
  FrameClass Classify(const std::vector<uint8_t>& f) { return Classify(f, f.size()); }

  static void Put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
  }
  static uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

  std::unique_ptr<FlowTable> table_ = MakeTable();
  RelayPacket pkt_;
};

// What the fast path reads next: the slot (flow), where the UDP header is
// and how long, the family, and the peer's address and port for latching.
TEST_P(ClassifyFamilyTest, UdpToARelayPortIsRelayTrafficWithSlotOffsetsAndSource) {
  const Family& fam = GetParam();
  auto f = Frame(20050);
  ASSERT_EQ(Classify(f), FrameClass::kRelay);
  EXPECT_EQ(pkt_.slot, fam.relay_id * kPorts + (20050 - kFirstPort));
  EXPECT_EQ(table_->AddressIdOf(pkt_.slot), fam.relay_id);
  EXPECT_EQ(table_->PortOf(pkt_.slot), 20050);
  EXPECT_EQ(pkt_.udp_offset, kEtherHeaderLen + ip_len());
  EXPECT_EQ(pkt_.udp_length, kUdpHeaderLen + 12 + 160);
  EXPECT_EQ(pkt_.is_v6, fam.v6);
  EXPECT_EQ(pkt_.src_ip, Ip(fam.peer));
  EXPECT_EQ(pkt_.src_port, 31000);
  EXPECT_EQ(Get16(f.data() + pkt_.udp_offset + 2), 20050) << "udp_offset points at the UDP header";
}

// Both ends of the (rounded) range are relay ports; one past either end,
// SIP's 5060 and the extremes of the port space go to the kernel.
TEST_P(ClassifyFamilyTest, PortRangeEdges) {
  const uint32_t base = GetParam().relay_id * kPorts;
  auto first = Frame(kFirstPort);
  ASSERT_EQ(Classify(first), FrameClass::kRelay);
  EXPECT_EQ(pkt_.slot, base);
  auto last = Frame(kLastPort);
  ASSERT_EQ(Classify(last), FrameClass::kRelay);
  EXPECT_EQ(pkt_.slot, base + kPorts - 1);
  for (uint16_t port : {uint16_t{20001}, uint16_t{kLastPort + 1}, uint16_t{5060}, uint16_t{0},
                        uint16_t{65535}}) {
    auto f = Frame(port);
    EXPECT_EQ(Classify(f), FrameClass::kException) << "port " << port;
  }
}

// Each relay address has its own slots: the same port on the first
// address of the family is a different flow.
TEST_P(ClassifyFamilyTest, SamePortOnAnotherRelayAddressIsAnotherSlot) {
  const char* first = GetParam().v6 ? "2001:db8::10" : "203.0.113.10";
  const uint8_t first_id = GetParam().v6 ? 1 : 0;
  auto f = Frame(20050, first);
  ASSERT_EQ(Classify(f), FrameClass::kRelay);
  EXPECT_EQ(pkt_.slot, first_id * kPorts + (20050 - kFirstPort));
  auto g = Frame(20050);
  ASSERT_EQ(Classify(g), FrameClass::kRelay);
  EXPECT_NE(pkt_.slot, first_id * kPorts + (20050 - kFirstPort));
}

// A standby address (a VIP) not held: its relay ports are a counted drop
// and SIP to it still goes to the kernel; taken, it relays; released, not.
TEST_P(ClassifyFamilyTest, StandbyAddressRelaysOnlyWhileHeld) {
  const char* vip = GetParam().v6 ? "2001:db8::70" : "203.0.113.70";
  auto addrs = RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")}, {Ip(vip)});
  ASSERT_TRUE(addrs.ok());
  table_ = std::move(*FlowTable::Create(std::move(*addrs), 20001, 20101));
  auto media = Frame(20050, vip);
  EXPECT_EQ(Classify(media), FrameClass::kNotHeld);
  auto sip = Frame(5060, vip);
  EXPECT_EQ(Classify(sip), FrameClass::kException);
  table_->addresses().holding().Take(2);
  ASSERT_EQ(Classify(media), FrameClass::kRelay);
  EXPECT_EQ(table_->AddressIdOf(pkt_.slot), 2);
  table_->addresses().holding().Release(2);
  EXPECT_EQ(Classify(media), FrameClass::kNotHeld);
}

// What the kernel sends out: from a standby address not held, dropped;
// from a fixed address, from one held, or not IP, sent.
TEST_P(ClassifyFamilyTest, KernelFramesFromAStandbyAddressLeaveOnlyWhileHeld) {
  const char* vip = GetParam().v6 ? "2001:db8::70" : "203.0.113.70";
  auto addrs = RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")}, {Ip(vip)});
  ASSERT_TRUE(addrs.ok());
  const RelayAddresses& a = *addrs;
  RtpSpec from_vip{Ip(vip), Ip(GetParam().peer), 5060, 31000};
  std::vector<uint8_t> sip = BuildRtpFrame(from_vip);
  EXPECT_TRUE(FromAddressNotHeld(sip.data(), static_cast<uint32_t>(sip.size()), a));
  a.holding().Take(2);
  EXPECT_FALSE(FromAddressNotHeld(sip.data(), static_cast<uint32_t>(sip.size()), a));
  a.holding().Release(2);
  RtpSpec from_fixed{Ip(GetParam().v6 ? "2001:db8::10" : "203.0.113.10"), Ip(GetParam().peer),
                     5060, 31000};
  std::vector<uint8_t> fixed = BuildRtpFrame(from_fixed);
  EXPECT_FALSE(FromAddressNotHeld(fixed.data(), static_cast<uint32_t>(fixed.size()), a));
  EXPECT_FALSE(FromAddressNotHeld(sip.data(), 20, a)) << "too short to say: sent";
}

TEST_P(ClassifyFamilyTest, UdpToAnAddressNotOursGoesToKernel) {
  auto f = Frame(20050, GetParam().elsewhere);
  EXPECT_EQ(Classify(f), FrameClass::kException);
}

TEST_P(ClassifyFamilyTest, TcpAndIcmpToARelayPortGoToKernel) {
  auto tcp = Frame(20050);
  protocol(tcp) = 6;
  EXPECT_EQ(Classify(tcp), FrameClass::kException) << "TCP";
  auto icmp = Frame(20050);
  protocol(icmp) = GetParam().icmp;
  EXPECT_EQ(Classify(icmp), FrameClass::kException) << "ICMP";
}

// Only untagged IPv4 and IPv6 are parsed: a VLAN tag in front of relay
// traffic, ARP, and other ethertypes are the kernel's.
TEST_P(ClassifyFamilyTest, VlanTaggedAndOtherEthertypesGoToKernel) {
  auto tagged = Frame(20050);
  const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x64};  // 802.1Q, VLAN 100
  tagged.insert(tagged.begin() + 12, tag, tag + 4);
  EXPECT_EQ(Classify(tagged), FrameClass::kException) << "802.1Q";
  for (uint16_t type : {uint16_t{0x88a8}, kEtherTypeArp, uint16_t{0x88cc}, uint16_t{0x8847}}) {
    auto f = Frame(20050);
    Put16(f.data() + 12, type);
    EXPECT_EQ(Classify(f), FrameClass::kException) << "ethertype 0x" << std::hex << type;
  }
}

// The ethertype and the IP version must agree; otherwise it is not ours.
TEST_P(ClassifyFamilyTest, EthertypeAndIpVersionMismatchGoesToKernel) {
  auto f = Frame(20050);
  Put16(f.data() + 12, GetParam().v6 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  EXPECT_EQ(Classify(f), FrameClass::kException) << "other family's ethertype";
  auto g = Frame(20050);
  ip(g)[0] = static_cast<uint8_t>((ip(g)[0] & 0x0f) | (GetParam().v6 ? 0x40 : 0x60));
  EXPECT_EQ(Classify(g), FrameClass::kException) << "other family's version nibble";
}

// Every truncation of a relay packet, from no bytes to one short: the
// Ethernet header or the IP header missing is the kernel's problem; once
// the IP header says "UDP to a relay address", a frame shorter than its
// IP length is malformed (dropped and counted). Each length is classified
// from an exact-size copy, so an over-read shows under ASan.
TEST_P(ClassifyFamilyTest, EveryTruncationIsKernelOrMalformedNeverRelay) {
  auto f = Frame(20050);
  const size_t ip_end = kEtherHeaderLen + ip_len();
  for (size_t len = 0; len < f.size(); ++len) {
    const FrameClass expected = len < ip_end ? FrameClass::kException : FrameClass::kMalformed;
    EXPECT_EQ(Classify(f, len), expected) << "frame cut to " << len << " of " << f.size();
  }
  EXPECT_EQ(Classify(f, f.size()), FrameClass::kRelay);
}

// Ethernet pads short frames to 60 bytes: bytes after the IP packet are
// not UDP payload; udp_length comes from the UDP header.
TEST_P(ClassifyFamilyTest, EthernetPaddingIsNotPayload) {
  auto f = Frame(20050, nullptr, /*payload=*/0);
  const size_t unpadded = f.size();
  f.resize(std::max<size_t>(60, unpadded) + 8, 0);
  ASSERT_EQ(Classify(f), FrameClass::kRelay);
  EXPECT_EQ(pkt_.udp_length, kUdpHeaderLen + 12);
  EXPECT_EQ(pkt_.udp_offset + pkt_.udp_length, unpadded);
}

// The UDP length must fit the IP payload and hold its own header; a UDP
// length shorter than the IP payload is honoured (the rest is trailer).
TEST_P(ClassifyFamilyTest, UdpLengthIsCheckedAgainstTheIpPayload) {
  const uint16_t udp_len = kUdpHeaderLen + 12 + 160;
  for (uint16_t bad : {uint16_t{udp_len + 1}, uint16_t{0xffff}, uint16_t{7}, uint16_t{0}}) {
    auto f = Frame(20050);
    Put16(udp(f) + 4, bad);
    EXPECT_EQ(Classify(f), FrameClass::kMalformed) << "UDP length " << bad;
  }
  auto shorter = Frame(20050);
  Put16(udp(shorter) + 4, udp_len - 100);
  ASSERT_EQ(Classify(shorter), FrameClass::kRelay);
  EXPECT_EQ(pkt_.udp_length, udp_len - 100);
}

INSTANTIATE_TEST_SUITE_P(
    Families, ClassifyFamilyTest,
    ::testing::Values(Family{"v4", false, "198.51.100.7", "203.0.113.11", 2, "203.0.113.99", 1},
                      Family{"v6", true, "2001:db8::7", "2001:db8::11", 3, "2001:db8::99", 58}),
    [](const auto& info) { return std::string(info.param.name); });

class ClassifyV4Test : public ClassifyFamilyTest {};

// IHL and total length are both trusted only after checking: a header
// shorter than 20 bytes, or a total length that cannot hold the IP header
// and a UDP header, or that runs past the frame, is malformed.
TEST_P(ClassifyV4Test, IpHeaderLengthsThatLieAreMalformed) {
  auto ihl3 = Frame(20050);
  ip(ihl3)[0] = 0x43;
  EXPECT_EQ(Classify(ihl3), FrameClass::kMalformed) << "IHL 3 words";
  auto ihl15 = Frame(20050, nullptr, /*payload=*/0);  // total 40 < 60 + 8
  ip(ihl15)[0] = 0x4f;
  EXPECT_EQ(Classify(ihl15), FrameClass::kMalformed) << "IHL 15 words, packet too short for it";
  for (uint16_t total : {uint16_t{27}, uint16_t{20}, uint16_t{0}}) {
    auto f = Frame(20050);
    Put16(ip(f) + 2, total);
    EXPECT_EQ(Classify(f), FrameClass::kMalformed) << "total length " << total;
  }
  auto past_end = Frame(20050);
  Put16(ip(past_end) + 2, static_cast<uint16_t>(past_end.size() - kEtherHeaderLen + 1));
  EXPECT_EQ(Classify(past_end), FrameClass::kMalformed) << "total length one past the frame";
}

// IP options move the UDP header: the offset follows IHL.
TEST_P(ClassifyV4Test, OptionsMoveTheUdpHeader) {
  auto f = Frame(20050);
  const uint8_t nops[4] = {1, 1, 1, 1};
  f.insert(f.begin() + kEtherHeaderLen + kIpv4HeaderLen, nops, nops + 4);
  ip(f)[0] = 0x46;
  Put16(ip(f) + 2, static_cast<uint16_t>(Get16(ip(f) + 2) + 4));
  ASSERT_EQ(Classify(f), FrameClass::kRelay);
  EXPECT_EQ(pkt_.udp_offset, kEtherHeaderLen + 24);
  EXPECT_EQ(pkt_.slot, GetParam().relay_id * kPorts + (20050 - kFirstPort));
  EXPECT_EQ(pkt_.src_port, 31000);
}

// Fragments go to the kernel to reassemble (first, middle, last); DF
// alone, as RTP usually carries, is not a fragment.
TEST_P(ClassifyV4Test, FragmentsGoToKernelDontFragmentIsRelay) {
  for (uint16_t flags_offset : {uint16_t{0x2000}, uint16_t{0x2010}, uint16_t{0x0010},
                                uint16_t{0x1fff}, uint16_t{0x6000}}) {
    auto f = Frame(20050);
    Put16(ip(f) + 6, flags_offset);
    EXPECT_EQ(Classify(f), FrameClass::kException) << "flags/offset 0x" << std::hex << flags_offset;
  }
  auto df = Frame(20050);
  Put16(ip(df) + 6, 0x4000);
  EXPECT_EQ(Classify(df), FrameClass::kRelay);
}

INSTANTIATE_TEST_SUITE_P(
    V4, ClassifyV4Test,
    ::testing::Values(Family{"v4", false, "198.51.100.7", "203.0.113.11", 2, "203.0.113.99", 1}),
    [](const auto& info) { return std::string(info.param.name); });

class ClassifyV6Test : public ClassifyFamilyTest {};

TEST_P(ClassifyV6Test, PayloadLengthsThatLieAreMalformed) {
  for (uint16_t payload : {uint16_t{7}, uint16_t{0}}) {
    auto f = Frame(20050);
    Put16(ip(f) + 4, payload);
    EXPECT_EQ(Classify(f), FrameClass::kMalformed) << "payload length " << payload;
  }
  auto past_end = Frame(20050);
  Put16(ip(past_end) + 4,
        static_cast<uint16_t>(past_end.size() - kEtherHeaderLen - kIpv6HeaderLen + 1));
  EXPECT_EQ(Classify(past_end), FrameClass::kMalformed) << "payload one past the frame";
}

// Any extension header in front of UDP (hop-by-hop, routing, fragment,
// destination options) is left to the kernel.
TEST_P(ClassifyV6Test, ExtensionHeadersGoToKernel) {
  for (uint8_t next : {uint8_t{0}, uint8_t{43}, uint8_t{44}, uint8_t{60}}) {
    auto f = Frame(20050);
    protocol(f) = next;
    EXPECT_EQ(Classify(f), FrameClass::kException) << "next header " << int{next};
  }
}

// An IPv6 packet to the v4-mapped form of an IPv4 relay address is not
// relay traffic: IPv6 destinations match only the IPv6 relay addresses.
TEST_P(ClassifyV6Test, V4MappedDestinationIsNotARelayAddress) {
  auto f = Frame(20050, "::ffff:203.0.113.10");
  EXPECT_EQ(Classify(f), FrameClass::kException);
}

// An IPv6 packet from an IPv4-mapped source (::ffff:a.b.c.d), which
// never appears on the wire: a stream latched to it would send its
// partner's media as IPv4 from an IPv6 relay address. Found by the
// fast_path fuzz target (seed 298069e8...).
TEST_P(ClassifyV6Test, V4MappedSourceIsMalformed) {
  auto f = Frame(20050);
  const IpAddress mapped = Ip("::ffff:203.0.113.66");
  std::memcpy(ip(f) + 8, mapped.bytes(), 16);
  EXPECT_EQ(Classify(f), FrameClass::kMalformed);
}

INSTANTIATE_TEST_SUITE_P(
    V6, ClassifyV6Test,
    ::testing::Values(Family{"v6", true, "2001:db8::7", "2001:db8::11", 3, "2001:db8::99", 58}),
    [](const auto& info) { return std::string(info.param.name); });

// FrameSender: who sent a frame, for next-hop learning.
TEST(FrameSenderTest, IpFramesGiveSourceAddressAndMac) {
  for (const char* peer : {"198.51.100.7", "2001:db8::7"}) {
    const char* dst = peer[0] == '2' ? "2001:db8::10" : "203.0.113.10";
    auto f = BuildRtpFrame({Ip(peer), Ip(dst), 31000, 20050});
    IpAddress ip;
    uint8_t mac[6] = {};
    ASSERT_TRUE(FrameSender(f.data(), static_cast<uint32_t>(f.size()), &ip, mac)) << peer;
    EXPECT_EQ(ip, Ip(peer));
    EXPECT_EQ(std::memcmp(mac, testing::kPeerMac, 6), 0);
  }
}

TEST(FrameSenderTest, ArpGivesTheSenderProtocolAddress) {
  std::vector<uint8_t> arp(60, 0);
  std::memcpy(arp.data(), "\xff\xff\xff\xff\xff\xff", 6);
  std::memcpy(arp.data() + 6, testing::kPeerMac, 6);
  arp[12] = 0x08, arp[13] = 0x06;
  uint8_t* a = arp.data() + 14;
  a[1] = 1;                // hardware type Ethernet
  a[2] = 0x08, a[3] = 0;   // protocol IPv4
  a[4] = 6, a[5] = 4;
  a[7] = 1;                // request
  std::memcpy(a + 8, testing::kPeerMac, 6);
  const uint8_t spa[4] = {198, 51, 100, 7};
  std::memcpy(a + 14, spa, 4);
  const uint8_t tpa[4] = {203, 0, 113, 10};
  std::memcpy(a + 24, tpa, 4);
  IpAddress ip;
  uint8_t mac[6] = {};
  ASSERT_TRUE(FrameSender(arp.data(), static_cast<uint32_t>(arp.size()), &ip, mac));
  EXPECT_EQ(ip, Ip("198.51.100.7"));
  EXPECT_EQ(std::memcmp(mac, testing::kPeerMac, 6), 0);

  a[2] = 0x86, a[3] = 0xdd;  // not an IPv4 ARP
  EXPECT_FALSE(FrameSender(arp.data(), static_cast<uint32_t>(arp.size()), &ip, mac));
}

// Nothing to learn from: an unspecified source (IPv6 DAD), a multicast
// source MAC, a frame too short for its header, an ethertype not IP/ARP.
TEST(FrameSenderTest, RefusesWhatCannotBeANextHop) {
  IpAddress ip;
  uint8_t mac[6] = {};
  auto dad = BuildRtpFrame({Ip("::"), Ip("2001:db8::10"), 31000, 20050});
  EXPECT_FALSE(FrameSender(dad.data(), static_cast<uint32_t>(dad.size()), &ip, mac));

  auto mcast = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20050});
  mcast[6] |= 1;
  EXPECT_FALSE(FrameSender(mcast.data(), static_cast<uint32_t>(mcast.size()), &ip, mac));

  for (const char* peer : {"198.51.100.7", "2001:db8::7"}) {
    const char* dst = peer[0] == '2' ? "2001:db8::10" : "203.0.113.10";
    auto f = BuildRtpFrame({Ip(peer), Ip(dst), 31000, 20050});
    const size_t header_end = kEtherHeaderLen + (peer[0] == '2' ? kIpv6HeaderLen : kIpv4HeaderLen);
    for (size_t len = 0; len < header_end; ++len) {
      std::vector<uint8_t> cut(f.begin(), f.begin() + static_cast<ptrdiff_t>(len));
      EXPECT_FALSE(FrameSender(cut.empty() ? nullptr : cut.data(), static_cast<uint32_t>(len),
                               &ip, mac))
          << peer << " cut to " << len;
    }
  }

  auto vlan = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20050});
  vlan[12] = 0x81, vlan[13] = 0x00;
  EXPECT_FALSE(FrameSender(vlan.data(), static_cast<uint32_t>(vlan.size()), &ip, mac));
}

}  // namespace
}  // namespace rtplatch
