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

// A Yealink T46's offer (only a session-level c=, from 192.0.2.20), as
// several tests parse it.
inline std::string YealinkSdp() {
  return SdpText(R"(
v=0
o=- 20039 20039 IN IP4 192.0.2.20
s=SDP data
c=IN IP4 192.0.2.20
t=0 0
m=audio 11796 RTP/AVP 0 8 18 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:9 G722/8000
a=fmtp:101 0-15
a=rtpmap:101 telephone-event/8000
a=ptime:20
a=sendrecv
)");
}

}  // namespace rtplatch::testing
