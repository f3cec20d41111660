// Builds RTP-over-UDP Ethernet frames with correct checksums, and checks
// checksums from scratch (independently of the incremental code under
// test). Shared by the fast-path tests and benchmarks.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/ip_address.h"

namespace rtplatch::testing {

inline constexpr uint8_t kPeerMac[6] = {0x02, 0, 0, 0, 0, 0x01};
inline constexpr uint8_t kRelayMac[6] = {0x02, 0, 0, 0, 0, 0x10};

inline uint32_t Sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  return sum;
}
inline uint16_t Fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

struct RtpSpec {
  IpAddress src;
  IpAddress dst;
  uint16_t src_port;
  uint16_t dst_port;
  uint32_t ssrc = 0x11223344;
  uint16_t seq = 1;
  size_t payload = 160;
  bool udp_checksum = true;  // IPv4 may omit it
  uint8_t tos = 0xb8;        // EF, as voice is marked
  uint8_t first_byte = 0x80; // RTP version 2
  uint8_t second_byte = 0;   // payload type 0 (PCMU)
  // If set, the UDP payload is exactly these bytes (e.g. STUN), not RTP.
  const std::vector<uint8_t>* raw_payload = nullptr;
};

// `headroom` bytes of zero precede the frame in the returned buffer.
// Writes an IPv4 header's total length and its checksum to match.
inline void SetIpv4TotalLength(uint8_t* ip, uint16_t total) {
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  ip[10] = ip[11] = 0;
  const uint16_t c = static_cast<uint16_t>(~Fold(Sum16(ip, 20)));
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
}

inline std::vector<uint8_t> BuildRtpFrame(const RtpSpec& s, size_t headroom = 0) {
  const bool v6 = !s.src.is_v4();
  const size_t l3 = v6 ? 40 : 20;
  const size_t udp_len = 8 + (s.raw_payload ? s.raw_payload->size() : 12 + s.payload);
  std::vector<uint8_t> buf(headroom + 14 + l3 + udp_len, 0);
  uint8_t* f = buf.data() + headroom;
  std::memcpy(f, kRelayMac, 6);
  std::memcpy(f + 6, kPeerMac, 6);
  f[12] = v6 ? 0x86 : 0x08;
  f[13] = v6 ? 0xdd : 0x00;
  uint8_t* ip = f + 14;
  if (v6) {
    ip[0] = static_cast<uint8_t>(0x60 | (s.tos >> 4));
    ip[1] = static_cast<uint8_t>(s.tos << 4);
    ip[4] = static_cast<uint8_t>(udp_len >> 8);
    ip[5] = static_cast<uint8_t>(udp_len);
    ip[6] = 17;
    ip[7] = 60;
    std::memcpy(ip + 8, s.src.bytes(), 16);
    std::memcpy(ip + 24, s.dst.bytes(), 16);
  } else {
    ip[0] = 0x45;
    ip[1] = s.tos;
    ip[8] = 60;
    ip[9] = 17;
    std::memcpy(ip + 12, s.src.v4_bytes(), 4);
    std::memcpy(ip + 16, s.dst.v4_bytes(), 4);
    SetIpv4TotalLength(ip, static_cast<uint16_t>(20 + udp_len));
  }
  uint8_t* udp = ip + l3;
  udp[0] = static_cast<uint8_t>(s.src_port >> 8);
  udp[1] = static_cast<uint8_t>(s.src_port);
  udp[2] = static_cast<uint8_t>(s.dst_port >> 8);
  udp[3] = static_cast<uint8_t>(s.dst_port);
  udp[4] = static_cast<uint8_t>(udp_len >> 8);
  udp[5] = static_cast<uint8_t>(udp_len);
  uint8_t* rtp = udp + 8;
  rtp[0] = s.first_byte;
  rtp[1] = s.second_byte;
  rtp[2] = static_cast<uint8_t>(s.seq >> 8);
  rtp[3] = static_cast<uint8_t>(s.seq);
  rtp[8] = static_cast<uint8_t>(s.ssrc >> 24);
  rtp[9] = static_cast<uint8_t>(s.ssrc >> 16);
  rtp[10] = static_cast<uint8_t>(s.ssrc >> 8);
  rtp[11] = static_cast<uint8_t>(s.ssrc);
  if (s.raw_payload != nullptr) {
    std::memcpy(rtp, s.raw_payload->data(), s.raw_payload->size());
  } else {
    for (size_t i = 0; i < s.payload; ++i) rtp[12 + i] = static_cast<uint8_t>(i * 7 + s.seq);
  }
  if (s.udp_checksum || v6) {
    uint32_t sum = v6 ? Sum16(ip + 8, 32) : Sum16(ip + 12, 8);
    sum += 17 + static_cast<uint32_t>(udp_len);
    sum = Sum16(udp, udp_len, sum);
    uint16_t c = static_cast<uint16_t>(~Fold(sum));
    if (c == 0) c = 0xffff;
    udp[6] = static_cast<uint8_t>(c >> 8);
    udp[7] = static_cast<uint8_t>(c);
  }
  return buf;
}

