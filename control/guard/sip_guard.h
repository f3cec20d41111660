// The SIP front door's defences against the open internet, in front of the
// parser: sources that flood (over a per-source request rate) or guess
// passwords (too many failed digests) are banned for a while, and requests
// from well-known scanners are dropped without an answer. Built in, so a
// carrier needs neither Kamailio's pike module nor fail2ban around it.
//
// Inspect() runs on every received message before it is parsed: one hash
// lookup for the ban list, one for the rate counters, and for requests a
// scan of the header lines for User-Agent. AuthFailed() is told of every
// failed digest by the proxy; when it says so the request gets 403 and the
// source is banned. The carrier's trusted peers, loopback (this host's
// own processes) and the exempt prefixes are never limited or banned.
//
// An IPv6 source is its /64 (GuardedSource): one subscriber's line gets a
// /64 or more, so counting single addresses would let one attacker send
// from 2^64 of them, past every limit and through the rate table.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/guard/auth_failure_limiter.h"
#include "control/guard/ban_list.h"
#include "control/guard/request_rate_limiter.h"
#include "control/guard/sip_guard_config.h"

namespace rtplatch {

enum class GuardVerdict : uint8_t { kPass, kBanned, kFlood, kScanner };

struct SipGuardCounters {
  uint64_t dropped_banned = 0;   // from a banned source, before parsing
  uint64_t dropped_flood = 0;    // over a rate limit (the source banned)
  uint64_t dropped_scanner = 0;  // a scanner's User-Agent
  uint64_t flood_bans = 0;
  uint64_t auth_failures = 0;    // failed digests seen
  uint64_t auth_bans = 0;        // sources banned (their request got 403)

  // Every counter with the name `rtplatchctl sip-stats` shows it under.
  std::vector<std::pair<absl::string_view, uint64_t>> Named() const;
};

class SipGuard {
 public:
  // `trusted`: sources never limited (the carrier's peers); may be empty.
  SipGuard(SipGuardConfig config, std::function<bool(const IpAddress&)> trusted);

  // A received message's fate before it is parsed.
  GuardVerdict Inspect(absl::string_view bytes, const IpAddress& source, int64_t now_ms);
  // One failed digest for `user` from `source`; true: answer 403, the
  // source is now banned.
  bool AuthFailed(const IpAddress& source, absl::string_view user, int64_t now_ms);
  // Forgets quiet sources and ended bans; call about once a second.
  void Tick(int64_t now_ms);

  BanList& bans() { return bans_; }
  const BanList& bans() const { return bans_; }
  const RequestRateLimiter& rates() const { return rates_; }
  const SipGuardCounters& counters() const { return counters_; }
  const SipGuardConfig& config() const { return config_; }

 private:
  bool Exempt(const IpAddress& source) const;
  bool FromScanner(absl::string_view bytes) const;

  const SipGuardConfig config_;
  const std::function<bool(const IpAddress&)> trusted_;
  BanList bans_;
  RequestRateLimiter rates_;
  AuthFailureLimiter auth_;
  SipGuardCounters counters_;
};

// What the guard counts, limits and bans for a source: an IPv4 address
// itself, an IPv6 address's /64.
IpAddress GuardedSource(const IpAddress& source);
// "192.0.2.7" or "2001:db8:1:2::/64".
std::string GuardedSourceName(const IpAddress& guarded);

// The value of the first User-Agent header line of a raw SIP message, up
// to the end of its line; empty if there is none before the body.
absl::string_view SniffUserAgent(absl::string_view bytes);

}  // namespace rtplatch
