#include "control/sip/sip_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control/sip/sip_text.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/control/sip/sip_message_readers.h"

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::SipText;

using testing::SdpText;
using testing::YealinkSdp;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// A Snom desk phone on the inside LAN registering (real-world header set).
const std::string kSnomRegister = SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-ifn5ol7tv2r8;rport
From: "Alice" <sip:alice@sip.example.com>;tag=n1ajvuyb8y
To: "Alice" <sip:alice@sip.example.com>
Call-ID: 6b6e4fa1fcd2-dla7bfo9zxn5
CSeq: 1 REGISTER
Max-Forwards: 70
Contact: <sip:alice@192.0.2.10:5060;line=r4ycrdtf>;reg-id=1;q=1.0;+sip.instance="<urn:uuid:7d4f3a2e-5b1c-4e6f-9a8b-000413a1b2c3>";audio;mobility="fixed";duplex="full";description="snom D735";actions="broadcast";events="dialog"
User-Agent: snomD735/10.1.159.12
Supported: gruu
Allow-Events: dialog
Allow: INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, NOTIFY, SUBSCRIBE, PRACK, MESSAGE, INFO, UPDATE
Expires: 3600
)");

const std::string kYealinkSdp = YealinkSdp();

const std::string kYealinkInvite = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK1437937713;rport
From: "Carol" <sip:carol@sip.example.com>;tag=1822417232
To: <sip:bob@sip.example.com>
Call-ID: 1830125426@192.0.2.20
CSeq: 2 INVITE
Contact: <sip:carol@192.0.2.20:5060>
Content-Type: application/sdp
Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE
Max-Forwards: 70
User-Agent: Yealink SIP-T46S 66.86.0.15
Allow-Events: talk,hold,conference,refer,check-sync
)",
                                          kYealinkSdp);

const std::string kBaresipRegister = SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:45123;branch=z9hG4bK7d1f9c0e2a4b;rport
Contact: <sip:dave-0x55d0a1@192.0.2.30:45123>;expires=3600
Max-Forwards: 70
To: <sip:dave@sip.example.com>
From: <sip:dave@sip.example.com>;tag=8e3a7c1d5b
Call-ID: 6a2b9c4d1e3f5a7b
CSeq: 41234 REGISTER
User-Agent: baresip v2.9.0 (x86_64/linux)
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,REFER,UPDATE
Supported: replaces,norefersub,100rel
)");

const std::string kLinphoneSdp = SdpText(R"(
v=0
o=erin 3217 1459 IN IP6 2001:db8:1::20
s=Talk
c=IN IP6 2001:db8:1::20
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 0 8 101
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=rtpmap:101 telephone-event/8000
a=rtcp-fb:* trr-int 1000
)");

const std::string kLinphoneInviteV6 = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP [2001:db8:1::20]:5060;branch=z9hG4bK.Ab3xYz9Q1;rport
From: <sip:erin@sip.example.com>;tag=Zx9f2aQq
To: sip:bob@sip.example.com
CSeq: 20 INVITE
Call-ID: kT0uMhJ0aV
Max-Forwards: 70
Supported: replaces, outbound, gruu
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE
Content-Type: application/sdp
Contact: <sip:erin@[2001:db8:1::20]:5060;transport=udp>;+sip.instance="<urn:uuid:9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d>"
User-Agent: Linphone-Desktop/5.2.0 (erin-laptop) Debian GNU/Linux 12, Qt 5.15.8 LinphoneCore/5.3.0
)",
                                             kLinphoneSdp);

// A callee's answer as it reaches the proxy: our Via on top.
const std::string k200Ok = SipText(R"(
SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-relay-1;received=203.0.113.1
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK1437937713;rport=5060;received=198.51.100.20
From: "Carol" <sip:carol@sip.example.com>;tag=1822417232
To: <sip:bob@sip.example.com>;tag=as58f4201b
Call-ID: 1830125426@192.0.2.20
CSeq: 2 INVITE
Contact: <sip:bob@192.0.2.40:5062>
Server: Grandstream GXP2170 1.0.11.23
)");

