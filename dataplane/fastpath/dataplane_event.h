// What lcores report to the control thread: latches (forwarded to
// subscribers), next-hop observations (fed into the NeighborTable) and
// keepalive targets they have let go of (their index may be reused).
#pragma once

#include <cstdint>

#include "common/ip_address.h"

namespace rtplatch {

struct DataplaneEvent {
  enum class Type : uint8_t { kLatched, kRelatched, kNeighbor, kKeepaliveFreed };
  Type type;
  uint8_t mac[6];      // kNeighbor
  uint16_t generation; // latches: the flow's install generation
  uint16_t port;       // latches: the new peer's port
  uint32_t slot;        // latches: flow slot; kKeepaliveFreed: target index
  IpAddress ip;        // new peer, or the neighbor's address
};

}  // namespace rtplatch
