#include "control/media/dataplane_link.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/control/media/fake_dataplane.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::Err;
using testing::FakeDataplane;
using testing::Ok;

Endpoint Ep(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << text;
  return e.ok() ? *e : Endpoint{};
}

json StreamJson(uint64_t stream, uint64_t pair, const char* leg, const std::string& label,
                const std::string& relay, const std::string& rtcp) {
  return {{"stream", stream}, {"pair", pair},   {"leg", leg},          {"label", label},
          {"relay", relay},   {"rtcp_relay", rtcp}, {"state", "unlatched"}};
}

class DataplaneLinkTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = std::make_unique<FakeDataplane>(); }

  std::unique_ptr<DataplaneLink> MakeLink(int timeout_ms = 2000, int retry_interval_ms = 50) {
    return std::make_unique<DataplaneLink>(DataplaneLink::Options{
        server_->path(), timeout_ms, retry_interval_ms, [this] { ++reconnects_; }});
  }

  std::unique_ptr<FakeDataplane> server_;
  int reconnects_ = 0;
};

TEST_F(DataplaneLinkTest, AllocateSendsEachLegAndParsesThePair) {
  server_->set_responder([](const json& r) {
    if (r["cmd"] != "allocate") return Err("unknown_command");
    return Ok({{"pair", 6},
               {"a", StreamJson(11, 6, "a", "rc:0:c1", "203.0.113.10:20000",
                                "203.0.113.10:20001")},
               {"b", StreamJson(12, 6, "b", "rc:0:c1", "[2001:db8::1]:20002",
                                "[2001:db8::1]:20003")}});
  });
  server_->Start();
  auto link = MakeLink();

  LegSpec a;  // the caller: IPv4, SDP peer known, learning, on its network's address
  a.peer = Ep("192.0.2.5:4000");
  a.address = IpAddress::Parse("203.0.113.10").value();
  LegSpec b;  // the callee: IPv6, on hold, strict, rtcp-mux, a re-pushed relay
  b.ipv6 = true;
  b.policy = LatchPolicy::kStrict;
  b.rtcp_mux = true;
  b.relay = Ep("[2001:db8::1]:20002");
  auto pair = link->Allocate(a, b, "rc:0:c1");
  ASSERT_TRUE(pair.ok()) << pair.status();

  auto sent = server_->Requests("allocate");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["a"], json::parse(R"({"family":"ipv4","peer":"192.0.2.5:4000",
                                          "policy":"learn","rtcp_mux":false,
                                          "address":"203.0.113.10"})"));
  EXPECT_EQ(sent[0]["b"], json::parse(R"({"family":"ipv6","policy":"strict","rtcp_mux":true,
                                          "relay":"[2001:db8::1]:20002"})"));
  EXPECT_EQ(sent[0]["label"], "rc:0:c1");
  EXPECT_EQ(sent[0]["v"], 1);
  EXPECT_TRUE(sent[0]["id"].is_string()) << "an id, so a retransmission is applied once";

  EXPECT_EQ(pair->pair, 6u);
  EXPECT_EQ(pair->a.stream, 11u);
  EXPECT_EQ(pair->a.relay, Ep("203.0.113.10:20000"));
  EXPECT_EQ(pair->a.rtcp_relay, Ep("203.0.113.10:20001"));
  EXPECT_EQ(pair->b.stream, 12u);
  EXPECT_EQ(pair->b.relay, Ep("[2001:db8::1]:20002"));
  EXPECT_EQ(pair->b.rtcp_relay, Ep("[2001:db8::1]:20003"));
  EXPECT_EQ(reconnects_, 1) << "the first connection counts";
  EXPECT_EQ(link->counters().reconnects, 1u);
}

TEST_F(DataplaneLinkTest, AllocateReplyWithoutStreamsIsInternal) {
  server_->set_responder([](const json&) {
    return Ok({{"pair", 6}, {"a", {{"stream", 11}, {"relay", "203.0.113.10:20000"}}}});
  });
  server_->Start();
  auto link = MakeLink();
  auto pair = link->Allocate(LegSpec{}, LegSpec{}, "rc:0:c1");
  EXPECT_EQ(pair.status().code(), absl::StatusCode::kInternal) << pair.status();
  EXPECT_TRUE(link->connected()) << "a bad reply is not a broken connection";
}

