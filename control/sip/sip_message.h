// One parsed SIP message: an owning, move-only wrapper over oSIP2's
// osip_message_t, with value-typed accessors for what the registrar, the
// proxy and NAT detection read, and the few mutators proxying needs.
//
// Parsing never trusts the input: it is capped at kMaxSipMessageBytes, NUL
// bytes in the start line and headers are refused before oSIP2 sees them
// (oSIP2 works on C strings), the body never reaches oSIP2's parser (it may
// hold any byte, e.g. an S/MIME signature; it is kept opaque and written
// back byte for byte: sip_serialize.h), the start line is checked by hand so
// "not SIP" and "truncated" get their own errors, header lines and
// parameters/list items are bounded (256 lines, 128 per header, 1024 in all:
// oSIP2 builds its lists in O(n^2), so an unbounded 64 KiB datagram costs a
// second of CPU), and every field an accessor converts (Via port, rport,
// CSeq number, Expires, Contact expires) is validated once here, so
// accessors cannot fail. Every input error is an InvalidArgumentError whose
// message starts "SIP: " and quotes (escaped, shortened) the offending
// input.
//
// Two entry points:
//   Parse        - a message the control plane can act on: it also has
//                  every mandatory header (Via, From, To, Call-ID, CSeq).
//   ParseLenient - syntax only; missing_mandatory_headers() then says what
//                  is missing, so a proxy can answer "400 Missing Call-ID"
//                  (RFC 3261 16.3) when it has enough to build a reply.
//
// First use initialises oSIP2 once (parser_init) and silences its trace
// output: oSIP2 prints parse errors, with attacker-controlled bytes, to
// stdout. A logging layer may install its own osip_trace_initialize_func
// afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

struct osip_message;  // <osipparser2/osip_message.h>

namespace rtplatch {

// Larger than any sane SIP-over-UDP datagram (and than a TCP-framed message
// with a big SDP); bounds oSIP2's work per message.
inline constexpr size_t kMaxSipMessageBytes = 64 * 1024;

inline constexpr uint16_t kSipDefaultPort = 5060;
inline constexpr uint16_t kSipsDefaultPort = 5061;  // TLS / sips:

// The top Via as sent, plus its RFC 3581 parameters.
struct SipVia {
  std::string transport;  // "UDP", "TCP", "TLS", "WS", ... (upper case)
  std::string host;       // sent-by host; an IPv6 address without brackets
  uint16_t port = 0;      // sent-by port, or 5060 (5061 for TLS) if absent
  bool port_explicit = false;
  bool has_rport = false;        // rport present, with or without value
  std::optional<uint16_t> rport;  // its value, if it has one
  std::string received;           // received= value; empty if absent
  std::string branch;             // empty if absent (RFC 2543 peers)

  // UDP: the sent-by port is where replies go, so comparing it with the
  // source port means something (over TCP/TLS the source port is
  // ephemeral and replies use the connection).
  bool is_datagram() const { return transport == "UDP"; }
};

// One Contact header entry.
struct SipContact {
  bool star = false;   // "Contact: *" (REGISTER removing all bindings)
  std::string uri;     // the URI as oSIP2 serialises it ("sip:a@h:p;..")
  std::string scheme;  // "sip", "sips", "tel", ...
  std::string user;
  std::string host;    // an IPv6 address without brackets
  uint16_t port = 0;   // or 5060 (5061 for sips: / transport=tls) if absent
  bool port_explicit = false;
  std::optional<uint32_t> expires;  // the ;expires= header parameter
  // SIP Outbound (RFC 5626): the contact carries ;reg-id and
  // ;+sip.instance, one flow of a phone that wants its flows kept.
  bool outbound_flow = false;
  // The URI's ;ob (RFC 5626 5.3): the UA sent this dialog-forming request
  // over an outbound flow; in-dialog requests must come back over it.
  bool ob = false;
};

// One Digest challenge of a 401 (WWW-Authenticate) or 407
// (Proxy-Authenticate), its values unquoted.
struct SipChallenge {
  std::string realm;
  std::string nonce;
  std::optional<std::string> opaque;
  std::string algorithm;  // "" when absent (MD5)
  std::string qop;        // the offered options, e.g. "auth,auth-int"
  bool stale = false;
};

// From / To: name-addr reduced to what the registrar and dialogs key on.
struct SipNameAddr {
  std::string uri;
  std::string user;
  std::string host;
  std::string tag;  // empty if absent

  // The address of record: "user@host" (just "host" without a user).
  std::string aor() const;
};

enum class SipHeader : uint8_t { kVia, kFrom, kTo, kCallId, kCSeq };
absl::string_view SipHeaderName(SipHeader h);  // "Via", "Call-ID", ...

// Whether a header line's `name` is `full` or its compact form (RFC 3261
// 7.3.3; `compact` empty: none), case-insensitively.
bool SipHeaderNameIs(absl::string_view name, absl::string_view full, absl::string_view compact);

class SipMessage {
 public:
  static absl::StatusOr<SipMessage> Parse(absl::string_view bytes);
  static absl::StatusOr<SipMessage> ParseLenient(absl::string_view bytes);

  SipMessage(SipMessage&&) noexcept;
  SipMessage& operator=(SipMessage&&) noexcept;
  ~SipMessage();

  // A deep copy (osip_message_clone), e.g. to forward a request while the
  // transaction keeps the original.
  absl::StatusOr<SipMessage> Clone() const;

  // Mandatory headers this message lacks (always empty after Parse).
  const std::vector<SipHeader>& missing_mandatory_headers() const {
    return missing_;
  }

  // ---- start line ----
  bool is_request() const;
  std::string method() const;       // request method; empty for a response
  int status_code() const;          // 0 for a request
  std::string reason_phrase() const;
  std::string request_uri() const;  // empty for a response

