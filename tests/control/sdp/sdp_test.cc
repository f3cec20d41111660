// The SDP parser and rewriter on real phones' offers: what ParseSdp reads,
// how RewriteSdp puts the relay in the media path (c=, m=, a=rtcp, o=),
// what it must leave alone (hold, rejected streams, every other line and
// the line endings), and that hostile bodies give errors, not crashes.
//
// Test bed addressing: 192.168.0.0/16 and 10.0.0.0/8 are phones behind NAT,
// 203.0.113.0/24 is the relay (and 203.0.113.7 a NAT's public address),
// 2001:db8::/32 is IPv6.
#include "control/sdp/sdp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "tests/control/sip/sip_text.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Direction = SdpMediaDescription::Direction;
using testing::SdpText;

IpAddress Ip(absl::string_view text) { return *IpAddress::Parse(text); }

std::optional<RelayLeg> Leg(absl::string_view ip, uint16_t rtp, uint16_t rtcp) {
  return RelayLeg{Ip(ip), rtp, rtcp};
}

std::string Lf(absl::string_view crlf) { return absl::StrReplaceAll(crlf, {{"\r\n", "\n"}}); }

std::vector<std::string> Lines(absl::string_view body) {
  return absl::StrSplit(body, "\r\n", absl::SkipEmpty());
}

// Rewrites, expecting success.
std::string Rewrite(absl::string_view body, std::vector<std::optional<RelayLeg>> legs,
                    uint64_t version = 2) {
  auto out = RewriteSdp(body, SdpRewrite{std::move(legs), version});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

SdpSession Parse(absl::string_view body) {
  auto s = ParseSdp(body);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : SdpSession{};
}

// ---- real phones' SDP ----

// Linphone 5 desktop: session c=, audio + video, no a=rtcp.
const std::string kLinphoneOffer = SdpText(R"(
v=0
o=alice 3107 1446 IN IP4 192.168.1.23
s=Talk
c=IN IP4 192.168.1.23
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
m=video 9078 RTP/AVP 96 97
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42801F
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
a=rtcp-fb:96 nack pli
a=rtcp-fb:96 ccm fir
a=rtcp-fb:97 nack pli
a=rtcp-fb:97 ccm fir
)");

// Polycom VVX: RTCP announced explicitly (RFC 3605 long form).
const std::string kPolycomOffer = SdpText(R"(
v=0
o=- 1619712355 1619712355 IN IP4 10.0.0.50
s=Polycom IP Phone
c=IN IP4 10.0.0.50
t=0 0
a=sendrecv
m=audio 2222 RTP/AVP 9 102 0 8 18 127
a=rtpmap:9 G722/8000
a=rtpmap:102 G7221/16000
a=fmtp:102 bitrate=32000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:127 telephone-event/8000
a=rtcp:2223 IN IP4 10.0.0.50
)");

// Yealink T46: only a session-level c=, direction at media level.
const std::string kYealinkOffer = SdpText(R"(
v=0
o=- 20023 20023 IN IP4 192.168.1.105
s=SDP data
c=IN IP4 192.168.1.105
t=0 0
m=audio 11790 RTP/AVP 0 8 18 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:9 G722/8000
a=fmtp:101 0-15
a=rtpmap:101 telephone-event/8000
a=ptime:20
a=sendrecv
)");

// baresip over IPv6 with rtcp-mux.
const std::string kBaresipIpv6Offer = SdpText(R"(
v=0
o=- 1947516394 3236457106 IN IP6 2001:db8:10::10
s=-
c=IN IP6 2001:db8:10::10
t=0 0
m=audio 10384 RTP/AVP 96 0 8 101
b=AS:128
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp-mux
a=sendrecv
a=label:1
a=ssrc:3870245171 cname:3d8b1c6e-5a2f-4e8a-b1f5-a3c1e4a0b5f7
a=mid:0
)");

// sipp's built-in uac scenario.
const std::string kSippOffer = SdpText(R"(
v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
)");

// A SIP ALG rewrote c= to the NAT's public address but left m=, a=rtcp and
// o= pointing inside.
const std::string kBrokenAlgOffer = SdpText(R"(
v=0
o=- 8000 8001 IN IP4 192.168.0.10
s=-
c=IN IP4 203.0.113.7
t=0 0
m=audio 5004 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=rtcp:5005 IN IP4 192.168.0.10
a=sendrecv
)");

// ---- ParseSdp ----

TEST(ParseSdpTest, LinphoneOfferAudioAndVideo) {
  const SdpSession s = Parse(kLinphoneOffer);
  EXPECT_EQ(s.origin_username, "alice");
  EXPECT_EQ(s.session_id, 3107u);
  EXPECT_EQ(s.version, 1446u);
  EXPECT_EQ(s.origin_address, Ip("192.168.1.23"));
  ASSERT_EQ(s.media.size(), 2u);
  EXPECT_EQ(s.media[0].media, "audio");
  EXPECT_EQ(s.media[0].port, 7078);
  EXPECT_EQ(s.media[0].proto, "RTP/AVP");
  EXPECT_EQ(s.media[0].connection, Ip("192.168.1.23"));
  EXPECT_FALSE(s.media[0].connection_is_hold);
  EXPECT_FALSE(s.media[0].ipv6);
  EXPECT_EQ(s.media[0].rtcp_port, std::nullopt);
  EXPECT_FALSE(s.media[0].rtcp_mux);  // a=rtcp-fb / a=rtcp-xr are not rtcp
  EXPECT_EQ(s.media[0].direction, Direction::kSendRecv);
  EXPECT_EQ(s.media[1].media, "video");
  EXPECT_EQ(s.media[1].port, 9078);
  EXPECT_EQ(s.media[1].connection, Ip("192.168.1.23"));
}

TEST(ParseSdpTest, PolycomRtcpLongForm) {
  const SdpSession s = Parse(kPolycomOffer);
  EXPECT_EQ(s.origin_username, "-");
  EXPECT_EQ(s.session_id, 1619712355u);
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].port, 2222);
  EXPECT_EQ(s.media[0].rtcp_port, 2223);
  EXPECT_EQ(s.media[0].rtcp_address, Ip("10.0.0.50"));
  EXPECT_EQ(s.media[0].direction, Direction::kSendRecv);  // session level
}

