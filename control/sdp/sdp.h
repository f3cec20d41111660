// SDP parsing and rewriting for the SIP proxy (RFC 4566, 3264, 3605): the
// proxy puts the relay in the media path by rewriting each phone's offer or
// answer so the other side sends RTP and RTCP to the relay.
//
// ParseSdp reads what a phone declared, per m= line: port, connection
// address, RTCP port (RFC 3605), rtcp-mux, direction. It is a small
// line-by-line parser of our own (no oSIP2): the rewriter needs to know
// where each field sits in the original text, and the same parser serves
// NAT detection (control/nat), so the two never disagree about a c= line.
//
// RewriteSdp edits that text in place, line by line, and keeps every other
// line, attribute, its order, its spacing and its line ending (CRLF or LF;
// an inserted line takes the ending of the line it follows). For each m=
// line with a relay leg:
//   m=         the port becomes the leg's rtp_port (a "/2" port count is
//              kept).
//   c=         a media-level c= becomes "c=IN IP4|IP6 <relay>" (the relay
//              address's family, so an IPv4 offer can be bridged to IPv6).
//              The session-level c= becomes the first relayed stream's
//              relay address; a stream that relies on it but is relayed on
//              another address gets its own c= after the m= (and i=) line.
//   hold       a c= of 0.0.0.0 or :: (RFC 2543 hold) is left alone: the
//              phone asked not to receive. a=sendonly/inactive are kept.
//   a=rtcp     port and address (long form kept long, short kept short)
//              become the leg's. A stream with neither a=rtcp nor
//              a=rtcp-mux whose rtcp_port is not rtp_port + 1 gets
//              "a=rtcp:<port>" at the end of its section. With rtcp-mux the
//              caller passes the fallback RTCP port it wants (usually
//              rtp_port).
//   o=         sess-version becomes rewrite.origin_version; the address
//              (and IP4/IP6) becomes the first relayed stream's relay
//              address. Username and sess-id are kept.
// The proxy relays every call and wants all of the above. The ng server
// (control/ng) rewrites as rtpengine does, which its clients' `replace`
// and other flags steer: SdpRewrite's options below (each off by default
// means "as the proxy does").
// A stream the phone rejected (m= port 0) or without a leg (nullopt, or
// rtp_port 0) is left untouched; if it is active and inherited a session
// c= that was rewritten, it gets a copy of the original c= so its address
// does not change.
//
// Bounds: bodies over 64 KiB, more than 64 m= lines, NUL bytes, bare CRs
// and lines that are not "<letter>=<value>" are refused. Every error is an
// InvalidArgumentError starting "SDP: " that quotes (escaped, shortened)
// the offending line and gives its 1-based number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace rtplatch {

inline constexpr size_t kMaxSdpBodyBytes = 64 * 1024;
// Phones send one to three; WebRTC bundles a few dozen at most.
inline constexpr size_t kMaxSdpMediaLines = 64;

// One m= section as the phone sent it.
struct SdpMediaDescription {
  enum class Direction : uint8_t { kSendRecv, kSendOnly, kRecvOnly, kInactive };

  std::string media;  // "audio", "video", ...
  uint16_t port = 0;  // m= port; 0 = stream rejected / disabled
  std::string proto;  // "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", ...
  // Effective c=: the media-level one, else the session-level one; nullopt
  // if neither is an IP literal (absent, or an FQDN).
  std::optional<IpAddress> connection;
  bool connection_is_hold = false;  // that c= is 0.0.0.0 or ::
  bool ipv6 = false;                // that c= is "IN IP6"
  std::optional<uint16_t> rtcp_port;       // a=rtcp:PORT
  std::optional<IpAddress> rtcp_address;   // a=rtcp:PORT IN IP4 ADDR
  bool rtcp_mux = false;                   // a=rtcp-mux
  // Media-level attribute, else the session-level one, else sendrecv.
  Direction direction = Direction::kSendRecv;
};

struct SdpSession {
  // From o=; empty / 0 / nullopt when the body has no o= line.
  std::string origin_username;
  uint64_t session_id = 0;
  uint64_t version = 0;
  std::optional<IpAddress> origin_address;  // nullopt if not an IP literal
  // The first session-level c= (hold addresses included); nullopt if there
  // is none or it is not an IP literal.
  std::optional<IpAddress> session_connection;
  std::vector<SdpMediaDescription> media;   // in m= order
};

absl::StatusOr<SdpSession> ParseSdp(absl::string_view body);

// Where the relay receives one stream.
struct RelayLeg {
  // a=rtcp-mux in what the receiver of this SDP reads (RFC 5761): as the
  // sender wrote it, added (ng "rtcp-mux offer"), or removed ("demux",
  // "reject"). Without mux, a=rtcp names rtcp_port as usual.
  enum class RtcpMux : uint8_t { kKeep, kAdd, kRemove };

  IpAddress address;
  uint16_t rtp_port = 0;  // 0 = leave this m= line untouched
  uint16_t rtcp_port = 0;
  RtcpMux rtcp_mux = RtcpMux::kKeep;
  // The relay as this stream's only ICE candidate (ng "ICE=force"):
  // a=ice-ufrag, a=ice-pwd and host candidates at the relay ports (RTCP's
  // only without rtcp-mux). Empty: no ICE lines for this stream.
  std::string ice_ufrag;
  std::string ice_pwd;
};

// Which session-level c= is rewritten.
enum class SessionConnectionRewrite : uint8_t {
  kAlways,          // the proxy; ng "replace session-connection"
  kWhenInherited,   // rtpengine's default: only if a relayed stream has no c= of its own
};

struct SdpRewrite {
  // One entry per m= line, in order (a size mismatch is an error: the
  // caller built it from a different body). nullopt = leave untouched.
  std::vector<std::optional<RelayLeg>> media;
  // The new o= sess-version (RFC 3264 8: one higher than the last one this
  // side of the relay sent).
  uint64_t origin_version = 0;
  // o= address and addrtype (ng "replace origin").
  bool replace_origin_address = true;
  SessionConnectionRewrite session_connection = SessionConnectionRewrite::kAlways;
  // A hold address (0.0.0.0, ::) becomes the relay's too (ng "replace
  // zero-address"); otherwise it is kept, as the phone asked not to receive.
  bool replace_hold_address = false;
  // Drops ICE (a=candidate, a=remote-candidates, a=end-of-candidates and
  // every a=ice-*, session and media level): candidates would lead the
  // phones around the relay.
  bool remove_ice = false;
  // Adds a=ice-lite at session level: the relay answers checks but makes
  // none (set with the legs' ice_ufrag; needs remove_ice).
  bool ice_lite = false;
  // Replaces o= username (ng "replace username") and the s= text (ng
  // "replace session-name").
  std::optional<std::string> origin_username;
  std::optional<std::string> session_name;
  // The m= proto of every relayed stream (ng "transport-protocol").
  std::optional<std::string> transport_protocol;
};

absl::StatusOr<std::string> RewriteSdp(absl::string_view body,
                                       const SdpRewrite& rewrite);

}  // namespace rtplatch
