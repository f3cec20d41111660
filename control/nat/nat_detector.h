// NAT detection (design.md rule 1): compare what a phone declares in SIP
// (top Via sent-by, Contact, SDP o=/c=) with the address the message
// really came from, and with the "inside" prefixes. The result names every
// test that fired, so logs, the CLI and the tests can say *why* a leg was
// marked NAT'd.
//
// Reasons are declared once (VPP style) and expanded into the enum, the
// names and the "is this evidence of NAT?" flag. Evidence reasons make
// NatVerdict::natted true; informational ones are recorded only. A
// NatPolicy (nat_policy.h) may count a different subset as evidence.
//
// The rules, for a message received from `source`:
//   via_host_differs_from_source  top Via sent-by host (an IP or a name)
//                                 is not the source IP.
//   via_port_differs_from_source  sent-by port (5060/5061 if absent) is not
//                                 the source port. UDP only: over TCP/TLS
//                                 the source port is ephemeral and replies
//                                 use the connection, so it means nothing.
//   via_inside / contact_inside / sdp_inside / sdp_origin_inside
//                                 that address is in an inside prefix and is
//                                 not the source IP itself (a packet that
//                                 arrives from an inside address crossed no
//                                 NAT: the phone shares our private net).
//   via_rport_requested           informational: RFC 3581 rport present.
//   contact_differs_from_source   informational: a Contact's host:port is
//                                 not the source (legitimate without NAT:
//                                 multi-homed hosts, third-party REGISTER).
//   sdp_differs_from_source       informational: a public c= that is not
//                                 the source IP (media server, STUN result,
//                                 asymmetric phone); latching decides.
// SDP hold addresses (0.0.0.0, ::) are ignored. The SDP m= port cannot be
// checked in signalling (the RTP source port is unknown until packets
// arrive); latching corrects it. For a response the top Via is the
// proxy's own, so only Contact and SDP are tested.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/nat/inside_prefixes.h"
#include "control/sdp/sdp.h"
#include "control/sip/sip_message.h"

namespace rtplatch {

// X(id, name, evidence, help)
#define RTPLATCH_NAT_REASONS(X)                                              \
  X(kViaHostDiffersFromSource, "via_host_differs_from_source", true,        \
    "top Via sent-by host is not the source IP")                             \
  X(kViaPortDiffersFromSource, "via_port_differs_from_source", true,        \
    "top Via sent-by port is not the source port (UDP)")                     \
  X(kViaInside, "via_inside", true,                                          \
    "top Via sent-by host is an inside address")                             \
  X(kContactInside, "contact_inside", true,                                  \
    "a Contact host is an inside address")                                   \
  X(kSdpInside, "sdp_inside", true, "an SDP c= address is inside")           \
  X(kSdpOriginInside, "sdp_origin_inside", true,                             \
    "the SDP o= address is inside (an ALG rewrote c= but not o=)")           \
  X(kViaRportRequested, "via_rport_requested", false,                        \
    "top Via asks for rport (RFC 3581); not NAT by itself")                  \
  X(kContactDiffersFromSource, "contact_differs_from_source", false,         \
    "a Contact host:port is not the source; not NAT by itself")              \
  X(kSdpDiffersFromSource, "sdp_differs_from_source", false,                 \
    "a public SDP c= address is not the source IP; not NAT by itself")

enum class NatReason : uint8_t {
#define RTPLATCH_NAT_REASON_ENUM(id, name, evidence, help) id,
  RTPLATCH_NAT_REASONS(RTPLATCH_NAT_REASON_ENUM)
#undef RTPLATCH_NAT_REASON_ENUM
};

inline constexpr size_t kNatReasonCount = 0
#define RTPLATCH_NAT_REASON_COUNT(id, name, evidence, help) +1
    RTPLATCH_NAT_REASONS(RTPLATCH_NAT_REASON_COUNT)
#undef RTPLATCH_NAT_REASON_COUNT
    ;

inline constexpr std::array<absl::string_view, kNatReasonCount> kNatReasonNames = {
#define RTPLATCH_NAT_REASON_NAME(id, name, evidence, help) name,
    RTPLATCH_NAT_REASONS(RTPLATCH_NAT_REASON_NAME)
#undef RTPLATCH_NAT_REASON_NAME
};

inline constexpr std::array<absl::string_view, kNatReasonCount> kNatReasonHelp = {
#define RTPLATCH_NAT_REASON_HELP(id, name, evidence, help) help,
    RTPLATCH_NAT_REASONS(RTPLATCH_NAT_REASON_HELP)
#undef RTPLATCH_NAT_REASON_HELP
};

constexpr absl::string_view NatReasonName(NatReason r) {
  return kNatReasonNames[static_cast<size_t>(r)];
}
std::optional<NatReason> ParseNatReason(absl::string_view name);

// A set of reasons as a bit mask (bit i = NatReason i).
class NatReasonSet {
 public:
  constexpr NatReasonSet() = default;
  constexpr explicit NatReasonSet(uint32_t bits) : bits_(bits) {}
  constexpr NatReasonSet(std::initializer_list<NatReason> reasons) {
    for (NatReason r : reasons) Add(r);
  }
  // The reasons the table marks as evidence of NAT.
  static constexpr NatReasonSet Evidence() {
    uint32_t bits = 0;
    size_t i = 0;
#define RTPLATCH_NAT_REASON_EVIDENCE(id, name, evidence, help) \
  bits |= (evidence ? 1u : 0u) << i++;
    RTPLATCH_NAT_REASONS(RTPLATCH_NAT_REASON_EVIDENCE)
#undef RTPLATCH_NAT_REASON_EVIDENCE
    return NatReasonSet(bits);
  }

