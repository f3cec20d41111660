// The relay's own addresses (IPv4 and IPv6), numbered 0..n-1: the fixed
// ones first, then the standby ones (VIPs this node may take over, with
// their ports reserved in the flow table from the start). The fast path
// maps a destination IP to its id: IPv4 through a small open-addressed
// table, IPv6 by a short scan (deployments have a handful of v6 addresses).
// Whether the node holds an address now is `holding()` (address_holding.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "dataplane/fastpath/address_holding.h"

namespace rtplatch {

inline constexpr uint8_t kNoAddress = UINT8_MAX;

class RelayAddresses {
 public:
  // Fixed addresses are held from the start; standby ones are not.
  static absl::StatusOr<RelayAddresses> Create(std::vector<IpAddress> fixed,
                                               std::vector<IpAddress> standby = {});

  size_t size() const { return addresses_.size(); }
  const IpAddress& at(uint8_t id) const { return addresses_[id]; }
  const std::vector<IpAddress>& all() const { return addresses_; }
  bool is_standby(uint8_t id) const { return id >= fixed_count_; }
  bool held(uint8_t id) const { return holding_->held(id); }
  // Shared with the lcores: the control thread takes and releases through it.
  AddressHolding& holding() const { return *holding_; }
  // Either family; kNoAddress if `ip` is not one of them.
  uint8_t Find(const IpAddress& ip) const;

  // `be_addr` as it sits in the IPv4 header (network order).
  uint8_t FindV4(uint32_t be_addr) const {
    uint32_t i = Hash(be_addr);
    for (;;) {
      const V4Slot& s = v4_table_[i];
      if (s.id == kNoAddress) return kNoAddress;
      if (s.be_addr == be_addr) return s.id;
      i = (i + 1) & (kV4TableSize - 1);
    }
  }
  uint8_t FindV6(const uint8_t* addr16) const;

 private:
  static constexpr uint32_t kV4TableSize = 256;  // > 2 x kMaxRelayAddresses
  struct V4Slot {
    uint32_t be_addr = 0;
    uint8_t id = kNoAddress;
  };
  static uint32_t Hash(uint32_t v) {
    return (v * 2654435761u) >> 24;  // top 8 bits: kV4TableSize == 256
  }

  std::vector<IpAddress> addresses_;
  size_t fixed_count_ = 0;
  std::unique_ptr<AddressHolding> holding_;
  std::array<V4Slot, kV4TableSize> v4_table_{};
  std::vector<uint8_t> v6_ids_;
};

}  // namespace rtplatch
