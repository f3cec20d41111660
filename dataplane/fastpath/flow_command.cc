#include "dataplane/fastpath/flow_command.h"

#include <cstring>

namespace rtplatch {

void RefreshEgress(FlowTable& table, uint32_t slot) {
  Flow& f = table.at(slot);
  if (f.state == LatchState::kFree || f.partner_slot == kNoSlot) return;
  const Flow& partner = table.at(f.partner_slot);
  bool latched = partner.state == LatchState::kLearning ||
                 partner.state == LatchState::kLocked;
  bool use_learned = latched && partner.policy != LatchPolicy::kAsymmetric;
  IpAddress dst_ip = use_learned ? partner.peer_ip : partner.expected_ip;
  uint16_t dst_port = use_learned ? partner.peer_port : partner.expected_port;
  bool ready = partner.state != LatchState::kFree && dst_port != 0 &&
               !dst_ip.is_unspecified();
  f.egress_dst_ip = dst_ip;
  f.egress_dst_port = dst_port;
  f.egress_addr_id = table.AddressIdOf(f.partner_slot);
  f.egress_src_port = table.PortOf(f.partner_slot);
  f.flags = ready ? (f.flags | kFlowEgressReady)
                  : static_cast<uint8_t>(f.flags & ~kFlowEgressReady);
}

// An RTP slot's install sets (or clears) its stream's credentials; its
// removal clears them. RTCP slots (odd: the table's port range starts
// even) share the RTP slot's entry.
void ApplyIce(IceCredentialTable& ice, const FlowCommand& c) {
  if ((c.slot & 1) != 0) return;
  if (c.op == FlowCommand::Op::kInstall && c.ice.present()) {
    ice.Insert(c.slot, c.ice);  // the registry keeps each lcore within capacity
  } else if (c.op != FlowCommand::Op::kUpdate) {
    ice.Erase(c.slot);
  }
}

void ApplyFlowCommand(FlowTable& table, const FlowCommand& c, IceCredentialTable* ice) {
  if (c.slot >= table.size()) return;
  if (ice != nullptr) ApplyIce(*ice, c);
  Flow& f = table.at(c.slot);
  SeqlockBeginWrite(f);
  switch (c.op) {
    case FlowCommand::Op::kInstall: {
      uint32_t seq = f.seq.load(std::memory_order_relaxed);
      std::memset(static_cast<void*>(&f), 0, sizeof(Flow));
      f.seq.store(seq, std::memory_order_relaxed);
      f.state = LatchState::kUnlatched;
      f.partner_slot = c.partner_slot;
      f.generation = c.generation;
      f.flags = c.flags & (kFlowRtcp | kFlowRtcpMux);
      [[fallthrough]];
    }
    case FlowCommand::Op::kUpdate:
      f.policy = c.policy;
      f.expected_ip = c.expected_ip;
      f.expected_port = c.expected_port;
      break;
    case FlowCommand::Op::kRemove:
      f.state = LatchState::kFree;
      f.flags = 0;
      break;
  }
  SeqlockEndWrite(f);
  RefreshEgress(table, c.slot);
  if (f.partner_slot != kNoSlot && f.partner_slot < table.size()) {
    RefreshEgress(table, f.partner_slot);
  }
}

}  // namespace rtplatch
