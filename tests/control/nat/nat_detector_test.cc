// NAT detection on real phones' SIP text, one TEST per row of design.md's
// failure-mode table (the NAT-timeout row belongs to the adaptive
// keepalive; the RTP Bleed row to the dataplane's latch tests), plus the
// inside prefixes and the SDP address parser it relies on.
//
// Test bed addressing: 192.0.2.0/24 is the inside LAN behind the NATs,
// 203.0.113.0/24 and 198.51.100.0/24 are public, 2001:db8::/32 is IPv6.
#include "control/nat/nat_detector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control/sip/sip_text.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

using testing::SipText;

using testing::SdpText;
using testing::YealinkSdp;

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

IpAddress Ip(absl::string_view text) { return *IpAddress::Parse(text); }
Endpoint Ep(absl::string_view text) { return *Endpoint::Parse(text); }

// The control plane's config in the test bed: defaults + the inside LAN.
InsidePrefixes TestBedInside() {
  InsidePrefixes inside = InsidePrefixes::Default();
  EXPECT_TRUE(inside.Add("192.0.2.0/24").ok());
  return inside;
}

struct Detected {
  NatVerdict verdict;
  std::vector<absl::string_view> reasons;
};

// Parses strictly and detects, SDP parsed from the body as the proxy does.
Detected Detect(const std::string& text, const Endpoint& source) {
  auto m = SipMessage::Parse(text);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return {};
  const NatVerdict v = DetectNat(*m, source, TestBedInside());
  return {v, v.reasons.Names()};
}

// ---- inside prefixes ----

TEST(InsidePrefixesTest, DefaultIsPrivateCgnAndLinkLocal) {
  const InsidePrefixes inside = InsidePrefixes::Default();
  for (const char* a : {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                        "100.64.0.1", "100.127.255.255", "169.254.7.7", "fe80::1",
                        "fc00::1", "fdff:ffff::1"}) {
    EXPECT_TRUE(inside.Contains(Ip(a))) << a;
  }
  for (const char* a : {"172.32.0.1", "100.128.0.1", "192.0.2.1", "203.0.113.1",
                        "198.51.100.1", "2001:db8::1", "fec0::1", "0.0.0.0", "::"}) {
    EXPECT_FALSE(inside.Contains(Ip(a))) << a;
  }
  EXPECT_EQ(inside.prefixes().size(), 7u);
  EXPECT_EQ(inside.prefixes()[1].ToString(), "172.16.0.0/12");
  EXPECT_EQ(inside.prefixes()[6].ToString(), "fc00::/7");
}

TEST(InsidePrefixesTest, TestBedAddsItsInsideLan) {
  const InsidePrefixes inside = TestBedInside();
  EXPECT_TRUE(inside.Contains(Ip("192.0.2.77")));
  EXPECT_FALSE(inside.Contains(Ip("192.0.3.1")));
  EXPECT_FALSE(inside.Contains(Ip("203.0.113.9")));
}

TEST(InsidePrefixesTest, ParsesBothFamiliesAndHostPrefixes) {
  auto inside = InsidePrefixes::Parse({"192.0.2.0/25", "2001:db8:1::/48", "198.51.100.7"});
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_TRUE(inside->Contains(Ip("192.0.2.127")));
  EXPECT_FALSE(inside->Contains(Ip("192.0.2.128")));
  EXPECT_TRUE(inside->Contains(Ip("2001:db8:1:ffff::1")));
  EXPECT_FALSE(inside->Contains(Ip("2001:db8:2::1")));
  EXPECT_TRUE(inside->Contains(Ip("198.51.100.7")));
  EXPECT_FALSE(inside->Contains(Ip("198.51.100.8")));
  EXPECT_EQ(inside->prefixes()[2].ToString(), "198.51.100.7/32");
}

TEST(InsidePrefixesTest, Ipv4PrefixDoesNotMatchIpv6) {
  auto inside = InsidePrefixes::Parse({"0.0.0.0/0"});
  ASSERT_TRUE(inside.ok());
  EXPECT_TRUE(inside->Contains(Ip("203.0.113.1")));
  EXPECT_FALSE(inside->Contains(Ip("2001:db8::1")));
}

