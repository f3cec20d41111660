// The control protocol as docs/control-protocol.md states it: one JSON
// line in, one JSON line out, errors with a code and a message naming the
// bad input, mutating requests applied at most once per id, and no input
// that makes Handle crash, throw or answer with anything but a JSON reply.
#include "dataplane/control/control_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/drop_reason.h"
#include "dataplane/fastpath/flow_command.h"
#include "dataplane/fastpath/flow_table.h"
#include "dataplane/fastpath/relay_addresses.h"
#include "dataplane/fastpath/spsc_ring.h"
#include "nlohmann/json.hpp"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

// A string literal with embedded NULs, all of it.
template <size_t N>
std::string WithNul(const char (&text)[N]) {
  return std::string(text, N - 1);
}

class ControlCommandsTest : public ::testing::Test {
 protected:
  explicit ControlCommandsTest(std::vector<IpAddress> standby = {}) {
    auto addresses =
        RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")}, std::move(standby));
    // 20000..20015: 8 port pairs per address, so 4 IPv4 stream pairs.
    table_ = std::move(*FlowTable::Create(std::move(*addresses), 20000, 20015));
    ring_ = std::make_unique<SpscRing<FlowCommand>>(64);
    registry_ = std::make_unique<StreamRegistry>(
        *table_, std::vector<SpscRing<FlowCommand>*>{ring_.get()}, LatchPolicy::kLearn,
        [this] { DrainRing(); });
    commands_ = std::make_unique<ControlCommands>(
        *registry_, [this] { return stats_; }, [this] { return now_ns_; });
  }

  void DrainRing() {
    FlowCommand c;
    while (ring_->Pop(&c)) ApplyFlowCommand(*table_, c);
  }

