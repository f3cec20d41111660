#include "control/guard/sip_guard.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

std::string Request(const std::string& method, const std::string& user_agent = "baresip") {
  return absl::StrCat(method, " sip:example.test SIP/2.0\r\n",
                      "Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK1\r\n",
                      "User-Agent: ", user_agent, "\r\n", "Content-Length: 0\r\n\r\n");
}

SipGuardConfig Config() {
  SipGuardConfig c;
  c.rates.window_ms = 1000;
  c.rates.per_window = {3, 2, 5};
  c.flood_ban_ms = 30'000;
  c.auth.per_source = 2;
  c.auth.per_user = 100;
  c.auth_ban_ms = 60'000;
  return c;
}

TEST(SipGuard, AFloodingSourceIsBannedAndEverythingFromItDroppedUntilTheBanEnds) {
  SipGuard g(Config(), nullptr);
  const IpAddress attacker = Ip("203.0.113.66");
  EXPECT_EQ(g.Inspect(Request("INVITE"), attacker, 0), GuardVerdict::kPass);
  EXPECT_EQ(g.Inspect(Request("INVITE"), attacker, 1), GuardVerdict::kPass);
  EXPECT_EQ(g.Inspect(Request("INVITE"), attacker, 2), GuardVerdict::kFlood);
  EXPECT_EQ(g.Inspect(Request("REGISTER"), attacker, 3), GuardVerdict::kBanned);
  EXPECT_EQ(g.Inspect("SIP/2.0 200 OK\r\n\r\n", attacker, 29'999), GuardVerdict::kBanned);
  EXPECT_EQ(g.Inspect(Request("INVITE"), attacker, 30'002), GuardVerdict::kPass);
  EXPECT_EQ(g.counters().flood_bans, 1u);
  EXPECT_EQ(g.counters().dropped_flood, 1u);
  EXPECT_EQ(g.counters().dropped_banned, 2u);
  // A phone elsewhere was never affected.
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("198.51.100.7"), 3), GuardVerdict::kPass);
}

TEST(SipGuard, TheBanSaysWhy) {
  SipGuard g(Config(), nullptr);
  for (int i = 0; i < 4; ++i) g.Inspect(Request("REGISTER"), Ip("2001:db8::66"), i);
  std::vector<SourceBan> live = g.bans().Live(10);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].reason, "flood: over 3 REGISTER in 1000 ms");
  EXPECT_EQ(live[0].until_ms, 3 + 30'000);
}

TEST(SipGuard, TrustedPeersAndExemptPrefixesAreNeverLimited) {
  SipGuardConfig c = Config();
  c.exempt.push_back(*IpPrefix::Parse("198.51.100.0/24"));
  SipGuard g(c, [](const IpAddress& ip) { return ip == *IpAddress::Parse("203.0.113.40"); });
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(g.Inspect(Request("INVITE"), Ip("203.0.113.40"), i), GuardVerdict::kPass);
    ASSERT_EQ(g.Inspect(Request("INVITE"), Ip("198.51.100.9"), i), GuardVerdict::kPass);
  }
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(g.AuthFailed(Ip("198.51.100.9"), "alice", i));
}

// A ban covers the stranger's whole IPv6 /64; a trusted peer (or ::1,
// in ::/64) in that /64 is still never limited. Found by the sip_guard
// fuzz target (seed 7c9dc4fc...).
TEST(SipGuard, ATrustedPeerIsNotBannedWithAStrangerInItsSlash64) {
  const IpAddress trusted = Ip("2001:db8:5::1");
  SipGuard g(Config(), [trusted](const IpAddress& ip) { return ip == trusted; });
  EXPECT_FALSE(g.AuthFailed(Ip("2001:db8:5::66"), "alice", 0));
  EXPECT_TRUE(g.AuthFailed(Ip("2001:db8:5::66"), "alice", 1));
  EXPECT_FALSE(g.AuthFailed(Ip("::2"), "bob", 2));
  EXPECT_TRUE(g.AuthFailed(Ip("::2"), "bob", 3));
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("2001:db8:5::66"), 4), GuardVerdict::kBanned);
  EXPECT_EQ(g.Inspect(Request("INVITE"), trusted, 5), GuardVerdict::kPass);
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("::1"), 6), GuardVerdict::kPass);
}

// A process on this host (monitoring, a co-located proxy, the benches)
// is never limited: no datagram from the network has a loopback source.
TEST(SipGuard, LoopbackIsNeverLimited) {
  SipGuard g(Config(), nullptr);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(g.Inspect(Request("INVITE"), Ip("127.0.0.1"), i), GuardVerdict::kPass);
    ASSERT_EQ(g.Inspect(Request("INVITE"), Ip("127.3.4.5"), i), GuardVerdict::kPass);
    ASSERT_EQ(g.Inspect(Request("INVITE"), Ip("::1"), i), GuardVerdict::kPass);
  }
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("203.0.113.66"), 0), GuardVerdict::kPass);
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("203.0.113.66"), 1), GuardVerdict::kPass);
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("203.0.113.66"), 2), GuardVerdict::kFlood);
}

