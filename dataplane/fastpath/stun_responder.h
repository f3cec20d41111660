// Answers ICE connectivity checks on a relay port, as an ICE-lite agent
// (RFC 8445 2.5): a STUN Binding request (RFC 8489) whose USERNAME starts
// with the stream's ufrag and whose MESSAGE-INTEGRITY verifies under the
// stream's password gets a Binding success response carrying the
// request's source in XOR-MAPPED-ADDRESS, signed the same way and
// fingerprinted. Everything else is refused: the relay is no open STUN
// server, so a spoofed or replayed check learns nothing from it. Pure
// functions on bytes; the fast path wraps the reply in headers.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/ip_address.h"
#include "dataplane/fastpath/ice_credentials.h"

namespace rtplatch {

// Header 20, XOR-MAPPED-ADDRESS 4 + 20 (IPv6), MESSAGE-INTEGRITY 4 + 20,
// FINGERPRINT 4 + 4.
inline constexpr uint32_t kStunReplyMaxLen = 76;

enum class IceCheck : uint8_t {
  kAnswered,           // `reply` holds the success response
  kNotBindingRequest,  // some other STUN message, or a malformed one
  kUnauthenticated,    // a Binding request without our ufrag, or whose
                       // MESSAGE-INTEGRITY or FINGERPRINT does not verify
};

// `request` is the UDP payload (a STUN message by its header). `reply`
// has room for kStunReplyMaxLen bytes.
IceCheck AnswerIceCheck(const uint8_t* request, uint32_t len, const IceCredentials& local,
                        const IpAddress& source_ip, uint16_t source_port, uint8_t* reply,
                        uint32_t* reply_len);

// Whether the message's MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 14.5)
// verifies under `key`, and its FINGERPRINT (if any) is right. For tests
// and for checking the replies.
bool StunMessageAuthentic(const uint8_t* message, uint32_t len, std::string_view key);

}  // namespace rtplatch
