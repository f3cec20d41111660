// MD5 digest answers for the bench's SIP load generator (RFC 2617 3.2.2,
// with qop=auth when the challenge offers it). A server may offer several
// challenges (RFC 8760: SHA-256 beside MD5); only MD5 ones are answered,
// as sipp and most phones do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rtplatch::bench {

struct DigestChallenge {
  std::string realm;
  std::string nonce;
  std::string opaque;  // empty: none given
  bool qop_auth = false;
};

// The first MD5 challenge among a 401's WWW-Authenticate (or a 407's
// Proxy-Authenticate) values: algorithm MD5 or absent. nullopt if none.
std::optional<DigestChallenge> FindMd5Challenge(const std::vector<absl::string_view>& values);

struct DigestCredentials {
  absl::string_view user;
  absl::string_view password;
};

// The Authorization header's value answering `challenge` for `method` on
// `uri` (the Request-URI). `cnonce` and `nonce_count` are used only with
// qop=auth.
std::string AnswerMd5(const DigestChallenge& challenge, const DigestCredentials& credentials,
                      absl::string_view method, absl::string_view uri, absl::string_view cnonce,
                      uint32_t nonce_count);

}  // namespace rtplatch::bench
