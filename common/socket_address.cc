#include "common/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace rtplatch {

socklen_t ToSockaddr(const Endpoint& ep, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof(*ss));
  if (ep.ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    std::memcpy(&sin->sin_addr, ep.ip.v4_bytes(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(ep.port);
  std::memcpy(&sin6->sin6_addr, ep.ip.bytes(), 16);
  return sizeof(sockaddr_in6);
}

Endpoint FromSockaddr(const sockaddr_storage& ss) {
  Endpoint ep;
  if (ss.ss_family == AF_INET) {
    const auto& sin = reinterpret_cast<const sockaddr_in&>(ss);
    ep.ip = IpAddress::FromV4Bytes(reinterpret_cast<const uint8_t*>(&sin.sin_addr));
    ep.port = ntohs(sin.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
    ep.ip = IpAddress::FromV6Bytes(reinterpret_cast<const uint8_t*>(&sin6.sin6_addr));
    ep.port = ntohs(sin6.sin6_port);
  }
  return ep;
}

}  // namespace rtplatch
