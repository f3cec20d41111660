// SipMessage (control/sip/sip_message.h) on any bytes a socket may hand
// it: both parse entry points, every accessor the registrar, the proxy and
// NAT detection read, the proxy's mutators, and serialising the result.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/sip/sip_message.h"
#include "control/sip/sip_uri.h"

namespace rtplatch {
namespace {

// Reads what the control plane reads of a parsed message.
void ReadEverything(const SipMessage& m) {
  (void)m.is_request();
  (void)m.method();
  (void)m.status_code();
  (void)m.reason_phrase();
  (void)ParseUri(m.request_uri());
  if (m.via_count() > 0) (void)m.top_via();
  (void)m.top_via_param("branch");
  (void)m.from_tag();
  (void)m.to_tag();
  (void)m.contacts();
  (void)m.from().aor();
  (void)m.to().aor();
  (void)m.call_id();
  (void)m.cseq_number();
  (void)m.cseq_method();
  (void)m.user_agent();
  (void)m.expires();
  (void)m.content_type();
  (void)m.has_sdp_body();
  (void)m.header_values("Supported");
  (void)m.challenges(/*proxy=*/false);
  (void)m.challenges(/*proxy=*/true);
  (void)m.routes();
  (void)m.record_routes();
  (void)m.top_route();
  (void)m.echo_lines();
}

// What the proxy does to a request it forwards, then the bytes it sends.
void ProxyAndSerialize(SipMessage m) {
  static const Endpoint kSource = *Endpoint::Parse("203.0.113.30:40001");
  if (m.via_count() > 0) (void)m.ApplyReceivedAndRport(kSource, /*force_rport=*/true);
  (void)m.DecrementMaxForwards();
  (void)m.PushVia("SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKfuzz");
  (void)m.PushRecordRoute("<sip:203.0.113.10:5060;lr>");
  m.RemoveProxyAuthorizations("example.com");
  m.PopRoute();
  absl::StatusOr<std::string> bytes = m.Serialize();
  if (bytes.ok()) (void)SipMessage::ParseLenient(*bytes);
}

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rtplatch::SipMessage;
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<SipMessage> lenient = SipMessage::ParseLenient(bytes);
  if (lenient.ok()) rtplatch::ReadEverything(*lenient);
  absl::StatusOr<SipMessage> strict = SipMessage::Parse(bytes);
  if (!strict.ok()) return 0;
  rtplatch::ReadEverything(*strict);
  absl::StatusOr<SipMessage> copy = strict->Clone();
  if (copy.ok()) rtplatch::ProxyAndSerialize(std::move(*copy));
  return 0;
}
