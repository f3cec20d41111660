// Classification and header rewrite for IPv4, IPv6 and the bridges
// between them; checksums are verified from scratch, not by the
// incremental code under test.
#include "dataplane/fastpath/packet_rewrite.h"

#include <gtest/gtest.h>

#include <memory>

#include "dataplane/fastpath/packet_parse.h"
#include "tests/dataplane/fastpath/frame_builder.h"

namespace rtplatch {
namespace {

using testing::BuildRtpFrame;
using testing::DecodeFrame;
using testing::RtpSpec;

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

std::unique_ptr<FlowTable> MakeTable() {
  auto addrs = RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")});
  return std::move(*FlowTable::Create(std::move(*addrs), 20000, 20099));
}

struct RewriteCase {
  const char* name;
  const char* peer;       // sender
  const char* relay_in;   // relay address it sent to
  const char* relay_out;  // relay address we send from
  const char* target;     // where we send
  bool udp_checksum;
};

class RewriteTest : public ::testing::TestWithParam<RewriteCase> {};

TEST_P(RewriteTest, RewritesHeadersAndKeepsChecksumsValid) {
  const RewriteCase& c = GetParam();
  auto table = MakeTable();
  RtpSpec spec{Ip(c.peer), Ip(c.relay_in), 31000, 20000};
  spec.udp_checksum = c.udp_checksum;
  constexpr size_t kHeadroom = 64;
  std::vector<uint8_t> buf = BuildRtpFrame(spec, kHeadroom);
  uint8_t* frame = buf.data() + kHeadroom;
  const std::vector<uint8_t> original_payload(buf.end() - 172, buf.end());

  RelayPacket pkt;
  ASSERT_EQ(ClassifyFrame(frame, buf.size() - kHeadroom, *table, &pkt), FrameClass::kRelay);
  EXPECT_EQ(table->PortOf(pkt.slot), 20000);
  EXPECT_EQ(pkt.src_ip, Ip(c.peer));
  EXPECT_EQ(pkt.src_port, 31000);

  const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x77};
  EgressHeaders e{testing::kRelayMac, dst_mac, Ip(c.relay_out), Ip(c.target), 20002, 5004};
  RewriteResult r = RewriteFrame(frame, kHeadroom, pkt, e);
  ASSERT_TRUE(r.ok);
  auto d = DecodeFrame(frame + r.start_delta, r.length);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.src, Ip(c.relay_out));
  EXPECT_EQ(d.dst, Ip(c.target));
  EXPECT_EQ(d.src_port, 20002);
  EXPECT_EQ(d.dst_port, 5004);
  EXPECT_EQ(d.ttl, kRelayTtl);
  EXPECT_EQ(d.tos, 0xb8) << "DSCP EF must survive the relay";
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.udp_checksum_ok);
  if (c.udp_checksum || d.v6) {
    EXPECT_FALSE(d.udp_checksum_zero);
  }
  EXPECT_EQ(std::memcmp(d.dst_mac, dst_mac, 6), 0);
  EXPECT_EQ(std::memcmp(d.src_mac, testing::kRelayMac, 6), 0);
  // RTP header + payload untouched (the last 172 bytes of the UDP payload).
  ASSERT_EQ(d.payload.size(), 172u);
  EXPECT_TRUE(std::equal(d.payload.begin(), d.payload.end(), original_payload.begin()));
}

