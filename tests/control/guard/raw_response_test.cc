#include "control/guard/raw_response.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "control/sip/sip_message.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

const Endpoint kSource = *Endpoint::Parse("198.51.100.7:40000");

std::string Register(absl::string_view via_params, absl::string_view to = "<sip:bob@example.test>") {
  return absl::StrCat("REGISTER sip:example.test SIP/2.0\r\n",
                      "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-1", via_params, "\r\n",
                      "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-0\r\n",
                      "From: <sip:bob@example.test>;tag=f1\r\n", "To: ", to, "\r\n",
                      "Call-ID: c1@10.0.0.2\r\n", "CSeq: 2 REGISTER\r\n",
                      "Contact: <sip:bob@10.0.0.2>\r\n", "Content-Length: 0\r\n\r\n");
}

std::optional<std::string> Refuse(absl::string_view request) {
  return RawStatelessResponse(request, kSource, 503, "Service Unavailable", "rtplatch",
                              {"Retry-After: 5"});
}

// What the parsing path would answer, checked by the parser itself.
TEST(RawStatelessResponseTest, A503ThatParsesWithEverythingARequestNeedsEchoed) {
  auto out = Refuse(Register(";rport"));
  ASSERT_TRUE(out.has_value());
  auto parsed = SipMessage::Parse(*out);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << *out;
  EXPECT_TRUE(absl::StartsWith(*out, "SIP/2.0 503 Service Unavailable\r\n"));
  EXPECT_TRUE(absl::StrContains(
      *out, "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-1;rport=40000;received=198.51.100.7\r\n"
            "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-0\r\n"))
      << *out;
  EXPECT_EQ(parsed->call_id(), "c1@10.0.0.2");
  EXPECT_EQ(parsed->cseq_number(), 2u);
  EXPECT_FALSE(parsed->to_tag().empty());
  EXPECT_TRUE(absl::StrContains(*out, "Retry-After: 5\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(absl::StrContains(*out, "Server: rtplatch\r\n"));
  EXPECT_FALSE(absl::StrContains(*out, "Contact"));
  // A retransmission gets the same To tag; another request another.
  EXPECT_EQ(*Refuse(Register(";rport")), *out);
  auto other = SipMessage::Parse(*Refuse(absl::StrReplaceAll(Register(";rport"), {{"c1@", "c2@"}})));
  EXPECT_NE(other->to_tag(), parsed->to_tag());
}

TEST(RawStatelessResponseTest, RportAddedWhenAbsentAndAToTagKept) {
  auto out = Refuse(Register("", "<sip:bob@example.test>;tag=t9"));
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(absl::StrContains(*out, "branch=z9hG4bK-1;rport=40000;received=198.51.100.7\r\n"));
  EXPECT_TRUE(absl::StrContains(*out, "\r\nTo: <sip:bob@example.test>;tag=t9\r\n")) << *out;
  EXPECT_TRUE(SipMessage::Parse(*out).ok());
}

// Whatever is not plain goes to the parsing path.
TEST(RawStatelessResponseTest, AnythingButAPlainRequestIsLeftToTheParser) {
  const std::string plain = Register(";rport");
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{"CSeq: 2 REGISTER", "CSeq: 2 ACK"}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{";rport", ";rport=5"}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{";branch=z9hG4bK-1", ";received=1.2.3.4"}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{"z9hG4bK-1;rport", "z9hG4bK-1, SIP/2.0/UDP x"}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{"Call-ID: c1", "Call-ID: c1\r\n c2"}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{"Call-ID: c1@10.0.0.2\r\n", ""}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{"CSeq: 2", "CSeq: 2 REGISTER\r\nCSeq: 3"}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{"tag=f1", "tag=f\x01"}})));
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{"To: <sip", "To: \"B, o\" <sip"}})));
  EXPECT_FALSE(Refuse("SIP/2.0 200 OK\r\nVia: x\r\n\r\n"));
  EXPECT_FALSE(Refuse(plain.substr(0, plain.size() - 2)));  // no end of headers
  EXPECT_FALSE(Refuse(""));
}

