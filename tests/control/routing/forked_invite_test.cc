// The forked INVITE's response context (control/routing/forked_invite.h):
// what goes to the caller, what is CANCELled, what is released.
#include "control/routing/forked_invite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ForkedInviteTest, TheFirst2xxWinsAndTheOthersAreCancelled) {
  ForkedInvite f(3);
  EXPECT_TRUE(f.OnResponse(0, 180).forward);
  EXPECT_TRUE(f.OnResponse(2, 183).forward) << "early media from any branch";
  ForkedInvite::Verdict v = f.OnResponse(2, 200);
  EXPECT_TRUE(v.forward);
  EXPECT_THAT(v.cancel, ElementsAre(0, 1));
  EXPECT_EQ(f.winner(), 2u);
  // The cancelled branches' 487s go nowhere; a late 2xx is released.
  v = f.OnResponse(0, 487);
  EXPECT_FALSE(v.forward);
  EXPECT_FALSE(v.forward_best);
  v = f.OnResponse(1, 200);
  EXPECT_FALSE(v.forward);
  EXPECT_TRUE(v.release);
  EXPECT_TRUE(f.finished());
  EXPECT_FALSE(f.OnResponse(1, 180).forward) << "nothing after the end";
}

TEST(ForkedInviteTest, ASixHundredEndsEveryBranch) {
  ForkedInvite f(3);
  f.OnResponse(1, 486);
  ForkedInvite::Verdict v = f.OnResponse(0, 603);
  EXPECT_TRUE(v.forward);
  EXPECT_THAT(v.cancel, ElementsAre(2));
  EXPECT_EQ(f.best(), 0u);
  EXPECT_FALSE(f.winner().has_value());
  EXPECT_FALSE(f.OnResponse(2, 200).forward);
}

TEST(ForkedInviteTest, WhenAllFailTheBestAnswerGoesBack) {
  ForkedInvite f(3);
  EXPECT_FALSE(f.OnResponse(0, 503).forward_best);
  EXPECT_FALSE(f.OnResponse(1, 486).forward_best);
  ForkedInvite::Verdict v = f.OnResponse(2, 0);  // timed out: 408
  EXPECT_TRUE(v.forward_best);
  EXPECT_FALSE(v.forward);
  EXPECT_EQ(f.best(), 1u) << "486 (first 4xx) before 503";
}

TEST(ForkedInviteTest, TheFirstOfAClassIsKept) {
  ForkedInvite f(2);
  f.OnResponse(1, 480);
  EXPECT_TRUE(f.OnResponse(0, 404).forward_best);
  EXPECT_EQ(f.best(), 1u);
}

TEST(ForkedInviteTest, TheCallerCancelsEveryOpenBranch) {
  ForkedInvite f(3);
  f.OnResponse(1, 486);
  EXPECT_THAT(f.OnCallerCancel(), ElementsAre(0, 2));
  ForkedInvite answered(2);
  answered.OnResponse(0, 200);
  EXPECT_THAT(answered.OnCallerCancel(), IsEmpty()) << "too late: the call is up";
}

TEST(ForkedInviteTest, ABranchAnswersOnce) {
  ForkedInvite f(2);
  f.OnResponse(0, 486);
  EXPECT_FALSE(f.OnResponse(0, 200).forward);
  EXPECT_FALSE(f.OnResponse(5, 200).forward) << "no such branch";
  EXPECT_FALSE(f.winner().has_value());
}

}  // namespace
}  // namespace rtplatch
