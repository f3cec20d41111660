#include "control/registrar/users_file.h"

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
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

absl::Status CheckHa1(absl::string_view hex, size_t digits, absl::string_view algorithm) {
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
  return absl::OkStatus();
}

}  // namespace

// One non-blank, non-comment line, as views into it: nothing is copied
// until Add writes it into the arena (a million-user file is parsed at
// restart, before anything is served). Errors without the line prefix;
// the caller adds it.
absl::StatusOr<UsersFile::Line> UsersFile::ParseLine(absl::string_view line) {
  size_t at = line.find('@');
  if (at == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "expected user@domain:secret, found no '@'");
  }
  Line parsed;
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
  parsed.user = user;
  parsed.domain = domain;

  absl::string_view secret = rest.substr(domain_end + 1);
  if (ConsumePrefixIgnoreCase(secret, "md5:")) {
    if (absl::Status s = CheckHa1(secret, 32, "md5"); !s.ok()) return s;
    parsed.kind = SecretKind::kHa1Md5;
  } else if (ConsumePrefixIgnoreCase(secret, "sha256:")) {
    if (absl::Status s = CheckHa1(secret, 64, "sha256"); !s.ok()) return s;
    parsed.kind = SecretKind::kHa1Sha256;
  } else {
    ConsumePrefixIgnoreCase(secret, "plain:");
    if (secret.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "empty password for ", user, "@", absl::AsciiStrToLower(domain)));
    }
    parsed.kind = SecretKind::kPassword;
  }
  parsed.secret = secret;
  // The compact table keeps each length in 16 bits.
  if (user.size() > UINT16_MAX || domain.size() > UINT16_MAX || secret.size() > UINT16_MAX) {
    return absl::InvalidArgumentError("user, domain or password longer than 65535 bytes");
  }
  return parsed;
}

absl::string_view UsersFile::KeyOf(uint32_t record) const {
  const Record& r = records_[record];
  return absl::string_view(arena_).substr(r.offset, r.user_len + 1u + r.domain_len);
}

absl::StatusOr<std::unique_ptr<UsersFile>> UsersFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("users file ", path,
                                            ": cannot open: ", std::strerror(errno)));
  }
  // A regular file is read straight into one string of its size: a
  // stream buffer and its copy would double a million-user file's peak.
  // A pipe (no size) is read in chunks.
  std::string contents;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.fail() ? -1 : static_cast<std::streamoff>(in.tellg());
  in.clear();
  in.seekg(0, std::ios::beg);
  in.clear();
  if (size > 0) {
    contents.resize(static_cast<size_t>(size));
    in.read(contents.data(), size);
    if (in.gcount() != size) {
      return absl::DataLossError(absl::StrCat("users file ", path, ": read failed"));
    }
  } else {
    char chunk[65536];
    while (in.read(chunk, sizeof(chunk)) || in.gcount() > 0) contents.append(chunk, in.gcount());
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("users file ", path, ": read failed"));
  return Parse(contents, path);
}

bool UsersFile::Add(const Line& line, uint32_t* first) {
  Record r;
  r.offset = static_cast<uint32_t>(arena_.size());
  r.user_len = static_cast<uint16_t>(line.user.size());
  r.domain_len = static_cast<uint16_t>(line.domain.size());
  r.kind = line.kind;
  // Written into the arena as it is kept: the domain lowercased, an HA1
  // as its bytes (CheckHa1 let only hex digits through).
  arena_.append(line.user.data(), line.user.size());
  arena_ += '@';
  for (char c : line.domain) arena_ += absl::ascii_tolower(static_cast<unsigned char>(c));
  if (line.kind == SecretKind::kPassword) {
    arena_.append(line.secret.data(), line.secret.size());
    r.secret_len = static_cast<uint16_t>(line.secret.size());
  } else {
    auto nibble = [](char c) {
      return absl::ascii_isdigit(static_cast<unsigned char>(c))
                 ? c - '0'
                 : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    };
    for (size_t i = 0; i + 1 < line.secret.size(); i += 2) {
      arena_ += static_cast<char>(nibble(line.secret[i]) << 4 | nibble(line.secret[i + 1]));
    }
    r.secret_len = static_cast<uint16_t>(line.secret.size() / 2);
  }
  records_.push_back(r);
  const auto [it, added] = index_.insert(static_cast<uint32_t>(records_.size() - 1));
  if (!added) {
    *first = *it;
    records_.pop_back();
    arena_.resize(r.offset);
  }
  return added;
}

absl::StatusOr<std::unique_ptr<UsersFile>> UsersFile::Parse(
    absl::string_view contents, absl::string_view source_name) {
  std::unique_ptr<UsersFile> file(new UsersFile());
  // Sized once for a line a user: growing the index rehashes every key
  // (a cache miss each), and the arena is never larger than the file.
  const size_t lines = static_cast<size_t>(std::count(contents.begin(), contents.end(), '\n')) + 1;
  file->records_.reserve(lines);
  file->index_.reserve(lines);
  file->arena_.reserve(contents.size());
  std::vector<int> line_of;  // record -> its line, for duplicate errors
  line_of.reserve(lines);
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    absl::StatusOr<Line> parsed = ParseLine(line);
    if (parsed.ok() && file->arena_.size() + line.size() + 1 > UINT32_MAX) {
      parsed = absl::ResourceExhaustedError("the file holds more than 4 GiB of users");
    }
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "users file ", source_name, " line ", line_number, ": ",
          parsed.status().message()));
    }
    uint32_t first = 0;
    if (!file->Add(*parsed, &first)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "users file ", source_name, " line ", line_number, ": duplicate user ",
          parsed->user, "@", absl::AsciiStrToLower(parsed->domain), " (first defined on line ",
          line_of[first], ")"));
    }
    line_of.push_back(line_number);
  }
  file->arena_.shrink_to_fit();
  file->records_.shrink_to_fit();
  return file;
}

std::optional<UserCredential> UsersFile::Find(absl::string_view user,
                                              absl::string_view domain) const {
  // "user@domain" with the domain lowercased, built on the stack: this
  // runs for every challenge and every digest checked.
  char key[512];
  const size_t n = user.size() + 1 + domain.size();
  std::string long_key;
  absl::string_view lookup;
  if (n > sizeof(key)) {
    long_key = absl::StrCat(user, "@", absl::AsciiStrToLower(domain));
    lookup = long_key;
  } else {
    std::memcpy(key, user.data(), user.size());
    key[user.size()] = '@';
    for (size_t i = 0; i < domain.size(); ++i) {
      key[user.size() + 1 + i] = absl::ascii_tolower(static_cast<unsigned char>(domain[i]));
    }
    lookup = absl::string_view(key, n);
  }
  const auto it = index_.find(lookup);
  if (it == index_.end()) return std::nullopt;
  const Record& r = records_[*it];
  const absl::string_view text(arena_.data() + r.offset,
                               r.user_len + 1u + r.domain_len + r.secret_len);
  UserCredential cred;
  cred.user = std::string(text.substr(0, r.user_len));
  cred.domain = std::string(text.substr(r.user_len + 1u, r.domain_len));
  const absl::string_view secret = text.substr(r.user_len + 1u + r.domain_len);
  switch (r.kind) {
    case SecretKind::kPassword: cred.password = std::string(secret); break;
    case SecretKind::kHa1Md5: cred.ha1_md5 = absl::BytesToHexString(secret); break;
    case SecretKind::kHa1Sha256: cred.ha1_sha256 = absl::BytesToHexString(secret); break;
  }
  return cred;
}

}  // namespace rtplatch
