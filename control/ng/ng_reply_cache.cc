#include "control/ng/ng_reply_cache.h"

#include <utility>

namespace rtplatch {

void NgReplyCache::Expire(int64_t now_ms) {
  while (!order_.empty()) {
    auto& [generation, key] = order_.front();
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.generation == generation) {
      // The oldest live entry: stop at the first one still valid, unless
      // the cache is over capacity.
      const bool expired = it->second.expires_ms <= now_ms;
      if (!expired && entries_.size() <= capacity_) return;
      if (!expired) ++counters_.evicted;
      entries_.erase(it);
    }
    order_.pop_front();
  }
}

NgReplyCache::Lookup NgReplyCache::Begin(const Endpoint& peer, absl::string_view cookie,
                                         int64_t now_ms, std::string* reply) {
  Expire(now_ms);
  Key key{peer, std::string(cookie)};
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (!it->second.answered) {
      ++counters_.in_progress;
      return Lookup::kInProgress;
    }
    ++counters_.hits;
    if (reply != nullptr) *reply = it->second.reply;
    return Lookup::kAnswered;
  }
  Entry e;
  e.expires_ms = now_ms + ttl_ms_;
  e.generation = ++next_generation_;
  order_.emplace_back(e.generation, key);
  entries_.emplace(std::move(key), std::move(e));
  Expire(now_ms);  // over capacity: the oldest goes
  return Lookup::kNew;
}

void NgReplyCache::Finish(const Endpoint& peer, absl::string_view cookie, std::string reply,
                          int64_t now_ms) {
  auto it = entries_.find(Key{peer, std::string(cookie)});
  if (it == entries_.end()) return;  // evicted meanwhile: nothing to keep
  it->second.answered = true;
  it->second.reply = std::move(reply);
  // The answer lives its full ttl from now; its place in the order stays
  // (at most the time the command took early), which keeps one order.
  it->second.expires_ms = now_ms + ttl_ms_;
}

}  // namespace rtplatch
