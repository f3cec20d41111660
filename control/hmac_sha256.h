// HMAC-SHA-256 under one key, keyed once. The registrar signs a digest
// nonce for every challenge and checks one on every authenticated request;
// a one-shot HMAC() call fetches the algorithm and derives the key pads
// each time, which cost several times the MAC itself (issue 5's REGISTER
// profile). Here the keyed state is made once and copied per MAC.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace rtplatch {

class HmacSha256 {
 public:
  static constexpr size_t kMacBytes = 32;

  static absl::StatusOr<HmacSha256> Create(absl::string_view key);

  // The 32-byte MAC of `data`; empty if libcrypto fails (callers fail
  // closed). Const and without shared mutable state: safe from any thread.
  std::string Mac(absl::string_view data) const;

 private:
  struct CtxFree {
    void operator()(EVP_MAC_CTX* ctx) const;
  };
  explicit HmacSha256(std::unique_ptr<EVP_MAC_CTX, CtxFree> keyed) : keyed_(std::move(keyed)) {}

  std::unique_ptr<EVP_MAC_CTX, CtxFree> keyed_;  // initialised with the key, never finalised
};

}  // namespace rtplatch
