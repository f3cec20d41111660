// NgCalls against a fake dataplane that keeps pairs and counters: what
// Kamailio's rtpengine module sends (offer, answer, re-offers from either
// side, forks, delete, query, list, statistics) and what a carrier relies
// on (load limit, drain, timeouts, a dataplane restart).
#include "control/ng/ng_calls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/control/media/fake_dataplane.h"
#include "tests/control/sip/sip_text.h"

namespace rtplatch {
namespace {

using ::rtplatch::testing::Answer;
using ::rtplatch::testing::Err;
using ::rtplatch::testing::FakeDataplane;
using ::rtplatch::testing::Ok;
using ::rtplatch::testing::SdpText;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using json = nlohmann::json;

const std::string kCallerOffer = SdpText(R"(
v=0
o=alice 100 200 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 4000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
)");

const std::string kCalleeAnswer = SdpText(R"(
v=0
o=bob 300 400 IN IP4 198.51.100.20
s=-
c=IN IP4 198.51.100.20
t=0 0
m=audio 5000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
)");

// Pairs numbered from 1; leg a's relay port 30000 + 4 * (pair - 1), leg
// b's two above. Streams report `packets_per_stream` and `idle_ms`.
class StatefulDataplane {
 public:
  Answer Handle(const json& r) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string cmd = r.value("cmd", "");
    if (cmd == "allocate") return Allocate(r);
    if (cmd == "delete") {
      const uint64_t pair = r.value("pair", uint64_t{0});
      if (pairs_.erase(pair) == 0) return Err("not_found");
      return Ok({{"deleted", pair}, {"a", Stream(2 * pair - 1)}, {"b", Stream(2 * pair)}});
    }
    if (cmd == "query" && r.contains("pair")) {
      const uint64_t pair = r.value("pair", uint64_t{0});
      if (!pairs_.contains(pair)) return Err("not_found");
      return Ok({{"pair", pair}, {"a", Stream(2 * pair - 1)}, {"b", Stream(2 * pair)}});
    }
    if (cmd == "query") return Ok(Stream(r.value("stream", uint64_t{0})));
    if (cmd == "list") {
      json streams = json::array();
      for (const auto& [pair, label] : pairs_) {
        streams.push_back({{"stream", 2 * pair - 1}, {"pair", pair}, {"leg", "a"}, {"label", label}});
        streams.push_back({{"stream", 2 * pair}, {"pair", pair}, {"leg", "b"}, {"label", label}});
      }
      return Ok({{"total", streams.size()}, {"streams", streams}});
    }
    return Ok(json::object());  // update
  }
  void Forget() {
    std::lock_guard<std::mutex> lock(mu_);
    pairs_.clear();
    next_pair_ = 0;
  }
  void set_exhausted(bool v) { exhausted_ = v; }
  void set_idle_ms(std::optional<int64_t> v) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_ms_ = v;
  }
  size_t pairs() {
    std::lock_guard<std::mutex> lock(mu_);
    return pairs_.size();
  }

 private:
  Answer Allocate(const json& r) {
    if (exhausted_) return Err("resource_exhausted");
    const uint64_t pair = ++next_pair_;
    pairs_[pair] = r.value("label", "");
    auto leg = [&](const char* name) {
      const json& spec = r[name];
      const bool v6 = spec.value("family", "") == "ipv6";
      uint16_t port = static_cast<uint16_t>(30000 + 4 * (pair - 1) + (name[0] == 'b' ? 2 : 0));
      if (spec.contains("relay")) port = static_cast<uint16_t>(std::stoi(
          spec["relay"].get<std::string>().substr(spec["relay"].get<std::string>().rfind(':') + 1)));
      std::string host = v6 ? "[2001:db8::1]" : "203.0.113.1";
      if (spec.contains("address")) {  // ng "direction": the leg's network's address
        host = spec["address"].get<std::string>();
        if (v6) host = absl::StrCat("[", host, "]");
      }
      return json{{"stream", 2 * pair - (name[0] == 'a' ? 1 : 0)},
                  {"pair", pair},
                  {"relay", absl::StrCat(host, ":", port)},
                  {"rtcp_relay", absl::StrCat(host, ":", port + 1)}};
    };
    return Ok({{"pair", pair}, {"a", leg("a")}, {"b", leg("b")}});
  }
  json Stream(uint64_t stream) {
    json j = {{"stream", stream}, {"packets", 100}, {"bytes", 17200}, {"drops", 1},
              {"learned_peer", stream % 2 == 1 ? "192.0.2.99:4000" : "198.51.100.20:5000"},
              {"rtcp", {{"packets", 5}, {"bytes", 400}, {"drops", 0}, {"learned_peer", nullptr}}}};
    j["idle_ms"] = idle_ms_ ? json(*idle_ms_) : json(nullptr);
    return j;
  }

