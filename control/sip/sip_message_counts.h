// SIP messages counted as the transport sees them: requests by method and
// responses by status code, received and sent (metrics: an operator's
// first look at a SIP server is its request mix and its answers). Read
// from the start line alone, so a datagram the guard drops or the raw
// paths answer (control/guard, control/routing/raw_challenge.h) counts
// like any other; CRLF keepalives do not count.
//
// Not thread-safe: the event loop's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

class SipMessageCounts {
 public:
  enum class Direction : uint8_t { kReceived, kSent };
  // The methods counted by name; any other is "other".
  static constexpr std::array<absl::string_view, 14> kMethods = {
      "INVITE",    "ACK",    "BYE",   "CANCEL",  "REGISTER", "OPTIONS", "PRACK",
      "UPDATE",    "INFO",   "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"};
  static constexpr absl::string_view kOtherMethod = "other";

  // One message (its bytes as on the wire).
  void Count(Direction direction, absl::string_view bytes);

  // Each method (kMethods, then "other") with its count, zeros left out.
  void ForEachRequest(Direction direction,
                      absl::FunctionRef<void(absl::string_view method, uint64_t)> fn) const;
  // Each status code 100-699 with its count, zeros left out.
  void ForEachResponse(Direction direction, absl::FunctionRef<void(int code, uint64_t)> fn) const;
  // Neither a request line nor a status line we can read.
  uint64_t unreadable(Direction direction) const { return unreadable_[Index(direction)]; }

 private:
  static constexpr int kFirstCode = 100;
  static constexpr int kCodes = 600;  // 100..699
  static size_t Index(Direction d) { return static_cast<size_t>(d); }

  std::array<std::array<uint64_t, kMethods.size() + 1>, 2> requests_{};
  std::array<std::array<uint64_t, kCodes>, 2> responses_{};
  std::array<uint64_t, 2> unreadable_{};
};

}  // namespace rtplatch
