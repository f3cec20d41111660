#include "control/registrar/keepalive_interval.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace rtplatch {

KeepaliveInterval KeepaliveIntervalFor(const KeepaliveIntervalInputs& in) {
  const NatDecision& decision = in.decision;
  if (!decision.keepalive) {
    return {0, decision.natted ? "policy: no keepalive" : "not NAT'd"};
  }
  const Binding* prev = in.previous;
  const bool prev_adaptive = prev != nullptr && prev->behind_nat && prev->keepalive_interval_ms > 0;
  // UDP only: a new TCP/TLS connection always has a new source port.
  const bool both_udp = prev != nullptr && in.transport == Binding::Transport::kUdp &&
                        prev->transport == Binding::Transport::kUdp;
  if (prev_adaptive && both_udp && !(prev->source == in.source) && prev->keepalive_learning &&
      in.initial_interval_ms > in.floor_ms) {
    // The NAT forgot the mapping while its timeout was being learned:
    // shorter than the gap under test, so learn again on the new mapping
    // rather than guess half the ceiling.
    return {in.initial_interval_ms,
            absl::StrCat("learning: restarted on a new mapping (", prev->source.ToString(), " -> ",
                         in.source.ToString(), ")"),
            /*learning=*/true};
  }
  if (prev_adaptive && both_udp && !(prev->source == in.source)) {
    const uint32_t halved =
        std::max(in.floor_ms, std::min(prev->keepalive_interval_ms / 2, in.initial_interval_ms));
    const std::string what =
        prev->source.ip == in.source.ip
            ? absl::StrCat("source port ", prev->source.port, " -> ", in.source.port)
            : absl::StrCat("source ", prev->source.ToString(), " -> ", in.source.ToString());
    return {halved, absl::StrCat("mapping changed: ", what, "; interval ",
                                 prev->keepalive_interval_ms, " -> ", halved, " ms",
                                 halved == in.floor_ms ? " (floor)" : "")};
  }
  if (prev_adaptive && prev->keepalive_interval_ms <= in.initial_interval_ms) {
    // Learning continues only over UDP (TCP carries the phone's own).
    return {prev->keepalive_interval_ms, prev->keepalive_reason,
            prev->keepalive_learning && both_udp};
  }
  // TCP carries the phone's own keepalives; an initial interval at the
  // floor leaves nothing to learn.
  if (in.transport != Binding::Transport::kUdp || in.initial_interval_ms <= in.floor_ms) {
    return {in.initial_interval_ms,
            absl::StrCat("initial: ", in.initial_interval_ms, " ms (policy ", decision.policy, ")")};
  }
  return {in.initial_interval_ms,
          absl::StrCat("learning: probing gaps up to ", in.initial_interval_ms, " ms (policy ",
                       decision.policy, ")"),
          /*learning=*/true};
}

}  // namespace rtplatch
