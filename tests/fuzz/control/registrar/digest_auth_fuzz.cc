// Digest credentials (control/registrar/digest_auth.h): any Authorization
// header value through ParseDigestCredentials and the authenticator's
// checks. The fuzzer cannot forge our nonces nor guess MD5s, so the
// placeholders NONCE and RESPONSE in the input become a nonce we issued
// and the right response for the credentials as parsed: the checks after
// those (nonce-count replay, the AOR binding, the request URI) are reached
// too.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/registrar/digest_auth.h"
#include "control/registrar/users_file.h"

namespace rtplatch {
namespace {

constexpr absl::string_view kRealm = "example.com";
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

const UsersFile& Users() {
  static const std::unique_ptr<UsersFile> users = *UsersFile::Parse(
      "alice@example.com:wonderland\n"
      "bob@example.com:md5:2a4d5c93d4e8e4a9c2f8d3a7e0b1c6f9\n",
      "fuzz");
  return *users;
}

// The nonce of a challenge: what sits between nonce=" and the next quote.
std::string NonceOf(absl::string_view challenge) {
  size_t start = challenge.find("nonce=\"") + 7;
  return std::string(challenge.substr(start, challenge.find('"', start) - start));
}

// The response alice would send for these credentials.
std::string RightResponse(const DigestCredentials& c) {
  std::string ha1 = ComputeHa1(c.algorithm, c.username, c.realm, "wonderland");
  return ComputeDigestResponse(c.algorithm, ha1, c.nonce, c.nc, c.cnonce, c.qop,
                               "REGISTER", c.uri);
}

void Verify(absl::string_view header) {
  std::unique_ptr<DigestAuthenticator> auth =
      *DigestAuthenticator::Create({.realm = std::string(kRealm),
                                    .secret = "fuzz-secret-of-sixteen-bytes-or-more"},
                                   Users());
  std::string value = absl::StrReplaceAll(
      header, {{"NONCE", NonceOf(auth->Challenge(DigestAlgorithm::kMd5, kNow))}});
  absl::StatusOr<DigestCredentials> parsed = ParseDigestCredentials(value);
  if (!parsed.ok()) return;
  value = absl::StrReplaceAll(value, {{"RESPONSE", RightResponse(*parsed)}});
  // Twice: the second is a replay of the first.
  for (int i = 0; i < 2; ++i) {
    (void)auth->VerifyFor("alice", kRealm, value, "REGISTER", "sip:example.com", kNow);
  }
}

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view header(reinterpret_cast<const char*>(data), size);
  (void)rtplatch::ParseDigestCredentials(header);
  rtplatch::Verify(header);
  return 0;
}
