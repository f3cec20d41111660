#include "control/sip/stateless_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control/sip/sip_text.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using testing::SipText;

Endpoint Ep(absl::string_view text) { return *Endpoint::Parse(text); }

constexpr char kServer[] = "203.0.113.10";

StatelessCore::Options CoreOptions() {
  StatelessCore::Options o;
  o.local_addresses = {*IpAddress::Parse(kServer), *IpAddress::Parse("2001:db8::10")};
  o.local_ports = {5060};
  o.server_header = "rtplatch-test";
  return o;
}

SipInbound Inbound(absl::string_view bytes, absl::string_view source,
                   SipTransportKind t = SipTransportKind::kUdp, SipChannelId ch = 1) {
  SipInbound in;
  in.bytes = bytes;
  in.source = Ep(source);
  in.local = Ep("203.0.113.10:5060");
  in.transport = t;
  in.channel = ch;
  return in;
}

// A phone on 192.168.1.20 behind a NAT (203.0.113.30) pinging the server,
// as a Yealink does for its keepalive; two Vias to check they are all kept.
const std::string kNattedOptions = SipText(R"(
OPTIONS sip:203.0.113.10:5060 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-opt-1;rport
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-inner
From: <sip:alice@sip.example.com>;tag=f-1
To: <sip:203.0.113.10>
Call-ID: opt-1@192.168.1.20
CSeq: 20 OPTIONS
Max-Forwards: 70
User-Agent: Yealink SIP-T46U 108.86.0.20
)");

absl::StatusOr<SipMessage> ParseReply(const std::optional<SipOutbound>& out) {
  if (!out) return absl::NotFoundError("no reply");
  return SipMessage::Parse(out->bytes);
}

TEST(StatelessCoreTest, OptionsForUsFromNattedPhoneGets200WithReceivedAndRport) {
  StatelessCore core(CoreOptions());
  auto out = core.Handle(Inbound(kNattedOptions, "203.0.113.30:40001"));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->dest, Ep("203.0.113.30:40001"));  // symmetric: the source, not the Via
  EXPECT_EQ(out->transport, SipTransportKind::kUdp);
  EXPECT_EQ(out->channel, 1u);
  auto reply = ParseReply(out);
  ASSERT_TRUE(reply.ok()) << reply.status() << "\n" << out->bytes;
  EXPECT_EQ(reply->status_code(), 200);
  SipVia via = reply->top_via();
  EXPECT_EQ(via.host, "192.168.1.20");
  EXPECT_EQ(via.received, "203.0.113.30");
  ASSERT_TRUE(via.rport.has_value());
  EXPECT_EQ(*via.rport, 40001);
  EXPECT_EQ(via.branch, "z9hG4bK-opt-1");
  EXPECT_EQ(reply->via_count(), 2u);
  EXPECT_EQ(reply->call_id(), "opt-1@192.168.1.20");
  EXPECT_EQ(reply->cseq_number(), 20u);
  EXPECT_EQ(reply->cseq_method(), "OPTIONS");
  EXPECT_EQ(reply->from().tag, "f-1");
  EXPECT_FALSE(reply->to().tag.empty());
  EXPECT_THAT(out->bytes, HasSubstr("\r\nAllow: OPTIONS\r\n"));
  EXPECT_THAT(out->bytes, HasSubstr("\r\nAccept: application/sdp\r\n"));
  EXPECT_THAT(out->bytes, HasSubstr("\r\nSupported:"));
  EXPECT_THAT(out->bytes, HasSubstr("\r\nServer: rtplatch-test\r\n"));
  EXPECT_EQ(core.counters().received, 1u);
  EXPECT_EQ(core.counters().responded, 1u);
  EXPECT_EQ(core.counters().responded_2xx, 1u);
}

TEST(StatelessCoreTest, ReceivedAndRportAddedEvenWithoutRportRequested) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
OPTIONS sip:203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 10.1.1.5:5060;branch=z9hG4bK-norport
From: <sip:bob@sip.example.com>;tag=b
To: <sip:203.0.113.10>
Call-ID: norport
CSeq: 1 OPTIONS
)");
  auto reply = ParseReply(core.Handle(Inbound(text, "198.51.100.7:61000")));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->top_via().received, "198.51.100.7");
  EXPECT_EQ(reply->top_via().rport, std::optional<uint16_t>(61000));
}