  std::mutex mu_;
  std::map<uint64_t, std::string> pairs_;
  uint64_t next_pair_ = 0;
  std::atomic<bool> exhausted_{false};
  std::optional<int64_t> idle_ms_ = 20;
};

class NgCallsTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(NgCallsConfig{}); }

  void Build(NgCallsConfig config) {
    calls_.reset();
    link_.reset();
    dataplane_.set_responder([this](const json& r) { return fake_.Handle(r); });
    dataplane_.set_on_start([this] { fake_.Forget(); });
    if (!started_) dataplane_.Start();
    started_ = true;
    link_ = std::make_unique<DataplaneLink>(DataplaneLink::Options{
        .socket_path = dataplane_.path(),
        .on_reconnect = [this] {
          if (calls_) calls_->OnDataplaneConnected();
        }});
    calls_ = std::make_unique<NgCalls>(config, *link_, [this] { return now_s_; },
                                       [this] { return now_ms_; });
    ASSERT_TRUE(link_->EnsureConnected().ok());
  }

  // A request as Kamailio builds it: supports load limit, received-from.
  BencodeValue Send(const std::string& command, std::vector<std::pair<std::string, BencodeValue>> keys) {
    NgRequest r;
    r.command = command;
    r.dictionary.Set("command", BencodeValue::String(command));
    r.dictionary.Set("supports", BencodeValue::List({BencodeValue::String("load limit")}));
    for (auto& [k, v] : keys) r.dictionary.Set(k, std::move(v));
    BencodeValue reply = calls_->Handle(r, Endpoint{*IpAddress::Parse("127.0.0.1"), 40000});
    link_->Settle();
    return reply;
  }
  static BencodeValue S(absl::string_view s) { return BencodeValue::String(std::string(s)); }
  static BencodeValue L(std::vector<std::string> items) {
    BencodeValue l = BencodeValue::List();
    for (auto& i : items) l.list().push_back(S(i));
    return l;
  }
  BencodeValue OfferFrom(const std::string& call, const std::string& from_tag,
                         const std::string& sdp = kCallerOffer,
                         std::vector<std::pair<std::string, BencodeValue>> extra = {}) {
    extra.emplace_back("call-id", S(call));
    extra.emplace_back("from-tag", S(from_tag));
    extra.emplace_back("sdp", S(sdp));
    return Send("offer", std::move(extra));
  }
  BencodeValue AnswerTo(const std::string& call, const std::string& from_tag,
                        const std::string& to_tag, const std::string& sdp = kCalleeAnswer,
                        std::vector<std::pair<std::string, BencodeValue>> extra = {}) {
    extra.emplace_back("call-id", S(call));
    extra.emplace_back("from-tag", S(from_tag));
    extra.emplace_back("to-tag", S(to_tag));
    extra.emplace_back("sdp", S(sdp));
    return Send("answer", std::move(extra));
  }
  static std::string Result(const BencodeValue& reply) {
    const BencodeValue* r = reply.Find("result");
    return r != nullptr && r->is_string() ? r->string() : "(none)";
  }
  static std::string Field(const BencodeValue& reply, const char* key) {
    const BencodeValue* r = reply.Find(key);
    return r != nullptr && r->is_string() ? r->string() : "(none)";
  }

  // Declared first, destroyed last: the fake's thread answers through it
  // until dataplane_ stops.
  StatefulDataplane fake_;
  FakeDataplane dataplane_;
  bool started_ = false;
  std::unique_ptr<DataplaneLink> link_;
  std::unique_ptr<NgCalls> calls_;
  int64_t now_s_ = 1'700'000'000;
  int64_t now_ms_ = 1'000'000;
};

TEST_F(NgCallsTest, PingAndUnknownCommands) {
  EXPECT_EQ(Result(Send("ping", {})), "pong");
  const BencodeValue reply = Send("dance", {});
  EXPECT_EQ(Result(reply), "error");
  EXPECT_EQ(Field(reply, "error-reason"), "Unrecognized command");
}

