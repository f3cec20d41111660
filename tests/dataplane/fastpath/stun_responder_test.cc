// The ICE check responder against RFC 5769's published STUN test vectors
// and against requests built with OpenSSL and zlib: authentic checks are
// answered, anything altered, truncated or unsigned is refused.
#include "dataplane/fastpath/stun_responder.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/dataplane/fastpath/stun_request_builder.h"

namespace rtplatch {
namespace {

using testing::BuildStunRequest;
using testing::StunRequestSpec;
using testing::XorMappedAddressOf;

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

// RFC 5769 2.1: a Binding request with USERNAME "evtj:h6vY" signed with
// the password below, and 2.2: the success response to it (mapped address
// 192.0.2.1:32853, SOFTWARE "test vector").
const std::vector<uint8_t> kRfc5769Request = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
    0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 'S',  'T',  'U',  'N',  ' ',  't',
    'e',  's',  't',  ' ',  'c',  'l',  'i',  'e',  'n',  't',  0x00, 0x24, 0x00, 0x04, 0x6e,
    0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 'e',  'v',  't',  'j',  ':',  'h',  '6',  'v',  'Y',  0x20, 0x20,
    0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
    0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
    0x7a, 0x3b, 0xcf};
const std::vector<uint8_t> kRfc5769Response = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
    0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 't',  'e',  's',  't',
    ' ',  'v',  'e',  'c',  't',  'o',  'r',  ' ',  0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
    0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
    0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
    0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};
constexpr char kRfc5769Password[] = "VOkJxbRl1RmTxUk/WvJxBt";

struct Answer {
  IceCheck result;
  std::vector<uint8_t> reply;
};

Answer Check(const std::vector<uint8_t>& request, const IceCredentials& local,
             const IpAddress& ip = Ip("203.0.113.30"), uint16_t port = 31000) {
  uint8_t reply[kStunReplyMaxLen];
  uint32_t len = 0;
  IceCheck r = AnswerIceCheck(request.data(), static_cast<uint32_t>(request.size()), local, ip,
                              port, reply, &len);
  return {r, std::vector<uint8_t>(reply, reply + (r == IceCheck::kAnswered ? len : 0))};
}

TEST(StunResponderTest, Rfc5769VectorsVerify) {
  EXPECT_TRUE(StunMessageAuthentic(kRfc5769Request.data(), kRfc5769Request.size(),
                                   kRfc5769Password));
  EXPECT_TRUE(StunMessageAuthentic(kRfc5769Response.data(), kRfc5769Response.size(),
                                   kRfc5769Password));
  EXPECT_FALSE(StunMessageAuthentic(kRfc5769Request.data(), kRfc5769Request.size(),
                                    "VOkJxbRl1RmTxUk/WvJxBT"));
  testing::MappedAddress mapped = XorMappedAddressOf(kRfc5769Response);
  EXPECT_EQ(mapped.ip, Ip("192.0.2.1"));
  EXPECT_EQ(mapped.port, 32853);
}

TEST(StunResponderTest, AnswersTheRfc5769RequestForItsUfrag) {
  const IceCredentials local = MakeIceCredentials("evtj", kRfc5769Password);
  Answer a = Check(kRfc5769Request, local, Ip("192.0.2.1"), 32853);
  ASSERT_EQ(a.result, IceCheck::kAnswered);
  ASSERT_EQ(a.reply.size(), 20u + 12 + 24 + 8);
  EXPECT_EQ(a.reply[0], 0x01);  // Binding success response
  EXPECT_EQ(a.reply[1], 0x01);
  EXPECT_EQ(std::vector<uint8_t>(a.reply.begin() + 4, a.reply.begin() + 20),
            std::vector<uint8_t>(kRfc5769Request.begin() + 4, kRfc5769Request.begin() + 20));
  EXPECT_TRUE(StunMessageAuthentic(a.reply.data(), a.reply.size(), kRfc5769Password));
  // The same mapped address as RFC 5769's own response to this request.
  EXPECT_EQ(std::vector<uint8_t>(a.reply.begin() + 20, a.reply.begin() + 32),
            std::vector<uint8_t>(kRfc5769Response.begin() + 36, kRfc5769Response.begin() + 48));
}

TEST(StunResponderTest, RefusesOtherUfragsAndPasswords) {
  EXPECT_EQ(Check(kRfc5769Request, MakeIceCredentials("h6vY", kRfc5769Password)).result,
            IceCheck::kUnauthenticated);
  EXPECT_EQ(Check(kRfc5769Request, MakeIceCredentials("evt", kRfc5769Password)).result,
            IceCheck::kUnauthenticated);  // a prefix of the ufrag is not it
  EXPECT_EQ(Check(kRfc5769Request, MakeIceCredentials("evtj", "VOkJxbRl1RmTxUk/WvJxBT")).result,
            IceCheck::kUnauthenticated);
}

