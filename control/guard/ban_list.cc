#include "control/guard/ban_list.h"

#include <algorithm>
#include <utility>

namespace rtplatch {

BanList::BanList(size_t max_bans) : max_bans_(std::max<size_t>(max_bans, 1)) {}

bool BanList::Drops(const IpAddress& source, int64_t now_ms) {
  auto it = bans_.find(source);
  if (it == bans_.end()) return false;
  if (it->second.until_ms <= now_ms) {
    bans_.erase(it);
    return false;
  }
  ++it->second.dropped;
  return true;
}

void BanList::Ban(const IpAddress& source, int64_t now_ms, int64_t duration_ms,
                  std::string reason) {
  const int64_t until = now_ms + std::max<int64_t>(duration_ms, 0);
  auto it = bans_.find(source);
  if (it != bans_.end() && it->second.until_ms > now_ms) {
    it->second.until_ms = std::max(it->second.until_ms, until);
    it->second.reason = std::move(reason);
    return;
  }
  if (it == bans_.end() && bans_.size() >= max_bans_) MakeRoom(now_ms);
  ++issued_;
  bans_[source] = SourceBan{source, now_ms, until, std::move(reason), 0};
}

bool BanList::Unban(const IpAddress& source) { return bans_.erase(source) > 0; }

std::vector<SourceBan> BanList::Live(int64_t now_ms) const {
  std::vector<SourceBan> live;
  for (const auto& [ip, ban] : bans_) {
    if (ban.until_ms > now_ms) live.push_back(ban);
  }
  std::sort(live.begin(), live.end(), [](const SourceBan& a, const SourceBan& b) {
    return a.until_ms != b.until_ms ? a.until_ms > b.until_ms
                                    : a.source.ToString() < b.source.ToString();
  });
  return live;
}

size_t BanList::Expire(int64_t now_ms) {
  return absl::erase_if(bans_, [now_ms](const auto& kv) { return kv.second.until_ms <= now_ms; });
}

void BanList::MakeRoom(int64_t now_ms) {
  if (Expire(now_ms) > 0) return;
  // All live: evict the sampled ban that would end soonest. A sample keeps
  // a ban O(1) while a flood of new sources meets a full list.
  auto victim = bans_.begin();
  int seen = 0;
  for (auto it = bans_.begin(); it != bans_.end() && seen < kEvictionSample; ++it, ++seen) {
    if (it->second.until_ms < victim->second.until_ms) victim = it;
  }
  bans_.erase(victim);
  ++evicted_;
}

}  // namespace rtplatch
