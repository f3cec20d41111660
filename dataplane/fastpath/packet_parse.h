// Classifies an Ethernet frame for the fast path: relay traffic (UDP to a
// relay address and port range) versus everything the kernel should see.
#pragma once

#include <cstdint>

#include "common/ip_address.h"
#include "dataplane/fastpath/flow_table.h"

namespace rtplatch {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherHeaderLen = 14;
inline constexpr uint16_t kIpv4HeaderLen = 20;
inline constexpr uint16_t kIpv6HeaderLen = 40;
inline constexpr uint16_t kUdpHeaderLen = 8;
inline constexpr uint8_t kIpProtoUdp = 17;

enum class FrameClass : uint8_t {
  kRelay,      // UDP to a relay port: `slot` is set
  kException,  // anything else: hand to the kernel
  kMalformed,  // addressed to a relay port but broken: drop and count
  kNotHeld,    // to a relay port of a standby address not held now: drop and count
};

struct RelayPacket {
  uint32_t slot = kNoSlot;
  uint16_t udp_offset = 0;
  uint16_t udp_length = 0;  // header + payload
  bool is_v6 = false;
  IpAddress src_ip;
  uint16_t src_port = 0;  // host order
};

FrameClass ClassifyFrame(const uint8_t* frame, uint32_t len,
                         const FlowTable& table, RelayPacket* out);

// A frame the kernel sends (the exception path, towards the NIC) from a
// standby address this node does not hold: SIP or a probe from a VIP the
// other node speaks for now. Dropped, so only the holder ever speaks.
bool FromAddressNotHeld(const uint8_t* frame, uint32_t len, const RelayAddresses& addresses);

// Source MAC and IP of any IPv4/IPv6/ARP frame, for next-hop learning.
bool FrameSender(const uint8_t* frame, uint32_t len, IpAddress* ip, uint8_t mac[6]);

}  // namespace rtplatch
