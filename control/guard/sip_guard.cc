#include "control/guard/sip_guard.h"

#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace rtplatch {

std::vector<std::pair<absl::string_view, uint64_t>> SipGuardCounters::Named() const {
  return {{"dropped_banned", dropped_banned}, {"dropped_flood", dropped_flood},
          {"dropped_scanner", dropped_scanner}, {"flood_bans", flood_bans},
          {"auth_failures", auth_failures},   {"auth_bans", auth_bans}};
}

SipGuard::SipGuard(SipGuardConfig config, std::function<bool(const IpAddress&)> trusted)
    : config_(std::move(config)),
      trusted_(std::move(trusted)),
      bans_(config_.max_bans),
      rates_(config_.rates),
      auth_(config_.auth) {}

namespace {

// 127.0.0.0/8 or ::1: a process on this host (a monitoring agent, a
// co-located proxy); nothing from the network arrives with such a source.
bool IsLoopback(const IpAddress& a) {
  static const IpAddress kV6Loopback = *IpAddress::Parse("::1");
  return a.is_v4() ? (a.v4_host_order() >> 24) == 127 : a == kV6Loopback;
}

}  // namespace

bool SipGuard::Exempt(const IpAddress& source) const {
  if (IsLoopback(source)) return true;
  for (const IpPrefix& p : config_.exempt) {
    if (p.Contains(source)) return true;
  }
  return trusted_ && trusted_(source);
}

IpAddress GuardedSource(const IpAddress& source) {
  if (source.is_v4()) return source;
  IpAddress prefix = source;
  std::memset(prefix.mutable_bytes() + 8, 0, 8);
  return prefix;
}

std::string GuardedSourceName(const IpAddress& guarded) {
  return guarded.is_v4() ? guarded.ToString() : absl::StrCat(guarded.ToString(), "/64");
}

GuardVerdict SipGuard::Inspect(absl::string_view bytes, const IpAddress& real_source,
                               int64_t now_ms) {
  // Exemption first: a ban is on a whole IPv6 /64, which may hold a
  // trusted peer beside the stranger who earned it (found by the
  // sip_guard fuzz target).
  if (Exempt(real_source)) return GuardVerdict::kPass;
  const IpAddress source = GuardedSource(real_source);
  if (bans_.Drops(source, now_ms)) {
    ++counters_.dropped_banned;
    return GuardVerdict::kBanned;
  }
  const SipRequestClass cls = ClassifySipBytes(bytes);
  if (!rates_.Admit(source, cls, now_ms)) {
    ++counters_.dropped_flood;
    ++counters_.flood_bans;
    bans_.Ban(source, now_ms, config_.flood_ban_ms,
              absl::StrCat("flood: over ", config_.rates.per_window[static_cast<size_t>(cls)],
                           " ", SipRequestClassName(cls), " in ", config_.rates.window_ms, " ms"));
    return GuardVerdict::kFlood;
  }
  if (FromScanner(bytes)) {
    ++counters_.dropped_scanner;
    return GuardVerdict::kScanner;
  }
  return GuardVerdict::kPass;
}

bool SipGuard::AuthFailed(const IpAddress& real_source, absl::string_view user,
                          int64_t now_ms) {
  ++counters_.auth_failures;
  if (Exempt(real_source)) return false;
  const IpAddress source = GuardedSource(real_source);
  if (!auth_.Failed(source, user, now_ms)) return false;
  ++counters_.auth_bans;
  bans_.Ban(source, now_ms, config_.auth_ban_ms,
            absl::StrCat("auth: ", config_.auth.per_source, " failures from the source or ",
                         config_.auth.per_user, " for the user in ", config_.auth.window_ms,
                         " ms"));
  return true;
}

void SipGuard::Tick(int64_t now_ms) {
  rates_.Sweep(now_ms);
  auth_.Sweep(now_ms);
  bans_.Expire(now_ms);
}

bool SipGuard::FromScanner(absl::string_view bytes) const {
  if (config_.scanner_user_agents.empty() || absl::StartsWith(bytes, "SIP/")) return false;
  const absl::string_view agent = SniffUserAgent(bytes);
  if (agent.empty()) return false;
  // The list is lower case (sip_guard_config.h).
  const std::string lower = absl::AsciiStrToLower(agent);
  for (const std::string& s : config_.scanner_user_agents) {
    if (absl::StrContains(lower, s)) return true;
  }
  return false;
}

absl::string_view SniffUserAgent(absl::string_view bytes) {
  constexpr absl::string_view kName = "user-agent";
  size_t pos = bytes.find('\n');  // past the start line
  while (pos != absl::string_view::npos && pos + 1 < bytes.size()) {
    absl::string_view line = bytes.substr(pos + 1);
    const size_t end = line.find('\n');
    line = line.substr(0, end);
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty()) return {};  // the end of the headers
    if (absl::StartsWithIgnoreCase(line, kName)) {
      absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(kName.size()));
      if (absl::ConsumePrefix(&rest, ":")) return absl::StripAsciiWhitespace(rest);
    }
    pos = end == absl::string_view::npos ? end : pos + 1 + end;
  }
  return {};
}

}  // namespace rtplatch
