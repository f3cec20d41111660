// The SIP guard (control/guard/sip_guard.h) on raw datagrams, before any
// parse: Inspect, and the sniffers it runs on the bytes (the method's
// class, ClassifySipBytes; the User-Agent, SniffUserAgent). The guard is
// the default one (scanner User-Agents dropped) with small bounds, so the
// fuzzer reaches them: 16 tracked sources, 8 bans, 16 failure counts.
//
// Input: three control bytes, then the datagram, inspected once per round
// from a walk over kSources (a fresh guard per input: reproducible).
//   [0] rounds - 1 (low 6 bits); kAuthFailures; kTick
//   [1] the first source (index into kSources)
//   [2] low nibble: the walk's stride; high nibble h: h*h*10 ms between rounds
//
// Checked besides ASan/UBSan: the verdict is a known one and each is
// counted once; the guard's state stays within its bounds; exempt
// sources (loopback, exempt prefix, trusted peer) always pass; a scanner
// is dropped exactly when its User-Agent names one; the sniffed method is
// the datagram's first token; the sniffed User-Agent is the trimmed value
// of a User-Agent header line within the datagram's header.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/guard/sip_guard.h"

namespace rtplatch {
namespace {

constexpr size_t kControlBytes = 3;
constexpr uint8_t kRoundsMask = 0x3f;
constexpr uint8_t kAuthFailures = 1 << 6;  // each round: a failed digest for "alice"
constexpr uint8_t kTick = 1 << 7;          // each round: the once-a-second sweep

// More sources than the rate limiter tracks, of both families (IPv6 ones
// counted by their /64), and the ones it never limits.
const char* const kSources[] = {
    "203.0.113.1",  "203.0.113.2",  "203.0.113.3",  "203.0.113.4",  "203.0.113.5",
    "203.0.113.6",  "203.0.113.7",  "203.0.113.8",  "203.0.113.9",  "203.0.113.10",
    "203.0.113.11", "203.0.113.12", "203.0.113.13", "203.0.113.14", "203.0.113.15",
    "203.0.113.16", "203.0.113.17", "203.0.113.18", "203.0.113.19", "203.0.113.20",
    "2001:db8::1",  "2001:db8::2",  "2001:db8::3",  "2001:db8::4",
    "127.0.0.1",    "::1",          "198.51.100.7",  // loopback, exempt prefix
    "192.0.2.50",                                    // the trusted peers
    "2001:db8:5::1",  "2001:db8:5::66",              // one of them, a stranger in its /64
};
constexpr size_t kSourceCount = sizeof(kSources) / sizeof(kSources[0]);

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

const IpAddress& SourceAt(size_t i) {
  static const std::vector<IpAddress> parsed = [] {
    std::vector<IpAddress> v;
    for (const char* s : kSources) v.push_back(Ip(s));
    return v;
  }();
  return parsed[i];
}

SipGuardConfig Config() {
  SipGuardConfig c;  // the default, scanner User-Agents included
  c.rates.max_sources = 16;
  c.max_bans = 8;
  c.auth.max_entries = 16;
  c.exempt.push_back(*IpPrefix::Parse("198.51.100.0/24"));
  return c;
}

bool Trusted(const IpAddress& ip) {
  static const IpAddress kTrusted4 = Ip("192.0.2.50"), kTrusted6 = Ip("2001:db8:5::1");
  return ip == kTrusted4 || ip == kTrusted6;
}

bool NeverLimited(const IpAddress& ip) {
  static const IpAddress kLoopback4 = Ip("127.0.0.1"), kLoopback6 = Ip("::1"),
                         kExempt = Ip("198.51.100.7");
  return Trusted(ip) || ip == kLoopback4 || ip == kLoopback6 || ip == kExempt;
}

// ClassifySipBytes names the method the datagram starts with, and only that.
void CheckMethodSniff(absl::string_view bytes) {
  const SipRequestClass c = ClassifySipBytes(bytes);
  const bool is_register = absl::StartsWith(bytes, "REGISTER ");
  const bool is_invite = absl::StartsWith(bytes, "INVITE ");
  if ((c == SipRequestClass::kRegister) != is_register ||
      (c == SipRequestClass::kInvite) != is_invite) {
    __builtin_trap();
  }
}

// SniffUserAgent's value lies in the datagram, past the start line and
// before the blank line that ends the header, on a "User-Agent:" line
// (any case, blanks before the colon), trimmed, within one LF-ended line.
void CheckUserAgentSniff(absl::string_view bytes) {
  const absl::string_view agent = SniffUserAgent(bytes);
  if (agent.empty()) return;
  if (agent.data() < bytes.data() || agent.data() + agent.size() > bytes.data() + bytes.size()) {
    __builtin_trap();
  }
  const size_t at = static_cast<size_t>(agent.data() - bytes.data());
  // A bare CR does not end a line (seed 021ed05f...: one inside the value).
  if (agent.find('\n') != absl::string_view::npos ||
      absl::ascii_isspace(agent.front()) || absl::ascii_isspace(agent.back())) {
    __builtin_trap();
  }
  const size_t line_start = bytes.rfind('\n', at);
  if (line_start == absl::string_view::npos) __builtin_trap();  // the start line
  absl::string_view name = bytes.substr(line_start + 1, at - line_start - 1);
  if (!absl::StartsWithIgnoreCase(name, "user-agent")) __builtin_trap();
  name.remove_prefix(10);
  name = absl::StripAsciiWhitespace(name);
  if (name != ":") __builtin_trap();
  const absl::string_view header = bytes.substr(0, line_start + 1);
  if (absl::StrContains(header, "\n\n") || absl::StrContains(header, "\n\r\n")) __builtin_trap();
}

bool NamesAScanner(const SipGuardConfig& config, absl::string_view bytes) {
  if (absl::StartsWith(bytes, "SIP/")) return false;
  const std::string agent = absl::AsciiStrToLower(SniffUserAgent(bytes));
  if (agent.empty()) return false;
  for (const std::string& s : config.scanner_user_agents) {
    if (absl::StrContains(agent, s)) return true;
  }
  return false;
}

struct Tally {
  uint64_t banned = 0, flood = 0, scanner = 0;
};

// One Inspect's verdict against what the guard must do.
void CheckVerdict(const SipGuard& guard, GuardVerdict v, const IpAddress& source,
                  bool scanner, Tally& tally) {
  switch (v) {
    case GuardVerdict::kPass:
      if (scanner && !NeverLimited(source)) __builtin_trap();
      break;
    case GuardVerdict::kBanned:
      ++tally.banned;
      break;
    case GuardVerdict::kFlood:
      ++tally.flood;
      break;
    case GuardVerdict::kScanner:
      ++tally.scanner;
      if (!scanner) __builtin_trap();
      break;
    default:
      __builtin_trap();
  }
  if (v != GuardVerdict::kPass && NeverLimited(source)) __builtin_trap();
  const SipGuardCounters& c = guard.counters();
  if (c.dropped_banned != tally.banned || c.dropped_flood != tally.flood ||
      c.flood_bans != tally.flood || c.dropped_scanner != tally.scanner) {
    __builtin_trap();
  }
  const SipGuardConfig& config = guard.config();
  if (guard.rates().tracked() > config.rates.max_sources || guard.bans().size() > config.max_bans) {
    __builtin_trap();
  }
}

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtplatch;
  if (size < kControlBytes) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + kControlBytes,
                                size - kControlBytes);
  CheckMethodSniff(bytes);
  CheckUserAgentSniff(bytes);
  SipGuard guard(Config(), Trusted);
  const bool scanner = NamesAScanner(guard.config(), bytes);
  const int rounds = 1 + (data[0] & kRoundsMask);
  const size_t stride = data[2] & 0x0f;
  const int64_t step_ms = int64_t{data[2] >> 4} * (data[2] >> 4) * 10;
  size_t source_index = data[1] % kSourceCount;
  int64_t now_ms = 1'000'000;
  Tally tally;
  for (int i = 0; i < rounds; ++i) {
    const IpAddress& source = SourceAt(source_index);
    CheckVerdict(guard, guard.Inspect(bytes, source, now_ms), source, scanner, tally);
    if (data[0] & kAuthFailures) {
      const bool banned = guard.AuthFailed(source, "alice", now_ms);
      if (banned && NeverLimited(source)) __builtin_trap();
    }
    if (data[0] & kTick) guard.Tick(now_ms);
    source_index = (source_index + stride) % kSourceCount;
    now_ms += step_ms;
  }
  return 0;
}
