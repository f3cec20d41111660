// SIP digest authentication (RFC 3261 §22 on RFC 2617, with RFC 7616 /
// RFC 8760 for SHA-256): challenges for WWW-Authenticate /
// Proxy-Authenticate, parsing of Authorization / Proxy-Authorization, and
// verification bound to the AOR the request acts for.
//
// Nonces are stateless: hex(issued-at seconds) + hex(salt) + a truncated
// HMAC-SHA-256 over both (and the realm) under a server secret. Any process
// holding the secret can tell its own nonces from forged or edited ones and
// how old they are, without remembering them. Only replay protection needs
// state: the highest nonce-count seen per nonce, two bytes a nonce in a
// ring sized for the challenge rate (nonce_count_window.h).
//
// A retransmitted request carries the same nc and is refused as a replay
// here; SIP's transaction layer (oSIP2) answers retransmissions from its
// cache before they reach the authenticator.
//
// Only qop=auth is accepted (it is what gives us cnonce and nc, and so replay
// protection); RFC 2069-style responses without qop, auth-int, the -sess
// algorithms and RFC 7616's userhash / username* are refused with a message
// that says so.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/registrar/hmac_sha256.h"
#include "control/registrar/nonce_count_window.h"
#include "control/sip/sip_message.h"
#include "absl/time/time.h"

namespace rtplatch {

enum class DigestAlgorithm : uint8_t { kMd5, kSha256 };

// "MD5" / "SHA-256", as written in the algorithm parameter.
absl::string_view DigestAlgorithmName(DigestAlgorithm algorithm);
// Case-insensitive; an absent parameter means MD5 (RFC 2617 §3.2.1).
absl::StatusOr<DigestAlgorithm> ParseDigestAlgorithm(absl::string_view name);

// Lowercase hex of H(data): oSIP2's MD5 (the stack's own), OpenSSL's
// SHA-256. Fails closed: if libcrypto cannot hash (out of memory) the result
// is empty, which matches no response.
std::string DigestHash(DigestAlgorithm algorithm, absl::string_view data);
// H(user ":" realm ":" password).
std::string ComputeHa1(DigestAlgorithm algorithm, absl::string_view user,
                       absl::string_view realm, absl::string_view password);
// H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri)).
std::string ComputeDigestResponse(DigestAlgorithm algorithm,
                                  absl::string_view ha1,
                                  absl::string_view nonce,
                                  absl::string_view nc,
                                  absl::string_view cnonce,
                                  absl::string_view qop,
                                  absl::string_view method,
                                  absl::string_view uri);

// What the server stores for one user. Prefer HA1s (a leaked file then does
// not leak passwords usable elsewhere); a plaintext password serves every
// algorithm. HA1s are lowercase hex, computed with realm == domain.
struct UserCredential {
  std::string user;    // SIP user part, case-sensitive
  std::string domain;  // lowercase; the digest realm
  std::optional<std::string> password;
  std::optional<std::string> ha1_md5;
  std::optional<std::string> ha1_sha256;

  // HA1 for `algorithm`, from the stored HA1 or the password; nullopt when
  // this entry cannot answer that algorithm.
  std::optional<std::string> Ha1(DigestAlgorithm algorithm) const;
  bool Supports(DigestAlgorithm algorithm) const {
    return password.has_value() || (algorithm == DigestAlgorithm::kMd5
                                        ? ha1_md5.has_value()
                                        : ha1_sha256.has_value());
  }
};

// Where the authenticator finds users (users_file.h implements it).
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // nullopt when there is no such user; `domain` is matched
  // case-insensitively.
  virtual std::optional<UserCredential> Find(absl::string_view user,
                                             absl::string_view domain) const = 0;
};

// The parameters of one Digest credential (Authorization header value).
// Values are unquoted and unescaped.
struct DigestCredentials {
  std::string username;
  std::string realm;
  std::string nonce;
  std::string uri;
  std::string response;  // lowercased
  DigestAlgorithm algorithm = DigestAlgorithm::kMd5;
  std::string cnonce;
  std::optional<std::string> opaque;
  std::string qop;  // "auth", or empty when absent
  std::string nc;   // 8 hex digits as sent (they enter the hash as text)
  uint32_t nc_value = 0;
};

// The client's side (our requests to a peer that challenges us): the
// Authorization / Proxy-Authorization value answering `challenge` for
// `method` and `uri` (qop=auth when offered, with `cnonce` and nc 1).
// InvalidArgument for an algorithm we cannot answer (not MD5/SHA-256) or a
// challenge without nonce.
absl::StatusOr<std::string> AnswerDigestChallenge(const SipChallenge& challenge,
                                                  absl::string_view user,
                                                  absl::string_view password,
                                                  absl::string_view method,
                                                  absl::string_view uri,
                                                  absl::string_view cnonce);

// Parses `Digest name=value, ...`. Errors (InvalidArgument) name the
// parameter and what is wrong with it; never crashes on any input.
absl::StatusOr<DigestCredentials> ParseDigestCredentials(
    absl::string_view header_value);

