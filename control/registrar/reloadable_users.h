// The users the registrar and the proxy authenticate against, replaceable
// at runtime (a reload: docs/operations.md): they hold this, and a new
// UsersFile takes the old one's place whole between two requests. A
// UsersFile itself cannot move (its index refers to it).
//
// Not thread-safe: the event loop's.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "control/registrar/digest_auth.h"
#include "control/registrar/users_file.h"

namespace rtplatch {

class ReloadableUsers : public CredentialSource {
 public:
  explicit ReloadableUsers(std::unique_ptr<UsersFile> users) : users_(std::move(users)) {}

  std::optional<UserCredential> Find(absl::string_view user,
                                     absl::string_view domain) const override {
    return users_->Find(user, domain);
  }
  // The old file is freed here; no credential refers into it (Find
  // returns copies).
  void Replace(std::unique_ptr<UsersFile> users) { users_ = std::move(users); }
  size_t size() const { return users_->size(); }

 private:
  std::unique_ptr<UsersFile> users_;
};

}  // namespace rtplatch
