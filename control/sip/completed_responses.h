// The answers of completed server transactions, kept so a retransmitted
// request gets the same answer again (RFC 3261 17.2.2, Timer J) without
// reaching the registrar or proxy twice.
//
// At a registrar's rates this is the busiest table of the control plane:
// one insert per request, one lookup per request, one removal per expiry.
// Entries live in a ring in arrival order (which is also expiry order, as
// every entry lives the same Timer J), reused in place so their strings
// keep their capacity; a map from the key's 64-bit hash to the ring slot
// finds them. At `capacity` the oldest entry goes first. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/sip/sip_transport.h"

namespace rtplatch {

class CompletedResponses {
 public:
  struct Entry {
    std::string key;
    std::string response;  // empty: absorb only (an INVITE whose 2xx went out)
    Endpoint dest;         // where the request came from
    SipTransportKind transport = SipTransportKind::kUdp;
    SipChannelId channel = 0;
    int64_t due_ms = 0;
  };

  // A slot keeps string capacity up to this much between uses.
  static constexpr size_t kKeptBytes = 4096;

  explicit CompletedResponses(size_t capacity);

  // The entry for `key`, or nullptr. Valid until the next Remember/Expire.
  const Entry* Find(absl::string_view key) const;

  // Keeps `response` for `key` until due_ms (never earlier than the
  // entries already kept). True if the oldest entry had to go to make room.
  bool Remember(absl::string_view key, absl::string_view response, const Endpoint& dest,
                SipTransportKind transport, SipChannelId channel, int64_t due_ms);

  // Forgets every entry due at or before now_ms.
  void Expire(int64_t now_ms);

  size_t size() const { return count_; }
  size_t capacity() const { return capacity_; }

 private:
  static uint64_t Hash(absl::string_view key);
  // Drops the oldest entry (the ring's tail).
  void PopOldest();

  const size_t capacity_;
  std::vector<Entry> ring_;  // grows to capacity_, then reused
  size_t tail_ = 0;          // the oldest entry's slot
  size_t count_ = 0;
  absl::flat_hash_map<uint64_t, uint32_t> index_;  // Hash(key) -> slot
};

}  // namespace rtplatch
