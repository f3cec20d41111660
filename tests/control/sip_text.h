// SIP and SDP test messages written as readable literals: one header (or
// SDP) line per LF line, turned into CRLF wire format.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace rtplatch::testing {

// SDP (or any body) lines -> CRLF-terminated lines.
inline std::string SdpText(absl::string_view lines) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(lines, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, line, "\r\n");
  }
  return out;
}

// Header lines -> CRLF, then Content-Length and the body, as a phone puts
// them on the wire.
inline std::string SipText(absl::string_view head, absl::string_view body = "") {
  return absl::StrCat(SdpText(head), "Content-Length: ", body.size(), "\r\n\r\n", body);
}

}  // namespace rtplatch::testing
