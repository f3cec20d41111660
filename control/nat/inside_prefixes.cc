#include "control/nat/inside_prefixes.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

// The IPv4 part of the 16-byte form starts at bit 96.
constexpr uint8_t kV4MappedBits = 96;

// True if the first `length` bits of a and b agree.
bool PrefixBitsEqual(const uint8_t* a, const uint8_t* b, uint8_t length) {
  const size_t whole = length / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const uint8_t rest = length % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool HostBitsZero(const IpAddress& a, uint8_t length) {
  const uint8_t* bytes = a.bytes();
  for (int bit = length; bit < 128; ++bit) {
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

}  // namespace

bool IpPrefix::Contains(const IpAddress& a) const {
  return PrefixBitsEqual(network.bytes(), a.bytes(), length);
}

std::string IpPrefix::ToString() const {
  if (is_v4()) return absl::StrCat(network.ToString(), "/", length - kV4MappedBits);
  return absl::StrCat(network.ToString(), "/", length);
}

absl::StatusOr<IpPrefix> IpPrefix::Parse(absl::string_view text) {
  const size_t slash = text.find('/');
  const absl::string_view addr_text = text.substr(0, slash);
  auto addr = IpAddress::Parse(addr_text);
  if (!addr.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prefix '", text, "': not an IPv4 or IPv6 address"));
  }
  const bool v4 = addr->is_v4() && addr_text.find(':') == absl::string_view::npos;
  const uint32_t max_len = v4 ? 32 : 128;
  uint32_t len = max_len;
  if (slash != absl::string_view::npos) {
    const absl::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || !absl::SimpleAtoi(len_text, &len) || len > max_len ||
        len_text.find_first_not_of("0123456789") != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prefix '", text, "': length must be 0..", max_len));
    }
  }
  IpPrefix p{*addr, static_cast<uint8_t>(v4 ? len + kV4MappedBits : len)};
  if (!HostBitsZero(p.network, p.length)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefix '", text, "': host bits are set (did you mean a /",
        max_len, " or the network address?)"));
  }
  return p;
}

InsidePrefixes InsidePrefixes::Default() {
  InsidePrefixes inside;
  for (const char* cidr : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                           "100.64.0.0/10", "169.254.0.0/16", "fe80::/10",
                           "fc00::/7"}) {
    // The literals above are valid; a failure here is a programming error
    // that the unit tests catch.
    if (auto p = IpPrefix::Parse(cidr); p.ok()) inside.Add(*p);
  }
  return inside;
}

absl::StatusOr<InsidePrefixes> InsidePrefixes::Parse(
    const std::vector<std::string>& cidrs) {
  InsidePrefixes inside;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    auto p = IpPrefix::Parse(cidrs[i]);
    if (!p.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inside_prefixes[", i, "]: ", p.status().message()));
    }
    inside.Add(*p);
  }
  return inside;
}

absl::Status InsidePrefixes::Add(absl::string_view cidr) {
  auto p = IpPrefix::Parse(cidr);
  if (!p.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inside_prefixes: ", p.status().message()));
  }
  Add(*p);
  return absl::OkStatus();
}

void InsidePrefixes::Add(const IpPrefix& prefix) {
  if (std::find(prefixes_.begin(), prefixes_.end(), prefix) == prefixes_.end()) {
    prefixes_.push_back(prefix);
  }
}

bool InsidePrefixes::Contains(const IpAddress& address) const {
  return std::any_of(prefixes_.begin(), prefixes_.end(),
                     [&](const IpPrefix& p) { return p.Contains(address); });
}

}  // namespace rtplatch