TEST(StatelessCoreTest, TcpReplyGoesBackOnTheSameConnection) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
OPTIONS sip:203.0.113.10:5060;transport=tcp SIP/2.0
Via: SIP/2.0/TCP 192.168.1.20:50123;branch=z9hG4bK-tcp;rport
From: <sip:alice@sip.example.com>;tag=f-2
To: <sip:203.0.113.10>
Call-ID: tcp-1
CSeq: 1 OPTIONS
)");
  auto out = core.Handle(Inbound(text, "203.0.113.30:50999", SipTransportKind::kTcp, 42));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->transport, SipTransportKind::kTcp);
  EXPECT_EQ(out->channel, 42u);
  EXPECT_EQ(out->dest, Ep("203.0.113.30:50999"));
  EXPECT_THAT(out->bytes, StartsWith("SIP/2.0 200 OK\r\n"));
}

TEST(StatelessCoreTest, Ipv6SourceGetsUnbracketedReceived) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
OPTIONS sip:[2001:db8::10] SIP/2.0
Via: SIP/2.0/UDP [2001:db8::99]:5060;branch=z9hG4bK-v6;rport
From: <sip:carol@sip.example.com>;tag=c
To: <sip:[2001:db8::10]>
Call-ID: v6
CSeq: 3 OPTIONS
)");
  auto out = core.Handle(Inbound(text, "[2001:db8::77]:5070"));
  auto reply = ParseReply(out);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status_code(), 200);
  EXPECT_EQ(reply->top_via().received, "2001:db8::77");
  EXPECT_EQ(reply->top_via().rport, std::optional<uint16_t>(5070));
}

TEST(StatelessCoreTest, RetransmissionGetsTheSameToTag) {
  StatelessCore core(CoreOptions());
  auto a = ParseReply(core.Handle(Inbound(kNattedOptions, "203.0.113.30:40001")));
  auto b = ParseReply(core.Handle(Inbound(kNattedOptions, "203.0.113.30:40001")));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->to().tag, b->to().tag);
}

TEST(StatelessCoreTest, ExistingToTagIsKept) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
OPTIONS sip:203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK-indialog
From: <sip:a@sip.example.com>;tag=from
To: <sip:203.0.113.10>;tag=already
Call-ID: indialog
CSeq: 9 OPTIONS
)");
  auto reply = ParseReply(core.Handle(Inbound(text, "192.0.2.5:5060")));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->to().tag, "already");
}

TEST(StatelessCoreTest, OptionsForSomeoneElseIsNotImplementedYet) {
  StatelessCore core(CoreOptions());
  for (const char* uri : {"sip:alice@203.0.113.10", "sip:198.51.100.1", "sip:203.0.113.10:5080",
                          "sip:sip.example.com"}) {
    std::string text = SipText(absl::StrCat("OPTIONS ", uri, R"( SIP/2.0
Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK-other
From: <sip:a@sip.example.com>;tag=x
To: <sip:someone@sip.example.com>
Call-ID: other
CSeq: 1 OPTIONS
)"));
    auto reply = ParseReply(core.Handle(Inbound(text, "192.0.2.5:5060")));
    ASSERT_TRUE(reply.ok()) << uri;
    EXPECT_EQ(reply->status_code(), 501) << uri;
  }
}

TEST(StatelessCoreTest, InviteIsNotImplementedYet) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-inv;rport
From: <sip:alice@sip.example.com>;tag=f-3
To: <sip:bob@sip.example.com>
Call-ID: inv-1
CSeq: 1 INVITE
Contact: <sip:alice@192.168.1.20:5062>
)");
  auto out = core.Handle(Inbound(text, "203.0.113.30:40001"));
  auto reply = ParseReply(out);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->status_code(), 501);
  EXPECT_THAT(out->bytes, HasSubstr("Warning: 399 rtplatch \"INVITE is not implemented yet\""));
  EXPECT_EQ(reply->top_via().rport, std::optional<uint16_t>(40001));
  EXPECT_EQ(core.counters().responded_5xx, 1u);
}

