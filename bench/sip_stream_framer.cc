#include "bench/sip_stream_framer.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace rtplatch::bench {
namespace {

// Far above any message of this bench; past it the stream is garbage.
constexpr size_t kMaxMessageBytes = 64 * 1024;

}  // namespace

void SipStreamFramer::Append(const char* data, size_t size) {
  // Drop what was returned before growing: the buffer holds at most one
  // partial message and whatever arrived with it.
  if (start_ > 0) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(data, size);
}

std::optional<absl::string_view> SipStreamFramer::Next() {
  if (broken_) return std::nullopt;
  while (start_ + 1 < buffer_.size() && buffer_[start_] == '\r' && buffer_[start_ + 1] == '\n') {
    start_ += 2;
  }
  const absl::string_view pending = absl::string_view(buffer_).substr(start_);
  const size_t end_of_headers = pending.find("\r\n\r\n");
  if (end_of_headers == absl::string_view::npos) {
    broken_ = pending.size() > kMaxMessageBytes;
    return std::nullopt;
  }
  const absl::string_view headers = pending.substr(0, end_of_headers + 2);
  const std::vector<absl::string_view> lengths = HeaderValues(headers, "Content-Length", 'l');
  size_t body = 0;
  if (lengths.empty() ||
      std::from_chars(lengths[0].data(), lengths[0].data() + lengths[0].size(), body).ec !=
          std::errc() ||
      body > kMaxMessageBytes) {
    broken_ = true;
    return std::nullopt;
  }
  const size_t total = end_of_headers + 4 + body;
  if (pending.size() < total) return std::nullopt;
  start_ += total;
  return pending.substr(0, total);
}

int StatusCode(absl::string_view message) {
  if (!absl::StartsWith(message, "SIP/2.0 ") || message.size() < 11) return 0;
  int code = 0;
  if (std::from_chars(message.data() + 8, message.data() + 11, code).ec != std::errc()) return 0;
  return code;
}

std::vector<absl::string_view> HeaderValues(absl::string_view message, absl::string_view name,
                                           char compact) {
  std::vector<absl::string_view> values;
  size_t line_start = message.find("\r\n");  // skip the start line
  while (line_start != absl::string_view::npos) {
    line_start += 2;
    const size_t line_end = message.find("\r\n", line_start);
    if (line_end == absl::string_view::npos || line_end == line_start) break;
    const absl::string_view line = message.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != absl::string_view::npos) {
      const absl::string_view header = absl::StripTrailingAsciiWhitespace(line.substr(0, colon));
      if (absl::EqualsIgnoreCase(header, name) ||
          (compact != '\0' && header.size() == 1 &&
           absl::ascii_tolower(header[0]) == absl::ascii_tolower(compact))) {
        values.push_back(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
    line_start = line_end;
  }
  return values;
}

}  // namespace rtplatch::bench
