#include "common/ip_address.h"

#include <gtest/gtest.h>

#include <string>

namespace rtplatch {
namespace {

TEST(IpAddressTest, ParsesIpv4AsV4Mapped) {
  auto a = IpAddress::Parse("192.0.2.7");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->v4_host_order(), 0xc0000207u);
  EXPECT_EQ(a->ToString(), "192.0.2.7");
}

// ToString formats IPv4 by hand: every digit count in every octet.
TEST(IpAddressTest, FormatsEveryIpv4OctetWidth) {
  for (const char* text : {"0.0.0.0", "255.255.255.255", "203.0.113.10", "1.22.100.9",
                           "198.51.100.250", "9.99.109.10"}) {
    auto a = IpAddress::Parse(text);
    ASSERT_TRUE(a.ok()) << text;
    EXPECT_EQ(a->ToString(), text);
  }
  for (uint32_t v = 0; v < 256; ++v) {
    const uint32_t host = v << 24 | v << 16 | (255 - v) << 8 | v;
    EXPECT_EQ(IpAddress::Parse(IpAddress::FromV4(host).ToString())->v4_host_order(), host);
  }
}

TEST(IpAddressTest, ParsesIpv6) {
  auto a = IpAddress::Parse("2001:db8::10");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->is_v4());
  EXPECT_EQ(a->ToString(), "2001:db8::10");
}

TEST(IpAddressTest, RejectsGarbageWithTheInputInTheMessage) {
  auto a = IpAddress::Parse("192.0.2.300");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("192.0.2.300"), std::string_view::npos);
}

TEST(IpAddressTest, TryParseAgreesWithParseWithoutAnError) {
  for (const char* text : {"192.0.2.7", "2001:db8::10", "::ffff:192.0.2.1", "bench.example", "",
                           "192.0.2.300", "2001:db8::10%eth0"}) {
    EXPECT_EQ(IpAddress::TryParse(text).has_value(), IpAddress::Parse(text).ok()) << text;
    if (IpAddress::Parse(text).ok()) EXPECT_EQ(*IpAddress::TryParse(text), *IpAddress::Parse(text));
  }
  // Longer than any address text: no, and no overrun of its buffer.
  EXPECT_FALSE(IpAddress::TryParse(std::string(200, '1')).has_value());
}

TEST(IpAddressTest, UnspecifiedCoversBothFamiliesAndDefault) {
  EXPECT_TRUE(IpAddress().is_unspecified());
  EXPECT_TRUE(IpAddress::Parse("0.0.0.0")->is_unspecified());
  EXPECT_TRUE(IpAddress::Parse("::")->is_unspecified());
  EXPECT_FALSE(IpAddress::Parse("203.0.113.1")->is_unspecified());
}

TEST(EndpointTest, RoundTripsBothFamilies) {
  for (const char* text : {"203.0.113.5:4000", "[2001:db8::5]:6000"}) {
    auto e = Endpoint::Parse(text);
    ASSERT_TRUE(e.ok()) << text;
    EXPECT_EQ(e->ToString(), text);
  }
}

TEST(EndpointTest, RejectsBadPortsAndShapes) {
  for (const char* text : {"203.0.113.5", "203.0.113.5:0", "203.0.113.5:70000",
                           "2001:db8::5:6000", "[2001:db8::5]6000", ":5", "[::1]:x"}) {
    EXPECT_FALSE(Endpoint::Parse(text).ok()) << text;
  }
}

}  // namespace
}  // namespace rtplatch