TEST(InsidePrefixesTest, ErrorsNameTheBadEntry) {
  struct Case {
    std::vector<std::string> cidrs;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {{"192.0.2.0/24", "2001:db8::/129"}, "inside_prefixes[1]: prefix '2001:db8::/129'"},
           {{"192.0.2.0/33"}, "inside_prefixes[0]: prefix '192.0.2.0/33': length must be 0..32"},
           {{"192.0.2.0/"}, "length must be"},
           {{"192.0.2.0/+8"}, "length must be"},
           {{"inside"}, "prefix 'inside': not an IPv4 or IPv6 address"},
           {{"192.0.2.1/24"}, "prefix '192.0.2.1/24': host bits are set"},
           {{"2001:db8::1/32"}, "host bits are set"}}) {
    auto inside = InsidePrefixes::Parse(c.cidrs);
    ASSERT_FALSE(inside.ok()) << c.error;
    EXPECT_THAT(std::string(inside.status().message()), HasSubstr(c.error));
  }
  InsidePrefixes inside;
  EXPECT_THAT(std::string(inside.Add("11.0.0.0/7").message()),
              HasSubstr("'11.0.0.0/7': host bits are set"));
  EXPECT_TRUE(inside.Add("10.0.0.0/7").ok());
}

TEST(InsidePrefixesTest, AddIgnoresDuplicates) {
  InsidePrefixes inside = InsidePrefixes::Default();
  ASSERT_TRUE(inside.Add("10.0.0.0/8").ok());
  EXPECT_EQ(inside.prefixes().size(), 7u);
}

// ---- SDP addresses ----

const std::string kYealinkSdp = YealinkSdp();

TEST(SdpAddressesTest, SessionLevelConnectionAppliesToMedia) {
  auto sdp = ParseSdpAddresses(kYealinkSdp);
  ASSERT_TRUE(sdp.ok()) << sdp.status();
  EXPECT_EQ(sdp->origin, Ip("192.0.2.20"));
  EXPECT_EQ(sdp->session_connection, Ip("192.0.2.20"));
  ASSERT_EQ(sdp->media.size(), 1u);
  EXPECT_EQ(sdp->media[0].media, "audio");
  EXPECT_EQ(sdp->media[0].port, 11796);
  EXPECT_EQ(sdp->media[0].connection, Ip("192.0.2.20"));
  EXPECT_THAT(sdp->ConnectionAddresses(), ElementsAre(Ip("192.0.2.20")));
}

