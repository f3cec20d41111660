#include "control/registrar/users_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace rtplatch {
namespace {

bool HasSpaceOrControl(absl::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return true;
  }
  return false;
}

// Consumes `prefix` (ASCII case-insensitive) from the front of `s`.
bool ConsumePrefixIgnoreCase(absl::string_view& s, absl::string_view prefix) {
  if (!absl::StartsWithIgnoreCase(s, prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

absl::StatusOr<std::string> ParseHa1(absl::string_view hex, size_t digits,
                                     absl::string_view algorithm) {
  if (hex.size() != digits) {
    return absl::InvalidArgumentError(absl::StrCat(
        algorithm, " HA1 must be ", digits, " hex digits, got ", hex.size()));
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat(
          algorithm, " HA1 has a non-hex character '", absl::string_view(&c, 1),
          "'"));
    }
  }
  return absl::AsciiStrToLower(hex);
}

// One non-blank, non-comment line → a credential (errors without the line
// prefix; the caller adds it).
absl::StatusOr<UserCredential> ParseLine(absl::string_view line) {
  size_t at = line.find('@');
  if (at == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "expected user@domain:secret, found no '@'");
  }
  UserCredential cred;
  absl::string_view user = line.substr(0, at);
  if (user.empty()) return absl::InvalidArgumentError("empty user before '@'");
  if (HasSpaceOrControl(user) || absl::StrContains(user, ':')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "user '", user, "' contains whitespace, a control character or ':'"));
  }

  absl::string_view rest = line.substr(at + 1);
  size_t domain_end;
  if (absl::StartsWith(rest, "[")) {  // IPv6 literal: its colons are not ours
    size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("domain '[' has no closing ']'");
    }
    domain_end = close + 1;
  } else {
    domain_end = rest.find(':');
  }
  if (domain_end == absl::string_view::npos || domain_end >= rest.size() ||
      rest[domain_end] != ':') {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ':' and a secret after the domain of ", user, "@..."));
  }
  absl::string_view domain = rest.substr(0, domain_end);
  if (domain.empty()) return absl::InvalidArgumentError("empty domain after '@'");
  if (HasSpaceOrControl(domain) || absl::StrContains(domain, '@')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "domain '", domain, "' contains whitespace, a control character or '@'"));
  }
  cred.user = std::string(user);
  cred.domain = absl::AsciiStrToLower(domain);

  absl::string_view secret = rest.substr(domain_end + 1);
  if (ConsumePrefixIgnoreCase(secret, "md5:")) {
    absl::StatusOr<std::string> ha1 = ParseHa1(secret, 32, "md5");
    if (!ha1.ok()) return ha1.status();
    cred.ha1_md5 = *std::move(ha1);
  } else if (ConsumePrefixIgnoreCase(secret, "sha256:")) {
    absl::StatusOr<std::string> ha1 = ParseHa1(secret, 64, "sha256");
    if (!ha1.ok()) return ha1.status();
    cred.ha1_sha256 = *std::move(ha1);
  } else {
    ConsumePrefixIgnoreCase(secret, "plain:");
    if (secret.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "empty password for ", cred.user, "@", cred.domain));
    }
    cred.password = std::string(secret);
  }
  return cred;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UsersFile>> UsersFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("users file ", path,
                                            ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("users file ", path, ": read failed"));
  }
  return Parse(contents.str(), path);
}

absl::StatusOr<std::unique_ptr<UsersFile>> UsersFile::Parse(
    absl::string_view contents, absl::string_view source_name) {
  std::unique_ptr<UsersFile> file(new UsersFile());
  absl::flat_hash_map<std::string, int> first_line;  // key → line number
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    absl::StatusOr<UserCredential> cred = ParseLine(line);
    if (!cred.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "users file ", source_name, " line ", line_number, ": ",
          cred.status().message()));
    }
    std::string key = absl::StrCat(cred->user, "@", cred->domain);
    auto [it, inserted] = first_line.emplace(key, line_number);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "users file ", source_name, " line ", line_number, ": duplicate user ",
          key, " (first defined on line ", it->second, ")"));
    }
    file->users_.emplace(std::move(key), *std::move(cred));
  }
  return file;
}

const UserCredential* UsersFile::Find(absl::string_view user,
                                      absl::string_view domain) const {
  // "user@domain" with the domain lowercased, built on the stack: this
  // runs for every challenge and every digest checked.
  char key[512];
  const size_t n = user.size() + 1 + domain.size();
  if (n > sizeof(key)) {
    auto it = users_.find(absl::StrCat(user, "@", absl::AsciiStrToLower(domain)));
    return it == users_.end() ? nullptr : &it->second;
  }
  std::memcpy(key, user.data(), user.size());
  key[user.size()] = '@';
  for (size_t i = 0; i < domain.size(); ++i) {
    key[user.size() + 1 + i] = absl::ascii_tolower(static_cast<unsigned char>(domain[i]));
  }
  auto it = users_.find(absl::string_view(key, n));
  return it == users_.end() ? nullptr : &it->second;
}

}  // namespace rtplatch
