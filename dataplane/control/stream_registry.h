// The control thread's view of streams: allocates relay port pairs, keeps
// stream and pair records, and turns requests into FlowCommands for the
// owning lcores. It never writes a Flow itself (single-writer rule); it
// reads flows only through FlowTable::Snapshot.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "dataplane/fastpath/dataplane_event.h"
#include "dataplane/fastpath/flow_command.h"
#include "dataplane/fastpath/flow_table.h"
#include "dataplane/fastpath/neighbor_table.h"
#include "dataplane/fastpath/spsc_ring.h"

namespace rtplatch {

// Streams per lcore that can answer ICE checks: 56 bytes each, in a table
// sized at start (IceCredentialTable).
inline constexpr uint32_t kDefaultIceStreamsPerLcore = 16384;

struct LegRequest {
  bool ipv6 = false;
  std::optional<Endpoint> peer;  // the SDP address, if known
  std::optional<LatchPolicy> policy;
  bool rtcp_mux = false;
  // The relay RTP port to take (RTCP is port + 1), e.g. to recreate a pair
  // after a restart at the ports the phones were told; nullopt: any.
  std::optional<Endpoint> relay;
  // The relay address to take a port on (the interface facing this leg's
  // phone: ng's "direction"); nullopt: any of the leg's family. A `relay`
  // wins over it.
  std::optional<IpAddress> address;
  // Credentials this leg's relay ports answer ICE checks with (ng
  // "ICE=force"); none: STUN there is dropped.
  IceCredentials ice{};
};

struct StreamView {
  uint64_t stream = 0;
  uint64_t pair = 0;
  char leg = 'a';
  std::string label;
  Endpoint relay;
  Endpoint rtcp_relay;
  uint32_t lcore_index = 0;
  FlowSnapshot rtp;
  FlowSnapshot rtcp;
  std::optional<uint64_t> idle_ns;  // nullopt: no packet yet
};

struct PairView {
  uint64_t pair = 0;
  StreamView a;
  StreamView b;
};

struct StreamFilter {
  std::optional<LatchState> state;
  std::optional<LatchPolicy> policy;
  std::optional<std::string> label;
  std::optional<IpAddress> peer_ip;  // learned or expected
};

struct ControlEvent {
  enum class Type { kLatched, kRelatched, kIdle };
  Type type;
  uint64_t stream;
  uint64_t pair;
  Endpoint peer;     // latches
  uint64_t idle_ns;  // idle
};

class StreamRegistry {
 public:
  // `command_rings[i]` feeds lcore index i. `wait_for_ring` runs when a
  // ring is full (production: a short sleep; tests: drain it). Each lcore
  // holds ICE credentials for at most `ice_streams_per_lcore` streams
  // (its IceCredentialTable's capacity).
  StreamRegistry(FlowTable& table, std::vector<SpscRing<FlowCommand>*> command_rings,
                 LatchPolicy default_policy, std::function<void()> wait_for_ring,
                 uint32_t ice_streams_per_lcore = kDefaultIceStreamsPerLcore);

  // A leg with `relay` gets exactly that port pair (InvalidArgument if it
  // is not a relay port pair of the leg's family, AlreadyExists if taken);
  // a leg without it gets the next free pair on the pair's lcore, which a
  // requested relay fixes (both streams of a pair live on one lcore).
  absl::StatusOr<PairView> Allocate(const LegRequest& a, const LegRequest& b,
                                    std::string label, uint64_t now_ns);
  absl::StatusOr<StreamView> Update(uint64_t stream, std::optional<std::optional<Endpoint>> peer,
                                    std::optional<LatchPolicy> policy, uint64_t now_ns);
  absl::Status Delete(uint64_t pair);
  absl::StatusOr<StreamView> Query(uint64_t stream, uint64_t now_ns) const;
  // Both streams of a pair (a, b) in one lookup.
  absl::StatusOr<std::pair<StreamView, StreamView>> QueryPair(uint64_t pair,
                                                              uint64_t now_ns) const;
  std::vector<StreamView> List(const StreamFilter& filter, size_t offset, size_t limit,
                               uint64_t now_ns, size_t* total) const;

  // Drains the lcores' event rings: neighbors go into `neighbors`, latches
  // become ControlEvents appended to `out`. Stale events (slot freed or
  // reused since) are ignored.
  // Events of other kinds go to `other(ring_index, event)` if given.
  void DrainEvents(std::vector<SpscRing<DataplaneEvent>*>& rings, NeighborTable& neighbors,
                   std::vector<ControlEvent>* out,
                   const std::function<void(uint32_t, const DataplaneEvent&)>& other = nullptr);
  // Checks up to `budget` streams for silence longer than `timeout_ns`;
  // reports each silent stream once until it sees traffic again.
  void ScanIdle(uint64_t now_ns, uint64_t timeout_ns, size_t budget,
                std::vector<ControlEvent>* out);

  size_t stream_count() const { return streams_.size(); }
  // Streams by latch state (index: LatchState), as the last full pass of
  // ScanIdle found them: a census taken a slice at a time, never a walk
  // of a million streams at once; all zero before the first pass ends.
  const std::array<size_t, kLatchStateCount>& states_seen() const { return states_seen_; }
  size_t pair_count() const { return pairs_.size(); }
  size_t free_port_pairs(bool ipv6) const;

