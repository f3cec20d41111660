// One lcore's memory of the IPv4 next hops it resolved: direct-mapped by
// destination, 256 entries (4 KB: stays in L1, where the shared neighbor
// table's 2 MB does not), each stamped with the neighbor table's version
// when it was filled. Every Learn bumps that version, so an entry is never
// used once the lcore has seen a newer one: a neighbor's new MAC, or a
// destination that became known on-link instead of through the gateway.
// Owned and used by one lcore only: no atomics, no locks.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace rtplatch {

class NextHopCache {
 public:
  // True and `mac` if `dst4` (network order) was remembered at `version`.
  bool Find(uint32_t dst4, uint32_t version, uint8_t mac[6]) const {
    const Entry& e = entries_[Index(dst4)];
    if (!e.valid || e.dst4 != dst4 || e.version != version) return false;
    std::memcpy(mac, e.mac, 6);
    return true;
  }

  void Remember(uint32_t dst4, uint32_t version, const uint8_t mac[6]) {
    Entry& e = entries_[Index(dst4)];
    e.dst4 = dst4;
    e.version = version;
    std::memcpy(e.mac, mac, 6);
    e.valid = 1;
  }

 private:
  struct Entry {
    uint32_t dst4 = 0;
    uint32_t version = 0;
    uint8_t mac[6] = {};
    uint8_t valid = 0;
  };
  static uint32_t Index(uint32_t dst4) { return (dst4 * 0x9e3779b1u) >> 24; }

  std::array<Entry, 256> entries_{};
};

}  // namespace rtplatch
