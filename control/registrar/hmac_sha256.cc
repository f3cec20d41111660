#include "control/registrar/hmac_sha256.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "absl/strings/str_cat.h"

namespace rtplatch {

struct HmacSha256::Keyed {
  EVP_MAC_CTX* ctx = nullptr;  // holds the key between MACs
};

void HmacSha256::KeyedFree::operator()(Keyed* k) const {
  EVP_MAC_CTX_free(k->ctx);
  delete k;
}

absl::StatusOr<HmacSha256> HmacSha256::Create(absl::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return absl::UnavailableError("hmac-sha256: libcrypto has no HMAC");
  std::unique_ptr<Keyed, KeyedFree> keyed(new Keyed);
  keyed->ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context keeps its own reference
  if (keyed->ctx == nullptr) return absl::UnavailableError("hmac-sha256: EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(keyed->ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) != 1) {
    return absl::UnavailableError(
        absl::StrCat("hmac-sha256: EVP_MAC_init failed for a ", key.size(), "-byte key"));
  }
  return HmacSha256(std::move(keyed));
}

std::string HmacSha256::Mac(absl::string_view data) const {
  EVP_MAC_CTX* ctx = keyed_->ctx;
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  // A null key re-initialises with the key set at Create (OpenSSL 3).
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out, &len, sizeof(out)) != 1 || len != kMacBytes) {
    return "";
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace rtplatch