TEST_F(DataplaneLinkTest, UpdateClearsThePeerWithAnEmptyString) {
  server_->set_responder([](const json&) { return Ok({{"stream", 12}}); });
  server_->Start();
  auto link = MakeLink();
  ASSERT_TRUE(link->Update(12, Ep("198.51.100.7:31000"), LatchPolicy::kAsymmetric).ok());
  ASSERT_TRUE(link->Update(12, std::nullopt, LatchPolicy::kLearn).ok());
  ASSERT_TRUE(link->Delete(6).ok());
  auto updates = server_->Requests("update");
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0]["stream"], 12);
  EXPECT_EQ(updates[0]["peer"], "198.51.100.7:31000");
  EXPECT_EQ(updates[0]["policy"], "asymmetric");
  EXPECT_EQ(updates[1]["peer"], "");
  EXPECT_EQ(updates[1]["policy"], "learn");
  auto deletes = server_->Requests("delete");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0]["pair"], 6);
}

struct ErrorCase {
  const char* code;
  absl::StatusCode expected;
};

class DataplaneLinkErrorTest : public DataplaneLinkTest,
                               public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(DataplaneLinkErrorTest, ErrorRepliesMapToStatusCodes) {
  const std::string code = GetParam().code;
  server_->set_responder([code](const json&) { return Err(code); });
  server_->Start();
  auto link = MakeLink();
  auto pair = link->Allocate(LegSpec{}, LegSpec{}, "rc:0:c1");
  ASSERT_FALSE(pair.ok());
  EXPECT_EQ(pair.status().code(), GetParam().expected) << pair.status();
  EXPECT_TRUE(absl::StrContains(pair.status().message(), code)) << pair.status();
  EXPECT_TRUE(absl::StrContains(pair.status().message(), "allocate")) << pair.status();
  // An error reply is an answer: the link stays up, nothing is retried.
  EXPECT_TRUE(link->connected());
  EXPECT_EQ(link->counters().call_failures, 0u);
  EXPECT_EQ(link->Delete(6).code(), GetParam().expected);
  EXPECT_EQ(reconnects_, 1);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, DataplaneLinkErrorTest,
    ::testing::Values(ErrorCase{"resource_exhausted", absl::StatusCode::kResourceExhausted},
                      ErrorCase{"already_in_use", absl::StatusCode::kAlreadyExists},
                      ErrorCase{"not_found", absl::StatusCode::kNotFound},
                      ErrorCase{"invalid_argument", absl::StatusCode::kInvalidArgument},
                      ErrorCase{"internal", absl::StatusCode::kInternal}),
    [](const auto& info) { return std::string(info.param.code); });

