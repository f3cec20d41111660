#include "control/registrar/digest_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <osipparser2/osip_md5.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rtplatch {
namespace {

// Longer Authorization values are refused before parsing; real ones are a
// few hundred bytes.
constexpr size_t kMaxHeaderBytes = 8192;
// Echoed input is cut to this many bytes so a hostile header cannot flood
// the log through an error message.
constexpr size_t kMaxEchoBytes = 64;
// HMAC bytes kept in a nonce (128 bits: unforgeable, and short on the wire).
constexpr size_t kNonceMacBytes = 16;
constexpr size_t kStampHexDigits = 16;  // issued-at, unix seconds
constexpr size_t kSaltHexDigits = 16;   // makes nonces of one second differ
// The nonce-count ring's first size (8 KB); it grows with the load.
constexpr size_t kInitialTrackedNonces = 4096;
constexpr size_t kNonceHexDigits =
    kStampHexDigits + kSaltHexDigits + 2 * kNonceMacBytes;
// A nonce from the future (clock stepped back) is still ours; accept one
// this far ahead, and answer stale beyond it.
constexpr int64_t kClockSkewSeconds = 60;
constexpr size_t kMinSecretBytes = 16;
constexpr size_t kGeneratedSecretBytes = 32;

std::string Echo(absl::string_view text) {
  if (text.size() <= kMaxEchoBytes) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, kMaxEchoBytes), "'...");
}

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// An HA1 no password hashes to in practice (hex of the algorithm's length),
// for the digest an unknown user's attempt costs.
std::string DecoyHa1(DigestAlgorithm algorithm) {
  return std::string(algorithm == DigestAlgorithm::kSha256 ? 64 : 32, '0');
}

// ---- Authorization header tokenizer (RFC 7235 §2.1 auth-param list) ----

bool IsLws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 7230 tchar, as a table: every Authorization byte goes through it.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : absl::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool IsTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

class ParamReader {
 public:
  explicit ParamReader(absl::string_view text) : text_(text) {}

  void SkipLws() {
    while (pos_ < text_.size() && IsLws(text_[pos_])) ++pos_;
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }
  void Advance() { ++pos_; }
  size_t pos() const { return pos_; }

  absl::string_view Token() {
    size_t start = pos_;
    while (pos_ < text_.size() && IsTokenChar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // After the opening quote: up to the closing one, undoing \-escapes.
  absl::StatusOr<std::string> QuotedRest(absl::string_view name) {
    std::string out;
    out.reserve(text_.size() - pos_ < 128 ? text_.size() - pos_ : 128);
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        c = text_[pos_++];
      }
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "authorization: parameter '%s': control character 0x%02x in "
            "quoted value",
            name, static_cast<unsigned char>(c)));
      }
      out.push_back(c);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "authorization: parameter '", name, "': unterminated quoted string"));
  }

  // An unquoted value: everything up to a comma or whitespace. Looser than
  // a token so that a phone writing nc or qop without quotes but with odd
  // characters is judged on the value, not the syntax.
  absl::string_view Bare() {
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && !IsLws(text_[pos_]) &&
           text_[pos_] != '"') {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

// The credential's parameters in order. A handful per header: a vector
// searched linearly beats a hash map that allocates and rehashes as it
// grows, once per REGISTER.
class ParamMap {
 public:
  using Entry = std::pair<std::string, std::string>;
  using const_iterator = std::vector<Entry>::const_iterator;
  ParamMap() { entries_.reserve(12); }
  const_iterator find(absl::string_view name) const {
    return std::find_if(entries_.begin(), entries_.end(),
                        [name](const Entry& e) { return e.first == name; });
  }
  const_iterator end() const { return entries_.end(); }
  // The caller has checked that `name` is not there yet.
  void add(std::string name, std::string value) {
    entries_.emplace_back(std::move(name), std::move(value));
  }

 private:
  std::vector<Entry> entries_;
};

absl::StatusOr<ParamMap> ReadParams(ParamReader& in) {
  ParamMap params;
  while (true) {
    // Empty list elements ("a=1, , b=2") are allowed by RFC 7230 §7.
    while (!in.AtEnd() && (IsLws(in.Peek()) || in.Peek() == ',')) in.Advance();
    if (in.AtEnd()) break;
    absl::string_view raw_name = in.Token();
    if (raw_name.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "authorization: expected a parameter name at offset %d, got '%c'",
          in.pos(), in.Peek()));
    }
    std::string name = absl::AsciiStrToLower(raw_name);
    in.SkipLws();
    if (in.AtEnd() || in.Peek() != '=') {
      return absl::InvalidArgumentError(absl::StrCat(
          "authorization: parameter '", name, "' has no '=value'"));
    }
    in.Advance();
    in.SkipLws();
    std::string value;
    if (!in.AtEnd() && in.Peek() == '"') {
      in.Advance();
      absl::StatusOr<std::string> quoted = in.QuotedRest(name);
      if (!quoted.ok()) return quoted.status();
      value = *std::move(quoted);
    } else {
      absl::string_view bare = in.Bare();
      if (bare.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "authorization: parameter '", name, "' has an empty value"));
      }
      value = std::string(bare);
    }
    in.SkipLws();
    if (!in.AtEnd() && in.Peek() != ',') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "authorization: unexpected '%c' after the value of '%s'", in.Peek(),
          name));
    }
    if (params.find(name) != params.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("authorization: duplicate parameter '", name, "'"));
    }
    params.add(std::move(name), std::move(value));
  }
  return params;
}