// The line checks run a word or a vector at a time: a control byte, a bare
// LF or CR is found wherever it stands in a line; a tab is allowed.
TEST(RawStatelessResponseTest, AControlByteAnywhereInAnyLineIsLeftToTheParser) {
  const std::string plain = Register(";rport");
  ASSERT_TRUE(Refuse(plain));
  size_t tried = 0;
  // Every place but inside the CRLF that ends a line (a CR or LF put
  // there makes another line, tried below) and the head's end.
  for (size_t at = 0; at + 4 < plain.size(); ++at) {
    if (plain[at] == '\r') continue;
    for (char bad : {'\x00', '\x01', '\x1f', '\x7f', '\n', '\r'}) {
      std::string broken = plain;
      broken.insert(at, 1, bad);
      EXPECT_FALSE(Refuse(broken)) << "byte " << int{bad} << " at offset " << at;
      ++tried;
    }
  }
  EXPECT_GT(tried, 1000u);
  // A tab around an echoed line's colon and in its value.
  auto tabbed = Refuse(absl::StrReplaceAll(
      plain, {{"From: <sip:bob@example.test>;tag=f1", "From\t:\t<sip:bob@example.test>\t;tag=f1"}}));
  ASSERT_TRUE(tabbed);
  EXPECT_TRUE(absl::StrContains(*tabbed, "\r\nFrom\t:\t<sip:bob@example.test>\t;tag=f1\r\n"));
  EXPECT_TRUE(SipMessage::Parse(*tabbed).ok()) << *tabbed;
}

// The Via's rport and received are found in any case.
TEST(RawStatelessResponseTest, ViaParametersInAnyCase) {
  const std::string plain = Register(";RPort");
  auto out = Refuse(plain);
  ASSERT_TRUE(out);
  EXPECT_TRUE(absl::StrContains(*out, "branch=z9hG4bK-1;rport=40000;received=198.51.100.7\r\n"))
      << *out;
  EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{";branch", ";ReCeived=192.0.2.1;branch"}})));
  EXPECT_FALSE(Refuse(Register(";RPORT=7")));
}

// Shapes the fuzzer (tests/fuzz/control/sip/stateless_core_fuzz.cc) found
// making a 503 no parser reads: each is left to the parsing path now.
TEST(RawStatelessResponseTest, ShapesTheFuzzerFoundAreLeftToTheParser) {
  const std::string plain = Register(";rport");
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.2:5060;", "10.0.0.2:5060zz;"},             // a port with letters
           {"10.0.0.2:5060;", "10.0.0.2:0;"},                  // port 0
           {"10.0.0.2:5060;", "[2001:db8::99]:;"},             // an empty port
           {"10.0.0.2:5060;", "1;maddr=50:5074;"},             // a numeric top label
           {"<sip:bob@example.test>;tag=f1", "\t0\t<sip:bob@example.test>;tag=f1"},
           {"To: <sip:bob@example.test>", "To: <sip:bob@;received=example.test>"},
           {"Call-ID: c1@10.0.0.2", "Call-ID: @10.0.0.2"},
           {"SIP/2.0/UDP", "SIp/2/UDP"}}) {
    EXPECT_FALSE(Refuse(absl::StrReplaceAll(plain, {{from, to}}))) << to;
  }
}

// The fuzzer's crash-cac988bf... (2026-12-05): refused or not, a 503 must
// parse again.
TEST(RawStatelessResponseTest, AnyRefusalBuiltParsesAgain) {
  const std::string request =
      "OPTIONS sip:ip.ex SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5030;branchnr1\r\n"
      "From: <sip:m>;t\r\nTo: <sip:bob@spcom>\r\nCall-ID: no-rport-1\r\n"
      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  std::optional<std::string> out = Refuse(request);
  if (out) EXPECT_TRUE(SipMessage::Parse(*out).ok()) << SipMessage::Parse(*out).status() << *out;
}

}  // namespace
}  // namespace rtplatch
