// The registrar's users file: who may register and call, and with what
// secret. docs/users-file.md is the operator's copy of this description.
//
// Format: UTF-8 text, one user per line.
//
//   # comment lines start with '#' (after optional whitespace)
//   alice@example.com:correct horse battery staple
//   bob@example.com:md5:<32 hex digits>       HA1 = MD5(user:domain:password)
//   carol@example.com:sha256:<64 hex digits>  HA1 = SHA-256(user:domain:password)
//   dave@example.com:plain:md5:not-a-hash     plaintext that starts with md5:,
//                                             sha256: or plain:
//
// - The part before '@' is the SIP user (case-sensitive, no whitespace);
//   the domain (matched case-insensitively, may be an [IPv6] literal) is
//   also the digest realm, so HA1s must be computed with realm = the
//   domain in lowercase (the authenticator lowercases its realm).
// - After the first ':' following the domain comes the secret: `md5:HEX`
//   or `sha256:HEX` is a stored HA1 (preferred: the file then holds no
//   password), `plain:TEXT` is the password TEXT, anything else is the
//   password as written (it may contain ':' and '#').
// - Leading and trailing whitespace (including a CR from CRLF files) is
//   ignored; blank lines are ignored. '#' starts a comment only at the start
//   of a line, since passwords may contain it.
// - A user@domain may appear once; a second line is an error (case of the
//   domain does not make a different user).
// - Every error names the file, the line number and the problem; the file
//   is loaded whole or not at all.
//
// An HA1-only user can answer only that algorithm: challenge such users
// with the algorithms UserCredential::Supports() lists.
//
// Held compactly (issue 17: a million accounts on one node): every user's
// "user@domain" and secret (an HA1 as its 16 or 32 bytes, not hex) in one
// arena, a 12-byte record each, and a hash set of record numbers; about
// 80 bytes a user instead of the ~1 KB separate strings cost. Find builds
// the UserCredential it returns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/registrar/digest_auth.h"
#include "control/registrar/id_key_set.h"

namespace rtplatch {

class UsersFile : public CredentialSource {
 public:
  // Reads and parses `path`; errors name the path.
  static absl::StatusOr<std::unique_ptr<UsersFile>> Load(const std::string& path);
  // Parses `contents`; `source_name` (e.g. the path) prefixes error messages.
  static absl::StatusOr<std::unique_ptr<UsersFile>> Parse(
      absl::string_view contents, absl::string_view source_name);

  std::optional<UserCredential> Find(absl::string_view user,
                                     absl::string_view domain) const override;
  size_t size() const { return records_.size(); }

  // Its index refers to the file itself: a copy or a move would leave it
  // looking into the old one (reloadable_users.h swaps whole files).
  UsersFile(const UsersFile&) = delete;
  UsersFile& operator=(const UsersFile&) = delete;

 private:
  enum class SecretKind : uint8_t { kPassword, kHa1Md5, kHa1Sha256 };
  // A line's fields, views into it; `secret` is the HA1's hex digits or
  // the password.
  struct Line {
    absl::string_view user;
    absl::string_view domain;  // as written: Add lowercases it
    absl::string_view secret;
    SecretKind kind = SecretKind::kPassword;
  };
  struct Record {
    uint32_t offset = 0;  // into arena_: user "@" domain, then the secret
    uint16_t user_len = 0;
    uint16_t domain_len = 0;
    uint16_t secret_len = 0;
    SecretKind kind = SecretKind::kPassword;
  };
  UsersFile() = default;
  // The record's "user@domain" in the arena.
  absl::string_view KeyOf(uint32_t record) const;
  static absl::StatusOr<Line> ParseLine(absl::string_view line);
  // Adds the line's user; false if the user is there already (`*first`
  // is then that user's record).
  bool Add(const Line& line, uint32_t* first);

  std::string arena_;
  std::vector<Record> records_;
  // Record numbers by their "user@domain".
  IdKeySet<UsersFile, &UsersFile::KeyOf> index_{0, {this}, {this}};
};

}  // namespace rtplatch
