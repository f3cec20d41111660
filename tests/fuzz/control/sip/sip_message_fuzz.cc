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
#include "tests/control/sip/sip_message_readers.h"

namespace rtplatch {
namespace {


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
  if (lenient.ok()) rtplatch::ReadEveryAccessor(*lenient);
  absl::StatusOr<SipMessage> strict = SipMessage::Parse(bytes);
  if (!strict.ok()) return 0;
  rtplatch::ReadEveryAccessor(*strict);
  absl::StatusOr<SipMessage> copy = strict->Clone();
  if (copy.ok()) rtplatch::ProxyAndSerialize(std::move(*copy));
  return 0;
}