  constexpr void Add(NatReason r) { bits_ |= 1u << static_cast<unsigned>(r); }
  constexpr bool Has(NatReason r) const {
    return (bits_ >> static_cast<unsigned>(r)) & 1u;
  }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr uint32_t bits() const { return bits_; }
  constexpr bool Intersects(NatReasonSet other) const {
    return (bits_ & other.bits_) != 0;
  }
  std::vector<absl::string_view> Names() const;  // in table order
  std::string ToString() const;                   // "a,b,c"; "" if empty

  friend constexpr bool operator==(NatReasonSet a, NatReasonSet b) {
    return a.bits_ == b.bits_;
  }

 private:
  uint32_t bits_ = 0;
};
static_assert(kNatReasonCount <= 32);

struct NatVerdict {
  bool natted = false;  // some evidence reason fired
  NatReasonSet reasons;
};

// The addresses an SDP body declares (RFC 4566), for NAT detection and
// for the relay's expected peer.
struct SdpMedia {
  std::string media;  // "audio", "video", ...
  uint16_t port = 0;  // m= port; 0 = stream disabled
  // Effective connection address: the media-level c=, else the session
  // one; nullopt if neither is an IP literal.
  std::optional<IpAddress> connection;
};

struct SdpAddresses {
  std::optional<IpAddress> origin;              // o= address, if an IP
  std::optional<IpAddress> session_connection;  // session-level c=
  std::vector<SdpMedia> media;

  // Every distinct c= IP (session and media level), hold addresses
  // (0.0.0.0, ::) left out.
  std::vector<IpAddress> ConnectionAddresses() const;
};

// The addresses of control/sdp's ParseSdp, the parser the proxy rewrites
// with, so detection and rewriting read the same c=. Errors name the
// problem. Addresses that are names, not IP literals, are left unset (they
// cannot be inside).
absl::StatusOr<SdpAddresses> ParseSdpAddresses(absl::string_view body);

// `sdp`: the message's SDP addresses, or nullptr for "no SDP tests".
NatVerdict DetectNat(const SipMessage& message, const Endpoint& source,
                     const InsidePrefixes& inside, const SdpAddresses* sdp);

// Convenience: parses the body itself when it is application/sdp (an
// unparsable SDP body is skipped, not an error: signalling still works).
NatVerdict DetectNat(const SipMessage& message, const Endpoint& source,
                     const InsidePrefixes& inside);

}  // namespace rtplatch