absl::StatusOr<std::string> Required(const ParamMap& params,
                                     absl::string_view name) {
  auto it = params.find(name);
  if (it == params.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("authorization: missing parameter '", name, "'"));
  }
  if (it->second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("authorization: parameter '", name, "' is empty"));
  }
  return it->second;
}

}  // namespace

absl::string_view DigestAlgorithmName(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::kMd5:
      return "MD5";
    case DigestAlgorithm::kSha256:
      return "SHA-256";
  }
  return "?";
}

absl::StatusOr<DigestAlgorithm> ParseDigestAlgorithm(absl::string_view name) {
  if (absl::EqualsIgnoreCase(name, "MD5")) return DigestAlgorithm::kMd5;
  if (absl::EqualsIgnoreCase(name, "SHA-256")) return DigestAlgorithm::kSha256;
  if (absl::EndsWithIgnoreCase(name, "-sess")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "algorithm ", Echo(name), ": session variants are not supported"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "algorithm ", Echo(name), ": not supported (MD5 or SHA-256)"));
}

std::string DigestHash(DigestAlgorithm algorithm, absl::string_view data) {
  if (algorithm == DigestAlgorithm::kMd5) {
    osip_MD5_CTX ctx;
    unsigned char out[16];
    osip_MD5Init(&ctx);
    // oSIP2's signature is not const-correct; it only reads the input.
    osip_MD5Update(&ctx,
                   reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                   static_cast<unsigned int>(data.size()));
    osip_MD5Final(out, &ctx);
    return absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(out), sizeof(out)));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(out), len));
}

std::string ComputeHa1(DigestAlgorithm algorithm, absl::string_view user,
                       absl::string_view realm, absl::string_view password) {
  return DigestHash(algorithm, absl::StrCat(user, ":", realm, ":", password));
}

std::string ComputeDigestResponse(DigestAlgorithm algorithm,
                                  absl::string_view ha1,
                                  absl::string_view nonce,
                                  absl::string_view nc,
                                  absl::string_view cnonce,
                                  absl::string_view qop,
                                  absl::string_view method,
                                  absl::string_view uri) {
  std::string ha2 = DigestHash(algorithm, absl::StrCat(method, ":", uri));
  if (qop.empty()) {  // RFC 2069 form, for completeness; VerifyFor needs qop
    return DigestHash(algorithm, absl::StrCat(ha1, ":", nonce, ":", ha2));
  }
  return DigestHash(algorithm, absl::StrCat(ha1, ":", nonce, ":", nc, ":",
                                            cnonce, ":", qop, ":", ha2));
}

