// Latching as a pure decision: (flow state, packet source, SSRC, time,
// config) -> verdict. No DPDK here; latch_test.cc drives every policy.
//
// Preference order while learning (after rtpengine): the SDP-signalled
// address first; otherwise the first valid source. Once the window closes
// the peer is locked; a new source may take over only if the locked peer
// has been silent for `relatch_silence_ns` and the newcomer is the same IP
// (NAT rebinding gave it a new port) or continues the same SSRC. Under the
// strict policy the newcomer must also be the signalled IP. Everything else
// is dropped with a reason: that is the RTP Bleed defence.
#pragma once

#include <cstdint>

#include "common/drop_reason.h"
#include "common/ip_address.h"
#include "dataplane/fastpath/flow.h"

namespace rtplatch {

struct LatchConfig {
  uint16_t window_packets = 10;         // learning ends after this many...
  uint64_t window_ns = 3'000'000'000;   // ...or this long after the first
  uint64_t relatch_silence_ns = 2'000'000'000;
};

enum class LatchVerdict : uint8_t { kForward, kLatch, kRelatch, kDrop };

struct LatchDecision {
  LatchVerdict verdict;
  DropReason reason;  // meaningful for kDrop only
};

struct PacketSource {
  IpAddress ip;
  uint16_t port;  // host order
  uint32_t ssrc;
};

LatchDecision DecideLatch(const Flow& flow, const PacketSource& src,
                          uint64_t now_ns, const LatchConfig& config);

// Applies an accepted decision (not kDrop) to the flow: peer, state, window
// accounting and lock. Returns true if the latched peer changed, so the
// caller refreshes the partner's egress and reports an event.
bool ApplyLatch(Flow& flow, LatchDecision decision, const PacketSource& src,
                uint64_t now_ns, const LatchConfig& config);

}  // namespace rtplatch
