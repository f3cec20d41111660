#include "control/guard/admitted_calls.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

constexpr int64_t kWindow = 32'000;

TEST(AdmittedCallsTest, RemembersForOneToTwoWindows) {
  AdmittedCalls a(kWindow, 100);
  a.Admit("c1", 0);
  EXPECT_TRUE(a.Contains("c1", 0));
  EXPECT_FALSE(a.Contains("c2", 0));
  EXPECT_TRUE(a.Contains("c1", kWindow - 1));
  a.Admit("c2", kWindow);  // starts a generation: c1 is now the older one's
  EXPECT_TRUE(a.Contains("c1", kWindow + 1));
  EXPECT_TRUE(a.Contains("c2", kWindow + 1));
  EXPECT_FALSE(a.Contains("c1", 2 * kWindow));  // dropped with its generation
  EXPECT_TRUE(a.Contains("c2", 2 * kWindow));
  EXPECT_FALSE(a.Contains("c2", 4 * kWindow));  // both out of the window
  EXPECT_EQ(a.size(), 0u);
}

TEST(AdmittedCallsTest, BoundedPerGeneration) {
  AdmittedCalls a(kWindow, 10);
  for (int i = 0; i < 100; ++i) a.Admit(absl::StrCat("c", i), 0);
  EXPECT_EQ(a.size(), 5u);
  EXPECT_TRUE(a.Contains("c4", 0));
  EXPECT_FALSE(a.Contains("c5", 0));
  a.Admit("again", kWindow);  // the next generation has room again
  EXPECT_TRUE(a.Contains("again", kWindow));
}

}  // namespace
}  // namespace rtplatch