  // Sends one raw line; checks the reply is one well-formed JSON object.
  json Raw(const std::string& line, bool* subscribe = nullptr) {
    bool sub = true;
    std::string reply;
    EXPECT_NO_THROW(reply = commands_->Handle(line, &sub)) << line;
    if (subscribe) *subscribe = sub;
    last_reply_ = reply;
    EXPECT_EQ(reply.find('\n'), std::string::npos) << "reply must be one line: " << reply;
    json j = json::parse(reply, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << "not a JSON object: " << reply;
    if (!j.is_object()) return json::object();
    EXPECT_EQ(j.value("v", -1), 1) << reply;
    EXPECT_TRUE(j.contains("id")) << reply;
    EXPECT_TRUE(j.contains("ok") && j["ok"].is_boolean()) << reply;
    if (j.value("ok", false)) {
      EXPECT_TRUE(j.contains("result")) << reply;
    } else {
      EXPECT_TRUE(j.contains("error") && j["error"].is_object()) << reply;
      if (j.contains("error") && j["error"].is_object()) {
        EXPECT_TRUE(j["error"].contains("code") && j["error"]["code"].is_string()) << reply;
        EXPECT_TRUE(j["error"].contains("message") && j["error"]["message"].is_string() &&
                    !j["error"]["message"].get<std::string>().empty())
            << reply;
      }
    }
    return j;
  }
  json Call(json request, bool* subscribe = nullptr) {
    if (!request.contains("v")) request["v"] = 1;
    return Raw(request.dump(), subscribe);
  }
  // The result of a request that must succeed.
  json Ok(json request) {
    json reply = Call(request);
    EXPECT_TRUE(reply.value("ok", false)) << request.dump() << " -> " << last_reply_;
    return reply.contains("result") ? reply["result"] : json::object();
  }
  std::string ErrorCode(const json& reply) {
    EXPECT_FALSE(reply.value("ok", true)) << last_reply_;
    if (!reply.contains("error")) return "";
    return reply["error"].value("code", "");
  }
  std::string ErrorMessage(const json& reply) {
    if (!reply.contains("error")) return "";
    return reply["error"].value("message", "");
  }
  uint64_t StreamCount() { return Ok({{"cmd", "stats"}})["streams"].get<uint64_t>(); }
  uint64_t ListTotal() { return Ok({{"cmd", "list"}})["total"].get<uint64_t>(); }

  std::unique_ptr<FlowTable> table_;
  std::unique_ptr<SpscRing<FlowCommand>> ring_;
  std::unique_ptr<StreamRegistry> registry_;
  std::unique_ptr<ControlCommands> commands_;
  DataplaneStats stats_;
  uint64_t now_ns_ = 1'000'000'000;
  std::string last_reply_;
};

const std::vector<std::string> kDocumentedCommands = {
    "version", "help",         "allocate",        "update",      "delete",
    "query",   "list",         "stats",           "subscribe",   "address_take",
    "address_release",          "address_list",    "log_level"};

// ------------------------------------------------------------------ basics

TEST_F(ControlCommandsTest, LogLevelIsToldSetAndRefused) {
  const LogLevel before = ProcessLogger().level();
  EXPECT_EQ(Ok({{"cmd", "log_level"}})["level"], std::string(LogLevelName(before)));
  EXPECT_EQ(Ok({{"cmd", "log_level"}, {"level", "debug"}})["level"], "debug");
  EXPECT_EQ(ProcessLogger().level(), LogLevel::kDebug);
  json reply = Call({{"cmd", "log_level"}, {"level", "loud"}});
  EXPECT_FALSE(reply.value("ok", true)) << last_reply_;
  EXPECT_EQ(ProcessLogger().level(), LogLevel::kDebug) << "a refused level changes nothing";
  ProcessLogger().set_level(before);
}

TEST_F(ControlCommandsTest, VersionReportsProtocolAndSoftwareVersion) {
  json reply = Call({{"id", "v-1"}, {"cmd", "version"}});
  ASSERT_TRUE(reply.value("ok", false)) << last_reply_;
  EXPECT_EQ(reply["id"], "v-1");
  EXPECT_EQ(reply["result"]["protocol"], kControlProtocolVersion);
  EXPECT_EQ(reply["result"]["software"], "0.1.0");
}

TEST_F(ControlCommandsTest, HelpListsEveryDocumentedCommandWithText) {
  json result = Ok({{"cmd", "help"}});
  ASSERT_TRUE(result["commands"].is_array());
  std::set<std::string> names;
  for (const json& c : result["commands"]) {
    names.insert(c.value("name", ""));
    EXPECT_FALSE(c.value("help", "").empty()) << c.dump();
  }
  for (const std::string& name : kDocumentedCommands) {
    EXPECT_TRUE(names.count(name)) << "help does not list " << name;
  }
  EXPECT_EQ(names.size(), kDocumentedCommands.size()) << "undocumented command in help";
}

TEST_F(ControlCommandsTest, EveryCommandHelpListsIsDispatched) {
  json result = Ok({{"cmd", "help"}});
  for (const json& c : result["commands"]) {
    json reply = Call({{"cmd", c["name"]}});
    if (!reply.value("ok", false)) {
      EXPECT_NE(ErrorCode(reply), "unknown_command") << c.dump();
    }
  }
}

TEST_F(ControlCommandsTest, IdIsEchoedAsSentOrNullWhenAbsent) {
  EXPECT_EQ(Call({{"id", 42}, {"cmd", "version"}})["id"], 42);
  EXPECT_EQ(Call({{"id", -7}, {"cmd", "version"}})["id"], -7);
  EXPECT_EQ(Call({{"id", "abc"}, {"cmd", "version"}})["id"], "abc");
  EXPECT_TRUE(Call({{"cmd", "version"}})["id"].is_null());
  EXPECT_EQ(Call({{"id", "e-1"}, {"cmd", "nope"}})["id"], "e-1") << "errors echo the id";
}

TEST_F(ControlCommandsTest, SubscribeFlagsTheConnectionOtherCommandsDoNot) {
  bool subscribe = false;
  json reply = Call({{"cmd", "subscribe"}}, &subscribe);
  EXPECT_TRUE(subscribe);
  EXPECT_EQ(reply["result"]["subscribed"], true);
  Call({{"cmd", "version"}}, &subscribe);
  EXPECT_FALSE(subscribe);
  Raw("not json", &subscribe);
  EXPECT_FALSE(subscribe);
}

// ---------------------------------------------------------------- allocate

TEST_F(ControlCommandsTest, AllocateReturnsPairRelayAddressesPortsAndRequestedPeer) {
  json result = Ok({{"id", "alloc-1"},
                    {"cmd", "allocate"},
                    {"label", "call-1"},
                    {"a", {{"peer", "192.0.2.1:4000"}}},
                    {"b", {{"family", "ipv6"}, {"peer", "[2001:db8::5]:5000"},
                           {"policy", "strict"}, {"rtcp_mux", true}}}});
  EXPECT_EQ(result["pair"], 1);
  const json& a = result["a"];
  const json& b = result["b"];
  EXPECT_EQ(a["pair"], 1);
  EXPECT_EQ(a["leg"], "a");
  EXPECT_EQ(a["label"], "call-1");
  EXPECT_EQ(a["relay"], "203.0.113.10:20000");
  EXPECT_EQ(a["rtcp_relay"], "203.0.113.10:20001");
  EXPECT_EQ(a["expected_peer"], "192.0.2.1:4000");
  EXPECT_EQ(a["policy"], "learn");
  EXPECT_EQ(a["state"], "unlatched");
  EXPECT_TRUE(a["learned_peer"].is_null());
  EXPECT_TRUE(a["idle_ms"].is_null());
  EXPECT_EQ(b["leg"], "b");
  EXPECT_NE(b["stream"], a["stream"]);
  EXPECT_EQ(b["relay"], "[2001:db8::10]:20000");
  EXPECT_EQ(b["rtcp_relay"], "[2001:db8::10]:20001");
  EXPECT_EQ(b["expected_peer"], "[2001:db8::5]:5000");
  EXPECT_EQ(b["policy"], "strict");
}

TEST_F(ControlCommandsTest, QueryOfAPairAnswersBothStreams) {
  json pair = Ok({{"cmd", "allocate"}, {"label", "x"}});
  json both = Ok({{"cmd", "query"}, {"pair", pair["pair"]}});
  EXPECT_EQ(both["pair"], pair["pair"]);
  EXPECT_EQ(both["a"]["stream"], pair["a"]["stream"]);
  EXPECT_EQ(both["b"]["stream"], pair["b"]["stream"]);
  EXPECT_EQ(both["b"]["leg"], "b");
  EXPECT_EQ(ErrorCode(Call({{"cmd", "query"}, {"pair", 999}})), "not_found");
}

TEST_F(ControlCommandsTest, StreamObjectHasEveryDocumentedField) {
  json a = Ok({{"cmd", "allocate"}})["a"];
  for (const char* key : {"stream", "pair", "leg", "label", "relay", "rtcp_relay", "policy",
                          "state", "expected_peer", "learned_peer", "packets", "bytes", "drops",
                          "relatches", "idle_ms", "lcore"}) {
    EXPECT_TRUE(a.contains(key)) << "Stream object lacks " << key << ": " << a.dump();
  }
  EXPECT_TRUE(a["expected_peer"].is_null());
  EXPECT_EQ(a["label"], "");
}

TEST_F(ControlCommandsTest, LegFamilyFollowsThePeerWhenNotGiven) {
  json result = Ok({{"cmd", "allocate"}, {"b", {{"peer", "[2001:db8::5]:5000"}}}});
  EXPECT_EQ(result["a"]["relay"], "203.0.113.10:20000");
  EXPECT_EQ(result["b"]["relay"], "[2001:db8::10]:20000");
}

TEST_F(ControlCommandsTest, RetransmittedAllocateGetsTheSameReplyAndAllocatesOnce) {
  json request = {{"v", 1}, {"id", "retry-1"}, {"cmd", "allocate"}, {"label", "x"}};
  bool sub = false;
  const std::string first = commands_->Handle(request.dump(), &sub);
  const std::string second = commands_->Handle(request.dump(), &sub);
  EXPECT_EQ(first, second);
  EXPECT_EQ(StreamCount(), 2u);
  EXPECT_EQ(ListTotal(), 2u);
  EXPECT_EQ(Ok({{"cmd", "stats"}})["pairs"], 1);

  // A different id is a different request.
  json other = Ok({{"id", "retry-2"}, {"cmd", "allocate"}});
  EXPECT_EQ(other["pair"], 2);
  EXPECT_EQ(StreamCount(), 4u);
  // Without an id nothing is cached: each identical request allocates.
  Ok({{"cmd", "allocate"}});
  Ok({{"cmd", "allocate"}});
  EXPECT_EQ(StreamCount(), 8u);
}

TEST_F(ControlCommandsTest, IntegerIdAndStringIdAreDifferentIds) {
  Ok({{"id", 7}, {"cmd", "allocate"}});
  Ok({{"id", "7"}, {"cmd", "allocate"}});
  EXPECT_EQ(StreamCount(), 4u);
  Ok({{"id", 7}, {"cmd", "allocate"}});
  EXPECT_EQ(StreamCount(), 4u);
}

TEST_F(ControlCommandsTest, RetransmittedDeleteIsAnsweredOkAgainNotNotFound) {
  json alloc = Ok({{"cmd", "allocate"}});
  json del = {{"v", 1}, {"id", "del-1"}, {"cmd", "delete"}, {"pair", alloc["pair"]}};
  json r1 = Call(del);
  json r2 = Call(del);
  EXPECT_TRUE(r1.value("ok", false));
  EXPECT_EQ(r1, r2);
  EXPECT_EQ(StreamCount(), 0u);
}

TEST_F(ControlCommandsTest, ReadOnlyCommandsAreNotCachedById) {
  json alloc = Ok({{"cmd", "allocate"}});
  const uint64_t stream = alloc["a"]["stream"];
  json q1 = Ok({{"id", "q"}, {"cmd", "query"}, {"stream", stream}});
  Ok({{"cmd", "update"}, {"stream", stream}, {"policy", "asymmetric"}});
  json q2 = Ok({{"id", "q"}, {"cmd", "query"}, {"stream", stream}});
  EXPECT_EQ(q1["policy"], "learn");
  EXPECT_EQ(q2["policy"], "asymmetric");
}

// A leg's "ice" credentials reach the lcore's table (the RTP slot's
// install carries them); malformed ones are refused, naming the field.
TEST_F(ControlCommandsTest, AllocateTakesIceCredentialsAndRefusesBadOnes) {
  FlowCommand c;
  while (ring_->Pop(&c)) {}
  json ok = Call({{"cmd", "allocate"},
                  {"a", {{"ice", {{"ufrag", "Rl8aUfrg"}, {"pwd", "Pw0123456789/+abcdefghij"}}}}},
                  {"b", json::object()}});
  ASSERT_TRUE(ok["ok"].get<bool>()) << ok;
  IceCredentialTable ice(4);
  while (ring_->Pop(&c)) ApplyFlowCommand(*table_, c, &ice);
  ASSERT_EQ(ice.size(), 1u);
  const Endpoint relay = *Endpoint::Parse(ok["result"]["a"]["relay"].get<std::string>());
  const IceCredentials* got = ice.Find(table_->SlotOf(0, relay.port));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->ufrag_view(), "Rl8aUfrg");
  EXPECT_EQ(got->pwd_view(), "Pw0123456789/+abcdefghij");
  for (const json& bad : {json{{"ufrag", "abc"}, {"pwd", "Pw0123456789/+abcdefghij"}},
                          json{{"ufrag", "Rl8a:frg"}, {"pwd", "Pw0123456789/+abcdefghij"}},
                          json{{"ufrag", "Rl8aUfrg"}, {"pwd", "short"}},
                          json{{"ufrag", "Rl8aUfrg"}}, json("Rl8aUfrg")}) {
    json reply = Call({{"cmd", "allocate"}, {"a", {{"ice", bad}}}});
    EXPECT_EQ(ErrorCode(reply), "invalid_argument") << bad;
    EXPECT_NE(reply["error"]["message"].get<std::string>().find("a.ice"), std::string::npos)
        << reply;
  }
}

