// Reading DNS answers (control/dns/dns_answer.h): records and TTLs of each
// type, negative answers and their TTL (RFC 2308), and malformed messages
// refused: cut short anywhere, pointer loops, too many records, CNAME
// loops and over-long CNAME chains, random damage.
#include "control/dns/dns_answer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "tests/control/dns/dns_message.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using testing::DnsMessage;

constexpr uint8_t kCore1[4] = {203, 0, 113, 40};
constexpr uint8_t kCore2[4] = {203, 0, 113, 41};
constexpr uint8_t kCore6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40};

absl::StatusOr<DnsRecords> Parse(DnsType type, const DnsMessage& m) {
  return ParseDnsAnswer(type, m.bytes().data(), m.bytes().size());
}

TEST(DnsAnswerTest, AddressesWithTheShortestTtl) {
  DnsMessage m(1, "core.carrier.example", 1);
  m.A("core.carrier.example", 300, kCore1).A("core.carrier.example", 60, kCore2);
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, m);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->negative);
  ASSERT_THAT(r->addresses, SizeIs(2));
  EXPECT_EQ(r->addresses[0].ToString(), "203.0.113.40");
  EXPECT_EQ(r->addresses[1].ToString(), "203.0.113.41");
  EXPECT_EQ(r->ttl_s, 60u);

  DnsMessage six(2, "core.carrier.example", 28);
  six.Aaaa("core.carrier.example", 120, kCore6);
  r = Parse(DnsType::kAaaa, six);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->addresses[0].ToString(), "2001:db8::40");
}

TEST(DnsAnswerTest, AnAliasChainCountsItsTtlToo) {
  DnsMessage m(1, "sip.carrier.example", 1);
  m.Cname("sip.carrier.example", 30, "core.carrier.example").A("core.carrier.example", 600, kCore1);
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, m);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_THAT(r->addresses, SizeIs(1));
  EXPECT_EQ(r->ttl_s, 30u);
}

TEST(DnsAnswerTest, ACnameLoopIsRefused) {
  DnsMessage two(1, "a.carrier.example", 1);
  two.Cname("a.carrier.example", 60, "b.carrier.example")
      .Cname("b.carrier.example", 60, "a.carrier.example");
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, two);
  ASSERT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("CNAME loop"));

  DnsMessage self(2, "_sip._udp.carrier.example", 33);
  self.Cname("_sip._udp.carrier.example", 60, "_SIP._udp.carrier.example.");
  r = Parse(DnsType::kSrv, self);
  EXPECT_THAT(r.status().message(), HasSubstr("CNAME loop")) << r.status();
}

// A chain of `n` CNAMEs from the asked name c0 to cn, which has an A.
DnsMessage Chain(size_t n) {
  DnsMessage m(1, "c0.carrier.example", 1);
  for (size_t i = 0; i < n; ++i) {
    m.Cname(absl::StrCat("c", i, ".carrier.example"), 60, absl::StrCat("c", i + 1, ".carrier.example"));
  }
  m.A(absl::StrCat("c", n, ".carrier.example"), 60, kCore1);
  return m;
}

TEST(DnsAnswerTest, ACnameChainLongerThanTheLimitIsRefused) {
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, Chain(kMaxCnameChain));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_THAT(r->addresses, SizeIs(1));
  EXPECT_EQ(r->addresses[0].ToString(), "203.0.113.40");

  // c-ares would follow any chain in the message to its address.
  for (size_t n : {kMaxCnameChain + 1, size_t{100}}) {
    r = Parse(DnsType::kA, Chain(n));
    ASSERT_TRUE(absl::IsInvalidArgument(r.status())) << n << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("CNAME chain longer than"));
  }
}

TEST(DnsAnswerTest, TwoCnamesForOneNameAreRefused) {
  DnsMessage m(1, "sip.carrier.example", 1);
  m.Cname("sip.carrier.example", 60, "core1.carrier.example")
      .Cname("sip.carrier.example", 60, "core2.carrier.example")
      .A("core1.carrier.example", 60, kCore1);
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, m);
  EXPECT_THAT(r.status().message(), HasSubstr("two CNAMEs")) << r.status();

  DnsMessage repeated(2, "sip.carrier.example", 1);
  repeated.Cname("sip.carrier.example", 60, "core1.carrier.example")
      .Cname("sip.carrier.example", 60, "core1.carrier.example")
      .A("core1.carrier.example", 60, kCore1);
  r = Parse(DnsType::kA, repeated);
  ASSERT_TRUE(r.ok()) << "the same alias twice is not a conflict: " << r.status();
}

