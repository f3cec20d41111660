// The lcore's ICE credential table against a std::map model: inserts,
// replacements and erases in colliding clusters keep every entry findable,
// and the capacity is enforced without growing.
#include "dataplane/fastpath/ice_credential_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace rtplatch {
namespace {

IceCredentials Credentials(uint32_t n) {
  const std::string ufrag = "u" + std::to_string(n) + "xxx";
  return MakeIceCredentials(ufrag.substr(0, 8), "pppppppppppppppppppppp" + std::to_string(n % 10));
}

TEST(IceCredentialTableTest, FindsWhatWasInsertedUntilErased) {
  IceCredentialTable t(4);
  EXPECT_EQ(t.Find(10), nullptr);
  ASSERT_TRUE(t.Insert(10, Credentials(1)));
  ASSERT_NE(t.Find(10), nullptr);
  EXPECT_EQ(t.Find(10)->ufrag_view(), Credentials(1).ufrag_view());
  ASSERT_TRUE(t.Insert(10, Credentials(2)));  // replaced, not added
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Find(10)->pwd_view(), Credentials(2).pwd_view());
  t.Erase(10);
  EXPECT_EQ(t.Find(10), nullptr);
  EXPECT_EQ(t.size(), 0u);
  t.Erase(10);  // erasing the absent is harmless
  EXPECT_EQ(t.size(), 0u);
}

TEST(IceCredentialTableTest, RefusesBeyondCapacity) {
  IceCredentialTable t(3);
  for (uint32_t s : {0u, 2u, 4u}) ASSERT_TRUE(t.Insert(s, Credentials(s)));
  EXPECT_FALSE(t.Insert(6, Credentials(6)));
  EXPECT_TRUE(t.Insert(4, Credentials(9)));  // a replacement still fits
  t.Erase(2);
  EXPECT_TRUE(t.Insert(6, Credentials(6)));
}

TEST(IceCredentialTableTest, MatchesAMapUnderRandomChurn) {
  IceCredentialTable t(512);
  std::map<uint32_t, uint32_t> model;
  std::mt19937 rng(8445);
  for (int step = 0; step < 200000; ++step) {
    const uint32_t slot = (rng() % 2048) * 2;  // dense keys: long clusters
    if (rng() % 3 == 0) {
      t.Erase(slot);
      model.erase(slot);
    } else if (model.size() < 512 || model.count(slot)) {
      ASSERT_TRUE(t.Insert(slot, Credentials(step)));
      model[slot] = step;
    }
    if (step % 1000 == 0) {
      ASSERT_EQ(t.size(), model.size());
      for (uint32_t s = 0; s < 4096; s += 2) {
        const IceCredentials* c = t.Find(s);
        auto it = model.find(s);
        ASSERT_EQ(c != nullptr, it != model.end()) << "slot " << s << " step " << step;
        if (c != nullptr) ASSERT_EQ(c->ufrag_view(), Credentials(it->second).ufrag_view());
      }
    }
  }
}

}  // namespace
}  // namespace rtplatch