// Decoded view of a frame the relay sent, with checksum verdicts computed
// from scratch.
struct DecodedFrame {
  bool ok = false;
  bool v6 = false;
  IpAddress src, dst;
  uint16_t src_port = 0, dst_port = 0;
  uint8_t ttl = 0, tos = 0;
  bool ip_checksum_ok = false;   // IPv4 only; true for IPv6
  bool udp_checksum_ok = false;  // zero checksum on IPv4 counts as ok
  bool udp_checksum_zero = false;
  std::vector<uint8_t> payload;
  uint8_t dst_mac[6] = {}, src_mac[6] = {};
};

inline DecodedFrame DecodeFrame(const uint8_t* f, size_t len) {
  DecodedFrame d;
  if (len < 14) return d;
  std::memcpy(d.dst_mac, f, 6);
  std::memcpy(d.src_mac, f + 6, 6);
  uint16_t type = static_cast<uint16_t>((f[12] << 8) | f[13]);
  const uint8_t* ip = f + 14;
  const uint8_t* udp;
  size_t udp_len;
  uint32_t pseudo;
  if (type == 0x86dd) {
    d.v6 = true;
    if (len < 14 + 40 + 8 || ip[6] != 17) return d;
    d.src = IpAddress::FromV6Bytes(ip + 8);
    d.dst = IpAddress::FromV6Bytes(ip + 24);
    d.ttl = ip[7];
    d.tos = static_cast<uint8_t>((ip[0] << 4) | (ip[1] >> 4));
    d.ip_checksum_ok = true;
    udp = ip + 40;
    udp_len = (size_t{ip[4]} << 8) | ip[5];
    pseudo = Sum16(ip + 8, 32);
  } else if (type == 0x0800) {
    if (len < 14 + 20 + 8 || ip[9] != 17) return d;
    size_t ihl = (ip[0] & 0xf) * 4u;
    d.src = IpAddress::FromV4Bytes(ip + 12);
    d.dst = IpAddress::FromV4Bytes(ip + 16);
    d.ttl = ip[8];
    d.tos = ip[1];
    d.ip_checksum_ok = Fold(Sum16(ip, ihl)) == 0xffff;
    udp = ip + ihl;
    udp_len = ((size_t{ip[2]} << 8) | ip[3]) - ihl;
    pseudo = Sum16(ip + 12, 8);
  } else {
    return d;
  }
  if (static_cast<size_t>(udp - f) + udp_len > len) return d;
  d.src_port = static_cast<uint16_t>((udp[0] << 8) | udp[1]);
  d.dst_port = static_cast<uint16_t>((udp[2] << 8) | udp[3]);
  d.udp_checksum_zero = udp[6] == 0 && udp[7] == 0;
  uint32_t sum = Sum16(udp, udp_len, pseudo + 17 + static_cast<uint32_t>(udp_len));
  d.udp_checksum_ok = (d.udp_checksum_zero && !d.v6) || Fold(sum) == 0xffff;
  d.payload.assign(udp + 8, udp + udp_len);
  d.ok = true;
  return d;
}

}  // namespace rtplatch::testing