TEST(ParseSdpTest, RtcpShortForm) {
  const SdpSession s = Parse(SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 4000 RTP/AVP 0
a=rtcp:4100
)"));
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].rtcp_port, 4100);
  EXPECT_EQ(s.media[0].rtcp_address, std::nullopt);
}

TEST(ParseSdpTest, YealinkSessionLevelConnectionIsInherited) {
  const SdpSession s = Parse(kYealinkOffer);
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].connection, Ip("192.168.1.105"));
  EXPECT_EQ(s.media[0].port, 11790);
}

TEST(ParseSdpTest, BaresipIpv6WithRtcpMux) {
  const SdpSession s = Parse(kBaresipIpv6Offer);
  EXPECT_EQ(s.session_id, 1947516394u);
  EXPECT_EQ(s.version, 3236457106u);
  EXPECT_EQ(s.origin_address, Ip("2001:db8:10::10"));
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_TRUE(s.media[0].ipv6);
  EXPECT_EQ(s.media[0].connection, Ip("2001:db8:10::10"));
  EXPECT_TRUE(s.media[0].rtcp_mux);
  EXPECT_EQ(s.media[0].rtcp_port, std::nullopt);
}

TEST(ParseSdpTest, MediaLevelConnectionAndDirectionOverrideSession) {
  const SdpSession s = Parse(SdpText(R"(
v=0
o=- 1 1 IN IP4 192.168.1.2
s=-
c=IN IP4 192.168.1.2
t=0 0
a=recvonly
m=audio 4000 RTP/SAVP 0
c=IN IP4 192.168.1.3
a=inactive
m=video 4002 RTP/AVP 96
)"));
  ASSERT_EQ(s.media.size(), 2u);
  EXPECT_EQ(s.media[0].proto, "RTP/SAVP");
  EXPECT_EQ(s.media[0].connection, Ip("192.168.1.3"));
  EXPECT_EQ(s.media[0].direction, Direction::kInactive);
  EXPECT_EQ(s.media[1].connection, Ip("192.168.1.2"));
  EXPECT_EQ(s.media[1].direction, Direction::kRecvOnly);
}

TEST(ParseSdpTest, HoldAddressesBothFamilies) {
  const SdpSession s = Parse(SdpText(R"(
v=0
o=- 1 2 IN IP4 192.168.1.2
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 4000 RTP/AVP 0
a=sendonly
m=audio 4002 RTP/AVP 0
c=IN IP6 ::
)"));
  ASSERT_EQ(s.media.size(), 2u);
  EXPECT_TRUE(s.media[0].connection_is_hold);
  EXPECT_EQ(s.media[0].connection, Ip("0.0.0.0"));
  EXPECT_EQ(s.media[0].direction, Direction::kSendOnly);
  EXPECT_TRUE(s.media[1].connection_is_hold);
  EXPECT_TRUE(s.media[1].ipv6);
}

TEST(ParseSdpTest, FqdnConnectionIsNotAnError) {
  const SdpSession s = Parse(SdpText(R"(
v=0
o=- 1 1 IN IP4 pbx.example.com
s=-
c=IN IP4 media.example.com
t=0 0
m=audio 4000 RTP/AVP 0
)"));
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].connection, std::nullopt);
  EXPECT_FALSE(s.media[0].connection_is_hold);
  EXPECT_EQ(s.origin_address, std::nullopt);
}

TEST(ParseSdpTest, MissingOriginReadsAsVersionZero) {
  const SdpSession s = Parse("v=0\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
  EXPECT_EQ(s.version, 0u);
  EXPECT_EQ(s.origin_username, "");
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].connection, Ip("10.0.0.1"));
}

TEST(ParseSdpTest, MulticastTtlSuffixAndPortCount) {
  const SdpSession s = Parse(SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
c=IN IP4 224.2.36.42/127
t=0 0
m=audio 49170/2 RTP/AVP 0
)"));
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].port, 49170);
  EXPECT_EQ(s.media[0].connection, Ip("224.2.36.42"));
}

TEST(ParseSdpTest, UnknownLinesAndTrailingBlankLineAreTolerated) {
  const SdpSession s = Parse(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nx=vendor thing\r\nt=0 0\r\n"
      "m=audio 4000 RTP/AVP 0\r\na=x-custom\r\n\r\n");
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].port, 4000);
}

TEST(ParseSdpTest, UnterminatedLastLine) {
  const SdpSession s = Parse("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
                             "t=0 0\r\nm=audio 4000 RTP/AVP 0");
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].port, 4000);
}

// ---- RewriteSdp ----

constexpr char kRelay4[] = "203.0.113.1";
constexpr char kRelay6[] = "2001:db8::1";

