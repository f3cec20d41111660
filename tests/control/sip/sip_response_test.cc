#include "control/sip/sip_response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "control/sip/sip_message.h"

namespace rtplatch {
namespace {

// Compact names, a folded To, a second Via line with two values: what a
// response must copy as received (RFC 3261 8.2.6.2).
constexpr char kRequest[] =
    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
    "v: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport\r\n"
    "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKa, SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKb\r\n"
    "f: \"Alice, A.\" <sip:alice@example.com>;tag=abc\r\n"
    "t: <sip:bob@example.com>\r\n"
    "  ;x=y\r\n"
    "i: call-1@192.0.2.10\r\n"
    "CSeq: 5 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n";

const Endpoint kSource{*IpAddress::Parse("203.0.113.5"), 40000};

std::vector<std::string> Lines(absl::string_view text) {
  return absl::StrSplit(text.substr(0, text.find("\r\n\r\n")), "\r\n");
}

// The response, parsed back: what a phone would read.
void ExpectAnswers(const SipMessage& request, absl::string_view response) {
  auto parsed = SipMessage::Parse(response);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << response;
  EXPECT_EQ(parsed->status_code(), 200);
  EXPECT_EQ(parsed->via_count(), 3u);
  EXPECT_EQ(parsed->top_via().received, "203.0.113.5");
  EXPECT_EQ(parsed->top_via().rport, 40000);
  EXPECT_EQ(parsed->top_via().branch, "z9hG4bK1");
  EXPECT_EQ(parsed->from().tag, "abc");
  EXPECT_EQ(parsed->from().user, "alice");
  EXPECT_EQ(parsed->to().user, "bob");
  EXPECT_EQ(parsed->to().tag, ResponseToTag(request));
  EXPECT_EQ(parsed->call_id(), "call-1@192.0.2.10");
  EXPECT_EQ(parsed->cseq_number(), 5u);
  EXPECT_EQ(parsed->cseq_method(), "OPTIONS");
}

// The 200 for `request` received from kSource, as a phone would parse it.
absl::StatusOr<SipMessage> AnswerAsParsed(SipMessage& request) {
  if (absl::Status s = request.ApplyReceivedAndRport(kSource, /*force_rport=*/true); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> response = BuildResponse(request, 200, "OK", "", {});
  if (!response.ok()) return response.status();
  return SipMessage::Parse(*response);
}

TEST(BuildResponse, CopiesTheRequestsLinesAsReceived) {
  auto request = SipMessage::Parse(kRequest);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_NE(request->echo_lines(), nullptr);
  ASSERT_TRUE(request->ApplyReceivedAndRport(kSource, /*force_rport=*/true).ok());
  auto response = BuildResponse(*request, 200, "OK", "rtplatch", {"Allow: OPTIONS"});
  ASSERT_TRUE(response.ok()) << response.status();
  const std::vector<std::string> lines = Lines(*response);
  ASSERT_GE(lines.size(), 10u) << *response;
  EXPECT_EQ(lines[0], "SIP/2.0 200 OK");
  EXPECT_TRUE(absl::StartsWith(lines[1], "Via: SIP/2.0/UDP 192.0.2.10:5060;")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[1], "rport=40000")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[1], "received=203.0.113.5")) << lines[1];
  EXPECT_EQ(lines[2],
            "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKa, SIP/2.0/UDP "
            "198.51.100.2;branch=z9hG4bKb");
  EXPECT_EQ(lines[3], "f: \"Alice, A.\" <sip:alice@example.com>;tag=abc");
  EXPECT_EQ(lines[4], "t: <sip:bob@example.com>");
  EXPECT_EQ(lines[5], absl::StrCat("  ;x=y;tag=", ResponseToTag(*request)));
  EXPECT_EQ(lines[6], "i: call-1@192.0.2.10");
  EXPECT_EQ(lines[7], "CSeq: 5 OPTIONS");
  EXPECT_EQ(lines[8], "Server: rtplatch");
  EXPECT_EQ(lines[9], "Allow: OPTIONS");
  ExpectAnswers(*request, *response);
}

TEST(BuildResponse, KeepsAToTagThatIsThere) {
  std::string text = kRequest;
  text.replace(text.find("  ;x=y"), 6, "  ;x=y;tag=given");
  auto request = SipMessage::Parse(text);
  ASSERT_TRUE(request.ok()) << request.status();
  auto response = BuildResponse(*request, 200, "OK", "", {});
  ASSERT_TRUE(response.ok());
  EXPECT_TRUE(absl::StrContains(*response, "  ;x=y;tag=given\r\ni: ")) << *response;
  EXPECT_EQ(SipMessage::Parse(*response)->to().tag, "given");
}

// A first Via line with two values, or Vias changed after parsing: no
// echo, and oSIP2 serialises the same answer.
TEST(BuildResponse, SerialisesFromOsipWhenTheTextCannotBeCopied) {
  std::string two_in_first = kRequest;
  two_in_first.replace(two_in_first.find("rport\r\n"), 7,
                       "rport, SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKc\r\n");
  auto request = SipMessage::Parse(two_in_first);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->echo_lines(), nullptr);
  auto parsed = AnswerAsParsed(*request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->via_count(), 4u);
  EXPECT_EQ(parsed->top_via().rport, 40000);

