// Packets kept for a partner that has no destination yet.
//
// When both phones of a call sit behind NAT, the first one to send has no
// address to send to: the other phone's NAT opens only when that phone
// sends its own first packet, and its SDP address is private. Dropping
// those packets clips the first words of every call; keeping them a few
// hundred milliseconds until the partner latches loses nothing (the load
// bench measured one to six lost packets per call before this). Held
// packets are rare (call set-up only), so the lcore sweeps the whole set
// each poll while it is non-empty, and the set is small and fixed.
//
// Per lcore, single threaded, no allocation: a FIFO of at most `Capacity`
// entries kept in arrival order, so a stream's packets leave in the order
// they came.
#pragma once

#include <array>
#include <cstdint>

namespace rtplatch {

template <typename Packet, uint32_t Capacity>
class HeldPackets {
 public:
  struct Entry {
    Packet packet;
    uint32_t slot;        // the flow the packet arrived on
    uint32_t generation;  // that flow's generation then (a reused slot is not the stream)
    uint64_t held_ns;
  };

  bool empty() const { return count_ == 0; }
  uint32_t size() const { return count_; }
  static constexpr uint32_t capacity() { return Capacity; }

  // False when full: the caller drops the packet.
  bool Push(const Packet& packet, uint32_t slot, uint32_t generation, uint64_t now_ns) {
    if (count_ == Capacity) return false;
    entries_[count_++] = Entry{packet, slot, generation, now_ns};
    return true;
  }

  // One pass in arrival order. For each entry: `decide(entry)` returns
  // kRelease (hand it to `release(entry)`), kExpire (to `expire(entry)`)
  // or kKeep. At most `max_release` entries are released per pass (the
  // caller's tx batch); the rest stay, in order.
  enum class Decision : uint8_t { kKeep, kRelease, kExpire };
  template <typename Decide, typename Release, typename Expire>
  void Sweep(uint32_t max_release, Decide&& decide, Release&& release, Expire&& expire) {
    uint32_t kept = 0;
    uint32_t released = 0;
    for (uint32_t i = 0; i < count_; ++i) {
      Entry& e = entries_[i];
      Decision d = decide(static_cast<const Entry&>(e));
      if (d == Decision::kRelease && released < max_release) {
        ++released;
        release(e);
      } else if (d == Decision::kExpire) {
        expire(e);
      } else {
        if (kept != i) entries_[kept] = e;
        ++kept;
      }
    }
    count_ = kept;
  }

  // Hands every entry to `drop` (shutdown) and empties the set.
  template <typename Drop>
  void Clear(Drop&& drop) {
    for (uint32_t i = 0; i < count_; ++i) drop(entries_[i]);
    count_ = 0;
  }

 private:
  std::array<Entry, Capacity> entries_{};
  uint32_t count_ = 0;
};

}  // namespace rtplatch
