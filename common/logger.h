// The log of both processes: a level on every message, a threshold that
// can change at run time (config `log_level`, SIGHUP, `rtplatchctl
// log-level`), repeated messages rate-limited per source
// (log_rate_limiter.h), and output that fits where it goes:
//
//   journald (systemd sets JOURNAL_STREAM to stderr's device:inode):
//       "<4>peer core hop 203.0.113.40:5060 is down ..."
//     the sd-daemon(3) priority prefix, no time, no name: journald
//     records both, and `journalctl -p warning` filters on the priority.
//   anything else (a terminal, a file, the tests):
//       "2026-12-06T07:45:31.123Z warning rtplatch-control: peer core ..."
//
// Levels are syslog's (RFC 5424) so the two agree. Call sites use
// RTPLATCH_LOG / RTPLATCH_LOG_FROM, which give each place its own
// rate-limit state and skip the formatting below the threshold. Never
// on a forwarding lcore (a write is a syscall); the control paths only.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/log_rate_limiter.h"

namespace rtplatch {

enum class LogLevel : uint8_t { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// "error", "warning", "notice", "info", "debug".
absl::string_view LogLevelName(LogLevel level);
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

enum class LogFormat : uint8_t { kPlain, kJournal };

// kJournal when `fd` is the stream JOURNAL_STREAM names (systemd's
// convention, systemd.exec(5)), else kPlain.
LogFormat DetectLogFormat(int fd);

class Logger {
 public:
  static constexpr LogLevel kDefaultLevel = LogLevel::kInfo;

  using Clock = std::function<int64_t()>;           // milliseconds
  using WallClock = std::function<int64_t()>;       // Unix milliseconds (plain lines)
  using Sink = std::function<void(absl::string_view)>;  // one whole line

  Logger(std::string program, LogFormat format, Clock now_ms, WallClock unix_ms, Sink write,
         LogRateLimits limits = {});

  void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  LogLevel level() const { return level_.load(std::memory_order_relaxed); }
  bool Enabled(LogLevel level) const { return level <= this->level(); }

  // One message from `place` (RTPLATCH_LOG's), rate-limited per
  // (place, key); printf-style `format`.
  void Write(const void* place, LogLevel level, absl::string_view key, const char* format,
             va_list args);
  // Tells what the rate limit held back, for sources that went quiet
  // (called once a second from the processes' loops).
  void FlushSuppressed();

  uint64_t suppressed_total() const;

 private:
  void Emit(LogLevel level, absl::string_view text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string program_;
  const LogFormat format_;
  const Clock now_ms_;
  const WallClock unix_ms_;
  const Sink write_;
  const LogRateLimits limits_;
  std::atomic<LogLevel> level_{kDefaultLevel};
  mutable std::mutex mu_;
  LogRateLimiter limiter_ ABSL_GUARDED_BY(mu_);
};

// The process's logger: "rtplatch" until InitProcessLogger names it and
// looks at stderr.
Logger& ProcessLogger();
void InitProcessLogger(std::string program);

void LogTo(Logger& logger, const void* place, LogLevel level, absl::string_view key,
           const char* format, ...) __attribute__((format(printf, 5, 6)));

}  // namespace rtplatch

// RTPLATCH_LOG(level, "format", args...): LogLevel's name without the k
// (RTPLATCH_LOG(Warning, "peer %s is down", name)). A static byte at
// each use names its place for the rate limit.
#define RTPLATCH_LOG(level, format, ...) RTPLATCH_LOG_FROM(level, "", format, ##__VA_ARGS__)
// The same, rate-limited per `key` too (a peer's address or name).
#define RTPLATCH_LOG_FROM(level, key, format, ...)                                          \
  do {                                                                                      \
    ::rtplatch::Logger& rtplatch_logger_ = ::rtplatch::ProcessLogger();                     \
    if (rtplatch_logger_.Enabled(::rtplatch::LogLevel::k##level)) {                         \
      static const char rtplatch_log_place_ = 0;                                            \
      ::rtplatch::LogTo(rtplatch_logger_, &rtplatch_log_place_, ::rtplatch::LogLevel::k##level, \
                        key, format, ##__VA_ARGS__);                                        \
    }                                                                                       \
  } while (0)
