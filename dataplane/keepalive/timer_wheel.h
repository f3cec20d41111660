// A hashed timing wheel (Varghese & Lauck, scheme 6) for the per-lcore NAT
// keepalive scheduler: up to ~10 M timers, O(1) Schedule/Cancel, and an
// Expire() that costs one compare on the polls (nearly all of them) where
// nothing is due.
//
// Layout. Slot s holds every timer whose due tick (due_ns / tick_ns) is
// congruent to s modulo the slot count, so one slot may hold several
// rounds. Each slot is a doubly linked list threaded through the nodes
// (WheelLinks inside Node, ids as links), appended at the tail so a slot
// fires in Schedule order; the head's `prev` is the tail, which makes the
// append O(1) without a second array of tails.
//
// Unscheduled nodes: links.due_ns == 0 means "not scheduled", so the
// zero-filled nodes a ChunkedSlab hands out are idle without any setup.
// A scheduled node stores the due time it will fire at (>= 1); next/prev
// are meaningless while unscheduled.
//
// Threads: every method is the owner lcore's; no locks, allocation,
// syscalls or exceptions after the constructor.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataplane/keepalive/chunked_slab.h"

namespace rtplatch {

// Embedded in each node; 16 bytes per timer.
struct WheelLinks {
  uint32_t next;    // kNoTimer at the tail
  uint32_t prev;    // the tail, at the head
  uint64_t due_ns;  // 0: not scheduled
};

inline constexpr uint32_t kNoTimer = UINT32_MAX;

template <typename Node>
class TimerWheel {
 public:
  // Nothing is scheduled at 0 ns: zeroed nodes must read as idle.
  static constexpr uint64_t kUnscheduled = 0;
  // 2^24 slots is 64 MiB of heads; a span that long wants a coarser tick.
  static constexpr uint32_t kMaxSlotsLog2 = 24;

  // tick_ns: resolution (e.g. 1 ms); 2^slots_log2 slots (e.g. 2^16 slots
  // of 1 ms span 65.5 s, beyond which timers wait whole rounds); now_ns is
  // the wheel's start. Times are monotonic ns well below 2^63.
  TimerWheel(ChunkedSlab<Node>* nodes, uint64_t tick_ns, uint32_t slots_log2, uint64_t now_ns)
      : nodes_(nodes),
        tick_ns_(tick_ns),
        tick_reciprocal_(UINT64_MAX / tick_ns),
        mask_((uint64_t{1} << slots_log2) - 1),
        heads_(size_t{1} << slots_log2, kNoTimer),
        cursor_tick_(now_ns / tick_ns),
        next_check_ns_((cursor_tick_ + 1) * tick_ns),
        last_now_ns_(now_ns) {
    assert(tick_ns > 0);
    assert(slots_log2 >= 1 && slots_log2 <= kMaxSlotsLog2);
  }
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms `id` for due_ns, moving it if already armed. A due time the wheel
  // has already walked past is stored as the start of the current tick, so
  // it fires on the next Expire (and links.due_ns reads that, not due_ns).
  void Schedule(uint32_t id, uint64_t due_ns) {
    assert(id != kNoTimer);
    WheelLinks& l = Links(id);
    if (l.due_ns != kUnscheduled) Unlink(id, l);
    const uint64_t due = std::max({due_ns, cursor_tick_ * tick_ns_, uint64_t{1}});
    l.due_ns = due;
    Append(id, l, heads_[SlotOf(due)]);
    ++scheduled_;
    if (due < next_check_ns_) next_check_ns_ = due;
  }

  // No-op when `id` is not scheduled; safe from inside Expire's callback.
  void Cancel(uint32_t id) {
    WheelLinks& l = Links(id);
    if (l.due_ns != kUnscheduled) Unlink(id, l);
  }

  bool IsScheduled(uint32_t id) const { return Links(id).due_ns != kUnscheduled; }

  // Fires (unschedules, then calls fn(id)) every timer with due_ns <= now_ns,
  // earlier ticks first and Schedule order within a tick, at most `budget`
  // times; the next call resumes at the slot where this one stopped. fn may
  // Schedule or Cancel any id, including its own, but must not call Expire.
  // A timer fn re-arms for due > now_ns does not fire again in this call;
  // one re-armed (or scheduled) for due <= now_ns does, budget permitting.
  // A clock that steps back never fires anything early: a now_ns below the
  // last walk's is ignored, and one below an earlier fast-path poll's only
  // fires timers due by it. After a jump of more than one wheel span, each
  // slot is walked once and everything due fires, in slot order.
  // Returns the number fired.
  template <typename Fn>
  uint32_t Expire(uint64_t now_ns, uint32_t budget, Fn&& fn) {
    // Every poll of a forwarding lcore lands here; almost always too early.
    if (now_ns < next_check_ns_) return 0;
    return Walk(now_ns, budget, fn);
  }

  size_t scheduled() const { return scheduled_; }
  uint64_t tick_ns() const { return tick_ns_; }

 private:
  WheelLinks& Links(uint32_t id) { return (*nodes_)[id].links; }
  const WheelLinks& Links(uint32_t id) const { return (*nodes_)[id].links; }
  size_t SlotOf(uint64_t due_ns) const { return TickOf(due_ns) & mask_; }