TEST_F(DataplaneLinkTest, DataplaneGoneIsUnavailableThenReconnectsAfterTheRetryInterval) {
  server_->set_responder([](const json&) { return Ok({{"streams", 0}}); });
  server_->Start();
  constexpr int kRetryMs = 400;
  auto link = MakeLink(/*timeout_ms=*/2000, kRetryMs);
  ASSERT_TRUE(link->Stats().ok());
  EXPECT_EQ(reconnects_, 1);

  server_->Stop();
  // The call that finds the connection broken, then one that finds no socket.
  EXPECT_EQ(link->Stats().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(link->connected());
  EXPECT_EQ(link->counters().call_failures, 1u);
  const auto last_attempt = Clock::now();
  EXPECT_EQ(link->Stats().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(link->last_error().empty());

  // Back, but the retry interval has not passed: still refused, no connect.
  server_->Start();
  auto early = link->Stats();
  if (Clock::now() - last_attempt < std::chrono::milliseconds(kRetryMs)) {
    EXPECT_EQ(early.status().code(), absl::StatusCode::kUnavailable) << early.status();
    EXPECT_EQ(reconnects_, 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(kRetryMs + 50));
  auto stats = link->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(reconnects_, 2) << "on_reconnect once per connection";
  EXPECT_EQ(link->counters().reconnects, 2u);
  EXPECT_TRUE(link->last_error().empty());
  // Connected: further calls do not reconnect again.
  ASSERT_TRUE(link->Stats().ok());
  EXPECT_EQ(reconnects_, 2);
}

TEST_F(DataplaneLinkTest, CallsWithoutASocketFailFastNotAfterTheTimeout) {
  constexpr int kTimeoutMs = 3000;
  auto link = MakeLink(kTimeoutMs, /*retry_interval_ms=*/20);
  const auto start = Clock::now();
  for (int i = 0; i < 20; ++i) {
    const auto t0 = Clock::now();
    auto pair = link->Allocate(LegSpec{}, LegSpec{}, "rc:0:c1");
    EXPECT_EQ(pair.status().code(), absl::StatusCode::kUnavailable) << pair.status();
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(kTimeoutMs));
    EXPECT_EQ(link->AddKeepalives({KeepaliveSpec{}}).status().code(),
              absl::StatusCode::kUnavailable);
    EXPECT_TRUE(link->PollEvents().empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(kTimeoutMs));
  EXPECT_EQ(reconnects_, 0);
  EXPECT_TRUE(absl::StrContains(link->last_error(), server_->path())) << link->last_error();
}

// A call's 200 and BYE post their update and delete; the replies are read
// once per event-loop round, or before the next request that waits.
TEST_F(DataplaneLinkTest, PostedRequestsAreSentAtOnceAndSettledInOrder) {
  server_->set_responder([](const json& r) {
    if (r["cmd"] == "delete" && r["pair"] == 7) return Err("not_found");
    if (r["cmd"] == "allocate") {
      return Ok({{"pair", 9},
                 {"a", {{"stream", 17}, {"relay", "203.0.113.10:20000"},
                        {"rtcp_relay", "203.0.113.10:20001"}}},
                 {"b", {{"stream", 18}, {"relay", "203.0.113.10:20002"},
                        {"rtcp_relay", "203.0.113.10:20003"}}}});
    }
    return Ok(json::object());
  });
  server_->Start();
  auto link = MakeLink();
  ASSERT_TRUE(link->PostUpdate(12, Ep("198.51.100.7:31000"), LatchPolicy::kLearn).ok());
  ASSERT_TRUE(link->PostDelete(7).ok());
  ASSERT_TRUE(link->PostDelete(6).ok());
  EXPECT_EQ(link->unsettled(), 3u);
  // A waiting call reads the posted replies first and still gets its own.
  auto pair = link->Allocate(LegSpec{}, LegSpec{}, "rc:0:c1");
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(pair->pair, 9u);
  EXPECT_EQ(link->unsettled(), 0u);
  EXPECT_EQ(link->counters().posted, 3u);
  EXPECT_EQ(link->counters().posted_failures, 1u) << "delete 7: not_found";
  EXPECT_TRUE(absl::StrContains(link->last_error(), "not_found")) << link->last_error();
  EXPECT_TRUE(link->connected()) << "an error reply is an answer";
  ASSERT_EQ(server_->Requests("delete").size(), 2u);
  EXPECT_EQ(server_->Requests("update")[0]["peer"], "198.51.100.7:31000");

  ASSERT_TRUE(link->PostDelete(8).ok());
  link->Settle();
  EXPECT_EQ(link->unsettled(), 0u);
  EXPECT_EQ(server_->Requests("delete").size(), 3u);
}

TEST_F(DataplaneLinkTest, PostWhileUnreachableIsUnavailable) {
  auto link = MakeLink(/*timeout_ms=*/200, /*retry_interval_ms=*/5000);
  EXPECT_EQ(link->PostDelete(6).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(link->unsettled(), 0u);
}

TEST_F(DataplaneLinkTest, HungDataplaneCostsOneTimeoutAndIsUnavailable) {
  std::atomic<bool> hang{false};
  server_->set_responder([&hang](const json&) {
    if (hang) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return Ok({{"deleted", 6}});
  });
  server_->Start();
  constexpr int kTimeoutMs = 200;
  auto link = MakeLink(kTimeoutMs, /*retry_interval_ms=*/5000);
  ASSERT_TRUE(link->Delete(6).ok());
  hang = true;
  const auto t0 = Clock::now();
  EXPECT_EQ(link->Delete(6).code(), absl::StatusCode::kUnavailable);
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(kTimeoutMs - 10));
  EXPECT_LT(took, std::chrono::milliseconds(kTimeoutMs + 800)) << "not until the late reply";
  EXPECT_FALSE(link->connected()) << "a late reply would be paired with the wrong request";
  hang = false;
}

TEST_F(DataplaneLinkTest, OnReconnectMayCallTheLinkBeforeTheCallThatConnected) {
  server_->set_responder([](const json& r) {
    if (r["cmd"] == "keepalive_add") return Ok({{"ids", {1}}});
    return Ok({{"streams", 0}});
  });
  server_->Start();
  std::unique_ptr<DataplaneLink> link;
  std::vector<absl::Status> repush;
  link = std::make_unique<DataplaneLink>(DataplaneLink::Options{server_->path(), 2000, 50, [&] {
    KeepaliveSpec k;
    k.target = Ep("203.0.113.40:31000");
    k.source = Ep("203.0.113.10:5060");
    k.label = "rc-ka:alice@example.com";
    repush.push_back(link->AddKeepalives({k}).status());
  }});
  ASSERT_TRUE(link->Stats().ok());
  ASSERT_EQ(repush.size(), 1u);
  EXPECT_TRUE(repush[0].ok()) << repush[0];
  EXPECT_EQ(server_->Commands(),
            (std::vector<std::string>{"subscribe", "keepalive_add", "stats"}));
}

TEST_F(DataplaneLinkTest, PollEventsReturnsPushedEventsAndNeverBlocks) {
  server_->set_responder([](const json&) { return Ok({{"streams", 0}}); });
  server_->Start();
  auto link = MakeLink(/*timeout_ms=*/2000);
  ASSERT_TRUE(link->EnsureConnected().ok());

  // Nothing pushed: returns at once (well under the 2 s call timeout).
  const auto t0 = Clock::now();
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(link->PollEvents().empty());
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500));

  server_->Push({{"v", 1}, {"event", "idle"}, {"stream", 3}, {"pair", 2}});
  server_->Push({{"v", 1},
                 {"event", "latched"},
                 {"stream", 4},
                 {"pair", 2},
                 {"peer", "198.51.100.7:31000"}});
  std::vector<DataplaneEvent> events;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (events.size() < 2 && Clock::now() < deadline) {
    for (DataplaneEvent& e : link->PollEvents()) events.push_back(std::move(e));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "idle");
  EXPECT_EQ(events[0].stream, 3u);
  EXPECT_EQ(events[0].pair, 2u);
  EXPECT_EQ(events[0].peer, "");
  EXPECT_EQ(events[1].event, "latched");
  EXPECT_EQ(events[1].stream, 4u);
  EXPECT_EQ(events[1].peer, "198.51.100.7:31000");
  EXPECT_EQ(link->counters().events, 2u);
  // Events go to the subscribed connection only: requests still pair up.
  EXPECT_TRUE(link->Stats().ok());
  EXPECT_TRUE(link->PollEvents().empty());
}

TEST_F(DataplaneLinkTest, PollEventsNoticesTheDataplaneGoingAway) {
  server_->set_responder([](const json&) { return Ok({{"streams", 0}}); });
  server_->Start();
  auto link = MakeLink(2000, /*retry_interval_ms=*/10);
  ASSERT_TRUE(link->EnsureConnected().ok());
  server_->Stop();
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (link->connected() && Clock::now() < deadline) {
    EXPECT_TRUE(link->PollEvents().empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_FALSE(link->connected());
  // Polling while down reconnects once the dataplane is back.
  server_->Start();
  const auto back = Clock::now() + std::chrono::seconds(5);
  while (!link->connected() && Clock::now() < back) {
    (void)link->PollEvents();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(link->connected());
  EXPECT_EQ(reconnects_, 2);
}

// A fake keepalive table: `total` targets, every third one ours.
json KeepalivePage(const json& request, size_t total) {
  const size_t offset = request.value("offset", size_t{0});
  const size_t limit = request.value("limit", size_t{1000});
  json list = json::array();
  for (size_t i = offset; i < total && i < offset + limit; ++i) {
    const std::string label = i % 3 == 0 ? absl::StrCat("rc-ka:user", i, "@example.com")
                                         : absl::StrCat("other:", i);
    list.push_back({{"id", i + 1},
                    {"target", "203.0.113.40:31000"},
                    {"source", "203.0.113.10:5060"},
                    {"interval_ms", 25000},
                    {"label", label}});
  }
  return {{"total", total}, {"keepalives", list}};
}

TEST_F(DataplaneLinkTest, ListKeepalivesPagesAndFiltersByLabelPrefix) {
  for (size_t total : {size_t{0}, size_t{999}, size_t{2000}, size_t{2500}}) {
    SCOPED_TRACE(absl::StrCat(total, " targets"));
    server_ = std::make_unique<FakeDataplane>();
    server_->set_responder([total](const json& r) { return Ok(KeepalivePage(r, total)); });
    server_->Start();
    auto link = MakeLink();
    auto ids = link->ListKeepalives("rc-ka:");
    ASSERT_TRUE(ids.ok()) << ids.status();
    std::vector<uint64_t> expected;
    for (size_t i = 0; i < total; i += 3) expected.push_back(i + 1);
    EXPECT_EQ(*ids, expected);
    auto pages = server_->Requests("keepalive_list");
    ASSERT_EQ(pages.size(), total / 1000 + 1);
    for (size_t p = 0; p < pages.size(); ++p) {
      EXPECT_EQ(pages[p]["offset"], p * 1000);
      EXPECT_EQ(pages[p]["limit"], 1000);
    }
  }
}

TEST_F(DataplaneLinkTest, ListPairsPagesAndReturnsEachPairOnce) {
  constexpr size_t kPairs = 1200;  // 2400 streams: three pages
  server_->set_responder([](const json& r) {
    const size_t offset = r.value("offset", size_t{0});
    const size_t limit = r.value("limit", size_t{1000});
    json list = json::array();
    for (size_t i = offset; i < 2 * kPairs && i < offset + limit; ++i) {
      const size_t pair = i / 2 + 1;
      const std::string label = pair % 2 == 0 ? absl::StrCat("rc:0:call-", pair, "@192.0.2.10")
                                              : absl::StrCat("bench-", pair);
      list.push_back(StreamJson(i + 1, pair, i % 2 == 0 ? "a" : "b", label,
                                "203.0.113.10:20000", "203.0.113.10:20001"));
    }
    return Ok({{"total", 2 * kPairs}, {"streams", list}});
  });
  server_->Start();
  auto link = MakeLink();
  auto pairs = link->ListPairs("rc:");
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  ASSERT_EQ(pairs->size(), kPairs / 2);
  EXPECT_EQ((*pairs)[0], std::make_pair(uint64_t{2}, std::string("rc:0:call-2@192.0.2.10")));
  EXPECT_EQ(pairs->back().first, kPairs);
  EXPECT_EQ(server_->Requests("list").size(), 3u);
}

TEST_F(DataplaneLinkTest, AddKeepalivesSendsEachTargetAndChecksTheIdCount) {
  std::atomic<size_t> ids_in_reply{2};
  server_->set_responder([&ids_in_reply](const json&) {
    json ids = json::array();
    for (size_t i = 0; i < ids_in_reply.load(); ++i) ids.push_back(70 + i);
    return Ok({{"ids", ids}});
  });
  server_->Start();
  auto link = MakeLink();
  KeepaliveSpec alice{Ep("203.0.113.40:31000"), Ep("203.0.113.10:5060"), "crlf", 25000,
                      "rc-ka:alice@example.com"};
  KeepaliveSpec bob{Ep("[2001:db8::40]:31001"), Ep("[2001:db8::10]:5060"), "zero4", 15000,
                    "rc-ka:bob@example.com"};
  auto ids = link->AddKeepalives({alice, bob});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<uint64_t>{70, 71}));
  auto sent = server_->Requests("keepalive_add");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["targets"], json::parse(R"([
      {"target":"203.0.113.40:31000","source":"203.0.113.10:5060","payload":"crlf",
       "interval_ms":25000,"label":"rc-ka:alice@example.com"},
      {"target":"[2001:db8::40]:31001","source":"[2001:db8::10]:5060","payload":"zero4",
       "interval_ms":15000,"label":"rc-ka:bob@example.com"}])"));

  ids_in_reply = 1;
  auto short_reply = link->AddKeepalives({alice, bob});
  EXPECT_EQ(short_reply.status().code(), absl::StatusCode::kInternal) << short_reply.status();
}

TEST_F(DataplaneLinkTest, KeepaliveUpdateAndRemove) {
  server_->set_responder([](const json& r) {
    if (r["cmd"] == "keepalive_remove") return Ok({{"removed", r["ids"].size()}});
    return Ok({{"id", r["id"]}});
  });
  server_->Start();
  auto link = MakeLink();
  ASSERT_TRUE(link->UpdateKeepalive(70, 12500).ok());
  ASSERT_TRUE(link->RemoveKeepalives({70, 71}).ok());
  ASSERT_TRUE(link->RemoveKeepalives({}).ok());
  auto updates = server_->Requests("keepalive_update");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0]["id"], 70);
  EXPECT_EQ(updates[0]["interval_ms"], 12500);
  auto removes = server_->Requests("keepalive_remove");
  ASSERT_EQ(removes.size(), 1u) << "nothing to remove sends nothing";
  EXPECT_EQ(removes[0]["ids"], json::parse("[70,71]"));
}

TEST(LatchPolicyNameTest, NamesAreTheProtocolStrings) {
  EXPECT_EQ(LatchPolicyName(LatchPolicy::kLearn), "learn");
  EXPECT_EQ(LatchPolicyName(LatchPolicy::kStrict), "strict");
  EXPECT_EQ(LatchPolicyName(LatchPolicy::kAsymmetric), "asymmetric");
}

}  // namespace
}  // namespace rtplatch