TEST(RewriteSdpTest, SippOfferExactly) {
  EXPECT_EQ(Rewrite(kSippOffer, {Leg(kRelay4, 30000, 30001)}, 2353687638u),
            SdpText(R"(
v=0
o=user1 53655765 2353687638 IN IP4 203.0.113.1
s=-
c=IN IP4 203.0.113.1
t=0 0
m=audio 30000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
)"));
}

TEST(RewriteSdpTest, PolycomRtcpLongFormPointsAtRelay) {
  const std::string out = Rewrite(kPolycomOffer, {Leg(kRelay4, 30000, 30001)}, 1619712356u);
  const std::vector<std::string> lines = Lines(out);
  const std::vector<std::string> original = Lines(kPolycomOffer);
  ASSERT_EQ(lines.size(), original.size());
  EXPECT_EQ(lines[1], "o=- 1619712355 1619712356 IN IP4 203.0.113.1");
  EXPECT_EQ(lines[3], "c=IN IP4 203.0.113.1");
  EXPECT_EQ(lines[6], "m=audio 30000 RTP/AVP 9 102 0 8 18 127");
  EXPECT_EQ(lines.back(), "a=rtcp:30001 IN IP4 203.0.113.1");
  for (size_t i : {0, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14}) {
    EXPECT_EQ(lines[i], original[i]) << i;
  }
}

TEST(RewriteSdpTest, RtcpShortFormStaysShort) {
  const std::string out = Rewrite(SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 4000 RTP/AVP 0
a=rtcp:4100
a=sendrecv
)"), {Leg(kRelay4, 30000, 30001)});
  EXPECT_THAT(out, HasSubstr("\r\na=rtcp:30001\r\na=sendrecv\r\n"));
}

TEST(RewriteSdpTest, AddsRtcpWhenNotRtpPlusOne) {
  const std::string out = Rewrite(kYealinkOffer, {Leg(kRelay4, 30000, 30007)});
  EXPECT_THAT(out, HasSubstr("a=ptime:20\r\na=sendrecv\r\na=rtcp:30007\r\n"));
  EXPECT_EQ(Parse(out).media[0].rtcp_port, 30007);
}

TEST(RewriteSdpTest, NoRtcpAddedWhenRtpPlusOne) {
  const std::string out = Rewrite(kYealinkOffer, {Leg(kRelay4, 30000, 30001)});
  EXPECT_THAT(out, ::testing::Not(HasSubstr("a=rtcp:")));
  EXPECT_EQ(Lines(out).size(), Lines(kYealinkOffer).size());
}

TEST(RewriteSdpTest, NoRtcpAddedWithRtcpMux) {
  const std::string out = Rewrite(kBaresipIpv6Offer, {Leg(kRelay6, 30000, 30000)});
  EXPECT_THAT(out, ::testing::Not(HasSubstr("a=rtcp:")));
  EXPECT_THAT(out, HasSubstr("\r\na=rtcp-mux\r\n"));
}

TEST(RewriteSdpTest, PortCountSuffixKept) {
  const std::string out = Rewrite(SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 4000/2 RTP/AVP 0
)"), {Leg(kRelay4, 30000, 30001)});
  EXPECT_THAT(out, HasSubstr("\r\nm=audio 30000/2 RTP/AVP 0\r\n"));
}

TEST(RewriteSdpTest, OriginKeepsUsernameAndSessionId) {
  const std::string out = Rewrite(kLinphoneOffer, {Leg(kRelay4, 30000, 30001),
                                                   Leg(kRelay4, 30002, 30003)},
                                  1447);
  const SdpSession s = Parse(out);
  EXPECT_EQ(s.origin_username, "alice");
  EXPECT_EQ(s.session_id, 3107u);
  EXPECT_EQ(s.version, 1447u);
  EXPECT_EQ(s.origin_address, Ip(kRelay4));
  EXPECT_EQ(Lines(out)[1], "o=alice 3107 1447 IN IP4 203.0.113.1");
}

TEST(RewriteSdpTest, LinphoneEveryOtherLineUntouched) {
  const std::string out = Rewrite(kLinphoneOffer, {Leg(kRelay4, 30000, 30001),
                                                   Leg(kRelay4, 30002, 30003)});
  const std::vector<std::string> lines = Lines(out);
  const std::vector<std::string> original = Lines(kLinphoneOffer);
  ASSERT_EQ(lines.size(), original.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const char type = original[i][0];
    if (type == 'o' || type == 'c' || type == 'm') continue;
    EXPECT_EQ(lines[i], original[i]) << i;
  }
  EXPECT_EQ(lines[3], "c=IN IP4 203.0.113.1");
  EXPECT_EQ(lines[6], "m=audio 30000 RTP/AVP 96 97 98 0 8 18 101 99 100");
  EXPECT_EQ(lines[19], "m=video 30002 RTP/AVP 96 97");
}

TEST(RewriteSdpTest, AudioAndVideoGetTheirOwnPortsAndAddresses) {
  // Video relayed on another address: it gets its own c= after its m=.
  const std::string out = Rewrite(kLinphoneOffer, {Leg(kRelay4, 30000, 30001),
                                                   Leg("203.0.113.2", 40000, 40001)});
  EXPECT_THAT(out, HasSubstr("\r\nm=video 40000 RTP/AVP 96 97\r\nc=IN IP4 203.0.113.2\r\n"
                             "a=rtpmap:96 VP8/90000\r\n"));
  const SdpSession s = Parse(out);
  ASSERT_EQ(s.media.size(), 2u);
  EXPECT_EQ(s.media[0].connection, Ip(kRelay4));
  EXPECT_EQ(s.media[0].port, 30000);
  EXPECT_EQ(s.media[1].connection, Ip("203.0.113.2"));
  EXPECT_EQ(s.media[1].port, 40000);
}

TEST(RewriteSdpTest, AddedConnectionGoesAfterMediaTitle) {
  const std::string out = Rewrite(SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 4000 RTP/AVP 0
m=video 4002 RTP/AVP 96
i=main camera
b=AS:512
)"), {Leg(kRelay4, 30000, 30001), Leg(kRelay6, 30002, 30003)});
  EXPECT_THAT(out, HasSubstr("\r\nm=video 30002 RTP/AVP 96\r\ni=main camera\r\n"
                             "c=IN IP6 2001:db8::1\r\nb=AS:512\r\n"));
}

TEST(RewriteSdpTest, MediaLevelConnectionsRewritten) {
  const std::string out = Rewrite(SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
t=0 0
m=audio 4000 RTP/AVP 0
c=IN IP4 10.0.0.5
m=video 4002 RTP/AVP 96
c=IN IP4 10.0.0.5
)"), {Leg(kRelay4, 30000, 30001), Leg("203.0.113.2", 30002, 30003)});
  EXPECT_EQ(out, SdpText(R"(
v=0
o=- 1 2 IN IP4 203.0.113.1
s=-
t=0 0
m=audio 30000 RTP/AVP 0
c=IN IP4 203.0.113.1
m=video 30002 RTP/AVP 96
c=IN IP4 203.0.113.2
)"));
}

TEST(RewriteSdpTest, NoConnectionAnywhereGetsOne) {
  const std::string out =
      Rewrite("v=0\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n", {Leg(kRelay4, 30000, 30001)});
  EXPECT_EQ(out, "v=0\ns=-\nt=0 0\nm=audio 30000 RTP/AVP 0\nc=IN IP4 203.0.113.1\n");
}

TEST(RewriteSdpTest, SessionHoldKept) {
  const std::string held = SdpText(R"(
v=0
o=- 20023 20024 IN IP4 192.168.1.105
s=SDP data
c=IN IP4 0.0.0.0
t=0 0
m=audio 11790 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=sendonly
)");
  const std::string out = Rewrite(held, {Leg(kRelay4, 30000, 30001)}, 20025);
  const std::vector<std::string> lines = Lines(out);
  EXPECT_EQ(lines[3], "c=IN IP4 0.0.0.0");
  EXPECT_EQ(lines[5], "m=audio 30000 RTP/AVP 0 8 101");
  EXPECT_EQ(lines.back(), "a=sendonly");
  EXPECT_EQ(lines.size(), Lines(held).size());  // no c= added for the held stream
  const SdpSession s = Parse(out);
  EXPECT_TRUE(s.media[0].connection_is_hold);
  EXPECT_EQ(s.media[0].direction, Direction::kSendOnly);
  EXPECT_EQ(s.origin_address, Ip(kRelay4));
}

TEST(RewriteSdpTest, MediaHoldKeptOtherStreamRelayed) {
  const std::string out = Rewrite(SdpText(R"(
v=0
o=- 1 1 IN IP6 2001:db8:10::10
s=-
c=IN IP6 2001:db8:10::10
t=0 0
m=audio 4000 RTP/AVP 0
c=IN IP6 ::
a=inactive
m=video 4002 RTP/AVP 96
)"), {Leg(kRelay6, 30000, 30001), Leg(kRelay6, 30002, 30003)});
  EXPECT_EQ(out, SdpText(R"(
v=0
o=- 1 2 IN IP6 2001:db8::1
s=-
c=IN IP6 2001:db8::1
t=0 0
m=audio 30000 RTP/AVP 0
c=IN IP6 ::
a=inactive
m=video 30002 RTP/AVP 96
)"));
}

TEST(RewriteSdpTest, RejectedStreamUntouched) {
  const std::string offer = SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 4000 RTP/AVP 0
m=video 0 RTP/AVP 96
c=IN IP4 10.0.0.5
a=rtcp:4003
)");
  // A leg given for the rejected stream is ignored: the phone's 0 stands.
  for (std::optional<RelayLeg> video : {std::optional<RelayLeg>(),
                                        Leg(kRelay4, 0, 0), Leg(kRelay4, 30002, 30003)}) {
    const std::string out = Rewrite(offer, {Leg(kRelay4, 30000, 30001), video});
    EXPECT_THAT(out, HasSubstr("\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 10.0.0.5\r\n"
                               "a=rtcp:4003\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nm=audio 30000 RTP/AVP 0\r\n"));
  }
}

TEST(RewriteSdpTest, UnrelayedStreamKeepsInheritedAddress) {
  // No leg for the second stream: it must still point at the phone, so it
  // gets a copy of the session c= the rewrite replaced.
  const std::string out = Rewrite(SdpText(R"(
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 4000 RTP/AVP 0
m=application 5000 UDP/BFCP *
a=floorctrl:c-s
)"), {Leg(kRelay4, 30000, 30001), std::nullopt});
  EXPECT_THAT(out, HasSubstr("\r\nm=application 5000 UDP/BFCP *\r\nc=IN IP4 10.0.0.5\r\n"
                             "a=floorctrl:c-s\r\n"));
  const SdpSession s = Parse(out);
  EXPECT_EQ(s.media[0].connection, Ip(kRelay4));
  EXPECT_EQ(s.media[1].connection, Ip("10.0.0.5"));
  EXPECT_EQ(s.media[1].port, 5000);
}

TEST(RewriteSdpTest, NoLegsOnlyBumpsVersion) {
  const std::string out = Rewrite(kSippOffer, {std::nullopt}, 2353687638u);
  EXPECT_EQ(out, absl::StrReplaceAll(kSippOffer, {{"2353687637", "2353687638"}}));
}

TEST(RewriteSdpTest, LfOnlyBodyStaysLf) {
  const std::string lf = Lf(kYealinkOffer);
  const std::string out = Rewrite(lf, {Leg(kRelay4, 30000, 30007)});
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out, Lf(Rewrite(kYealinkOffer, {Leg(kRelay4, 30000, 30007)})));
  EXPECT_THAT(out, HasSubstr("\na=sendrecv\na=rtcp:30007\n"));
}

TEST(RewriteSdpTest, CrlfBodyStaysCrlf) {
  const std::string out = Rewrite(kLinphoneOffer, {Leg(kRelay4, 30000, 30001),
                                                   Leg(kRelay6, 30002, 30005)});
  size_t crlf = 0, lf = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '\n') continue;
    ++lf;
    if (i > 0 && out[i - 1] == '\r') ++crlf;
  }
  EXPECT_EQ(lf, crlf);
  EXPECT_EQ(lf, Lines(kLinphoneOffer).size() + 2);  // c= and a=rtcp added for video
}

TEST(RewriteSdpTest, UnterminatedLastLineStaysUnterminated) {
  const std::string body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
                           "t=0 0\r\nm=audio 4000 RTP/AVP 0";
  EXPECT_EQ(Rewrite(body, {Leg(kRelay4, 30000, 30001)}),
            "v=0\r\no=- 1 2 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\n"
            "t=0 0\r\nm=audio 30000 RTP/AVP 0");
  EXPECT_EQ(Rewrite(body, {Leg(kRelay4, 30000, 30009)}),
            "v=0\r\no=- 1 2 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\n"
            "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtcp:30009");
}

TEST(RewriteSdpTest, Ipv6RelayForIpv4OfferSwitchesFamily) {
  const std::string out = Rewrite(kPolycomOffer, {Leg(kRelay6, 30000, 30001)});
  const std::vector<std::string> lines = Lines(out);
  EXPECT_EQ(lines[1], "o=- 1619712355 2 IN IP6 2001:db8::1");
  EXPECT_EQ(lines[3], "c=IN IP6 2001:db8::1");
  EXPECT_EQ(lines.back(), "a=rtcp:30001 IN IP6 2001:db8::1");
  const SdpSession s = Parse(out);
  EXPECT_TRUE(s.media[0].ipv6);
  EXPECT_EQ(s.media[0].connection, Ip(kRelay6));
  EXPECT_EQ(s.media[0].rtcp_address, Ip(kRelay6));
}

TEST(RewriteSdpTest, Ipv4RelayForIpv6Offer) {
  const std::string out = Rewrite(kBaresipIpv6Offer, {Leg(kRelay4, 30000, 30000)});
  const std::vector<std::string> lines = Lines(out);
  EXPECT_EQ(lines[1], "o=- 1947516394 2 IN IP4 203.0.113.1");
  EXPECT_EQ(lines[3], "c=IN IP4 203.0.113.1");
  EXPECT_FALSE(Parse(out).media[0].ipv6);
}

TEST(RewriteSdpTest, BrokenAlgOfferFullyRepaired) {
  const std::string out = Rewrite(kBrokenAlgOffer, {Leg(kRelay4, 30000, 30001)}, 8002);
  EXPECT_THAT(out, ::testing::Not(HasSubstr("192.168.0.10")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("203.0.113.7")));
  const SdpSession s = Parse(out);
  EXPECT_EQ(s.origin_address, Ip(kRelay4));
  EXPECT_EQ(s.version, 8002u);
  EXPECT_EQ(s.media[0].connection, Ip(kRelay4));
  EXPECT_EQ(s.media[0].port, 30000);
  EXPECT_EQ(s.media[0].rtcp_port, 30001);
  EXPECT_EQ(s.media[0].rtcp_address, Ip(kRelay4));
}

TEST(RewriteSdpTest, LegCountMustMatchMediaLines) {
  for (size_t n : {0, 1, 3}) {
    std::vector<std::optional<RelayLeg>> legs(n, Leg(kRelay4, 30000, 30001));
    auto out = RewriteSdp(kLinphoneOffer, SdpRewrite{legs, 2});
    ASSERT_FALSE(out.ok()) << n;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(out.status().message()),
                HasSubstr(absl::StrCat(n, " relay legs for 2 m= lines")));
  }
}

