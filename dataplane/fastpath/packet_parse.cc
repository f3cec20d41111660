#include "dataplane/fastpath/packet_parse.h"

#include <arpa/inet.h>

#include <cstring>

namespace rtplatch {
namespace {

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return ntohs(v);
}

FrameClass ClassifyV4(const uint8_t* ip, uint32_t l3_len, const FlowTable& table,
                      RelayPacket* out) {
  if (l3_len < kIpv4HeaderLen || (ip[0] >> 4) != 4) return FrameClass::kException;
  uint32_t be_dst;
  std::memcpy(&be_dst, ip + 16, 4);
  uint8_t addr_id = table.addresses().FindV4(be_dst);
  if (addr_id == kNoAddress || ip[9] != kIpProtoUdp) return FrameClass::kException;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  uint32_t total = Load16(ip + 2);
  // Fragments go to the kernel, which reassembles or rejects them.
  if ((Load16(ip + 6) & 0x3fff) != 0) return FrameClass::kException;
  if (ihl < kIpv4HeaderLen || total > l3_len || total < ihl + kUdpHeaderLen) {
    return FrameClass::kMalformed;
  }
  const uint8_t* udp = ip + ihl;
  uint32_t slot = table.SlotOf(addr_id, Load16(udp + 2));
  if (slot == kNoSlot) return FrameClass::kException;  // e.g. SIP on 5060
  // SIP to a VIP still reaches the kernel, which answers for it only once
  // keepalived (or the take) has put it on the exception interface.
  if (!table.addresses().held(addr_id)) return FrameClass::kNotHeld;
  uint32_t udp_len = Load16(udp + 4);
  if (udp_len < kUdpHeaderLen || udp_len > total - ihl) return FrameClass::kMalformed;
  out->slot = slot;
  out->udp_offset = static_cast<uint16_t>(kEtherHeaderLen + ihl);
  out->udp_length = static_cast<uint16_t>(udp_len);
  out->is_v6 = false;
  out->src_ip = IpAddress::FromV4Bytes(ip + 12);
  out->src_port = Load16(udp);
  return FrameClass::kRelay;
}

FrameClass ClassifyV6(const uint8_t* ip, uint32_t l3_len, const FlowTable& table,
                      RelayPacket* out) {
  if (l3_len < kIpv6HeaderLen || (ip[0] >> 4) != 6) return FrameClass::kException;
  uint8_t addr_id = table.addresses().FindV6(ip + 24);
  // Extension headers are rare on media; the kernel handles them.
  if (addr_id == kNoAddress || ip[6] != kIpProtoUdp) return FrameClass::kException;
  uint32_t payload = Load16(ip + 4);
  if (payload + kIpv6HeaderLen > l3_len || payload < kUdpHeaderLen) {
    return FrameClass::kMalformed;
  }
  const uint8_t* udp = ip + kIpv6HeaderLen;
  uint32_t slot = table.SlotOf(addr_id, Load16(udp + 2));
  if (slot == kNoSlot) return FrameClass::kException;
  if (!table.addresses().held(addr_id)) return FrameClass::kNotHeld;
  uint32_t udp_len = Load16(udp + 4);
  if (udp_len < kUdpHeaderLen || udp_len > payload) return FrameClass::kMalformed;
  // An IPv4-mapped source (::ffff:a.b.c.d) never appears on the wire (RFC
  // 4291 2.5.5.2); latched, it would read as IPv4 and the partner's media
  // would leave as IPv4 from this IPv6 relay address (found by the
  // fast_path fuzz target).
  out->src_ip = IpAddress::FromV6Bytes(ip + 8);
  if (out->src_ip.is_v4()) return FrameClass::kMalformed;
  out->slot = slot;
  out->udp_offset = kEtherHeaderLen + kIpv6HeaderLen;
  out->udp_length = static_cast<uint16_t>(udp_len);
  out->is_v6 = true;
  out->src_port = Load16(udp);
  return FrameClass::kRelay;
}

}  // namespace

bool FromAddressNotHeld(const uint8_t* frame, uint32_t len, const RelayAddresses& addresses) {
  if (len < kEtherHeaderLen) return false;
  const uint16_t type = Load16(frame + 12);
  const uint8_t* ip = frame + kEtherHeaderLen;
  uint8_t id = kNoAddress;
  if (type == kEtherTypeIpv4 && len >= kEtherHeaderLen + kIpv4HeaderLen) {
    uint32_t be_src;
    std::memcpy(&be_src, ip + 12, 4);
    id = addresses.FindV4(be_src);
  } else if (type == kEtherTypeIpv6 && len >= kEtherHeaderLen + kIpv6HeaderLen) {
    id = addresses.FindV6(ip + 8);
  }
  return id != kNoAddress && !addresses.held(id);
}

FrameClass ClassifyFrame(const uint8_t* frame, uint32_t len,
                         const FlowTable& table, RelayPacket* out) {
  if (len < kEtherHeaderLen) return FrameClass::kException;
  uint16_t ether_type = Load16(frame + 12);
  const uint8_t* l3 = frame + kEtherHeaderLen;
  uint32_t l3_len = len - kEtherHeaderLen;
  if (ether_type == kEtherTypeIpv4) return ClassifyV4(l3, l3_len, table, out);
  if (ether_type == kEtherTypeIpv6) return ClassifyV6(l3, l3_len, table, out);
  return FrameClass::kException;
}

bool FrameSender(const uint8_t* frame, uint32_t len, IpAddress* ip, uint8_t mac[6]) {
  if (len < kEtherHeaderLen) return false;
  uint16_t ether_type = Load16(frame + 12);
  const uint8_t* l3 = frame + kEtherHeaderLen;
  uint32_t l3_len = len - kEtherHeaderLen;
  if (ether_type == kEtherTypeIpv4 && l3_len >= kIpv4HeaderLen) {
    *ip = IpAddress::FromV4Bytes(l3 + 12);
  } else if (ether_type == kEtherTypeIpv6 && l3_len >= kIpv6HeaderLen) {
    *ip = IpAddress::FromV6Bytes(l3 + 8);
  } else if (ether_type == kEtherTypeArp && l3_len >= 28 && Load16(l3 + 2) == kEtherTypeIpv4) {
    *ip = IpAddress::FromV4Bytes(l3 + 14);  // sender protocol address
  } else {
    return false;
  }
  if (ip->is_unspecified() || (frame[6] & 1)) return false;  // DAD, multicast src
  std::memcpy(mac, frame + 6, 6);
  return true;
}

}  // namespace rtplatch