TEST(StatelessCoreTest, AnInviteShedForOverloadGets503WithRetryAfterFromItsRawLines) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-shed;rport
From: <sip:alice@sip.example.com>;tag=f-9
To: <sip:bob@sip.example.com>
Call-ID: shed-1
CSeq: 7 INVITE
Contact: <sip:alice@192.168.1.20:5062>
Content-Type: application/sdp
Content-Length: 3

v=0)");
  auto out = core.RefuseForOverload(Inbound(text, "203.0.113.30:40001"), 5);
  auto reply = ParseReply(out);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status_code(), 503);
  EXPECT_THAT(out->bytes, HasSubstr("\r\nRetry-After: 5\r\n"));
  EXPECT_EQ(reply->call_id(), "shed-1");
  EXPECT_EQ(reply->cseq_method(), "INVITE");
  EXPECT_EQ(reply->top_via().branch, "z9hG4bK-shed");
  EXPECT_EQ(reply->top_via().rport, std::optional<uint16_t>(40001));
  EXPECT_EQ(out->dest, Ep("203.0.113.30:40001"));
  EXPECT_EQ(core.counters().responded_5xx, 1u);
  // Nothing to answer from: a counted drop.
  EXPECT_FALSE(core.RefuseForOverload(Inbound("INVITE x", "203.0.113.30:40001"), 5));
  EXPECT_EQ(core.counters().drops(SipDropReason::kNotSip), 1u);
}

TEST(StatelessCoreTest, TruncatedRequestGets400WithReasonAndRport) {
  StatelessCore core(CoreOptions());
  // Content-Length promises more body than arrived (a UDP datagram cut
  // short, e.g. by an MTU problem).
  std::string text =
      "REGISTER sip:sip.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-trunc;rport\r\n"
      "From: <sip:alice@sip.example.com>;tag=f-4\r\n"
      "To: <sip:alice@sip.example.com>\r\n"
      "Call-ID: trunc-1\r\n"
      "CSeq: 7 REGISTER\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: 300\r\n\r\n"
      "v=0\r\n";
  auto out = core.Handle(Inbound(text, "203.0.113.30:40002"));
  auto reply = ParseReply(out);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status_code(), 400);
  EXPECT_EQ(reply->top_via().received, "203.0.113.30");
  EXPECT_EQ(reply->top_via().rport, std::optional<uint16_t>(40002));
  EXPECT_EQ(reply->top_via().branch, "z9hG4bK-trunc");
  EXPECT_EQ(reply->call_id(), "trunc-1");
  EXPECT_EQ(reply->cseq_number(), 7u);
  EXPECT_EQ(reply->cseq_method(), "REGISTER");
  EXPECT_THAT(out->bytes, HasSubstr("Warning: 399 rtplatch \"SIP: truncated"));
  EXPECT_EQ(out->dest, Ep("203.0.113.30:40002"));
  EXPECT_EQ(core.counters().responded_4xx, 1u);
}

TEST(StatelessCoreTest, MalformedHeaderBlockGets400) {
  StatelessCore core(CoreOptions());
  // No empty line after the headers at all.
  std::string text =
      "OPTIONS sip:203.0.113.10 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-noend\r\n"
      "From: <sip:alice@sip.example.com>;tag=f-5\r\n"
      "To: <sip:203.0.113.10>\r\n"
      "Call-ID: noend\r\n"
      "CSeq: 1 OPTIONS\r\n";
  auto reply = ParseReply(core.Handle(Inbound(text, "203.0.113.30:40003")));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status_code(), 400);
  EXPECT_EQ(reply->top_via().rport, std::optional<uint16_t>(40003));
}

TEST(StatelessCoreTest, WarningTextIsEscapedAndPrintable) {
  StatelessCore core(CoreOptions());
  std::string text =
      "OPTIONS sip:203.0.113.10 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-nul\r\n"
      "From: <sip:alice@sip.example.com>;tag=f-6\r\n"
      "To: <sip:203.0.113.10>\r\n"
      "Call-ID: nul\r\n"
      "CSeq: 1 OPTIONS\r\n"
      "X-Bad: \"quoted\"\xff";
  text.push_back('\0');
  text += "\r\nContent-Length: 0\r\n\r\n";
  auto out = core.Handle(Inbound(text, "203.0.113.30:40004"));
  auto reply = ParseReply(out);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status_code(), 400);
  EXPECT_THAT(out->bytes, HasSubstr("Warning: 399 rtplatch \"SIP: NUL byte"));
  for (char c : out->bytes) {
    EXPECT_TRUE(c == '\r' || c == '\n' || (c >= 0x20 && c < 0x7f)) << static_cast<int>(c);
  }
}

