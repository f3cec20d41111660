// A stateless response built from a request's raw lines, without parsing
// it: what the overload shedder answers new requests with (503 +
// Retry-After) at a small part of a parse's cost, so that refusing the
// excess of a storm leaves the core to the requests it serves (issue 17:
// through oSIP2, a refusal cost as much as the registration it made room
// for).
//
// Only a plain request qualifies: a request line, header lines without
// control characters or folding, one From, To, Call-ID and CSeq, a top Via
// line with a single value and no received/rport value of its own. For
// anything else the result is nullopt and the caller takes the parsing
// path (control/sip/stateless_core.h), which copes with the rest.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/ip_address.h"

namespace rtplatch {

// Status line; the Via lines as received, the top one with received= and
// rport= of `source` (as stateless_core's replies: the answer goes to the
// source, and says so); From; To, with a tag derived from the request if
// it had none; Call-ID; CSeq; Server (when not empty); `extra_headers`;
// Content-Length: 0. nullopt for an ACK (never answered) and for anything
// but a plain request.
std::optional<std::string> RawStatelessResponse(absl::string_view request, const Endpoint& source,
                                                int code, absl::string_view reason,
                                                absl::string_view server_header,
                                                absl::Span<const std::string> extra_headers);

}  // namespace rtplatch