TEST(RewriteSdpTest, RelayLegWithoutAddressOrRtcpRefused) {
  for (const std::optional<RelayLeg>& leg :
       {Leg("0.0.0.0", 30000, 30001), Leg("::", 30000, 30001), Leg(kRelay4, 30000, 0)}) {
    auto out = RewriteSdp(kSippOffer, SdpRewrite{{leg}, 2});
    ASSERT_FALSE(out.ok());
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("relay leg 0 (m=audio)"));
  }
}

// ---- malformed input ----

struct BadSdp {
  const char* name;
  std::string body;
  const char* error;
};

std::string WithMediaLines(size_t n) {
  std::string body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n";
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&body, "m=audio ", 4000 + 2 * i, " RTP/AVP 0\r\n");
  }
  return body;
}

std::string Head(absl::string_view rest) {
  return absl::StrCat("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n", rest);
}

class MalformedSdpTest : public ::testing::TestWithParam<BadSdp> {};

TEST_P(MalformedSdpTest, IsAnInvalidArgumentNamingTheProblem) {
  const BadSdp& bad = GetParam();
  for (const auto& result :
       {ParseSdp(bad.body).status(),
        RewriteSdp(bad.body, SdpRewrite{{Leg(kRelay4, 30000, 30001)}, 2}).status()}) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.message()), StartsWith("SDP: "));
    EXPECT_THAT(std::string(result.message()), HasSubstr(bad.error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSdpTest,
    ::testing::Values(
        BadSdp{"Empty", "", "empty body"},
        BadSdp{"OnlyNewlines", "\r\n\r\n", "empty body"},
        BadSdp{"BinaryJunk", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
               "NUL byte"},
        BadSdp{"BinaryJunkNoNul", "\x80\xff\xfe junk\r\n", "not a <type>=<value> line"},
        BadSdp{"NotSdp", "INVITE sip:bob@example.com SIP/2.0\r\n", "line 1"},
        BadSdp{"MissingVersionFirst", "o=- 1 1 IN IP4 10.0.0.1\r\nv=0\r\n",
               "must start with v="},
        BadSdp{"LineWithoutEquals", Head("m=audio 4000 RTP/AVP 0\r\nrtpmap 0 PCMU\r\n"),
               "line 6 'rtpmap 0 PCMU': not a <type>=<value> line"},
        BadSdp{"LongTypeName", Head("ab=c\r\n"), "not a <type>=<value> line"},
        BadSdp{"TruncatedMediaLine", Head("m=aud"), "m= needs"},
        BadSdp{"MediaWithoutProto", Head("m=audio 4000\r\n"), "m= needs"},
        BadSdp{"HugePort", Head("m=audio 99999 RTP/AVP 0\r\n"),
               "line 5 'm=audio 99999 RTP/AVP 0': port"},
        BadSdp{"VeryHugePort", Head("m=audio 184467440737095516160000 RTP/AVP 0\r\n"),
               "port"},
        BadSdp{"NonNumericPort", Head("m=audio abc RTP/AVP 0\r\n"), "port"},
        BadSdp{"NegativePort", Head("m=audio -4000 RTP/AVP 0\r\n"), "port"},
        BadSdp{"ZeroPortCount", Head("m=audio 4000/0 RTP/AVP 0\r\n"), "bad port count"},
        BadSdp{"BadIpv4InConnection", Head("c=IN IP4 999.1.1.1\r\nm=audio 4000 RTP/AVP 0\r\n"),
               "line 5 'c=IN IP4 999.1.1.1': '999.1.1.1' is not an IP4 address"},
        BadSdp{"TruncatedIpv4InConnection", Head("c=IN IP4 192.168.\r\n"),
               "is not an IP4 address"},
        BadSdp{"Ipv6UnderIp4", Head("c=IN IP4 2001:db8::1\r\n"), "is not an IP4 address"},
        BadSdp{"Ipv4UnderIp6", Head("c=IN IP6 10.0.0.1\r\n"), "is not an IP6 address"},
        BadSdp{"BadIpv6", Head("c=IN IP6 2001:db8:::1\r\n"), "is not an IP6 address"},
        BadSdp{"TruncatedConnection", Head("c=IN IP4\r\n"), "c= needs"},
        BadSdp{"RtcpPortTooBig", Head("m=audio 4000 RTP/AVP 0\r\na=rtcp:70000\r\n"), "port"},
        BadSdp{"RtcpPortNotNumber", Head("m=audio 4000 RTP/AVP 0\r\na=rtcp:abc\r\n"), "port"},
        BadSdp{"RtcpEmpty", Head("m=audio 4000 RTP/AVP 0\r\na=rtcp:\r\n"), "a=rtcp needs"},
        BadSdp{"RtcpTruncatedLongForm", Head("m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4\r\n"),
               "a=rtcp needs"},
        BadSdp{"RtcpBadAddress",
               Head("m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 10.0.0.300\r\n"),
               "is not an IP4 address"},
        BadSdp{"TruncatedOrigin", "v=0\r\no=- 1 1 IN\r\n", "o= needs"},
        BadSdp{"BareCr", Head("m=audio 4000 RTP/AVP 0\ra=sendrecv\r\n"), "bare CR"},
        BadSdp{"OldMacLineEndings", "v=0\ro=- 1 1 IN IP4 10.0.0.1\rs=-\r", "bare CR"},
        BadSdp{"HundredMediaLines", WithMediaLines(100), "more than 64 m= lines"},
        BadSdp{"OverSizeLimit",
               absl::StrCat(kSippOffer, std::string(64 * 1024, 'a')),
               "over the 65536-byte limit"}),
    [](const ::testing::TestParamInfo<BadSdp>& info) { return info.param.name; });

TEST(SdpBoundsTest, SixtyFourMediaLinesAreAccepted) {
  auto s = ParseSdp(WithMediaLines(64));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->media.size(), 64u);
}

