// Writing fresh Ethernet/IPv4/IPv6 headers and whole UDP checksums: shared
// by the relay rewrite (IPv4<->IPv6 bridging) and the keepalive emitter.
#pragma once

#include <cstdint>

#include "dataplane/fastpath/packet_rewrite.h"

namespace rtplatch {

// Address bytes as they appear in the UDP pseudo-header for this family.
inline const uint8_t* PseudoBytes(const IpAddress& a, bool v6) {
  return v6 ? a.bytes() : a.v4_bytes();
}

void WriteEthernet(uint8_t* eth, const EgressHeaders& e, bool v6);
// `tos` is the DSCP/ECN byte (IPv4 TOS, IPv6 traffic class).
void WriteIpv4(uint8_t* ip, uint8_t tos, uint16_t udp_len, const EgressHeaders& e);
void WriteIpv6(uint8_t* ip, uint8_t traffic_class, uint16_t udp_len, const EgressHeaders& e);
// UDP checksum over pseudo-header, UDP header (checksum field skipped) and
// payload; never 0 (0xffff instead).
uint16_t UdpChecksumFull(const uint8_t* udp, uint16_t udp_len, const EgressHeaders& e, bool v6);

// A whole UDP datagram from e.src to e.dst carrying `payload`, written at
// `out` (room for 14 + 40 + 8 + len bytes). Returns the frame length.
uint32_t BuildUdpFrame(uint8_t* out, const EgressHeaders& e, const uint8_t* payload,
                       uint16_t len);
// The same with the payload's one's-complement sum precomputed
// (ChecksumAdd(0, payload, len)): keepalive templates are summed once.
uint32_t BuildUdpFrame(uint8_t* out, const EgressHeaders& e, const uint8_t* payload,
                       uint16_t len, uint32_t payload_sum);

}  // namespace rtplatch