TEST_F(ControlCommandsTest, AllocateWhenPortsRunOutIsResourceExhausted) {
  for (int i = 0; i < 4; ++i) Ok({{"cmd", "allocate"}});
  json reply = Call({{"cmd", "allocate"}});
  EXPECT_EQ(ErrorCode(reply), "resource_exhausted");
  EXPECT_EQ(StreamCount(), 8u);
}

// ------------------------------------------------- allocate: leg "relay"

TEST_F(ControlCommandsTest, AllocateWithRequestedRelaysTakesExactlyThosePorts) {
  json result = Ok({{"cmd", "allocate"},
                    {"a", {{"relay", "203.0.113.10:20006"}, {"peer", "192.0.2.1:4000"}}},
                    {"b", {{"relay", "[2001:db8::10]:20004"}}}});  // family from relay
  EXPECT_EQ(result["a"]["relay"], "203.0.113.10:20006");
  EXPECT_EQ(result["a"]["rtcp_relay"], "203.0.113.10:20007");
  EXPECT_EQ(result["b"]["relay"], "[2001:db8::10]:20004");
  EXPECT_EQ(result["b"]["rtcp_relay"], "[2001:db8::10]:20005");
  // Only one leg asks: the other gets the next free pair.
  result = Ok({{"cmd", "allocate"}, {"b", {{"relay", "203.0.113.10:20000"}}}});
  EXPECT_EQ(result["a"]["relay"], "203.0.113.10:20002");
  EXPECT_EQ(result["b"]["relay"], "203.0.113.10:20000");
}

TEST_F(ControlCommandsTest, RequestedRelayInUseIsAlreadyInUseAndAllocatesNothing) {
  Ok({{"cmd", "allocate"}, {"a", {{"relay", "203.0.113.10:20006"}}}});
  json reply = Call({{"cmd", "allocate"}, {"b", {{"relay", "203.0.113.10:20006"}}}});
  EXPECT_EQ(ErrorCode(reply), "already_in_use");
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("b.relay"));
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("203.0.113.10:20006"));
  EXPECT_EQ(StreamCount(), 2u);
}

TEST_F(ControlCommandsTest, BadRequestedRelayIsInvalidArgumentNamingTheField) {
  const std::vector<json> legs = {
      {{"relay", "203.0.113.10:20007"}},                        // odd
      {{"relay", "203.0.113.10:20016"}},                        // above the range
      {{"relay", "203.0.113.10:1000"}},                         // below the range
      {{"relay", "198.51.100.1:20000"}},                        // not a relay address
      {{"family", "ipv6"}, {"relay", "203.0.113.10:20000"}},    // wrong family
      {{"relay", "203.0.113.10"}},                              // no port
      {{"relay", 20000}},                                       // not a string
  };
  for (const json& leg : legs) {
    json reply = Call({{"cmd", "allocate"}, {"a", leg}});
    EXPECT_EQ(ErrorCode(reply), "invalid_argument") << leg.dump();
    EXPECT_THAT(ErrorMessage(reply), HasSubstr("a.relay")) << leg.dump();
  }
  json reply = Call({{"cmd", "allocate"}, {"a", {{"relay", "203.0.113.10:20004"}}},
                     {"b", {{"relay", "203.0.113.10:20004"}}}});
  EXPECT_EQ(ErrorCode(reply), "invalid_argument");
  EXPECT_EQ(StreamCount(), 0u);
}

