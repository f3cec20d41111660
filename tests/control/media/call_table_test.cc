#include "control/media/call_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>

#include "nlohmann/json.hpp"
#include "tests/common/endpoint_literal.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;

constexpr int64_t kNow = 1'700'000'000;

MediaLine Line(uint64_t pair, absl::string_view relay_a, absl::string_view relay_b) {
  MediaLine m;
  m.pair = pair;
  m.stream_a = 2 * pair - 1;
  m.stream_b = 2 * pair;
  m.relay_a = Ep(relay_a);
  m.relay_b = Ep(relay_b);
  m.rtcp_a = Endpoint{m.relay_a.ip, static_cast<uint16_t>(m.relay_a.port + 1)};
  m.rtcp_b = Endpoint{m.relay_b.ip, static_cast<uint16_t>(m.relay_b.port + 1)};
  return m;
}

// An INVITE from a NAT'd phone to a phone on the public internet, with
// audio (and optionally video) relayed.
Call MakeCall(absl::string_view call_id, std::vector<uint64_t> pairs) {
  Call c;
  c.call_id = std::string(call_id);
  c.caller.aor = "alice@example.com";
  c.caller.tag = "a73kszlfl";
  c.caller.contact = "sip:alice@192.168.1.20:5060;ob";
  c.caller.user_agent = "Yealink SIP-T46S 66.86.0.15";
  c.caller.route = SipRoute{Ep("203.0.113.40:31000"), SipTransportKind::kUdp, 1};
  c.caller.natted = true;
  c.caller.nat_reasons = {"via_inside", "contact_inside"};
  c.caller.policy = LatchPolicy::kLearn;
  c.callee.aor = "bob@example.com";
  c.callee.tag = "314159";
  c.callee.contact = "sip:bob@[2001:db8::20]:5070";
  c.callee.user_agent = "baresip v3.0";
  c.callee.route = SipRoute{Ep("[2001:db8::20]:5070"), SipTransportKind::kTcp, 9};
  c.callee.policy = LatchPolicy::kStrict;
  c.callee.media_ipv6 = true;
  c.from_header = "<sip:alice@example.com>;tag=a73kszlfl";
  c.to_header = "<sip:bob@example.com>";
  c.anchored = true;
  for (uint64_t p : pairs) {
    c.media.push_back(Line(p, "203.0.113.10:20000", "[2001:db8::1]:20002"));
  }
  c.created_at = kNow - 42;
  return c;
}

TEST(CallTableTest, InsertFindAndRefuseADuplicateCallId) {
  CallTable table;
  Call* a = table.Insert(MakeCall("843817637684230@192.168.1.20", {6}));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->call_id, "843817637684230@192.168.1.20");
  EXPECT_EQ(table.Find("843817637684230@192.168.1.20"), a);
  EXPECT_EQ(table.Find("unknown@192.168.1.20"), nullptr);

  Call again = MakeCall("843817637684230@192.168.1.20", {9});
  again.caller.aor = "mallory@example.com";
  EXPECT_EQ(table.Insert(std::move(again)), nullptr) << "a loop or a replay";
  EXPECT_EQ(table.size(), 1u);
  // The refused call changed nothing: not its caller, not its pair.
  Call* kept = table.Find("843817637684230@192.168.1.20");
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->caller.aor, "alice@example.com");
  EXPECT_EQ(table.FindByPair(9), nullptr);
  EXPECT_EQ(table.FindByPair(6), kept);
}

TEST(CallTableTest, ASpiralsSecondPassIsACallOfItsOwn) {
  CallTable table;
  const std::string id = "843817637684230@192.168.1.20";
  Call first = MakeCall(id, {6});
  first.media_elsewhere = true;
  ASSERT_NE(table.Insert(std::move(first)), nullptr);
  Call second = MakeCall(id, {7});
  second.spiral = true;
  ASSERT_NE(table.Insert(std::move(second)), nullptr) << "the same Call-ID on its second pass";
  EXPECT_EQ(table.size(), 2u);
  ASSERT_NE(table.Find(id), nullptr);
  EXPECT_FALSE(table.Find(id)->spiral);
  ASSERT_NE(table.Find(CallKey(id, true)), nullptr);
  EXPECT_TRUE(table.Find(CallKey(id, true))->spiral);
  ASSERT_NE(table.FindByPair(7), nullptr);
  EXPECT_TRUE(table.FindByPair(7)->spiral) << "a pair leads to its own pass";
  Call third = MakeCall(id, {});
  third.spiral = true;
  EXPECT_EQ(table.Insert(std::move(third)), nullptr) << "a third pass is a loop";
  table.Erase(CallKey(id, true));
  EXPECT_EQ(table.FindByPair(7), nullptr);
  EXPECT_NE(table.Find(id), nullptr) << "the first pass stays";
}