std::optional<std::string> UserCredential::Ha1(DigestAlgorithm algorithm) const {
  const std::optional<std::string>& stored =
      algorithm == DigestAlgorithm::kMd5 ? ha1_md5 : ha1_sha256;
  if (stored.has_value()) return absl::AsciiStrToLower(*stored);
  if (password.has_value()) return ComputeHa1(algorithm, user, domain, *password);
  return std::nullopt;
}

namespace {

// "Digest" and the parameters after it.
absl::StatusOr<ParamMap> ReadDigestParams(absl::string_view header_value) {
  if (header_value.size() > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("authorization: ", header_value.size(),
                     " bytes is longer than the limit of ", kMaxHeaderBytes));
  }
  ParamReader in(header_value);
  in.SkipLws();
  absl::string_view scheme = in.Token();
  if (scheme.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("authorization: no auth scheme in ", Echo(header_value)));
  }
  if (!absl::EqualsIgnoreCase(scheme, "Digest")) {
    return absl::InvalidArgumentError(
        absl::StrCat("authorization: scheme ", Echo(scheme), " is not Digest"));
  }
  if (in.AtEnd() || !IsLws(in.Peek())) {
    return absl::InvalidArgumentError(
        "authorization: expected whitespace and parameters after 'Digest'");
  }
  absl::StatusOr<ParamMap> params = ReadParams(in);
  if (!params.ok()) return params.status();
  for (absl::string_view unsupported : {"username*", "userhash"}) {
    auto it = params->find(unsupported);
    if (it != params->end() &&
        !(unsupported == "userhash" && absl::EqualsIgnoreCase(it->second, "false"))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "authorization: parameter '", unsupported, "' is not supported"));
    }
  }
  return params;
}

// qop=auth with its cnonce and nc (8 hex digits above zero).
absl::Status ReadQop(const ParamMap& params, DigestCredentials& c) {
  auto qop = params.find("qop");
  if (qop == params.end()) {
    return absl::InvalidArgumentError(
        "authorization: missing parameter 'qop' (only qop=auth is accepted)");
  }
  if (!absl::EqualsIgnoreCase(qop->second, "auth")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "authorization: qop ", Echo(qop->second), " is not supported (auth)"));
  }
  c.qop = "auth";
  absl::StatusOr<std::string> cnonce = Required(params, "cnonce");
  if (!cnonce.ok()) return cnonce.status();
  c.cnonce = *std::move(cnonce);
  absl::StatusOr<std::string> nc = Required(params, "nc");
  if (!nc.ok()) return nc.status();
  if (nc->size() != 8 ||
      !std::all_of(nc->begin(), nc->end(), [](char ch) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(ch));
      }) ||
      !absl::SimpleHexAtoi(*nc, &c.nc_value) || c.nc_value == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "authorization: nc ", Echo(*nc), " is not 8 hex digits above zero"));
  }
  c.nc = *std::move(nc);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DigestCredentials> ParseDigestCredentials(
    absl::string_view header_value) {
  absl::StatusOr<ParamMap> params = ReadDigestParams(header_value);
  if (!params.ok()) return params.status();

  DigestCredentials c;
  const std::pair<absl::string_view, std::string*> required[] = {
      {"username", &c.username}, {"realm", &c.realm}, {"nonce", &c.nonce},
      {"uri", &c.uri},           {"response", &c.response}};
  for (auto [name, field] : required) {
    absl::StatusOr<std::string> value = Required(*params, name);
    if (!value.ok()) return value.status();
    *field = *std::move(value);
  }
  if (auto it = params->find("algorithm"); it != params->end()) {
    absl::StatusOr<DigestAlgorithm> algorithm = ParseDigestAlgorithm(it->second);
    if (!algorithm.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("authorization: ", algorithm.status().message()));
    }
    c.algorithm = *algorithm;
  }
  if (auto it = params->find("opaque"); it != params->end()) c.opaque = it->second;
  if (absl::Status s = ReadQop(*params, c); !s.ok()) return s;

  const size_t want_hex = c.algorithm == DigestAlgorithm::kMd5 ? 32 : 64;
  c.response = absl::AsciiStrToLower(c.response);
  if (c.response.size() != want_hex || !IsLowerHex(c.response)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "authorization: response ", Echo(c.response), " is not ", want_hex,
        " hex digits (", DigestAlgorithmName(c.algorithm), ")"));
  }
  return c;
}

