#include "control/cluster/redis_link.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/control/cluster/redis_server.h"
#include "tests/control/registrar/scratch_dir.h"

namespace rtplatch {
namespace {

using Clock = std::chrono::steady_clock;

class RedisLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::Installed()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_FALSE(scratch_.path().empty());
    port_ = RedisServer::FreePort();
    ASSERT_GT(port_, 0);
    ASSERT_TRUE(redis_.Start(port_)) << "redis-server did not answer on port " << port_;
  }

  std::unique_ptr<RedisLink> Link(const std::string& node) {
    RedisLink::Options o;
    o.server = *Endpoint::Parse(absl::StrCat("127.0.0.1:", port_));
    o.node = node;
    auto link = RedisLink::Start(o);
    EXPECT_TRUE(link.ok()) << link.status();
    return link.ok() ? *std::move(link) : nullptr;
  }

  // Waits (5 s at most) until `done` holds.
  template <typename F>
  static bool WaitFor(F done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto until = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  // The waiting changes, without the marks around a read of the table.
  static std::vector<RedisLink::Remote> Changes(RedisLink& link) {
    std::vector<RedisLink::Remote> out = link.TakeRemote(100000);
    std::erase_if(out, [](const RedisLink::Remote& r) {
      return r.kind == RedisLink::Remote::Kind::kSnapshotBegin ||
             r.kind == RedisLink::Remote::Kind::kSnapshotEnd;
    });
    return out;
  }
  // Every waiting change, waiting on the wake fd at most `limit`.
  // (The fd also wakes for calls loaded at a take: those are not changes.)
  static std::vector<RedisLink::Remote> Receive(RedisLink& link, int limit_ms = 2000) {
    const auto until = Clock::now() + std::chrono::milliseconds(limit_ms);
    for (auto left = std::chrono::milliseconds(limit_ms); left.count() > 0;
         left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now())) {
      pollfd p{link.wake_fd(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
      std::vector<RedisLink::Remote> got = Changes(link);
      if (!got.empty()) return got;
    }
    return {};
  }
  // Waits until the link is connected, then drops the marks of its first
  // read of the (empty) table.
  static bool Connected(RedisLink& link) {
    if (!WaitFor([&] { return link.connected(); })) return false;
    (void)link.TakeRemote(100000);
    return true;
  }

  // Redis's count of calls to `command` (INFO commandstats).
  uint64_t Calls(absl::string_view command) {
    redisReply* r = redis_.Command("INFO commandstats");
    if (r == nullptr) return 0;
    uint64_t calls = 0;
    for (absl::string_view line : absl::StrSplit(absl::string_view(r->str, r->len), "\r\n")) {
      if (!absl::StartsWith(line, absl::StrCat("cmdstat_", command, ":calls="))) continue;
      line.remove_prefix(absl::StrCat("cmdstat_", command, ":calls=").size());
      (void)absl::SimpleAtoi(line.substr(0, line.find(',')), &calls);
    }
    freeReplyObject(r);
    return calls;
  }

  ScratchDir scratch_{"redis_link_test"};
  RedisServer redis_{scratch_.path()};
  int port_ = -1;
};

TEST_F(RedisLinkTest, AChangeReachesTheOtherNodeAtOnceAndNotItsOwn) {
  auto a = Link("edge-a");
  auto b = Link("edge-b");
  ASSERT_TRUE(Connected(*a) && Connected(*b));
  const auto start = Clock::now();
  a->Put("alice@example.com", "sip:alice@192.0.2.10", "{\"v\":1}", 4'000'000'000'000, true);
  std::vector<RedisLink::Remote> got = Receive(*b);
  const auto took = Clock::now() - start;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, RedisLink::Remote::Kind::kPut);
  EXPECT_EQ(got[0].node, "edge-a");
  EXPECT_EQ(got[0].aor, "alice@example.com");
  EXPECT_EQ(got[0].contact, "sip:alice@192.0.2.10");
  EXPECT_EQ(got[0].value, "{\"v\":1}");
  EXPECT_LT(took, std::chrono::milliseconds(100)) << "issue 18: seen by the other node within 100 ms";
  EXPECT_TRUE(Receive(*a, 200).empty()) << "a node's own change does not come back to it";

  a->Remove("alice@example.com", "sip:alice@192.0.2.10");
  got = Receive(*b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, RedisLink::Remote::Kind::kRemove);
  redisReply* left = redis_.Command("HLEN rtplatch:b:alice@example.com");
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(left->integer, 0);
  freeReplyObject(left);
}

// A storm of refreshes that only move expiries: each binding is written
// once per flush, with its latest value, however often it was refreshed.
TEST_F(RedisLinkTest, RefreshesAreWrittenOncePerBindingPerFlush) {
  auto a = Link("edge-a");
  auto b = Link("edge-b");
  ASSERT_TRUE(Connected(*a) && Connected(*b));
  const uint64_t scripts_before = Calls("evalsha");
  const uint64_t before = Calls("hset");
  constexpr int kBindings = 200;
  for (int round = 1; round <= 5; ++round) {
    for (int i = 0; i < kBindings; ++i) {
      a->Put(absl::StrCat("u", i, "@example.com"), "sip:u@192.0.2.10", absl::StrCat(round),
             4'000'000'000'000, /*urgent=*/false);
    }
  }
  ASSERT_TRUE(WaitFor([&] { return a->pending_writes() == 0 && a->counters().writes > 0; }));
  EXPECT_EQ(a->counters().writes.load(), static_cast<uint64_t>(kBindings));
  EXPECT_EQ(Calls("hset") - before, static_cast<uint64_t>(kBindings));
  EXPECT_EQ(Calls("evalsha") - scripts_before, 1u) << "a flush's refreshes go in one script";
  std::map<std::string, std::string> latest;
  ASSERT_TRUE(WaitFor([&] {
    for (RedisLink::Remote& r : Changes(*b)) latest[r.aor] = r.value;
    return latest.size() == kBindings;
  }));
  for (const auto& [aor, value] : latest) EXPECT_EQ(value, "5") << aor;
}

// A plain refresh goes as the binding's expiry alone: a field of its own
// beside the value, published as a refresh; a read of the table gives it
// after the value; the binding's next whole value (or removal) drops it.
TEST_F(RedisLinkTest, ARefreshIsWrittenAsItsExpiryAlone) {
  auto a = Link("edge-a");
  auto b = Link("edge-b");
  ASSERT_TRUE(Connected(*a) && Connected(*b));
  a->Put("alice@example.com", "sip:alice@192.0.2.10", "{\"v\":1}", 4'000'000'000'000, true);
  a->Refresh("alice@example.com", "sip:alice@192.0.2.10", "4000000001 7 c7@192.0.2.10",
             4'000'000'001'000);
  std::vector<RedisLink::Remote> got;
  ASSERT_TRUE(WaitFor([&] {
    for (RedisLink::Remote& r : Changes(*b)) got.push_back(std::move(r));
    return got.size() == 2;
  }));
  EXPECT_EQ(got[1].kind, RedisLink::Remote::Kind::kRefresh);
  EXPECT_EQ(got[1].node, "edge-a");
  EXPECT_EQ(got[1].contact, "sip:alice@192.0.2.10");
  EXPECT_EQ(got[1].value, "4000000001 7 c7@192.0.2.10");
  redisReply* r = redis_.Command("HGET rtplatch:b:alice@example.com %b", "sip:alice@192.0.2.10\nr",
                                 static_cast<size_t>(22));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(std::string(r->str, r->len), "4000000001 7 c7@192.0.2.10");
  freeReplyObject(r);

  auto c = Link("edge-c");  // reads the table
  std::vector<RedisLink::Remote> read;
  ASSERT_TRUE(WaitFor([&] {
    for (RedisLink::Remote& x : c->TakeRemote(100)) {
      if (x.kind == RedisLink::Remote::Kind::kPut || x.kind == RedisLink::Remote::Kind::kRefresh) {
        read.push_back(std::move(x));
      }
    }
    return read.size() == 2;
  }));
  EXPECT_EQ(read[0].kind, RedisLink::Remote::Kind::kPut);
  EXPECT_EQ(read[1].kind, RedisLink::Remote::Kind::kRefresh);
  EXPECT_EQ(read[1].aor, "alice@example.com");
  EXPECT_EQ(read[1].contact, "sip:alice@192.0.2.10");

  a->Put("alice@example.com", "sip:alice@192.0.2.10", "{\"v\":2}", 4'000'000'000'000, true);
  ASSERT_TRUE(WaitFor([&] { return a->pending_writes() == 0 && a->counters().writes >= 3; }));
  r = redis_.Command("HLEN rtplatch:b:alice@example.com");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->integer, 1) << "the whole value carries the latest expiry";
  freeReplyObject(r);
}

