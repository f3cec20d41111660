// REGISTERs challenged from their raw lines (control/routing/raw_challenge.h):
// which ones qualify, and that their 401 says what the parsed path's says.
#include "control/routing/raw_challenge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "control/guard/raw_sip_head.h"
#include "tests/control/routing/proxy_fixture.h"

namespace rtplatch {
namespace proxy_fixture {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

std::string Register(absl::string_view to, absl::string_view extra = "",
                     absl::string_view request_uri = "sip:example.com") {
  return absl::StrCat("REGISTER ", request_uri, " SIP/2.0\r\n",
                      "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport\r\n",
                      "From: <sip:bob@example.com>;tag=f1\r\n", "To: ", to, "\r\n",
                      "Call-ID: c1@192.0.2.10\r\n", "CSeq: 1 REGISTER\r\n", extra,
                      "Contact: <sip:bob@192.0.2.10:5060>\r\n", "Content-Length: 0\r\n\r\n");
}

std::optional<std::string> UserOf(const std::string& text) {
  return ChallengeableRegisterUser(SniffSipHead(text), "example.com");
}

TEST(ChallengeableRegisterUser, PlainlyWrittenRegistersQualify) {
  EXPECT_THAT(UserOf(Register("<sip:bob@example.com>")), Optional(std::string("bob")));
  EXPECT_THAT(UserOf(Register("sip:bob.smith+1@EXAMPLE.com")), Optional(std::string("bob.smith+1")));
  EXPECT_THAT(UserOf(Register("<sip:bob@example.com:5060;transport=udp>")),
              Optional(std::string("bob")));
  EXPECT_THAT(UserOf(Register("<sip:bob@example.com>", "", "sip:example.com:5060;transport=udp")),
              Optional(std::string("bob")));
}

// Everything the parse answers otherwise, or reads differently, takes it.
TEST(ChallengeableRegisterUser, AnythingElseTakesTheParse) {
  const char* cases[][3] = {
      {"<sip:bob@example.com>", "Authorization: Digest username=\"bob\"\r\n", "sip:example.com"},
      {"<sip:bob@example.com>", "Require: gruu\r\n", "sip:example.com"},
      {"<sip:bob@example.com>", "Proxy-Require: x\r\n", "sip:example.com"},
      {"<sip:bob@example.com>;tag=x", "", "sip:example.com"},
      {"<sip:bob@example.com>", "To: <sip:alice@example.com>\r\n", "sip:example.com"},
      {"<sip:bob@other.test>", "", "sip:example.com"},         // 404 there
      {"<sip:bob@example.com>", "", "sip:other.test"},         // 403 there
      {"<sip:bob@example.com>", "", "sip:bob@example.com"},    // a user in the R-URI
      {"<sip:bob@example.com>", "", "sips:example.com"},
      {"\"Bob\" <sip:bob@example.com>", "", "sip:example.com"},  // display names
      {"<sip:b%6Fb@example.com>", "", "sip:example.com"},      // escaped
      {"<sip:@example.com>", "", "sip:example.com"},
      {"<sip:example.com>", "", "sip:example.com"},
      {"<sip:bob@example.com.evil>", "", "sip:example.com"},
      {"<tel:+15551234>", "", "sip:example.com"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(UserOf(Register(c[0], c[1], c[2])), std::nullopt) << c[0] << " | " << c[1] << " | " << c[2];
  }
  const std::string invite = absl::StrReplaceAll(
      Register("<sip:bob@example.com>"), {{"REGISTER sip", "INVITE sip"}, {"1 REGISTER", "1 INVITE"}});
  EXPECT_EQ(UserOf(invite), std::nullopt);
  EXPECT_EQ(UserOf("garbage"), std::nullopt);
}

class RawChallengeTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(RequireAuth());
  }
};

// The phone cannot tell them apart: the same Via (received and rport of
// its source), From, To (a tag added), Call-ID, CSeq and challenges.
TEST_F(RawChallengeTest, SaysWhatTheParsedChallengeSays) {
  const std::string text = RegisterText(kBob, 1);
  SipInbound in;
  in.bytes = text;
  in.source = kBob.source;
  in.local = kSipV4;
  in.transport = SipTransportKind::kUdp;
  in.channel = kUdpV4;
  std::optional<std::string> raw = proxy_->RawChallenge(in);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(proxy_->counters().raw_challenges, 1u);
  const SipMessage fast = MustParse(*raw);

  const size_t mark = sent_.size();
  Receive(text, kBob.source);  // the parsed path (the fixture skips the raw one)
  ASSERT_THAT(CodesTo(kBob.source, mark), ElementsAre(401));
  const SipMessage parsed = ResponseTo(kBob.source, 401, "REGISTER")->Parsed();

  EXPECT_EQ(fast.status_code(), 401);
  for (const char* h : {"Via", "From", "Call-ID", "CSeq", "Server"}) {
    EXPECT_EQ(fast.header_values(h), parsed.header_values(h)) << h;
  }
  EXPECT_EQ(fast.to().user, parsed.to().user);
  EXPECT_FALSE(fast.to().tag.empty());
  const std::vector<std::string> a = fast.header_values("WWW-Authenticate");
  const std::vector<std::string> b = parsed.header_values("WWW-Authenticate");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    // Nonces differ (each names its own moment and counter); the rest not.
    auto without_nonce = [](absl::string_view c) {
      const size_t n = c.find("nonce=\"");
      const size_t end = c.find('"', n + 7);
      return absl::StrCat(c.substr(0, n), c.substr(end + 1));
    };
    EXPECT_EQ(without_nonce(a[i]), without_nonce(b[i]));
  }
}

}  // namespace
}  // namespace proxy_fixture
}  // namespace rtplatch