TEST(SipMessageTest, ParsesSnomRegister) {
  auto m = SipMessage::Parse(kSnomRegister);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->is_request());
  EXPECT_EQ(m->method(), "REGISTER");
  EXPECT_EQ(m->status_code(), 0);
  EXPECT_EQ(m->request_uri(), "sip:sip.example.com");
  EXPECT_TRUE(m->missing_mandatory_headers().empty());

  const SipVia via = m->top_via();
  EXPECT_EQ(via.transport, "UDP");
  EXPECT_EQ(via.host, "192.0.2.10");
  EXPECT_EQ(via.port, 5060);
  EXPECT_TRUE(via.port_explicit);
  EXPECT_TRUE(via.has_rport);
  EXPECT_FALSE(via.rport.has_value());
  EXPECT_EQ(via.received, "");
  EXPECT_EQ(via.branch, "z9hG4bK-ifn5ol7tv2r8");
  EXPECT_EQ(m->via_count(), 1u);

  EXPECT_EQ(m->from().aor(), "alice@sip.example.com");
  EXPECT_EQ(m->from().tag, "n1ajvuyb8y");
  EXPECT_EQ(m->to().aor(), "alice@sip.example.com");
  EXPECT_EQ(m->to().tag, "");
  EXPECT_EQ(m->call_id(), "6b6e4fa1fcd2-dla7bfo9zxn5");
  EXPECT_EQ(m->cseq_number(), 1u);
  EXPECT_EQ(m->cseq_method(), "REGISTER");
  EXPECT_EQ(m->user_agent(), "snomD735/10.1.159.12");
  EXPECT_EQ(m->expires(), 3600u);
  EXPECT_EQ(m->content_type(), "");
  EXPECT_FALSE(m->has_sdp_body());
  EXPECT_EQ(m->body(), "");

  const std::vector<SipContact> contacts = m->contacts();
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_FALSE(contacts[0].star);
  EXPECT_EQ(contacts[0].scheme, "sip");
  EXPECT_EQ(contacts[0].user, "alice");
  EXPECT_EQ(contacts[0].host, "192.0.2.10");
  EXPECT_EQ(contacts[0].port, 5060);
  EXPECT_TRUE(contacts[0].port_explicit);
  EXPECT_FALSE(contacts[0].expires.has_value());
  EXPECT_THAT(contacts[0].uri, HasSubstr("sip:alice@192.0.2.10:5060;line=r4ycrdtf"));
  EXPECT_THAT(m->header_values("supported"), ElementsAre("gruu"));
}

TEST(SipMessageTest, ParsesYealinkInviteWithSdp) {
  auto m = SipMessage::Parse(kYealinkInvite);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->method(), "INVITE");
  EXPECT_EQ(m->request_uri(), "sip:bob@sip.example.com");
  EXPECT_EQ(m->call_id(), "1830125426@192.0.2.20");
  EXPECT_EQ(m->cseq_number(), 2u);
  EXPECT_EQ(m->to().aor(), "bob@sip.example.com");
  EXPECT_EQ(m->user_agent(), "Yealink SIP-T46S 66.86.0.15");
  EXPECT_EQ(m->content_type(), "application/sdp");
  EXPECT_TRUE(m->has_sdp_body());
  EXPECT_EQ(m->body(), kYealinkSdp);
  EXPECT_FALSE(m->expires().has_value());
  ASSERT_EQ(m->contacts().size(), 1u);
  EXPECT_EQ(m->contacts()[0].host, "192.0.2.20");
}

TEST(SipMessageTest, ParsesBaresipContactExpiresParameter) {
  auto m = SipMessage::Parse(kBaresipRegister);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->top_via().port, 45123);
  EXPECT_EQ(m->cseq_number(), 41234u);
  ASSERT_EQ(m->contacts().size(), 1u);
  EXPECT_EQ(m->contacts()[0].user, "dave-0x55d0a1");
  EXPECT_EQ(m->contacts()[0].port, 45123);
  EXPECT_EQ(m->contacts()[0].expires, 3600u);
  EXPECT_FALSE(m->expires().has_value());
}

TEST(SipMessageTest, ParsesLinphoneIpv6Invite) {
  auto m = SipMessage::Parse(kLinphoneInviteV6);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->top_via().host, "2001:db8:1::20");
  EXPECT_EQ(m->top_via().port, 5060);
  EXPECT_EQ(m->to().aor(), "bob@sip.example.com");  // no angle brackets
  ASSERT_EQ(m->contacts().size(), 1u);
  EXPECT_EQ(m->contacts()[0].host, "2001:db8:1::20");
  EXPECT_EQ(m->contacts()[0].port, 5060);
  EXPECT_EQ(m->body(), kLinphoneSdp);
}

TEST(SipMessageTest, ParsesResponseAndFallsBackToServerForUserAgent) {
  auto m = SipMessage::Parse(k200Ok);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->is_request());
  EXPECT_EQ(m->status_code(), 200);
  EXPECT_EQ(m->reason_phrase(), "OK");
  EXPECT_EQ(m->method(), "");
  EXPECT_EQ(m->request_uri(), "");
  EXPECT_EQ(m->cseq_method(), "INVITE");
  EXPECT_EQ(m->to().tag, "as58f4201b");
  EXPECT_EQ(m->via_count(), 2u);
  EXPECT_EQ(m->top_via().host, "203.0.113.1");
  EXPECT_EQ(m->top_via().received, "203.0.113.1");
  EXPECT_EQ(m->user_agent(), "Grandstream GXP2170 1.0.11.23");
}

