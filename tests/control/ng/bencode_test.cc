#include "control/ng/bencode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

// What Kamailio 5.6's rtpengine module sends for an offer (keys in its
// insertion order, not sorted), with a short SDP.
const char kKamailioOffer[] =
    "d3:sdp37:v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\n5:flagsl13:trust-addresse7:r"
    "eplacel6:origin18:session-connectione7:call-id10:a84b4c76e613:received-froml3:IP"
    "411:203.0.113.5e8:from-tag6:1928308:supportsl10:load limite7:command5:offere";

TEST(BencodeTest, DecodesAKamailioOfferInItsOrder) {
  absl::StatusOr<BencodeValue> v = DecodeBencode(kKamailioOffer);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_dictionary());
  ASSERT_NE(v->Find("command"), nullptr);
  EXPECT_EQ(v->Find("command")->string(), "offer");
  EXPECT_EQ(v->Find("call-id")->string(), "a84b4c76e6");
  ASSERT_TRUE(v->Find("replace")->is_list());
  EXPECT_EQ(v->Find("replace")->list()[1].string(), "session-connection");
  EXPECT_EQ(v->Find("received-from")->list()[1].string(), "203.0.113.5");
  EXPECT_THAT(v->Find("sdp")->string(), HasSubstr("IN IP4 192.0.2.10"));
  EXPECT_EQ(v->entries().front().key, "sdp") << "keys keep the sender's order";
  // And it encodes back byte for byte.
  EXPECT_EQ(EncodeBencode(*v), kKamailioOffer);
}

TEST(BencodeTest, IntegersAtTheirLimits) {
  EXPECT_EQ(DecodeBencode("i0e")->integer(), 0);
  EXPECT_EQ(DecodeBencode("i-42e")->integer(), -42);
  EXPECT_EQ(DecodeBencode("i9223372036854775807e")->integer(), INT64_MAX);
  EXPECT_EQ(DecodeBencode("i-9223372036854775808e")->integer(), INT64_MIN);
  EXPECT_EQ(EncodeBencode(BencodeValue::Integer(INT64_MIN)), "i-9223372036854775808e");
}

TEST(BencodeTest, MalformedInputIsANamedErrorNeverACrash) {
  const struct {
    const char* text;
    const char* why;
  } kCases[] = {
      {"", "input ends"},
      {"i", "without its 'e'"},
      {"ie", "without digits"},
      {"i-e", "without digits"},
      {"i03e", "leading zero"},
      {"i-0e", "-0"},
      {"i1xe", "non-digit"},
      {"i9223372036854775808e", "out of range"},
      {"i-9223372036854775809e", "out of range"},
      {"4:abc", "longer than the input"},
      {"04:abcd", "leading zero"},
      {"99999999999999999999999:a", "out of range"},
      {"3abc", "without ':'"},
      {"l", "list without"},
      {"li1e", "list without"},
      {"d", "dictionary without"},
      {"di1ei2ee", "key is not a string"},
      {"d1:a", "input ends"},
      {"d1:ai1e1:ai2ee", "duplicate key 'a'"},
      {"i1ei2e", "bytes after the value"},
      {"x", "unexpected byte"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<BencodeValue> v = DecodeBencode(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(v.status().message(), HasSubstr(c.why)) << c.text;
  }
}

TEST(BencodeTest, DepthItemsAndKeysAreBounded) {
  std::string deep(kMaxBencodeDepth, 'l');
  deep += std::string(kMaxBencodeDepth, 'e');
  EXPECT_TRUE(DecodeBencode(deep).ok());
  std::string deeper(kMaxBencodeDepth + 1, 'l');
  deeper += std::string(kMaxBencodeDepth + 1, 'e');
  EXPECT_THAT(DecodeBencode(deeper).status().message(), HasSubstr("deeper than 16"));
  // A million levels: bounded, not a stack overflow.
  EXPECT_FALSE(DecodeBencode(std::string(1'000'000, 'l')).ok());

  std::string many = "l";
  for (size_t i = 0; i < kMaxBencodeItems; ++i) many += "i1e";
  many += "e";
  EXPECT_THAT(DecodeBencode(many).status().message(), HasSubstr("more than 16384 values"));

  std::string keys = "d";
  for (size_t i = 0; i <= kMaxBencodeDictionaryKeys; ++i) {
    const std::string k = absl::StrCat("k", i);
    absl::StrAppend(&keys, k.size(), ":", k, "i1e");
  }
  keys += "e";
  EXPECT_THAT(DecodeBencode(keys).status().message(), HasSubstr("more than 256 keys"));
}

// Thousands of damaged offers (truncated, bytes flipped, bytes inserted):
// each decodes or is refused; whatever decodes encodes back to the exact
// input (the decoder accepts only canonical forms of what it returns).
TEST(BencodeTest, DamagedMessagesDecodeExactlyOrAreRefused) {
  const std::string good = kKamailioOffer;
  std::mt19937 rng(13);
  size_t refused = 0, decoded = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string text = good;
    switch (i % 3) {
      case 0: text.resize(rng() % good.size()); break;
      case 1: text[rng() % text.size()] = static_cast<char>(rng() & 0xff); break;
      case 2: text.insert(rng() % text.size(), 1, "ield:0123456789x"[rng() % 16]); break;
    }
    absl::StatusOr<BencodeValue> v = DecodeBencode(text);
    if (v.ok()) {
      ++decoded;
      EXPECT_EQ(EncodeBencode(*v), text);
    } else {
      ++refused;
      EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(refused, 3000u);
  EXPECT_GT(decoded, 10u) << "flips inside the SDP string still decode";
}

TEST(BencodeTest, SetReplacesAndFindMisses) {
  BencodeValue d = BencodeValue::Dictionary();
  d.Set("result", BencodeValue::String("ok"));
  d.Set("result", BencodeValue::String("pong"));
  EXPECT_EQ(d.entries().size(), 1u);
  EXPECT_EQ(EncodeBencode(d), "d6:result4:ponge");
  EXPECT_EQ(d.Find("nothing"), nullptr);
  EXPECT_EQ(BencodeValue::String("x").Find("result"), nullptr);
}

}  // namespace
}  // namespace rtplatch
