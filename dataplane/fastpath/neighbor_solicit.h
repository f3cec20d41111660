// Frames that ask "who has this IP": an ARP request for IPv4, a Neighbor
// Solicitation (RFC 4861) for IPv6. Sent from the NIC when a relayed
// packet's next hop has no MAC yet; the reply teaches the NeighborTable.
// And frames that tell the segment an address is now here, sent when a
// standby address is taken over (address_holding.h).
#pragma once

#include <cstdint>

#include "common/ip_address.h"

namespace rtplatch {

inline constexpr uint32_t kSolicitFrameMax = 86;

// Writes the frame into `out` (kSolicitFrameMax bytes) and returns its
// length. `source` must be of the same family as `target`.
uint32_t BuildSolicit(uint8_t* out, const uint8_t src_mac[6], const IpAddress& source,
                      const IpAddress& target);

// A gratuitous ARP (a request from and for `address`, RFC 5227 3) or an
// unsolicited Neighbor Advertisement to all nodes with the Override flag
// (RFC 4861 7.2.6), into `out` (kSolicitFrameMax bytes); returns its length.
uint32_t BuildAnnouncement(uint8_t* out, const uint8_t src_mac[6], const IpAddress& address);

}  // namespace rtplatch
