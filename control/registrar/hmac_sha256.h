// HMAC-SHA-256 under one key, keyed once. The registrar signs a digest
// nonce for every challenge and checks one on every authenticated request;
// a one-shot HMAC() call fetches the algorithm and derives the key pads
// each time, which cost several times the MAC itself (issue 5's REGISTER
// profile). Here the context is keyed once and re-initialised with the
// same key per MAC (no allocation). Not thread-safe (Mac() reuses the one
// context): its owner is the control plane's single event-loop thread.
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
  // closed).
  std::string Mac(absl::string_view data) const;

 private:
  struct Keyed;  // the context and its lock
  struct KeyedFree {
    void operator()(Keyed* k) const;
  };
  explicit HmacSha256(std::unique_ptr<Keyed, KeyedFree> keyed) : keyed_(std::move(keyed)) {}

  std::unique_ptr<Keyed, KeyedFree> keyed_;
};

}  // namespace rtplatch
