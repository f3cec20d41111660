// An Endpoint as the kernel's socket address and back, for every socket
// the control plane and the tests open (UDP and TCP, IPv4 and IPv6).
#pragma once

#include <sys/socket.h>

#include "common/ip_address.h"

namespace rtplatch {

// Fills `ss` (zeroed first); returns the length to pass to bind/sendto.
socklen_t ToSockaddr(const Endpoint& ep, sockaddr_storage* ss);
// AF_INET or AF_INET6 (a v4-mapped IPv6 source lands in the same 16-byte
// form as an IPv4 one); any other family gives an unspecified Endpoint.
Endpoint FromSockaddr(const sockaddr_storage& ss);

}  // namespace rtplatch