absl::StatusOr<std::string> GenerateNonceSecret() {
  std::string secret(kGeneratedSecretBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                 static_cast<int>(secret.size())) != 1) {
    return absl::UnavailableError("digest auth: RAND_bytes failed for the nonce secret");
  }
  return secret;
}

absl::StatusOr<std::unique_ptr<DigestAuthenticator>> DigestAuthenticator::Create(
    DigestAuthOptions options, const CredentialSource& users) {
  // Lowercase, like the domains users are filed under: the realm enters
  // every HA1, so it must be spelt one way.
  absl::AsciiStrToLower(&options.realm);
  if (options.realm.empty()) {
    return absl::InvalidArgumentError("digest auth: realm is empty");
  }
  for (char c : options.realm) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "digest auth: realm ", Echo(options.realm),
          " contains a quote, backslash or control character"));
    }
  }
  if (options.secret.size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "digest auth: secret is ", options.secret.size(),
        " bytes; at least ", kMinSecretBytes, " are needed"));
  }
  if (options.nonce_lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest auth: nonce lifetime ",
                     absl::FormatDuration(options.nonce_lifetime),
                     " is not positive"));
  }
  if (options.max_tracked_nonces == 0) {
    return absl::InvalidArgumentError(
        "digest auth: max_tracked_nonces must be at least 1");
  }
  uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof(seed)) != 1) {
    return absl::UnavailableError("digest auth: RAND_bytes failed for the nonce salt");
  }
  absl::StatusOr<HmacSha256> nonce_key = HmacSha256::Create(options.secret);
  if (!nonce_key.ok()) return nonce_key.status();
  return std::unique_ptr<DigestAuthenticator>(
      new DigestAuthenticator(std::move(options), users, *std::move(nonce_key), seed));
}

DigestAuthenticator::DigestAuthenticator(DigestAuthOptions options,
                                         const CredentialSource& users,
                                         HmacSha256 nonce_key, uint64_t salt_seed)
    : options_(std::move(options)),
      users_(users),
      nonce_key_(std::move(nonce_key)),
      opaque_(absl::BytesToHexString(
          nonce_key_.Mac(absl::StrCat("rtplatch opaque v1\n", options_.realm)).substr(0, 16))),
      salt_seed_(salt_seed),
      nonce_counts_(absl::ToInt64Seconds(options_.nonce_lifetime), kInitialTrackedNonces,
                    options_.max_tracked_nonces) {}

std::string DigestAuthenticator::NonceMac(absl::string_view stamp_and_salt) const {
  std::string mac = nonce_key_.Mac(
      absl::StrCat("rtplatch nonce v1\n", options_.realm, "\n", stamp_and_salt));
  if (mac.size() < kNonceMacBytes) return "";  // fails closed
  return absl::BytesToHexString(absl::string_view(mac).substr(0, kNonceMacBytes));
}

std::string DigestAuthenticator::MakeNonce(absl::Time now) {
  const uint64_t salt = salt_seed_ + nonce_counts_.Issue(absl::ToUnixSeconds(now));
  std::string stamp_and_salt = absl::StrFormat(
      "%016x%016x", static_cast<uint64_t>(absl::ToUnixSeconds(now)), salt);
  return absl::StrCat(stamp_and_salt, NonceMac(stamp_and_salt));
}

