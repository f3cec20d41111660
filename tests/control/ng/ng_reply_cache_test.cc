#include "control/ng/ng_reply_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

const Endpoint kKamailio = *Endpoint::Parse("203.0.113.2:40000");
const Endpoint kOtherNode = *Endpoint::Parse("203.0.113.3:40000");
using Lookup = NgReplyCache::Lookup;

TEST(NgReplyCacheTest, RetransmissionGetsTheSameAnswerForThirtySeconds) {
  NgReplyCache cache;
  std::string reply;
  ASSERT_EQ(cache.Begin(kKamailio, "1_1", 0, &reply), Lookup::kNew);
  // Kamailio resends before the answer is ready: counted, not run again.
  EXPECT_EQ(cache.Begin(kKamailio, "1_1", 500, &reply), Lookup::kInProgress);
  cache.Finish(kKamailio, "1_1", "1_1 d6:result2:oke", 800);
  for (int64_t t : {1000, 5000, 30'799}) {
    reply.clear();
    EXPECT_EQ(cache.Begin(kKamailio, "1_1", t, &reply), Lookup::kAnswered) << t;
    EXPECT_EQ(reply, "1_1 d6:result2:oke");
  }
  EXPECT_EQ(cache.counters().hits, 3u);
  EXPECT_EQ(cache.counters().in_progress, 1u);
  // Gone once its time is up: the cookie may be reused.
  EXPECT_EQ(cache.Begin(kKamailio, "1_1", 30'801, &reply), Lookup::kNew);
}

TEST(NgReplyCacheTest, SameCookieFromAnotherNodeIsAnotherRequest) {
  NgReplyCache cache;
  ASSERT_EQ(cache.Begin(kKamailio, "7_7", 0, nullptr), Lookup::kNew);
  cache.Finish(kKamailio, "7_7", "a", 0);
  EXPECT_EQ(cache.Begin(kOtherNode, "7_7", 10, nullptr), Lookup::kNew);
}

TEST(NgReplyCacheTest, CapacityDropsTheOldestFirst) {
  NgReplyCache cache(/*ttl_ms=*/30000, /*capacity=*/100);
  for (int i = 0; i < 1000; ++i) {
    const std::string cookie = absl::StrCat("c", i);
    ASSERT_EQ(cache.Begin(kKamailio, cookie, i, nullptr), Lookup::kNew);
    cache.Finish(kKamailio, cookie, cookie, i);
  }
  EXPECT_EQ(cache.size(), 100u);
  EXPECT_EQ(cache.counters().evicted, 900u);
  std::string reply;
  EXPECT_EQ(cache.Begin(kKamailio, "c999", 1000, &reply), Lookup::kAnswered);
  EXPECT_EQ(reply, "c999");
  EXPECT_EQ(cache.Begin(kKamailio, "c0", 1000, nullptr), Lookup::kNew) << "the oldest went";
}

}  // namespace
}  // namespace rtplatch