  // ---- headers ----
  // Top Via. Only valid when the message has a Via (always after Parse);
  // otherwise a default-constructed SipVia.
  SipVia top_via() const;
  // One parameter of the top Via without building a SipVia: nullopt when
  // absent, "" when it has no value. The view lives as long as the message
  // is not changed.
  std::optional<absl::string_view> top_via_param(absl::string_view name) const;
  // The From and To tags ("" when none), views as above.
  absl::string_view from_tag() const;
  absl::string_view to_tag() const;
  size_t via_count() const;
  std::vector<SipContact> contacts() const;
  SipNameAddr from() const;
  SipNameAddr to() const;
  std::string call_id() const;
  uint32_t cseq_number() const;
  std::string cseq_method() const;
  // User-Agent; for a response without one, the Server header (a phone
  // answering a call identifies itself in either).
  std::string user_agent() const;
  std::optional<uint32_t> expires() const;  // the Expires header
  std::string content_type() const;  // "application/sdp"; empty if absent
  bool has_sdp_body() const;         // Content-Type application/sdp, body
  // The body as received, any bytes (after the header block, cut at
  // Content-Length when present, else at the datagram's end).
  const std::string& body() const { return body_; }
  // Values of a header oSIP2 keeps as "other" (Supported, Require,
  // User-Agent, P-*...), in order; name compared case-insensitively.
  std::vector<std::string> header_values(absl::string_view name) const;
  // The Digest challenges of a 401 (proxy: false) or 407 (proxy: true).
  std::vector<SipChallenge> challenges(bool proxy) const;

  // ---- mutators (proxying) ----
  // RFC 3581 / RFC 3261 18.2.1 on the top Via, for a request received from
  // `source`: adds (or replaces) received= when the sent-by host is not
  // the source IP or rport was requested, and fills rport= with the source
  // port when rport was requested. `force_rport` (for a leg known to be
  // NAT'd whose phone did not ask) adds both anyway, so replies reach the
  // NAT mapping. FailedPrecondition if the message has no Via.
  absl::Status ApplyReceivedAndRport(const Endpoint& source,
                                     bool force_rport = false);

  // RFC 3261 16.6 (request forwarding) and 16.7 (responses going back).
  // Each returns InvalidArgument when oSIP2 rejects the value.
  absl::Status PushVia(absl::string_view via_value);  // becomes the top Via
  absl::Status PopVia();                  // FailedPrecondition when none
  absl::Status SetRequestUri(absl::string_view uri);
  // Decrements Max-Forwards (absent counts as 70, RFC 3261 16.6 step 3) and
  // returns the new value; -1, and nothing changed, when it was already 0.
  int DecrementMaxForwards();
  absl::Status PushRecordRoute(absl::string_view value);  // "<sip:h:p;lr>"
  // Route / Record-Route header values, top first, as oSIP2 serialises them.
  std::vector<std::string> routes() const;
  std::vector<std::string> record_routes() const;
  // The URI of the top Route; nullopt when there is none.
  std::optional<SipContact> top_route() const;
  // The top Route's URI carries the parameter `name` (";name" or
  // ";name=value"); false without a Route.
  bool top_route_has_param(absl::string_view name) const;
  void PopRoute();
  // Replaces every body with `body` (empty: none) and sets Content-Type
  // (ignored when the body is empty).
  absl::Status SetBody(absl::string_view body, absl::string_view content_type);
  // RFC 3261 20.28 / 22.3: Proxy-Authorization values for `realm` were
  // meant for us and are consumed here (the callee must not receive the
  // caller's digest); values for other realms stay.
  void RemoveProxyAuthorizations(absl::string_view realm);
  // Removes every header oSIP2 keeps as "other" named `name`
  // (case-insensitively).
  void RemoveHeaders(absl::string_view name);
  // Adds a header line ("Name", "value") at the end of the header block.
  absl::Status AddHeader(absl::string_view name, absl::string_view value);

  // Hands oSIP2's tree to the caller (oSIP2's transaction layer owns the
  // messages of its events); the SipMessage is empty afterwards.
  osip_message* ReleaseOsip() &&;

  // The message as bytes (after any mutation); the body byte for byte.
  absl::StatusOr<std::string> Serialize() const;

  // The header lines a response copies from its request (RFC 3261
  // 8.2.6.2) as they were received, so a reply is built without oSIP2
  // serialising each header: `before_to` holds every Via line but the top
  // one and the From line, `to` the To line without its CRLF (a tag may be
  // appended), `after_to` the Call-ID and CSeq lines. nullptr when the text
  // is unusual (several Vias in the first Via line, a header repeated or
  // missing) or the Vias were changed since parsing; the caller then
  // serialises from oSIP2.
  struct EchoLines {
    std::string before_to;
    std::string to;
    std::string after_to;
  };
  const EchoLines* echo_lines() const { return echo_ ? &*echo_ : nullptr; }

  // Read-only access to oSIP2's tree, for fields not wrapped yet. Valid
  // while this SipMessage lives.
  const osip_message& osip() const { return *msg_; }

 private:
  struct OsipDeleter {
    void operator()(osip_message* m) const;
  };
  using OsipPtr = std::unique_ptr<osip_message, OsipDeleter>;

  SipMessage(OsipPtr msg, std::string body);
  static absl::StatusOr<SipMessage> ParseImpl(absl::string_view bytes,
                                              bool require_mandatory);
  absl::Status Validate() const;

  OsipPtr msg_;
  std::string body_;
  std::vector<SipHeader> missing_;
  std::optional<EchoLines> echo_;
};

}  // namespace rtplatch
