// SIP Outbound flow tokens (RFC 5626 §5.2): the flow a phone reached us
// over (transport, its address, ours), written into the user part of a
// Record-Route or Path URI that only we can read back. An in-dialog
// request routed through that URI goes back over the same flow, with no
// lookup: the token is the state.
//
// A token is base64url(version | transport | remote | local | MAC), the MAC
// a truncated HMAC-SHA256 under a key of ours: a token that fails it was
// made up or tampered with (RFC 5626: 403), never a flow we route to.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/sip/sip_transport.h"

namespace rtplatch {

struct SipFlow {
  SipTransportKind transport = SipTransportKind::kUdp;
  Endpoint remote;  // the phone's address as we see it (after its NAT)
  Endpoint local;   // our socket's address
  friend bool operator==(const SipFlow&, const SipFlow&) = default;
};

class FlowTokens {
 public:
  static constexpr size_t kKeyBytes = 32;
  using Key = std::array<uint8_t, kKeyBytes>;

  explicit FlowTokens(const Key& key) : key_(key) {}
  // A key from the system's random source: tokens die with the process,
  // as the calls they route do (calls are not persisted).
  static absl::StatusOr<FlowTokens> WithRandomKey();

  std::string Encode(const SipFlow& flow) const;
  // nullopt: not a token of ours (wrong length, version or MAC).
  std::optional<SipFlow> Decode(absl::string_view token) const;

 private:
  Key key_;
};

}  // namespace rtplatch