struct DigestAuthOptions {
  std::string realm;   // the SIP domain (lowercased); HA1s are computed with it
  std::string secret;  // nonce key, >= 16 bytes; GenerateNonceSecret()
  absl::Duration nonce_lifetime = absl::Minutes(5);
  // The most nonces whose highest nc is remembered (2 bytes each): the
  // ring grows to this as the challenge rate times the lifetime needs
  // (16 777 216: 32 MB, a lifetime of 300 s at 55 000 challenges a
  // second). Beyond it the oldest are forgotten and answered stale, so a
  // forgotten nonce can never be replayed.
  size_t max_tracked_nonces = size_t{1} << 24;
};

// A fresh random secret (32 bytes) for DigestAuthOptions::secret. A restart
// with a new secret only makes phones answer one more challenge.
absl::StatusOr<std::string> GenerateNonceSecret();

struct AuthenticatedUser {
  std::string user;
  std::string domain;
  DigestAlgorithm algorithm;
};

// VerifyFor's failures, by what the registrar/proxy answers:
//   InvalidArgument    malformed credentials               400 or re-challenge
//   Unauthenticated    unknown user, wrong password/realm,
//                      forged nonce, replayed nc             401/407 challenge
//   DeadlineExceeded   correct response, expired nonce      401/407 stale=true
//   PermissionDenied   authenticated, but not as the AOR   403
inline bool IsStaleNonce(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDeadlineExceeded;
}

class DigestAuthenticator {
 public:
  // `users` is borrowed and must outlive the authenticator.
  static absl::StatusOr<std::unique_ptr<DigestAuthenticator>> Create(
      DigestAuthOptions options, const CredentialSource& users);

  DigestAuthenticator(const DigestAuthenticator&) = delete;
  DigestAuthenticator& operator=(const DigestAuthenticator&) = delete;

  // One WWW-Authenticate / Proxy-Authenticate value (without the header
  // name): Digest realm="..", nonce="..", opaque="..", algorithm=..,
  // qop="auth"[, stale=true].
  std::string Challenge(DigestAlgorithm algorithm, absl::Time now,
                        bool stale = false);
  // One value per algorithm, strongest first (RFC 8760 §2.4: send one header
  // each, in order of preference), sharing one nonce. Pass the algorithms
  // the target user can answer (UserCredential::Supports) so an MD5-only
  // HA1 entry is not offered SHA-256; for unknown users offer both.
  std::vector<std::string> Challenges(
      absl::Time now, bool stale = false,
      const std::vector<DigestAlgorithm>& algorithms = {
          DigestAlgorithm::kSha256, DigestAlgorithm::kMd5});

  // Verifies one Authorization / Proxy-Authorization value for a request
  // that acts for the AOR aor_user@aor_domain (REGISTER: the To URI;
  // INVITE and other requests: the From URI). The authenticated user must
  // be that AOR: no one registers or calls as someone else. There is no
  // entry point that skips this binding.
  //
  // `method` is the request's method; `request_uri`, when not empty, must
  // equal the credential's uri parameter (RFC 2617 §3.2.2.5). aor_user is
  // compared exactly (SIP user parts are case-sensitive), the domain
  // case-insensitively. A successful check consumes the nonce-count.
  absl::StatusOr<AuthenticatedUser> VerifyFor(absl::string_view aor_user,
                                              absl::string_view aor_domain,
                                              absl::string_view header_value,
                                              absl::string_view method,
                                              absl::string_view request_uri,
                                              absl::Time now);

  // The same, for credentials the caller has parsed already
  // (ParseDigestCredentials), so they are not parsed twice.
  absl::StatusOr<AuthenticatedUser> VerifyParsedFor(absl::string_view aor_user,
                                                    absl::string_view aor_domain,
                                                    const DigestCredentials& credentials,
                                                    absl::string_view method,
                                                    absl::string_view request_uri,
                                                    absl::Time now);

  const std::string& realm() const { return options_.realm; }
  const std::string& opaque() const { return opaque_; }

 private:
  DigestAuthenticator(DigestAuthOptions options, const CredentialSource& users,
                      HmacSha256 nonce_key, uint64_t salt_seed);

  std::string MakeNonce(absl::Time now);
  // Issue time of a nonce this server made; Unauthenticated otherwise.
  absl::StatusOr<int64_t> NonceIssuedAt(absl::string_view nonce) const;
  std::string NonceMac(absl::string_view stamp_and_salt) const;
  // Accepts nc for the nonce if it is higher than any seen, recording it.
  // `nonce` must be one NonceIssuedAt accepted: it is tracked by its
  // number (its salt minus this process's salt seed), not its text.
  absl::Status ConsumeNonceCount(absl::string_view nonce, uint32_t nc);

  const DigestAuthOptions options_;
  const CredentialSource& users_;
  const HmacSha256 nonce_key_;  // keyed with options_.secret
  const std::string opaque_;

  // No lock: the authenticator has one owner, the control plane's event
  // loop thread, like everything else in rtplatch-control.
  const uint64_t salt_seed_;  // nonce number n has salt salt_seed_ + n
  NonceCountWindow nonce_counts_;
};

}  // namespace rtplatch