TEST_F(ControlCommandsTest, DeletedPairsRelaysCanBeRequestedAgain) {
  json request = {{"cmd", "allocate"}, {"a", {{"relay", "203.0.113.10:20010"}}},
                  {"b", {{"relay", "203.0.113.10:20012"}}}};
  json first = Ok(request);
  EXPECT_EQ(ErrorCode(Call(request)), "already_in_use");
  Ok({{"cmd", "delete"}, {"pair", first["pair"]}});
  json again = Ok(request);
  EXPECT_EQ(again["a"]["relay"], "203.0.113.10:20010");
  EXPECT_EQ(again["b"]["relay"], "203.0.113.10:20012");
  EXPECT_NE(again["pair"], first["pair"]);
}

TEST_F(ControlCommandsTest, RetransmittedAllocateWithRelaysGetsTheSameReplyNotAlreadyInUse) {
  json request = {{"v", 1}, {"id", "repush-1"}, {"cmd", "allocate"},
                  {"a", {{"relay", "203.0.113.10:20008"}}},
                  {"b", {{"relay", "203.0.113.10:20014"}}}};
  bool sub = false;
  const std::string first = commands_->Handle(request.dump(), &sub);
  const std::string second = commands_->Handle(request.dump(), &sub);
  EXPECT_EQ(first, second);
  EXPECT_EQ(json::parse(first).value("ok", false), true) << first;
  EXPECT_EQ(StreamCount(), 2u);
}

TEST_F(ControlCommandsTest, LegAddressTakesAPortOnThatRelayAddressAndSetsTheFamily) {
  json result = Ok({{"cmd", "allocate"}, {"b", {{"address", "2001:db8::10"}}}});
  EXPECT_EQ(result["b"]["relay"], "[2001:db8::10]:20000");
  EXPECT_EQ(result["a"]["relay"], "203.0.113.10:20000");
  for (const json& leg : std::vector<json>{{{"address", "198.51.100.1"}},      // not ours
                                           {{"address", "not-an-ip"}},
                                           {{"family", "ipv6"}, {"address", "203.0.113.10"}}}) {
    json reply = Call({{"cmd", "allocate"}, {"a", leg}});
    EXPECT_EQ(ErrorCode(reply), "invalid_argument") << leg.dump();
    EXPECT_THAT(ErrorMessage(reply), HasSubstr("a.address")) << leg.dump();
  }
  EXPECT_EQ(StreamCount(), 2u);
}

TEST_F(ControlCommandsTest, HelpForAllocateMentionsRelay) {
  const json result = Ok({{"cmd", "help"}});
  std::string help;
  for (const json& c : result["commands"]) {
    if (c["name"] == "allocate") help = c["help"].get<std::string>();
  }
  EXPECT_THAT(help, HasSubstr("relay"));
}

// ------------------------------------------------- update / delete / query

TEST_F(ControlCommandsTest, UpdateDeleteQueryRoundTrip) {
  json alloc = Ok({{"cmd", "allocate"}, {"label", "rt"},
                   {"a", {{"peer", "192.0.2.1:4000"}}}, {"b", {{"peer", "192.0.2.2:5000"}}}});
  const uint64_t pair = alloc["pair"], a = alloc["a"]["stream"], b = alloc["b"]["stream"];
  DrainRing();

  json q = Ok({{"cmd", "query"}, {"stream", a}});
  EXPECT_EQ(q["stream"], a);
  EXPECT_EQ(q["pair"], pair);
  EXPECT_EQ(q["label"], "rt");
  EXPECT_EQ(q["expected_peer"], "192.0.2.1:4000");
  EXPECT_EQ(q["relay"], alloc["a"]["relay"]);

  json u = Ok({{"cmd", "update"}, {"stream", a}, {"peer", "192.0.2.9:6000"},
               {"policy", "asymmetric"}});
  EXPECT_EQ(u["stream"], a);
  EXPECT_EQ(u["expected_peer"], "192.0.2.9:6000");
  EXPECT_EQ(u["policy"], "asymmetric");
  DrainRing();
  q = Ok({{"cmd", "query"}, {"stream", a}});
  EXPECT_EQ(q["expected_peer"], "192.0.2.9:6000");
  EXPECT_EQ(q["policy"], "asymmetric");
  // The other leg is untouched.
  q = Ok({{"cmd", "query"}, {"stream", b}});
  EXPECT_EQ(q["expected_peer"], "192.0.2.2:5000");
  EXPECT_EQ(q["policy"], "learn");

  // Policy only: the peer stays. Empty peer: cleared.
  u = Ok({{"cmd", "update"}, {"stream", a}, {"policy", "strict"}});
  EXPECT_EQ(u["expected_peer"], "192.0.2.9:6000");
  u = Ok({{"cmd", "update"}, {"stream", a}, {"peer", ""}});
  EXPECT_TRUE(u["expected_peer"].is_null()) << u.dump();
  EXPECT_EQ(u["policy"], "strict");

  json d = Ok({{"cmd", "delete"}, {"pair", pair}});
  EXPECT_EQ(d["deleted"], pair);
  EXPECT_EQ(ErrorCode(Call({{"cmd", "query"}, {"stream", a}})), "not_found");
  EXPECT_EQ(ErrorCode(Call({{"cmd", "query"}, {"stream", b}})), "not_found");
  EXPECT_EQ(ErrorCode(Call({{"cmd", "delete"}, {"pair", pair}})), "not_found");
  EXPECT_EQ(StreamCount(), 0u);
}

