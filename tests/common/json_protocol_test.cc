#include "common/json_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

json ErrorOf(absl::string_view line) {
  auto parsed = ParseRequest(line, "this test");
  const json* error = std::get_if<json>(&parsed);
  return error == nullptr ? json() : *error;
}

TEST(JsonProtocolTest, EnvelopeIsCheckedInOrder) {
  EXPECT_EQ(ErrorOf("[1]")["error"]["code"], "parse_error");
  EXPECT_EQ(ErrorOf("not json")["error"]["code"], "parse_error");
  EXPECT_EQ(ErrorOf(R"({"v":1,"id":1.5,"cmd":"x"})")["error"]["code"], "invalid_argument");
  json bad_version = ErrorOf(R"({"v":2,"id":"a","cmd":"x"})");
  EXPECT_EQ(bad_version["error"]["code"], "bad_version");
  EXPECT_EQ(bad_version["id"], "a");
  EXPECT_THAT(bad_version["error"]["message"].get<std::string>(),
              HasSubstr("this test speaks version 1"));
  EXPECT_EQ(ErrorOf(R"({"v":1,"cmd":null})")["error"]["message"], "cmd: required string");

  auto ok = ParseRequest(R"({"v":1,"id":7,"cmd":"list","limit":3})", "this test");
  ASSERT_TRUE(std::holds_alternative<JsonRequest>(ok));
  EXPECT_EQ(std::get<JsonRequest>(ok).cmd, "list");
  EXPECT_EQ(std::get<JsonRequest>(ok).id, 7);
}

TEST(JsonProtocolTest, RepliesCarryTheEnvelopeAndOneErrorTable) {
  json ok = ReplyFor("x", json{{"n", 1}});
  EXPECT_EQ(ok, (json{{"v", 1}, {"id", "x"}, {"ok", true}, {"result", {{"n", 1}}}}));
  json err = ReplyFor(nullptr, absl::NotFoundError("aor: none"));
  EXPECT_EQ(err["ok"], false);
  EXPECT_EQ(err["error"]["code"], "not_found");
  EXPECT_EQ(err["error"]["message"], "aor: none");
  EXPECT_EQ(WireErrorCode(absl::StatusCode::kResourceExhausted), "resource_exhausted");
  EXPECT_EQ(WireErrorCode(absl::StatusCode::kDataLoss), "internal");
}

TEST(JsonProtocolTest, AbsentAndNullAreNotGiven) {
  const json r = {{"s", nullptr}, {"b", nullptr}, {"n", nullptr}};
  for (const char* field : {"s", "missing"}) {
    auto s = OptionalString(r, field);
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->has_value());
  }
  EXPECT_FALSE(OptionalBool(r, "b")->has_value());
  EXPECT_FALSE(OptionalUnsigned(r, "n", 0, 10)->has_value());
  EXPECT_THAT(Message(RequiredString(r, "s", "a.").status()), HasSubstr("a.s: required"));
}

TEST(JsonProtocolTest, WrongTypesAndRangesNameTheField) {
  const json r = {{"s", 3}, {"b", "yes"}, {"n", 11}, {"neg", -1}, {"f", 2.5}};
  EXPECT_EQ(Message(OptionalString(r, "s", "config: ").status()), "config: s: must be a string");
  EXPECT_EQ(Message(OptionalBool(r, "b").status()), "b: must be true or false");
  EXPECT_EQ(Message(OptionalUnsigned(r, "n", 0, 10).status()), "n: 11 is outside 0..10");
  EXPECT_EQ(Message(OptionalUnsigned(r, "neg", 0, 10).status()), "neg: -1 is outside 0..10");
  EXPECT_EQ(Message(OptionalUnsigned(r, "f", 0, 10).status()), "f: must be an integer");
}

TEST(JsonProtocolTest, ConfigReadersKeepDefaultsAndSayWhatIsWanted) {
  std::string path = "/run/default.sock";
  EXPECT_TRUE(ReadStringInto(json::object(), "path", "config: ", &path, "a non-empty path").ok());
  EXPECT_EQ(path, "/run/default.sock");
  EXPECT_EQ(Message(ReadStringInto({{"path", ""}}, "path", "config: ", &path, "a non-empty path")),
            "config: path: must be a non-empty path");
  std::string mode = "crlf";
  EXPECT_EQ(Message(ReadChoiceInto({{"mode", "x"}}, "mode", {"crlf", "zero4"}, "config: ", &mode)),
            "config: mode: must be \"crlf\" or \"zero4\"");
  ASSERT_TRUE(ReadChoiceInto({{"mode", "zero4"}}, "mode", {"crlf", "zero4"}, "", &mode).ok());
  EXPECT_EQ(mode, "zero4");
  uint32_t n = 5;
  ASSERT_TRUE(ReadUnsignedInto(json{{"n", 7}}, "n", 1, 9, "", &n).ok());
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(Message(CheckKnownFields({{"a", 1}, {"typo", 2}}, {"a", "b"}, "config: ")),
            "config: typo: unknown field (typo?)");
}

TEST(JsonProtocolTest, PagesAreCappedAndSliced) {
  auto page = ParsePage({{"offset", 2}, {"limit", nullptr}});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->offset, 2u);
  EXPECT_EQ(page->limit, kDefaultPageLimit);
  EXPECT_THAT(Message(ParsePage({{"limit", kMaxPageValue + 1}}).status()), HasSubstr("limit"));
  EXPECT_FALSE(ParsePage({{"offset", -1}}).ok());
  EXPECT_EQ(PageSlice(Page{2, 3}, 10), std::make_pair(size_t{2}, size_t{5}));
  EXPECT_EQ(PageSlice(Page{8, 3}, 10), std::make_pair(size_t{8}, size_t{10}));
  EXPECT_EQ(PageSlice(Page{20, 3}, 10), std::make_pair(size_t{10}, size_t{10}));
}

TEST(JsonProtocolTest, VersionIsMesonsProjectVersion) {
  EXPECT_FALSE(SoftwareVersion().empty());
  EXPECT_EQ(std::count(SoftwareVersion().begin(), SoftwareVersion().end(), '.'), 2);
}

}  // namespace
}  // namespace rtplatch
