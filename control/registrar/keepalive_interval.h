// How often the dataplane should send a NAT'd binding's keepalives, and
// why (design.md rule 5 and its failure mode "NAT UDP timeout shorter than
// the keepalive interval"). A pure decision, like DecideLatch: the binding
// this REGISTER continues, the source it came from, the policy's verdict
// in; an interval and a reason short enough for `rtplatchctl
// registrations` out.
#pragma once

#include <cstdint>
#include <string>

#include "common/ip_address.h"
#include "control/nat/nat_policy.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

struct KeepaliveInterval {
  uint32_t interval_ms = 0;  // 0: no keepalives
  std::string reason;
  // The NAT's timeout is to be learned (Binding::keepalive_learning):
  // interval_ms is then the ceiling the probes grow to.
  bool learning = false;
};

struct KeepaliveIntervalInputs {
  const NatDecision& decision;
  // The live binding this REGISTER continues (same Contact, else same
  // Call-ID), or nullptr for a new one.
  const Binding* previous = nullptr;
  Endpoint source;  // where this REGISTER came from
  Binding::Transport transport = Binding::Transport::kUdp;
  uint32_t initial_interval_ms = 0;  // a new binding's interval
  uint32_t floor_ms = 0;             // the adaptive interval never goes below
};

// - No keepalive in the decision: 0, "not NAT'd" or "policy: no keepalive".
// - The previous binding's UDP mapping changed (a new source while it was
//   live): the NAT forgot it sooner than we refresh, so half the previous
//   interval (capped by the initial one), down to the floor.
// - Same mapping, an interval already learnt (or still being learned) not
//   above the initial one: kept, with its reason and learning state.
// - Otherwise the initial interval; over UDP it is only the ceiling of the
//   learning that starts (TCP connections carry the phone's own keepalives).
KeepaliveInterval KeepaliveIntervalFor(const KeepaliveIntervalInputs& in);

}  // namespace rtplatch
