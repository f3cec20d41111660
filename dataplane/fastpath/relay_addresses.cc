#include "dataplane/fastpath/relay_addresses.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace rtplatch {

absl::StatusOr<RelayAddresses> RelayAddresses::Create(std::vector<IpAddress> fixed,
                                                      std::vector<IpAddress> standby) {
  if (fixed.empty()) {
    return absl::InvalidArgumentError("relay_addresses: at least one address needed");
  }
  const size_t fixed_count = fixed.size();
  std::vector<IpAddress> addresses = std::move(fixed);
  addresses.insert(addresses.end(), standby.begin(), standby.end());
  if (addresses.size() > kMaxRelayAddresses) {
    return absl::InvalidArgumentError(absl::StrCat(
        "relay_addresses: at most ", kMaxRelayAddresses,
        " addresses with the standby ones, got ", addresses.size()));
  }
  RelayAddresses r;
  r.fixed_count_ = fixed_count;
  r.holding_ = std::make_unique<AddressHolding>();
  for (size_t id = 0; id < addresses.size(); ++id) {
    const IpAddress& a = addresses[id];
    const char* field = id < fixed_count ? "relay_addresses" : "standby_addresses";
    if (a.is_unspecified()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": unspecified address"));
    }
    for (size_t j = 0; j < id; ++j) {
      if (addresses[j] == a) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": duplicate ", a.ToString()));
      }
    }
    if (id < fixed_count) r.holding_->HoldFromStart(static_cast<uint8_t>(id));
    if (a.is_v4()) {
      uint32_t be;
      std::memcpy(&be, a.v4_bytes(), 4);
      uint32_t i = Hash(be);
      while (r.v4_table_[i].id != kNoAddress) i = (i + 1) & (kV4TableSize - 1);
      r.v4_table_[i] = {be, static_cast<uint8_t>(id)};
    } else {
      r.v6_ids_.push_back(static_cast<uint8_t>(id));
    }
  }
  r.addresses_ = std::move(addresses);
  return r;
}

uint8_t RelayAddresses::Find(const IpAddress& ip) const {
  if (!ip.is_v4()) return FindV6(ip.bytes());
  uint32_t be;
  std::memcpy(&be, ip.v4_bytes(), 4);
  return FindV4(be);
}

uint8_t RelayAddresses::FindV6(const uint8_t* addr16) const {
  for (uint8_t id : v6_ids_) {
    if (std::memcmp(addresses_[id].bytes(), addr16, 16) == 0) return id;
  }
  return kNoAddress;
}

}  // namespace rtplatch