TEST(SdpAddressesTest, MediaLevelConnectionsAndDisabledStreams) {
  auto sdp = ParseSdpAddresses(SdpText(R"(
v=0
o=jitsi 0 0 IN IP6 2001:db8:1::20
s=-
t=0 0
m=audio 5004 RTP/AVP 96
c=IN IP6 2001:db8:1::20
m=video 0 RTP/AVP 97
c=IN IP4 198.51.100.4
m=audio 5006/2 RTP/AVP 0
c=IN IP4 233.252.0.1/127
)"));
  ASSERT_TRUE(sdp.ok()) << sdp.status();
  EXPECT_FALSE(sdp->session_connection.has_value());
  ASSERT_EQ(sdp->media.size(), 3u);
  EXPECT_EQ(sdp->media[0].connection, Ip("2001:db8:1::20"));
  EXPECT_EQ(sdp->media[1].port, 0);
  EXPECT_EQ(sdp->media[1].connection, Ip("198.51.100.4"));
  EXPECT_EQ(sdp->media[2].port, 5006);
  EXPECT_EQ(sdp->media[2].connection, Ip("233.252.0.1"));
  EXPECT_EQ(sdp->ConnectionAddresses().size(), 3u);
}

TEST(SdpAddressesTest, HoldAddressesAndNamesAreNotAddresses) {
  auto sdp = ParseSdpAddresses(SdpText(R"(
v=0
o=- 1 2 IN IP4 media.example.com
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 11796 RTP/AVP 0
a=sendonly
)"));
  ASSERT_TRUE(sdp.ok()) << sdp.status();
  EXPECT_FALSE(sdp->origin.has_value());
  EXPECT_TRUE(sdp->ConnectionAddresses().empty());
}

TEST(SdpAddressesTest, ToleratesMissingFinalNewline) {
  std::string text = kYealinkSdp;
  text.resize(text.size() - 2);
  auto sdp = ParseSdpAddresses(text);
  ASSERT_TRUE(sdp.ok()) << sdp.status();
  EXPECT_EQ(sdp->media.size(), 1u);
}

TEST(SdpAddressesTest, BoundedByTheSharedParser) {
  // The bounds are control/sdp's: 64 KiB and 64 m= lines.
  std::string many_media = kYealinkSdp;
  for (int i = 0; i < 64; ++i) many_media += "m=audio 4000 RTP/AVP 0\r\n";
  auto media = ParseSdpAddresses(many_media);
  ASSERT_FALSE(media.ok());
  EXPECT_THAT(std::string(media.status().message()), HasSubstr("SDP: "));

  std::string huge = kYealinkSdp;
  while (huge.size() <= kMaxSdpBodyBytes) huge += "a=x-padding:0123456789abcdef\r\n";
  auto big = ParseSdpAddresses(huge);
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(std::string(big.status().message()), HasSubstr("limit"));
}

// The broken-ALG failure mode lives in the gap between what detection and
// rewriting read: they now read one parser, so every c= they see agrees,
// also where the session c= is overridden or a section has two c= lines.
TEST(SdpAddressesTest, DetectionReadsWhatTheRewriterReads) {
  for (const std::string& body : {kYealinkSdp, SdpText(R"(
v=0
o=- 1 1 IN IP4 192.0.2.20
s=-
c=IN IP4 192.0.2.20
t=0 0
m=audio 4000 RTP/AVP 0
c=IN IP4 203.0.113.7
c=IN IP4 192.0.2.21
m=video 4002 RTP/AVP 96
a=sendrecv
)")}) {
    auto detection = ParseSdpAddresses(body);
    auto rewriter = ParseSdp(body);
    ASSERT_TRUE(detection.ok()) << detection.status();
    ASSERT_TRUE(rewriter.ok()) << rewriter.status();
    ASSERT_EQ(detection->media.size(), rewriter->media.size());
    for (size_t i = 0; i < rewriter->media.size(); ++i) {
      EXPECT_EQ(detection->media[i].connection, rewriter->media[i].connection) << i;
      EXPECT_EQ(detection->media[i].port, rewriter->media[i].port) << i;
    }
    EXPECT_EQ(detection->origin, rewriter->origin_address);
  }
}

TEST(SdpAddressesTest, RejectsGarbageWithAMessage) {
  for (absl::string_view bad : {absl::string_view(""), absl::string_view("not sdp"),
                                absl::string_view("v=0\r\n"),
                                absl::string_view("v=0\r\n\0\r\n", 7)}) {
    auto sdp = ParseSdpAddresses(bad);
    ASSERT_FALSE(sdp.ok());
    EXPECT_THAT(std::string(sdp.status().message()), HasSubstr("SDP: "));
  }
}

// ---- the NAT reason table ----

TEST(NatReasonTest, TableDrivesNamesParsingAndEvidence) {
  for (size_t i = 0; i < kNatReasonCount; ++i) {
    const auto r = static_cast<NatReason>(i);
    EXPECT_EQ(ParseNatReason(NatReasonName(r)), r);
    EXPECT_FALSE(kNatReasonHelp[i].empty());
  }
  EXPECT_FALSE(ParseNatReason("nat").has_value());
  const NatReasonSet evidence = NatReasonSet::Evidence();
  EXPECT_THAT(evidence.Names(),
              ElementsAre("via_host_differs_from_source", "via_port_differs_from_source",
                          "via_inside", "contact_inside", "sdp_inside", "sdp_origin_inside"));
  NatReasonSet info{NatReason::kViaRportRequested, NatReason::kContactDiffersFromSource};
  EXPECT_FALSE(info.Intersects(evidence));
  EXPECT_EQ(info.ToString(), "via_rport_requested,contact_differs_from_source");
  EXPECT_EQ(NatReasonSet().ToString(), "");
}

// ---- design.md rule 1: the basic NAT'd REGISTER and INVITE ----

// baresip on the inside LAN behind a port-randomising NAT.
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

TEST(NatDetectorTest, NatdRegisterFromInsideLan) {
  const Detected d = Detect(kBaresipRegister, Ep("203.0.113.9:61000"));
  EXPECT_TRUE(d.verdict.natted);
  EXPECT_THAT(d.reasons, UnorderedElementsAre(
                             "via_host_differs_from_source", "via_port_differs_from_source",
                             "via_inside", "contact_inside", "via_rport_requested",
                             "contact_differs_from_source"));
}

// A Yealink on the inside LAN behind a port-preserving NAT (5060 kept).
const std::string kYealinkInviteHead = R"(
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
)";
const std::string kYealinkInvite = SipText(kYealinkInviteHead, kYealinkSdp);

TEST(NatDetectorTest, NatdInviteWithSdp) {
  const Detected d = Detect(kYealinkInvite, Ep("203.0.113.9:5060"));
  EXPECT_TRUE(d.verdict.natted);
  EXPECT_THAT(d.reasons,
              UnorderedElementsAre("via_host_differs_from_source", "via_inside",
                                   "contact_inside", "sdp_inside", "sdp_origin_inside",
                                   "via_rport_requested", "contact_differs_from_source"));
  EXPECT_FALSE(d.verdict.reasons.Has(NatReason::kViaPortDiffersFromSource));

  // The explicit-SDP overload agrees; without SDP only the SIP tests run.
  auto m = SipMessage::Parse(kYealinkInvite);
  ASSERT_TRUE(m.ok());
  auto sdp = ParseSdpAddresses(m->body());
  ASSERT_TRUE(sdp.ok());
  EXPECT_EQ(DetectNat(*m, Ep("203.0.113.9:5060"), TestBedInside(), &*sdp).reasons,
            d.verdict.reasons);
  const NatVerdict no_sdp = DetectNat(*m, Ep("203.0.113.9:5060"), TestBedInside(), nullptr);
  EXPECT_TRUE(no_sdp.natted);
  EXPECT_FALSE(no_sdp.reasons.Has(NatReason::kSdpInside));
}

// ---- design.md failure-mode table ----

// Row: phone works around NAT itself (STUN, public IP in Contact/SDP, its
// own keepalives). A Snom that learned 203.0.113.9:5060 by STUN, behind a
// NAT that gives the real flow another port.
const std::string kSnomStunRegister = SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-ifn5ol7tv2r8;rport
From: "Alice" <sip:alice@sip.example.com>;tag=n1ajvuyb8y
To: "Alice" <sip:alice@sip.example.com>
Call-ID: 6b6e4fa1fcd2-dla7bfo9zxn5
CSeq: 1 REGISTER
Max-Forwards: 70
Contact: <sip:alice@203.0.113.9:5060;line=r4ycrdtf>;reg-id=1;q=1.0;+sip.instance="<urn:uuid:7d4f3a2e-5b1c-4e6f-9a8b-000413a1b2c3>";audio;mobility="fixed";duplex="full";description="snom D735";actions="broadcast";events="dialog"
User-Agent: snomD735/10.1.159.12
Supported: gruu
Allow-Events: dialog
Allow: INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, NOTIFY, SUBSCRIBE, PRACK, MESSAGE, INFO, UPDATE
Expires: 3600
)");

const std::string kSnomStunInvite = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-2f7cq1v0d8e3;rport
From: "Alice" <sip:alice@sip.example.com>;tag=0qzd3k6w1e
To: <sip:bob@sip.example.com>
Call-ID: 2b5e9f0a7c41-m3v8r1q6t2x9
CSeq: 2 INVITE
Max-Forwards: 70
Contact: <sip:alice@203.0.113.9:5060;line=r4ycrdtf>;reg-id=1
User-Agent: snomD735/10.1.159.12
Content-Type: application/sdp
)",
                                           SdpText(R"(
v=0
o=root 1093615399 1093615399 IN IP4 203.0.113.9
s=call
c=IN IP4 203.0.113.9
t=0 0
m=audio 62178 RTP/AVP 9 0 8 2 3 18 4 101
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
)"));

