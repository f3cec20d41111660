#include "common/logger.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/monotonic_clock.h"

namespace rtplatch {

namespace {

constexpr std::array<std::pair<LogLevel, absl::string_view>, 5> kLevelNames = {{
    {LogLevel::kError, "error"},
    {LogLevel::kWarning, "warning"},
    {LogLevel::kNotice, "notice"},
    {LogLevel::kInfo, "info"},
    {LogLevel::kDebug, "debug"},
}};

// "2026-12-06T07:45:31.123Z"
std::string UtcTimestamp(int64_t unix_ms) {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return absl::StrCat(absl::string_view(buf, n), ".", absl::Dec(unix_ms % 1000, absl::kZeroPad3),
                      "Z");
}

int64_t UnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

// Lines past this are cut: journald's default LineMax is 48 KiB.
constexpr size_t kMaxLineBytes = 32 * 1024;

std::string Format(const char* format, va_list args) {
  char small[512];
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(small, sizeof small, format, args);
  std::string text;
  if (n >= 0 && static_cast<size_t>(n) < sizeof small) {
    text.assign(small, static_cast<size_t>(n));
  } else if (n >= 0) {
    text.resize(std::min<size_t>(static_cast<size_t>(n), kMaxLineBytes));
    std::vsnprintf(text.data(), text.size() + 1, format, again);
  }
  va_end(again);
  return text;
}

void WriteToStderr(absl::string_view line) {
  // One write per line (the logger's mutex keeps threads' lines apart);
  // the rest of a short write follows.
  while (!line.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to log to
    line.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

absl::string_view LogLevelName(LogLevel level) {
  for (const auto& [l, name] : kLevelNames) {
    if (l == level) return name;
  }
  return "?";
}

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  for (const auto& [l, known] : kLevelNames) {
    if (known == name) return l;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "log level '", name, "' is not one of error, warning, notice, info, debug"));
}

LogFormat DetectLogFormat(int fd) {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return LogFormat::kPlain;
  std::pair<std::string, std::string> parts = absl::StrSplit(stream, ':');
  uint64_t dev = 0;
  uint64_t ino = 0;
  struct stat st;
  if (!absl::SimpleAtoi(parts.first, &dev) || !absl::SimpleAtoi(parts.second, &ino) ||
      fstat(fd, &st) != 0) {
    return LogFormat::kPlain;
  }
  return st.st_dev == dev && st.st_ino == ino ? LogFormat::kJournal : LogFormat::kPlain;
}

Logger::Logger(std::string program, LogFormat format, Clock now_ms, WallClock unix_ms, Sink write,
               LogRateLimits limits)
    : program_(std::move(program)),
      format_(format),
      now_ms_(std::move(now_ms)),
      unix_ms_(std::move(unix_ms)),
      write_(std::move(write)),
      limits_(limits),
      limiter_(limits) {}

void Logger::Write(const void* place, LogLevel level, absl::string_view key, const char* format,
                   va_list args) {
  std::lock_guard<std::mutex> lock(mu_);
  const LogRateLimiter::Verdict v = limiter_.Admit(place, key, format, now_ms_());
  if (!v.write) return;
  std::string text = Format(format, args);
  if (v.suppressed_before > 0) {
    absl::StrAppend(&text, " (", v.suppressed_before, " more like it held back before this)");
  }
  Emit(level, text);
}

void Logger::FlushSuppressed() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const LogRateLimiter::Suppressed& s : limiter_.TakeExpired(now_ms_())) {
    Emit(LogLevel::kNotice,
         absl::StrCat("log: ", s.count, " messages like \"", s.format, "\"",
                      s.key.empty() ? "" : absl::StrCat(" from ", s.key),
                      " held back (at most ", limits_.burst, " per ", limits_.window_ms / 1000,
                      " s from one source)"));
  }
}

uint64_t Logger::suppressed_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return limiter_.suppressed_total();
}

void Logger::Emit(LogLevel level, absl::string_view text) {
  std::string line;
  if (format_ == LogFormat::kJournal) {
    line = absl::StrCat("<", static_cast<int>(level), ">", text, "\n");
  } else {
    line = absl::StrCat(UtcTimestamp(unix_ms_()), " ", LogLevelName(level), " ", program_, ": ",
                        text, "\n");
  }
  write_(line);
}

namespace {

// Never destroyed: a static's destructor would race with threads that
// log while the process exits.
Logger* NewProcessLogger(std::string program, LogFormat format) {
  return new Logger(std::move(program), format, MonotonicMs, UnixMs, WriteToStderr);
}

// Replaced once at start-up (InitProcessLogger), before any thread logs.
Logger*& ProcessLoggerSlot() {
  static Logger* slot = NewProcessLogger("rtplatch", LogFormat::kPlain);
  return slot;
}

}  // namespace

Logger& ProcessLogger() { return *ProcessLoggerSlot(); }

void InitProcessLogger(std::string program) {
  ProcessLoggerSlot() = NewProcessLogger(std::move(program), DetectLogFormat(STDERR_FILENO));
}

void LogTo(Logger& logger, const void* place, LogLevel level, absl::string_view key,
           const char* format, ...) {
  va_list args;
  va_start(args, format);
  logger.Write(place, level, key, format, args);
  va_end(args);
}

}  // namespace rtplatch
