#include "control/sip/completed_responses.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

const Endpoint kPhone{*IpAddress::Parse("203.0.113.7"), 5060};

TEST(CompletedResponses, FindsWhatItRemembersUntilItIsDue) {
  CompletedResponses c(8);
  EXPECT_EQ(c.Find("a"), nullptr);
  EXPECT_FALSE(c.Remember("a", "SIP/2.0 200 OK a", kPhone, SipTransportKind::kUdp, 3, 1000));
  EXPECT_FALSE(c.Remember("b", "", kPhone, SipTransportKind::kUdp, 3, 1001));
  const CompletedResponses::Entry* a = c.Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->response, "SIP/2.0 200 OK a");
  EXPECT_EQ(a->dest, kPhone);
  EXPECT_EQ(a->channel, 3u);
  ASSERT_NE(c.Find("b"), nullptr);
  EXPECT_TRUE(c.Find("b")->response.empty());
  EXPECT_EQ(c.Find("c"), nullptr);

  c.Expire(999);
  EXPECT_EQ(c.size(), 2u);
  c.Expire(1000);  // due at 1000: gone; b (1001) stays
  EXPECT_EQ(c.Find("a"), nullptr);
  EXPECT_NE(c.Find("b"), nullptr);
  c.Expire(5000);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.Find("b"), nullptr);
}

TEST(CompletedResponses, AtCapacityTheOldestGoesFirst) {
  CompletedResponses c(3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(c.Remember(absl::StrCat("k", i), absl::StrCat("r", i), kPhone,
                            SipTransportKind::kUdp, 1, 100 + i));
  }
  EXPECT_TRUE(c.Remember("k3", "r3", kPhone, SipTransportKind::kUdp, 1, 103));
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.Find("k0"), nullptr);
  for (int i = 1; i <= 3; ++i) {
    const CompletedResponses::Entry* e = c.Find(absl::StrCat("k", i));
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->response, absl::StrCat("r", i));
  }
}

// Slots are reused around the ring, after expiry as after eviction, with
// every entry still found by its own key.
TEST(CompletedResponses, WrapsAroundTheRing) {
  CompletedResponses c(4);
  int64_t due = 0;
  for (int round = 0; round < 50; ++round) {
    const std::string key = absl::StrCat("branch-", round);
    c.Remember(key, std::string(round % 7 * 100, 'x'), kPhone, SipTransportKind::kTcp, round,
               ++due);
    ASSERT_NE(c.Find(key), nullptr) << round;
    EXPECT_EQ(c.Find(key)->response.size(), static_cast<size_t>(round % 7 * 100));
    if (round % 5 == 0) c.Expire(due - 2);  // keeps the last two
    EXPECT_LE(c.size(), 4u);
  }
  EXPECT_EQ(c.Find("branch-45"), nullptr);
  EXPECT_NE(c.Find("branch-49"), nullptr);
  EXPECT_NE(c.Find("branch-48"), nullptr);
}

// The same key remembered twice: the newer answer wins, and the older
// slot leaving does not take the newer one with it.
TEST(CompletedResponses, ANewerEntryForTheSameKeyOutlivesTheOlderSlot) {
  CompletedResponses c(4);
  c.Remember("k", "old", kPhone, SipTransportKind::kUdp, 1, 10);
  c.Remember("k", "new", kPhone, SipTransportKind::kUdp, 1, 20);
  ASSERT_NE(c.Find("k"), nullptr);
  EXPECT_EQ(c.Find("k")->response, "new");
  c.Expire(10);
  ASSERT_NE(c.Find("k"), nullptr);
  EXPECT_EQ(c.Find("k")->response, "new");
  c.Expire(20);
  EXPECT_EQ(c.Find("k"), nullptr);
}

// A huge answer does not stay resident in its slot once it is gone.
TEST(CompletedResponses, AnOutsizedAnswerIsNotKeptInItsSlot) {
  CompletedResponses c(1);
  c.Remember(std::string(20000, 'k'), std::string(60000, 'x'), kPhone, SipTransportKind::kUdp,
             1, 10);
  EXPECT_TRUE(c.Remember("b", "small", kPhone, SipTransportKind::kUdp, 1, 11));
  const CompletedResponses::Entry* b = c.Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_LE(b->response.capacity(), CompletedResponses::kKeptBytes);
  EXPECT_LE(b->key.capacity(), CompletedResponses::kKeptBytes);
}

}  // namespace
}  // namespace rtplatch
