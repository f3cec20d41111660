#include "control/guard/raw_sip_head.h"

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

TEST(SniffSipHead, ANewInviteHasAMethodACallIdAndNoToTag) {
  const RawSipHead h = SniffSipHead(
      "INVITE sip:bob@example.test SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\n"
      "To: \"Bob; tag=x\" <sip:bob@example.test;tag=inside-the-uri>\r\n"
      "From: <sip:alice@example.test>;tag=a1\r\n"
      "Call-ID:  c1@192.0.2.2 \r\n\r\n"
      "v=0\r\nTo: <sip:x>;tag=in-the-body\r\n");
  EXPECT_FALSE(h.is_response);
  EXPECT_EQ(h.method, "INVITE");
  EXPECT_EQ(h.call_id, "c1@192.0.2.2");
  EXPECT_FALSE(h.to_tag);  // neither the display name, the URI nor the body count
  EXPECT_FALSE(h.credentials);
}

TEST(SniffSipHead, ARequestsUriToAndOptionTags) {
  const RawSipHead h = SniffSipHead(
      "REGISTER sip:example.test;transport=udp SIP/2.0\r\n"
      "t:  <sip:bob@example.test> \r\n"
      "To: <sip:second@example.test>\r\n"
      "require: gruu\r\n\r\n");
  EXPECT_EQ(h.request_uri, "sip:example.test;transport=udp");
  EXPECT_EQ(h.to, "<sip:bob@example.test>");
  EXPECT_EQ(h.to_headers, 2);
  EXPECT_TRUE(h.extensions);
  EXPECT_FALSE(SniffSipHead("REGISTER sip:example.test SIP/2.0\r\nRequire-X: y\r\n\r\n").extensions);
  EXPECT_TRUE(SniffSipHead("OPTIONS x SIP/2.0\r\nProxy-Require: a\r\n\r\n").extensions);
}

TEST(SniffSipHead, CredentialsInEitherHeaderAndAnyCase) {
  EXPECT_TRUE(SniffSipHead("REGISTER sip:example.test SIP/2.0\r\n"
                           "authorization : Digest username=\"bob\"\r\n\r\n")
                  .credentials);
  EXPECT_TRUE(SniffSipHead("INVITE sip:b@example.test SIP/2.0\r\n"
                           "Proxy-Authorization: Digest username=\"a\"\r\n\r\n")
                  .credentials);
  // Only the header block counts, and only those two names.
  EXPECT_FALSE(SniffSipHead("REGISTER sip:example.test SIP/2.0\r\n"
                            "Authorization-Info: x\r\n\r\nAuthorization: y\r\n")
                   .credentials);
}

TEST(SniffSipHead, AnInDialogRequestHasAToTagInCompactFormAndAnyCase) {
  const RawSipHead h = SniffSipHead(
      "BYE sip:alice@192.0.2.2 SIP/2.0\r\n"
      "t : <sip:bob@example.test> ; TAG = b7\r\n"
      "i: c2\r\n\r\n");
  EXPECT_EQ(h.method, "BYE");
  EXPECT_EQ(h.call_id, "c2");
  EXPECT_TRUE(h.to_tag);
}

TEST(SniffSipHead, ABareAddrSpecCarriesItsTagAsAHeaderParameter) {
  EXPECT_TRUE(ToValueHasTag("sip:bob@example.test;tag=9"));
  EXPECT_FALSE(ToValueHasTag("sip:bob@example.test;tag="));
  EXPECT_FALSE(ToValueHasTag("sip:bob@example.test;tagged=1"));
  EXPECT_FALSE(ToValueHasTag("<sip:bob@example.test;tag=1"));  // unclosed: no params
}

TEST(SniffSipHead, AResponseIsAResponse) {
  const RawSipHead h = SniffSipHead("SIP/2.0 200 OK\r\nCall-ID: c3\r\n\r\n");
  EXPECT_TRUE(h.is_response);
  EXPECT_TRUE(h.method.empty());
  EXPECT_EQ(h.call_id, "c3");
}

TEST(SniffSipHead, GarbageLeavesEverythingEmpty) {
  for (absl::string_view bytes : {absl::string_view(""), absl::string_view("\r\n\r\n"),
                                  absl::string_view("INVITE"), absl::string_view("\0\0", 2),
                                  absl::string_view("X\nCall-ID")}) {
    const RawSipHead h = SniffSipHead(bytes);
    EXPECT_TRUE(h.method.empty()) << bytes;
    EXPECT_TRUE(h.call_id.empty()) << bytes;
    EXPECT_FALSE(h.to_tag) << bytes;
  }
}

}  // namespace
}  // namespace rtplatch
