#include "control/sip/sip_serialize.h"

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>

#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/sip/sip_message.h"
#include "tests/control/sip/sip_text.h"

namespace rtplatch {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using testing::kSignedContentType;
using testing::SignedBody;
using testing::SipText;

struct OsipFree {
  void operator()(osip_message* m) const { osip_message_free(m); }
};
using OsipPtr = std::unique_ptr<osip_message, OsipFree>;

// A MESSAGE without a body, as oSIP2's tree (SipMessage parses it).
OsipPtr SignedMessageTree() {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(SipText(absl::StrCat(
      "MESSAGE sip:bob@example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-ser1\n"
      "From: <sip:alice@example.com>;tag=a\n"
      "To: <sip:bob@example.com>\n"
      "Call-ID: ser-1\n"
      "CSeq: 1 MESSAGE\n"
      "MIME-Version: 1.0\n"
      "Content-Type: ", kSignedContentType, "\n")));
  EXPECT_TRUE(m.ok()) << m.status();
  return OsipPtr(std::move(*m).ReleaseOsip());
}

TEST(SipSerializeTest, TheBodyFollowsTheHeadersByteForByte) {
  OsipPtr m = SignedMessageTree();
  const std::string body = SignedBody();
  ASSERT_TRUE(SetOpaqueBody(m.get(), body).ok());
  EXPECT_EQ(osip_list_size(&m->bodies), 1);
  EXPECT_STREQ(m->content_length->value, absl::StrCat(body.size()).c_str());

  absl::StatusOr<std::string> bytes = SerializeSipMessage(m.get());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_THAT(*bytes, EndsWith(absl::StrCat("\r\nContent-Length: ", body.size(), "\r\n\r\n", body)));
  EXPECT_THAT(*bytes, HasSubstr("\r\nCall-ID: ser-1\r\n"));
  // The tree is as it was: the same bytes again.
  EXPECT_EQ(osip_list_size(&m->bodies), 1);
  absl::StatusOr<std::string> again = SerializeSipMessage(m.get());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *bytes);
}

// Why SerializeSipMessage exists: oSIP2's own writer wraps a multipart
// body in boundaries of its own. If this ever fails, oSIP2 stopped doing
// that, and SerializeSipMessage could go.
TEST(SipSerializeTest, OsipsOwnWriterWouldChangeAMultipartBody) {
  OsipPtr m = SignedMessageTree();
  ASSERT_TRUE(SetOpaqueBody(m.get(), SignedBody()).ok());
  char* out = nullptr;
  size_t len = 0;
  ASSERT_EQ(osip_message_to_str(m.get(), &out, &len), OSIP_SUCCESS);
  const std::string theirs(out, len);
  osip_free(out);
  EXPECT_FALSE(absl::EndsWith(theirs, absl::StrCat("\r\n\r\n", SignedBody())));
}

TEST(SipSerializeTest, AnEmptyBodyIsContentLengthZero) {
  OsipPtr m = SignedMessageTree();
  ASSERT_TRUE(SetOpaqueBody(m.get(), SignedBody()).ok());
  ASSERT_TRUE(SetOpaqueBody(m.get(), "").ok());
  EXPECT_EQ(osip_list_size(&m->bodies), 0);
  absl::StatusOr<std::string> bytes = SerializeSipMessage(m.get());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_THAT(*bytes, EndsWith("\r\nContent-Length: 0\r\n\r\n"));
}

TEST(SipSerializeTest, SeveralBodyPartsAreRefused) {
  OsipPtr m = SignedMessageTree();
  ASSERT_TRUE(SetOpaqueBody(m.get(), "one").ok());
  ASSERT_EQ(osip_message_set_body(m.get(), "two", 3), OSIP_SUCCESS);
  absl::StatusOr<std::string> bytes = SerializeSipMessage(m.get());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(bytes.status().message(), HasSubstr("2 body parts"));
}

}  // namespace
}  // namespace rtplatch
