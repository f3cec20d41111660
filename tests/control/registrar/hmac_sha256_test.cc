#include "control/registrar/hmac_sha256.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

std::string HexMac(absl::string_view key, absl::string_view data) {
  absl::StatusOr<HmacSha256> hmac = HmacSha256::Create(key);
  EXPECT_TRUE(hmac.ok()) << hmac.status();
  if (!hmac.ok()) return "";
  return absl::BytesToHexString(hmac->Mac(data));
}

// RFC 4231 §4.2, §4.3 and §4.7 (a key longer than SHA-256's block).
TEST(HmacSha256, MatchesRfc4231Vectors) {
  EXPECT_EQ(HexMac(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexMac("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexMac(std::string(131, '\xaa'),
                   "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// The keyed state is copied per MAC, never consumed: the same input gives
// the same MAC however many came before, and other inputs differ.
TEST(HmacSha256, KeyedStateIsReusable) {
  absl::StatusOr<HmacSha256> hmac = HmacSha256::Create("a secret of sixteen+");
  ASSERT_TRUE(hmac.ok()) << hmac.status();
  const std::string first = hmac->Mac("nonce 1");
  ASSERT_EQ(first.size(), HmacSha256::kMacBytes);
  for (int i = 0; i < 100; ++i) (void)hmac->Mac(std::to_string(i));
  EXPECT_EQ(hmac->Mac("nonce 1"), first);
  EXPECT_NE(hmac->Mac("nonce 2"), first);
  absl::StatusOr<HmacSha256> other = HmacSha256::Create("another secret, sixteen");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->Mac("nonce 1"), first);
}

}  // namespace
}  // namespace rtplatch