INSTANTIATE_TEST_SUITE_P(
    Families, RewriteTest,
    ::testing::Values(
        RewriteCase{"v4_to_v4", "198.51.100.7", "203.0.113.10", "203.0.113.10", "192.0.2.2", true},
        RewriteCase{"v4_to_v4_no_udp_checksum", "198.51.100.7", "203.0.113.10", "203.0.113.10", "192.0.2.2", false},
        RewriteCase{"v6_to_v6", "2001:db8::7", "2001:db8::10", "2001:db8::10", "2001:db8::99", true},
        RewriteCase{"v4_to_v6", "198.51.100.7", "203.0.113.10", "2001:db8::10", "2001:db8::99", true},
        RewriteCase{"v4_to_v6_no_udp_checksum", "198.51.100.7", "203.0.113.10", "2001:db8::10", "2001:db8::99", false},
        RewriteCase{"v6_to_v4", "2001:db8::7", "2001:db8::10", "203.0.113.10", "192.0.2.2", true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(RewriteTest, V4ToV6WithoutHeadroomIsRefused) {
  auto table = MakeTable();
  std::vector<uint8_t> buf = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20000});
  RelayPacket pkt;
  ASSERT_EQ(ClassifyFrame(buf.data(), buf.size(), *table, &pkt), FrameClass::kRelay);
  EgressHeaders e{testing::kRelayMac, testing::kPeerMac, Ip("2001:db8::10"),
                  Ip("2001:db8::99"), 20002, 5004};
  EXPECT_FALSE(RewriteFrame(buf.data(), /*headroom=*/0, pkt, e).ok);
}

// The IP payload runs 8 bytes past the UDP datagram (its total length
// says so, its UDP length does not): only the datagram is sent, so the
// sent total length must be the datagram's, its checksum still right.
// Found by the fast_path fuzz target (crash-01982cc0...).
TEST(RewriteTest, BytesAfterTheUdpDatagramAreNotCountedInTheSentTotalLength) {
  auto table = MakeTable();
  std::vector<uint8_t> buf = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20000});
  const uint32_t udp_len = (buf[14 + 20 + 4] << 8) | buf[14 + 20 + 5];
  buf.resize(buf.size() + 8, 0xee);
  uint8_t* ip = buf.data() + 14;
  const uint32_t total = 20 + udp_len + 8;
  testing::SetIpv4TotalLength(ip, static_cast<uint16_t>(total));
  RelayPacket pkt;
  ASSERT_EQ(ClassifyFrame(buf.data(), buf.size(), *table, &pkt), FrameClass::kRelay);

  EgressHeaders e{testing::kRelayMac, testing::kPeerMac, Ip("203.0.113.10"), Ip("192.0.2.2"),
                  20002, 5004};
  RewriteResult r = RewriteFrame(buf.data(), /*headroom=*/0, pkt, e);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.length, 14 + 20 + udp_len);
  EXPECT_EQ((ip[2] << 8) | ip[3], 20 + udp_len);
  testing::DecodedFrame d = DecodeFrame(buf.data(), r.length);
  ASSERT_TRUE(d.ok);
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.udp_checksum_ok);
  EXPECT_EQ(d.payload.size(), udp_len - 8);
}

class ClassifyTest : public ::testing::Test {
 protected:
  FrameClass Classify(std::vector<uint8_t>& f) {
    return ClassifyFrame(f.data(), static_cast<uint32_t>(f.size()), *table_, &pkt_);
  }
  std::unique_ptr<FlowTable> table_ = MakeTable();
  RelayPacket pkt_;
};

TEST_F(ClassifyTest, SipToRelayAddressGoesToKernel) {
  auto f = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 5060, 5060});
  EXPECT_EQ(Classify(f), FrameClass::kException);
}

TEST_F(ClassifyTest, OtherDestinationGoesToKernel) {
  auto f = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.11"), 31000, 20000});
  EXPECT_EQ(Classify(f), FrameClass::kException);
}

TEST_F(ClassifyTest, ArpAndShortFramesGoToKernel) {
  std::vector<uint8_t> arp(60, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(Classify(arp), FrameClass::kException);
  std::vector<uint8_t> runt(10, 0);
  EXPECT_EQ(Classify(runt), FrameClass::kException);
}

TEST_F(ClassifyTest, FragmentsGoToKernel) {
  auto f = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20000});
  f[14 + 6] = 0x20;  // more fragments
  EXPECT_EQ(Classify(f), FrameClass::kException);
}

TEST_F(ClassifyTest, TruncatedRelayPacketIsMalformed) {
  auto f = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20000});
  f.resize(f.size() - 50);  // IPv4 total length now exceeds the frame
  EXPECT_EQ(Classify(f), FrameClass::kMalformed);
}

TEST_F(ClassifyTest, UdpLengthBeyondIpPayloadIsMalformed) {
  auto f = BuildRtpFrame({Ip("2001:db8::7"), Ip("2001:db8::10"), 31000, 20000});
  f[14 + 40 + 4] = 0xff;
  EXPECT_EQ(Classify(f), FrameClass::kMalformed);
}

TEST_F(ClassifyTest, BadIhlIsMalformed) {
  auto f = BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20000});
  f[14] = 0x43;  // IHL 3 words
  EXPECT_EQ(Classify(f), FrameClass::kMalformed);
}

}  // namespace
}  // namespace rtplatch