TEST(SipMessageTest, StarContactRemovesAllBindings) {
  auto m = SipMessage::Parse(SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:45123;branch=z9hG4bK55aa;rport
Contact: *
To: <sip:dave@sip.example.com>
From: <sip:dave@sip.example.com>;tag=77aa
Call-ID: 6a2b9c4d1e3f5a7b
CSeq: 41235 REGISTER
Expires: 0
)"));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->contacts().size(), 1u);
  EXPECT_TRUE(m->contacts()[0].star);
  EXPECT_EQ(m->expires(), 0u);
}

TEST(SipMessageTest, DefaultPortsFollowTransportAndScheme) {
  auto m = SipMessage::Parse(SipText(R"(
OPTIONS sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/TLS 198.51.100.7;branch=z9hG4bKtls1
From: <sips:frank@sip.example.com>;tag=f1
To: <sips:bob@sip.example.com>
Call-ID: tls-options-1
CSeq: 7 OPTIONS
Contact: <sips:frank@198.51.100.7>, <sip:frank@198.51.100.7;transport=tls>, <sip:frank@198.51.100.7>
)"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->top_via().transport, "TLS");
  EXPECT_EQ(m->top_via().port, 5061);
  EXPECT_FALSE(m->top_via().port_explicit);
  EXPECT_FALSE(m->top_via().is_datagram());
  const auto contacts = m->contacts();
  ASSERT_EQ(contacts.size(), 3u);
  EXPECT_EQ(contacts[0].port, 5061);
  EXPECT_EQ(contacts[1].port, 5061);
  EXPECT_EQ(contacts[2].port, 5060);
  EXPECT_FALSE(contacts[2].port_explicit);
}

TEST(SipMessageTest, ParsesCompactHeaderForms) {
  auto m = SipMessage::Parse(
      "OPTIONS sip:bob@sip.example.com SIP/2.0\r\n"
      "v: SIP/2.0/UDP 192.0.2.50:5070;branch=z9hG4bKc1;rport\r\n"
      "f: <sip:gina@sip.example.com>;tag=g1\r\n"
      "t: <sip:bob@sip.example.com>\r\n"
      "i: compact-1@192.0.2.50\r\n"
      "CSeq: 3 OPTIONS\r\n"
      "m: <sip:gina@192.0.2.50:5070>\r\n"
      "l: 0\r\n\r\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->top_via().port, 5070);
  EXPECT_EQ(m->from().aor(), "gina@sip.example.com");
  EXPECT_EQ(m->call_id(), "compact-1@192.0.2.50");
  ASSERT_EQ(m->contacts().size(), 1u);
  EXPECT_EQ(m->contacts()[0].port, 5070);
}

TEST(SipMessageTest, AcceptsBareLineFeedsAndLeadingCrlf) {
  std::string lf = kBaresipRegister;
  absl::string_view crlf = "\r\n";
  std::string out;
  for (size_t i = 0; i < lf.size(); ++i) {
    if (absl::string_view(lf).substr(i, 2) == crlf) continue;  // drop the CR
    out += lf[i];
  }
  auto m = SipMessage::Parse(absl::StrCat("\r\n\r\n", out));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->call_id(), "6a2b9c4d1e3f5a7b");
}

TEST(SipMessageTest, CutsBodyAtContentLength) {
  // Over UDP, bytes after Content-Length are discarded (RFC 3261 18.3).
  auto m = SipMessage::Parse(kYealinkInvite + "trailing junk");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->body(), kYealinkSdp);
}

TEST(SipMessageTest, BodyWithoutContentLengthRunsToTheEnd) {
  std::string text = kYealinkInvite;
  const size_t cl = text.find("Content-Length:");
  text.erase(cl, text.find("\r\n", cl) + 2 - cl);
  auto m = SipMessage::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->body(), kYealinkSdp);
}

// ---- RFC 3581 received/rport, and serialisation ----

TEST(SipMessageTest, ReceivedAndRportRoundTrip) {
  auto m = SipMessage::Parse(kSnomRegister);
  ASSERT_TRUE(m.ok()) << m.status();
  const Endpoint source = *Endpoint::Parse("203.0.113.9:61000");
  ASSERT_TRUE(m->ApplyReceivedAndRport(source).ok());
  EXPECT_EQ(m->top_via().received, "203.0.113.9");
  EXPECT_EQ(m->top_via().rport, 61000);

  auto bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_THAT(*bytes, HasSubstr("rport=61000"));
  EXPECT_THAT(*bytes, HasSubstr("received=203.0.113.9"));
  auto again = SipMessage::Parse(*bytes);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << *bytes;
  const SipVia via = again->top_via();
  EXPECT_EQ(via.host, "192.0.2.10");
  EXPECT_EQ(via.port, 5060);
  EXPECT_EQ(via.received, "203.0.113.9");
  EXPECT_EQ(via.rport, 61000);
  EXPECT_EQ(via.branch, "z9hG4bK-ifn5ol7tv2r8");
  EXPECT_EQ(again->call_id(), m->call_id());
  EXPECT_EQ(again->from().tag, "n1ajvuyb8y");
  EXPECT_EQ(again->contacts().size(), 1u);
  EXPECT_EQ(again->user_agent(), "snomD735/10.1.159.12");
  EXPECT_EQ(again->expires(), 3600u);
}

