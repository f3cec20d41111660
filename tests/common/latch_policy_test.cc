#include "common/latch_policy.h"

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

TEST(LatchPolicyTest, NamesRoundTrip) {
  for (LatchPolicy p : {LatchPolicy::kLearn, LatchPolicy::kStrict, LatchPolicy::kAsymmetric}) {
    LatchPolicy parsed = LatchPolicy::kLearn;
    ASSERT_TRUE(ParseLatchPolicy(LatchPolicyName(p), &parsed)) << LatchPolicyName(p);
    EXPECT_EQ(parsed, p);
  }
  EXPECT_EQ(LatchPolicyName(LatchPolicy::kAsymmetric), "asymmetric");
}

TEST(LatchPolicyTest, UnknownNamesAreRefusedAndLeaveTheOutputAlone) {
  LatchPolicy out = LatchPolicy::kStrict;
  EXPECT_FALSE(ParseLatchPolicy("Learn", &out));  // names are lower case
  EXPECT_FALSE(ParseLatchPolicy("", &out));
  EXPECT_FALSE(ParseLatchPolicy("symmetric", &out));
  EXPECT_EQ(out, LatchPolicy::kStrict);
}

}  // namespace
}  // namespace rtplatch
