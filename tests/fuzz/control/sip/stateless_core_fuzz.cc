// The stateless core (control/sip/stateless_core.h): one datagram in, at
// most one reply out, from any bytes, over UDP and over a stream
// transport; every reply must parse again (corpus seeds 773eb7eb...,
// 60050868... once got a 400 and a 501 that did not). So must the
// overload shedder's 503 built from the raw lines (control/guard/
// raw_response.h), whenever it builds one.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/guard/raw_response.h"
#include "control/sip/sip_message.h"
#include "control/sip/stateless_core.h"
#include "control/sip/sip_transport.h"

namespace rtplatch {
namespace {

StatelessCore::Options CoreOptions() {
  StatelessCore::Options o;
  o.local_addresses = {*IpAddress::Parse("203.0.113.10"), *IpAddress::Parse("2001:db8::10")};
  o.local_ports = {5060};
  o.server_header = "rtplatch-fuzz";
  return o;
}

void HandleOver(StatelessCore& core, absl::string_view bytes, SipTransportKind transport) {
  SipInbound in;
  in.bytes = bytes;
  in.source = *Endpoint::Parse("203.0.113.30:40001");
  in.local = *Endpoint::Parse("203.0.113.10:5060");
  in.transport = transport;
  in.channel = 1;
  std::optional<SipOutbound> reply = core.Handle(in);
  if (reply && !SipMessage::Parse(reply->bytes).ok()) __builtin_trap();
  std::optional<std::string> refusal =
      RawStatelessResponse(bytes, in.source, 503, "Service Unavailable", "rtplatch-fuzz",
                           {"Retry-After: 5"});
  if (refusal && !SipMessage::Parse(*refusal).ok()) __builtin_trap();
}

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static rtplatch::StatelessCore core(rtplatch::CoreOptions());
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  rtplatch::HandleOver(core, bytes, rtplatch::SipTransportKind::kUdp);
  rtplatch::HandleOver(core, bytes, rtplatch::SipTransportKind::kTcp);
  return 0;
}
