// ParseNgOptions on the dictionaries Kamailio 5.6 and OpenSIPS build, in
// every spelling rtpengine accepts, and the errors for values it cannot use.
#include "control/ng/ng_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

NgRequest Request(std::vector<std::pair<std::string, BencodeValue>> keys) {
  NgRequest r;
  r.command = "offer";
  for (auto& [k, v] : keys) r.dictionary.Set(k, std::move(v));
  return r;
}
BencodeValue S(const char* s) { return BencodeValue::String(s); }
BencodeValue L(std::vector<const char*> items) {
  BencodeValue l = BencodeValue::List();
  for (const char* i : items) l.list().push_back(S(i));
  return l;
}

TEST(NgOptionsTest, KamailioOffer) {
  auto o = ParseNgOptions(Request({
      {"supports", L({"load limit"})},
      {"sdp", S("v=0\r\n")},
      {"replace", L({"origin", "session-connection"})},
      {"rtcp-mux", L({"demux"})},
      {"received-from", L({"IP4", "192.0.2.5"})},
      {"ICE", S("remove")},
      {"call-id", S("abc@host")},
      {"via-branch", S("z9hG4bK.1")},
      {"from-tag", S("f1")},
      {"command", S("offer")},
      {"sip-message-type", S("SIP request")},
      {"flags", L({"trust-address", "strict-source"})},
  }));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->supports_load_limit);
  EXPECT_EQ(o->call_id, "abc@host");
  EXPECT_EQ(o->from_tag, "f1");
  EXPECT_EQ(o->via_branch, "z9hG4bK.1");
  EXPECT_EQ(*o->sdp, "v=0\r\n");
  EXPECT_TRUE(o->replace.origin);
  EXPECT_TRUE(o->replace.session_connection);
  EXPECT_TRUE(o->rtcp_mux.demux);
  EXPECT_EQ(o->received_from->ToString(), "192.0.2.5");
  EXPECT_EQ(o->ice, NgIce::kRemove);
  EXPECT_EQ(o->address_source, NgAddressSource::kSdp);
  EXPECT_EQ(o->policy, LatchPolicy::kStrict);
  EXPECT_TRUE(o->ignored.empty());
}

TEST(NgOptionsTest, SpacesDashesUnderscoresAndCaseAllRead) {
  for (const char* key : {"address family", "address-family", "Address_Family"}) {
    auto o = ParseNgOptions(Request({{key, S("IP6")}}));
    ASSERT_TRUE(o.ok()) << key;
    EXPECT_TRUE(*o->ipv6) << key;
  }
  auto o = ParseNgOptions(Request({{"flags", L({"SIP source address", "asymmetric"})}}));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->address_source, NgAddressSource::kSipSource);
  EXPECT_EQ(o->policy, LatchPolicy::kAsymmetric);
}

TEST(NgOptionsTest, PrefixedFlagsAsRtpenginesOwnParserReadsThem) {
  auto o = ParseNgOptions(Request({{"flags", L({"replace-origin", "rtcp-mux-offer", "ICE=remove",
                                                "direction=pub", "media-address=203.0.113.4",
                                                "fast", "fatal", "to-tag"})}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->replace.origin);
  EXPECT_TRUE(o->rtcp_mux.offer);
  EXPECT_EQ(o->ice, NgIce::kRemove);
  EXPECT_THAT(o->direction, ElementsAre("pub"));
  EXPECT_EQ(o->media_address->ToString(), "203.0.113.4");
  EXPECT_TRUE(o->fast && o->fatal && o->to_tag_flag);
}

TEST(NgOptionsTest, UnknownFlagsAndKeysAreKeptForTheLog) {
  auto o = ParseNgOptions(Request({{"flags", L({"loop-protect", "record-call"})},
                                   {"codec", BencodeValue::Dictionary()}}));
  ASSERT_TRUE(o.ok());
  EXPECT_THAT(o->ignored, ElementsAre("loop-protect", "record-call", "codec"));
}

TEST(NgOptionsTest, DeleteDelayAndLimitAcceptIntegersAndDigits) {
  auto o = ParseNgOptions(Request({{"delete delay", BencodeValue::Integer(0)},
                                   {"limit", S("5")}}));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o->delete_delay_s, 0);
  EXPECT_EQ(o->limit, 5);
}

TEST(NgOptionsTest, ValuesItCannotUseAreErrorsNamingTheKey) {
  struct Case {
    std::vector<std::pair<std::string, BencodeValue>> keys;
    const char* want;
  };
  const Case cases[] = {
      {{{"call-id", L({"x"})}}, "'call-id' must be a string"},
      {{{"flags", S("x")}, {"sdp", BencodeValue::Integer(1)}}, ""},
      {{{"flags", BencodeValue::List({BencodeValue::Integer(3)})}}, "'flags' must be a list"},
      {{{"received-from", L({"IP4", "300.1.1.1"})}}, "is not an IP address"},
      {{{"received-from", L({"IP4", "192.0.2.1", "x"})}}, "[family, address]"},
      {{{"address-family", S("IP5")}}, "is not IP4 or IP6"},
      {{{"delete-delay", BencodeValue::Integer(-1)}}, "zero or more"},
      {{{"limit", BencodeValue::Integer(0)}}, "positive"},
      {{{"media-address", S("")}}, "is not an IP address"},
  };
  for (const Case& c : cases) {
    auto o = ParseNgOptions(Request(c.keys));
    if (*c.want == '\0') {
      EXPECT_TRUE(o.ok()) << o.status();  // an integer SDP reads as its digits
      continue;
    }
    ASSERT_FALSE(o.ok()) << c.want;
    EXPECT_THAT(o.status().message(), HasSubstr(c.want));
  }
}

}  // namespace
}  // namespace rtplatch
