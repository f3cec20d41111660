#include "control/sip/completed_responses.h"

#include <algorithm>
#include <limits>

#include "absl/hash/hash.h"

namespace rtplatch {

CompletedResponses::CompletedResponses(size_t capacity)
    : capacity_(std::clamp<size_t>(capacity, 1, std::numeric_limits<uint32_t>::max())) {}

uint64_t CompletedResponses::Hash(absl::string_view key) {
  return absl::Hash<absl::string_view>{}(key);
}

const CompletedResponses::Entry* CompletedResponses::Find(absl::string_view key) const {
  auto it = index_.find(Hash(key));
  if (it == index_.end()) return nullptr;
  const Entry& e = ring_[it->second];
  // Two keys with one hash: the newer one owns the slot mapping, the
  // other is simply not found (it is handled anew, as after expiry).
  return e.key == key ? &e : nullptr;
}

void CompletedResponses::PopOldest() {
  Entry& e = ring_[tail_];
  const uint64_t h = Hash(e.key);
  if (auto it = index_.find(h); it != index_.end() && it->second == tail_) index_.erase(it);
  // Slots keep their strings' capacity for the next answer, but not an
  // outsized one: a burst of huge requests must not stay resident.
  if (e.key.capacity() > kKeptBytes) std::string().swap(e.key);
  if (e.response.capacity() > kKeptBytes) std::string().swap(e.response);
  tail_ = (tail_ + 1) % capacity_;
  --count_;
}

bool CompletedResponses::Remember(absl::string_view key, absl::string_view response,
                                  const Endpoint& dest, SipTransportKind transport,
                                  SipChannelId channel, int64_t due_ms) {
  const bool evicted = count_ == capacity_;
  if (evicted) PopOldest();
  const size_t slot = (tail_ + count_) % capacity_;
  if (slot == ring_.size()) ring_.emplace_back();  // still growing
  Entry& e = ring_[slot];
  e.key.assign(key.data(), key.size());  // reuses the slot's capacity
  e.response.assign(response.data(), response.size());
  e.dest = dest;
  e.transport = transport;
  e.channel = channel;
  e.due_ms = due_ms;
  index_[Hash(key)] = static_cast<uint32_t>(slot);
  ++count_;
  return evicted;
}

void CompletedResponses::Expire(int64_t now_ms) {
  while (count_ > 0 && ring_[tail_].due_ms <= now_ms) PopOldest();
}

}  // namespace rtplatch
