// An IPv4 or IPv6 address in one 16-byte representation (IPv4 as the
// v4-mapped ::ffff:a.b.c.d), so the fast path compares any peer with two
// 64-bit loads and no branch on the family.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rtplatch {

class IpAddress {
 public:
  constexpr IpAddress() = default;

  static IpAddress FromV4(uint32_t host_order);
  // `network_order` points at 4 bytes as they sit in an IPv4 header.
  static IpAddress FromV4Bytes(const uint8_t* network_order);
  static IpAddress FromV6Bytes(const uint8_t* bytes16);
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  // Parse without an error to build: for hot paths that only ask whether
  // a text is an address (a hostname is not an error there).
  static std::optional<IpAddress> TryParse(absl::string_view text);

  bool is_v4() const {
    uint64_t head;
    uint32_t mid;
    std::memcpy(&head, bytes_.data(), 8);
    std::memcpy(&mid, bytes_.data() + 8, 4);
    return head == 0 && mid == kV4MappedMarker;
  }
  // :: or 0.0.0.0 (SDP hold) or never set.
  bool is_unspecified() const {
    uint64_t head, tail;
    std::memcpy(&head, bytes_.data(), 8);
    std::memcpy(&tail, bytes_.data() + 8, 8);
    return head == 0 && (tail == 0 || tail == kV4MappedZeroTail);
  }
  uint32_t v4_host_order() const {
    return (uint32_t{bytes_[12]} << 24) | (uint32_t{bytes_[13]} << 16) |
           (uint32_t{bytes_[14]} << 8) | bytes_[15];
  }
  const uint8_t* v4_bytes() const { return bytes_.data() + 12; }
  const uint8_t* bytes() const { return bytes_.data(); }
  uint8_t* mutable_bytes() { return bytes_.data(); }
  std::string ToString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return std::memcmp(a.bytes_.data(), b.bytes_.data(), 16) == 0;
  }
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& a) {
    return H::combine(std::move(h), absl::string_view(
        reinterpret_cast<const char*>(a.bytes_.data()), 16));
  }

 private:
  // Bytes 8..11 of ::ffff:a.b.c.d (00 00 ff ff) as a native-endian load.
  static constexpr uint32_t kV4MappedMarker = 0xffff0000u;
  static constexpr uint64_t kV4MappedZeroTail = 0xffff0000u;
  static_assert(std::endian::native == std::endian::little);

  std::array<uint8_t, 16> bytes_{};
};

struct Endpoint {
  IpAddress ip;
  uint16_t port = 0;  // host order

  bool is_set() const { return port != 0 && !ip.is_unspecified(); }
  std::string ToString() const;  // 192.0.2.1:4000 or [2001:db8::1]:4000
  static absl::StatusOr<Endpoint> Parse(absl::string_view text);

  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.port == b.port && a.ip == b.ip;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Endpoint& e) {
    return H::combine(std::move(h), e.ip, e.port);
  }
};

}  // namespace rtplatch
