// One lcore's ICE credentials, by RTP slot: the few streams that answer
// connectivity checks (ng "ICE=force"), looked up only when a STUN message
// arrives. Open addressing with linear probing in one array sized at
// start: Insert and Erase run on the owning lcore (FlowCommands), so they
// must not allocate; the control thread caps the streams per lcore at
// `capacity` (StreamRegistry), so Insert never finds the table full.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/fastpath/ice_credentials.h"

namespace rtplatch {

class IceCredentialTable {
 public:
  // Room for `capacity` streams at a load factor of at most one half.
  explicit IceCredentialTable(uint32_t capacity);

  uint32_t capacity() const { return capacity_; }
  uint32_t size() const { return size_; }

  // False only when `capacity` streams are already in (a replaced entry
  // does not count twice).
  bool Insert(uint32_t rtp_slot, const IceCredentials& credentials);
  void Erase(uint32_t rtp_slot);
  const IceCredentials* Find(uint32_t rtp_slot) const;

 private:
  struct Entry {
    uint32_t slot;  // kEmpty: free
    IceCredentials credentials;
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  uint32_t Home(uint32_t slot) const { return (slot * 2654435761u) & mask_; }

  const uint32_t capacity_;
  uint32_t mask_;
  uint32_t size_ = 0;
  std::unique_ptr<Entry[]> entries_;
};

}  // namespace rtplatch