TEST(SipGuard, ScannersAreDroppedWhateverTheCaseOfTheirUserAgent) {
  SipGuard g(Config(), nullptr);
  EXPECT_EQ(g.Inspect(Request("OPTIONS", "friendly-scanner"), Ip("203.0.113.66"), 0),
            GuardVerdict::kScanner);
  EXPECT_EQ(g.Inspect(Request("REGISTER", "SIPVicious 0.3.4"), Ip("203.0.113.67"), 0),
            GuardVerdict::kScanner);
  EXPECT_EQ(g.Inspect(Request("REGISTER", "Yealink SIP-T46S"), Ip("203.0.113.68"), 0),
            GuardVerdict::kPass);
  EXPECT_EQ(g.counters().dropped_scanner, 2u);
}

TEST(SipGuard, AnEmptyScannerListDropsNone) {
  SipGuardConfig c = Config();
  c.scanner_user_agents.clear();
  SipGuard g(c, nullptr);
  EXPECT_EQ(g.Inspect(Request("OPTIONS", "friendly-scanner"), Ip("203.0.113.66"), 0),
            GuardVerdict::kPass);
}

TEST(SipGuard, AGuesserGets403AndABanAtItsLimit) {
  SipGuard g(Config(), nullptr);
  const IpAddress guesser = Ip("203.0.113.66");
  EXPECT_FALSE(g.AuthFailed(guesser, "alice", 0));
  EXPECT_TRUE(g.AuthFailed(guesser, "alice", 1));
  EXPECT_EQ(g.Inspect(Request("REGISTER"), guesser, 2), GuardVerdict::kBanned);
  EXPECT_EQ(g.Inspect(Request("REGISTER"), guesser, 60'002), GuardVerdict::kPass);
  EXPECT_EQ(g.counters().auth_failures, 2u);
  EXPECT_EQ(g.counters().auth_bans, 1u);
}

TEST(SipGuard, AnIpv6AttackerIsLimitedAndBannedByItsSlash64) {
  SipGuard g(Config(), nullptr);
  // Every request from a new address of the same /64: one source.
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("2001:db8:66:1::a"), 0), GuardVerdict::kPass);
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("2001:db8:66:1::b"), 1), GuardVerdict::kPass);
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("2001:db8:66:1:ffff::c"), 2), GuardVerdict::kFlood);
  EXPECT_EQ(g.Inspect(Request("OPTIONS"), Ip("2001:db8:66:1::d"), 3), GuardVerdict::kBanned);
  std::vector<SourceBan> live = g.bans().Live(4);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(GuardedSourceName(live[0].source), "2001:db8:66:1::/64");
  // The neighbouring /64 is another subscriber.
  EXPECT_EQ(g.Inspect(Request("INVITE"), Ip("2001:db8:66:2::a"), 4), GuardVerdict::kPass);
  EXPECT_EQ(g.rates().tracked(), 2u);
}

TEST(SipGuard, AGuesserRotatingIpv6AddressesIsCountedByItsSlash64) {
  SipGuard g(Config(), nullptr);
  EXPECT_FALSE(g.AuthFailed(Ip("2001:db8:68::1"), "alice", 0));
  EXPECT_TRUE(g.AuthFailed(Ip("2001:db8:68::2"), "alice", 1));
  EXPECT_EQ(g.Inspect(Request("REGISTER"), Ip("2001:db8:68::3"), 2), GuardVerdict::kBanned);
}

TEST(GuardedSource, Ipv4IsItselfAndIpv6ItsSlash64) {
  EXPECT_EQ(GuardedSource(Ip("192.0.2.7")), Ip("192.0.2.7"));
  EXPECT_EQ(GuardedSource(Ip("2001:db8:1:2:3:4:5:6")), Ip("2001:db8:1:2::"));
  EXPECT_EQ(GuardedSourceName(Ip("192.0.2.7")), "192.0.2.7");
}

TEST(SniffUserAgent, FindsTheHeaderInAnyCaseAndStopsAtTheBody) {
  EXPECT_EQ(SniffUserAgent("OPTIONS sip:x SIP/2.0\r\nuser-agent :  sipcli/v1.8 \r\n\r\n"),
            "sipcli/v1.8");
  EXPECT_EQ(SniffUserAgent("OPTIONS sip:x SIP/2.0\nUser-Agent: bare-lf\n\n"), "bare-lf");
  EXPECT_EQ(SniffUserAgent("MESSAGE sip:x SIP/2.0\r\nVia: x\r\n\r\nUser-Agent: in the body\r\n"),
            "");
  EXPECT_EQ(SniffUserAgent("OPTIONS sip:x SIP/2.0\r\nUser-Agents-Are: not it\r\n\r\n"), "");
  EXPECT_EQ(SniffUserAgent(""), "");
  EXPECT_EQ(SniffUserAgent("\n"), "");
  EXPECT_EQ(SniffUserAgent("OPTIONS sip:x SIP/2.0\r\nUser-Agent:"), "");
}

}  // namespace
}  // namespace rtplatch