TEST(StunResponderTest, AnswersIpv6WithTheTransactionInTheXor) {
  const IceCredentials local = MakeIceCredentials("R3lx", "aaaaaaaaaaaaaaaaaaaaaaaa");
  Answer a = Check(BuildStunRequest({"R3lx:peer", "aaaaaaaaaaaaaaaaaaaaaaaa"}), local,
                   Ip("2001:db8::20"), 40000);
  ASSERT_EQ(a.result, IceCheck::kAnswered);
  EXPECT_EQ(a.reply.size(), kStunReplyMaxLen);
  EXPECT_TRUE(StunMessageAuthentic(a.reply.data(), a.reply.size(), "aaaaaaaaaaaaaaaaaaaaaaaa"));
  testing::MappedAddress mapped = XorMappedAddressOf(a.reply);
  EXPECT_EQ(mapped.ip, Ip("2001:db8::20"));
  EXPECT_EQ(mapped.port, 40000);
}

TEST(StunResponderTest, RefusesUnsignedAndNonBindingMessages) {
  const IceCredentials local = MakeIceCredentials("R3lx", "aaaaaaaaaaaaaaaaaaaaaaaa");
  StunRequestSpec spec{"R3lx:peer", "aaaaaaaaaaaaaaaaaaaaaaaa"};
  EXPECT_EQ(Check(BuildStunRequest(spec), local).result, IceCheck::kAnswered);
  spec.fingerprint = false;  // FINGERPRINT is optional
  EXPECT_EQ(Check(BuildStunRequest(spec), local).result, IceCheck::kAnswered);
  spec.integrity = false;
  EXPECT_EQ(Check(BuildStunRequest(spec), local).result, IceCheck::kUnauthenticated);
  StunRequestSpec indication{"R3lx:peer", "aaaaaaaaaaaaaaaaaaaaaaaa"};
  indication.type = 0x0011;  // Binding indication: nothing to answer
  EXPECT_EQ(Check(BuildStunRequest(indication), local).result, IceCheck::kNotBindingRequest);
  StunRequestSpec success = indication;
  success.type = 0x0101;  // a response reflected back at us
  EXPECT_EQ(Check(BuildStunRequest(success), local).result, IceCheck::kNotBindingRequest);
}

// MESSAGE-INTEGRITY covers the request up to its own end (byte 100); after
// it only FINGERPRINT counts, and an attribute of another type there is
// ignored (RFC 8489 14.5), so the FINGERPRINT's type bytes are the only
// ones whose change leaves an authentic request.
constexpr size_t kRfc5769IntegrityEnd = 100;

bool SignedPartUnchanged(const std::vector<uint8_t>& m) {
  return m.size() >= kRfc5769IntegrityEnd && m[0] == kRfc5769Request[0] &&
         m[1] == kRfc5769Request[1] &&
         std::equal(m.begin() + 4, m.begin() + kRfc5769IntegrityEnd, kRfc5769Request.begin() + 4);
}

TEST(StunResponderTest, EveryAlteredByteOrTruncationIsRefused) {
  const IceCredentials local = MakeIceCredentials("evtj", kRfc5769Password);
  for (size_t i = 0; i < kRfc5769Request.size(); ++i) {
    if (i == kRfc5769IntegrityEnd || i == kRfc5769IntegrityEnd + 1) continue;
    std::vector<uint8_t> m = kRfc5769Request;
    m[i] ^= 0x40;
    EXPECT_NE(Check(m, local).result, IceCheck::kAnswered) << "byte " << i;
  }
  for (size_t len = 0; len < kRfc5769Request.size(); ++len) {
    std::vector<uint8_t> m(kRfc5769Request.begin(), kRfc5769Request.begin() + len);
    EXPECT_NE(Check(m, local).result, IceCheck::kAnswered) << "length " << len;
  }
}

TEST(StunResponderTest, RandomMessagesNeverCrashOrGetAnswered) {
  const IceCredentials local = MakeIceCredentials("evtj", kRfc5769Password);
  std::mt19937 rng(5769);
  for (int n = 0; n < 20000; ++n) {
    std::vector<uint8_t> m = kRfc5769Request;
    m.resize(rng() % 160);
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < flips && !m.empty(); ++f) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    // Keep the header plausible half the time, so the attribute walk runs.
    if (n % 2 == 0 && m.size() >= 20) {
      m[0] = 0;
      m[1] = 1;
      m[2] = static_cast<uint8_t>((m.size() - 20) >> 8);
      m[3] = static_cast<uint8_t>(m.size() - 20);
      m[4] = 0x21, m[5] = 0x12, m[6] = 0xA4, m[7] = 0x42;
    }
    if (Check(m, local).result == IceCheck::kAnswered) {
      EXPECT_TRUE(SignedPartUnchanged(m)) << "message " << n;
    }
  }
}

}  // namespace
}  // namespace rtplatch