TEST(NatDetectorTest, PhoneWorksAroundNatItselfPortStillCompared) {
  // Port-randomising NAT: the STUN answer was for another mapping.
  const Detected reg = Detect(kSnomStunRegister, Ep("203.0.113.9:37104"));
  EXPECT_TRUE(reg.verdict.natted);
  EXPECT_THAT(reg.reasons, UnorderedElementsAre("via_port_differs_from_source",
                                                "via_rport_requested",
                                                "contact_differs_from_source"));
  const Detected inv = Detect(kSnomStunInvite, Ep("203.0.113.9:37104"));
  EXPECT_TRUE(inv.verdict.natted);
  EXPECT_TRUE(inv.verdict.reasons.Has(NatReason::kViaPortDiffersFromSource));
  // Nothing inside anywhere: the phone hid its private addresses.
  EXPECT_FALSE(inv.verdict.reasons.Has(NatReason::kSdpInside));
  EXPECT_FALSE(inv.verdict.reasons.Has(NatReason::kContactInside));
}

TEST(NatDetectorTest, PhoneWorksAroundNatItselfCleanWhenStunWasRight) {
  // Port-preserving NAT: signalling is consistent, so no NAT is detected.
  // Whether the SDP port is right is for latching to find out
  // (self_fixing_phone anchors the media: see nat_policy_test).
  const Detected d = Detect(kSnomStunInvite, Ep("203.0.113.9:5060"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_THAT(d.reasons, ElementsAre("via_rport_requested"));
}

// Row: phone sends RTP from a different port than it wants RTP on. Nothing
// in signalling shows it (it is a media behaviour); detection must not
// invent NAT, and the SDP address is what asymmetric_rtp sends to.
TEST(NatDetectorTest, AsymmetricRtpPhoneIsNotMistakenForNat) {
  const std::string invite = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-5c2b1d0a
From: "Heidi" <sip:heidi@sip.example.com>;tag=1234567890
To: <sip:bob@sip.example.com>
Call-ID: 3f1d7a9e-0b2c4d6e@198.51.100.20
CSeq: 101 INVITE
Max-Forwards: 70
Contact: "Heidi" <sip:heidi@198.51.100.20:5060>
Expires: 240
User-Agent: Cisco/SPA504G-7.6.2
Content-Type: application/sdp
)",
                                     SdpText(R"(
v=0
o=- 1027 1027 IN IP4 198.51.100.20
s=-
c=IN IP4 198.51.100.20
t=0 0
m=audio 16450 RTP/AVP 0 2 8 18 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
)"));
  const Detected d = Detect(invite, Ep("198.51.100.20:5060"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_TRUE(d.reasons.empty());
  auto m = SipMessage::Parse(invite);
  ASSERT_TRUE(m.ok());
  auto sdp = ParseSdpAddresses(m->body());
  ASSERT_TRUE(sdp.ok());
  EXPECT_EQ(sdp->media[0].connection, Ip("198.51.100.20"));
  EXPECT_EQ(sdp->media[0].port, 16450);
  EXPECT_EQ(m->user_agent(), "Cisco/SPA504G-7.6.2");
}

// Row: the NAT's SIP ALG rewrites SIP badly. Any inconsistency is NAT.
TEST(NatDetectorTest, BrokenAlgRewritesViaNotContact) {
  const std::string reg = SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-ifn5ol7tv2r8;rport
From: "Alice" <sip:alice@sip.example.com>;tag=n1ajvuyb8y
To: "Alice" <sip:alice@sip.example.com>
Call-ID: 6b6e4fa1fcd2-dla7bfo9zxn5
CSeq: 2 REGISTER
Max-Forwards: 70
Contact: <sip:alice@192.0.2.10:5060;line=r4ycrdtf>;reg-id=1;q=1.0
User-Agent: snomD735/10.1.159.12
Expires: 3600
)");
  const Detected d = Detect(reg, Ep("203.0.113.9:5060"));
  EXPECT_TRUE(d.verdict.natted);
  EXPECT_THAT(d.reasons, UnorderedElementsAre("contact_inside", "contact_differs_from_source",
                                              "via_rport_requested"));
}

TEST(NatDetectorTest, BrokenAlgRewritesCNotM) {
  // The ALG rewrote Via, Contact and c= to the NAT's address, left o= and
  // the m= port (which has no mapping) alone: o= gives it away.
  const std::string head = R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK1437937713;rport
From: "Carol" <sip:carol@sip.example.com>;tag=1822417232
To: <sip:bob@sip.example.com>
Call-ID: 1830125426@192.0.2.20
CSeq: 2 INVITE
Contact: <sip:carol@203.0.113.9:5060>
Content-Type: application/sdp
Max-Forwards: 70
User-Agent: Yealink SIP-T46S 66.86.0.15
)";
  const std::string sdp_o_kept = SdpText(R"(
v=0
o=- 20039 20039 IN IP4 192.0.2.20
s=SDP data
c=IN IP4 203.0.113.9
t=0 0
m=audio 11796 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
a=sendrecv
)");
  const Detected d = Detect(SipText(head, sdp_o_kept), Ep("203.0.113.9:5060"));
  EXPECT_TRUE(d.verdict.natted);
  EXPECT_THAT(d.reasons, UnorderedElementsAre("sdp_origin_inside", "via_rport_requested"));

  // If it rewrote o= as well, the damage is invisible in signalling: no
  // NAT detected. That is what the broken_alg policy (always NAT'd, the
  // source and latching win) is for: see nat_policy_test.
  const std::string sdp_o_rewritten = Replace(sdp_o_kept, "192.0.2.20", "203.0.113.9");
  const Detected hidden = Detect(SipText(head, sdp_o_rewritten), Ep("203.0.113.9:5060"));
  EXPECT_FALSE(hidden.verdict.natted);
}

// Row: REGISTER Contact legitimately differs from the source (no NAT): a
// provisioning server registering a public phone on its behalf.
TEST(NatDetectorTest, ContactDiffersFromSourceWithoutNat) {
  const std::string reg = SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-3rdparty-1
From: <sip:provisioning@sip.example.com>;tag=prov77
To: <sip:frank@sip.example.com>
Call-ID: 3rd-party-reg-0001@198.51.100.7
CSeq: 9 REGISTER
Max-Forwards: 70
Contact: <sip:frank@203.0.113.80:5060>;expires=1800
User-Agent: provisiond/1.4
)");
  const Detected d = Detect(reg, Ep("198.51.100.7:5060"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_THAT(d.reasons, ElementsAre("contact_differs_from_source"));
}

// Row: a proper ALG (neither side sees NAT). The Linux SIP helper rewrote
// Via, Contact, o=, c= and m= to the NAT's address and mapped ports.
TEST(NatDetectorTest, ProperAlgLooksConsistent) {
  const std::string reg = SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:1025;branch=z9hG4bK7d1f9c0e2a4b;rport
Contact: <sip:dave-0x55d0a1@203.0.113.9:1025>;expires=3600
Max-Forwards: 70
To: <sip:dave@sip.example.com>
From: <sip:dave@sip.example.com>;tag=8e3a7c1d5b
Call-ID: 6a2b9c4d1e3f5a7b
CSeq: 41234 REGISTER
User-Agent: baresip v2.9.0 (x86_64/linux)
)");
  const Detected r = Detect(reg, Ep("203.0.113.9:1025"));
  EXPECT_FALSE(r.verdict.natted);
  EXPECT_THAT(r.reasons, ElementsAre("via_rport_requested"));

  const std::string invite = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:1025;branch=z9hG4bK1c9e0d2a7b;rport
Contact: <sip:dave-0x55d0a1@203.0.113.9:1025>
Max-Forwards: 70
To: <sip:bob@sip.example.com>
From: <sip:dave@sip.example.com>;tag=4d1e7b2c9a
Call-ID: 9f8e7d6c5b4a3921
CSeq: 17 INVITE
User-Agent: baresip v2.9.0 (x86_64/linux)
Content-Type: application/sdp
)",
                                     SdpText(R"(
v=0
o=- 3905221190 3905221191 IN IP4 203.0.113.9
s=-
c=IN IP4 203.0.113.9
t=0 0
m=audio 30102 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
a=sendrecv
)"));
  const Detected i = Detect(invite, Ep("203.0.113.9:1025"));
  EXPECT_FALSE(i.verdict.natted);
  EXPECT_THAT(i.reasons, ElementsAre("via_rport_requested"));
}

