// RFC 3263 server location (control/dns/sip_locator.h) over a fake
// DnsQuerier: which records are asked for in which case, the order of the
// hops (NAPTR order, SRV priority and weight, IPv4 before IPv6), the
// fallbacks, the bounds and the errors.
#include "control/dns/sip_locator.h"

#include "tests/control/dns/table_dns.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <utility>

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using FakeQuerier = testing::TableDns;

DnsRecords Addresses(std::vector<const char*> ips) {
  DnsRecords r;
  for (const char* ip : ips) r.addresses.push_back(*IpAddress::Parse(ip));
  r.ttl_s = 60;
  return r;
}

DnsRecords Srv(std::vector<SrvRecord> records) {
  DnsRecords r;
  r.srv = std::move(records);
  r.ttl_s = 60;
  return r;
}

UriParts Uri(const char* text) { return *ParseUri(text); }

class SipLocatorTest : public ::testing::Test {
 protected:
  // `pick(n)` returns 0: the first of the remaining weights.
  SipLocator locator_{dns_, {SipTransportKind::kUdp, SipTransportKind::kTcp},
                      [](uint64_t) { return uint64_t{0}; }};
  FakeQuerier dns_;

  std::vector<std::string> Locate(const char* uri, absl::Status* error = nullptr) {
    std::vector<std::string> out;
    bool called = false;
    locator_.Locate(Uri(uri), [&](absl::StatusOr<std::vector<SipHop>> hops) {
      called = true;
      if (!hops.ok()) {
        if (error != nullptr) *error = hops.status();
        return;
      }
      for (const SipHop& h : *hops) {
        out.push_back(absl::StrCat(SipTransportName(h.transport), " ", h.endpoint.ToString()));
      }
    });
    dns_.Run();
    EXPECT_TRUE(called);
    return out;
  }
};

TEST_F(SipLocatorTest, AnAddressNeedsNoDns) {
  EXPECT_THAT(Locate("sip:+15551234567@203.0.113.40"), ElementsAre("UDP 203.0.113.40:5060"));
  EXPECT_THAT(Locate("sip:[2001:db8::40]:5070"), ElementsAre("UDP [2001:db8::40]:5070"));
  EXPECT_THAT(dns_.asked, IsEmpty());
}

TEST_F(SipLocatorTest, NaptrThenSrvThenAddresses) {
  NaptrRecord udp{10, 50, "s", "SIP+D2U", "_sip._udp.carrier.example"};
  NaptrRecord tcp{20, 50, "s", "SIP+D2T", "_sip._tcp.carrier.example"};
  NaptrRecord other{5, 50, "s", "SIPS+D2T", "_sips._tcp.carrier.example"};  // no TLS yet
  DnsRecords naptr;
  naptr.naptr = {tcp, udp, other};
  naptr.ttl_s = 60;
  dns_.table[{"carrier.example", DnsType::kNaptr}] = naptr;
  dns_.table[{"_sip._udp.carrier.example", DnsType::kSrv}] =
      Srv({{20, 0, 5060, "core2.carrier.example"}, {10, 0, 5070, "core1.carrier.example"}});
  dns_.table[{"core1.carrier.example", DnsType::kA}] = Addresses({"203.0.113.40"});
  dns_.table[{"core1.carrier.example", DnsType::kAaaa}] = Addresses({"2001:db8::40"});
  dns_.table[{"core2.carrier.example", DnsType::kA}] = Addresses({"203.0.113.41"});
  EXPECT_THAT(Locate("sip:+15551234567@carrier.example"),
              ElementsAre("UDP 203.0.113.40:5070", "UDP [2001:db8::40]:5070",
                          "UDP 203.0.113.41:5060"));
  EXPECT_THAT(dns_.asked,
              ElementsAre("NAPTR carrier.example", "SRV _sip._udp.carrier.example",
                          "A core1.carrier.example", "AAAA core1.carrier.example",
                          "A core2.carrier.example", "AAAA core2.carrier.example"))
      << "the TCP record is not needed: UDP's SRV answered";
}

TEST_F(SipLocatorTest, WithoutNaptrEachTransportsSrvUdpFirst) {
  dns_.table[{"_sip._tcp.carrier.example", DnsType::kSrv}] =
      Srv({{10, 0, 5060, "core1.carrier.example"}});
  dns_.table[{"core1.carrier.example", DnsType::kA}] = Addresses({"203.0.113.40"});
  EXPECT_THAT(Locate("sip:carrier.example"), ElementsAre("TCP 203.0.113.40:5060"));
  EXPECT_THAT(dns_.asked, ElementsAre("NAPTR carrier.example", "SRV _sip._udp.carrier.example",
                                      "SRV _sip._tcp.carrier.example", "A core1.carrier.example",
                                      "AAAA core1.carrier.example"));
}

