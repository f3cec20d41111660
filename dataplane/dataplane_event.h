// What lcores report to the control thread: latches (forwarded to
// subscribers) and next-hop observations (fed into the NeighborTable).
#pragma once

#include <cstdint>

#include "common/ip_address.h"

namespace rtplatch {

struct DataplaneEvent {
  enum class Type : uint8_t { kLatched, kRelatched, kNeighbor };
  Type type;
  uint8_t mac[6];      // kNeighbor
  uint16_t generation; // latches: the flow's install generation
  uint16_t port;       // latches: the new peer's port
  uint32_t slot;
  IpAddress ip;        // new peer, or the neighbor's address
};

}  // namespace rtplatch