TEST_F(NgCallsTest, OfferPutsTheAnswerersLegInTheSdp) {
  const BencodeValue reply = OfferFrom("c1", "ftag");
  ASSERT_EQ(Result(reply), "ok") << Field(reply, "error-reason");
  const std::string sdp = Field(reply, "sdp");
  EXPECT_THAT(sdp, HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(sdp, HasSubstr("m=audio 30002 RTP/AVP 8 101\r\n"));
  EXPECT_THAT(sdp, HasSubstr("o=alice 100 200 IN IP4 192.0.2.10\r\n")) << "o= kept without replace";
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"].value("peer", ""), "192.0.2.10:4000");
  EXPECT_FALSE(allocs[0]["b"].contains("peer"));
  EXPECT_EQ(allocs[0].value("label", ""), "ng:1:0:c1");
  EXPECT_EQ(calls_->size(), 1u);
}

TEST_F(NgCallsTest, AnswerPutsTheOfferersLegInTheSdpAndTellsTheDataplaneTheAnswerer) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag")), "ok");
  const BencodeValue reply = AnswerTo("c1", "ftag", "ttag");
  ASSERT_EQ(Result(reply), "ok") << Field(reply, "error-reason");
  EXPECT_THAT(Field(reply, "sdp"), HasSubstr("m=audio 30000 RTP/AVP 8 101\r\n"));
  std::vector<json> updates = dataplane_.Requests("update");
  ASSERT_THAT(updates, SizeIs(1));
  EXPECT_EQ(updates[0].value("stream", uint64_t{0}), 2u) << "leg b's stream";
  EXPECT_EQ(updates[0].value("peer", ""), "198.51.100.20:5000");
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));
}

TEST_F(NgCallsTest, AnswerForAnUnknownCallIsAnErrorAndCreatesNothing) {
  const BencodeValue reply = AnswerTo("nope", "ftag", "ttag");
  EXPECT_EQ(Result(reply), "error");
  EXPECT_EQ(Field(reply, "error-reason"), "Unknown call-id");
  EXPECT_EQ(calls_->size(), 0u);
}

TEST_F(NgCallsTest, RepeatedOfferFromTheSameTagKeepsItsPorts) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag")), "ok");
  const BencodeValue again = OfferFrom("c1", "ftag");  // e.g. after a 407
  EXPECT_THAT(Field(again, "sdp"), HasSubstr("m=audio 30002 "));
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));
}

TEST_F(NgCallsTest, ReOfferFromTheCalleeUsesTheCallersLeg) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag")), "ok");
  ASSERT_EQ(Result(AnswerTo("c1", "ftag", "ttag")), "ok");
  dataplane_.ClearRequests();
  // The callee's re-INVITE: From is the callee, To the caller.
  std::string moved = kCalleeAnswer;
  moved.replace(moved.find("m=audio 5000"), 12, "m=audio 5010");
  const BencodeValue reply = Send("offer", {{"call-id", S("c1")}, {"from-tag", S("ttag")},
                                            {"to-tag", S("ftag")}, {"sdp", S(moved)}});
  ASSERT_EQ(Result(reply), "ok") << Field(reply, "error-reason");
  EXPECT_THAT(Field(reply, "sdp"), HasSubstr("m=audio 30000 ")) << "the caller's leg";
  std::vector<json> updates = dataplane_.Requests("update");
  ASSERT_THAT(updates, SizeIs(1));
  EXPECT_EQ(updates[0].value("stream", uint64_t{0}), 2u);
  EXPECT_EQ(updates[0].value("peer", ""), "198.51.100.20:5010");
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(0));
}

TEST_F(NgCallsTest, ForkedBranchesGetTheirOwnPairsAndDeleteByViaBranchEndsOne) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag", kCallerOffer, {{"via-branch", S("z9hG4bK.1")}})), "ok");
  const BencodeValue second = OfferFrom("c1", "ftag", kCallerOffer, {{"via-branch", S("z9hG4bK.2")}});
  EXPECT_THAT(Field(second, "sdp"), HasSubstr("m=audio 30006 "));
  EXPECT_EQ(fake_.pairs(), 2u);
  const BencodeValue del = Send("delete", {{"call-id", S("c1")}, {"from-tag", S("ftag")},
                                           {"via-branch", S("z9hG4bK.1")}});
  EXPECT_EQ(Result(del), "ok");
  EXPECT_EQ(fake_.pairs(), 1u);
  ASSERT_NE(calls_->Find("c1"), nullptr);
  EXPECT_EQ(calls_->Find("c1")->branches.size(), 1u);
  EXPECT_EQ(Result(AnswerTo("c1", "ftag", "ttag", kCalleeAnswer, {{"via-branch", S("z9hG4bK.2")}})),
            "ok");
}

TEST_F(NgCallsTest, DeleteWaitsTheDelayThenFreesThePorts) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag")), "ok");
  const BencodeValue del = Send("delete", {{"call-id", S("c1")}, {"from-tag", S("ftag")}});
  ASSERT_EQ(Result(del), "ok");
  EXPECT_NE(del.Find("totals"), nullptr);
  EXPECT_EQ(fake_.pairs(), 1u) << "rtpengine's 30 s delete delay";
  now_ms_ += 29'000;
  calls_->Tick();
  EXPECT_EQ(calls_->size(), 1u);
  now_ms_ += 1'000;
  calls_->Tick();
  link_->Settle();
  EXPECT_EQ(calls_->size(), 0u);
  EXPECT_EQ(fake_.pairs(), 0u);
}

