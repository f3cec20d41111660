// How a relayed leg learns where to send: the one vocabulary the NAT
// policies (control/nat), the dataplane link's requests (control/media)
// and the fast path's latch decision (dataplane/fastpath) all speak, so a
// policy configured for a User-Agent reaches the flow unchanged.
#pragma once

#include <cstdint>
#include <string_view>

namespace rtplatch {

enum class LatchPolicy : uint8_t {
  kLearn,       // latch to the first valid source in the window, then lock
  kStrict,      // only the signalled IP may latch (port may differ)
  kAsymmetric,  // never latch: accept from the signalled IP, send to the SDP address
};

// "learn", "strict", "asymmetric": the names in configs and on the wire.
std::string_view LatchPolicyName(LatchPolicy p);
bool ParseLatchPolicy(std::string_view text, LatchPolicy* out);

}  // namespace rtplatch