TEST_F(ControlCommandsTest, ListFiltersAndPages) {
  Ok({{"cmd", "allocate"}, {"label", "one"}, {"a", {{"peer", "192.0.2.1:4000"}}}});
  Ok({{"cmd", "allocate"}, {"label", "two"}, {"b", {{"policy", "strict"}}}});
  Ok({{"cmd", "allocate"}, {"label", "one"}});
  json all = Ok({{"cmd", "list"}});
  EXPECT_EQ(all["total"], 6);
  ASSERT_EQ(all["streams"].size(), 6u);
  EXPECT_EQ(all["streams"][0]["stream"], 1);
  EXPECT_EQ(all["streams"][5]["stream"], 6);

  json one = Ok({{"cmd", "list"}, {"label", "one"}});
  EXPECT_EQ(one["total"], 4);
  json page = Ok({{"cmd", "list"}, {"label", "one"}, {"offset", 1}, {"limit", 2}});
  EXPECT_EQ(page["total"], 4);
  ASSERT_EQ(page["streams"].size(), 2u);
  EXPECT_EQ(page["streams"][0]["stream"], 2);
  EXPECT_EQ(page["streams"][1]["stream"], 5);

  EXPECT_EQ(Ok({{"cmd", "list"}, {"policy", "strict"}})["total"], 1);
  EXPECT_EQ(Ok({{"cmd", "list"}, {"state", "unlatched"}})["total"], 6);
  EXPECT_EQ(Ok({{"cmd", "list"}, {"state", "locked"}})["total"], 0);
  json by_peer = Ok({{"cmd", "list"}, {"peer_ip", "192.0.2.1"}});
  EXPECT_EQ(by_peer["total"], 1);
  EXPECT_EQ(by_peer["streams"][0]["stream"], 1);
}

// ------------------------------------------------------------------ errors

TEST_F(ControlCommandsTest, NotJsonIsParseError) {
  json reply = Raw("hello");
  EXPECT_EQ(ErrorCode(reply), "parse_error");
  EXPECT_TRUE(reply["id"].is_null());
}

TEST_F(ControlCommandsTest, WrongVersionIsBadVersion) {
  EXPECT_EQ(ErrorCode(Call({{"v", 2}, {"id", 1}, {"cmd", "version"}})), "bad_version");
  EXPECT_EQ(ErrorCode(Raw(R"({"cmd":"version"})")), "bad_version");
  EXPECT_EQ(ErrorCode(Raw(R"({"v":"1","cmd":"version"})")), "bad_version");
  // 2^32 + 1 must not be truncated to 1.
  EXPECT_EQ(ErrorCode(Raw(R"({"v":4294967297,"cmd":"version"})")), "bad_version");
  json reply = Call({{"v", 0}, {"id", "x"}, {"cmd", "version"}});
  EXPECT_EQ(reply["id"], "x");
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("v"));
}

TEST_F(ControlCommandsTest, UnknownCommandIsUnknownCommandNamingIt) {
  json reply = Call({{"cmd", "allocat"}});
  EXPECT_EQ(ErrorCode(reply), "unknown_command");
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("allocat"));
}

TEST_F(ControlCommandsTest, BadPeerIsInvalidArgumentNamingTheField) {
  json reply = Call({{"cmd", "allocate"}, {"a", {{"peer", "203.0.113.5:99999"}}}});
  EXPECT_EQ(ErrorCode(reply), "invalid_argument");
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("a.peer"));
  reply = Call({{"cmd", "allocate"}, {"b", {{"peer", "203.0.113.5:99999"}}}});
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("b.peer"));
  EXPECT_EQ(StreamCount(), 0u);

  json alloc = Ok({{"cmd", "allocate"}});
  reply = Call({{"cmd", "update"}, {"stream", alloc["a"]["stream"]},
                {"peer", "203.0.113.5:99999"}});
  EXPECT_EQ(ErrorCode(reply), "invalid_argument");
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("peer"));
}

TEST_F(ControlCommandsTest, OtherBadArgumentsNameTheirField) {
  struct Case {
    json request;
    const char* field;
  };
  json alloc = Ok({{"cmd", "allocate"}});
  const uint64_t stream = alloc["a"]["stream"];
  const std::vector<Case> cases = {
      {{{"cmd", "allocate"}, {"a", {{"family", "ipv5"}}}}, "a.family"},
      {{{"cmd", "allocate"}, {"b", {{"policy", "lol"}}}}, "b.policy"},
      {{{"cmd", "allocate"}, {"a", {{"rtcp_mux", "yes"}}}}, "a.rtcp_mux"},
      {{{"cmd", "allocate"}, {"a", "ipv4"}}, "a"},
      {{{"cmd", "allocate"}, {"label", 5}}, "label"},
      {{{"cmd", "update"}}, "stream"},
      {{{"cmd", "update"}, {"stream", -1}}, "stream"},
      {{{"cmd", "update"}, {"stream", stream}, {"policy", "lol"}}, "policy"},
      {{{"cmd", "delete"}, {"pair", "1"}}, "pair"},
      {{{"cmd", "query"}}, "stream"},
      {{{"cmd", "list"}, {"state", "free"}}, "state"},
      {{{"cmd", "list"}, {"limit", -1}}, "limit"},
      {{{"cmd", "list"}, {"offset", "3"}}, "offset"},
      {{{"cmd", "list"}, {"peer_ip", "nope"}}, "peer_ip"},
      {{{"cmd", "list"}, {"label", 1}}, "label"},
  };
  for (const Case& c : cases) {
    json reply = Call(c.request);
    EXPECT_EQ(ErrorCode(reply), "invalid_argument") << c.request.dump();
    EXPECT_THAT(ErrorMessage(reply), HasSubstr(c.field)) << c.request.dump();
  }
}

// BUG (control_commands.cc, OptionalPolicy/OptionalPeer): a type error in
// a leg field is reported as "a.: peer: must be a string" (and at top
// level as ": policy: must be a string"), while every value error says
// "a.peer: ...". The field path a client or operator sees is mangled.
TEST_F(ControlCommandsTest, WrongTypeLegFieldErrorNamesTheDottedPath) {
  json reply = Call({{"cmd", "allocate"}, {"a", {{"peer", 4000}}}});
  EXPECT_EQ(ErrorCode(reply), "invalid_argument");
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("a.peer")) << "BUG: mangled field path";
  reply = Call({{"cmd", "allocate"}, {"b", {{"policy", 1}}}});
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("b.policy")) << "BUG: mangled field path";
  reply = Call({{"cmd", "list"}, {"policy", true}});
  EXPECT_THAT(ErrorMessage(reply), ::testing::StartsWith("policy"))
      << "BUG: mangled field path";
}

