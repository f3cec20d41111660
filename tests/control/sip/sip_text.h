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

// An S/MIME signed body (RFC 5751 multipart/signed, as RFC 3261 23 uses
// it) whose binary signature holds NUL, bare CR, bare LF and an empty line
// ("\r\n\r\n"): only Content-Length frames it, and a relay must pass it
// on byte for byte or the signature no longer verifies.
inline constexpr char kSignedContentType[] =
    "multipart/signed;protocol=\"application/pkcs7-signature\";micalg=sha-256;"
    "boundary=boundary42";

inline std::string SignedBody() {
  static constexpr char kSignature[] =
      "\x30\x82\x01\x00\x00\x06\x09*\x86H\x86\xf7\r\x01\x07\x02\xa0\n"
      "bare CR\rbare LF\nempty line\r\n\r\nNUL\x00\x00" "end\xff\r\r\n\n";
  return absl::StrCat(
      "--boundary42\r\n"
      "Content-Type: text/plain\r\n\r\n"
      "Meet me at noon.\r\n\r\n"
      "--boundary42\r\n"
      "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
      "Content-Transfer-Encoding: binary\r\n"
      "Content-Disposition: attachment; handling=required; filename=smime.p7s\r\n\r\n",
      absl::string_view(kSignature, sizeof(kSignature) - 1),
      "\r\n--boundary42--\r\n");
}

}  // namespace rtplatch::testing
