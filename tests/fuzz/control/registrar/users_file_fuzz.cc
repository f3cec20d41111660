// The users file (control/registrar/users_file.h): any file contents load
// whole or fail with an error, and the users it holds can be looked up and
// asked for their HA1s.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/registrar/digest_auth.h"
#include "control/registrar/users_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rtplatch::DigestAlgorithm;
  absl::string_view contents(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::unique_ptr<rtplatch::UsersFile>> users =
      rtplatch::UsersFile::Parse(contents, "users.fuzz");
  if (!users.ok()) return 0;
  for (absl::string_view domain : {"example.com", "EXAMPLE.COM", "[2001:db8::1]"}) {
    const std::optional<rtplatch::UserCredential> alice = (*users)->Find("alice", domain);
    if (!alice) continue;
    (void)alice->Ha1(DigestAlgorithm::kMd5);
    (void)alice->Ha1(DigestAlgorithm::kSha256);
  }
  return 0;
}
