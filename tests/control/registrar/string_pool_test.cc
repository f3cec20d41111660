#include "control/registrar/string_pool.h"

#include <gtest/gtest.h>

namespace rtplatch {
namespace {

TEST(StringPoolTest, TheSameTextIsOneEntryAndLivesUntilItsLastRelease) {
  StringPool pool;
  const StringPool::Id a = pool.Intern("Yealink SIP-T46S");
  const StringPool::Id b = pool.Intern(std::string("Yealink SIP-T46S"));
  EXPECT_EQ(a, b);
  EXPECT_EQ(pool.size(), 1u);
  pool.Release(a);
  EXPECT_EQ(pool.Get(b), "Yealink SIP-T46S");
  pool.Release(b);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(pool.Get(b), "");
}

TEST(StringPoolTest, EmptyTextIsIdZeroAndNeverCounted) {
  StringPool pool;
  EXPECT_EQ(pool.Intern(""), StringPool::kEmpty);
  pool.Release(StringPool::kEmpty);
  pool.Release(12345);  // never handed out: ignored
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(pool.Get(StringPool::kEmpty), "");
}

TEST(StringPoolTest, AFreedIdIsReusedForNewText) {
  StringPool pool;
  const StringPool::Id a = pool.Intern("one");
  pool.Release(a);
  const StringPool::Id b = pool.Intern("two");
  EXPECT_EQ(a, b);
  EXPECT_EQ(pool.Get(b), "two");
  // The old text is gone from the index too.
  EXPECT_NE(pool.Intern("one"), b);
  EXPECT_EQ(pool.size(), 2u);
}

TEST(StringPoolTest, ManyStringsKeepTheirTextAsThePoolGrows) {
  StringPool pool;
  std::vector<StringPool::Id> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back(pool.Intern("agent/" + std::to_string(i)));
  for (int i = 0; i < 5000; ++i) EXPECT_EQ(pool.Get(ids[i]), "agent/" + std::to_string(i));
  EXPECT_EQ(pool.size(), 5000u);
}

}  // namespace
}  // namespace rtplatch
