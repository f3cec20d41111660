#include "control/sip/sip_message_counts.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace rtplatch {

void SipMessageCounts::Count(Direction direction, absl::string_view bytes) {
  const size_t d = Index(direction);
  // RFC 5626 keepalives (CRLF, CRLFCRLF) are not messages.
  if (bytes.empty() || bytes[0] == '\r' || bytes[0] == '\n') return;
  if (absl::StartsWith(bytes, "SIP/2.0 ")) {
    if (bytes.size() >= 11 && absl::ascii_isdigit(bytes[8]) && absl::ascii_isdigit(bytes[9]) &&
        absl::ascii_isdigit(bytes[10])) {
      const int code = (bytes[8] - '0') * 100 + (bytes[9] - '0') * 10 + (bytes[10] - '0');
      if (code >= kFirstCode && code < kFirstCode + kCodes) {
        ++responses_[d][static_cast<size_t>(code - kFirstCode)];
        return;
      }
    }
    ++unreadable_[d];
    return;
  }
  const size_t space = bytes.find(' ');
  if (space == 0 || space == absl::string_view::npos) {
    ++unreadable_[d];
    return;
  }
  // Methods are case-sensitive (RFC 3261 7.1).
  const absl::string_view method = bytes.substr(0, space);
  for (size_t i = 0; i < kMethods.size(); ++i) {
    if (method == kMethods[i]) {
      ++requests_[d][i];
      return;
    }
  }
  ++requests_[d][kMethods.size()];
}

void SipMessageCounts::ForEachRequest(
    Direction direction, absl::FunctionRef<void(absl::string_view, uint64_t)> fn) const {
  const auto& counts = requests_[Index(direction)];
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] != 0) fn(i < kMethods.size() ? kMethods[i] : kOtherMethod, counts[i]);
  }
}

void SipMessageCounts::ForEachResponse(Direction direction,
                                       absl::FunctionRef<void(int, uint64_t)> fn) const {
  const auto& counts = responses_[Index(direction)];
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] != 0) fn(kFirstCode + static_cast<int>(i), counts[i]);
  }
}

}  // namespace rtplatch
