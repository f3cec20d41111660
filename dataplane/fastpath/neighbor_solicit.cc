#include "dataplane/fastpath/neighbor_solicit.h"

#include <arpa/inet.h>

#include <cstring>

#include "dataplane/fastpath/checksum.h"
#include "dataplane/fastpath/packet_parse.h"

namespace rtplatch {
namespace {

constexpr uint32_t kMinFrame = 60;  // Ethernet minimum without FCS
constexpr uint8_t kIcmpv6 = 58;
constexpr uint8_t kNeighborSolicitation = 135;
constexpr uint8_t kNeighborAdvertisement = 136;
constexpr uint8_t kOverrideFlag = 0x20;  // O: replace the cached link-layer address

void Store16(uint8_t* p, uint16_t host) {
  uint16_t v = htons(host);
  std::memcpy(p, &v, 2);
}

uint32_t BuildArp(uint8_t* out, const uint8_t mac[6], const IpAddress& source,
                  const IpAddress& target) {
  std::memset(out, 0, kMinFrame);
  std::memset(out, 0xff, 6);
  std::memcpy(out + 6, mac, 6);
  Store16(out + 12, kEtherTypeArp);
  uint8_t* arp = out + kEtherHeaderLen;
  Store16(arp, 1);               // Ethernet
  Store16(arp + 2, kEtherTypeIpv4);
  arp[4] = 6;
  arp[5] = 4;
  Store16(arp + 6, 1);           // request
  std::memcpy(arp + 8, mac, 6);
  std::memcpy(arp + 14, source.v4_bytes(), 4);
  std::memcpy(arp + 24, target.v4_bytes(), 4);
  return kMinFrame;
}

// An ICMPv6 neighbor discovery message (RFC 4861 4.3, 4.4) of 24 bytes
// plus one link-layer address option carrying `mac`.
struct NdMessage {
  uint8_t type;           // kNeighborSolicitation or kNeighborAdvertisement
  uint8_t flags;          // the advertisement's R, S, O bits (top byte)
  uint8_t option;         // 1: source, 2: target link-layer address
  const uint8_t* dst_ip;  // 16 bytes
  const uint8_t* dst_mac;
};

uint32_t BuildNd(uint8_t* out, const uint8_t mac[6], const IpAddress& source,
                 const IpAddress& target, const NdMessage& m) {
  constexpr uint16_t kIcmpLen = 32;  // type..target (24) + link-layer option (8)
  std::memset(out, 0, kSolicitFrameMax);
  std::memcpy(out, m.dst_mac, 6);
  std::memcpy(out + 6, mac, 6);
  Store16(out + 12, kEtherTypeIpv6);
  uint8_t* ip = out + kEtherHeaderLen;
  ip[0] = 0x60;
  Store16(ip + 4, kIcmpLen);
  ip[6] = kIcmpv6;
  ip[7] = 255;  // RFC 4861 requires hop limit 255
  std::memcpy(ip + 8, source.bytes(), 16);
  std::memcpy(ip + 24, m.dst_ip, 16);
  uint8_t* icmp = ip + kIpv6HeaderLen;
  icmp[0] = m.type;
  icmp[4] = m.flags;
  std::memcpy(icmp + 8, target.bytes(), 16);
  icmp[24] = m.option;
  icmp[25] = 1;  // length in units of 8 bytes
  std::memcpy(icmp + 26, mac, 6);
  uint32_t sum = ChecksumAdd(0, ip + 8, 32);
  sum += htons(kIcmpLen);
  sum += htons(kIcmpv6);
  sum = ChecksumAdd(sum, icmp, kIcmpLen);
  uint16_t c = ChecksumFinish(sum);
  std::memcpy(icmp + 2, &c, 2);
  return kEtherHeaderLen + kIpv6HeaderLen + kIcmpLen;
}

uint32_t BuildNs(uint8_t* out, const uint8_t mac[6], const IpAddress& source,
                 const IpAddress& target) {
  const uint8_t* t = target.bytes();
  const uint8_t group[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15]};
  const uint8_t dst_mac[6] = {0x33, 0x33, 0xff, t[13], t[14], t[15]};
  return BuildNd(out, mac, source, target, {kNeighborSolicitation, 0, 1, group, dst_mac});
}

}  // namespace

uint32_t BuildSolicit(uint8_t* out, const uint8_t src_mac[6], const IpAddress& source,
                      const IpAddress& target) {
  return target.is_v4() ? BuildArp(out, src_mac, source, target)
                        : BuildNs(out, src_mac, source, target);
}

uint32_t BuildAnnouncement(uint8_t* out, const uint8_t src_mac[6], const IpAddress& address) {
  if (address.is_v4()) return BuildArp(out, src_mac, address, address);
  static constexpr uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr uint8_t kAllNodesMac[6] = {0x33, 0x33, 0, 0, 0, 1};
  return BuildNd(out, src_mac, address, address,
                 {kNeighborAdvertisement, kOverrideFlag, 2, kAllNodes, kAllNodesMac});
}

}  // namespace rtplatch
