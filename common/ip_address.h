// An IPv4 or IPv6 address in one 16-byte representation (IPv4 as the
// v4-mapped ::ffff:a.b.c.d), so the fast path compares any peer with two
// 64-bit loads and no branch on the family.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
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

  bool is_v4() const;
  bool is_unspecified() const;  // :: or 0.0.0.0 (SDP hold) or never set
  uint32_t v4_host_order() const;
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
};

}  // namespace rtplatch