TEST_F(NgCallsTest, DeleteDelayZeroAndFastFreeAtOnceWithoutStatistics) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag")), "ok");
  const BencodeValue del =
      Send("delete", {{"call-id", S("c1")}, {"from-tag", S("ftag")},
                      {"delete delay", BencodeValue::Integer(0)}, {"flags", L({"fast"})}});
  EXPECT_EQ(Result(del), "ok");
  EXPECT_EQ(del.Find("totals"), nullptr);
  EXPECT_THAT(dataplane_.Requests("query"), SizeIs(0)) << "fast: no statistics gathered";
  EXPECT_EQ(calls_->size(), 0u);
  EXPECT_EQ(fake_.pairs(), 0u);
}

TEST_F(NgCallsTest, DeleteAtOnceReportsTheFinalCountersTheDeleteReturned) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag")), "ok");
  ASSERT_EQ(Result(AnswerTo("c1", "ftag", "ttag")), "ok");
  const BencodeValue del = Send("delete", {{"call-id", S("c1")}, {"from-tag", S("ftag")},
                                           {"delete delay", BencodeValue::Integer(0)}});
  ASSERT_EQ(Result(del), "ok");
  EXPECT_EQ(del.Find("totals")->Find("RTP")->Find("packets")->integer(), 200);
  EXPECT_THAT(dataplane_.Requests("query"), SizeIs(0)) << "one request per pair: the delete";
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
  EXPECT_EQ(fake_.pairs(), 0u);
  EXPECT_EQ(calls_->counters().pairs_deleted, 1u);
}

TEST_F(NgCallsTest, DeleteOfAnUnknownCallWarnsUnlessFatal) {
  const BencodeValue soft = Send("delete", {{"call-id", S("x")}, {"from-tag", S("f")}});
  EXPECT_EQ(Result(soft), "ok");
  EXPECT_EQ(Field(soft, "warning"), "Unknown call-id");
  const BencodeValue fatal =
      Send("delete", {{"call-id", S("x")}, {"from-tag", S("f")}, {"flags", L({"fatal"})}});
  EXPECT_EQ(Result(fatal), "error");
}

TEST_F(NgCallsTest, QueryReportsTagsStreamsAndTotals) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag", kCallerOffer, {{"label", S("caller")}})), "ok");
  ASSERT_EQ(Result(AnswerTo("c1", "ftag", "ttag")), "ok");
  const BencodeValue q = Send("query", {{"call-id", S("c1")}});
  ASSERT_EQ(Result(q), "ok");
  EXPECT_EQ(q.Find("created")->integer(), now_s_);
  const BencodeValue* rtp = q.Find("totals")->Find("RTP");
  EXPECT_EQ(rtp->Find("packets")->integer(), 200) << "two streams of 100";
  EXPECT_EQ(rtp->Find("bytes")->integer(), 34400);
  EXPECT_EQ(rtp->Find("errors")->integer(), 2);
  EXPECT_EQ(q.Find("totals")->Find("RTCP")->Find("packets")->integer(), 10);
  const BencodeValue* caller = q.Find("tags")->Find("ftag");
  ASSERT_NE(caller, nullptr);
  EXPECT_EQ(caller->Find("label")->string(), "caller");
  EXPECT_EQ(caller->Find("in dialogue with")->string(), "ttag");
  const BencodeValue& stream = caller->Find("medias")->list()[0].Find("streams")->list()[0];
  EXPECT_EQ(stream.Find("local port")->integer(), 30000);
  EXPECT_EQ(stream.Find("endpoint")->Find("address")->string(), "192.0.2.99");
  EXPECT_EQ(stream.Find("advertised endpoint")->Find("port")->integer(), 4000);
  EXPECT_NE(q.Find("tags")->Find("ttag"), nullptr);
}

TEST_F(NgCallsTest, ListAndStatistics) {
  ASSERT_EQ(Result(OfferFrom("c1", "f1")), "ok");
  ASSERT_EQ(Result(OfferFrom("c2", "f2")), "ok");
  EXPECT_THAT(Send("list", {}).Find("calls")->list(), SizeIs(2));
  EXPECT_THAT(Send("list", {{"limit", BencodeValue::Integer(1)}}).Find("calls")->list(), SizeIs(1));
  const BencodeValue stats = Send("statistics", {});
  EXPECT_EQ(stats.Find("statistics")->Find("currentstatistics")->Find("sessionsown")->integer(), 2);
}

