#include "control/ng/ng_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

TEST(NgMessageTest, BencodedPingAndItsPong) {
  absl::StatusOr<NgRequest> r = ParseNgRequest("5323_1 d7:command4:pinge");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cookie, "5323_1");
  EXPECT_EQ(r->command, "ping");
  EXPECT_EQ(r->encoding, NgEncoding::kBencode);
  BencodeValue pong = BencodeValue::Dictionary();
  pong.Set("result", BencodeValue::String("pong"));
  EXPECT_EQ(FormatNgReply(r->cookie, pong, r->encoding), "5323_1 d6:result4:ponge");
}

TEST(NgMessageTest, JsonRequestGetsAJsonReplyInOrder) {
  absl::StatusOr<NgRequest> r = ParseNgRequest(
      R"(abc {"command": "Offer", "call-id": "c1", "flags": ["trust-address"], "n": 3, "b": true})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->encoding, NgEncoding::kJson);
  EXPECT_EQ(r->command, "offer") << "commands compare in lower case";
  EXPECT_EQ(r->dictionary.Find("flags")->list()[0].string(), "trust-address");
  EXPECT_EQ(r->dictionary.Find("n")->integer(), 3);
  EXPECT_EQ(r->dictionary.Find("b")->integer(), 1);
  BencodeValue reply = BencodeValue::Dictionary();
  reply.Set("result", BencodeValue::String("ok"));
  reply.Set("sdp", BencodeValue::String("v=0\r\n"));
  EXPECT_EQ(FormatNgReply("abc", reply, NgEncoding::kJson),
            R"(abc {"result":"ok","sdp":"v=0\r\n"})");
}

TEST(NgMessageTest, BadDatagramsSayWhyAndKeepTheCookieWhenReadable) {
  const struct {
    std::string datagram;
    const char* why;
    const char* cookie;  // nullptr: not readable
  } kCases[] = {
      {"nospace", "without a space", nullptr},
      {" d7:command4:pinge", "cookie of 0 bytes", nullptr},
      {std::string(200, 'c') + " d7:command4:pinge", "cookie of 200 bytes", nullptr},
      {"c\x01 d7:command4:pinge", "non-printable", nullptr},
      {"c1 d7:command4:ping", "dictionary without its 'e'", "c1"},
      {"c2 l4:pinge", "not a dictionary", "c2"},
      {"c3 d5:callx1:ye", "without a command", "c3"},
      {"c4 d7:commandi1ee", "without a command", "c4"},
      {"c5 {\"command\": ", "malformed JSON", "c5"},
      {"c6 {\"command\": \"ping\", \"x\": 1.5}", "no bencode equivalent", "c6"},
      {"c7 {\"command\": \"ping\", \"x\": null}", "no bencode equivalent", "c7"},
      {"c8 " + std::string(65600, 'x'), "bytes (at most 65535)", nullptr},
  };
  for (const auto& c : kCases) {
    std::string cookie;
    absl::StatusOr<NgRequest> r = ParseNgRequest(c.datagram, &cookie);
    ASSERT_FALSE(r.ok()) << c.datagram.substr(0, 40);
    EXPECT_THAT(r.status().message(), HasSubstr(c.why)) << c.datagram.substr(0, 40);
    EXPECT_EQ(cookie, c.cookie == nullptr ? "" : c.cookie) << c.datagram.substr(0, 40);
  }
}

TEST(NgMessageTest, DeepJsonIsBoundedLikeBencode) {
  std::string deep = "c {\"command\": \"ping\", \"x\": ";
  deep += std::string(40, '[') + std::string(40, ']') + "}";
  absl::StatusOr<NgRequest> r = ParseNgRequest(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("deeper than 16"));
}

TEST(NgMessageTest, ErrorReplyIsRtpenginesShape) {
  EXPECT_EQ(FormatNgReply("k", NgErrorReply("Unknown call-id"), NgEncoding::kBencode),
            "k d6:result5:error12:error-reason15:Unknown call-ide");
}

}  // namespace
}  // namespace rtplatch
