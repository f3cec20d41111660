// The SDP parser and rewriter (control/sdp/sdp.h) on any body: parse,
// then rewrite the way the proxy does and the way the ng server does with
// every option on, and NAT detection's reading of the same body. What the
// proxy's rewrite makes of a body that parsed must parse again, with the
// same m= lines: the phone on the other side reads it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/nat/nat_detector.h"
#include "control/sdp/sdp.h"

namespace rtplatch {
namespace {

// One relay leg per m= line, alternating address families (IPv4/IPv6
// bridging) and leaving every third stream untouched.
std::vector<std::optional<RelayLeg>> Legs(const SdpSession& session, bool ng_style) {
  static const IpAddress kRelay4 = *IpAddress::Parse("203.0.113.10");
  static const IpAddress kRelay6 = *IpAddress::Parse("2001:db8::10");
  std::vector<std::optional<RelayLeg>> legs;
  for (size_t i = 0; i < session.media.size(); ++i) {
    if (i % 3 == 2) {
      legs.push_back(std::nullopt);
      continue;
    }
    RelayLeg leg{i % 2 == 0 ? kRelay4 : kRelay6, static_cast<uint16_t>(30000 + 2 * i),
                 static_cast<uint16_t>(30001 + 2 * i)};
    if (ng_style) {
      leg.rtcp_mux = i % 2 == 0 ? RelayLeg::RtcpMux::kAdd : RelayLeg::RtcpMux::kRemove;
      leg.ice_ufrag = "fuzzufrag";
      leg.ice_pwd = "fuzzpasswordfuzzpassword";
    }
    legs.push_back(leg);
  }
  return legs;
}

void RewriteAsTheProxyDoes(absl::string_view body, const SdpSession& session) {
  absl::StatusOr<std::string> out = RewriteSdp(body, SdpRewrite{Legs(session, false), 2});
  if (!out.ok() || out->size() > kMaxSdpBodyBytes) return;
  absl::StatusOr<SdpSession> again = ParseSdp(*out);
  if (!again.ok() || again->media.size() != session.media.size()) std::abort();
}

void RewriteAsTheNgServerDoes(absl::string_view body, const SdpSession& session) {
  SdpRewrite rewrite{Legs(session, true), session.version + 1};
  rewrite.replace_origin_address = false;
  rewrite.session_connection = SessionConnectionRewrite::kWhenInherited;
  rewrite.replace_hold_address = true;
  rewrite.remove_ice = true;
  rewrite.ice_lite = true;
  rewrite.origin_username = "rtplatch";
  rewrite.session_name = "relayed";
  rewrite.transport_protocol = "RTP/AVPF";
  (void)RewriteSdp(body, rewrite);
}

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<rtplatch::SdpAddresses> addresses = rtplatch::ParseSdpAddresses(body);
  if (addresses.ok()) (void)addresses->ConnectionAddresses();
  absl::StatusOr<rtplatch::SdpSession> session = rtplatch::ParseSdp(body);
  if (!session.ok()) return 0;
  rtplatch::RewriteAsTheProxyDoes(body, *session);
  rtplatch::RewriteAsTheNgServerDoes(body, *session);
  return 0;
}
