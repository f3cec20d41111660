#include "dataplane/fastpath/stun_responder.h"

// The low-level SHA-1 on purpose: OpenSSL's EVP layer may fetch a provider
// (locks, allocation) per call, while SHA1_Init/Update/Final work on a
// stack context and do neither, as the lcore requires. OpenSSL 3 marks
// them deprecated and keeps them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <zlib.h>

#include <cstring>

namespace rtplatch {
namespace {

constexpr uint16_t kBindingRequest = 0x0001;
constexpr uint16_t kBindingSuccess = 0x0101;
constexpr uint16_t kAttrUsername = 0x0006;
constexpr uint16_t kAttrMessageIntegrity = 0x0008;
constexpr uint16_t kAttrXorMappedAddress = 0x0020;
constexpr uint16_t kAttrFingerprint = 0x8028;
constexpr uint32_t kMagicCookie = 0x2112A442;
constexpr uint32_t kFingerprintXor = 0x5354554e;  // RFC 8489 14.7
constexpr uint32_t kHeaderLen = 20;
constexpr uint32_t kIntegrityLen = 20;  // HMAC-SHA1

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Store32(uint8_t* p, uint32_t v) {
  Store16(p, static_cast<uint16_t>(v >> 16));
  Store16(p + 2, static_cast<uint16_t>(v));
}

// HMAC-SHA1 (RFC 2104) under a key of at most one block (ICE passwords are).
class HmacSha1 {
 public:
  explicit HmacSha1(std::string_view key) {
    uint8_t ipad[64];
    for (size_t i = 0; i < 64; ++i) {
      const uint8_t k = i < key.size() ? static_cast<uint8_t>(key[i]) : 0;
      ipad[i] = k ^ 0x36;
      opad_[i] = k ^ 0x5c;
    }
    SHA1_Init(&inner_);
    SHA1_Update(&inner_, ipad, sizeof(ipad));
  }
  void Update(const uint8_t* data, size_t len) { SHA1_Update(&inner_, data, len); }
  void Finish(uint8_t out[kIntegrityLen]) {
    uint8_t inner_digest[SHA_DIGEST_LENGTH];
    SHA1_Final(inner_digest, &inner_);
    SHA_CTX outer;
    SHA1_Init(&outer);
    SHA1_Update(&outer, opad_, sizeof(opad_));
    SHA1_Update(&outer, inner_digest, sizeof(inner_digest));
    SHA1_Final(out, &outer);
  }

