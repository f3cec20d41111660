#include "control/cluster/binding_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

Binding Sample() {
  Binding b;
  b.aor = "alice@example.com";
  b.contact_uri = "sip:alice@192.0.2.10:5060;ob";
  b.expires_at = 1'700'000'600;
  b.call_id = "c1@192.0.2.10";
  b.cseq = 42;
  b.user_agent = "baresip \"quoted\"";
  b.source = *Endpoint::Parse("203.0.113.7:40123");
  b.transport = Binding::Transport::kTcp;
  b.local_socket = *Endpoint::Parse("[2001:db8::1]:5060");
  b.behind_nat = true;
  b.nat_reasons = {"via differs", "contact inside"};
  b.keepalive_interval_ms = 25'000;
  b.keepalive_reason = "learned";
  b.keepalive_learning = true;
  b.q_milli = 700;
  return b;
}

TEST(BindingCodecTest, RoundTripsEveryFieldAndNamesTheOwner) {
  Binding b = Sample();
  b.node = "ignored: a node writes only its own";
  absl::StatusOr<Binding> back = DecodeBinding(EncodeBinding(b, "edge-a"));
  ASSERT_TRUE(back.ok()) << back.status();
  b.node = "edge-a";
  EXPECT_EQ(*back, b);
}

// Values a phone chose (User-Agent, Call-ID, contact parameters) with
// quotes, backslashes, control characters and UTF-8 come back as they
// went; invalid UTF-8 comes back as U+FFFD, and the value is still JSON.
TEST(BindingCodecTest, EscapesWhatAPhoneSent) {
  Binding b = Sample();
  b.node = "edge-a";
  b.user_agent = "a \\ \"b\"\tc\x01 Ünïcode \xe2\x82\xac";
  b.call_id = "line1\r\nline2";
  b.nat_reasons = {"\"", "\\", ""};
  absl::StatusOr<Binding> back = DecodeBinding(EncodeBinding(b, "edge-a"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, b);
  EXPECT_EQ(EncodeBinding(b, "edge-a").find('\n'), std::string::npos) << "one line";

  b.user_agent = "bad \xff\xfe utf-8";
  back = DecodeBinding(EncodeBinding(b, "edge-a"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->user_agent, "bad \xef\xbf\xbd\xef\xbf\xbd utf-8");
}

TEST(BindingCodecTest, ARefreshRoundTripsAndBadOnesAreErrors) {
  Binding b = Sample();
  std::optional<std::string> text = EncodeRefresh(b);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "1700000600 42 c1@192.0.2.10");
  absl::StatusOr<BindingRefresh> back = DecodeRefresh(*text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->expires_at, b.expires_at);
  EXPECT_EQ(back->cseq, b.cseq);
  EXPECT_EQ(back->call_id, b.call_id);
  for (const char* id : {"", "a b", "a\r\nb"}) {
    b.call_id = id;
    EXPECT_EQ(EncodeRefresh(b), std::nullopt) << id;
  }
  for (const char* bad : {"", "1 2", "x 2 c", "1 x c", "1 4294967296 c", "1 2 "}) {
    EXPECT_FALSE(DecodeRefresh(bad).ok()) << bad;
  }
}

TEST(BindingCodecTest, BadValuesAreErrorsNamingTheField) {
  const std::string good = EncodeBinding(Sample(), "edge-a");
  EXPECT_FALSE(DecodeBinding("").ok());
  EXPECT_FALSE(DecodeBinding("[1,2]").ok());
  EXPECT_FALSE(DecodeBinding(good.substr(0, good.size() / 2)).ok()) << "truncated";
  struct Case {
    const char* field;
    nlohmann::json value;
  } cases[] = {{"node", ""},          {"aor", 7},
               {"expires_at", -1},    {"cseq", 4294967296LL},
               {"q_milli", 1001},     {"source", "not an endpoint"},
               {"transport", "sctp"}, {"behind_nat", "yes"},
               {"nat_reasons", "x"},  {"keepalive_interval_ms", 1.5}};
  for (const Case& c : cases) {
    nlohmann::json j = nlohmann::json::parse(good);
    j[c.field] = c.value;
    absl::StatusOr<Binding> b = DecodeBinding(j.dump());
    ASSERT_FALSE(b.ok()) << c.field;
    if (std::string(c.field) != "node") {
      EXPECT_THAT(std::string(b.status().message()), HasSubstr(c.field == std::string("transport")
                                                                   ? "sctp"
                                                                   : c.field));
    }
  }
  nlohmann::json missing = nlohmann::json::parse(good);
  missing.erase("contact");
  EXPECT_FALSE(DecodeBinding(missing.dump()).ok());
}

}  // namespace
}  // namespace rtplatch