TEST(CallTableTest, FindByPairCoversEveryMediaLineButNotPairZero) {
  CallTable table;
  Call c = MakeCall("call-1@192.168.1.20", {6, 7});
  c.media.push_back(MediaLine{});  // a line not allocated (yet): pair 0
  ASSERT_NE(table.Insert(std::move(c)), nullptr);
  ASSERT_NE(table.FindByPair(6), nullptr);
  EXPECT_EQ(table.FindByPair(6)->call_id, "call-1@192.168.1.20");
  EXPECT_EQ(table.FindByPair(7)->call_id, "call-1@192.168.1.20");
  EXPECT_EQ(table.FindByPair(0), nullptr);
  EXPECT_EQ(table.FindByPair(8), nullptr);
}

TEST(CallTableTest, PairIndexFollowsMediaLines) {
  CallTable table;
  ASSERT_NE(table.Insert(MakeCall("call-1@192.168.1.20", {6})), nullptr);
  Call* call = table.Find("call-1@192.168.1.20");

  // A re-INVITE adds video: a new line, indexed when the proxy says so.
  call->media.push_back(Line(8, "203.0.113.10:20004", "[2001:db8::1]:20006"));
  EXPECT_EQ(table.FindByPair(8), nullptr);
  table.IndexPairs(*call);
  EXPECT_EQ(table.FindByPair(8), call);

  // After a dataplane restart the audio line is allocated again.
  table.UnindexPair(6);
  call->media[0].pair = 11;
  table.IndexPairs(*call);
  EXPECT_EQ(table.FindByPair(6), nullptr);
  EXPECT_EQ(table.FindByPair(11), call);
  EXPECT_EQ(table.FindByPair(8), call);
}

TEST(CallTableTest, EraseDropsOnlyThatCallsPairs) {
  CallTable table;
  ASSERT_NE(table.Insert(MakeCall("call-1@192.168.1.20", {6, 7})), nullptr);
  ASSERT_NE(table.Insert(MakeCall("call-2@192.168.1.21", {8})), nullptr);
  Call* first = table.Find("call-1@192.168.1.20");
  // Pair 7 was re-allocated to call 2 (a dataplane restart hands out ids
  // from 1 again) before call 1's line was updated.
  Call* second = table.Find("call-2@192.168.1.21");
  second->media.push_back(Line(7, "203.0.113.10:20008", "[2001:db8::1]:20010"));
  table.IndexPairs(*second);

  // Erase given the call's own Call-ID string, as the proxy might.
  table.Erase(first->call_id);
  EXPECT_EQ(table.Find("call-1@192.168.1.20"), nullptr);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.FindByPair(6), nullptr);
  second = table.Find("call-2@192.168.1.21");
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(table.FindByPair(7), second) << "pair 7 belongs to call 2 now";
  EXPECT_EQ(table.FindByPair(8), second);

  table.Erase("call-1@192.168.1.20");  // again: nothing to do
  table.Erase("never@192.168.1.20");
  EXPECT_EQ(table.size(), 1u);
}

TEST(CallTableTest, ForEachVisitsEveryCall) {
  CallTable table;
  ASSERT_NE(table.Insert(MakeCall("call-1@192.168.1.20", {6})), nullptr);
  ASSERT_NE(table.Insert(MakeCall("call-2@192.168.1.21", {7})), nullptr);
  std::vector<std::string> ids;
  const CallTable& view = table;
  view.ForEach([&](const Call& c) { ids.push_back(c.call_id); });
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"call-1@192.168.1.20", "call-2@192.168.1.21"}));
  table.ForEach([](Call& c) { c.state = Call::State::kConfirmed; });
  EXPECT_EQ(table.Find("call-2@192.168.1.21")->state, Call::State::kConfirmed);
}

