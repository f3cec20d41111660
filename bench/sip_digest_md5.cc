#include "bench/sip_digest_md5.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "control/registrar/digest_auth.h"

namespace rtplatch::bench {
namespace {

// Splits `name=value, name="quoted, value"` into pairs; names lower-cased,
// quotes removed.
std::vector<std::pair<std::string, std::string>> AuthParams(absl::string_view text) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || absl::ascii_isspace(text[i]))) ++i;
    const size_t eq = text.find('=', i);
    if (eq == absl::string_view::npos) break;
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(i, eq - i)));
    i = eq + 1;
    while (i < text.size() && absl::ascii_isspace(text[i])) ++i;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      const size_t close = text.find('"', i + 1);
      if (close == absl::string_view::npos) break;
      value = std::string(text.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      const size_t comma = std::min(text.find(',', i), text.size());
      value = std::string(absl::StripAsciiWhitespace(text.substr(i, comma - i)));
      i = comma;
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

std::optional<DigestChallenge> ParseChallenge(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  if (!absl::StartsWithIgnoreCase(value, "Digest ")) return std::nullopt;
  DigestChallenge challenge;
  bool md5 = true;
  for (const auto& [name, param] : AuthParams(value.substr(7))) {
    if (name == "realm") challenge.realm = param;
    if (name == "nonce") challenge.nonce = param;
    if (name == "opaque") challenge.opaque = param;
    if (name == "algorithm") md5 = absl::EqualsIgnoreCase(param, "MD5");
    if (name == "qop") {
      for (absl::string_view option : absl::StrSplit(param, ',')) {
        if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(option), "auth")) {
          challenge.qop_auth = true;
        }
      }
    }
  }
  if (!md5 || challenge.nonce.empty()) return std::nullopt;
  return challenge;
}

}  // namespace

std::optional<DigestChallenge> FindMd5Challenge(const std::vector<absl::string_view>& values) {
  for (absl::string_view value : values) {
    if (std::optional<DigestChallenge> challenge = ParseChallenge(value)) return challenge;
  }
  return std::nullopt;
}

std::string AnswerMd5(const DigestChallenge& challenge, const DigestCredentials& credentials,
                      absl::string_view method, absl::string_view uri, absl::string_view cnonce,
                      uint32_t nonce_count) {
  // The server's own digest arithmetic (control/registrar/digest_auth):
  // the answer is checked by Kamailio as well in the same run.
  const std::string ha1 =
      ComputeHa1(DigestAlgorithm::kMd5, credentials.user, challenge.realm, credentials.password);
  char nc[9];
  std::snprintf(nc, sizeof nc, "%08x", nonce_count);
  const std::string response =
      ComputeDigestResponse(DigestAlgorithm::kMd5, ha1, challenge.nonce, nc, cnonce,
                            challenge.qop_auth ? "auth" : "", method, uri);
  std::string answer = absl::StrCat("Digest username=\"", credentials.user, "\", realm=\"",
                                    challenge.realm, "\", nonce=\"", challenge.nonce,
                                    "\", uri=\"", uri, "\", response=\"", response,
                                    "\", algorithm=MD5");
  if (challenge.qop_auth) absl::StrAppend(&answer, ", qop=auth, nc=", nc, ", cnonce=\"", cnonce, "\"");
  if (!challenge.opaque.empty()) absl::StrAppend(&answer, ", opaque=\"", challenge.opaque, "\"");
  return answer;
}

}  // namespace rtplatch::bench
