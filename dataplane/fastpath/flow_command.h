// What the control thread asks an lcore to do to a flow it owns. Commands
// travel through the lcore's SpscRing and are applied between bursts, so
// every flow keeps a single writer and deletion needs no RCU: once the
// owner has freed a slot no reader of the fast path can still hold it.
#pragma once

#include <cstdint>

#include "common/ip_address.h"
#include "dataplane/fastpath/flow.h"
#include "dataplane/fastpath/flow_table.h"
#include "dataplane/fastpath/ice_credential_table.h"

namespace rtplatch {

struct FlowCommand {
  enum class Op : uint8_t { kInstall, kUpdate, kRemove };
  Op op;
  LatchPolicy policy;
  uint8_t flags;          // kFlowRtcp / kFlowRtcpMux
  uint16_t generation;
  uint32_t slot;
  uint32_t partner_slot;
  IpAddress expected_ip;  // unspecified clears
  uint16_t expected_port;
  // kInstall of an RTP slot: the stream's ICE credentials (none: it
  // answers no checks). The RTCP port answers with the same ones.
  IceCredentials ice{};
};

// Applies one command on the owning lcore and refreshes the egress of
// every flow whose destination it changes. `ice` is the lcore's credential
// table (nullptr: credentials are ignored).
void ApplyFlowCommand(FlowTable& table, const FlowCommand& command,
                      IceCredentialTable* ice = nullptr);

// Recomputes where packets arriving at `slot` go: out of the partner's
// relay port to the partner's learned peer, else its signalled address.
void RefreshEgress(FlowTable& table, uint32_t slot);

}  // namespace rtplatch
