// Turns a received relay packet into the packet the relay sends: new
// Ethernet, IP and UDP headers, same RTP payload. Same-family rewrites are
// in place with incremental checksums; IPv4<->IPv6 bridging rebuilds the IP
// header in front of the unmoved UDP header (the UDP checksum is still
// updated incrementally: only the pseudo-header addresses change).
#pragma once

#include <cstdint>

#include "common/ip_address.h"
#include "dataplane/fastpath/packet_parse.h"

namespace rtplatch {

struct EgressHeaders {
  const uint8_t* src_mac;
  const uint8_t* dst_mac;
  IpAddress src_ip;
  IpAddress dst_ip;
  uint16_t src_port;  // host order
  uint16_t dst_port;  // host order
};

inline constexpr uint8_t kRelayTtl = 64;

struct RewriteResult {
  bool ok;              // false: not enough headroom to grow the header
  int32_t start_delta;  // new frame start minus old (negative: grew)
  uint32_t length;      // new frame length
};

// `frame` has `headroom` writable bytes before it.
RewriteResult RewriteFrame(uint8_t* frame, uint16_t headroom,
                           const RelayPacket& packet, const EgressHeaders& egress);

}  // namespace rtplatch
