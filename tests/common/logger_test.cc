// The log's levels, formats and rate limit (common/logger.h), with a fake
// clock and the lines captured.
#include "common/logger.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kUnix = 1'796'543'131'123;  // 2026-12-06T07:45:31.123Z

struct Captured {
  int64_t now_ms = 0;
  std::vector<std::string> lines;
  Logger Make(LogFormat format) {
    return Logger(
        "rtplatch-control", format, [this] { return now_ms; }, [] { return kUnix; },
        [this](absl::string_view line) { lines.emplace_back(line); },
        LogRateLimits{.window_ms = 10'000, .burst = 2, .max_sources = 64});
  }
};

void Log(Logger& logger, LogLevel level, absl::string_view key, const char* format, ...)
    __attribute__((format(printf, 4, 5)));
void Log(Logger& logger, LogLevel level, absl::string_view key, const char* format, ...) {
  static const char place = 0;
  if (!logger.Enabled(level)) return;
  va_list args;
  va_start(args, format);
  logger.Write(&place, level, key, format, args);
  va_end(args);
}

TEST(LoggerTest, PlainLinesHaveTimeLevelAndProgram) {
  Captured c;
  Logger logger = c.Make(LogFormat::kPlain);
  Log(logger, LogLevel::kWarning, "", "peer %s hop %s is down", "core", "203.0.113.40:5060");
  EXPECT_THAT(c.lines, ElementsAre("2026-12-06T07:45:31.123Z warning rtplatch-control: peer "
                                   "core hop 203.0.113.40:5060 is down\n"));
}

TEST(LoggerTest, JournalLinesCarryTheSyslogPriorityOnly) {
  Captured c;
  Logger logger = c.Make(LogFormat::kJournal);
  Log(logger, LogLevel::kError, "", "redis %s: no answer", "127.0.0.1:6379");
  Log(logger, LogLevel::kInfo, "", "reloaded");
  EXPECT_THAT(c.lines, ElementsAre("<3>redis 127.0.0.1:6379: no answer\n", "<6>reloaded\n"));
}

TEST(LoggerTest, TheLevelFiltersAndChangesAtRunTime) {
  Captured c;
  Logger logger = c.Make(LogFormat::kJournal);
  EXPECT_EQ(logger.level(), LogLevel::kInfo) << "the default";
  Log(logger, LogLevel::kDebug, "", "hidden");
  logger.set_level(LogLevel::kDebug);
  Log(logger, LogLevel::kDebug, "", "shown");
  logger.set_level(LogLevel::kError);
  Log(logger, LogLevel::kWarning, "", "hidden too");
  EXPECT_THAT(c.lines, ElementsAre("<7>shown\n"));
}

TEST(LoggerTest, RepeatsAreHeldBackAndTold) {
  Captured c;
  Logger logger = c.Make(LogFormat::kJournal);
  for (int i = 0; i < 5; ++i) Log(logger, LogLevel::kNotice, "203.0.113.5", "bad SIP %d", i);
  Log(logger, LogLevel::kNotice, "203.0.113.6", "bad SIP %d", 9);
  EXPECT_THAT(c.lines, ElementsAre("<5>bad SIP 0\n", "<5>bad SIP 1\n", "<5>bad SIP 9\n"));
  EXPECT_EQ(logger.suppressed_total(), 3u);
  c.now_ms = 10'000;
  logger.FlushSuppressed();
  ASSERT_EQ(c.lines.size(), 4u);
  EXPECT_EQ(c.lines[3],
            "<5>log: 3 messages like \"bad SIP %d\" from 203.0.113.5 held back (at most 2 per "
            "10 s from one source)\n");
  Log(logger, LogLevel::kNotice, "203.0.113.5", "bad SIP %d", 7);
  EXPECT_EQ(c.lines.back(), "<5>bad SIP 7\n") << "what was told is not told again";
}

TEST(LoggerTest, ALongMessageIsCutNotOverrun) {
  Captured c;
  Logger logger = c.Make(LogFormat::kJournal);
  const std::string long_one(3000, 'y');
  Log(logger, LogLevel::kInfo, "", "%s", long_one.c_str());
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0], absl::StrCat("<6>", long_one, "\n")) << "a long line is whole";
  const std::string huge(100'000, 'x');
  Log(logger, LogLevel::kInfo, "", "%s", huge.c_str());
  ASSERT_EQ(c.lines.size(), 2u);
  EXPECT_EQ(c.lines[1].size(), 3 + 32 * 1024 + 1u) << "cut at 32 KiB (journald's lines)";
  EXPECT_EQ(c.lines[1].back(), '\n');
}

TEST(LoggerTest, LevelsParseByName) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(LogLevelName(LogLevel::kNotice), "notice");
  EXPECT_THAT(ParseLogLevel("verbose").status().message(),
              HasSubstr("not one of error, warning, notice, info, debug"));
}

TEST(LoggerTest, JournaldIsRecognisedByJournalStream) {
  char path[] = "/tmp/logger_test.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(DetectLogFormat(fd), LogFormat::kPlain);
  setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino).c_str(), 1);
  EXPECT_EQ(DetectLogFormat(fd), LogFormat::kJournal);
  setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino + 1).c_str(), 1);
  EXPECT_EQ(DetectLogFormat(fd), LogFormat::kPlain) << "stderr is not the journal's stream";
  setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_EQ(DetectLogFormat(fd), LogFormat::kPlain);
  unsetenv("JOURNAL_STREAM");
  close(fd);
  unlink(path);
}

}  // namespace
}  // namespace rtplatch