  // The relay addresses and which of them this node holds (address takeover).
  const RelayAddresses& addresses() const { return table_.addresses(); }

 private:
  struct StreamRecord {
    uint64_t pair;
    uint32_t rtp_slot;
    uint32_t lcore_index;
    uint32_t dense_index;   // position in dense_streams_
    uint64_t allocated_ns;
    uint16_t generation;
    LatchPolicy policy;              // as last requested
    std::optional<Endpoint> expected;  // as last requested
    bool leg_b;
    bool rtcp_mux;
    bool idle_reported;
    IceCredentials ice;
  };
  struct PairRecord {
    uint64_t a;
    uint64_t b;
    std::string label;
  };

  // Free RTP slots, one FIFO queue per (relay address, lcore): taken from
  // the head, returned to the tail. The queues are doubly-linked lists
  // threaded through arrays indexed by slot / 2, so taking the next slot,
  // returning one and taking a given one (a requested relay: an index, not
  // a scan) are all O(1), for 8 bytes per port pair.
  class FreeSlots {
   public:
    FreeSlots(uint32_t slots, uint32_t queues);
    bool empty(uint32_t queue) const { return queues_[queue].size == 0; }
    size_t size(uint32_t queue) const { return queues_[queue].size; }
    bool contains(uint32_t slot) const { return queued_[slot >> 1]; }
    uint32_t PopHead(uint32_t queue);                // queue not empty
    void PushTail(uint32_t queue, uint32_t slot);    // slot not queued
    void Remove(uint32_t queue, uint32_t slot);      // slot queued in queue

 private:
    static constexpr uint32_t kNil = UINT32_MAX;
    struct Queue {
      uint32_t head = kNil;  // pair indices (slot / 2)
      uint32_t tail = kNil;
      uint32_t size = 0;
    };
    std::vector<Queue> queues_;
    std::vector<uint32_t> next_;  // towards the tail
    std::vector<uint32_t> prev_;  // towards the head
    std::vector<bool> queued_;
  };

  uint32_t QueueOf(uint8_t address_id, uint32_t lcore_index) const {
    return address_id * static_cast<uint32_t>(rings_.size()) + lcore_index;
  }
  // The next free pair of `leg`'s family (on `leg.address`, if set).
  std::optional<uint32_t> TakePortPair(const LegRequest& leg, uint32_t lcore_index);
  // The RTP slot of `leg.relay`, if it names a relay port pair of the leg's
  // family; `field` names it in errors ("a.relay").
  absl::StatusOr<uint32_t> RequestedSlot(absl::string_view field, const LegRequest& leg) const;
  // Where a pair's legs go: RTP slots and their common lcore.
  struct Placement {
    uint32_t lcore = 0;
    std::optional<uint32_t> slot_a;
    std::optional<uint32_t> slot_b;
  };
  // The requested relays' slots (unset for a leg that asked for none) and
  // their lcore; InvalidArgument / AlreadyExists. Takes nothing.
  absl::StatusOr<Placement> CheckRequested(const LegRequest& a, const LegRequest& b) const;
  // Takes the requested slots, and for a leg without one the next free
  // pair on their lcore.
  absl::StatusOr<Placement> TakeRequested(const LegRequest& a, const LegRequest& b,
                                          Placement want);
  // Neither leg asked: the first lcore from next_lcore_ on with room for both.
  absl::StatusOr<Placement> TakeRoundRobin(const LegRequest& a, const LegRequest& b);
  void ReturnPortPair(uint32_t rtp_slot);
  void Send(uint32_t lcore_index, const FlowCommand& command);
  void InstallLeg(const StreamRecord& self);
  void SendExpected(FlowCommand::Op op, const StreamRecord& r, LatchPolicy policy,
                    const std::optional<Endpoint>& peer);
  StreamView View(uint64_t id, const StreamRecord& r, uint64_t now_ns) const;
  std::optional<uint64_t> LastActivity(const StreamRecord& r) const;
  LatchState StateOf(const StreamRecord& r) const;

  FlowTable& table_;
  std::vector<SpscRing<FlowCommand>*> rings_;
  const LatchPolicy default_policy_;
  std::function<void()> wait_for_ring_;
  const uint32_t ice_capacity_;
  std::vector<uint32_t> ice_streams_;  // by lcore index
  FreeSlots free_;  // queue QueueOf(address_id, lcore_index)
  absl::flat_hash_map<uint64_t, StreamRecord> streams_;
  absl::flat_hash_map<uint64_t, PairRecord> pairs_;
  absl::flat_hash_map<uint32_t, uint64_t> stream_by_slot_;  // RTP and RTCP slots
  std::vector<uint64_t> dense_streams_;
  size_t idle_cursor_ = 0;
  std::array<size_t, kLatchStateCount> states_counting_{};
  std::array<size_t, kLatchStateCount> states_seen_{};
  uint64_t next_stream_ = 1;
  uint64_t next_pair_ = 1;
  uint16_t next_generation_ = 1;
  uint32_t next_lcore_ = 0;
};

}  // namespace rtplatch
