// Keepalive payloads, deduplicated: millions of targets share a handful
// (CRLF CRLF, four zero bytes, a few SIP OPTIONS templates). Entries are
// written once by the control thread before any target refers to them and
// never change, so lcores read them without synchronisation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace rtplatch {

inline constexpr size_t kMaxKeepalivePayload = 1200;  // fits any MTU with headers
inline constexpr size_t kMaxKeepalivePayloads = 4096;

struct KeepalivePayload {
  uint16_t length;
  uint32_t sum;  // one's-complement sum of bytes (ChecksumAdd), for the UDP checksum
  uint8_t bytes[kMaxKeepalivePayload];
};

class KeepalivePayloads {
 public:
  static constexpr uint16_t kCrlf = 0;   // "\r\n\r\n", RFC 5626
  static constexpr uint16_t kZero4 = 1;  // four zero bytes

  KeepalivePayloads();
  // The id of `bytes`, registering it if new.
  absl::StatusOr<uint16_t> Intern(const std::string& bytes);
  const KeepalivePayload& at(uint16_t id) const { return *payloads_[id]; }
  size_t size() const { return count_; }

 private:
  std::array<std::unique_ptr<KeepalivePayload>, kMaxKeepalivePayloads> payloads_;
  absl::flat_hash_map<std::string, uint16_t> ids_;
  size_t count_ = 0;
};

}  // namespace rtplatch
