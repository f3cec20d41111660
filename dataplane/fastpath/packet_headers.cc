#include "dataplane/fastpath/packet_headers.h"

#include <arpa/inet.h>

#include <cstring>

#include "dataplane/fastpath/checksum.h"

namespace rtplatch {
namespace {

void Store16(uint8_t* p, uint16_t host) {
  uint16_t v = htons(host);
  std::memcpy(p, &v, 2);
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

// The header is assembled in a local copy, summed there and stored once:
// summing it back out of a freshly allocated mbuf would wait for that
// cold line to arrive (a read after a store miss).
void WriteIpv4(uint8_t* ip, uint8_t tos, uint16_t udp_len, const EgressHeaders& e) {
  uint8_t h[kIpv4HeaderLen];
  h[0] = 0x45;
  h[1] = tos;
  Store16(h + 2, kIpv4HeaderLen + udp_len);
  Store16(h + 4, 0);
  Store16(h + 6, 0x4000);  // DF: media is never fragmented by us
  h[8] = kRelayTtl;
  h[9] = kIpProtoUdp;
  Store16(h + 10, 0);
  std::memcpy(h + 12, e.src_ip.v4_bytes(), 4);
  std::memcpy(h + 16, e.dst_ip.v4_bytes(), 4);
  uint16_t c = ChecksumFinish(ChecksumAdd(0, h, kIpv4HeaderLen));
  std::memcpy(h + 10, &c, 2);
  std::memcpy(ip, h, kIpv4HeaderLen);
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
  return BuildUdpFrame(out, e, payload, len, ChecksumAdd(0, payload, len));
}

uint32_t BuildUdpFrame(uint8_t* out, const EgressHeaders& e, const uint8_t* payload,
                       uint16_t len, uint32_t payload_sum) {
  const bool v6 = !e.dst_ip.is_v4();
  const uint16_t l3 = v6 ? kIpv6HeaderLen : kIpv4HeaderLen;
  const uint16_t udp_len = static_cast<uint16_t>(kUdpHeaderLen + len);
  // UDP header and checksum from values, not from the (cold) frame.
  uint8_t udp[kUdpHeaderLen];
  Store16(udp, e.src_port);
  Store16(udp + 2, e.dst_port);
  Store16(udp + 4, udp_len);
  const size_t alen = v6 ? 16 : 4;
  uint32_t sum = ChecksumAdd(0, PseudoBytes(e.src_ip, v6), alen);
  sum = ChecksumAdd(sum, PseudoBytes(e.dst_ip, v6), alen);
  sum += htons(kIpProtoUdp);
  sum += htons(udp_len);
  sum = ChecksumAdd(sum, udp, 6);
  sum += payload_sum;
  uint16_t c = ChecksumFinish(sum);
  if (c == 0) c = 0xffff;
  std::memcpy(udp + 6, &c, 2);
  uint8_t* out_udp = out + kEtherHeaderLen + l3;
  std::memcpy(out_udp, udp, kUdpHeaderLen);
  std::memcpy(out_udp + kUdpHeaderLen, payload, len);
  WriteEthernet(out, e, v6);
  if (v6) {
    WriteIpv6(out + kEtherHeaderLen, 0, udp_len, e);
  } else {
    WriteIpv4(out + kEtherHeaderLen, 0, udp_len, e);
  }
  return kEtherHeaderLen + l3 + udp_len;
}

}  // namespace rtplatch
