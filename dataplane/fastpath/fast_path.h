// The per-packet step of the relay, on raw frame bytes: classify, look up,
// latch, rewrite. No DPDK, so fast_path_test.cc and the micro benchmarks
// drive exactly the code the lcores run. The DPDK glue (lcore_loop.cc)
// only moves mbufs according to the returned action.
#pragma once

#include <cstdint>

#include "common/drop_reason.h"
#include "dataplane/fastpath/dataplane_event.h"
#include "dataplane/fastpath/flow_table.h"
#include "dataplane/fastpath/ice_credential_table.h"
#include "dataplane/fastpath/latch.h"
#include "dataplane/fastpath/lcore_counters.h"
#include "dataplane/fastpath/neighbor_table.h"
#include "dataplane/fastpath/next_hop_cache.h"
#include "dataplane/fastpath/packet_parse.h"
#include "dataplane/fastpath/spsc_ring.h"

namespace rtplatch {

// Everything one lcore's fast path touches, passed explicitly.
struct FastPathContext {
  FlowTable* table;
  const NeighborTable* neighbors;
  NextHopCache* next_hops;  // this lcore's; nullptr: every packet asks `neighbors`
  LcoreCounters* counters;
  SpscRing<DataplaneEvent>* events;
  LatchConfig latch;
  uint8_t relay_mac[6];
  IpAddress gateway_v4;  // unspecified: peers are on-link
  IpAddress gateway_v6;
  uint32_t lcore_index;
  uint32_t lcore_count;
  const IceCredentialTable* ice = nullptr;  // this lcore's; nullptr: no ICE streams
};

enum class PacketAction : uint8_t {
  kTransmit,   // rewritten in place: send on the media port
  kException,  // not ours: hand to the kernel unchanged
  kHandoff,    // relay packet owned by lcore `owner`
  kDrop,       // counted under `reason`
  kSolicit,    // dropped (counted) and the caller should solicit `next_hop`
  kHold,       // the partner has no destination yet: keep the frame as it is
               // and offer it to ForwardHeld later (or drop it: no_peer_known)
};

struct PacketVerdict {
  PacketAction action;
  DropReason reason;
  uint32_t owner;       // kHandoff
  int32_t start_delta;  // kTransmit: move the frame start by this much
  uint32_t length;      // kTransmit: new frame length
  IpAddress next_hop;   // kSolicit
  uint32_t slot = 0;        // kHold: the flow it arrived on
  uint32_t generation = 0;  // kHold: that flow's generation
};

// Classify + process: what tests and benchmarks call.
PacketVerdict ProcessFrame(FastPathContext& ctx, uint8_t* frame, uint32_t len,
                           uint16_t headroom, uint64_t now_ns);

// The same in two steps, so the lcore loop can classify a whole burst,
// prefetch every flow, then process: ClassifyForBurst returns the flow to
// prefetch (nullptr if none); ProcessClassified finishes the packet.
const Flow* ClassifyForBurst(const FastPathContext& ctx, const uint8_t* frame, uint32_t len,
                             FrameClass* cls, RelayPacket* pkt);
PacketVerdict ProcessClassified(FastPathContext& ctx, uint8_t* frame, uint32_t len,
                                uint16_t headroom, uint64_t now_ns, FrameClass cls,
                                const RelayPacket& pkt);

// A frame ProcessClassified asked to hold, offered again (unchanged): sent
// like any relayed packet (kTransmit) once its partner has a destination,
// kHold while it has none, kDrop (unknown_stream) if its stream is gone.
// Latching and per-stream state saw the packet when it arrived; only the
// egress step runs now.
PacketVerdict ForwardHeld(FastPathContext& ctx, uint8_t* frame, uint32_t len, uint16_t headroom);

// Next hop for `dst`: the peer itself if its MAC was seen, else the
// configured gateway. False: nothing known; solicit `*solicit`.
bool NextHopMac(const FastPathContext& ctx, const IpAddress& dst, uint8_t mac[6],
                IpAddress* solicit);

// Reports the frame's sender to the control thread if the neighbor table
// does not already know it (exception-path frames: ARP, ND, SIP).
void ObserveSender(FastPathContext& ctx, const uint8_t* frame, uint32_t len);

}  // namespace rtplatch
