#include "common/ip_address.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {
constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}  // namespace

IpAddress IpAddress::FromV4(uint32_t host_order) {
  uint32_t n = htonl(host_order);
  return FromV4Bytes(reinterpret_cast<const uint8_t*>(&n));
}

IpAddress IpAddress::FromV4Bytes(const uint8_t* network_order) {
  IpAddress a;
  std::memcpy(a.bytes_.data(), kV4MappedPrefix, 12);
  std::memcpy(a.bytes_.data() + 12, network_order, 4);
  return a;
}

IpAddress IpAddress::FromV6Bytes(const uint8_t* bytes16) {
  IpAddress a;
  std::memcpy(a.bytes_.data(), bytes16, 16);
  return a;
}

std::optional<IpAddress> IpAddress::TryParse(absl::string_view text) {
  // inet_pton wants a C string; no address text is this long.
  char s[64];
  if (text.size() >= sizeof(s)) return std::nullopt;
  std::memcpy(s, text.data(), text.size());
  s[text.size()] = '\0';
  uint8_t buf[16];
  if (inet_pton(AF_INET, s, buf) == 1) return FromV4Bytes(buf);
  if (inet_pton(AF_INET6, s, buf) == 1) return FromV6Bytes(buf);
  return std::nullopt;
}

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  if (std::optional<IpAddress> ip = TryParse(text)) return *ip;
  return absl::InvalidArgumentError(
      absl::StrCat("not an IPv4 or IPv6 address: '", text, "'"));
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    // Dotted quad by hand: glibc's inet_ntop goes through sprintf, and the
    // registrar formats addresses for every REGISTER.
    char* p = buf;
    for (int i = 12; i < 16; ++i) {
      unsigned v = bytes_[i];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
      if (i != 15) *p++ = '.';
    }
    return std::string(buf, static_cast<size_t>(p - buf));
  } else {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  }
  return buf;
}

std::string Endpoint::ToString() const {
  if (ip.is_v4()) return absl::StrCat(ip.ToString(), ":", port);
  return absl::StrCat("[", ip.ToString(), "]:", port);
}

absl::StatusOr<Endpoint> Endpoint::Parse(absl::string_view text) {
  absl::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint: expected [ipv6]:port, got '", text, "'"));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos ||
        text.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint: expected ip:port or [ipv6]:port, got '", text, "'"));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint: bad port in '", text, "'"));
  }
  auto ip = IpAddress::Parse(host);
  if (!ip.ok()) return ip.status();
  return Endpoint{*ip, static_cast<uint16_t>(port)};
}

}  // namespace rtplatch
