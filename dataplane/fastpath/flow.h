// One relay port's state: a Flow. A stream is an RTP flow plus its RTCP
// flow on port+1; a pair is two streams whose flows are partners. Packets
// arriving at a flow leave from its partner's relay port towards the
// partner's peer. Each flow has exactly one writer, its owning lcore.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "common/ip_address.h"
#include "common/latch_policy.h"

namespace rtplatch {

enum class LatchState : uint8_t {
  kFree,       // slot not allocated
  kUnlatched,  // allocated, no accepted packet yet
  kLearning,   // latched, learning window still open
  kLocked,     // latched, window closed: only the peer (or a strict re-latch)
};

inline constexpr size_t kLatchStateCount = 4;

std::string_view LatchStateName(LatchState s);

inline constexpr uint8_t kFlowRtcp = 1 << 0;         // the odd (RTCP) port
inline constexpr uint8_t kFlowEgressReady = 1 << 1;  // egress_* valid
inline constexpr uint8_t kFlowRtcpMux = 1 << 2;      // RTCP shares the RTP port

inline constexpr uint32_t kNoSlot = UINT32_MAX;

// Two cache lines. The fast path reads and writes only the first one for
// a packet from the locked peer; the second is for latching and control.
struct alignas(64) Flow {
  // ---- line 1: per packet ----
  LatchState state;
  LatchPolicy policy;
  uint8_t flags;
  uint8_t egress_addr_id;    // relay address the relayed packet leaves from
  uint16_t egress_src_port;  // partner's relay port, host order
  uint16_t egress_dst_port;  // host order
  uint16_t peer_port;        // latched peer's port, host order
  uint16_t window_packets;   // packets accepted while learning
  uint32_t partner_slot;
  IpAddress peer_ip;         // latched peer
  IpAddress egress_dst_ip;   // where packets arriving here are sent
  uint64_t last_rx_ns;       // read by the control thread (idle timeout)
  uint64_t packets;          // relayed from this flow
  // ---- line 2: latching, control, rare counters ----
  IpAddress expected_ip;     // from SDP; unspecified if unknown
  uint16_t expected_port;
  uint16_t generation;       // bumps on every install; events carry it
  uint32_t ssrc;             // SSRC seen at latch time
  uint64_t window_start_ns;
  uint64_t drops;
  uint32_t relatches;
  std::atomic<uint32_t> seq;  // seqlock: odd while the owner rewrites peer/state
  // UDP payload bytes relayed from this flow (rtpengine's "bytes"). On the
  // second line, as the first is full: one more store per relayed packet,
  // within fast_path_bench's run-to-run noise (41/84/127-132 ns per frame
  // at 1k/100k/1M streams with it, 40/86/132 without).
  uint64_t bytes;
};
static_assert(sizeof(Flow) == 128, "Flow must stay two cache lines");

// Control-thread loads of fields the owner lcore stores; a plain mov on
// x86-64, and no data race in the C++ sense.
template <typename T>
inline T RelaxedLoad(const T& field) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
}
template <typename T>
inline void RelaxedStore(T& field, T value) {
  std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
}

// The owner brackets peer/state rewrites with these so the control thread
// can copy a consistent snapshot (see FlowSnapshot in flow_table.h).
inline void SeqlockBeginWrite(Flow& f) {
  f.seq.store(f.seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}
inline void SeqlockEndWrite(Flow& f) {
  f.seq.store(f.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

}  // namespace rtplatch
