// Which relay addresses this node holds now, shared between the control
// thread (the writer) and the lcores (readers). A fixed address is held
// for the process's life; a standby address (a VIP that keepalived moves
// between nodes, docs/cluster.md) is taken and released at runtime. The
// lcores relay nothing to, and send no keepalive from, an address not
// held, so of two nodes configured with the same VIP only the holder ever
// speaks for it, whatever the control planes believe.
//
// A take also asks lcore 0 to announce the address from the NIC
// (gratuitous ARP, unsolicited Neighbor Advertisement): kAnnouncements
// frames, kAnnounceIntervalNs apart, so the switch and the gateway move
// their entries to this node even if one frame is lost.
//
// Lock-free: one atomic flag and one atomic countdown per address.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace rtplatch {

inline constexpr size_t kMaxRelayAddresses = 128;

class AddressHolding {
 public:
  static constexpr uint8_t kAnnouncements = 3;
  static constexpr uint64_t kAnnounceIntervalNs = 200'000'000;

  bool held(uint8_t id) const { return held_[id].load(std::memory_order_acquire); }

  // Before the lcores start: a fixed address, the node's before the
  // process was, is held and announced by no one.
  void HoldFromStart(uint8_t id) { held_[id].store(true, std::memory_order_relaxed); }

  // Control thread. Taking asks for the announcements; releasing cancels
  // any still due.
  void Take(uint8_t id) {
    held_[id].store(true, std::memory_order_release);
    if (announce_left_[id].exchange(kAnnouncements, std::memory_order_acq_rel) == 0) {
      announcing_.fetch_add(1, std::memory_order_release);
    }
  }
  void Release(uint8_t id) {
    held_[id].store(false, std::memory_order_release);
    if (announce_left_[id].exchange(0, std::memory_order_acq_rel) != 0) {
      announcing_.fetch_sub(1, std::memory_order_release);
    }
  }

  // Lcore 0: whether any address has announcements left (one load per
  // poll), and taking one of them for `id` (false if none is left).
  bool announcing() const { return announcing_.load(std::memory_order_acquire) != 0; }
  uint8_t announcements_left(uint8_t id) const {
    return announce_left_[id].load(std::memory_order_acquire);
  }
  bool TakeAnnouncement(uint8_t id) {
    uint8_t left = announce_left_[id].load(std::memory_order_acquire);
    while (left != 0) {
      if (announce_left_[id].compare_exchange_weak(left, static_cast<uint8_t>(left - 1),
                                                   std::memory_order_acq_rel)) {
        if (left == 1) announcing_.fetch_sub(1, std::memory_order_release);
        return true;
      }
    }
    return false;
  }

 private:
  std::array<std::atomic<bool>, kMaxRelayAddresses> held_{};
  std::array<std::atomic<uint8_t>, kMaxRelayAddresses> announce_left_{};
  std::atomic<uint32_t> announcing_{0};  // addresses with announcements left
};

}  // namespace rtplatch
