// Fresh ICE credentials for one relay leg (ng "ICE=force"): the ufrag and
// password rtplatch writes into the SDP and the dataplane checks every
// connectivity check against. The password is the only thing that keeps
// a third party from getting checks answered (and learning nothing else):
// 24 characters from a CSPRNG (OpenSSL RAND_bytes), 144 bits, beyond RFC
// 8445's 128-bit minimum; the ufrag, 8 characters, only names the leg.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace rtplatch {

struct IceCredentialStrings {
  std::string ufrag;
  std::string pwd;
};

inline constexpr size_t kIceUfragChars = 8;
inline constexpr size_t kIcePwdChars = 24;

// Internal when the CSPRNG fails (no entropy): the caller refuses the
// offer rather than sign with weak credentials.
absl::StatusOr<IceCredentialStrings> NewIceCredentials();

}  // namespace rtplatch
