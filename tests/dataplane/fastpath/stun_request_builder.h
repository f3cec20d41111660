// ICE connectivity checks as a full ICE agent sends them (RFC 8445 7.2.2),
// built independently of the responder under test: OpenSSL's one-shot
// HMAC() for MESSAGE-INTEGRITY and zlib's crc32 for FINGERPRINT.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace rtplatch::testing {

struct StunRequestSpec {
  std::string username;  // "<their ufrag>:<our ufrag>"
  std::string password;  // the answering side's ice-pwd
  uint16_t type = 0x0001;  // Binding request
  bool integrity = true;
  bool fingerprint = true;
  uint8_t transaction_id[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
};

inline void Put16(std::vector<uint8_t>& m, size_t at, uint16_t v) {
  m[at] = static_cast<uint8_t>(v >> 8);
  m[at + 1] = static_cast<uint8_t>(v);
}

inline void AppendAttribute(std::vector<uint8_t>& m, uint16_t type, const void* value,
                            size_t len) {
  const size_t at = m.size();
  m.resize(at + 4 + ((len + 3) & ~size_t{3}), 0);
  Put16(m, at, type);
  Put16(m, at + 2, static_cast<uint16_t>(len));
  if (len > 0) std::memcpy(m.data() + at + 4, value, len);
}

inline std::vector<uint8_t> BuildStunRequest(const StunRequestSpec& s) {
  std::vector<uint8_t> m(20, 0);
  Put16(m, 0, s.type);
  const uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};
  std::memcpy(m.data() + 4, cookie, 4);
  std::memcpy(m.data() + 8, s.transaction_id, 12);
  AppendAttribute(m, 0x0006, s.username.data(), s.username.size());  // USERNAME
  const uint8_t priority[4] = {0x6e, 0x00, 0x01, 0xff};
  AppendAttribute(m, 0x0024, priority, 4);                  // PRIORITY
  const uint8_t tie_breaker[8] = {1, 1, 2, 3, 5, 8, 13, 21};
  AppendAttribute(m, 0x802A, tie_breaker, 8);               // ICE-CONTROLLING
  AppendAttribute(m, 0x0025, nullptr, 0);                   // USE-CANDIDATE
  if (s.integrity) {
    Put16(m, 2, static_cast<uint16_t>(m.size() + 24 - 20));
    unsigned int mac_len = 0;
    uint8_t mac[EVP_MAX_MD_SIZE];
    HMAC(EVP_sha1(), s.password.data(), static_cast<int>(s.password.size()), m.data(), m.size(),
         mac, &mac_len);
    AppendAttribute(m, 0x0008, mac, 20);
  }
  if (s.fingerprint) {
    Put16(m, 2, static_cast<uint16_t>(m.size() + 8 - 20));
    uint32_t crc = static_cast<uint32_t>(crc32(0, m.data(), static_cast<uInt>(m.size()))) ^
                   0x5354554eu;
    const uint8_t value[4] = {static_cast<uint8_t>(crc >> 24), static_cast<uint8_t>(crc >> 16),
                              static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc)};
    AppendAttribute(m, 0x8028, value, 4);
  }
  Put16(m, 2, static_cast<uint16_t>(m.size() - 20));
  return m;
}

// The mapped address of a success response's XOR-MAPPED-ADDRESS (port 0
// and unspecified if there is none).
struct MappedAddress {
  IpAddress ip;
  uint16_t port = 0;
};

inline MappedAddress XorMappedAddressOf(const std::vector<uint8_t>& m) {
  MappedAddress out;
  for (size_t off = 20; off + 4 <= m.size();) {
    const uint16_t type = static_cast<uint16_t>((m[off] << 8) | m[off + 1]);
    const size_t len = (size_t{m[off + 2]} << 8) | m[off + 3];
    if (off + 4 + len > m.size()) break;
    if (type == 0x0020 && (len == 8 || len == 20)) {
      const uint8_t* v = m.data() + off + 4;
      out.port = static_cast<uint16_t>(((v[2] << 8) | v[3]) ^ 0x2112);
      uint8_t pad[16] = {0x21, 0x12, 0xA4, 0x42};
      std::memcpy(pad + 4, m.data() + 8, 12);
      uint8_t addr[16];
      for (size_t i = 0; i < len - 4; ++i) addr[i] = v[4 + i] ^ pad[i];
      out.ip = len == 8 ? IpAddress::FromV4Bytes(addr) : IpAddress::FromV6Bytes(addr);
      break;
    }
    off += 4 + ((len + 3) & ~size_t{3});
  }
  return out;
}

}  // namespace rtplatch::testing
