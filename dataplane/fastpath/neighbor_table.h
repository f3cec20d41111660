// Next-hop MACs learned from frames seen on the media port. One writer
// (the control thread, fed by lcores' observations); lcores read without
// locks through a per-entry seqlock. Open addressing, no deletion: an
// entry is overwritten when the same IP shows up with a new MAC.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include "common/ip_address.h"

namespace rtplatch {

class NeighborTable {
 public:
  explicit NeighborTable(uint32_t capacity_log2 = 16);

  // Lcore side. True and fills `mac` if `ip` is known.
  bool Lookup(const IpAddress& ip, uint8_t mac[6]) const;
  // True if the table already maps `ip` to `mac` (no observation needed).
  bool Matches(const IpAddress& ip, const uint8_t mac[6]) const;

  // Bumped by every Learn: lcores' next-hop caches (next_hop_cache.h)
  // drop what they remembered at an older version.
  uint32_t version() const { return version_.load(std::memory_order_acquire); }

  // Control-thread side. False if the probe window is full.
  bool Learn(const IpAddress& ip, const uint8_t mac[6]);
  uint32_t size() const { return used_; }

 private:
  struct Entry {
    std::atomic<uint32_t> seq{0};
    uint8_t used = 0;
    uint8_t mac[6] = {};
    IpAddress ip;
  };
  static constexpr uint32_t kProbeLimit = 16;
  uint32_t Home(const IpAddress& ip) const;

  const uint32_t mask_;
  const uint32_t shift_;  // 64 - log2(capacity): keep the hash's best-mixed top bits
  std::unique_ptr<Entry[]> entries_;
  uint32_t used_ = 0;
  alignas(64) std::atomic<uint32_t> version_{0};  // its own line: lcores read it per packet
};

}  // namespace rtplatch