  // due_ns / tick_ns_ without a divide instruction (a 64-bit div costs tens
  // of cycles, twice per re-armed timer): multiply by the reciprocal, which
  // undershoots by at most 2, then correct.
  uint64_t TickOf(uint64_t ns) const {
    uint64_t q = static_cast<uint64_t>(
        (static_cast<unsigned __int128>(ns) * tick_reciprocal_) >> 64);
    while (ns - q * tick_ns_ >= tick_ns_) ++q;
    return q;
  }

  void Append(uint32_t id, WheelLinks& l, uint32_t& head) {
    l.next = kNoTimer;
    if (head == kNoTimer) {
      head = id;
      l.prev = id;
      return;
    }
    WheelLinks& h = Links(head);
    Links(h.prev).next = id;
    l.prev = h.prev;
    h.prev = id;
  }

  void Unlink(uint32_t id, WheelLinks& l) {
    const uint32_t next = l.next;
    const uint32_t prev = l.prev;
    uint32_t& head = heads_[SlotOf(l.due_ns)];
    if (id == head) {
      head = next;
      if (next != kNoTimer) Links(next).prev = prev;  // prev was the tail
      if (id == walk_kept_) walk_kept_ = kNoTimer;    // walk restarts at the new head
    } else {
      Links(prev).next = next;
      Links(next != kNoTimer ? next : head).prev = prev;  // head.prev tracks the tail
      if (id == walk_kept_) walk_kept_ = prev;
    }
    l.due_ns = kUnscheduled;
    --scheduled_;
  }

  template <typename Fn>
  uint32_t Walk(uint64_t now_ns, uint32_t budget, Fn& fn) {
    if (now_ns < last_now_ns_) return 0;  // the clock stepped back: keep the later view
    last_now_ns_ = now_ns;
    const uint64_t target = TickOf(now_ns);
    uint64_t tick = cursor_tick_;
    // next_check_ns_ at or past the cursor tick's end: its slot holds
    // nothing of this round, so start after it.
    if (next_check_ns_ >= (tick + 1) * tick_ns_) ++tick;
    if (target < tick) return 0;
    // More than one span behind: one revolution reaches every slot, and
    // everything due in the skipped ticks sits in one of them.
    if (target - tick > mask_) tick = target - mask_;

    uint32_t fired = 0;
    uint64_t soonest = UINT64_MAX;
    for (;; ++tick) {
      cursor_tick_ = tick;  // Schedule() clamps overdue timers into this slot
      soonest = UINT64_MAX;
      if (!WalkSlot(tick, now_ns, budget, fired, soonest, fn)) {
        next_check_ns_ = tick * tick_ns_;  // <= now_ns: the next call resumes here
        return fired;
      }
      if (tick == target) break;
    }
    // Stay on the target slot: timers later in this tick, and overdue ones
    // Schedule() clamps to its start, still belong to it.
    next_check_ns_ = std::min(soonest, (target + 1) * tick_ns_);
    return fired;
  }

  // Fires the due timers of one slot; false when the budget ran out first.
  // walk_kept_ is the last node kept (not due): the next node is always
  // read afresh from it, so fn may unlink any node, and nodes appended
  // during the walk (re-arms into this slot) are still visited.
  template <typename Fn>
  bool WalkSlot(uint64_t tick, uint64_t now_ns, uint32_t budget, uint32_t& fired,
                uint64_t& soonest, Fn& fn) {
    const uint32_t& head = heads_[tick & mask_];
    const uint64_t tick_end_ns = (tick + 1) * tick_ns_;
    walk_kept_ = kNoTimer;
    for (;;) {
      const uint32_t id = walk_kept_ == kNoTimer ? head : Links(walk_kept_).next;
      if (id == kNoTimer) return true;
      WheelLinks& l = Links(id);
      if (l.due_ns > now_ns) {  // later in this tick, or a later round
        if (l.due_ns < tick_end_ns) soonest = std::min(soonest, l.due_ns);
        walk_kept_ = id;
        continue;
      }
      if (fired == budget) return false;
      // The next node's line loads while fn sends its keepalive.
      if (l.next != kNoTimer) __builtin_prefetch(&Links(l.next));
      Unlink(id, l);
      ++fired;
      fn(id);
    }
  }

  ChunkedSlab<Node>* const nodes_;
  const uint64_t tick_ns_;
  const uint64_t tick_reciprocal_;  // floor((2^64 - 1) / tick_ns_)
  const uint64_t mask_;
  std::vector<uint32_t> heads_;  // per slot; kNoTimer when empty
  // Tick of the slot the next walk starts at; every scheduled due_ns is at
  // or after its start, except overdue timers a budget-cut jump has not
  // reached yet (they sit in slots ahead of it, in this revolution).
  uint64_t cursor_tick_;
  // Expire(now < next_check_ns_) has nothing to fire: the soonest due in
  // the cursor slot, or the cursor tick's end, lowered by Schedule().
  uint64_t next_check_ns_;
  uint64_t last_now_ns_;
  uint32_t walk_kept_ = kNoTimer;  // meaningful during WalkSlot only
  size_t scheduled_ = 0;
};

}  // namespace rtplatch
