#include "dataplane/fastpath/neighbor_table.h"

namespace rtplatch {

NeighborTable::NeighborTable(uint32_t capacity_log2)
    : mask_((1u << capacity_log2) - 1),
      shift_(64 - capacity_log2),
      entries_(new Entry[mask_ + 1]) {}

uint32_t NeighborTable::Home(const IpAddress& ip) const {
  uint64_t a, b;
  std::memcpy(&a, ip.bytes(), 8);
  std::memcpy(&b, ip.bytes() + 8, 8);
  // Multiplication carries only upwards, so the top bits depend on every
  // input byte (an IPv4 address sits in the top bytes of `b`).
  uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return static_cast<uint32_t>(h >> shift_) & mask_;
}

bool NeighborTable::Lookup(const IpAddress& ip, uint8_t mac[6]) const {
  uint32_t i = Home(ip);
  for (uint32_t probe = 0; probe < kProbeLimit; ++probe, i = (i + 1) & mask_) {
    const Entry& e = entries_[i];
    for (;;) {
      uint32_t before = e.seq.load(std::memory_order_acquire);
      if (before & 1) continue;
      uint8_t used = std::atomic_ref<const uint8_t>(e.used).load(std::memory_order_relaxed);
      if (!used) return false;
      bool hit = e.ip == ip;
      if (hit) std::memcpy(mac, e.mac, 6);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (e.seq.load(std::memory_order_relaxed) != before) continue;
      if (hit) return true;
      break;
    }
  }
  return false;
}

bool NeighborTable::Matches(const IpAddress& ip, const uint8_t mac[6]) const {
  uint8_t known[6];
  return Lookup(ip, known) && std::memcmp(known, mac, 6) == 0;
}

bool NeighborTable::Learn(const IpAddress& ip, const uint8_t mac[6]) {
  uint32_t i = Home(ip);
  for (uint32_t probe = 0; probe < kProbeLimit; ++probe, i = (i + 1) & mask_) {
    Entry& e = entries_[i];
    if (e.used && !(e.ip == ip)) continue;
    e.seq.store(e.seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    if (!e.used) ++used_;
    e.ip = ip;
    std::memcpy(e.mac, mac, 6);
    std::atomic_ref<uint8_t>(e.used).store(1, std::memory_order_relaxed);
    e.seq.store(e.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    version_.store(version_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return true;
  }
  return false;
}

}  // namespace rtplatch
