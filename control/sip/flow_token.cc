#include "control/sip/flow_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

#include "absl/strings/escaping.h"

namespace rtplatch {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kEndpointBytes = 18;  // 16 address bytes (v4 mapped) + port
constexpr size_t kFlowBytes = 2 + 2 * kEndpointBytes;
constexpr size_t kMacBytes = 12;  // 96 bits, as HMAC-SHA1-96 in IPsec

void PutEndpoint(const Endpoint& ep, uint8_t* out) {
  std::memcpy(out, ep.ip.bytes(), 16);
  out[16] = static_cast<uint8_t>(ep.port >> 8);
  out[17] = static_cast<uint8_t>(ep.port);
}

Endpoint GetEndpoint(const uint8_t* in) {
  Endpoint ep;
  std::memcpy(ep.ip.mutable_bytes(), in, 16);
  ep.port = static_cast<uint16_t>((in[16] << 8) | in[17]);
  return ep;
}

}  // namespace

absl::StatusOr<FlowTokens> FlowTokens::WithRandomKey() {
  Key key;
  if (RAND_bytes(key.data(), key.size()) != 1) {
    return absl::InternalError("flow tokens: no random key from OpenSSL");
  }
  return FlowTokens(key);
}

std::string FlowTokens::Encode(const SipFlow& flow) const {
  uint8_t raw[kFlowBytes + EVP_MAX_MD_SIZE];
  raw[0] = kVersion;
  raw[1] = static_cast<uint8_t>(flow.transport);
  PutEndpoint(flow.remote, raw + 2);
  PutEndpoint(flow.local, raw + 2 + kEndpointBytes);
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), key_.size(), raw, kFlowBytes, raw + kFlowBytes, &mac_len);
  std::string token;
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(raw), kFlowBytes + kMacBytes), &token);
  return token;
}

std::optional<SipFlow> FlowTokens::Decode(absl::string_view token) const {
  // Bounded before decoding: a Route's user part is the sender's to fill.
  constexpr size_t kTokenChars = ((kFlowBytes + kMacBytes) * 4 + 2) / 3;
  if (token.size() != kTokenChars) return std::nullopt;
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() != kFlowBytes + kMacBytes) {
    return std::nullopt;
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(raw.data());
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), key_.size(), bytes, kFlowBytes, mac, &mac_len);
  if (bytes[0] != kVersion || bytes[1] > static_cast<uint8_t>(SipTransportKind::kTls) ||
      CRYPTO_memcmp(mac, bytes + kFlowBytes, kMacBytes) != 0) {
    return std::nullopt;
  }
  SipFlow flow;
  flow.transport = static_cast<SipTransportKind>(bytes[1]);
  flow.remote = GetEndpoint(bytes + 2);
  flow.local = GetEndpoint(bytes + 2 + kEndpointBytes);
  return flow;
}

}  // namespace rtplatch