 private:
  SHA_CTX inner_;
  uint8_t opad_[64];
};

// Where a message's attributes of interest sit (offsets of attribute
// headers; 0: absent).
struct StunLayout {
  uint32_t username = 0;
  uint32_t integrity = 0;
  uint32_t fingerprint = 0;
};

// Header and attribute framing (RFC 8489 5, 14): the length field matches,
// every attribute fits, FINGERPRINT is last, and anything after
// MESSAGE-INTEGRITY but FINGERPRINT is ignored (as the RFC says).
bool ParseStun(const uint8_t* m, uint32_t len, StunLayout* out) {
  if (len < kHeaderLen || (m[0] >> 6) != 0 || Load32(m + 4) != kMagicCookie) return false;
  if (Load16(m + 2) != len - kHeaderLen || (len % 4) != 0) return false;
  for (uint32_t off = kHeaderLen; off < len;) {
    if (len - off < 4) return false;
    const uint16_t type = Load16(m + off);
    const uint32_t value_len = Load16(m + off + 2);
    const uint32_t padded = (value_len + 3) & ~3u;
    if (len - off - 4 < padded) return false;
    if (type == kAttrFingerprint) {
      if (value_len != 4 || off + 8 != len) return false;
      out->fingerprint = off;
    } else if (out->integrity == 0) {
      if (type == kAttrUsername && out->username == 0) out->username = off;
      if (type == kAttrMessageIntegrity) {
        if (value_len != kIntegrityLen) return false;
        out->integrity = off;
      }
    }
    off += 4 + padded;
  }
  return true;
}

// The MAC over the message up to the MESSAGE-INTEGRITY at `integrity`,
// with the header's length as if that attribute ended the message.
void IntegrityOf(const uint8_t* m, uint32_t integrity, std::string_view key,
                 uint8_t out[kIntegrityLen]) {
  uint8_t length[2];
  Store16(length, static_cast<uint16_t>(integrity + 4 + kIntegrityLen - kHeaderLen));
  HmacSha1 mac(key);
  mac.Update(m, 2);
  mac.Update(length, 2);
  mac.Update(m + 4, integrity - 4);
  mac.Finish(out);
}

uint32_t FingerprintOf(const uint8_t* m, uint32_t fingerprint) {
  return static_cast<uint32_t>(crc32(0, m, fingerprint)) ^ kFingerprintXor;
}

bool Authentic(const uint8_t* m, const StunLayout& layout, std::string_view key) {
  if (layout.integrity == 0) return false;
  if (layout.fingerprint != 0 &&
      FingerprintOf(m, layout.fingerprint) != Load32(m + layout.fingerprint + 4)) {
    return false;
  }
  uint8_t expected[kIntegrityLen];
  IntegrityOf(m, layout.integrity, key, expected);
  uint8_t diff = 0;  // compared in constant time
  for (uint32_t i = 0; i < kIntegrityLen; ++i) diff |= expected[i] ^ m[layout.integrity + 4 + i];
  return diff == 0;
}

// USERNAME is "<our ufrag>:<the peer's ufrag>" (RFC 8445 7.2.2).
bool ForOurUfrag(const uint8_t* m, const StunLayout& layout, std::string_view ufrag) {
  if (layout.username == 0) return false;
  const uint32_t value_len = Load16(m + layout.username + 2);
  const uint8_t* value = m + layout.username + 4;
  return value_len > ufrag.size() && std::memcmp(value, ufrag.data(), ufrag.size()) == 0 &&
         value[ufrag.size()] == ':';
}

// XOR-MAPPED-ADDRESS (RFC 8489 14.2) at `p`; returns its length.
uint32_t WriteXorMappedAddress(uint8_t* p, const uint8_t* transaction_id, const IpAddress& ip,
                               uint16_t port) {
  const bool v4 = ip.is_v4();
  const uint32_t value_len = v4 ? 8 : 20;
  Store16(p, kAttrXorMappedAddress);
  Store16(p + 2, static_cast<uint16_t>(value_len));
  p[4] = 0;
  p[5] = v4 ? 0x01 : 0x02;
  Store16(p + 6, static_cast<uint16_t>(port ^ (kMagicCookie >> 16)));
  uint8_t pad[16];  // the cookie, then (IPv6) the transaction id
  Store32(pad, kMagicCookie);
  std::memcpy(pad + 4, transaction_id, 12);
  const uint8_t* addr = v4 ? ip.v4_bytes() : ip.bytes();
  for (uint32_t i = 0; i < (v4 ? 4u : 16u); ++i) p[8 + i] = addr[i] ^ pad[i];
  return 4 + value_len;
}

}  // namespace

IceCheck AnswerIceCheck(const uint8_t* request, uint32_t len, const IceCredentials& local,
                        const IpAddress& source_ip, uint16_t source_port, uint8_t* reply,
                        uint32_t* reply_len) {
  StunLayout layout;
  if (!ParseStun(request, len, &layout) || Load16(request) != kBindingRequest) {
    return IceCheck::kNotBindingRequest;
  }
  if (!ForOurUfrag(request, layout, local.ufrag_view()) ||
      !Authentic(request, layout, local.pwd_view())) {
    return IceCheck::kUnauthenticated;
  }
  Store16(reply, kBindingSuccess);
  Store32(reply + 4, kMagicCookie);
  std::memcpy(reply + 8, request + 8, 12);  // transaction id
  uint32_t off = kHeaderLen;
  off += WriteXorMappedAddress(reply + off, request + 8, source_ip, source_port);
  const uint32_t integrity = off;
  Store16(reply + off, kAttrMessageIntegrity);
  Store16(reply + off + 2, kIntegrityLen);
  IntegrityOf(reply, integrity, local.pwd_view(), reply + off + 4);
  off += 4 + kIntegrityLen;
  Store16(reply + 2, static_cast<uint16_t>(off + 8 - kHeaderLen));
  Store16(reply + off, kAttrFingerprint);
  Store16(reply + off + 2, 4);
  Store32(reply + off + 4, FingerprintOf(reply, off));
  *reply_len = off + 8;
  return IceCheck::kAnswered;
}

bool StunMessageAuthentic(const uint8_t* message, uint32_t len, std::string_view key) {
  StunLayout layout;
  return ParseStun(message, len, &layout) && Authentic(message, layout, key);
}

}  // namespace rtplatch