TEST(CallTableTest, PairLabelIsPrefixIndexAndCallId) {
  Call c = MakeCall("a84b4c76e66710@pc33.example.com", {});
  EXPECT_EQ(c.PairLabel(0), "rc:0:a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(c.PairLabel(12), "rc:12:a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(CallTable::kPairLabelPrefix, "rc:");
}

TEST(CallTableTest, CallStateNames) {
  EXPECT_EQ(CallStateName(Call::State::kCalling), "calling");
  EXPECT_EQ(CallStateName(Call::State::kEarly), "early");
  EXPECT_EQ(CallStateName(Call::State::kConfirmed), "confirmed");
}

TEST(CallTableTest, CallToJsonDescribesTheCall) {
  Call c = MakeCall("call-1@192.168.1.20", {6, 7});
  c.state = Call::State::kEarly;
  c.media[0].peer_a = Ep("192.168.1.20:4000");
  c.media[0].peer_b = Ep("[2001:db8::20]:30000");
  const json j = CallToJson(c, kNow);

  EXPECT_EQ(j["call_id"], "call-1@192.168.1.20");
  EXPECT_EQ(j["state"], "early");
  EXPECT_EQ(j["caller"], "alice@example.com");
  EXPECT_EQ(j["callee"], "bob@example.com");
  EXPECT_EQ(j["anchored"], true);
  EXPECT_EQ(j["pairs"], json::array({6, 7}));
  EXPECT_EQ(j["age_s"], 42);
  EXPECT_TRUE(j["answered_s_ago"].is_null()) << "not answered";

  ASSERT_EQ(j["legs"].size(), 2u);
  const json& caller = j["legs"][0];
  EXPECT_EQ(caller["aor"], "alice@example.com");
  EXPECT_EQ(caller["tag"], "a73kszlfl");
  EXPECT_EQ(caller["contact"], "sip:alice@192.168.1.20:5060;ob");
  EXPECT_EQ(caller["user_agent"], "Yealink SIP-T46S 66.86.0.15");
  EXPECT_EQ(caller["signalling"], "203.0.113.40:31000");
  EXPECT_EQ(caller["transport"], "UDP");
  EXPECT_EQ(caller["natted"], true);
  EXPECT_EQ(caller["nat_reasons"], json::array({"via_inside", "contact_inside"}));
  EXPECT_EQ(caller["media_policy"], "learn");
  EXPECT_EQ(caller["media_family"], "ipv4");
  const json& callee = j["legs"][1];
  EXPECT_EQ(callee["signalling"], "[2001:db8::20]:5070");
  EXPECT_EQ(callee["transport"], "TCP");
  EXPECT_EQ(callee["natted"], false);
  EXPECT_EQ(callee["nat_reasons"], json::array());
  EXPECT_EQ(callee["media_policy"], "strict");
  EXPECT_EQ(callee["media_family"], "ipv6");

  ASSERT_EQ(j["media"].size(), 2u);
  const json& audio = j["media"][0];
  EXPECT_EQ(audio["pair"], 6);
  EXPECT_EQ(audio["stream_a"], 11);
  EXPECT_EQ(audio["stream_b"], 12);
  EXPECT_EQ(audio["relay_a"], "203.0.113.10:20000");
  EXPECT_EQ(audio["relay_b"], "[2001:db8::1]:20002");
  EXPECT_EQ(audio["peer_a"], "192.168.1.20:4000");
  EXPECT_EQ(audio["peer_b"], "[2001:db8::20]:30000");
  EXPECT_TRUE(j["media"][1]["peer_a"].is_null()) << "hold or unknown";

  c.state = Call::State::kConfirmed;
  c.answered_at = kNow - 30;
  const json answered = CallToJson(c, kNow);
  EXPECT_EQ(answered["state"], "confirmed");
  EXPECT_EQ(answered["answered_s_ago"], 30);
}

}  // namespace
}  // namespace rtplatch