// The flush's changes reach the other node in one published batch; a
// batch or change not understood (another version, a hand-made PUBLISH)
// is counted and skipped, and what follows it still applies.
TEST_F(RedisLinkTest, ABatchIsReadChangeByChangeAndABadOneIsCounted) {
  auto a = Link("edge-a");
  auto b = Link("edge-b");
  ASSERT_TRUE(Connected(*a) && Connected(*b));
  for (int i = 0; i < 3; ++i) {
    a->Put(absl::StrCat("u", i, "@example.com"), "sip:u@192.0.2.10", "{}", 4'000'000'000'000,
           /*urgent=*/false);
  }
  std::vector<RedisLink::Remote> got;
  ASSERT_TRUE(WaitFor([&] {
    for (RedisLink::Remote& r : Changes(*b)) got.push_back(std::move(r));
    return got.size() == 3;
  }));
  for (const char* bad : {"PUBLISH rtplatch:bindings batch\n999\nput", "PUBLISH rtplatch:bindings batch\nx\n",
                          "PUBLISH rtplatch:bindings hello"}) {
    freeReplyObject(redis_.Command(bad));
  }
  a->Put("after@example.com", "sip:after@192.0.2.10", "{}", 4'000'000'000'000, true);
  got.clear();
  ASSERT_TRUE(WaitFor([&] {
    for (RedisLink::Remote& r : Changes(*b)) got.push_back(std::move(r));
    return !got.empty();
  }));
  EXPECT_EQ(got[0].aor, "after@example.com");
  EXPECT_EQ(b->counters().bad_messages.load(), 3u);
}

