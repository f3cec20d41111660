// What the first lines of a raw SIP message say, read without parsing it:
// enough for the overload shedder (overload_shedder.h) to tell a new call
// from a request inside an established dialog, at a fraction of a parse's
// cost. Never fails: what cannot be read is left empty, and an empty
// method or Call-ID makes the caller treat the message as "not a request
// we know", never as in-dialog.
#pragma once

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

struct RawSipHead {
  bool is_response = false;   // starts with "SIP/"
  absl::string_view method;   // a request's first word; empty otherwise
  absl::string_view request_uri;  // a request line's second word
  absl::string_view to;       // the first To (or "t") value, trimmed
  int to_headers = 0;         // To header lines seen
  absl::string_view call_id;  // the Call-ID (or "i") value, trimmed
  bool to_tag = false;        // the To (or "t") header has a tag parameter
  // An Authorization or Proxy-Authorization header: the request answers
  // a challenge (its check is the parse's, not this).
  bool credentials = false;
  // A Require or Proxy-Require header: option tags the parse checks.
  bool extensions = false;
};

// Views into `bytes`; only the header block is read.
RawSipHead SniffSipHead(absl::string_view bytes);

// True if a To header value (after its colon) carries a tag parameter:
// a header parameter, so one inside the <URI> or a quoted display name
// does not count.
bool ToValueHasTag(absl::string_view value);

// Whether a header line's name is `full` or its compact form `compact`
// (a lower-case letter, or empty), in any case. Inline: it runs for every
// header line of every datagram sniffed under load. Lengths first: most
// names are neither.
inline bool HeaderNameIs(absl::string_view name, absl::string_view full,
                         absl::string_view compact = {}) {
  if (name.size() == 1) return compact.size() == 1 && (name[0] | 0x20) == compact[0];
  return name.size() == full.size() && absl::EqualsIgnoreCase(name, full);
}

}  // namespace rtplatch