TEST(SipMessageTest, RoundTripKeepsTheSdpBody) {
  auto m = SipMessage::Parse(kYealinkInvite);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->ApplyReceivedAndRport(*Endpoint::Parse("198.51.100.20:1024")).ok());
  auto bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto again = SipMessage::Parse(*bytes);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->body(), kYealinkSdp);
  EXPECT_EQ(again->content_type(), "application/sdp");
  EXPECT_EQ(again->top_via().rport, 1024);
}

TEST(SipMessageTest, ReceivedOnlyWhenSentByDiffersAndNoRport) {
  const std::string no_rport = SipText(R"(
OPTIONS sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKnr1
From: <sip:frank@sip.example.com>;tag=f1
To: <sip:bob@sip.example.com>
Call-ID: no-rport-1
CSeq: 1 OPTIONS
)");
  {  // sent-by is the source: nothing to add
    auto m = SipMessage::Parse(no_rport);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(m->ApplyReceivedAndRport(*Endpoint::Parse("198.51.100.7:5060")).ok());
    EXPECT_EQ(m->top_via().received, "");
    EXPECT_FALSE(m->top_via().has_rport);
  }
  {  // sent-by differs: received only (RFC 3261 18.2.1)
    auto m = SipMessage::Parse(no_rport);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->ApplyReceivedAndRport(*Endpoint::Parse("203.0.113.9:5060")).ok());
    EXPECT_EQ(m->top_via().received, "203.0.113.9");
    EXPECT_FALSE(m->top_via().has_rport);
  }
  {  // forced (a NAT'd leg whose phone did not ask): both
    auto m = SipMessage::Parse(no_rport);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->ApplyReceivedAndRport(*Endpoint::Parse("198.51.100.7:40000"),
                                         /*force_rport=*/true)
                    .ok());
    EXPECT_EQ(m->top_via().received, "198.51.100.7");
    EXPECT_EQ(m->top_via().rport, 40000);
  }
}

TEST(SipMessageTest, RportRequestedAddsReceivedEvenIfSentByMatches) {
  // RFC 3581 4: received is added even when identical to sent-by.
  auto m = SipMessage::Parse(kBaresipRegister);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->ApplyReceivedAndRport(*Endpoint::Parse("192.0.2.30:45123")).ok());
  EXPECT_EQ(m->top_via().received, "192.0.2.30");
  EXPECT_EQ(m->top_via().rport, 45123);
}

TEST(SipMessageTest, ReplacesExistingReceivedAndRportValues) {
  std::string text = kBaresipRegister;
  text.replace(text.find(";rport"), 6, ";rport=1111;received=198.51.100.99");
  auto m = SipMessage::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->ApplyReceivedAndRport(*Endpoint::Parse("203.0.113.9:62000")).ok());
  EXPECT_EQ(m->top_via().received, "203.0.113.9");
  EXPECT_EQ(m->top_via().rport, 62000);
  auto bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(*bytes, ::testing::Not(HasSubstr("1111")));
  EXPECT_THAT(*bytes, ::testing::Not(HasSubstr("198.51.100.99")));
}

TEST(SipMessageTest, Ipv6ReceivedHasNoBrackets) {
  auto m = SipMessage::Parse(kLinphoneInviteV6);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->ApplyReceivedAndRport(*Endpoint::Parse("[2001:db8:ffff::9]:40000")).ok());
  auto bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(*bytes, HasSubstr("Via: SIP/2.0/UDP [2001:db8:1::20]:5060;"));
  EXPECT_THAT(*bytes, HasSubstr("received=2001:db8:ffff::9"));
  auto again = SipMessage::Parse(*bytes);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->top_via().received, "2001:db8:ffff::9");
  EXPECT_EQ(again->top_via().rport, 40000);
}

TEST(SipMessageTest, UnmodifiedMessageSerialisesToAnEquivalentMessage) {
  for (const std::string* text : {&kSnomRegister, &kYealinkInvite, &kBaresipRegister,
                                  &kLinphoneInviteV6, &k200Ok}) {
    auto m = SipMessage::Parse(*text);
    ASSERT_TRUE(m.ok()) << m.status();
    auto bytes = m->Serialize();
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto again = SipMessage::Parse(*bytes);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->call_id(), m->call_id());
    EXPECT_EQ(again->cseq_number(), m->cseq_number());
    EXPECT_EQ(again->top_via().branch, m->top_via().branch);
    EXPECT_EQ(again->body(), m->body());
  }
}

