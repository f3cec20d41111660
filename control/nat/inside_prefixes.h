// The "inside" address space: CIDR prefixes (IPv4 and IPv6) that a phone's
// own addresses fall in when it sits behind a NAT. A Contact, Via or SDP
// address inside one of them, seen from outside, is NAT evidence
// (design.md, "Detect NAT").
//
// Prefixes are stored in IpAddress's one 16-byte form (IPv4 as the
// v4-mapped ::ffff:a.b.c.d, so an IPv4 /n is a /96+n), which makes
// Contains() one masked compare per prefix with no branch on the family.
// The list is short (a handful of entries), so a linear scan is the
// simplest thing that is fast enough for the control plane.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace rtplatch {

struct IpPrefix {
  IpAddress network;   // host bits are zero
  uint8_t length = 0;  // over the 16-byte form: IPv4 /n is stored as 96+n

  bool is_v4() const { return network.is_v4() && length >= 96; }
  bool Contains(const IpAddress& a) const;
  // "10.0.0.0/8" or "fe80::/10", as Parse accepts it.
  std::string ToString() const;
  // "a.b.c.d/n" or "ipv6/n"; a bare address is a host prefix (/32, /128).
  // A prefix with host bits set ("192.0.2.1/24") is an error: it is
  // almost always a typo for the network or for a /32.
  static absl::StatusOr<IpPrefix> Parse(absl::string_view text);

  friend bool operator==(const IpPrefix& a, const IpPrefix& b) {
    return a.length == b.length && a.network == b.network;
  }
};

class InsidePrefixes {
 public:
  // Empty: nothing is inside.
  InsidePrefixes() = default;

  // RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 CGN (100.64/10),
  // IPv4 link-local (169.254/16), IPv6 link-local (fe80::/10) and ULA
  // (fc00::/7).
  static InsidePrefixes Default();

  // Exactly the given prefixes (call Default() and Add() to extend the
  // defaults). Errors name the bad entry and its index.
  static absl::StatusOr<InsidePrefixes> Parse(
      const std::vector<std::string>& cidrs);

  // Adds one prefix ("192.0.2.0/24"); a duplicate is ignored.
  absl::Status Add(absl::string_view cidr);
  void Add(const IpPrefix& prefix);

  bool Contains(const IpAddress& address) const;
  const std::vector<IpPrefix>& prefixes() const { return prefixes_; }

 private:
  std::vector<IpPrefix> prefixes_;
};

}  // namespace rtplatch