TEST(SdpBoundsTest, LongLineIsQuotedShortened) {
  auto s = ParseSdp(Head(absl::StrCat("c=IN IP4 ", std::string(200, '1'), "\r\n")));
  ASSERT_FALSE(s.ok());
  EXPECT_LT(s.status().message().size(), 200u);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("...'"));
}

// Every prefix of every phone's SDP, and random byte flips: an answer
// either way, never a crash (run under ASan).
TEST(SdpBoundsTest, TruncationsAndMutationsNeverCrash) {
  std::mt19937 rng(20240607);
  for (const std::string* sdp : {&kLinphoneOffer, &kPolycomOffer, &kYealinkOffer,
                                 &kBaresipIpv6Offer, &kSippOffer, &kBrokenAlgOffer}) {
    const size_t media = Parse(*sdp).media.size();
    const SdpRewrite rewrite{
        std::vector<std::optional<RelayLeg>>(media, Leg(kRelay6, 30000, 30005)), 9};
    for (size_t len = 0; len <= sdp->size(); ++len) {
      const absl::string_view prefix(sdp->data(), len);
      (void)ParseSdp(prefix);
      (void)RewriteSdp(prefix, rewrite);
    }
    for (int round = 0; round < 2000; ++round) {
      std::string mutated = *sdp;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        mutated[rng() % mutated.size()] = static_cast<char>(rng() % 256);
      }
      auto parsed = ParseSdp(mutated);
      auto rewritten = RewriteSdp(mutated, rewrite);
      if (parsed.ok() && parsed->media.size() == media) {
        // Whatever parses and has the same shape also rewrites, and the
        // result parses again.
        ASSERT_TRUE(rewritten.ok()) << rewritten.status();
        EXPECT_TRUE(ParseSdp(*rewritten).ok()) << *rewritten;
      }
    }
  }
}