// Redis restarts (kill -9, nothing saved): the nodes serve on, a change
// made meanwhile waits and lands, and a binding written while a node was
// away reaches it when it reads the table again on reconnecting.
TEST_F(RedisLinkTest, RedisRestartReconnectsAndReadsTheTableAgain) {
  auto a = Link("edge-a");
  auto b = Link("edge-b");
  ASSERT_TRUE(WaitFor([&] { return a->connected() && b->connected(); }));
  redis_.Stop();
  ASSERT_TRUE(WaitFor([&] { return !a->connected() && !b->connected(); }))
      << "a lost Redis is noticed (the subscriber's socket closes)";
  a->Put("alice@example.com", "sip:alice@192.0.2.10", "{\"while\":\"down\"}", 4'000'000'000'000,
         true);

  // Written by a third party while both nodes are away: a Redis on another
  // port saves it, and the restarted Redis loads that dump.
  RedisServer writer(scratch_.path());
  ASSERT_TRUE(writer.Start(RedisServer::FreePort()));
  for (const char* cmd : {"HSET rtplatch:b:carol@example.com sip:carol@192.0.2.30 {\"by\":\"c\"}",
                          "SAVE"}) {
    redisReply* r = writer.Command(cmd);
    ASSERT_NE(r, nullptr) << cmd;
    freeReplyObject(r);
  }
  writer.Stop();
  ASSERT_TRUE(redis_.Start(port_));

  std::map<std::string, std::string> seen;
  int begins = 0, ends = 0;
  std::string run_id;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (RedisLink::Remote& r : b->TakeRemote(100000)) {
          begins += r.kind == RedisLink::Remote::Kind::kSnapshotBegin;
          ends += r.kind == RedisLink::Remote::Kind::kSnapshotEnd;
          if (r.kind == RedisLink::Remote::Kind::kSnapshotBegin) run_id = r.value;
          if (r.kind == RedisLink::Remote::Kind::kPut) seen[r.value] = r.aor;
        }
        return seen.contains("{\"by\":\"c\"}") && seen.contains("{\"while\":\"down\"}");
      },
      std::chrono::seconds(10)))
      << "seen: " << seen.size();
  EXPECT_GE(b->counters().connects.load(), 2u);
  EXPECT_EQ(begins, 2) << "each connect reads the table once, between marks";
  EXPECT_EQ(ends, 2);
  EXPECT_EQ(run_id.size(), 40u) << "the restarted Redis's run_id: '" << run_id << "'";
  EXPECT_EQ(a->pending_writes(), 0u);
}

