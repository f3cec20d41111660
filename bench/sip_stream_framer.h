// SIP over a byte stream (TCP, TLS; RFC 3261 18.3) for the bench's load
// generator: messages cut at the blank line after the headers plus
// Content-Length bytes of body, and the few header look-ups a REGISTER
// client needs. CRLF keepalive pongs between messages (RFC 5626) are
// skipped.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rtplatch::bench {

class SipStreamFramer {
 public:
  void Append(const char* data, size_t size);
  // The next complete message, or nullopt until more bytes arrive. The
  // view is valid until the next Append or Next.
  std::optional<absl::string_view> Next();
  // The stream cannot be framed (a header block without Content-Length,
  // or longer than any SIP message should be): the connection is useless.
  bool broken() const { return broken_; }

 private:
  std::string buffer_;
  size_t start_ = 0;  // first byte not yet returned
  bool broken_ = false;
};

// A response's status code; 0 for a request or a malformed status line.
int StatusCode(absl::string_view message);

// Values of every header called `name` (case-insensitive; `compact` is its
// one-letter form, or '\0'), in order, whitespace trimmed.
std::vector<absl::string_view> HeaderValues(absl::string_view message, absl::string_view name,
                                           char compact = '\0');

}  // namespace rtplatch::bench