// ---- round trip: ParseSdp(RewriteSdp(x)) reports the relay ----

struct Phone {
  const char* name;
  const std::string* sdp;
};

class RoundTripTest
    : public ::testing::TestWithParam<std::tuple<Phone, const char*, bool>> {};

TEST_P(RoundTripTest, ParseOfRewriteReportsTheRelay) {
  const auto& [phone, relay_text, crlf] = GetParam();
  const std::string body = crlf ? *phone.sdp : Lf(*phone.sdp);
  const IpAddress relay = Ip(relay_text);
  const SdpSession before = Parse(body);

  SdpRewrite rewrite{{}, before.version + 1};
  for (size_t i = 0; i < before.media.size(); ++i) {
    // Odd streams get a non-adjacent RTCP port, so a=rtcp is exercised.
    const uint16_t rtp = static_cast<uint16_t>(30000 + 10 * i);
    const uint16_t rtcp = static_cast<uint16_t>(i % 2 ? rtp + 5 : rtp + 1);
    rewrite.media.push_back(RelayLeg{relay, rtp, rtcp});
  }
  auto out = RewriteSdp(body, rewrite);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->find("\r\n") != std::string::npos, crlf);
  const SdpSession after = Parse(*out);

  EXPECT_EQ(after.origin_username, before.origin_username);
  EXPECT_EQ(after.session_id, before.session_id);
  EXPECT_EQ(after.version, before.version + 1);
  EXPECT_EQ(after.origin_address, relay);
  ASSERT_EQ(after.media.size(), before.media.size());
  for (size_t i = 0; i < after.media.size(); ++i) {
    const SdpMediaDescription& m = after.media[i];
    const RelayLeg& leg = *rewrite.media[i];
    EXPECT_EQ(m.media, before.media[i].media);
    EXPECT_EQ(m.proto, before.media[i].proto);
    EXPECT_EQ(m.direction, before.media[i].direction);
    EXPECT_EQ(m.rtcp_mux, before.media[i].rtcp_mux);
    EXPECT_EQ(m.port, leg.rtp_port);
    EXPECT_EQ(m.connection, relay);
    EXPECT_EQ(m.ipv6, !relay.is_v4());
    if (m.rtcp_port.has_value()) {
      EXPECT_EQ(*m.rtcp_port, leg.rtcp_port);
      if (m.rtcp_address.has_value()) {
        EXPECT_EQ(*m.rtcp_address, relay);
      }
    } else if (!m.rtcp_mux) {
      EXPECT_EQ(leg.rtcp_port, leg.rtp_port + 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Phones, RoundTripTest,
    ::testing::Combine(::testing::Values(Phone{"Linphone", &kLinphoneOffer},
                                         Phone{"Polycom", &kPolycomOffer},
                                         Phone{"Yealink", &kYealinkOffer},
                                         Phone{"Baresip", &kBaresipIpv6Offer},
                                         Phone{"Sipp", &kSippOffer},
                                         Phone{"BrokenAlg", &kBrokenAlgOffer}),
                       ::testing::Values(kRelay4, kRelay6), ::testing::Bool()),
    [](const auto& info) {
      return absl::StrCat(std::get<0>(info.param).name,
                          std::get<1>(info.param) == kRelay4 ? "Ipv4" : "Ipv6",
                          std::get<2>(info.param) ? "Crlf" : "Lf");
    });

// ---- RewriteSdp options: rtpengine's rewrite, for the ng server ----

// A WebRTC-style offer: ICE at session and media level, rtcp-mux, media c=.
const std::string kIceOffer = SdpText(R"(
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=ice-options:trickle
m=audio 50000 UDP/TLS/RTP/SAVPF 111 0
c=IN IP4 198.51.100.20
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
a=candidate:1 1 udp 2122260223 198.51.100.20 50000 typ host
a=candidate:2 1 udp 1686052607 203.0.113.7 61000 typ srflx raddr 198.51.100.20 rport 50000
a=end-of-candidates
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtpmap:0 PCMU/8000
)");

// Cisco CP-7841: session c=, a=rtcp-less, RFC 2833 events.
const std::string kCiscoOffer = SdpText(R"(
v=0
o=Cisco-SIPUA 24615 0 IN IP4 192.168.1.60
s=SIP Call
b=AS:4064
t=0 0
m=audio 23680 RTP/AVP 0 8 18 101
c=IN IP4 192.168.1.60
b=TIAS:64000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
)");

// Grandstream GXP2170: session c= only, a=ptime, hold via a=sendonly.
const std::string kGrandstreamHoldOffer = SdpText(R"(
v=0
o=1001 8000 8001 IN IP4 192.168.2.30
s=SIP Call
c=IN IP4 192.168.2.30
t=0 0
m=audio 5004 RTP/AVP 0 8 101
a=sendonly
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=ptime:20
)");

SdpRewrite NgDefaults(std::vector<std::optional<RelayLeg>> legs, uint64_t version) {
  SdpRewrite r{std::move(legs), version};
  r.replace_origin_address = false;
  r.session_connection = SessionConnectionRewrite::kWhenInherited;
  return r;
}

std::string RewriteWith(absl::string_view body, const SdpRewrite& rewrite) {
  auto out = RewriteSdp(body, rewrite);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

TEST(RewriteSdpOptionsTest, OriginAddressKeptUnlessAsked) {
  const std::string kept = RewriteWith(kCiscoOffer, NgDefaults({Leg(kRelay4, 30000, 30001)}, 0));
  EXPECT_THAT(kept, HasSubstr("o=Cisco-SIPUA 24615 0 IN IP4 192.168.1.60\r\n"));
  SdpRewrite replace = NgDefaults({Leg(kRelay4, 30000, 30001)}, 0);
  replace.replace_origin_address = true;
  EXPECT_THAT(RewriteWith(kCiscoOffer, replace),
              HasSubstr("o=Cisco-SIPUA 24615 0 IN IP4 203.0.113.1\r\n"));
}

TEST(RewriteSdpOptionsTest, SessionConnectionLeftWhenEveryStreamHasItsOwn) {
  // Cisco's session has no c=, its m= has one: only that one changes.
  const std::string out = RewriteWith(kCiscoOffer, NgDefaults({Leg(kRelay4, 30000, 30001)}, 0));
  EXPECT_THAT(out, HasSubstr("m=audio 30000 RTP/AVP 0 8 18 101\r\nc=IN IP4 203.0.113.1\r\n"));
  // A session c= beside media c=s stays as the phone wrote it...
  const std::string both = SdpText(R"(
v=0
o=- 1 1 IN IP4 192.168.0.9
s=-
c=IN IP4 192.168.0.9
t=0 0
m=audio 4000 RTP/AVP 0
c=IN IP4 192.168.0.9
)");
  const std::string left = RewriteWith(both, NgDefaults({Leg(kRelay4, 30000, 30001)}, 1));
  EXPECT_THAT(Lines(left), ::testing::ElementsAre(
                               "v=0", "o=- 1 1 IN IP4 192.168.0.9", "s=-", "c=IN IP4 192.168.0.9",
                               "t=0 0", "m=audio 30000 RTP/AVP 0", "c=IN IP4 203.0.113.1"));
  // ...unless "replace session-connection" asks.
  SdpRewrite replace = NgDefaults({Leg(kRelay4, 30000, 30001)}, 1);
  replace.session_connection = SessionConnectionRewrite::kAlways;
  EXPECT_THAT(Lines(RewriteWith(both, replace))[3], "c=IN IP4 203.0.113.1");
}

TEST(RewriteSdpOptionsTest, InheritedSessionConnectionIsRewritten) {
  const std::string out =
      RewriteWith(kYealinkOffer, NgDefaults({Leg(kRelay4, 30000, 30001)}, 20023));
  EXPECT_THAT(out, HasSubstr("\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\n"));
  EXPECT_THAT(out, HasSubstr("o=- 20023 20023 IN IP4 192.168.1.105\r\n"));
}

TEST(RewriteSdpOptionsTest, IceRemovedEverywhereAndNothingElse) {
  SdpRewrite r = NgDefaults({Leg(kRelay4, 30000, 30000)}, 2);
  r.remove_ice = true;
  const std::string out = RewriteWith(kIceOffer, r);
  EXPECT_THAT(out, ::testing::Not(HasSubstr("ice-")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("candidate")));
  EXPECT_THAT(Lines(out), ::testing::ElementsAre(
                              "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
                              "m=audio 30000 UDP/TLS/RTP/SAVPF 111 0", "c=IN IP4 203.0.113.1",
                              "a=rtcp:30000 IN IP4 203.0.113.1", "a=rtcp-mux",
                              "a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000"));
  // Without the option ICE stays (the proxy's phones do not use it).
  EXPECT_THAT(Rewrite(kIceOffer, {Leg(kRelay4, 30000, 30000)}), HasSubstr("a=candidate:1 1 udp"));
}

// ng "ICE=force" on one leg: credentials on the leg, ICE replaced.
SdpRewrite IceForced(std::optional<RelayLeg> leg, const char* ufrag, uint64_t version) {
  leg->ice_ufrag = ufrag;
  leg->ice_pwd = "Pw0123456789/+abcdefghij";
  SdpRewrite r = NgDefaults({leg}, version);
  r.remove_ice = true;
  r.ice_lite = true;
  return r;
}

// The phone's candidates go, the relay becomes the only one (ice-lite), at
// the relay ports, everything else kept.
TEST(RewriteSdpOptionsTest, IceForcedMakesTheRelayTheOnlyCandidate) {
  EXPECT_THAT(Lines(RewriteWith(kIceOffer, IceForced(Leg(kRelay4, 30000, 30000), "Rl8aUfrg", 2))),
              ::testing::ElementsAre(
                  "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
                  "a=ice-lite", "m=audio 30000 UDP/TLS/RTP/SAVPF 111 0", "c=IN IP4 203.0.113.1",
                  "a=rtcp:30000 IN IP4 203.0.113.1", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2",
                  "a=rtpmap:0 PCMU/8000", "a=ice-ufrag:Rl8aUfrg",
                  "a=ice-pwd:Pw0123456789/+abcdefghij",
                  "a=candidate:1 1 UDP 2130706431 203.0.113.1 30000 typ host"));
  // Without rtcp-mux, a second component at the RTCP port; IPv6 relays too.
  const std::string out =
      RewriteWith(kSippOffer, IceForced(Leg(kRelay6, 30010, 30011), "Rl8bUfrg", 2353687637));
  EXPECT_THAT(out, HasSubstr("t=0 0\r\na=ice-lite\r\nm=audio 30010 RTP/AVP 0\r\n"));
  EXPECT_THAT(out, HasSubstr("a=candidate:1 1 UDP 2130706431 " + std::string(kRelay6) +
                             " 30010 typ host\r\n"));
  EXPECT_THAT(out, HasSubstr("a=candidate:1 2 UDP 2130706430 " + std::string(kRelay6) +
                             " 30011 typ host"));
}

TEST(RewriteSdpOptionsTest, RtcpMuxRemovedAddsSeparateRtcpPort) {
  std::optional<RelayLeg> leg = Leg(kRelay6, 30010, 30013);
  leg->rtcp_mux = RelayLeg::RtcpMux::kRemove;
  const std::string out = RewriteWith(kBaresipIpv6Offer, NgDefaults({leg}, 3236457106));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("a=rtcp-mux")));
  EXPECT_THAT(out, HasSubstr("a=mid:0\r\na=rtcp:30013\r\n"));
}

TEST(RewriteSdpOptionsTest, RtcpMuxAddedOnce) {
  std::optional<RelayLeg> leg = Leg(kRelay4, 30000, 30000);
  leg->rtcp_mux = RelayLeg::RtcpMux::kAdd;
  const std::string out = RewriteWith(kSippOffer, NgDefaults({leg}, 2));
  EXPECT_THAT(out, HasSubstr("a=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("a=rtcp:")));
  // Already there: not twice.
  const std::string again = RewriteWith(kIceOffer, NgDefaults({leg}, 2));
  ASSERT_NE(again.find("a=rtcp-mux"), std::string::npos);
  EXPECT_EQ(again.find("a=rtcp-mux"), again.rfind("a=rtcp-mux"));
}

TEST(RewriteSdpOptionsTest, TransportProtocolUsernameAndSessionName) {
  SdpRewrite r = NgDefaults({Leg(kRelay4, 30000, 30001)}, 9);
  r.transport_protocol = "RTP/AVPF";
  r.origin_username = "rtplatch";
  r.session_name = "rtplatch";
  const std::vector<std::string> lines = Lines(RewriteWith(kCiscoOffer, r));
  EXPECT_EQ(lines[1], "o=rtplatch 24615 9 IN IP4 192.168.1.60");
  EXPECT_EQ(lines[2], "s=rtplatch");
  EXPECT_EQ(lines[5], "m=audio 30000 RTP/AVPF 0 8 18 101");
}

TEST(RewriteSdpOptionsTest, ZeroAddressReplacedOnlyWhenAsked) {
  const std::string held = SdpText(R"(
v=0
o=- 5 6 IN IP4 192.168.0.9
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 4000 RTP/AVP 0
a=sendonly
)");
  EXPECT_THAT(RewriteWith(held, NgDefaults({Leg(kRelay4, 30000, 30001)}, 6)),
              HasSubstr("c=IN IP4 0.0.0.0\r\n"));
  SdpRewrite r = NgDefaults({Leg(kRelay4, 30000, 30001)}, 6);
  r.replace_hold_address = true;
  const std::string out = RewriteWith(held, r);
  EXPECT_THAT(out, HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("0.0.0.0")));
  EXPECT_THAT(out, HasSubstr("a=sendonly"));
}

TEST(RewriteSdpOptionsTest, GrandstreamSendonlyKeepsItsDirection) {
  const std::string out =
      RewriteWith(kGrandstreamHoldOffer, NgDefaults({Leg(kRelay4, 30002, 30003)}, 8001));
  EXPECT_THAT(out, HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(out, HasSubstr("m=audio 30002 RTP/AVP 0 8 101\r\na=sendonly\r\n"));
  EXPECT_EQ(Parse(out).media[0].direction, Direction::kSendOnly);
}

TEST(RewriteSdpOptionsTest, RemovingTheUnterminatedLastLineKeepsTheBodyUnterminated) {
  std::string body = Lf(kIceOffer);
  body = body.substr(0, body.find("a=rtcp-mux")) + "a=candidate:3 1 udp 1 198.51.100.20 1 typ host";
  SdpRewrite r = NgDefaults({Leg(kRelay4, 30000, 30001)}, 2);
  r.remove_ice = true;
  const std::string out = RewriteWith(body, r);
  EXPECT_THAT(out, ::testing::EndsWith("a=rtcp:30001 IN IP4 203.0.113.1"));
}

}  // namespace
}  // namespace rtplatch
