// The stateless front of rtplatch-control: one received SIP message in, at
// most one response out. No transactions and no sockets here, so every
// rule is a unit test on message text.
//
// This slice answers:
//   - OPTIONS addressed to the server itself (Request-URI without a user
//     part whose host is one of our addresses): 200 OK with Allow, Accept
//     and Supported;
//   - a malformed or truncated request: 400 Bad Request with a Warning
//     (399) quoting the parser's reason, built from the Via/From/To/
//     Call-ID/CSeq lines salvaged from the raw text;
//   - any other request: 501 Not Implemented. NEXT SLICE: REGISTER
//     (registrar) and INVITE/ACK/BYE/CANCEL/out-of-dialog OPTIONS
//     (proxy) replace this, behind oSIP2 transactions.
// Every response gets received=/rport= on its top Via (RFC 3581, always
// filled: the reply goes to the source address and port whatever the phone
// asked for) and goes back to the source over the same transport and
// channel. What cannot be answered is dropped with a named, counted reason.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "common/ip_address.h"
#include "control/sip/sip_message.h"
#include "control/sip/sip_transport.h"

namespace rtplatch {

#define RTPLATCH_SIP_DROP_REASONS(X)                                        \
  X(kNotSip, "not_sip", "no request line and nothing to build a reply from") \
  X(kMissingHeaders, "missing_headers",                                     \
    "lacks Via, From, To, Call-ID or CSeq, so no reply can be matched")     \
  X(kStrayResponse, "stray_response",                                       \
    "a response, and no transaction exists to take it")                    \
  X(kAck, "ack", "ACK is never answered")                                   \
  X(kBuildFailed, "build_failed",                                           \
    "a reply could not be serialised, or would not parse (echoed lines)")

enum class SipDropReason : uint8_t {
#define RTPLATCH_SIP_DROP_ENUM(id, name, help) id,
  RTPLATCH_SIP_DROP_REASONS(RTPLATCH_SIP_DROP_ENUM)
#undef RTPLATCH_SIP_DROP_ENUM
};

inline constexpr size_t kSipDropReasonCount = 0
#define RTPLATCH_SIP_DROP_COUNT(id, name, help) +1
    RTPLATCH_SIP_DROP_REASONS(RTPLATCH_SIP_DROP_COUNT)
#undef RTPLATCH_SIP_DROP_COUNT
    ;

inline constexpr std::array<absl::string_view, kSipDropReasonCount> kSipDropReasonNames = {
#define RTPLATCH_SIP_DROP_NAME(id, name, help) name,
    RTPLATCH_SIP_DROP_REASONS(RTPLATCH_SIP_DROP_NAME)
#undef RTPLATCH_SIP_DROP_NAME
};

struct StatelessCoreCounters {
  uint64_t received = 0;
  uint64_t responded = 0;
  uint64_t responded_2xx = 0;
  uint64_t responded_4xx = 0;  // malformed (400)
  uint64_t responded_5xx = 0;  // not implemented yet (501)
  std::array<uint64_t, kSipDropReasonCount> dropped{};

  uint64_t drops(SipDropReason r) const { return dropped[static_cast<size_t>(r)]; }
};

struct SipOutbound {
  std::string bytes;
  Endpoint dest;
  SipTransportKind transport = SipTransportKind::kUdp;
  SipChannelId channel = 0;
};

class StatelessCore {
 public:
  // Methods this slice implements, for Allow; later slices extend it.
  static constexpr absl::string_view kAllow = "OPTIONS";

  struct Options {
    // Addresses that mean "this server" in a Request-URI. main() fills in
    // the host's interface addresses for a wildcard listen address.
    std::vector<IpAddress> local_addresses;
    // Our SIP ports; a Request-URI port must be one of them (absent: 5060).
    std::vector<uint16_t> local_ports;
    std::string server_header;  // empty: no Server header
  };

  explicit StatelessCore(Options options) : options_(std::move(options)) {}

  // The reply to `in`, or nullopt (counted in counters().dropped).
  std::optional<SipOutbound> Handle(const SipInbound& in);
  // 503 Service Unavailable with Retry-After to request `in`, built from
  // its raw Via/From/To/Call-ID/CSeq lines without parsing the rest (the
  // overload shedder's answer: it must cost less than serving).
  std::optional<SipOutbound> RefuseForOverload(const SipInbound& in, uint32_t retry_after_s);

  const StatelessCoreCounters& counters() const { return counters_; }

 private:
  bool IsForUs(const SipMessage& request) const;
  std::optional<SipOutbound> Reply(SipMessage& request, const SipInbound& in, int code,
                                   absl::string_view reason,
                                   const std::vector<std::string>& extra_headers);
  std::optional<SipOutbound> Drop(SipDropReason r);
  // The request made of `in`'s salvaged reply headers; nullopt (counted)
  // when they are not there.
  std::optional<SipMessage> SalvagedRequest(const SipInbound& in);

  const Options options_;
  StatelessCoreCounters counters_;
};

}  // namespace rtplatch