TEST_F(ControlCommandsTest, WrongFamilyPeerIsInvalidArgumentAndAllocatesNothing) {
  json reply = Call({{"cmd", "allocate"},
                     {"a", {{"family", "ipv4"}, {"peer", "[2001:db8::5]:4000"}}}});
  EXPECT_EQ(ErrorCode(reply), "invalid_argument");
  EXPECT_THAT(ErrorMessage(reply), HasSubstr("peer"));
  EXPECT_EQ(StreamCount(), 0u);
}

TEST_F(ControlCommandsTest, UnknownStreamOrPairIsNotFound) {
  EXPECT_EQ(ErrorCode(Call({{"cmd", "query"}, {"stream", 12345}})), "not_found");
  EXPECT_EQ(ErrorCode(Call({{"cmd", "update"}, {"stream", 12345}, {"policy", "strict"}})),
            "not_found");
  EXPECT_EQ(ErrorCode(Call({{"cmd", "delete"}, {"pair", 12345}})), "not_found");
  EXPECT_EQ(ErrorCode(Call({{"cmd", "query"}, {"stream", UINT64_MAX}})), "not_found");
}

TEST_F(ControlCommandsTest, MalformedRequestsGetAWellFormedErrorAndChangeNothing) {
  std::string deep_array;
  for (int i = 0; i < 20000; ++i) deep_array += '[';
  for (int i = 0; i < 20000; ++i) deep_array += ']';
  std::string deep_object = "1";
  for (int i = 0; i < 5000; ++i) deep_object = R"({"x":)" + deep_object + "}";

  const std::vector<std::string> requests = {
      "",
      " ",
      "{}",
      "[]",
      "null",
      "42",
      R"("allocate")",
      R"({"v":1)",
      R"({"v":1,"cmd":"allocate")",
      R"({"v":1,"cmd":"allocate"}{"v":1,"cmd":"allocate"})",
      R"({"v":1})",
      R"({"v":1,"cmd":42})",
      R"({"v":1,"cmd":null})",
      R"({"v":1,"cmd":["allocate"]})",
      R"({"v":1,"cmd":{"name":"allocate"}})",
      R"({"v":1,"cmd":""})",
      R"({"v":1,"cmd":"ALLOCATE"})",
      R"({"v":1,"cmd":"allocate\u0000"})",
      R"({"v":"1","cmd":"allocate"})",
      R"({"v":1.0,"cmd":"allocate"})",
      R"({"v":-1,"cmd":"allocate"})",
      R"({"v":true,"cmd":"allocate"})",
      R"({"v":18446744073709551617,"cmd":"allocate"})",
      R"({"v":1e999,"cmd":"allocate"})",
      R"({"v":1,"id":{"x":1},"cmd":"allocate"})",
      R"({"v":1,"id":[1],"cmd":"allocate"})",
      R"({"v":1,"id":1.5,"cmd":"allocate"})",
      R"({"v":1,"id":true,"cmd":"allocate"})",
      R"({"v":1,"cmd":"allocate","a":"ipv4"})",
      R"({"v":1,"cmd":"allocate","a":[]})",
      R"({"v":1,"cmd":"allocate","a":null,"b":7})",
      R"({"v":1,"cmd":"allocate","a":{"family":6}})",
      R"({"v":1,"cmd":"allocate","a":{"family":"ipv5"}})",
      R"({"v":1,"cmd":"allocate","a":{"family":["ipv4"]}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":4000}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"192.0.2.1"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"192.0.2.1:0"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"192.0.2.1:-5"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"192.0.2.1:4000:1"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"[2001:db8::1:4000"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"2001:db8::1:4000"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"[192.0.2.1]:"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":"host.example:4000"}})",
      R"({"v":1,"cmd":"allocate","a":{"peer":{"ip":"192.0.2.1","port":4000}}})",
      R"({"v":1,"cmd":"allocate","a":{"policy":"lol"}})",
      R"({"v":1,"cmd":"allocate","a":{"policy":1}})",
      R"({"v":1,"cmd":"allocate","a":{"rtcp_mux":"yes"}})",
      R"({"v":1,"cmd":"allocate","b":{"rtcp_mux":1}})",
      R"({"v":1,"cmd":"allocate","label":7})",
      R"({"v":1,"cmd":"allocate","label":{"a":[{"b":null}]}})",
      R"({"v":1,"cmd":"allocate","a":{"family":"ipv4","peer":"[2001:db8::5]:4000"}})",
      R"({"v":1,"cmd":"allocate","a":{"family":"ipv6","peer":"192.0.2.5:4000"}})",
      R"({"v":1,"cmd":"allocate","a":)" + deep_array + "}",
      R"({"v":1,"cmd":"allocate","label":)" + deep_object + "}",
      R"({"v":1,"cmd":"update"})",
      R"({"v":1,"cmd":"update","stream":"1"})",
      R"({"v":1,"cmd":"update","stream":-1})",
      R"({"v":1,"cmd":"update","stream":0})",
      R"({"v":1,"cmd":"update","stream":1.5})",
      R"({"v":1,"cmd":"update","stream":1e300})",
      R"({"v":1,"cmd":"update","stream":99999999999999999999999999})",
      R"({"v":1,"cmd":"update","stream":18446744073709551615})",
      R"({"v":1,"cmd":"update","stream":-9223372036854775808})",
      R"({"v":1,"cmd":"update","stream":[1]})",
      R"({"v":1,"cmd":"update","stream":1,"peer":[]})",
      R"({"v":1,"cmd":"update","stream":1,"policy":true})",
      R"({"v":1,"cmd":"delete"})",
      R"({"v":1,"cmd":"delete","pair":null})",
      R"({"v":1,"cmd":"delete","pair":{"pair":1}})",
      R"({"v":1,"cmd":"delete","pair":-2})",
      R"({"v":1,"cmd":"delete","pair":0})",
      R"({"v":1,"cmd":"query","stream":true})",
      R"({"v":1,"cmd":"query","stream":"")",
      R"({"v":1,"cmd":"list","state":"free"})",
      R"({"v":1,"cmd":"list","state":3})",
      R"({"v":1,"cmd":"list","limit":-5})",
      R"({"v":1,"cmd":"list","limit":1e400})",
      R"({"v":1,"cmd":"list","offset":"0"})",
      R"({"v":1,"cmd":"list","offset":2.5})",
      R"({"v":1,"cmd":"list","peer_ip":"not-an-ip"})",
      R"({"v":1,"cmd":"list","peer_ip":"192.0.2.1:4000"})",
      R"({"v":1,"cmd":"list","policy":["learn"]})",
      // Invalid UTF-8 and bad escapes inside strings.
      "{\"v\":1,\"cmd\":\"allocate\",\"label\":\"\xff\xfe\"}",
      "{\"v\":1,\"cmd\":\"ver\xc3sion\"}",
      "{\"v\":1,\"cmd\":\"allocate\",\"a\":{\"peer\":\"192.0.2.1:40\xe2\x82\"}}",
      "{\"v\":1,\"id\":\"\xc0\xaf\",\"cmd\":\"version\"}",
      R"({"v":1,"cmd":"\ud800"})",
      R"({"v":1,"cmd":"allocate","label":"\x41"})",
      WithNul("{\"v\":1,\"cmd\":\"allocate\0\"}"),
      WithNul("\0\0\0\0"),
  };
  ASSERT_GE(requests.size(), 40u);
  for (const std::string& line : requests) {
    SCOPED_TRACE(testing::Message() << "request: " << json(line).dump(-1, ' ', true,
                                                        json::error_handler_t::replace));
    json reply = Raw(line);
    EXPECT_FALSE(reply.value("ok", true)) << "accepted: " << last_reply_;
  }
  EXPECT_EQ(StreamCount(), 0u);
  EXPECT_EQ(Ok({{"cmd", "stats"}})["pairs"], 0);
  // And the endpoint still works.
  EXPECT_EQ(Ok({{"cmd", "allocate"}})["pair"], 1);
}