absl::StatusOr<int64_t> DigestAuthenticator::NonceIssuedAt(
    absl::string_view nonce) const {
  const size_t signed_len = kStampHexDigits + kSaltHexDigits;
  std::string expected_mac;
  if (nonce.size() == kNonceHexDigits && IsLowerHex(nonce)) {
    expected_mac = NonceMac(nonce.substr(0, signed_len));
  }
  if (expected_mac.empty() ||
      !ConstantTimeEquals(nonce.substr(signed_len), expected_mac)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "digest auth: nonce ", Echo(nonce), " was not issued by this server"));
  }
  uint64_t stamp = 0;
  if (!absl::SimpleHexAtoi(nonce.substr(0, kStampHexDigits), &stamp) ||
      stamp > static_cast<uint64_t>(INT64_MAX)) {
    return absl::UnauthenticatedError(
        absl::StrCat("digest auth: nonce ", Echo(nonce), " has a bad timestamp"));
  }
  return static_cast<int64_t>(stamp);
}

std::string DigestAuthenticator::Challenge(DigestAlgorithm algorithm,
                                           absl::Time now, bool stale) {
  return Challenges(now, stale, {algorithm}).front();
}

std::vector<std::string> DigestAuthenticator::Challenges(
    absl::Time now, bool stale, const std::vector<DigestAlgorithm>& algorithms) {
  const std::string nonce = MakeNonce(now);
  std::vector<std::string> out;
  for (DigestAlgorithm algorithm : algorithms) {
    out.push_back(absl::StrCat(
        "Digest realm=\"", options_.realm, "\", nonce=\"", nonce,
        "\", opaque=\"", opaque_, "\", algorithm=",
        DigestAlgorithmName(algorithm), ", qop=\"auth\"",
        stale ? ", stale=true" : ""));
  }
  return out;
}

absl::Status DigestAuthenticator::ConsumeNonceCount(absl::string_view nonce, uint32_t nc) {
  uint64_t salt = 0;
  if (!absl::SimpleHexAtoi(nonce.substr(kStampHexDigits, kSaltHexDigits), &salt)) {
    return absl::UnauthenticatedError("digest auth: nonce has a bad salt");
  }
  switch (nonce_counts_.Consume(salt - salt_seed_, nc)) {
    case NonceCountWindow::Verdict::kAccepted:
      return absl::OkStatus();
    case NonceCountWindow::Verdict::kReplayed:
      return absl::UnauthenticatedError(
          absl::StrFormat("digest auth: nonce-count %08x replayed", nc));
    case NonceCountWindow::Verdict::kForgotten:
      break;
  }
  return absl::DeadlineExceededError(
      "digest auth: nonce is not tracked (issued before a restart, worn out, or forgotten "
      "beyond max_tracked_nonces); a fresh nonce is needed");
}

absl::StatusOr<AuthenticatedUser> DigestAuthenticator::VerifyFor(
    absl::string_view aor_user, absl::string_view aor_domain,
    absl::string_view header_value, absl::string_view method,
    absl::string_view request_uri, absl::Time now) {
  absl::StatusOr<DigestCredentials> parsed = ParseDigestCredentials(header_value);
  if (!parsed.ok()) return parsed.status();
  return VerifyParsedFor(aor_user, aor_domain, *parsed, method, request_uri, now);
}