TEST(DnsAnswerTest, SrvAndNaptr) {
  DnsMessage srv(1, "_sip._udp.carrier.example", 33);
  srv.Srv("_sip._udp.carrier.example", 3600, 10, 60, 5060, "Core1.Carrier.Example.")
      .Srv("_sip._udp.carrier.example", 3600, 20, 0, 5070, "core2.carrier.example");
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kSrv, srv);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_THAT(r->srv, SizeIs(2));
  EXPECT_EQ(r->srv[0].target, "core1.carrier.example") << "lower case, no dot";
  EXPECT_EQ(r->srv[0].weight, 60);
  EXPECT_EQ(r->srv[1].port, 5070);

  DnsMessage naptr(2, "carrier.example", 35);
  naptr.Naptr("carrier.example", 900, 10, 50, "S", "sip+d2u", "_sip._udp.carrier.example");
  r = Parse(DnsType::kNaptr, naptr);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_THAT(r->naptr, SizeIs(1));
  EXPECT_EQ(r->naptr[0].flags, "s");
  EXPECT_EQ(r->naptr[0].service, "SIP+D2U");
  EXPECT_EQ(r->naptr[0].replacement, "_sip._udp.carrier.example");
  EXPECT_EQ(r->ttl_s, 900u);
}

TEST(DnsAnswerTest, NegativeAnswersHoldForTheSoasTtlCappedByItsMinimum) {
  DnsMessage nx(1, "nothing.carrier.example", 1, /*rcode=*/3);
  nx.Soa("carrier.example", 900, 120);
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, nx);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->negative);
  EXPECT_EQ(r->ttl_s, 120u);

  DnsMessage nodata(2, "carrier.example", 35);  // NOERROR, no NAPTR
  nodata.Soa("carrier.example", 45, 300);
  r = Parse(DnsType::kNaptr, nodata);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->negative);
  EXPECT_EQ(r->ttl_s, 45u);

  DnsMessage bare(3, "carrier.example", 33, 3);  // no SOA to say
  r = Parse(DnsType::kSrv, bare);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ttl_s, kDefaultNegativeTtlS);
}

TEST(DnsAnswerTest, AServerFailureIsNotAnAnswer) {
  DnsMessage m(1, "carrier.example", 1, /*rcode=*/2);
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, m);
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
}

TEST(DnsAnswerTest, EveryTruncationIsRefusedNeverRead) {
  DnsMessage m(1, "_sip._udp.carrier.example", 33);
  m.Srv("_sip._udp.carrier.example", 60, 10, 1, 5060, "core1.carrier.example")
      .Srv("_sip._udp.carrier.example", 60, 20, 1, 5060, "core2.carrier.example");
  const std::vector<uint8_t>& full = m.bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    absl::StatusOr<DnsRecords> r = ParseDnsAnswer(DnsType::kSrv, cut.data(), cut.size());
    EXPECT_FALSE(r.ok()) << "cut at " << n << " of " << full.size();
  }
}

TEST(DnsAnswerTest, ACompressionLoopIsRefused) {
  DnsMessage m(1, "carrier.example", 1);
  m.A("carrier.example", 60, kCore1);
  std::vector<uint8_t>& b = m.mutable_bytes();
  // The answer's owner name (right after the 4-byte question tail) becomes
  // a pointer to itself.
  const size_t owner = 12 + DnsMessage::Name("carrier.example").size() + 4;
  b[owner] = static_cast<uint8_t>(0xc0 | (owner >> 8));
  b[owner + 1] = static_cast<uint8_t>(owner & 0xff);
  absl::StatusOr<DnsRecords> r = ParseDnsAnswer(DnsType::kA, b.data(), b.size());
  EXPECT_FALSE(r.ok());
}

TEST(DnsAnswerTest, AHugeAnswerIsRefusedNotCut) {
  DnsMessage m(1, "carrier.example", 1);
  for (int i = 0; i < 200; ++i) {
    const uint8_t ip[4] = {203, 0, 113, static_cast<uint8_t>(i)};
    m.A("carrier.example", 60, ip);
  }
  absl::StatusOr<DnsRecords> r = Parse(DnsType::kA, m);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("answer records"));

  DnsMessage many(2, "carrier.example", 1);
  for (int i = 0; i < 100; ++i) {
    const uint8_t ip[4] = {203, 0, 113, static_cast<uint8_t>(i)};
    many.A("carrier.example", 60, ip);
  }
  r = Parse(DnsType::kA, many);
  ASSERT_FALSE(r.ok()) << "100 addresses: more than kMaxDnsRecords";
}

TEST(DnsAnswerTest, RandomDamageNeverCrashes) {
  DnsMessage m(1, "carrier.example", 35);
  m.Naptr("carrier.example", 60, 10, 10, "s", "SIP+D2U", "_sip._udp.carrier.example")
      .Naptr("carrier.example", 60, 20, 10, "s", "SIP+D2T", "_sip._tcp.carrier.example");
  std::mt19937 rng(7);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b = m.bytes();
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) b[rng() % b.size()] = rng() & 0xff;
    for (DnsType t : {DnsType::kA, DnsType::kSrv, DnsType::kNaptr}) {
      absl::StatusOr<DnsRecords> r = ParseDnsAnswer(t, b.data(), b.size());
      if (r.ok()) {
        ++parsed;
        EXPECT_LE(r->naptr.size() + r->srv.size() + r->addresses.size(), kMaxDnsRecords);
        EXPECT_LE(r->ttl_s, kMaxDnsTtlS);
      }
    }
  }
  EXPECT_GT(parsed, 0) << "some damage leaves a valid message";
}

}  // namespace
}  // namespace rtplatch
