// Answers to ng requests, kept so that a retransmission gets the same
// answer without the command running twice (issue 14). Kamailio resends a
// request with the same cookie when its answer is late (5 times, 1 s
// apart by default); an offer run twice would allocate twice.
//
// Keyed by the sender and the cookie (two Kamailio nodes may well use the
// same cookie). An answer lives `ttl_ms` (at least 30 s: longer than any
// client's retransmission window); at most `capacity` are kept, the oldest
// going first, so a flood of distinct cookies costs bounded memory. A
// repeat of a request still being answered is reported as such: the first
// one's answer goes to the same address, so the repeat is only counted.
//
// Single-threaded; time comes from the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace rtplatch {

struct NgReplyCacheCounters {
  uint64_t hits = 0;         // repeats answered from the cache
  uint64_t in_progress = 0;  // repeats of a request still being answered
  uint64_t evicted = 0;      // answers dropped early for the capacity
};

class NgReplyCache {
 public:
  NgReplyCache(int64_t ttl_ms = 30000, size_t capacity = 65536)
      : ttl_ms_(ttl_ms), capacity_(capacity == 0 ? 1 : capacity) {}

  enum class Lookup : uint8_t { kNew, kInProgress, kAnswered };
  // kNew: the caller runs the command (now marked in progress) and calls
  // Finish; kAnswered: `*reply` is the answer to send again.
  Lookup Begin(const Endpoint& peer, absl::string_view cookie, int64_t now_ms,
               std::string* reply);
  void Finish(const Endpoint& peer, absl::string_view cookie, std::string reply, int64_t now_ms);

  size_t size() const { return entries_.size(); }
  const NgReplyCacheCounters& counters() const { return counters_; }

 private:
  struct Key {
    Endpoint peer;
    std::string cookie;
    friend bool operator==(const Key&, const Key&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.peer, k.cookie);
    }
  };
  struct Entry {
    bool answered = false;
    std::string reply;
    int64_t expires_ms = 0;
    uint64_t generation = 0;  // matches its place in order_
  };
  void Expire(int64_t now_ms);

  int64_t ttl_ms_;
  size_t capacity_;
  absl::flat_hash_map<Key, Entry> entries_;
  // Insertion order = expiry order (one ttl for all): (generation, key).
  std::deque<std::pair<uint64_t, Key>> order_;
  uint64_t next_generation_ = 0;
  NgReplyCacheCounters counters_;
};

}  // namespace rtplatch
