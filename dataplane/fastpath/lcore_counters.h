// Per-lcore counters: written by one lcore with relaxed stores, summed by
// the control thread on read. Cache-aligned so lcores never share a line.
#pragma once

#include <array>
#include <cstdint>

#include "common/drop_reason.h"
#include "dataplane/fastpath/flow.h"

namespace rtplatch {

struct alignas(64) LcoreCounters {
  uint64_t rx = 0;
  uint64_t rx_bytes = 0;
  uint64_t relayed = 0;
  uint64_t exception_in = 0;   // media port -> kernel
  uint64_t exception_out = 0;  // kernel -> media port
  uint64_t exception_fragments = 0;  // IP fragments of frames too long for the kernel's port
  uint64_t handoff = 0;        // relay packets passed to their owner lcore
  uint64_t held = 0;           // kept until the partner's destination is known
  uint64_t solicits = 0;       // ARP/NS sent for unknown next hops
  uint64_t announcements = 0;  // gratuitous ARP / unsolicited NA for taken addresses
  uint64_t events_lost = 0;    // event ring full
  uint64_t keepalives_sent = 0;
  uint64_t keepalive_cycles = 0;  // TSC cycles spent emitting keepalives
  uint64_t ice_checks_answered = 0;
  uint64_t busy_cycles = 0;
  uint64_t idle_cycles = 0;
  std::array<uint64_t, kDropReasonCount> drops{};

  void Count(uint64_t& field, uint64_t n = 1) { RelaxedStore(field, field + n); }
  void Drop(DropReason r, uint64_t n = 1) { Count(drops[static_cast<size_t>(r)], n); }

  // Sums `other` into this (control thread, relaxed loads).
  void Accumulate(const LcoreCounters& other);
};

inline void LcoreCounters::Accumulate(const LcoreCounters& o) {
  rx += RelaxedLoad(o.rx);
  rx_bytes += RelaxedLoad(o.rx_bytes);
  relayed += RelaxedLoad(o.relayed);
  exception_in += RelaxedLoad(o.exception_in);
  exception_out += RelaxedLoad(o.exception_out);
  exception_fragments += RelaxedLoad(o.exception_fragments);
  handoff += RelaxedLoad(o.handoff);
  held += RelaxedLoad(o.held);
  solicits += RelaxedLoad(o.solicits);
  announcements += RelaxedLoad(o.announcements);
  events_lost += RelaxedLoad(o.events_lost);
  keepalives_sent += RelaxedLoad(o.keepalives_sent);
  keepalive_cycles += RelaxedLoad(o.keepalive_cycles);
  ice_checks_answered += RelaxedLoad(o.ice_checks_answered);
  busy_cycles += RelaxedLoad(o.busy_cycles);
  idle_cycles += RelaxedLoad(o.idle_cycles);
  for (size_t i = 0; i < kDropReasonCount; ++i) drops[i] += RelaxedLoad(o.drops[i]);
}

}  // namespace rtplatch
