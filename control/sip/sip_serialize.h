// A SIP message's body as one opaque part of oSIP2's tree, and the message
// written as bytes with that body exactly as it is.
//
// oSIP2 re-frames multipart bodies: its parser splits them into parts (and
// refuses one whose boundaries it cannot find), and osip_message_to_str
// writes the parts back between boundaries of its own, so an S/MIME
// multipart/signed body changes length and its signature no longer
// verifies. So oSIP2 never parses or writes a body here: SipMessage gives
// it the header block only and keeps the body as received (any bytes: NUL,
// bare CR or LF), and the body travels in the tree as a single part,
// because oSIP2's transactions own the messages they send.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct osip_message;  // <osipparser2/osip_message.h>

namespace rtplatch {

// Replaces every body part of `m` with `body`, one part (none if empty),
// and sets Content-Length to its size. Content-Type is left alone.
absl::Status SetOpaqueBody(osip_message* m, absl::string_view body);

// oSIP2 writes the start line and headers; the body part follows byte for
// byte, after a Content-Length of its size. Internal error if `m` has more
// than one body part (only SetOpaqueBody puts parts there). `m` is changed
// only while this runs.
absl::StatusOr<std::string> SerializeSipMessage(osip_message* m);

}  // namespace rtplatch