TEST(StatelessCoreTest, MissingCallIdIsDropped) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
OPTIONS sip:203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-nocallid
From: <sip:alice@sip.example.com>;tag=f-7
To: <sip:203.0.113.10>
CSeq: 1 OPTIONS
)");
  EXPECT_FALSE(core.Handle(Inbound(text, "203.0.113.30:40005")).has_value());
  EXPECT_EQ(core.counters().drops(SipDropReason::kMissingHeaders), 1u);
  EXPECT_EQ(core.counters().responded, 0u);
}

TEST(StatelessCoreTest, MissingViaIsDropped) {
  StatelessCore core(CoreOptions());
  std::string text = SipText(R"(
OPTIONS sip:203.0.113.10 SIP/2.0
From: <sip:alice@sip.example.com>;tag=f-8
To: <sip:203.0.113.10>
Call-ID: novia
CSeq: 1 OPTIONS
)");
  EXPECT_FALSE(core.Handle(Inbound(text, "203.0.113.30:40006")).has_value());
  EXPECT_EQ(core.counters().drops(SipDropReason::kMissingHeaders), 1u);
}

TEST(StatelessCoreTest, TruncatedWithoutCSeqIsDropped) {
  StatelessCore core(CoreOptions());
  std::string text =
      "OPTIONS sip:203.0.113.10 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-x\r\n"
      "From: <sip:alice@sip.example.com>;tag=f-9\r\n"
      "To: <sip:203.0.113.10>\r\n"
      "Call-ID: cut\r\n"
      "CSe";
  EXPECT_FALSE(core.Handle(Inbound(text, "203.0.113.30:40007")).has_value());
  EXPECT_EQ(core.counters().drops(SipDropReason::kMissingHeaders), 1u);
}

TEST(StatelessCoreTest, GarbageIsDroppedAsNotSip) {
  StatelessCore core(CoreOptions());
  for (std::string garbage : {std::string("\x16\x03\x01\x02\x00", 5), std::string("hello"),
                              std::string(""), std::string("\r\n\r\n"),
                              std::string(2000, 'A')}) {
    EXPECT_FALSE(core.Handle(Inbound(garbage, "198.51.100.9:1234")).has_value());
  }
  EXPECT_EQ(core.counters().drops(SipDropReason::kNotSip), 5u);
  EXPECT_EQ(core.counters().received, 5u);
}

TEST(StatelessCoreTest, ResponsesAndAcksAreNeverAnswered) {
  StatelessCore core(CoreOptions());
  std::string response = SipText(R"(
SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bK-resp
From: <sip:a@sip.example.com>;tag=a
To: <sip:b@sip.example.com>;tag=b
Call-ID: resp
CSeq: 1 INVITE
)");
  std::string ack = SipText(R"(
ACK sip:203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK-ack
From: <sip:a@sip.example.com>;tag=a
To: <sip:b@sip.example.com>;tag=b
Call-ID: ack
CSeq: 1 ACK
)");
  // A truncated ACK is not answered with a 400 either.
  std::string bad_ack = ack.substr(0, ack.size() - 2) + "Content-Length: 50\r\n\r\n";
  EXPECT_FALSE(core.Handle(Inbound(response, "192.0.2.5:5060")).has_value());
  EXPECT_FALSE(core.Handle(Inbound(ack, "192.0.2.5:5060")).has_value());
  EXPECT_FALSE(core.Handle(Inbound(bad_ack, "192.0.2.5:5060")).has_value());
  EXPECT_EQ(core.counters().drops(SipDropReason::kStrayResponse), 1u);
  EXPECT_EQ(core.counters().drops(SipDropReason::kAck), 2u);
  EXPECT_EQ(core.counters().responded, 0u);
}

