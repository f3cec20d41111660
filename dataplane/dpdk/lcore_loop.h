// One forwarding lcore: its queues, its fast-path context, its rings.
// Everything it touches is reachable from its LcoreContext, passed in.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dataplane/fastpath/fast_path.h"
#include "dataplane/fastpath/flow_command.h"
#include "dataplane/fastpath/held_packets.h"
#include "dataplane/keepalive/keepalive_payloads.h"
#include "dataplane/keepalive/keepalive_scheduler.h"
#include "dataplane/dpdk/tsc_clock.h"

namespace rtplatch {

inline constexpr uint16_t kBurstSize = 32;
inline constexpr uint32_t kSolicitMemory = 64;  // recent solicitations remembered
// Packets held for a partner without a destination (held_packets.h): at
// most this many per lcore, each at most kHoldNs. 300 ms covers the gap
// between one phone's first packet and the other's at call set-up (the
// ACK's trip and the far phone's start) with room to spare, and is short
// enough that nothing held plays noticeably late.
inline constexpr uint32_t kHeldCapacity = 512;
inline constexpr uint64_t kHoldNs = 300'000'000;

struct alignas(64) LcoreContext {
  uint32_t lcore_id = 0;
  uint16_t queue = 0;            // this lcore's queue on every port
  uint16_t media_rx_port = 0;
  uint16_t media_tx_port = 0;
  int32_t exception_port = -1;
  uint16_t exception_mtu = 1500;  // longer frames for the kernel are fragmented
  FastPathContext fast{};
  LcoreCounters counters{};
  NextHopCache next_hops;  // fast.next_hops points here
  std::unique_ptr<IceCredentialTable> ice;  // fast.ice points here; FlowCommands fill it
  SpscRing<FlowCommand>* commands = nullptr;
  SpscRing<DataplaneEvent>* events = nullptr;
  SpscRing<KeepaliveCommand>* keepalive_commands = nullptr;
  KeepaliveScheduler* keepalives = nullptr;        // owned by Dataplane
  const KeepalivePayloads* payloads = nullptr;
  const RelayAddresses* addresses = nullptr;
  rte_mempool* pool = nullptr;                     // keepalive frames
  KeepaliveCommand stalled_keepalive_command{};    // removal whose ack did not fit
  bool has_stalled_keepalive_command = false;
  rte_ring* handoff_in = nullptr;          // MP/SC: other lcores' packets for us
  std::vector<rte_ring*> handoff_out;      // by lcore index
  // Lcore 0 announces taken standby addresses (address_holding.h): when
  // each may send its next announcement.
  std::array<uint64_t, kMaxRelayAddresses> next_announce_ns{};
  IpAddress solicit_source_v4;
  IpAddress solicit_source_v6;
  struct RecentSolicit {
    IpAddress target;
    uint64_t ns = 0;
  };
  RecentSolicit recent_solicits[kSolicitMemory];
  HeldPackets<rte_mbuf*, kHeldCapacity> held;
  const TscClock* clock = nullptr;
  const std::atomic<bool>* quit = nullptr;
};

// The lcore's main loop; returns when *ctx.quit becomes true.
int RunLcore(LcoreContext& ctx);

// One poll iteration: drain (commands), media rx, hand-off rx, exception
// rx. Exposed so the DPDK tests can step an lcore on the main thread.
// Returns the number of packets it handled.
uint32_t PollOnce(LcoreContext& ctx);

}  // namespace rtplatch
