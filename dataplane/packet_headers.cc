#include "dataplane/packet_headers.h"

#include <arpa/inet.h>

#include <cstring>

#include "dataplane/checksum.h"

namespace rtplatch {
namespace {

void Store16(uint8_t* p, uint16_t host) {
  uint16_t v = htons(host);
  std::memcpy(p, &v, 2);
}

const uint8_t* PseudoBytes(const IpAddress& a, bool v6) {
  return v6 ? a.bytes() : a.v4_bytes();
}

}  // namespace

uint16_t UdpChecksumFull(const uint8_t* udp, uint16_t udp_len, const EgressHeaders& e,
                         bool v6) {
  size_t alen = v6 ? 16 : 4;
  uint32_t sum = ChecksumAdd(0, PseudoBytes(e.src_ip, v6), alen);
  sum = ChecksumAdd(sum, PseudoBytes(e.dst_ip, v6), alen);
  sum += htons(kIpProtoUdp);
  sum += htons(udp_len);
  sum = ChecksumAdd(sum, udp, 6);  // skip the checksum field itself
  sum = ChecksumAdd(sum, udp + 8, udp_len - 8u);
  uint16_t c = ChecksumFinish(sum);
  return c == 0 ? 0xffff : c;
}

void WriteEthernet(uint8_t* eth, const EgressHeaders& e, bool v6) {
  std::memcpy(eth, e.dst_mac, 6);
  std::memcpy(eth + 6, e.src_mac, 6);
  Store16(eth + 12, v6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
}

void WriteIpv4(uint8_t* ip, uint8_t tos, uint16_t udp_len, const EgressHeaders& e) {
  ip[0] = 0x45;
  ip[1] = tos;
  Store16(ip + 2, kIpv4HeaderLen + udp_len);
  Store16(ip + 4, 0);
  Store16(ip + 6, 0x4000);  // DF: media is never fragmented by us
  ip[8] = kRelayTtl;
  ip[9] = kIpProtoUdp;
  Store16(ip + 10, 0);
  std::memcpy(ip + 12, e.src_ip.v4_bytes(), 4);
  std::memcpy(ip + 16, e.dst_ip.v4_bytes(), 4);
  uint16_t c = ChecksumFinish(ChecksumAdd(0, ip, kIpv4HeaderLen));
  std::memcpy(ip + 10, &c, 2);
}

void WriteIpv6(uint8_t* ip, uint8_t traffic_class, uint16_t udp_len,
               const EgressHeaders& e) {
  ip[0] = static_cast<uint8_t>(0x60 | (traffic_class >> 4));
  ip[1] = static_cast<uint8_t>(traffic_class << 4);
  ip[2] = ip[3] = 0;  // flow label
  Store16(ip + 4, udp_len);
  ip[6] = kIpProtoUdp;
  ip[7] = kRelayTtl;
  std::memcpy(ip + 8, e.src_ip.bytes(), 16);
  std::memcpy(ip + 24, e.dst_ip.bytes(), 16);
}

uint32_t BuildUdpFrame(uint8_t* out, const EgressHeaders& e, const uint8_t* payload,
                       uint16_t len) {
  const bool v6 = !e.dst_ip.is_v4();
  const uint16_t l3 = v6 ? kIpv6HeaderLen : kIpv4HeaderLen;
  const uint16_t udp_len = static_cast<uint16_t>(kUdpHeaderLen + len);
  uint8_t* udp = out + kEtherHeaderLen + l3;
  Store16(udp, e.src_port);
  Store16(udp + 2, e.dst_port);
  Store16(udp + 4, udp_len);
  std::memcpy(udp + kUdpHeaderLen, payload, len);
  uint16_t c = UdpChecksumFull(udp, udp_len, e, v6);
  std::memcpy(udp + 6, &c, 2);
  WriteEthernet(out, e, v6);
  if (v6) {
    WriteIpv6(out + kEtherHeaderLen, 0, udp_len, e);
  } else {
    WriteIpv4(out + kEtherHeaderLen, 0, udp_len, e);
  }
  return kEtherHeaderLen + l3 + udp_len;
}

}  // namespace rtplatch