TEST_F(NgCallsTest, SessionLimitAnswersLoadLimitOrKamailiosErrorText) {
  NgCallsConfig config;
  config.max_sessions = 1;
  Build(config);
  ASSERT_EQ(Result(OfferFrom("c1", "f1")), "ok");
  const BencodeValue limited = OfferFrom("c2", "f2");
  EXPECT_EQ(Result(limited), "load limit");
  NgRequest plain;
  plain.command = "offer";
  plain.dictionary.Set("call-id", S("c3"));
  plain.dictionary.Set("from-tag", S("f3"));
  plain.dictionary.Set("sdp", S(kCallerOffer));
  const BencodeValue error = calls_->Handle(plain, Endpoint{});
  EXPECT_EQ(Result(error), "error");
  EXPECT_EQ(Field(error, "error-reason"), "Parallel session limit reached");
  EXPECT_EQ(Result(AnswerTo("c1", "f1", "t1")), "ok") << "calls in progress go on";
  EXPECT_EQ(calls_->size(), 1u);
}

TEST_F(NgCallsTest, DrainingRefusesNewCallsOnly) {
  ASSERT_EQ(Result(OfferFrom("c1", "f1")), "ok");
  calls_->set_draining(true);
  EXPECT_EQ(Result(OfferFrom("c2", "f2")), "load limit");
  EXPECT_EQ(Result(AnswerTo("c1", "f1", "t1")), "ok");
  calls_->set_draining(false);
  EXPECT_EQ(Result(OfferFrom("c2", "f2")), "ok");
}

TEST_F(NgCallsTest, OutOfPortsIsALoadLimitAndLeavesNoCall) {
  fake_.set_exhausted(true);
  const BencodeValue reply = OfferFrom("c1", "f1");
  EXPECT_EQ(Result(reply), "load limit");
  EXPECT_EQ(Field(reply, "message"), "Ran out of ports");
  EXPECT_EQ(calls_->size(), 0u);
}

TEST_F(NgCallsTest, BadSdpIsAnErrorAndAllocatesNothing) {
  const BencodeValue reply = OfferFrom("c1", "f1", "v=0\r\nm=audio x RTP/AVP 0\r\n");
  EXPECT_EQ(Result(reply), "error");
  EXPECT_THAT(Field(reply, "error-reason"), HasSubstr("SDP: line 2"));
  EXPECT_EQ(calls_->size(), 0u);
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(0));
}