TEST(SipMessageTest, CloneIsIndependent) {
  auto m = SipMessage::Parse(kBaresipRegister);
  ASSERT_TRUE(m.ok());
  auto copy = m->Clone();
  ASSERT_TRUE(copy.ok()) << copy.status();
  ASSERT_TRUE(copy->ApplyReceivedAndRport(*Endpoint::Parse("203.0.113.9:61000")).ok());
  EXPECT_EQ(copy->top_via().rport, 61000);
  EXPECT_FALSE(m->top_via().rport.has_value());
  EXPECT_EQ(copy->call_id(), m->call_id());
  EXPECT_EQ(copy->body(), m->body());
}

TEST(SipMessageTest, TopRouteParameterIsReadFromTheTopRouteOnly) {
  const std::string bye = SipText(
      "BYE sip:bob@192.0.2.20:5060 SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-route1;rport\n"
      "Route: <sip:tok;x@203.0.113.70:5060;lr;spiral>, <sip:203.0.113.11:5060;lr>\n"
      "Route: <sip:203.0.113.70:5060;lr;other=1>\n"
      "Max-Forwards: 70\n"
      "From: <sip:alice@sip.example.com>;tag=a1\n"
      "To: <sip:bob@sip.example.com>;tag=b1\n"
      "Call-ID: route-1\n"
      "CSeq: 2 BYE\n"
      "Content-Length: 0\n\n");
  auto m = SipMessage::Parse(bye);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->top_route_has_param("spiral"));
  EXPECT_TRUE(m->top_route_has_param("lr"));
  EXPECT_FALSE(m->top_route_has_param("other")) << "a later Route's parameter";
  m->PopRoute();
  EXPECT_FALSE(m->top_route_has_param("spiral"));
  m->PopRoute();
  EXPECT_TRUE(m->top_route_has_param("other"));
  m->PopRoute();
  EXPECT_FALSE(m->top_route_has_param("lr")) << "no Route left";
}

TEST(SipMessageTest, MovedMessageStaysUsable) {
  auto m = SipMessage::Parse(kYealinkInvite);
  ASSERT_TRUE(m.ok());
  SipMessage owner = *std::move(m);
  SipMessage other = std::move(owner);
  EXPECT_EQ(other.method(), "INVITE");
}

// ---- a body is opaque: any bytes, framed by Content-Length (issue 16) ----

using testing::kSignedContentType;
using testing::SignedBody;

// An S/MIME-signed MESSAGE (sip_text.h: NUL, bare CR and LF, an empty line
// inside the body).
std::string SignedMessage(absl::string_view body) {
  return SipText(absl::StrCat("MESSAGE sip:bob@sip.example.com SIP/2.0\n"
                              "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-smime1;rport\n"
                              "Max-Forwards: 70\n"
                              "From: <sip:alice@sip.example.com>;tag=s1\n"
                              "To: <sip:bob@sip.example.com>\n"
                              "Call-ID: smime-1\n"
                              "CSeq: 1 MESSAGE\n"
                              "MIME-Version: 1.0\n"
                              "Content-Type: ", kSignedContentType, "\n"),
                 body);
}

// The body of serialised bytes, checked to be framed by one Content-Length
// of exactly its size.
std::string FramedBody(const std::string& bytes) {
  const size_t end = bytes.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << bytes;
  if (end == std::string::npos) return "";
  const std::string head = bytes.substr(0, end + 2);
  const std::string body = bytes.substr(end + 4);
  const std::vector<absl::string_view> around = absl::StrSplit(head, "Content-Length:");
  EXPECT_EQ(around.size(), 2u) << head;
  EXPECT_THAT(head, HasSubstr(absl::StrCat("\r\nContent-Length: ", body.size(), "\r\n")));
  return body;
}

TEST(SipMessageTest, BinaryMultipartSignedBodyParses) {
  const std::string body = SignedBody();
  ASSERT_NE(body.find('\0'), std::string::npos);
  auto m = SipMessage::Parse(SignedMessage(body));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->method(), "MESSAGE");
  EXPECT_EQ(m->content_type(), "multipart/signed");
  EXPECT_EQ(m->body(), body);
  // Over UDP, bytes after Content-Length are still cut off.
  auto trailing = SipMessage::Parse(SignedMessage(body) + std::string("\0junk", 5));
  ASSERT_TRUE(trailing.ok()) << trailing.status();
  EXPECT_EQ(trailing->body(), body);
}

TEST(SipMessageTest, BinaryBodyWithoutContentLengthRunsToTheDatagramEnd) {
  std::string text = SignedMessage(SignedBody());
  const size_t cl = text.find("Content-Length:");
  text.erase(cl, text.find("\r\n", cl) + 2 - cl);
  auto m = SipMessage::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->body(), SignedBody());
}

