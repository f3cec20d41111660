// Responses the control plane builds itself (stateless replies, registrar
// answers): one place for the header copying RFC 3261 §8.2.6 asks for.
#pragma once

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/sip/sip_message.h"

namespace rtplatch {

// Status line, every Via (the top one should already carry received/rport),
// From, To (tagged with ResponseToTag if it has no tag), Call-ID, CSeq,
// Server (when non-empty), `extra_headers`, and an empty body.
absl::StatusOr<std::string> BuildResponse(const SipMessage& request, int code,
                                          absl::string_view reason,
                                          absl::string_view server_header,
                                          const std::vector<std::string>& extra_headers);

// The To-tag of a response we build: the same for a retransmitted request
// (RFC 3261 §16.11 for stateless answers), so a hash (FNV-1a 64) of what
// identifies the request.
std::string ResponseToTag(const SipMessage& request);

// `Warning: 399 rtplatch "<text>"`: printable ASCII, escaped, cut short.
std::string WarningHeader(absl::string_view text);

// A response the control plane answers a request with itself.
struct SipReply {
  int code = 500;
  std::string reason;
  std::vector<std::string> headers;  // extra header lines
};

// The one mapping from an internal error to the response that refuses a
// request because of it, for every path: InvalidArgument (bad SDP, an
// offer we cannot relay) is 488 Not Acceptable Here; anything else (the
// dataplane unreachable or out of relay ports first) is 503 Service
// Unavailable with Retry-After, so the caller retries or tries elsewhere.
// Both carry a Warning with the error's message.
SipReply SipReplyForError(const absl::Status& error);

// oSIP2's x_to_str (e.g. osip_via_to_str) as a std::string; nullopt if it
// fails or `header` is null.
template <typename T>
std::optional<std::string> OsipToString(int (*fn)(const T*, char**), const T* header) {
  if (header == nullptr) return std::nullopt;
  char* s = nullptr;
  if (fn(header, &s) != OSIP_SUCCESS || s == nullptr) return std::nullopt;
  std::string out(s);
  osip_free(s);
  return out;
}

}  // namespace rtplatch
