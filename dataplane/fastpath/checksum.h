// Internet checksum helpers (RFC 1071) and the incremental update of
// RFC 1624 (HC' = ~(~HC + ~m + m')), so a rewrite touches only the words
// it changes instead of re-summing the payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rtplatch {

// One's-complement sum of `len` bytes (len even except possibly the last).
inline uint32_t ChecksumAdd(uint32_t sum, const void* data, size_t len) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint16_t w = 0;
    std::memcpy(&w, p, 1);
    sum += w;
  }
  return sum;
}

// Adds (subtracts) the two 16-bit halves of a 32-bit value, as stored, to
// (from) a checksum sum: an IPv4 address or a port pair in one step.
inline uint32_t ChecksumAdd32(uint32_t sum, uint32_t v) { return sum + (v & 0xffff) + (v >> 16); }
inline uint32_t ChecksumSub32(uint32_t sum, uint32_t v) { return ChecksumAdd32(sum, ~v); }

inline uint16_t ChecksumFold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Checksum field value (network byte order words, as stored) for data
// whose one's-complement sum is `sum`.
inline uint16_t ChecksumFinish(uint32_t sum) {
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

// Incremental update of a stored checksum when `len` bytes (even) change
// from `old_bytes` to `new_bytes`.
inline uint16_t ChecksumReplace(uint16_t stored, const void* old_bytes,
                                const void* new_bytes, size_t len) {
  uint32_t sum = static_cast<uint16_t>(~stored);
  const uint8_t* o = static_cast<const uint8_t*>(old_bytes);
  const uint8_t* n = static_cast<const uint8_t*>(new_bytes);
  for (size_t i = 0; i + 1 < len; i += 2) {
    uint16_t ow, nw;
    std::memcpy(&ow, o + i, 2);
    std::memcpy(&nw, n + i, 2);
    sum += static_cast<uint16_t>(~ow);
    sum += nw;
  }
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

}  // namespace rtplatch
