// One lcore's keepalive schedule: applies the control thread's commands to
// its targets and, each poll, hands the due ones to an emitter and re-arms
// them one interval after they were due (not after they were sent, so a
// late poll does not drift the schedule). Plain C++: tests drive it with
// their own clock.
#pragma once

#include <algorithm>
#include <cstdint>

#include "dataplane/keepalive/chunked_slab.h"
#include "dataplane/fastpath/dataplane_event.h"
#include "dataplane/fastpath/flow.h"
#include "dataplane/keepalive/keepalive_target.h"
#include "dataplane/fastpath/spsc_ring.h"
#include "dataplane/keepalive/timer_wheel.h"

namespace rtplatch {

inline constexpr uint64_t kKeepaliveTickNs = 1'000'000;  // 1 ms: 0.1% of a 1 s interval
inline constexpr uint32_t kKeepaliveWheelSlotsLog2 = 16; // 65.5 s span covers the 60 s default

class KeepaliveScheduler {
 public:
  KeepaliveScheduler(ChunkedSlab<KeepaliveTarget>* targets, uint64_t now_ns)
      : targets_(targets), wheel_(targets, kKeepaliveTickNs, kKeepaliveWheelSlotsLog2, now_ns) {}

  // Applies one command; a removal is acknowledged through `events` so the
  // control thread may reuse the index. False if the ack could not be
  // queued (the caller retries the command later).
  bool Apply(const KeepaliveCommand& c, uint64_t now_ns, SpscRing<DataplaneEvent>* events) {
    KeepaliveTarget& t = (*targets_)[c.index];
    switch (c.op) {
      case KeepaliveCommand::Op::kArm:
        t.armed = 1;
        Arm(c.index, t, c.due_ns);
        return true;
      case KeepaliveCommand::Op::kUpdate:
        if (!t.armed) return true;
        RelaxedStore(t.interval_ms, c.interval_ms);
        RelaxedStore(t.jitter_ms, c.jitter_ms);
        // Re-arm with the new interval counted from the last send; if that
        // moment has passed, send now and keep the new period from here.
        Arm(c.index, t,
            std::max((t.last_sent_ns ? t.last_sent_ns : now_ns) + Ns(c.interval_ms), now_ns));
        return true;
      case KeepaliveCommand::Op::kRemove: {
        DataplaneEvent e{};
        e.type = DataplaneEvent::Type::kKeepaliveFreed;
        e.slot = c.index;
        if (!events->Push(e)) return false;
        wheel_.Cancel(c.index);
        t.armed = 0;
        return true;
      }
    }
    return true;
  }

  // Calls emit(index, target) for up to `budget` due targets and re-arms
  // each. Returns how many were due.
  template <typename Emit>
  uint32_t Run(uint64_t now_ns, uint32_t budget, Emit&& emit) {
    return wheel_.Expire(now_ns, budget, [&](uint32_t index) {
      KeepaliveTarget& t = (*targets_)[index];
      const uint64_t now_ms = now_ns / kKeepaliveTickNs;
      const uint32_t late_ms = static_cast<uint32_t>(now_ms) - t.due_ms;
      const uint64_t interval_ns = Ns(t.interval_ms);
      emit(index, t);
      // Next due: one interval after this one was due; if we fell behind
      // by more than an interval, start afresh from now.
      // The tick this send was due in, from whole ticks: now's sub-tick
      // part must not leak into the next due time (it would round up a
      // tick and stretch every period).
      const uint64_t due_ns = (now_ms - late_ms) * kKeepaliveTickNs;
      uint64_t next = due_ns + interval_ns;
      if (next <= now_ns) next = now_ns + interval_ns;  // fell an interval behind
      next += Jitter(t.jitter_ms);
      // Never due again in this poll (a late timer with negative jitter
      // would otherwise fire twice).
      if (next <= now_ns) next = now_ns + kKeepaliveTickNs;
      Arm(index, t, next);
    });
  }

  size_t armed() const { return wheel_.scheduled(); }

 private:
  static uint64_t Ns(uint32_t ms) { return uint64_t{ms} * 1'000'000; }

  // Due times are whole ticks, so lateness is measured exactly and the
  // schedule neither drifts nor jitters by a fraction of a tick.
  void Arm(uint32_t index, KeepaliveTarget& t, uint64_t due_ns) {
    due_ns = (due_ns + kKeepaliveTickNs - 1) / kKeepaliveTickNs * kKeepaliveTickNs;
    t.due_ms = static_cast<uint32_t>(due_ns / kKeepaliveTickNs);
    wheel_.Schedule(index, due_ns);
  }

  // Uniform in [-jitter, +jitter] ms, from a per-lcore xorshift (no libc).
  int64_t JitterNs(uint32_t jitter_ms) {
    if (jitter_ms == 0) return 0;
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    uint64_t span = 2 * Ns(jitter_ms) + 1;
    return static_cast<int64_t>(rng_ % span) - static_cast<int64_t>(Ns(jitter_ms));
  }
  uint64_t Jitter(uint32_t jitter_ms) { return static_cast<uint64_t>(JitterNs(jitter_ms)); }

  ChunkedSlab<KeepaliveTarget>* targets_;
  TimerWheel<KeepaliveTarget> wheel_;
  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace rtplatch