// Row: IPv6 phone (global addresses): no NAT.
TEST(NatDetectorTest, Ipv6Phone) {
  const std::string invite = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP [2001:db8:1::20]:5060;branch=z9hG4bK.Ab3xYz9Q1;rport
From: <sip:erin@sip.example.com>;tag=Zx9f2aQq
To: sip:bob@sip.example.com
CSeq: 20 INVITE
Call-ID: kT0uMhJ0aV
Max-Forwards: 70
Supported: replaces, outbound, gruu
Content-Type: application/sdp
Contact: <sip:erin@[2001:db8:1::20]:5060;transport=udp>;+sip.instance="<urn:uuid:9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d>"
User-Agent: Linphone-Desktop/5.2.0 (erin-laptop) Debian GNU/Linux 12, Qt 5.15.8 LinphoneCore/5.3.0
)",
                                     SdpText(R"(
v=0
o=erin 3217 1459 IN IP6 2001:db8:1::20
s=Talk
c=IN IP6 2001:db8:1::20
t=0 0
m=audio 7078 RTP/AVP 96 97 0 8 101
a=rtpmap:96 opus/48000/2
a=rtpmap:101 telephone-event/8000
)"));
  const Detected d = Detect(invite, Ep("[2001:db8:1::20]:5060"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_THAT(d.reasons, ElementsAre("via_rport_requested"));

  // The same phone seen from another IPv6 address (e.g. privacy address
  // change between SIP and the socket) is a mismatch like any other.
  const Detected moved = Detect(invite, Ep("[2001:db8:1::99]:5060"));
  EXPECT_TRUE(moved.verdict.natted);
  EXPECT_TRUE(moved.verdict.reasons.Has(NatReason::kViaHostDiffersFromSource));
  EXPECT_FALSE(moved.verdict.reasons.Has(NatReason::kViaInside));
}

// Row: carrier-grade NAT. A handset directly in the CGN's 100.64/10 (inside
// by default), and a home LAN behind a CGN (double NAT).
TEST(NatDetectorTest, CarrierGradeNat) {
  const std::string handset = SipText(R"(
REGISTER sip:sip.example.com SIP/2.0
Via: SIP/2.0/UDP 100.64.12.34:5060;branch=z9hG4bK.q7W2e9R4t;rport
From: <sip:ivan@sip.example.com>;tag=Kp3Lm8Nq
To: sip:ivan@sip.example.com
CSeq: 20 REGISTER
Call-ID: Hs8dK2jLq0
Max-Forwards: 70
Supported: replaces, outbound, gruu
Contact: <sip:ivan@100.64.12.34;transport=udp>;expires=600
User-Agent: LinphoneAndroid/5.1.2 (Pixel 7) LinphoneSDK/5.3.0
)");
  const Detected d = Detect(handset, Ep("198.51.100.33:40212"));
  EXPECT_TRUE(d.verdict.natted);
  EXPECT_TRUE(d.verdict.reasons.Has(NatReason::kViaInside));
  EXPECT_TRUE(d.verdict.reasons.Has(NatReason::kContactInside));
  EXPECT_TRUE(d.verdict.reasons.Has(NatReason::kViaPortDiffersFromSource));

  // Home LAN behind the CGN: the inside LAN address is what shows.
  const Detected home = Detect(kBaresipRegister, Ep("198.51.100.33:1033"));
  EXPECT_TRUE(home.verdict.natted);
  EXPECT_TRUE(home.verdict.reasons.Has(NatReason::kViaInside));

  // Without 100.64/10 in the inside list the handset is still NAT'd by
  // the sent-by comparison alone.
  auto m = SipMessage::Parse(handset);
  ASSERT_TRUE(m.ok());
  const NatVerdict bare = DetectNat(*m, Ep("198.51.100.33:40212"), InsidePrefixes());
  EXPECT_TRUE(bare.natted);
  EXPECT_FALSE(bare.reasons.Has(NatReason::kViaInside));
}

// ---- edges of rule 1 ----

TEST(NatDetectorTest, ResponseTestsContactAndSdpButNotOurVia) {
  const std::string ok = SipText(R"(
SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-relay-1;received=203.0.113.1
From: "Alice" <sip:alice@sip.example.com>;tag=0qzd3k6w1e
To: <sip:bob@sip.example.com>;tag=1f2e3d4c
Call-ID: 2b5e9f0a7c41-m3v8r1q6t2x9
CSeq: 2 INVITE
Contact: <sip:bob@192.0.2.40:5062>
User-Agent: Yealink SIP-T54W 96.86.0.70
Content-Type: application/sdp
)",
                                 SdpText(R"(
v=0
o=- 20040 20040 IN IP4 192.0.2.40
s=SDP data
c=IN IP4 192.0.2.40
t=0 0
m=audio 12000 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
a=sendrecv
)"));
  const Detected d = Detect(ok, Ep("203.0.113.9:5062"));
  EXPECT_TRUE(d.verdict.natted);
  EXPECT_FALSE(d.verdict.reasons.Has(NatReason::kViaHostDiffersFromSource));
  EXPECT_FALSE(d.verdict.reasons.Has(NatReason::kViaPortDiffersFromSource));
  EXPECT_TRUE(d.verdict.reasons.Has(NatReason::kContactInside));
  EXPECT_TRUE(d.verdict.reasons.Has(NatReason::kSdpInside));
}

TEST(NatDetectorTest, PhoneOnOurOwnInsideNetworkIsNotNatd) {
  // The packet came from the inside address itself: no NAT in between.
  const Detected d = Detect(kYealinkInvite, Ep("192.0.2.20:5060"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_THAT(d.reasons, ElementsAre("via_rport_requested"));
}

TEST(NatDetectorTest, SentByNameDiffersFromAnySource) {
  const std::string reg =
      Replace(kBaresipRegister, "192.0.2.30:45123;branch", "pc.example.com:5060;branch");
  const Detected d = Detect(reg, Ep("198.51.100.30:5060"));
  EXPECT_TRUE(d.verdict.natted);
  EXPECT_TRUE(d.verdict.reasons.Has(NatReason::kViaHostDiffersFromSource));
  EXPECT_FALSE(d.verdict.reasons.Has(NatReason::kViaPortDiffersFromSource));
  EXPECT_FALSE(d.verdict.reasons.Has(NatReason::kViaInside));
}

TEST(NatDetectorTest, TcpSourcePortIsNotCompared) {
  const std::string reg = SipText(R"(
REGISTER sip:sip.example.com;transport=tcp SIP/2.0
Via: SIP/2.0/TCP 198.51.100.7:5060;branch=z9hG4bK-tcp-1;rport
From: <sip:frank@sip.example.com>;tag=t1
To: <sip:frank@sip.example.com>
Call-ID: tcp-reg-1@198.51.100.7
CSeq: 1 REGISTER
Contact: <sip:frank@198.51.100.7:5060;transport=tcp>
User-Agent: baresip v2.9.0 (x86_64/linux)
)");
  const Detected d = Detect(reg, Ep("198.51.100.7:49152"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_FALSE(d.verdict.reasons.Has(NatReason::kViaPortDiffersFromSource));
}

TEST(NatDetectorTest, HoldAddressIsIgnored) {
  // A re-INVITE putting the call on hold RFC 2543 style, from a public
  // phone: 0.0.0.0 is neither inside nor "differs from the source".
  const std::string invite = SipText(
      Replace(Replace(kYealinkInviteHead, "192.0.2.20:5060;branch", "198.51.100.20:5060;branch"),
              "carol@192.0.2.20:5060", "carol@198.51.100.20:5060"),
      Replace(Replace(kYealinkSdp, "c=IN IP4 192.0.2.20", "c=IN IP4 0.0.0.0"),
              "IN IP4 192.0.2.20", "IN IP4 0.0.0.0"));
  const Detected d = Detect(invite, Ep("198.51.100.20:5060"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_THAT(d.reasons, ElementsAre("via_rport_requested"));
  auto m = SipMessage::Parse(invite);
  ASSERT_TRUE(m.ok()) << m.status();
  auto sdp = ParseSdpAddresses(m->body());
  ASSERT_TRUE(sdp.ok()) << sdp.status();
  EXPECT_TRUE(sdp->ConnectionAddresses().empty());
  EXPECT_TRUE(sdp->origin->is_unspecified());
}

TEST(NatDetectorTest, StarContactIsSkipped) {
  const std::string reg = Replace(
      kBaresipRegister, "Contact: <sip:dave-0x55d0a1@192.0.2.30:45123>;expires=3600",
      "Contact: *");
  const Detected d = Detect(reg, Ep("192.0.2.30:45123"));
  EXPECT_FALSE(d.verdict.natted);
  EXPECT_THAT(d.reasons, ElementsAre("via_rport_requested"));
}

// ---- never crash (ASan/UBSan in CI) ----

TEST(NatDetectorFuzzTest, MutatedInvitesAndSdpNeverCrash) {
  const std::vector<std::string> tokens = {
      "\r\n", "c=IN IP4 ", "c=IN IP6 ", "m=audio ", "o=- 1 1 IN IP4 ", " ", "/", "::",
      "0.0.0.0", "192.0.2.", "[", "]", ";", "=", "<", ">", "\xff", "99999999999"};
  std::mt19937 rng(7362);  // RFC 7362, fixed so failures reproduce
  const InsidePrefixes inside = TestBedInside();
  int sdp_ok = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string sdp = kYealinkSdp;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !sdp.empty(); ++e) {
      const size_t at = rng() % sdp.size();
      switch (rng() % 4) {
        case 0: sdp[at] = static_cast<char>(rng() % 256); break;
        case 1: sdp.erase(at, 1 + rng() % 12); break;
        case 2: sdp.insert(at, tokens[rng() % tokens.size()]); break;
        case 3: sdp.resize(at); break;
      }
    }
    auto parsed = ParseSdpAddresses(sdp);
    if (parsed.ok()) {
      ++sdp_ok;
      (void)parsed->ConnectionAddresses();
    }
    const std::string invite = SipText(R"(
INVITE sip:bob@sip.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK1437937713;rport
From: "Carol" <sip:carol@sip.example.com>;tag=1822417232
To: <sip:bob@sip.example.com>
Call-ID: 1830125426@192.0.2.20
CSeq: 2 INVITE
Contact: <sip:carol@192.0.2.20:5060>
Content-Type: application/sdp
)",
                                       sdp);
    auto m = SipMessage::Parse(invite);
    if (!m.ok()) continue;
    const NatVerdict v = DetectNat(*m, Ep("203.0.113.9:5060"), inside);
    EXPECT_TRUE(v.natted);  // the SIP part alone says so
    (void)v.reasons.ToString();
  }
  EXPECT_GT(sdp_ok, 200);
}

}  // namespace
}  // namespace rtplatch
