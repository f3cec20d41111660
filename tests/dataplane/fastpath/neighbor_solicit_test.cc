// The frames the dataplane sends about addresses: solicitations for next
// hops, and the announcements of a standby address taken over.
#include "dataplane/fastpath/neighbor_solicit.h"

#include <cstdint>
#include <vector>

#include "dataplane/fastpath/packet_parse.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

constexpr uint8_t kMac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x70};

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

std::vector<uint8_t> Announce(const char* address) {
  std::vector<uint8_t> frame(kSolicitFrameMax, 0xee);
  frame.resize(BuildAnnouncement(frame.data(), kMac, Ip(address)));
  return frame;
}

// Ones' complement sum over the IPv6 pseudo-header and the ICMPv6 message:
// 0xffff when the message's checksum is right.
uint16_t Icmpv6Sum(const std::vector<uint8_t>& f) {
  const uint8_t* ip = f.data() + kEtherHeaderLen;
  const uint16_t len = Get16(ip + 4);
  uint32_t sum = len + 58;
  for (int i = 8; i < 40; i += 2) sum += Get16(ip + i);
  for (int i = 0; i < len; i += 2) sum += Get16(ip + 40 + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

TEST(AnnouncementTest, Ipv4IsAGratuitousArpRequestBroadcastFromTheRelayMac) {
  std::vector<uint8_t> f = Announce("203.0.113.70");
  ASSERT_EQ(f.size(), 60u) << "padded to Ethernet's minimum";
  EXPECT_EQ(std::vector<uint8_t>(f.begin(), f.begin() + 6), std::vector<uint8_t>(6, 0xff));
  EXPECT_EQ(std::vector<uint8_t>(f.begin() + 6, f.begin() + 12),
            std::vector<uint8_t>(kMac, kMac + 6));
  EXPECT_EQ(Get16(f.data() + 12), kEtherTypeArp);
  const uint8_t* arp = f.data() + kEtherHeaderLen;
  EXPECT_EQ(Get16(arp + 6), 1) << "a request, as RFC 5227 announces";
  EXPECT_EQ(std::vector<uint8_t>(arp + 8, arp + 14), std::vector<uint8_t>(kMac, kMac + 6));
  const uint8_t vip[4] = {203, 0, 113, 70};
  EXPECT_EQ(std::vector<uint8_t>(arp + 14, arp + 18), std::vector<uint8_t>(vip, vip + 4))
      << "sender: the address";
  EXPECT_EQ(std::vector<uint8_t>(arp + 24, arp + 28), std::vector<uint8_t>(vip, vip + 4))
      << "target: the address itself";
}

TEST(AnnouncementTest, Ipv6IsAnUnsolicitedOverridingAdvertisementToAllNodes) {
  std::vector<uint8_t> f = Announce("2001:db8::70");
  ASSERT_EQ(f.size(), static_cast<size_t>(kEtherHeaderLen + kIpv6HeaderLen + 32));
  const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
  EXPECT_EQ(std::vector<uint8_t>(f.begin(), f.begin() + 6),
            std::vector<uint8_t>(all_nodes_mac, all_nodes_mac + 6));
  const uint8_t* ip = f.data() + kEtherHeaderLen;
  EXPECT_EQ(ip[6], 58) << "ICMPv6";
  EXPECT_EQ(ip[7], 255) << "hop limit 255, or receivers drop it (RFC 4861 7.1.2)";
  EXPECT_EQ(IpAddress::FromV6Bytes(ip + 8), Ip("2001:db8::70"));
  EXPECT_EQ(IpAddress::FromV6Bytes(ip + 24), Ip("ff02::1"));
  const uint8_t* icmp = ip + kIpv6HeaderLen;
  EXPECT_EQ(icmp[0], 136) << "Neighbor Advertisement";
  EXPECT_EQ(icmp[4], 0x20) << "Override set, Solicited and Router clear";
  EXPECT_EQ(IpAddress::FromV6Bytes(icmp + 8), Ip("2001:db8::70"));
  EXPECT_EQ(icmp[24], 2) << "target link-layer address option";
  EXPECT_EQ(std::vector<uint8_t>(icmp + 26, icmp + 32), std::vector<uint8_t>(kMac, kMac + 6));
  EXPECT_EQ(Icmpv6Sum(f), 0xffff);
}

TEST(SolicitTest, NeighborSolicitationStillAsksTheSolicitedNodeGroup) {
  std::vector<uint8_t> f(kSolicitFrameMax);
  f.resize(BuildSolicit(f.data(), kMac, Ip("2001:db8::10"), Ip("2001:db8::1:2:3")));
  const uint8_t* ip = f.data() + kEtherHeaderLen;
  EXPECT_EQ(IpAddress::FromV6Bytes(ip + 24), Ip("ff02::1:ff02:3"));
  EXPECT_EQ(ip[kIpv6HeaderLen], 135);
  EXPECT_EQ(ip[kIpv6HeaderLen + 24], 1) << "source link-layer address option";
  EXPECT_EQ(Icmpv6Sum(f), 0xffff);
}

}  // namespace
}  // namespace rtplatch