TEST_F(NgCallsTest, SilenceEndsAnAnsweredCallOnlyOnceEveryStreamIsQuiet) {
  ASSERT_EQ(Result(OfferFrom("c1", "f1")), "ok");
  ASSERT_EQ(Result(AnswerTo("c1", "f1", "t1")), "ok");
  now_ms_ += 61'000;
  fake_.set_idle_ms(2'000);  // one direction went quiet, the other talks
  dataplane_.Push({{"v", 1}, {"event", "idle"}, {"stream", 1}, {"pair", 1}});
  for (int i = 0; i < 50 && calls_->counters().calls_timed_out == 0; ++i) {
    for (const DataplaneEvent& e : link_->PollEvents()) calls_->OnDataplaneEvent(e);
    calls_->Tick();
    ::usleep(2000);
  }
  EXPECT_EQ(calls_->size(), 1u);
  fake_.set_idle_ms(61'000);
  now_ms_ += 60'000;
  calls_->Tick();
  link_->Settle();
  EXPECT_EQ(calls_->size(), 0u);
  EXPECT_EQ(calls_->counters().calls_timed_out, 1u);
  EXPECT_EQ(fake_.pairs(), 0u);
}

TEST_F(NgCallsTest, FinalTimeoutEndsACallWhateverItDoes) {
  NgCallsConfig config;
  config.final_timeout_s = 3600;
  Build(config);
  ASSERT_EQ(Result(OfferFrom("c1", "f1")), "ok");
  now_s_ += 3599;
  calls_->Tick();
  EXPECT_EQ(calls_->size(), 1u);
  now_s_ += 1;
  calls_->Tick();
  EXPECT_EQ(calls_->size(), 0u);
  EXPECT_EQ(calls_->counters().calls_final_timeout, 1u);
}

TEST_F(NgCallsTest, DataplaneRestartReallocatesAtTheSamePorts) {
  ASSERT_EQ(Result(OfferFrom("c1", "f1")), "ok");
  ASSERT_EQ(Result(AnswerTo("c1", "f1", "t1")), "ok");
  dataplane_.Stop();
  dataplane_.ClearRequests();
  dataplane_.Start();  // forgets its pairs
  for (int i = 0; i < 100 && dataplane_.Requests("allocate").empty(); ++i) {
    (void)link_->Stats();  // notices the break, reconnects, re-pushes
    ::usleep(10000);
  }
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"].value("relay", ""), "203.0.113.1:30000");
  EXPECT_EQ(allocs[0]["b"].value("relay", ""), "203.0.113.1:30002");
  EXPECT_EQ(allocs[0]["b"].value("peer", ""), "198.51.100.20:5000");
  EXPECT_EQ(calls_->counters().pairs_repushed, 1u);
}

// ICE credentials are in the phones' SDP: a restarted dataplane must
// answer checks with the same ones.
TEST_F(NgCallsTest, DataplaneRestartKeepsIceCredentials) {
  ASSERT_EQ(Result(OfferFrom("c1", "f1", kCallerOffer, {{"ICE", S("force")}})), "ok");
  const json before = dataplane_.Requests("allocate")[0];
  dataplane_.Stop();
  dataplane_.ClearRequests();
  dataplane_.Start();
  for (int i = 0; i < 100 && dataplane_.Requests("allocate").empty(); ++i) {
    (void)link_->Stats();
    ::usleep(10000);
  }
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"]["ice"], before["a"]["ice"]);
  EXPECT_EQ(allocs[0]["b"]["ice"], before["b"]["ice"]);
}

TEST_F(NgCallsTest, FlagsReachTheDataplaneAndTheSdp) {
  const BencodeValue reply = OfferFrom(
      "c1", "f1", kCallerOffer,
      {{"flags", L({"asymmetric", "SIP-source-address", "no-such-flag"})},
       {"received-from", L({"IP4", "203.0.113.77"})},
       {"replace", L({"origin", "session-connection"})},
       {"address family", S("IP6")},
       {"ICE", S("remove")}});
  ASSERT_EQ(Result(reply), "ok") << Field(reply, "error-reason");
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"].value("policy", ""), "asymmetric");
  EXPECT_EQ(allocs[0]["a"].value("peer", ""), "203.0.113.77:4000");
  EXPECT_EQ(allocs[0]["b"].value("family", ""), "ipv6");
  const std::string sdp = Field(reply, "sdp");
  EXPECT_THAT(sdp, HasSubstr("o=alice 100 200 IN IP6 2001:db8::1\r\n"));
  EXPECT_THAT(sdp, HasSubstr("c=IN IP6 2001:db8::1\r\n"));
  EXPECT_THAT(sdp, Not(HasSubstr("192.0.2.10")));
}

// "ICE=force": each leg gets its own fresh credentials on the dataplane,
// and each party's SDP names the relay as its only (ice-lite) candidate
// with the credentials of the ports it sends to.
TEST_F(NgCallsTest, IceForceGivesEachLegCredentialsAndTheRelayAsCandidate) {
  const BencodeValue offer = OfferFrom("c1", "f1", kCallerOffer, {{"ICE", S("force")}});
  ASSERT_EQ(Result(offer), "ok") << Field(offer, "error-reason");
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  const json ice_a = allocs[0]["a"]["ice"], ice_b = allocs[0]["b"]["ice"];
  ASSERT_TRUE(ice_a.is_object() && ice_b.is_object()) << allocs[0];
  EXPECT_EQ(ice_a["ufrag"].get<std::string>().size(), 8u);
  EXPECT_EQ(ice_a["pwd"].get<std::string>().size(), 24u);
  EXPECT_NE(ice_a["pwd"], ice_b["pwd"]);
  const std::string to_b = Field(offer, "sdp");
  EXPECT_THAT(to_b, HasSubstr("a=ice-lite\r\n"));
  EXPECT_THAT(to_b, HasSubstr("a=ice-ufrag:" + ice_b["ufrag"].get<std::string>() + "\r\n"));
  EXPECT_THAT(to_b, HasSubstr("a=ice-pwd:" + ice_b["pwd"].get<std::string>() + "\r\n"));
  EXPECT_THAT(to_b, HasSubstr("a=candidate:1 1 UDP 2130706431 203.0.113.1 30002 typ host\r\n"));
  EXPECT_THAT(to_b, HasSubstr("a=candidate:1 2 UDP 2130706430 203.0.113.1 30003 typ host\r\n"));
  const BencodeValue answer = AnswerTo("c1", "f1", "t1", kCalleeAnswer, {{"ICE", S("force")}});
  ASSERT_EQ(Result(answer), "ok") << Field(answer, "error-reason");
  const std::string to_a = Field(answer, "sdp");
  EXPECT_THAT(to_a, HasSubstr("a=ice-ufrag:" + ice_a["ufrag"].get<std::string>() + "\r\n"));
  EXPECT_THAT(to_a, HasSubstr("a=candidate:1 1 UDP 2130706431 203.0.113.1 30000 typ host\r\n"));
  // A re-INVITE's offer keeps the credentials the phones already have.
  const BencodeValue again =
      OfferFrom("c1", "f1", kCallerOffer, {{"ICE", S("force")}, {"to-tag", S("t1")}});
  EXPECT_THAT(Field(again, "sdp"),
              HasSubstr("a=ice-pwd:" + ice_b["pwd"].get<std::string>() + "\r\n"));
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));
}