  auto pushed = SipMessage::Parse(kRequest);
  ASSERT_TRUE(pushed.ok());
  ASSERT_TRUE(pushed->PushVia("SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKp").ok());
  EXPECT_EQ(pushed->echo_lines(), nullptr) << "the copied Vias would be stale";
  ASSERT_TRUE(pushed->PopVia().ok());
  ASSERT_TRUE(pushed->ApplyReceivedAndRport(kSource, true).ok());
  auto from_osip = BuildResponse(*pushed, 200, "OK", "", {});
  ASSERT_TRUE(from_osip.ok());
  ExpectAnswers(*pushed, *from_osip);
}

// A bare CR is a line break to oSIP2 but not to a line splitter: such
// text is never copied, so the reply says what oSIP2 parsed.
TEST(BuildResponse, BareCrIsNeverCopied) {
  std::string bare_cr = kRequest;
  bare_cr.replace(bare_cr.find("t: <sip:bob@example.com>\r\n"), 26,
                  "t: <sip:bob@example.com>\rX-A: 1\r\n");
  auto a = SipMessage::Parse(bare_cr);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->echo_lines(), nullptr);
  auto parsed = AnswerAsParsed(*a);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->to().tag, ResponseToTag(*a));
}

// The tag hashes the Call-ID's bytes as a whole: moving the '@' changes it.
TEST(ResponseToTag, DependsOnTheWholeCallId) {
  std::string one = kRequest, two = kRequest;
  one.replace(one.find("i: call-1@192.0.2.10"), 20, "i: ab@cd");
  two.replace(two.find("i: call-1@192.0.2.10"), 20, "i: a@bcd");
  auto m1 = SipMessage::Parse(one), m2 = SipMessage::Parse(two);
  ASSERT_TRUE(m1.ok() && m2.ok());
  EXPECT_NE(ResponseToTag(*m1), ResponseToTag(*m2));
  EXPECT_EQ(ResponseToTag(*m1), ResponseToTag(*SipMessage::Parse(one)));
}

TEST(SipReplyForErrorTest, BadOfferIs488WithTheReason) {
  SipReply r = SipReplyForError(absl::InvalidArgumentError("no m= line"));
  EXPECT_EQ(r.code, 488);
  EXPECT_EQ(r.reason, "Not Acceptable Here");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_NE(r.headers[0].find("no m= line"), std::string::npos);
}

TEST(SipReplyForErrorTest, DataplaneTroubleIs503WithRetryAfter) {
  for (const absl::Status& s : {absl::UnavailableError("dataplane unreachable"),
                                absl::ResourceExhaustedError("no relay ports"),
                                absl::InternalError("anything else")}) {
    SipReply r = SipReplyForError(s);
    EXPECT_EQ(r.code, 503) << s;
    EXPECT_EQ(r.reason, "Service Unavailable");
    ASSERT_EQ(r.headers.size(), 2u);
    EXPECT_NE(r.headers[0].find(std::string(s.message())), std::string::npos);
    EXPECT_EQ(r.headers[1], "Retry-After: 5");
  }
}

}  // namespace
}  // namespace rtplatch
