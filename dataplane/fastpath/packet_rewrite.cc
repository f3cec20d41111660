#include "dataplane/fastpath/packet_rewrite.h"

#include <arpa/inet.h>

#include <cstring>

#include "dataplane/fastpath/checksum.h"
#include "dataplane/fastpath/packet_headers.h"

namespace rtplatch {
namespace {

uint32_t ChecksumSubtract(uint32_t sum, const uint8_t* data, size_t len) {
  for (size_t i = 0; i + 1 < len; i += 2) {
    uint16_t w;
    std::memcpy(&w, data + i, 2);
    sum += static_cast<uint16_t>(~w);
  }
  return sum;
}


// Rewrites ports and the UDP checksum; `old_src`/`old_dst` are the
// pseudo-header addresses of the received packet. Everything is summed from
// integers in registers: staging bytes in small arrays made the compiler
// reload them with wider loads than the stores (store-forwarding stalls
// that cost more than the whole rewrite).
void RewriteUdp(uint8_t* udp, uint16_t udp_len, const uint8_t* old_src,
                const uint8_t* old_dst, size_t old_alen, bool out_v6,
                const EgressHeaders& e) {
  uint16_t stored;
  std::memcpy(&stored, udp + 6, 2);
  uint32_t old_ports;
  std::memcpy(&old_ports, udp, 4);
  const uint32_t new_ports = uint32_t{htons(e.src_port)} | (uint32_t{htons(e.dst_port)} << 16);
  std::memcpy(udp, &new_ports, 4);
  if (stored == 0) {
    // IPv4 without checksum: keep it off for IPv4, IPv6 requires one.
    if (out_v6) {
      uint16_t c = UdpChecksumFull(udp, udp_len, e, true);
      std::memcpy(udp + 6, &c, 2);
    }
    return;
  }
  size_t new_alen = out_v6 ? 16 : 4;
  uint32_t sum = static_cast<uint16_t>(~stored);
  sum = ChecksumSubtract(sum, old_src, old_alen);
  sum = ChecksumSubtract(sum, old_dst, old_alen);
  sum = ChecksumSub32(sum, old_ports);
  sum = ChecksumAdd(sum, PseudoBytes(e.src_ip, out_v6), new_alen);
  sum = ChecksumAdd(sum, PseudoBytes(e.dst_ip, out_v6), new_alen);
  sum = ChecksumAdd32(sum, new_ports);
  uint16_t c = ChecksumFinish(sum);
  if (c == 0) c = 0xffff;
  std::memcpy(udp + 6, &c, 2);
}

// IPv4 with a plain 20-byte header to IPv4: patch total length, TTL and
// addresses, adjusting the header checksum by the words that changed (RFC
// 1624). The total length changes when the IP payload ran past the UDP
// datagram: only the datagram is sent (found by the fast_path fuzz target).
void RewriteIpv4InPlace(uint8_t* ip, uint16_t udp_len, const EgressHeaders& e) {
  uint16_t old_total, old_ttl_proto, stored;
  uint32_t old_src, old_dst, new_src, new_dst;
  std::memcpy(&old_total, ip + 2, 2);
  std::memcpy(&old_ttl_proto, ip + 8, 2);
  std::memcpy(&stored, ip + 10, 2);
  std::memcpy(&old_src, ip + 12, 4);
  std::memcpy(&old_dst, ip + 16, 4);
  std::memcpy(&new_src, e.src_ip.v4_bytes(), 4);
  std::memcpy(&new_dst, e.dst_ip.v4_bytes(), 4);
  const uint16_t new_total = htons(static_cast<uint16_t>(kIpv4HeaderLen + udp_len));
  const uint16_t new_ttl_proto = htons(static_cast<uint16_t>((kRelayTtl << 8) | kIpProtoUdp));
  uint32_t sum = static_cast<uint16_t>(~stored);
  sum += static_cast<uint16_t>(~old_total);
  sum += new_total;
  sum += static_cast<uint16_t>(~old_ttl_proto);
  sum += new_ttl_proto;
  sum = ChecksumSub32(sum, old_src);
  sum = ChecksumSub32(sum, old_dst);
  sum = ChecksumAdd32(sum, new_src);
  sum = ChecksumAdd32(sum, new_dst);
  const uint16_t c = ChecksumFinish(sum);
  std::memcpy(ip + 2, &new_total, 2);
  std::memcpy(ip + 8, &new_ttl_proto, 2);
  std::memcpy(ip + 10, &c, 2);
  std::memcpy(ip + 12, &new_src, 4);
  std::memcpy(ip + 16, &new_dst, 4);
}

}  // namespace

RewriteResult RewriteFrame(uint8_t* frame, uint16_t headroom,
                           const RelayPacket& packet, const EgressHeaders& e) {
  uint8_t* l3 = frame + kEtherHeaderLen;
  uint8_t* udp = frame + packet.udp_offset;
  const bool in_v6 = packet.is_v6;
  const bool out_v6 = !e.dst_ip.is_v4();
  const uint16_t out_l3_len = out_v6 ? kIpv6HeaderLen : kIpv4HeaderLen;
  const int32_t delta =
      static_cast<int32_t>(packet.udp_offset) - kEtherHeaderLen - out_l3_len;
  if (delta < -static_cast<int32_t>(headroom)) return {false, 0, 0};

  // Keep what the rewrite overwrites: old pseudo-header addresses and TOS.
  uint8_t old_src[16], old_dst[16];
  const size_t old_alen = in_v6 ? 16 : 4;
  std::memcpy(old_src, l3 + (in_v6 ? 8 : 12), old_alen);
  std::memcpy(old_dst, l3 + (in_v6 ? 24 : 16), old_alen);
  const uint8_t tos = in_v6 ? static_cast<uint8_t>((l3[0] << 4) | (l3[1] >> 4)) : l3[1];

  RewriteUdp(udp, packet.udp_length, old_src, old_dst, old_alen, out_v6, e);

  uint8_t* start = frame + delta;
  uint8_t* out_l3 = start + kEtherHeaderLen;
  if (delta == 0 && !in_v6 && !out_v6) {
    RewriteIpv4InPlace(out_l3, packet.udp_length, e);
  } else if (out_v6) {
    WriteIpv6(out_l3, tos, packet.udp_length, e);
  } else {
    WriteIpv4(out_l3, tos, packet.udp_length, e);
  }
  WriteEthernet(start, e, out_v6);
  return {true, delta, static_cast<uint32_t>(kEtherHeaderLen + out_l3_len +
                                             packet.udp_length)};
}

}  // namespace rtplatch
