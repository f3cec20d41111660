#include "control/guard/ban_list.h"

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TEST(BanList, DropsABannedSourceUntilTheBanEndsAndCountsEachDrop) {
  BanList bans;
  bans.Ban(Ip("203.0.113.66"), 1000, 5000, "flood");
  EXPECT_TRUE(bans.Drops(Ip("203.0.113.66"), 1000));
  EXPECT_TRUE(bans.Drops(Ip("203.0.113.66"), 5999));
  EXPECT_FALSE(bans.Drops(Ip("203.0.113.67"), 2000));
  ASSERT_EQ(bans.Live(2000).size(), 1u);
  EXPECT_EQ(bans.Live(2000)[0].dropped, 2u);
  EXPECT_EQ(bans.Live(2000)[0].reason, "flood");
  EXPECT_FALSE(bans.Drops(Ip("203.0.113.66"), 6000));
  EXPECT_EQ(bans.size(), 0u);
}

TEST(BanList, ALiveBanIsExtendedNeverShortened) {
  BanList bans;
  bans.Ban(Ip("2001:db8::66"), 0, 10'000, "auth");
  bans.Ban(Ip("2001:db8::66"), 1000, 2000, "flood");
  EXPECT_TRUE(bans.Drops(Ip("2001:db8::66"), 9999));
  bans.Ban(Ip("2001:db8::66"), 2000, 20'000, "flood");
  EXPECT_EQ(bans.Live(2000)[0].until_ms, 22'000);
  EXPECT_EQ(bans.Live(2000)[0].since_ms, 0);
  EXPECT_EQ(bans.issued(), 1u);
}

TEST(BanList, UnbanLetsTheSourceInAtOnce) {
  BanList bans;
  bans.Ban(Ip("203.0.113.66"), 0, 60'000, "flood");
  EXPECT_TRUE(bans.Unban(Ip("203.0.113.66")));
  EXPECT_FALSE(bans.Unban(Ip("203.0.113.66")));
  EXPECT_FALSE(bans.Drops(Ip("203.0.113.66"), 1));
}

TEST(BanList, LiveListsTheBanEndingLastFirst) {
  BanList bans;
  bans.Ban(Ip("203.0.113.1"), 0, 1000, "a");
  bans.Ban(Ip("203.0.113.2"), 0, 3000, "b");
  bans.Ban(Ip("203.0.113.3"), 0, 2000, "c");
  std::vector<SourceBan> live = bans.Live(1500);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].reason, "b");
  EXPECT_EQ(live[1].reason, "c");
  EXPECT_EQ(bans.Expire(1500), 1u);
}

TEST(BanList, AFullListForgetsEndedBansFirstThenEvictsAndAlwaysBansTheNewest) {
  BanList bans(4);
  for (int i = 0; i < 4; ++i) {
    bans.Ban(*IpAddress::Parse("203.0.113." + std::to_string(i + 1)), 0, 1000 * (i + 1), "x");
  }
  bans.Ban(Ip("203.0.113.99"), 1500, 60'000, "new");  // .1's ban has ended
  EXPECT_EQ(bans.size(), 4u);
  EXPECT_EQ(bans.evicted(), 0u);
  bans.Ban(Ip("203.0.113.100"), 1500, 60'000, "newer");  // all live: one evicted
  EXPECT_EQ(bans.size(), 4u);
  EXPECT_EQ(bans.evicted(), 1u);
  EXPECT_TRUE(bans.Drops(Ip("203.0.113.100"), 1600));
  EXPECT_TRUE(bans.Drops(Ip("203.0.113.99"), 1600));
}

TEST(BanList, StaysBoundedUnderAFloodOfNewSources) {
  BanList bans(1000);
  for (uint32_t i = 0; i < 100'000; ++i) bans.Ban(IpAddress::FromV4(0xC6336400u + i), i, 60'000, "x");
  EXPECT_EQ(bans.size(), 1000u);
  EXPECT_EQ(bans.issued(), 100'000u);
}

}  // namespace
}  // namespace rtplatch
