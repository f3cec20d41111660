#include "control/ng/ice_credentials_source.h"

#include <openssl/rand.h>

#include <cstdint>

namespace rtplatch {
namespace {

// 64 ice-chars (RFC 8839 5.4: ALPHA / DIGIT / "+" / "/"): six random bits each.
constexpr char kIceChars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

absl::StatusOr<IceCredentialStrings> NewIceCredentials() {
  uint8_t random[kIceUfragChars + kIcePwdChars];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("ICE credentials: the random generator failed");
  }
  IceCredentialStrings c;
  for (size_t i = 0; i < sizeof(random); ++i) {
    (i < kIceUfragChars ? c.ufrag : c.pwd).push_back(kIceChars[random[i] & 63]);
  }
  return c;
}

}  // namespace rtplatch
