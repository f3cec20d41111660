// Sources banned for a while: a flooder (request_rate_limiter) or a
// credential guesser (auth_failure_limiter). Checked before a message is
// parsed, so a banned source costs one hash lookup per datagram.
//
// Bounded: when full, ended bans are forgotten first; if none has ended,
// the one ending soonest among a few sampled makes room. A flood from more
// addresses than the list holds cannot grow it, and the newest offender is
// always banned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/ip_address.h"

namespace rtplatch {

struct SourceBan {
  IpAddress source;
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  std::string reason;    // e.g. "flood: 21 INVITE in 2000 ms"
  uint64_t dropped = 0;  // messages dropped while banned
};

class BanList {
 public:
  static constexpr size_t kDefaultMaxBans = 65536;
  // How many bans a full list looks at to pick the one to evict.
  static constexpr int kEvictionSample = 8;

  explicit BanList(size_t max_bans = kDefaultMaxBans);

  // True, and the drop counted on the ban, if `source` is banned at now_ms.
  bool Drops(const IpAddress& source, int64_t now_ms);
  // Bans `source` until now_ms + duration_ms; a live ban is extended (never
  // shortened) and takes the new reason.
  void Ban(const IpAddress& source, int64_t now_ms, int64_t duration_ms, std::string reason);
  // False if `source` was not banned.
  bool Unban(const IpAddress& source);
  // The bans in force at now_ms, the one ending last first.
  std::vector<SourceBan> Live(int64_t now_ms) const;
  // Forgets ended bans; returns how many.
  size_t Expire(int64_t now_ms);

  size_t size() const { return bans_.size(); }
  uint64_t issued() const { return issued_; }
  uint64_t evicted() const { return evicted_; }

 private:
  void MakeRoom(int64_t now_ms);

  const size_t max_bans_;
  absl::flat_hash_map<IpAddress, SourceBan> bans_;
  uint64_t issued_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace rtplatch