TEST_F(NgCallsTest, IceForceOnStreamsSetUpWithoutItWarnsAndAddsNone) {
  ASSERT_EQ(Result(OfferFrom("c1", "f1")), "ok");
  EXPECT_FALSE(dataplane_.Requests("allocate")[0]["a"].contains("ice"));
  const BencodeValue answer = AnswerTo("c1", "f1", "t1", kCalleeAnswer, {{"ICE", S("force")}});
  ASSERT_EQ(Result(answer), "ok");
  EXPECT_THAT(Field(answer, "warning"), HasSubstr("ICE=force"));
  EXPECT_THAT(Field(answer, "sdp"), Not(HasSubstr("ice-")));
}

// "direction": each party is told the relay address of its own network.
TEST_F(NgCallsTest, DirectionPutsEachLegOnItsNetworksInterface) {
  NgCallsConfig config;
  config.interfaces["pub"] = NgInterface{IpAddress::Parse("203.0.113.1").value(),
                                         IpAddress::Parse("2001:db8::1").value()};
  config.interfaces["lan"] = NgInterface{IpAddress::Parse("198.51.100.1").value(), std::nullopt};
  Build(config);
  const BencodeValue offer =
      OfferFrom("c1", "f1", kCallerOffer, {{"direction", L({"lan", "pub"})}});
  ASSERT_EQ(Result(offer), "ok") << Field(offer, "error-reason");
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"].value("address", ""), "198.51.100.1") << "the offerer's network";
  EXPECT_EQ(allocs[0]["b"].value("address", ""), "203.0.113.1") << "the answerer's network";
  EXPECT_THAT(Field(offer, "sdp"), HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  const BencodeValue answer = AnswerTo("c1", "f1", "t1", kCalleeAnswer);
  ASSERT_EQ(Result(answer), "ok") << Field(answer, "error-reason");
  EXPECT_THAT(Field(answer, "sdp"), HasSubstr("c=IN IP4 198.51.100.1\r\n"));

  // An interface with one family decides the answerer's: "lan" is IPv4 only.
  ASSERT_EQ(Result(OfferFrom("c2", "f2", kCallerOffer,
                             {{"direction", L({"pub", "lan"})}, {"address family", S("IP6")}})),
            "error")
      << "IPv6 asked towards an IPv4-only interface";
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1)) << "nothing allocated for c2";
}

TEST_F(NgCallsTest, DirectionNamingNoInterfaceIsAnErrorButTheLegacySelectorsStillWork) {
  const BencodeValue reply = OfferFrom("c1", "f1", kCallerOffer, {{"direction", L({"priv", "pub"})}});
  EXPECT_EQ(Result(reply), "error");
  EXPECT_THAT(Field(reply, "error-reason"), HasSubstr("no interface named 'priv'"));
  EXPECT_EQ(calls_->size(), 0u);
  // internal/external without such interfaces: the family selectors.
  const BencodeValue legacy =
      OfferFrom("c2", "f2", kCallerOffer, {{"direction", L({"internal", "external"})}});
  ASSERT_EQ(Result(legacy), "ok") << Field(legacy, "error-reason");
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["b"].value("family", ""), "ipv6");
  EXPECT_FALSE(allocs[0]["b"].contains("address"));
}

TEST_F(NgCallsTest, MediaAddressOverridesTheSdp) {
  ASSERT_EQ(Result(OfferFrom("c1", "f1", kCallerOffer, {{"media-address", S("203.0.113.9")}})), "ok");
  EXPECT_EQ(dataplane_.Requests("allocate")[0]["a"].value("peer", ""), "203.0.113.9:4000");
  EXPECT_EQ(Result(OfferFrom("c2", "f2", kCallerOffer, {{"media-address", S("nope")}})), "error");
}

TEST_F(NgCallsTest, SdpVersionReplaceCountsChangesTowardsEachParty) {
  const std::vector<std::pair<std::string, BencodeValue>> replace = {
      {"replace", L({"SDP-version"})}};
  ASSERT_EQ(Result(OfferFrom("c1", "f1", kCallerOffer, replace)), "ok");
  const BencodeValue same = OfferFrom("c1", "f1", kCallerOffer, replace);
  EXPECT_THAT(Field(same, "sdp"), HasSubstr("o=alice 100 200 ")) << "unchanged: same version";
  std::string changed = kCallerOffer;
  changed.replace(changed.find("m=audio 4000"), 12, "m=audio 4100");
  changed.replace(changed.find("a=sendrecv"), 10, "a=sendonly");
  const BencodeValue bumped = OfferFrom("c1", "f1", changed, replace);
  EXPECT_THAT(Field(bumped, "sdp"), HasSubstr("o=alice 100 201 "));
}