TEST_F(ControlCommandsTest, RepliesStayValidJsonWhenEchoingOddStrings) {
  // Strings that are valid JSON but awkward to echo back.
  for (const char* line : {
           R"({"v":1,"id":"\u0000\u001f\"\\","cmd":"nope\n\u2028"})",
           R"({"v":2,"id":"\ud83d\ude00","cmd":"version"})",
           R"({"v":1,"id":"x","cmd":"allocate","a":{"peer":"\u0000:1"}})",
       }) {
    json reply = Raw(line);
    EXPECT_FALSE(reply.value("ok", true)) << line;
  }
}

// ------------------------------------------------------------------- stats

LcoreStats MakeLcore(uint32_t id, uint64_t base) {
  LcoreStats l{};
  l.lcore_id = id;
  LcoreCounters& c = l.counters;
  c.rx = base + 1;
  c.rx_bytes = base + 2;
  c.relayed = base + 3;
  c.exception_in = base + 4;
  c.exception_out = base + 5;
  c.handoff = base + 6;
  c.solicits = base + 7;
  c.events_lost = base + 8;
  c.busy_cycles = base + 9;
  c.idle_cycles = base + 10;
  for (size_t i = 0; i < kDropReasonCount; ++i) c.drops[i] = base + 100 + i;
  return l;
}

const char* const kCounterFields[] = {"rx",      "rx_bytes", "relayed",     "exception_in",
                                      "exception_out", "handoff", "solicits", "events_lost",
                                      "busy_cycles", "idle_cycles"};

TEST_F(ControlCommandsTest, StatsWithOneLcoreReportsItsCountersAsTheTotal) {
  stats_.lcores.push_back(MakeLcore(3, 1000));
  stats_.tsc_hz = 2'500'000'000;
  stats_.neighbors = 4;
  stats_.table_bytes = 4096;
  json s = Ok({{"cmd", "stats"}});
  EXPECT_EQ(s["tsc_hz"], 2'500'000'000ull);
  EXPECT_EQ(s["neighbors"], 4);
  EXPECT_EQ(s["table_bytes"], 4096);
  ASSERT_EQ(s["lcores"].size(), 1u);
  EXPECT_EQ(s["lcores"][0]["lcore"], 3);
  for (const char* field : kCounterFields) {
    EXPECT_EQ(s["total"][field], s["lcores"][0][field]) << field;
  }
  EXPECT_EQ(s["total"]["rx"], 1001);
  EXPECT_EQ(s["total"]["idle_cycles"], 1010);
  const json& drops = s["total"]["drops"];
  ASSERT_TRUE(drops.is_object());
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string name(kDropReasonNames[i]);
    ASSERT_TRUE(drops.contains(name)) << "drops lacks " << name;
    EXPECT_EQ(drops[name], 1100 + i) << name;
  }
  EXPECT_EQ(drops.size(), kDropReasonCount);
}

TEST_F(ControlCommandsTest, StatsTotalsSumEveryLcore) {
  stats_.lcores.push_back(MakeLcore(1, 1000));
  stats_.lcores.push_back(MakeLcore(2, 50));
  json s = Ok({{"cmd", "stats"}});
  ASSERT_EQ(s["lcores"].size(), 2u);
  EXPECT_EQ(s["lcores"][0]["lcore"], 1);
  EXPECT_EQ(s["lcores"][1]["lcore"], 2);
  for (const char* field : kCounterFields) {
    EXPECT_EQ(s["total"][field].get<uint64_t>(),
              s["lcores"][0][field].get<uint64_t>() + s["lcores"][1][field].get<uint64_t>())
        << field;
  }
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string name(kDropReasonNames[i]);
    ASSERT_TRUE(s["lcores"][1]["drops"].contains(name)) << name;
    EXPECT_EQ(s["total"]["drops"][name].get<uint64_t>(), 1100 + i + 150 + i) << name;
  }
}

TEST_F(ControlCommandsTest, StatsCountsStreamsPairsAndFreePorts) {
  json s = Ok({{"cmd", "stats"}});
  EXPECT_EQ(s["streams"], 0);
  EXPECT_EQ(s["free_port_pairs_v4"], 8);
  EXPECT_EQ(s["free_port_pairs_v6"], 8);
  EXPECT_EQ(s["lcores"].size(), 0u);
  EXPECT_EQ(s["total"]["rx"], 0);
  Ok({{"cmd", "allocate"}, {"b", {{"family", "ipv6"}}}});
  s = Ok({{"cmd", "stats"}});
  EXPECT_EQ(s["streams"], 2);
  EXPECT_EQ(s["pairs"], 1);
  EXPECT_EQ(s["free_port_pairs_v4"], 7);
  EXPECT_EQ(s["free_port_pairs_v6"], 7);
}

