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
#pragma once

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/registrar/digest_auth.h"

namespace rtplatch {

class UsersFile : public CredentialSource {
 public:
  // Reads and parses `path`; errors name the path.
  static absl::StatusOr<std::unique_ptr<UsersFile>> Load(const std::string& path);
  // Parses `contents`; `source_name` (e.g. the path) prefixes error messages.
  static absl::StatusOr<std::unique_ptr<UsersFile>> Parse(
      absl::string_view contents, absl::string_view source_name);

  const UserCredential* Find(absl::string_view user,
                             absl::string_view domain) const override;
  size_t size() const { return users_.size(); }

 private:
  UsersFile() = default;

  // Key: user "@" lowercase domain.
  absl::flat_hash_map<std::string, UserCredential> users_;
};

}  // namespace rtplatch