// A VIP taken by node A, then by node B (keepalived moved it): each take
// is one epoch more; A learns at its next renewal that it lost the lease,
// and A's writes of the VIP's bindings are refused from then on (fenced),
// while B's land and unfenced writes of A's go on.
TEST_F(RedisLinkTest, ATakeFencesThePreviousHoldersWrites) {
  auto a = Link("edge-a");
  auto b = Link("edge-b");
  ASSERT_TRUE(Connected(*a) && Connected(*b));
  const IpAddress vip = *IpAddress::Parse("203.0.113.70");
  a->TakeLease(vip);
  ASSERT_TRUE(WaitFor([&] { return a->lease(vip).valid; }));
  EXPECT_EQ(a->lease(vip).epoch, 1u);
  a->Put("alice@example.com", "sip:alice@192.0.2.10", "{\"by\":\"a\"}", 4'000'000'000'000, true,
         vip);
  ASSERT_EQ(Receive(*b).size(), 1u) << "the holder's write lands";

  b->TakeLease(vip);
  ASSERT_TRUE(WaitFor([&] { return b->lease(vip).valid; }));
  EXPECT_EQ(b->lease(vip).epoch, 2u);
  // A's write before its renewal tells it: refused by the script.
  a->Put("alice@example.com", "sip:alice@192.0.2.10", "{\"by\":\"a-stale\"}", 4'000'000'000'000,
         true, vip);
  ASSERT_TRUE(WaitFor([&] { return a->counters().fenced_writes.load() == 1; }));
  EXPECT_TRUE(a->lease(vip).lost);
  EXPECT_FALSE(a->lease(vip).valid) << "lost: no keepalives for the VIP's phones";
  EXPECT_EQ(a->counters().leases_lost.load(), 1u);
  EXPECT_TRUE(Receive(*b, 300).empty()) << "a fenced write is not published either";
  a->Remove("alice@example.com", "sip:alice@192.0.2.10", vip);
  ASSERT_TRUE(WaitFor([&] { return a->counters().fenced_writes.load() == 2; }))
      << "lost, later writes are dropped before they go";

  b->Put("alice@example.com", "sip:alice@192.0.2.10", "{\"by\":\"b\"}", 4'000'000'000'000, true,
         vip);
  std::vector<RedisLink::Remote> got = Receive(*a);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, "{\"by\":\"b\"}");
  redisReply* stored = redis_.Command("HGET rtplatch:b:alice@example.com sip:alice@192.0.2.10");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(std::string(stored->str, stored->len), "{\"by\":\"b\"}");
  freeReplyObject(stored);
  redisReply* lease = redis_.Command("GET rtplatch:lease:203.0.113.70");
  ASSERT_NE(lease, nullptr);
  EXPECT_EQ(std::string(lease->str, lease->len), "edge-b 2");
  freeReplyObject(lease);

  a->Put("bob@example.com", "sip:bob@192.0.2.11", "{}", 4'000'000'000'000, true);
  ASSERT_EQ(Receive(*b).size(), 1u) << "an unfenced write is not affected";
}

// Calls on a VIP (issue 18): the holder writes each call's record at
// once (nothing is published: the other nodes read them when they take
// the VIP), deletes it when the call ends; the node that takes the VIP
// reads every record after its take, and the old holder's later writes
// of a call are fenced like a binding's.
TEST_F(RedisLinkTest, ANodeTakingAVipReadsItsCallsAndFencesTheOldHolder) {
  auto a = Link("edge-a");
  auto b = Link("edge-b");
  ASSERT_TRUE(Connected(*a) && Connected(*b));
  const IpAddress vip = *IpAddress::Parse("203.0.113.70");
  const IpAddress other = *IpAddress::Parse("203.0.113.71");
  a->TakeLease(vip);
  ASSERT_TRUE(WaitFor([&] { return a->lease(vip).valid; }));
  ASSERT_TRUE(WaitFor([&] { return a->TakeLoadedCalls().size() == 1; }))
      << "a take reads the VIP's calls, none yet";
  a->PutCall(vip, "call-1", "{\"n\":1}");
  a->PutCall(vip, "call-2", "{\"n\":2}");
  a->PutCall(vip, "call-3", "{\"n\":3}");
  a->RemoveCall(vip, "call-3");
  a->PutCall(other, "call-4", "{}");  // a VIP A never took: dropped
  auto stored_calls = [&] {
    redisReply* n = redis_.Command("HLEN rtplatch:c:203.0.113.70");
    const long long len = n != nullptr ? n->integer : -1;
    if (n != nullptr) freeReplyObject(n);
    return len;
  };
  ASSERT_TRUE(WaitFor([&] { return a->counters().fenced_writes.load() == 1 && stored_calls() == 2; }))
      << "fenced " << a->counters().fenced_writes.load() << ", stored " << stored_calls();
  EXPECT_TRUE(Receive(*b, 300).empty()) << "call records are not published";

  b->TakeLease(vip);
  ASSERT_TRUE(WaitFor([&] { return b->lease(vip).valid; }));
  std::vector<RedisLink::LoadedCalls> loaded;
  ASSERT_TRUE(WaitFor([&] {
    for (RedisLink::LoadedCalls& l : b->TakeLoadedCalls()) loaded.push_back(std::move(l));
    return !loaded.empty();
  }));
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].vip, vip);
  std::vector<std::string> records = loaded[0].records;
  std::sort(records.begin(), records.end());
  EXPECT_EQ(records, (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}"}));
  EXPECT_EQ(b->counters().calls_loaded.load(), 2u);

  a->PutCall(vip, "call-1", "{\"n\":\"stale\"}");
  ASSERT_TRUE(WaitFor([&] { return a->counters().fenced_writes.load() == 2; }));
  redisReply* stored = redis_.Command("HGET rtplatch:c:203.0.113.70 call-1");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(std::string(stored->str, stored->len), "{\"n\":1}") << "the stale write is refused";
  freeReplyObject(stored);
  redisReply* ttl = redis_.Command("PTTL rtplatch:c:203.0.113.70");
  ASSERT_NE(ttl, nullptr);
  EXPECT_EQ(ttl->integer, -1) << "calls end by BYE or idle media, not by an expiry";
  freeReplyObject(ttl);
}