TEST_F(SipLocatorTest, WithoutSrvTheHostsAddressesOnPort5060) {
  dns_.table[{"core1.carrier.example", DnsType::kA}] = Addresses({"203.0.113.40"});
  EXPECT_THAT(Locate("sip:core1.carrier.example"), ElementsAre("UDP 203.0.113.40:5060"));
}

TEST_F(SipLocatorTest, APortMeansNoNaptrNoSrv) {
  dns_.table[{"core1.carrier.example", DnsType::kA}] = Addresses({"203.0.113.40"});
  EXPECT_THAT(Locate("sip:core1.carrier.example:5080"), ElementsAre("UDP 203.0.113.40:5080"));
  EXPECT_THAT(dns_.asked, ElementsAre("A core1.carrier.example", "AAAA core1.carrier.example"));
}

TEST_F(SipLocatorTest, ATransportMeansItsSrvOnly) {
  dns_.table[{"_sip._tcp.carrier.example", DnsType::kSrv}] =
      Srv({{10, 0, 5060, "core1.carrier.example"}});
  dns_.table[{"core1.carrier.example", DnsType::kA}] = Addresses({"203.0.113.40"});
  EXPECT_THAT(Locate("sip:carrier.example;transport=tcp"), ElementsAre("TCP 203.0.113.40:5060"));
  EXPECT_EQ(dns_.asked.front(), "SRV _sip._tcp.carrier.example");
  absl::Status error;
  EXPECT_THAT(Locate("sip:carrier.example;transport=sctp", &error), IsEmpty());
  EXPECT_TRUE(absl::IsInvalidArgument(error)) << error;
}

TEST_F(SipLocatorTest, SrvWeightsDrawTheOrderWithinAPriority) {
  SipLocator weighted(dns_, {SipTransportKind::kUdp}, [](uint64_t n) { return n - 1; });
  dns_.table[{"_sip._udp.carrier.example", DnsType::kSrv}] =
      Srv({{10, 10, 5060, "a.carrier.example"}, {10, 30, 5060, "b.carrier.example"},
           {5, 0, 5060, "c.carrier.example"}});
  dns_.table[{"a.carrier.example", DnsType::kA}] = Addresses({"203.0.113.1"});
  dns_.table[{"b.carrier.example", DnsType::kA}] = Addresses({"203.0.113.2"});
  dns_.table[{"c.carrier.example", DnsType::kA}] = Addresses({"203.0.113.3"});
  std::vector<std::string> out;
  weighted.Locate(Uri("sip:carrier.example;transport=udp"),
                  [&](absl::StatusOr<std::vector<SipHop>> hops) {
                    ASSERT_TRUE(hops.ok());
                    for (const SipHop& h : *hops) out.push_back(h.endpoint.ToString());
                  });
  dns_.Run();
  // Priority 5 first; then the last draw of 40 (39) lands in b's weight.
  EXPECT_THAT(out, ElementsAre("203.0.113.3:5060", "203.0.113.2:5060", "203.0.113.1:5060"));
}

TEST_F(SipLocatorTest, AHugeSrvSetIsBounded) {
  std::vector<SrvRecord> many;
  for (int i = 0; i < 60; ++i) {
    many.push_back({10, 1, 5060, absl::StrCat("h", i, ".carrier.example")});
    dns_.table[{absl::StrCat("h", i, ".carrier.example"), DnsType::kA}] =
        Addresses({"203.0.113.1", "203.0.113.2", "203.0.113.3"});
  }
  dns_.table[{"_sip._udp.carrier.example", DnsType::kSrv}] = Srv(many);
  std::vector<std::string> hops = Locate("sip:carrier.example;transport=udp");
  EXPECT_LE(hops.size(), SipLocator::kMaxHops);
  EXPECT_LE(dns_.asked.size(), 1 + 2 * SipLocator::kMaxSrvTargets);
}

TEST_F(SipLocatorTest, NoServiceAndFailuresAreErrors) {
  absl::Status error;
  EXPECT_THAT(Locate("sip:nowhere.carrier.example", &error), IsEmpty());
  EXPECT_TRUE(absl::IsNotFound(error)) << error;

  dns_.table[{"_sip._udp.dot.example", DnsType::kSrv}] = Srv({{0, 0, 0, "."}});
  EXPECT_THAT(Locate("sip:dot.example;transport=udp", &error), IsEmpty());
  EXPECT_TRUE(absl::IsNotFound(error)) << "a '.' target: no SIP there";

  dns_.failing = {"down.example", "_sip._udp.down.example", "_sip._tcp.down.example"};
  EXPECT_THAT(Locate("sip:down.example", &error), IsEmpty());
  EXPECT_TRUE(absl::IsUnavailable(error)) << error;
}

}  // namespace
}  // namespace rtplatch