TEST(SipMessageTest, BinaryBodyIsSerialisedByteForByte) {
  auto m = SipMessage::Parse(SignedMessage(SignedBody()));
  ASSERT_TRUE(m.ok()) << m.status();
  auto bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(FramedBody(*bytes), SignedBody());
  // oSIP2 re-spells the headers (spaces, case), keeping their values.
  EXPECT_THAT(*bytes, HasSubstr("Content-Type: multipart/signed; "));
  EXPECT_THAT(*bytes, HasSubstr("; boundary=boundary42\r\n"));
  EXPECT_THAT(absl::AsciiStrToLower(*bytes), HasSubstr("\r\nmime-version: 1.0\r\n"));

  // As a proxy forwards it: its headers change, its body does not.
  auto fwd = m->Clone();
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  ASSERT_TRUE(fwd->ApplyReceivedAndRport(*Endpoint::Parse("203.0.113.9:61000")).ok());
  ASSERT_TRUE(fwd->PushVia("SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-p1").ok());
  EXPECT_EQ(fwd->DecrementMaxForwards(), 69);
  auto out = fwd->Serialize();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(FramedBody(*out), SignedBody());
  auto again = SipMessage::Parse(*out);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->body(), SignedBody());
  EXPECT_EQ(again->via_count(), 2u);
}

// oSIP2 refused a multipart body whose boundaries it could not find; a
// relay has no business judging a body it does not read.
TEST(SipMessageTest, MultipartBodyWithoutItsBoundariesIsPassedOnAsIs) {
  const std::string body("not really multipart\0\r\n", 23);
  auto m = SipMessage::Parse(SignedMessage(body));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->body(), body);
  auto bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(FramedBody(*bytes), body);
}

TEST(SipMessageTest, SetBodyReplacesABinaryBodyAndItsLength) {
  auto m = SipMessage::Parse(SignedMessage(SignedBody()));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->SetBody(kYealinkSdp, "application/sdp").ok());
  auto bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(FramedBody(*bytes), kYealinkSdp);
  ASSERT_TRUE(m->SetBody("", "").ok());
  bytes = m->Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(FramedBody(*bytes), "");
}

TEST(SipMessageTest, NulInTheHeadersIsStillRefused) {
  const std::string text = SignedMessage(SignedBody());
  std::string bad = text;
  const size_t at = bad.find("bob@");
  bad[at + 1] = '\0';
  auto m = SipMessage::Parse(absl::StrCat("\r\n", bad));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(m.status()),
            absl::StrCat("SIP: NUL byte at offset ", at + 3, " (in the headers)"));
  // The empty line is where the headers end: a NUL just before it counts.
  bad = text;
  bad[bad.find("\r\n\r\n") - 1] = '\0';
  EXPECT_FALSE(SipMessage::Parse(bad).ok());
}

// ---- clean errors ----

struct BadInput {
  const char* name;
  std::string bytes;
  const char* error;  // substring of the status message
};

class SipMessageRejectsTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(SipMessageRejectsTest, WithAMessageNamingTheProblem) {
  auto m = SipMessage::Parse(GetParam().bytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(m.status()), HasSubstr("SIP: "));
  EXPECT_THAT(Message(m.status()), HasSubstr(GetParam().error));
}