absl::StatusOr<AuthenticatedUser> DigestAuthenticator::VerifyParsedFor(
    absl::string_view aor_user, absl::string_view aor_domain, const DigestCredentials& c,
    absl::string_view method, absl::string_view request_uri, absl::Time now) {
  if (c.realm != options_.realm) {
    return absl::UnauthenticatedError(absl::StrCat(
        "digest auth: realm ", Echo(c.realm), " is not ours ('", options_.realm, "')"));
  }
  if (!c.opaque.has_value() || !ConstantTimeEquals(*c.opaque, opaque_)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "digest auth: opaque ", c.opaque.has_value() ? Echo(*c.opaque) : "(missing)",
        " is not the one this server sent"));
  }
  if (!request_uri.empty() && c.uri != request_uri) {
    return absl::UnauthenticatedError(
        absl::StrCat("digest auth: uri ", Echo(c.uri),
                     " is not the Request-URI ", Echo(request_uri)));
  }
  absl::StatusOr<int64_t> issued_at = NonceIssuedAt(c.nonce);
  if (!issued_at.ok()) return issued_at.status();

  // An unknown user, or one without a secret for this algorithm, costs the
  // same digest as a known one and gets the same answer: a guesser learns
  // nothing about which user names exist.
  const std::optional<UserCredential> user = users_.Find(c.username, c.realm);
  std::optional<std::string> ha1;
  if (user) ha1 = user->Ha1(c.algorithm);
  std::string expected = ComputeDigestResponse(c.algorithm, ha1.value_or(DecoyHa1(c.algorithm)),
                                               c.nonce, c.nc, c.cnonce, c.qop, method, c.uri);
  const bool matches = !expected.empty() && ConstantTimeEquals(c.response, expected);
  if (!ha1.has_value() || !matches) {
    return absl::UnauthenticatedError(absl::StrCat(
        "digest auth: wrong response for user ", Echo(c.username),
        " (password, realm, method or uri differ)"));
  }

  // Credentials are right; now: may this user act for this AOR?
  if (aor_user != user->user || !absl::EqualsIgnoreCase(aor_domain, user->domain)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "digest auth: authenticated as ", user->user, "@", user->domain,
        ", which may not act for ", Echo(absl::StrCat(aor_user, "@", aor_domain))));
  }

  const int64_t age = absl::ToUnixSeconds(now) - *issued_at;
  if (age > absl::ToInt64Seconds(options_.nonce_lifetime) ||
      age < -kClockSkewSeconds) {
    return absl::DeadlineExceededError(absl::StrCat(
        "digest auth: nonce issued ", age, " s ago has expired (lifetime ",
        absl::ToInt64Seconds(options_.nonce_lifetime), " s)"));
  }
  if (absl::Status s = ConsumeNonceCount(c.nonce, c.nc_value); !s.ok()) {
    return s;
  }
  return AuthenticatedUser{user->user, user->domain, c.algorithm};
}

}  // namespace rtplatch

namespace rtplatch {

absl::StatusOr<std::string> AnswerDigestChallenge(const SipChallenge& challenge,
                                                  absl::string_view user,
                                                  absl::string_view password,
                                                  absl::string_view method,
                                                  absl::string_view uri,
                                                  absl::string_view cnonce) {
  if (challenge.nonce.empty()) {
    return absl::InvalidArgumentError("digest challenge: no nonce");
  }
  DigestAlgorithm algorithm = DigestAlgorithm::kMd5;
  if (!challenge.algorithm.empty()) {
    absl::StatusOr<DigestAlgorithm> a = ParseDigestAlgorithm(challenge.algorithm);
    if (!a.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("digest challenge: algorithm '", challenge.algorithm, "' is not one we answer"));
    }
    algorithm = *a;
  }
  bool auth = false;
  for (absl::string_view q : absl::StrSplit(challenge.qop, ',')) {
    auth |= absl::StripAsciiWhitespace(q) == "auth";
  }
  const std::string ha1 = ComputeHa1(algorithm, user, challenge.realm, password);
  constexpr absl::string_view kNc = "00000001";
  const std::string response =
      auth ? ComputeDigestResponse(algorithm, ha1, challenge.nonce, kNc, cnonce, "auth", method, uri)
           : ComputeDigestResponse(algorithm, ha1, challenge.nonce, "", "", "", method, uri);
  std::string out = absl::StrCat("Digest username=\"", user, "\", realm=\"", challenge.realm,
                                 "\", nonce=\"", challenge.nonce, "\", uri=\"", uri,
                                 "\", response=\"", response, "\", algorithm=",
                                 DigestAlgorithmName(algorithm));
  if (challenge.opaque) absl::StrAppend(&out, ", opaque=\"", *challenge.opaque, "\"");
  if (auth) absl::StrAppend(&out, ", qop=auth, nc=", kNc, ", cnonce=\"", cnonce, "\"");
  return out;
}

}  // namespace rtplatch
