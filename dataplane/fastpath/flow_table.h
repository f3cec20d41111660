// The direct-indexed flow table: slot = address_id * ports_per_address +
// (port - port_min). Relay ports are ours to hand out, so a packet's flow
// is one multiply-add away, with no hashing, and its cache line can be
// prefetched as soon as the UDP header is read.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "dataplane/fastpath/flow.h"
#include "dataplane/fastpath/relay_addresses.h"

namespace rtplatch {

// A consistent copy of a flow, taken by the control thread under the
// flow's seqlock while the owner lcore may be writing it.
struct FlowSnapshot {
  LatchState state;
  LatchPolicy policy;
  IpAddress peer_ip;
  uint16_t peer_port;
  IpAddress expected_ip;
  uint16_t expected_port;
  uint64_t last_rx_ns;
  uint64_t packets;
  uint64_t bytes;
  uint64_t drops;
  uint32_t relatches;
  uint16_t generation;
};

class FlowTable {
 public:
  // Ports [port_min, port_max] on every relay address; port_min is rounded
  // up to even so RTP sits on even ports and RTCP on the next odd one.
  static absl::StatusOr<std::unique_ptr<FlowTable>> Create(
      RelayAddresses addresses, uint16_t port_min, uint16_t port_max);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  const RelayAddresses& addresses() const { return addresses_; }
  uint32_t size() const { return slots_; }
  uint32_t ports_per_address() const { return ports_per_address_; }
  uint16_t port_min() const { return port_min_; }
  size_t bytes() const { return size_t{slots_} * sizeof(Flow); }

  // kNoSlot when the port is outside the relay range.
  uint32_t SlotOf(uint8_t address_id, uint16_t port) const {
    uint32_t offset = static_cast<uint32_t>(port) - port_min_;
    if (offset >= ports_per_address_) return kNoSlot;
    return address_id * ports_per_address_ + offset;
  }
  uint8_t AddressIdOf(uint32_t slot) const { return slot / ports_per_address_; }
  uint16_t PortOf(uint32_t slot) const {
    return static_cast<uint16_t>(port_min_ + slot % ports_per_address_);
  }

  Flow& at(uint32_t slot) { return flows_[slot]; }
  const Flow& at(uint32_t slot) const { return flows_[slot]; }
  const Flow* data() const { return flows_; }

  FlowSnapshot Snapshot(uint32_t slot) const;

 private:
  // Takes `flows`: slots zeroed Flows from aligned_alloc.
  FlowTable(RelayAddresses addresses, uint16_t port_min, uint32_t ports_per_address,
            Flow* flows);

  const RelayAddresses addresses_;
  const uint16_t port_min_;
  const uint32_t ports_per_address_;
  const uint32_t slots_;
  Flow* flows_ = nullptr;  // 64-byte aligned, zeroed (all kFree)
};

// Owner lcore of a slot: both ports of a stream and both streams of a pair
// are placed (by the allocator) on one lcore, so latching a peer and
// refreshing the partner's egress never crosses lcores.
inline uint32_t OwnerIndexOf(uint32_t slot, uint32_t lcore_count) {
  return (slot >> 1) % lcore_count;
}

}  // namespace rtplatch