std::string Repeat(absl::string_view unit, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) absl::StrAppend(&out, unit);
  return out;
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, SipMessageRejectsTest,
    ::testing::Values(
        BadInput{"Empty", "", "empty message"},
        BadInput{"OnlyCrlfKeepalive", "\r\n\r\n", "keep-alive"},
        BadInput{"NulByte", Replace(kSnomRegister, "Alice", std::string("Al\0ce", 5)),
                 "NUL byte at offset"},
        BadInput{"Http", "GET / HTTP/1.1\r\nHost: sip.example.com\r\n\r\n",
                 "not a SIP message: start line 'GET / HTTP/1.1'"},
        BadInput{"Garbage", "hello world\r\n\r\n", "not a SIP message"},
        BadInput{"BinaryNoise", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                 "not a SIP message"},
        BadInput{"BadMethodToken", "INV<TE sip:bob@sip.example.com SIP/2.0\r\n\r\n",
                 "bad method"},
        BadInput{"UnsupportedVersion", "SIP/3.0 200 OK\r\n\r\n", "unsupported SIP version"},
        BadInput{"BadStatusCode", "SIP/2.0 2x0 OK\r\n\r\n", "bad status code"},
        BadInput{"TruncatedHeaders", kSnomRegister.substr(0, 200),
                 "truncated: no empty line after the headers"},
        BadInput{"TruncatedBody", kYealinkInvite.substr(0, kYealinkInvite.size() - 40),
                 "truncated: Content-Length"},
        BadInput{"NegativeContentLength",
                 Replace(kSnomRegister, "Content-Length: 0", "Content-Length: -1"),
                 "bad Content-Length '-1'"},
        BadInput{"HugeContentLength",
                 Replace(kSnomRegister, "Content-Length: 0",
                         "Content-Length: 99999999999999999999"),
                 "bad Content-Length"},
        BadInput{"ConflictingContentLength",
                 Replace(kSnomRegister, "Expires: 3600", "Expires: 3600\r\nl: 12"),
                 "conflicting Content-Length"},
        BadInput{"MissingCallIdAndCSeq",
                 Replace(Replace(kSnomRegister, "Call-ID: 6b6e4fa1fcd2-dla7bfo9zxn5\r\n", ""),
                         "CSeq: 1 REGISTER\r\n", ""),
                 "missing mandatory header(s): Call-ID, CSeq"},
        BadInput{"MissingVia", Replace(kBaresipRegister,
                                       "Via: SIP/2.0/UDP 192.0.2.30:45123;"
                                       "branch=z9hG4bK7d1f9c0e2a4b;rport\r\n",
                                       ""),
                 "missing mandatory header(s): Via"},
        BadInput{"BadViaPort", Replace(kSnomRegister, "192.0.2.10:5060;branch", "192.0.2.10:50x0;branch"),
                 "top Via: bad port '50x0'"},
        BadInput{"ViaPortOutOfRange",
                 Replace(kSnomRegister, "192.0.2.10:5060;branch", "192.0.2.10:65536;branch"),
                 "top Via: bad port '65536'"},
        BadInput{"BadRport", Replace(kSnomRegister, ";rport", ";rport=0"),
                 "top Via: bad rport '0'"},
        BadInput{"BadCSeqNumber", Replace(kSnomRegister, "CSeq: 1 REGISTER", "CSeq: one REGISTER"),
                 "CSeq: bad number 'one'"},
        BadInput{"CSeqMethodMismatch",
                 Replace(kSnomRegister, "CSeq: 1 REGISTER", "CSeq: 1 INVITE"),
                 "CSeq method 'INVITE' does not match request method 'REGISTER'"},
        BadInput{"BadContactExpires",
                 Replace(kBaresipRegister, "expires=3600", "expires=soon"),
                 "Contact: bad expires 'soon'"},
        BadInput{"BadExpiresHeader", Replace(kSnomRegister, "Expires: 3600", "Expires: never"),
                 "bad Expires 'never'"},
        BadInput{"MalformedContactPort",
                 Replace(kSnomRegister, "192.0.2.10:5060;line", "192.0.2.10:notaport;line"),
                 "malformed message"},
        BadInput{"TooLarge", kSnomRegister + std::string(kMaxSipMessageBytes, 'x'),
                 "exceeds the 65536-byte limit"},
        // oSIP2's lists cost O(n^2) to build: a 64 KiB ";a;a;a..." datagram
        // would take about a second of CPU.
        BadInput{"TooManyParametersInOneHeader",
                 Replace(kBaresipRegister, ";expires=3600", Repeat(";a", 129)),
                 "header 'Contact' has more than 128 parameters or list items"},
        BadInput{"TooManyParametersOverall",
                 Replace(kBaresipRegister, "Max-Forwards: 70\r\n",
                         Repeat(absl::StrCat("Via: SIP/2.0/UDP 192.0.2.1", Repeat(";a", 100), "\r\n"), 11)),
                 "more than 1024 parameters and list items"},
        BadInput{"TooManyHeaderLines",
                 Replace(kBaresipRegister, "Max-Forwards: 70\r\n", Repeat("X-Pad: 1\r\n", 260)),
                 "more than 256 header lines"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

TEST(SipMessageTest, LenientParseReportsMissingHeadersForA400) {
  const std::string text = Replace(
      Replace(kSnomRegister, "Call-ID: 6b6e4fa1fcd2-dla7bfo9zxn5\r\n", ""),
      "To: \"Alice\" <sip:alice@sip.example.com>\r\n", "");
  auto m = SipMessage::ParseLenient(text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(m->missing_mandatory_headers(), ElementsAre(SipHeader::kTo, SipHeader::kCallId));
  EXPECT_EQ(SipHeaderName(SipHeader::kCallId), "Call-ID");
  // What a 400 needs to be routed back is still there.
  EXPECT_EQ(m->top_via().host, "192.0.2.10");
  EXPECT_EQ(m->from().tag, "n1ajvuyb8y");
  EXPECT_EQ(m->call_id(), "");
  EXPECT_EQ(m->to().aor(), "");
}

TEST(SipMessageTest, ErrorsQuoteHostileBytesEscapedAndShortened) {
  auto m = SipMessage::Parse(absl::StrCat("\x01\x02", std::string(500, 'A'), " x\r\n\r\n"));
  ASSERT_FALSE(m.ok());
  const std::string msg = Message(m.status());
  EXPECT_THAT(msg, HasSubstr("\\001\\002AAAA"));
  EXPECT_THAT(msg, HasSubstr("..."));
  EXPECT_LT(msg.size(), 200u);
}

TEST(SipMessageTest, FoldedHeaderCountsAsOneForTheBounds) {
  // 3 x 60 separators on folded lines of one header: over the per-header
  // bound although no single line is.
  const std::string text = Replace(
      kSnomRegister, "Supported: gruu",
      absl::StrCat("Supported: gruu", Repeat(absl::StrCat("\r\n ", Repeat(",x", 60)), 3)));
  auto m = SipMessage::Parse(text);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(Message(m.status()), HasSubstr("header 'Supported' has more than 128"));
}

TEST(SipMessageTest, LongHeaderUnderTheCapParses) {
  const std::string text = Replace(kSnomRegister, "User-Agent: snomD735/10.1.159.12",
                                   absl::StrCat("User-Agent: ", std::string(60000, 'u')));
  ASSERT_LE(text.size(), kMaxSipMessageBytes);
  auto m = SipMessage::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->user_agent().size(), 60000u);
}

// ---- never crash (runs under ASan/UBSan in CI) ----

// Touches every accessor and mutator of a message that parsed.
void Exercise(SipMessage& m) {
  ReadEveryAccessor(m);
  if (m.via_count() > 0) {
    EXPECT_TRUE(m.ApplyReceivedAndRport(*Endpoint::Parse("203.0.113.9:61000")).ok());
  }
  auto bytes = m.Serialize();
  if (bytes.ok()) (void)SipMessage::ParseLenient(*bytes);
  (void)m.Clone();
}

TEST(SipMessageFuzzTest, RandomMutationsNeverCrash) {
  const std::vector<std::string> seeds = {kSnomRegister, kYealinkInvite, kBaresipRegister,
                                          kLinphoneInviteV6, k200Ok};
  const std::vector<std::string> tokens = {
      "\r\n", "\r\n\r\n", ":", ";", ",", "<", ">", "@", "[", "]", "\"", "\\", "sip:",
      "sips:", ";rport", ";rport=", ";received=", "=", " ", "\t", "*", "%00", "%",
      "Content-Length: 99999\r\n", "l: 3\r\n", "Via: SIP/2.0/UDP ", "Contact: *\r\n",
      "Contact: <sip:@:>\r\n", "Expires: \r\n", "CSeq: \r\n", "\xff\xfe", "::", "[::1]",
      "m=audio 0 RTP/AVP\r\n", "c=IN IP6 ::\r\n"};
  std::mt19937 rng(20240607);  // fixed: failures must reproduce
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string m = seeds[i % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !m.empty(); ++e) {
      const size_t at = rng() % m.size();
      switch (rng() % 6) {
        case 0: m[at] = static_cast<char>(rng() % 256); break;           // flip
        case 1: m.insert(at, 1, static_cast<char>(rng() % 256)); break;  // insert
        case 2: m.erase(at, 1 + rng() % 16); break;                      // delete
        case 3: m.insert(at, tokens[rng() % tokens.size()]); break;      // token
        case 4: {                                                        // duplicate
          const size_t len = 1 + rng() % 64;
          m.insert(at, m.substr(at, len));
          break;
        }
        case 5: m.resize(at); break;  // truncate
      }
    }
    auto strict = SipMessage::Parse(m);
    auto lenient = SipMessage::ParseLenient(m);
    if (strict.ok()) {
      ++parsed;
      EXPECT_TRUE(lenient.ok());
      Exercise(*strict);
    } else {
      ++rejected;
      EXPECT_FALSE(strict.status().message().empty());
    }
    if (lenient.ok()) Exercise(*lenient);
  }
  RecordProperty("parsed", parsed);
  RecordProperty("rejected", rejected);
  // The mutations must reach both sides of the parser to mean anything.
  EXPECT_GT(parsed, 250);
  EXPECT_GT(rejected, 250);
}

TEST(SipMessageProxyTest, ConsumesOnlyOurRealmsProxyAuthorization) {
  const std::string text =
      "INVITE sip:bob@example.test SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKpa1\r\n"
      "From: <sip:alice@example.test>;tag=a\r\nTo: <sip:bob@example.test>\r\n"
      "Call-ID: pa1\r\nCSeq: 2 INVITE\r\nMax-Forwards: 70\r\n"
      "Proxy-Authorization: Digest username=\"alice\", realm=\"example.test\", "
      "nonce=\"n1\", uri=\"sip:bob@example.test\", response=\"0123\"\r\n"
      "Proxy-Authorization: Digest username=\"alice\", realm=\"carrier.test\", "
      "nonce=\"n2\", uri=\"sip:bob@example.test\", response=\"4567\"\r\n"
      "Content-Length: 0\r\n\r\n";
  auto m = SipMessage::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status();
  m->RemoveProxyAuthorizations("EXAMPLE.test");
  auto out = m->Serialize();
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(*out, ::testing::Not(::testing::HasSubstr("realm=\"example.test\"")));
  // Another proxy's credentials travel on (RFC 3261 20.28).
  EXPECT_THAT(*out, ::testing::HasSubstr("realm=\"carrier.test\""));
}

}  // namespace
}  // namespace rtplatch