// ------------------------------------------------------------------ events

TEST_F(ControlCommandsTest, EventLinesFollowTheDocumentedShape) {
  ControlEvent latched{ControlEvent::Type::kLatched, 12, 6,
                       *Endpoint::Parse("198.51.100.7:31000"), 0};
  json j = json::parse(ControlCommands::EventLine(latched));
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["event"], "latched");
  EXPECT_EQ(j["stream"], 12);
  EXPECT_EQ(j["pair"], 6);
  EXPECT_EQ(j["peer"], "198.51.100.7:31000");

  ControlEvent relatched{ControlEvent::Type::kRelatched, 13, 6,
                         *Endpoint::Parse("[2001:db8::7]:31000"), 0};
  j = json::parse(ControlCommands::EventLine(relatched));
  EXPECT_EQ(j["event"], "relatched");
  EXPECT_EQ(j["peer"], "[2001:db8::7]:31000");

  ControlEvent idle{ControlEvent::Type::kIdle, 12, 6, {}, 61'500'000'000};
  std::string line = ControlCommands::EventLine(idle);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  j = json::parse(line);
  EXPECT_EQ(j["event"], "idle");
  EXPECT_EQ(j["idle_ms"], 61500);
}

// ------------------------------------------------------------------ standby addresses

class AddressCommandsTest : public ControlCommandsTest {
 protected:
  AddressCommandsTest() : ControlCommandsTest({Ip("203.0.113.70"), Ip("2001:db8::70")}) {}
  bool Held(const char* address) {
    const json list = Ok({{"cmd", "address_list"}});
    for (const json& a : list["addresses"]) {
      if (a["address"].get<std::string>() == address) return a["held"].get<bool>();
    }
    ADD_FAILURE() << address << " not listed";
    return false;
  }
};

TEST_F(AddressCommandsTest, ListsFixedAndStandbyAddressesWithWhetherHeld) {
  json list = Ok({{"cmd", "address_list"}})["addresses"];
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0], (json{{"address", "203.0.113.10"}, {"kind", "fixed"}, {"held", true}}));
  EXPECT_EQ(list[2], (json{{"address", "203.0.113.70"}, {"kind", "standby"}, {"held", false}}));
  EXPECT_EQ(list[3], (json{{"address", "2001:db8::70"}, {"kind", "standby"}, {"held", false}}));
}

TEST_F(AddressCommandsTest, TakeAndReleaseMoveTheHeldFlagAndAskForAnnouncements) {
  const RelayAddresses& addresses = table_->addresses();
  const uint8_t vip = addresses.Find(Ip("203.0.113.70"));
  json taken = Ok({{"cmd", "address_take"}, {"address", "203.0.113.70"}});
  EXPECT_EQ(taken["held"], true);
  EXPECT_EQ(taken["was_held"], false);
  EXPECT_TRUE(Held("203.0.113.70"));
  EXPECT_FALSE(Held("2001:db8::70")) << "only the address named moves";
  EXPECT_TRUE(addresses.holding().announcing());
  EXPECT_EQ(addresses.holding().announcements_left(vip), AddressHolding::kAnnouncements);

  json released = Ok({{"cmd", "address_release"}, {"address", "203.0.113.70"}});
  EXPECT_EQ(released["held"], false);
  EXPECT_EQ(released["was_held"], true);
  EXPECT_FALSE(Held("203.0.113.70"));
  EXPECT_FALSE(addresses.holding().announcing()) << "a release cancels announcements still due";
}

TEST_F(AddressCommandsTest, RefusesFixedUnknownAndMalformedAddresses) {
  json fixed = Call({{"cmd", "address_release"}, {"address", "203.0.113.10"}});
  EXPECT_EQ(ErrorCode(fixed), "invalid_argument");
  EXPECT_THAT(ErrorMessage(fixed), HasSubstr("fixed relay address"));
  EXPECT_TRUE(Held("203.0.113.10")) << "a refused release changes nothing";
  json unknown = Call({{"cmd", "address_take"}, {"address", "203.0.113.99"}});
  EXPECT_THAT(ErrorMessage(unknown), HasSubstr("not a relay address"));
  EXPECT_THAT(ErrorMessage(Call({{"cmd", "address_take"}, {"address", "vip"}})),
              HasSubstr("address"));
  EXPECT_THAT(ErrorMessage(Call({{"cmd", "address_take"}})), HasSubstr("address: required"));
  EXPECT_EQ(ErrorCode(Call({{"cmd", "address_take"}, {"address", 7}})), "invalid_argument");
}

TEST_F(AddressCommandsTest, UnaskedCallsAvoidAStandbyAddressNotHeldAndAskedOnesMayUseIt) {
  // Four IPv4 pairs on the fixed address: all taken, the standby one not used.
  for (int i = 0; i < 4; ++i) {
    json pair = Ok({{"cmd", "allocate"}, {"a", {{"family", "ipv4"}}}, {"b", {{"family", "ipv4"}}}});
    EXPECT_THAT(pair["a"]["relay"].get<std::string>(), HasSubstr("203.0.113.10:"));
  }
  EXPECT_EQ(ErrorCode(Call({{"cmd", "allocate"}, {"a", {{"family", "ipv4"}}},
                            {"b", {{"family", "ipv4"}}}})),
            "resource_exhausted");
  // A failover prepares the streams of the address before taking it.
  json prepared = Ok({{"cmd", "allocate"},
                      {"a", {{"relay", "203.0.113.70:20004"}}},
                      {"b", {{"relay", "203.0.113.70:20008"}}}});
  EXPECT_EQ(prepared["a"]["relay"], "203.0.113.70:20004");
  Ok({{"cmd", "address_take"}, {"address", "203.0.113.70"}});
  json unasked = Ok({{"cmd", "allocate"}, {"a", {{"family", "ipv4"}}}, {"b", {{"family", "ipv4"}}}});
  EXPECT_THAT(unasked["a"]["relay"].get<std::string>(), HasSubstr("203.0.113.70:"))
      << "held, the standby address takes calls like a fixed one";
}

}  // namespace
}  // namespace rtplatch
