#include "dataplane/fastpath/ice_credential_table.h"

namespace rtplatch {

IceCredentialTable::IceCredentialTable(uint32_t capacity) : capacity_(capacity) {
  uint32_t buckets = 16;
  while (buckets < 2 * capacity) buckets <<= 1;
  mask_ = buckets - 1;
  entries_ = std::make_unique<Entry[]>(buckets);
  for (uint32_t i = 0; i < buckets; ++i) entries_[i].slot = kEmpty;
}

bool IceCredentialTable::Insert(uint32_t rtp_slot, const IceCredentials& credentials) {
  uint32_t i = Home(rtp_slot);
  while (entries_[i].slot != kEmpty && entries_[i].slot != rtp_slot) i = (i + 1) & mask_;
  if (entries_[i].slot == kEmpty) {
    if (size_ >= capacity_) return false;
    ++size_;
    entries_[i].slot = rtp_slot;
  }
  entries_[i].credentials = credentials;
  return true;
}

const IceCredentials* IceCredentialTable::Find(uint32_t rtp_slot) const {
  for (uint32_t i = Home(rtp_slot); entries_[i].slot != kEmpty; i = (i + 1) & mask_) {
    if (entries_[i].slot == rtp_slot) return &entries_[i].credentials;
  }
  return nullptr;
}

void IceCredentialTable::Erase(uint32_t rtp_slot) {
  uint32_t i = Home(rtp_slot);
  while (entries_[i].slot != rtp_slot) {
    if (entries_[i].slot == kEmpty) return;
    i = (i + 1) & mask_;
  }
  // Backward-shift deletion: move later entries of the cluster into the
  // hole when their home does not lie (cyclically) in (hole, j], so every
  // probe sequence stays unbroken without tombstones.
  uint32_t hole = i;
  for (uint32_t j = (i + 1) & mask_; entries_[j].slot != kEmpty; j = (j + 1) & mask_) {
    const uint32_t home = Home(entries_[j].slot);
    const bool stays = ((j - home) & mask_) < ((j - hole) & mask_);
    if (stays) continue;
    entries_[hole] = entries_[j];
    hole = j;
  }
  entries_[hole].slot = kEmpty;
  --size_;
}

}  // namespace rtplatch
