#include "control/registrar/nonce_count_window.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

using Verdict = NonceCountWindow::Verdict;
constexpr size_t kPage = NonceCountWindow::kPageSize;
constexpr int64_t kLifetime = 300;
constexpr int64_t kT0 = 1'700'000'000;

TEST(NonceCountWindowTest, CountsMustGrowPerNonce) {
  NonceCountWindow w(kLifetime, kPage, 4 * kPage);
  const uint64_t a = w.Issue(kT0);
  const uint64_t b = w.Issue(kT0);
  EXPECT_EQ(w.Consume(a, 1), Verdict::kAccepted);
  EXPECT_EQ(w.Consume(a, 1), Verdict::kReplayed);
  EXPECT_EQ(w.Consume(b, 1), Verdict::kAccepted);  // nonces are independent
  EXPECT_EQ(w.Consume(a, 3), Verdict::kAccepted);  // gaps are fine
  EXPECT_EQ(w.Consume(a, 2), Verdict::kReplayed);  // going back is not
}

TEST(NonceCountWindowTest, NeverIssuedIsForgotten) {
  NonceCountWindow w(kLifetime, kPage, kPage);
  EXPECT_EQ(w.Consume(0, 1), Verdict::kForgotten);
  w.Issue(kT0);
  EXPECT_EQ(w.Consume(1, 1), Verdict::kForgotten);
  EXPECT_EQ(w.Consume(UINT64_MAX, 1), Verdict::kForgotten);  // before a restart
}

TEST(NonceCountWindowTest, WornOutCountIsForgottenNotWrapped) {
  NonceCountWindow w(kLifetime, kPage, kPage);
  const uint64_t a = w.Issue(kT0);
  EXPECT_EQ(w.Consume(a, 0xfffe), Verdict::kAccepted);
  EXPECT_EQ(w.Consume(a, 0xffff), Verdict::kForgotten);
  EXPECT_EQ(w.Consume(a, 0x10001), Verdict::kForgotten);
  EXPECT_EQ(w.Consume(a, 0xfffe), Verdict::kReplayed);
}

// A storm: more nonces within one lifetime than the ring started with. It
// grows instead of forgetting, and every nonce keeps its count.
TEST(NonceCountWindowTest, GrowsRatherThanForgetLiveNonces) {
  NonceCountWindow w(kLifetime, kPage, 64 * kPage);
  std::vector<uint64_t> numbers;
  for (size_t i = 0; i < 10 * kPage; ++i) {
    numbers.push_back(w.Issue(kT0 + static_cast<int64_t>(i / kPage)));
    if (i % 3 == 0) {
      ASSERT_EQ(w.Consume(numbers.back(), 1), Verdict::kAccepted);
    }
  }
  EXPECT_GE(w.size(), 10 * kPage);
  for (size_t i = 0; i < numbers.size(); ++i) {
    EXPECT_EQ(w.Consume(numbers[i], 1), i % 3 == 0 ? Verdict::kReplayed : Verdict::kAccepted) << i;
  }
}

// Steady load where nonces outlive their lifetime: the ring is reused,
// not grown.
TEST(NonceCountWindowTest, ReusesPagesOlderThanTheLifetime) {
  NonceCountWindow w(/*lifetime_s=*/10, kPage, 64 * kPage);
  for (int64_t second = 0; second < 100; ++second) {
    for (size_t i = 0; i < kPage / 2; ++i) w.Issue(kT0 + second);
  }
  // 11 s of nonces (the lifetime and the current second) fit in 6 pages.
  EXPECT_LE(w.size(), 8 * kPage);
}

// At its maximum the ring forgets the oldest page: those nonces are
// answered as forgotten (stale), never accepted again.
TEST(NonceCountWindowTest, AtMaximumOldestAreForgottenNotReplayable) {
  NonceCountWindow w(kLifetime, kPage, kPage);
  const uint64_t first = w.Issue(kT0);
  ASSERT_EQ(w.Consume(first, 1), Verdict::kAccepted);
  uint64_t last = first;
  for (size_t i = 1; i <= kPage; ++i) last = w.Issue(kT0);
  EXPECT_EQ(w.size(), kPage);
  EXPECT_EQ(w.Consume(first, 1), Verdict::kForgotten);
  EXPECT_EQ(w.Consume(first, 2), Verdict::kForgotten);
  EXPECT_EQ(w.Consume(last, 1), Verdict::kAccepted);
}

// Half way through a page that recycles an old one, the old page's
// nonces are forgotten, not left with zeroed counts that a replay passes.
TEST(NonceCountWindowTest, RecycledPageForgetsItsOldNoncesAtOnce) {
  NonceCountWindow w(/*lifetime_s=*/1, kPage, kPage);
  std::vector<uint64_t> old;
  for (size_t i = 0; i < kPage; ++i) {
    old.push_back(w.Issue(kT0));
    ASSERT_EQ(w.Consume(old.back(), 1), Verdict::kAccepted);
  }
  w.Issue(kT0 + 5);  // starts the page that takes old's slots
  for (uint64_t n : old) EXPECT_EQ(w.Consume(n, 2), Verdict::kForgotten) << n;
}

}  // namespace
}  // namespace rtplatch
