#include "dataplane/fastpath/neighbor_table.h"

#include <gtest/gtest.h>

namespace rtplatch {
namespace {

// A /24 of hosts that differ only in the last octet must all be learnable
// (a weak hash once sent them all to one probe window of 16).
TEST(NeighborTableTest, LearnsEveryHostOfASubnet) {
  NeighborTable table(16);
  for (uint32_t host = 1; host < 255; ++host) {
    uint8_t mac[6] = {2, 0, 0, 0, 0, static_cast<uint8_t>(host)};
    ASSERT_TRUE(table.Learn(IpAddress::FromV4(0xc6336400u | host), mac)) << host;
  }
  for (uint32_t host = 1; host < 255; ++host) {
    uint8_t mac[6];
    ASSERT_TRUE(table.Lookup(IpAddress::FromV4(0xc6336400u | host), mac)) << host;
    EXPECT_EQ(mac[5], host);
  }
  EXPECT_EQ(table.size(), 254u);
}

TEST(NeighborTableTest, RelearningUpdatesTheMacInPlace) {
  NeighborTable table(8);
  IpAddress ip = *IpAddress::Parse("2001:db8::20");
  const uint8_t first[6] = {2, 0, 0, 0, 0, 1};
  const uint8_t second[6] = {2, 0, 0, 0, 0, 2};
  table.Learn(ip, first);
  EXPECT_TRUE(table.Matches(ip, first));
  table.Learn(ip, second);
  EXPECT_TRUE(table.Matches(ip, second));
  EXPECT_FALSE(table.Matches(ip, first));
  EXPECT_EQ(table.size(), 1u);
}

TEST(NeighborTableTest, UnknownAddressMisses) {
  NeighborTable table(8);
  uint8_t mac[6];
  EXPECT_FALSE(table.Lookup(*IpAddress::Parse("203.0.113.99"), mac));
}

}  // namespace
}  // namespace rtplatch
