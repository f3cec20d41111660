// One datagram of rtpengine's ng protocol: `<cookie> <dictionary>`. The
// dictionary is bencoded, or JSON when it starts with `{` (rtpengine
// accepts both); the reply is the cookie, one space and the reply
// dictionary in the request's encoding, sent back from the socket that was
// queried (Kamailio's rtpengine module uses one connected UDP socket per
// node and drops anything else).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/ng/bencode.h"

namespace rtplatch {

// rtpengine's largest ng datagram; SDP bodies make requests kilobytes long.
inline constexpr size_t kMaxNgDatagram = 65535;
// Kamailio's cookies are "<pid>_<counter>": short. Longer is refused.
inline constexpr size_t kMaxNgCookie = 128;

enum class NgEncoding : uint8_t { kBencode, kJson };

struct NgRequest {
  std::string cookie;
  NgEncoding encoding = NgEncoding::kBencode;
  BencodeValue dictionary;  // always a dictionary
  std::string command;      // its "command", lower case
};

// The cookie (printable, no spaces, 1..kMaxNgCookie bytes), one space,
// then the dictionary, which must hold a string "command". An error names
// what is wrong; when the cookie itself was readable it is in `cookie_out`
// so the caller can still answer with an error reply.
absl::StatusOr<NgRequest> ParseNgRequest(absl::string_view datagram,
                                         std::string* cookie_out = nullptr);

// `cookie` + " " + the reply in `encoding`.
std::string FormatNgReply(absl::string_view cookie, const BencodeValue& reply,
                          NgEncoding encoding);

// {"result": "error", "error-reason": reason}
BencodeValue NgErrorReply(absl::string_view reason);

}  // namespace rtplatch