// Redis lost its data (the epoch key is gone): the holder's next write is
// not refused, and it writes its epoch back (a later take then counts past
// it: AnUnrenewedLeaseLapsesAndComesBackWithRedis).
TEST_F(RedisLinkTest, AWriteAfterRedisLostTheEpochPutsItBack) {
  auto a = Link("edge-a");
  ASSERT_TRUE(Connected(*a));
  const IpAddress vip = *IpAddress::Parse("203.0.113.70");
  a->TakeLease(vip);
  ASSERT_TRUE(WaitFor([&] { return a->lease(vip).valid; }));
  freeReplyObject(redis_.Command("DEL rtplatch:epoch:203.0.113.70"));
  const uint64_t writes = a->counters().writes.load();
  a->Put("alice@example.com", "sip:alice@192.0.2.10", "{}", 4'000'000'000'000, true, vip);
  ASSERT_TRUE(WaitFor([&] { return a->counters().writes.load() > writes; }));
  EXPECT_EQ(a->counters().fenced_writes.load(), 0u);
  EXPECT_FALSE(a->lease(vip).lost);
  redisReply* epoch = redis_.Command("GET rtplatch:epoch:203.0.113.70");
  ASSERT_NE(epoch, nullptr);
  EXPECT_EQ(std::string(epoch->str, epoch->len), "1");
  freeReplyObject(epoch);
}

// Cut off from Redis, a holder's lease stops being valid once it has gone
// unrenewed for lease_ttl_ms; back, with nobody having taken the VIP, it
// renews and is valid again with the same epoch (even from a Redis that
// restarted empty).
TEST_F(RedisLinkTest, AnUnrenewedLeaseLapsesAndComesBackWithRedis) {
  auto a = Link("edge-a");
  ASSERT_TRUE(Connected(*a));
  const IpAddress vip = *IpAddress::Parse("2001:db8::70");
  a->TakeLease(vip);
  ASSERT_TRUE(WaitFor([&] { return a->lease(vip).valid; }));
  redis_.Stop();
  const auto stopped = Clock::now();
  ASSERT_TRUE(WaitFor([&] { return !a->lease(vip).valid; }, std::chrono::seconds(6)));
  const auto lapsed = Clock::now() - stopped;
  EXPECT_GE(lapsed, std::chrono::milliseconds(1500)) << "not before the TTL (3 s after a renewal)";
  EXPECT_FALSE(a->lease(vip).lost);
  ASSERT_TRUE(redis_.Start(port_));
  // The restarted Redis lost everything: the renewal writes the holder's
  // epoch back, and a later take counts past it.
  ASSERT_TRUE(WaitFor([&] { return a->lease(vip).valid; }, std::chrono::seconds(10)));
  EXPECT_EQ(a->lease(vip).epoch, 1u);
  auto b = Link("edge-b");
  b->TakeLease(vip);
  ASSERT_TRUE(WaitFor([&] { return b->lease(vip).valid; }));
  EXPECT_EQ(b->lease(vip).epoch, 2u);
  ASSERT_TRUE(WaitFor([&] { return a->lease(vip).lost; })) << "A's next renewal learns it";
}

TEST(RedisLinkStartTest, ANodeNameIsRequired) {
  RedisLink::Options o;
  o.server = *Endpoint::Parse("127.0.0.1:1");
  EXPECT_FALSE(RedisLink::Start(o).ok());
  o.node = "a\nb";
  EXPECT_FALSE(RedisLink::Start(o).ok());
}

}  // namespace
}  // namespace rtplatch