// Found by fuzzing (tests/fuzz/corpus/stateless_core/773eb7eb...,
// 60050868...): bad lines echoed into a reply (a bare CR inside a header,
// a To ending in ';' that gains ";;tag=") made replies oSIP2 refuses.
// Every reply sent parses; one that would not is a counted drop.
TEST(StatelessCoreTest, AReplyThatWouldNotParseIsNotSent) {
  const std::string inputs[] = {
      std::string("OPTIONS sip:bob@example.com SIP/2.0\r\n"
      "v: SIP/2.0/UDP 192.0 SIP/2.0\r\n"
      ";\xa0\x8d\x9e\x91\x9c\x97\xc2\x85" "9hG4bK1;rpUDP 198allow-eve.51.100.1;branch=z9hG4bKa,\x02 SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKb\r\n"
      "f: \"Alice, A.\" <siP:alice@example.com>;tag=abc\r\n"
      "t: <sip:bob@%xample.com>\r\n"
      " x =y;\r\n"
      "i: call-1@192.0.2.10\r\n"
      "CSeq: 5 OPTIONS\r\n"
      "Max-Forwards: 70\r\n"
      "Content-Length: 0\r\n"
      "\r\n", 332),
      std::string("OPTIONS sip:bob@sip.example.co\rm SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 198.51\xd2\xce\xcf\xcf\xd1\xc8\xc4\x96ranch=z9hG4bKtls1\r\n"
      "From: <sips:frank@sip.example.com>;tag=f1\r\n"
      "To: <sips:bob@sip.example.com>\r\n"
      "Call-ID: 401-options-1\r\n"
      "CSeq: 7 OPTIONS\r\n"
      "Contact: <sips:frank@198.51.100.7>, <sip:1frank@198.51.100.7;transport=tls>PTIONS sip:20tcp SIP/2.0\r\n"
      "Via: SIP/2.0/TC\r :?2.\xbe" "com SIP/2.0\r\n"
      "v: SIP/6.0/UDP 19mple.com SIP\r :?2.\xbe\xbe\xbe\xbe\xbe/2.0\r\n"
      "v: SIP/2./mple.coe.com SIP/2/0\r\n"
      "v: SIP/3.0/UDP 19mple.com SIP/2.0\r\n"
      "v: SIP/2./mple.com SIP/2.0\r\n"
      "v: SIP/3.0/UDP 19mple.com SIP/2.0\r\n"
      "v: $SIP/1.0/UDP 19..1.10m SIP/2.0\r\n"
      "v: SIP/3.0/UDP 19mple.com SIP/2.0\r\n"
      "v: $SIP/2.0/UDP 19..1.1./mple.coe.com SIP/2/0\r\n"
      "v: SIP/3.0/UDP 19mple.com SIP/2.0\r\r\n"
      "Content-Length: 0\r\n"
      "\r\n", 694),
  };
  for (const std::string& bytes : inputs) {
    StatelessCore core(CoreOptions());
    std::optional<SipOutbound> out = core.Handle(Inbound(bytes, "203.0.113.30:40001"));
    if (out) {
      EXPECT_TRUE(SipMessage::Parse(out->bytes).ok()) << out->bytes;
    } else {
      EXPECT_GE(core.counters().drops(SipDropReason::kBuildFailed) +
                    core.counters().drops(SipDropReason::kMissingHeaders),
                1u);
    }
  }
}

TEST(StatelessCoreTest, NoServerHeaderWhenUnset) {
  StatelessCore::Options o = CoreOptions();
  o.server_header.clear();
  StatelessCore core(std::move(o));
  auto out = core.Handle(Inbound(kNattedOptions, "203.0.113.30:40001"));
  ASSERT_TRUE(out.has_value());
  EXPECT_THAT(out->bytes, Not(HasSubstr("Server:")));
}

TEST(StatelessCoreTest, DropReasonNamesAreDeclaredOnce) {
  EXPECT_EQ(kSipDropReasonNames.size(), kSipDropReasonCount);
  EXPECT_EQ(kSipDropReasonNames[static_cast<size_t>(SipDropReason::kMissingHeaders)],
            "missing_headers");
}

}  // namespace
}  // namespace rtplatch