// A second answerer on a branch forked without via-branch takes over the
// answerer's legs: that is where the offer's relay port went.
TEST_F(NgCallsTest, ASecondAnswererWithoutViaBranchTakesTheLeg) {
  ASSERT_EQ(Result(OfferFrom("c1", "ftag")), "ok");
  ASSERT_EQ(Result(AnswerTo("c1", "ftag", "early1")), "ok");
  std::string other = kCalleeAnswer;
  other.replace(other.find("m=audio 5000"), 12, "m=audio 5020");
  ASSERT_EQ(Result(AnswerTo("c1", "ftag", "final2", other)), "ok");
  const NgCall* call = calls_->Find("c1");
  ASSERT_NE(call, nullptr);
  ASSERT_EQ(call->branches.size(), 1u);
  EXPECT_EQ(call->branches[0].tag_b, "final2");
  std::vector<json> updates = dataplane_.Requests("update");
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates.back().value("peer", ""), "198.51.100.20:5020");
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));
}

// Hostile or broken dictionaries, in thousands: every one gets an answer
// with a result, nothing crashes, and every pair the table holds is one
// the dataplane has (nothing half-made, nothing leaked once deleted).
TEST_F(NgCallsTest, RandomRequestsAlwaysGetAnAnswerAndLeaveNoStrayPairs) {
  std::mt19937 rng(14);
  const std::vector<std::string> commands = {"offer", "answer", "delete", "query", "list",
                                             "statistics", "ping", "bogus"};
  const std::vector<std::string> keys = {"call-id", "from-tag", "to-tag", "via-branch", "sdp",
                                         "flags", "replace", "rtcp-mux", "ICE",
                                         "address family", "received-from", "media-address",
                                         "delete delay", "limit", "label", "transport-protocol"};
  const std::vector<std::string> sdps = {kCallerOffer, kCalleeAnswer, "v=0\r\n",
                                         "garbage", kCallerOffer.substr(0, 40)};
  auto random_value = [&](int depth) -> BencodeValue {
    switch (rng() % (depth > 1 ? 4 : 6)) {
      case 0: return BencodeValue::Integer(static_cast<int64_t>(rng() % 7) - 2);
      case 1: return S(std::to_string(rng() % 3));
      case 2: return S(sdps[rng() % sdps.size()]);
      case 3: return S(rng() % 2 ? "IP6" : "203.0.113.5");
      case 4: return L({"trust-address", "asymmetric", "fast", "replace-origin", "nope"});
      default: {
        BencodeValue d = BencodeValue::Dictionary();
        d.Set("x", BencodeValue::Integer(1));
        return d;
      }
    }
  };
  for (int i = 0; i < 3000; ++i) {
    NgRequest r;
    r.command = commands[rng() % commands.size()];
    r.dictionary.Set("command", S(r.command));
    if (rng() % 2) r.dictionary.Set("supports", L({"load limit"}));
    const int n = static_cast<int>(rng() % 8);
    for (int k = 0; k < n; ++k) {
      r.dictionary.Set(keys[rng() % keys.size()], random_value(0));
    }
    // Often a well-formed core, so calls really get made and ended.
    if (rng() % 2) {
      r.dictionary.Set("call-id", S("c" + std::to_string(rng() % 50)));
      r.dictionary.Set("from-tag", S(rng() % 2 ? "f" : "t"));
      if (rng() % 2) r.dictionary.Set("sdp", S(rng() % 2 ? kCallerOffer : kCalleeAnswer));
    }
    const BencodeValue reply = calls_->Handle(r, Endpoint{});
    if (i % 20 == 19) {
      now_ms_ += 5000;  // delayed deletes come due
      calls_->Tick();
    }
    link_->Settle();
    const std::string result = Result(reply);
    ASSERT_TRUE(result == "ok" || result == "error" || result == "pong" ||
                result == "load limit")
        << "request " << i << ": " << EncodeBencode(reply);
  }
  now_ms_ += 3600'000;  // every delayed delete due
  calls_->Tick();
  link_->Settle();
  size_t held = 0;
  for (int c = 0; c < 50; ++c) {
    const NgCall* call = calls_->Find("c" + std::to_string(c));
    if (call == nullptr) continue;
    for (const NgBranch& b : call->branches) held += b.media.size();
  }
  EXPECT_EQ(fake_.pairs(), held) << "the dataplane holds exactly the table's pairs";
  EXPECT_GT(calls_->counters().calls_created, 20u) << "the mix made calls";
  EXPECT_GT(calls_->counters().pairs_deleted, 5u) << "and ended them";
}

}  // namespace
}  // namespace rtplatch
