// One NAT keepalive target: where to send, from which relay address and
// port, what, how often. One cache line; an lcore holds millions of them in
// a ChunkedSlab and schedules them on its TimerWheel.
//
// Writers: the control thread fills the static fields (addresses, ports,
// payload, label-free) before it hands the index to the owning lcore
// through the command ring; from then on only that lcore writes (links,
// interval on update, counters), and the control thread reads counters
// with relaxed loads. A removed index is reused only after the lcore has
// acknowledged the removal (DataplaneEvent::kKeepaliveFreed).
#pragma once

#include <cstdint>

#include "common/ip_address.h"
#include "dataplane/keepalive/timer_wheel.h"

namespace rtplatch {

struct alignas(64) KeepaliveTarget {
  WheelLinks links;       // lcore-owned (TimerWheel)
  IpAddress dst_ip;
  uint16_t dst_port;      // host order
  uint16_t src_port;      // host order
  uint8_t src_addr_id;    // relay address the packet leaves from
  uint8_t armed;          // 1 while the lcore schedules it
  uint16_t payload_id;    // KeepalivePayloads index
  uint32_t interval_ms;
  uint32_t jitter_ms;
  uint32_t sent;
  uint32_t due_ms;        // low 32 bits of the pending send's due time, in ms
  uint64_t last_sent_ns;  // 0: never
};
static_assert(sizeof(KeepaliveTarget) == 64, "one cache line per target");

struct KeepaliveCommand {
  enum class Op : uint8_t { kArm, kUpdate, kRemove };
  Op op;
  uint32_t index;
  uint32_t interval_ms;
  uint32_t jitter_ms;
  uint64_t due_ns;  // kArm: first send (spread over the first interval)
};

}  // namespace rtplatch
