#include "dataplane/control/stream_registry.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace rtplatch {

StreamRegistry::FreeSlots::FreeSlots(uint32_t slots, uint32_t queues)
    : queues_(queues), next_(slots / 2, kNil), prev_(slots / 2, kNil), queued_(slots / 2) {}

uint32_t StreamRegistry::FreeSlots::PopHead(uint32_t queue) {
  const uint32_t slot = queues_[queue].head << 1;
  Remove(queue, slot);
  return slot;
}

void StreamRegistry::FreeSlots::PushTail(uint32_t queue, uint32_t slot) {
  const uint32_t i = slot >> 1;
  Queue& q = queues_[queue];
  prev_[i] = q.tail;
  next_[i] = kNil;
  if (q.tail == kNil) {
    q.head = i;
  } else {
    next_[q.tail] = i;
  }
  q.tail = i;
  ++q.size;
  queued_[i] = true;
}

void StreamRegistry::FreeSlots::Remove(uint32_t queue, uint32_t slot) {
  const uint32_t i = slot >> 1;
  Queue& q = queues_[queue];
  if (prev_[i] == kNil) {
    q.head = next_[i];
  } else {
    next_[prev_[i]] = next_[i];
  }
  if (next_[i] == kNil) {
    q.tail = prev_[i];
  } else {
    prev_[next_[i]] = prev_[i];
  }
  next_[i] = prev_[i] = kNil;
  --q.size;
  queued_[i] = false;
}

StreamRegistry::StreamRegistry(FlowTable& table,
                               std::vector<SpscRing<FlowCommand>*> command_rings,
                               LatchPolicy default_policy,
                               std::function<void()> wait_for_ring,
                               uint32_t ice_streams_per_lcore)
    : table_(table),
      rings_(std::move(command_rings)),
      default_policy_(default_policy),
      wait_for_ring_(std::move(wait_for_ring)),
      ice_capacity_(ice_streams_per_lcore),
      ice_streams_(rings_.size(), 0),
      free_(table_.size(), static_cast<uint32_t>(table_.addresses().size() * rings_.size())) {
  const uint32_t lcores = static_cast<uint32_t>(rings_.size());
  // Ascending, so the head of each queue is its lowest port: allocation
  // order is deterministic (address 0 first, ascending even ports).
  for (uint32_t slot = 0; slot < table_.size(); slot += 2) {
    free_.PushTail(QueueOf(table_.AddressIdOf(slot), OwnerIndexOf(slot, lcores)), slot);
  }
}

size_t StreamRegistry::free_port_pairs(bool ipv6) const {
  size_t n = 0;
  for (size_t a = 0; a < table_.addresses().size(); ++a) {
    if (table_.addresses().at(static_cast<uint8_t>(a)).is_v4() == ipv6) continue;
    for (uint32_t lcore = 0; lcore < rings_.size(); ++lcore) {
      n += free_.size(QueueOf(static_cast<uint8_t>(a), lcore));
    }
  }
  return n;
}

std::optional<uint32_t> StreamRegistry::TakePortPair(const LegRequest& leg,
                                                     uint32_t lcore_index) {
  for (size_t a = 0; a < table_.addresses().size(); ++a) {
    const IpAddress& address = table_.addresses().at(static_cast<uint8_t>(a));
    if (address.is_v4() == leg.ipv6) continue;
    if (leg.address && !(address == *leg.address)) continue;
    // Unasked, a call goes to an address this node holds; asked for, a
    // standby one may be prepared before it is taken (a failover).
    if (!leg.address && !table_.addresses().held(static_cast<uint8_t>(a))) continue;
    const uint32_t queue = QueueOf(static_cast<uint8_t>(a), lcore_index);
    if (free_.empty(queue)) continue;
    return free_.PopHead(queue);
  }
  return std::nullopt;
}

absl::StatusOr<uint32_t> StreamRegistry::RequestedSlot(absl::string_view field,
                                                       const LegRequest& leg) const {
  const Endpoint& relay = *leg.relay;
  if (relay.ip.is_v4() == leg.ipv6) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", relay.ToString(), " is not of the leg's family ",
        leg.ipv6 ? "ipv6" : "ipv4"));
  }
  const uint8_t id = table_.addresses().Find(relay.ip);
  if (id == kNoAddress) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", relay.ip.ToString(), " is not a relay address of this dataplane"));
  }
  const uint32_t slot = table_.SlotOf(id, relay.port);
  if (slot == kNoSlot) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": port ", relay.port, " is outside the relay port range ", table_.port_min(),
        "..", table_.port_min() + table_.ports_per_address() - 1));
  }
  if (relay.port % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": port ", relay.port, " is odd; RTP relay ports are even (RTCP is port + 1)"));
  }
  return slot;
}

void StreamRegistry::ReturnPortPair(uint32_t rtp_slot) {
  // Freed ports go to the tail, to be reused last: stray packets of the
  // old call must not land in the next one.
  free_.PushTail(QueueOf(table_.AddressIdOf(rtp_slot),
                         OwnerIndexOf(rtp_slot, static_cast<uint32_t>(rings_.size()))),
                 rtp_slot);
}

void StreamRegistry::Send(uint32_t lcore_index, const FlowCommand& command) {
  while (!rings_[lcore_index]->Push(command)) wait_for_ring_();
}

void StreamRegistry::SendExpected(FlowCommand::Op op, const StreamRecord& r,
                                  LatchPolicy policy,
                                  const std::optional<Endpoint>& peer) {
  const StreamRecord& partner = streams_.at(r.leg_b ? pairs_.at(r.pair).a
                                                    : pairs_.at(r.pair).b);
  for (int rtcp = 0; rtcp < 2; ++rtcp) {
    FlowCommand c{};
    c.op = op;
    c.policy = policy;
    c.flags = static_cast<uint8_t>((rtcp ? kFlowRtcp : 0) | (r.rtcp_mux ? kFlowRtcpMux : 0));
    c.generation = r.generation;
    c.slot = r.rtp_slot + rtcp;
    c.partner_slot = partner.rtp_slot + rtcp;
    if (op == FlowCommand::Op::kInstall && rtcp == 0) c.ice = r.ice;
    if (peer && peer->is_set()) {
      c.expected_ip = peer->ip;
      // RTCP on the next port unless muxed (RFC 3550 / RFC 5761).
      c.expected_port = static_cast<uint16_t>(
          peer->port + (rtcp && !r.rtcp_mux && peer->port < 65535 ? 1 : 0));
    }
    Send(r.lcore_index, c);
  }
}

void StreamRegistry::InstallLeg(const StreamRecord& self) {
  SendExpected(FlowCommand::Op::kInstall, self, self.policy, self.expected);
}

absl::StatusOr<StreamRegistry::Placement> StreamRegistry::CheckRequested(
    const LegRequest& a, const LegRequest& b) const {
  Placement want;
  for (auto [name, leg, slot] : {std::tuple{"a.relay", &a, &want.slot_a},
                                 std::tuple{"b.relay", &b, &want.slot_b}}) {
    if (!leg->relay) continue;
    auto requested = RequestedSlot(name, *leg);
    if (!requested.ok()) return requested.status();
    *slot = *requested;
  }
  const uint32_t lcores = static_cast<uint32_t>(rings_.size());
  if (want.slot_a && want.slot_b) {
    if (*want.slot_a == *want.slot_b) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a.relay, b.relay: both legs ask for ", a.relay->ToString()));
    }
    const uint32_t lcore_a = OwnerIndexOf(*want.slot_a, lcores);
    const uint32_t lcore_b = OwnerIndexOf(*want.slot_b, lcores);
    if (lcore_a != lcore_b) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a.relay, b.relay: ", a.relay->ToString(), " belongs to lcore ", lcore_a, " and ",
          b.relay->ToString(), " to lcore ", lcore_b,
          "; both streams of a pair must share one lcore, which a relay port fixes"));
    }
  }
  for (auto [name, leg, slot] : {std::tuple{"a.relay", &a, &want.slot_a},
                                 std::tuple{"b.relay", &b, &want.slot_b}}) {
    if (*slot && !free_.contains(**slot)) {
      return absl::AlreadyExistsError(absl::StrCat(
          name, ": ", leg->relay->ToString(), " is in use by stream ",
          stream_by_slot_.at(**slot)));
    }
  }
  if (want.slot_a || want.slot_b) {
    want.lcore = OwnerIndexOf(want.slot_a ? *want.slot_a : *want.slot_b, lcores);
  }
  return want;
}

absl::StatusOr<StreamRegistry::Placement> StreamRegistry::TakeRequested(
    const LegRequest& a, const LegRequest& b, Placement want) {
  Placement got = want;
  for (const auto& slot : {want.slot_a, want.slot_b}) {
    if (slot) {
      free_.Remove(QueueOf(table_.AddressIdOf(*slot), want.lcore), *slot);
    }
  }
  if (!got.slot_a) got.slot_a = TakePortPair(a, want.lcore);
  if (!got.slot_b) got.slot_b = TakePortPair(b, want.lcore);
  if (got.slot_a && got.slot_b) return got;
  for (const auto& slot : {got.slot_a, got.slot_b}) {
    if (slot) ReturnPortPair(*slot);
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "no free relay port pair on lcore ", want.lcore, ", which the requested ",
      want.slot_a ? "a.relay " : "b.relay ", (want.slot_a ? a.relay : b.relay)->ToString(),
      " belongs to"));
}

absl::StatusOr<StreamRegistry::Placement> StreamRegistry::TakeRoundRobin(const LegRequest& a,
                                                                         const LegRequest& b) {
  const uint32_t lcores = static_cast<uint32_t>(rings_.size());
  Placement got;
  for (uint32_t attempt = 0; attempt < lcores && !(got.slot_a && got.slot_b); ++attempt) {
    got.lcore = (next_lcore_ + attempt) % lcores;
    if (got.slot_a) ReturnPortPair(*got.slot_a);
    got.slot_a = TakePortPair(a, got.lcore);
    got.slot_b = got.slot_a ? TakePortPair(b, got.lcore) : std::nullopt;
  }
  if (!got.slot_a || !got.slot_b) {
    if (got.slot_a) ReturnPortPair(*got.slot_a);
    return absl::ResourceExhaustedError("no free relay port pair for this call");
  }
  next_lcore_ = (got.lcore + 1) % lcores;
  return got;
}

absl::StatusOr<PairView> StreamRegistry::Allocate(const LegRequest& a, const LegRequest& b,
                                                  std::string label, uint64_t now_ns) {
  for (const auto& [name, leg] : {std::pair{"a", &a}, std::pair{"b", &b}}) {
    if (leg->peer && leg->peer->is_set() && leg->peer->ip.is_v4() == leg->ipv6) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ".peer: ", leg->peer->ToString(), " is not of the leg's family ",
          leg->ipv6 ? "ipv6" : "ipv4"));
    }
    if (!leg->address) continue;
    if (leg->address->is_v4() == leg->ipv6) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ".address: ", leg->address->ToString(), " is not of the leg's family ",
          leg->ipv6 ? "ipv6" : "ipv4"));
    }
    if (table_.addresses().Find(*leg->address) == kNoAddress) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ".address: ", leg->address->ToString(), " is not a relay address of this dataplane"));
    }
  }
  auto want = CheckRequested(a, b);
  if (!want.ok()) return want.status();
  // Requested pairs (a restart's re-push) leave the round-robin turn alone.
  auto placed = want->slot_a || want->slot_b ? TakeRequested(a, b, *want) : TakeRoundRobin(a, b);
  if (!placed.ok()) return placed.status();
  const uint32_t lcore = placed->lcore;
  const uint32_t ice_legs = (a.ice.present() ? 1 : 0) + (b.ice.present() ? 1 : 0);
  if (ice_streams_[lcore] + ice_legs > ice_capacity_) {
    ReturnPortPair(*placed->slot_a);
    ReturnPortPair(*placed->slot_b);
    return absl::ResourceExhaustedError(absl::StrCat(
        "lcore ", lcore, " already answers ICE checks for ", ice_streams_[lcore], " streams (",
        ice_capacity_, " per lcore)"));
  }
  ice_streams_[lcore] += ice_legs;

  const uint64_t pair = next_pair_++;
  const uint64_t id_a = next_stream_++, id_b = next_stream_++;
  pairs_[pair] = PairRecord{id_a, id_b, std::move(label)};
  auto add = [&](uint64_t id, uint32_t slot, bool leg_b, const LegRequest& req) {
    StreamRecord r{pair, slot, lcore, static_cast<uint32_t>(dense_streams_.size()),
                   now_ns, next_generation_++, req.policy.value_or(default_policy_),
                   req.peer, leg_b, req.rtcp_mux, false, req.ice};
    if (next_generation_ == 0) next_generation_ = 1;
    streams_[id] = r;
    stream_by_slot_[slot] = id;
    stream_by_slot_[slot + 1] = id;
    dense_streams_.push_back(id);
  };
  add(id_a, *placed->slot_a, false, a);
  add(id_b, *placed->slot_b, true, b);
  InstallLeg(streams_.at(id_a));
  InstallLeg(streams_.at(id_b));
  return PairView{pair, View(id_a, streams_.at(id_a), now_ns),
                  View(id_b, streams_.at(id_b), now_ns)};
}

absl::StatusOr<StreamView> StreamRegistry::Update(
    uint64_t stream, std::optional<std::optional<Endpoint>> peer,
    std::optional<LatchPolicy> policy, uint64_t now_ns) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) {
    return absl::NotFoundError(absl::StrCat("no stream ", stream));
  }
  StreamRecord& r = it->second;
  std::optional<Endpoint> new_peer = peer ? *peer : r.expected;
  if (new_peer && new_peer->is_set() &&
      new_peer->ip.is_v4() != table_.addresses().at(table_.AddressIdOf(r.rtp_slot)).is_v4()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "peer ", new_peer->ToString(), " is not of the stream's address family"));
  }
  r.policy = policy.value_or(r.policy);
  r.expected = new_peer;
  SendExpected(FlowCommand::Op::kUpdate, r, r.policy, new_peer);
  return View(stream, r, now_ns);
}

absl::Status StreamRegistry::Delete(uint64_t pair) {
  auto it = pairs_.find(pair);
  if (it == pairs_.end()) return absl::NotFoundError(absl::StrCat("no pair ", pair));
  for (uint64_t id : {it->second.a, it->second.b}) {
    const StreamRecord r = streams_.at(id);
    if (r.ice.present()) --ice_streams_[r.lcore_index];
    for (int rtcp = 0; rtcp < 2; ++rtcp) {
      FlowCommand c{};
      c.op = FlowCommand::Op::kRemove;
      c.slot = r.rtp_slot + rtcp;
      Send(r.lcore_index, c);
      stream_by_slot_.erase(r.rtp_slot + rtcp);
    }
    ReturnPortPair(r.rtp_slot);
    // Swap-remove from the dense list used by the idle scan.
    uint64_t moved = dense_streams_.back();
    dense_streams_[r.dense_index] = moved;
    streams_.at(moved).dense_index = r.dense_index;
    dense_streams_.pop_back();
    streams_.erase(id);
  }
  pairs_.erase(it);
  return absl::OkStatus();
}

std::optional<uint64_t> StreamRegistry::LastActivity(const StreamRecord& r) const {
  // Until the owner lcore has installed this stream, the slot still holds
  // the previous call's times.
  const Flow& f = table_.at(r.rtp_slot);
  if (RelaxedLoad(f.generation) != r.generation || RelaxedLoad(f.state) == LatchState::kFree) {
    return std::nullopt;
  }
  uint64_t rtp = RelaxedLoad(table_.at(r.rtp_slot).last_rx_ns);
  uint64_t rtcp = RelaxedLoad(table_.at(r.rtp_slot + 1).last_rx_ns);
  uint64_t last = std::max(rtp, rtcp);
  if (last == 0) return std::nullopt;
  return last;
}

LatchState StreamRegistry::StateOf(const StreamRecord& r) const {
  // Not installed yet by its lcore: the slot is the previous call's.
  const Flow& f = table_.at(r.rtp_slot);
  if (RelaxedLoad(f.generation) != r.generation) return LatchState::kUnlatched;
  const LatchState state = RelaxedLoad(f.state);
  return state == LatchState::kFree ? LatchState::kUnlatched : state;
}

StreamView StreamRegistry::View(uint64_t id, const StreamRecord& r, uint64_t now_ns) const {
  StreamView v;
  v.stream = id;
  v.pair = r.pair;
  v.leg = r.leg_b ? 'b' : 'a';
  v.label = pairs_.at(r.pair).label;
  const IpAddress& relay_ip = table_.addresses().at(table_.AddressIdOf(r.rtp_slot));
  v.relay = Endpoint{relay_ip, table_.PortOf(r.rtp_slot)};
  v.rtcp_relay = Endpoint{relay_ip, table_.PortOf(r.rtp_slot + 1)};
  v.lcore_index = r.lcore_index;
  v.rtp = table_.Snapshot(r.rtp_slot);
  v.rtcp = table_.Snapshot(r.rtp_slot + 1);
  // The owner lcore applies commands between bursts; until it has, show
  // what was asked rather than the slot's old contents.
  if (v.rtp.generation != r.generation || v.rtp.state == LatchState::kFree) {
    v.rtp = FlowSnapshot{};
    v.rtp.state = LatchState::kUnlatched;
    v.rtcp = v.rtp;
  }
  v.rtp.policy = r.policy;
  v.rtp.expected_ip = r.expected ? r.expected->ip : IpAddress();
  v.rtp.expected_port = r.expected ? r.expected->port : 0;
  if (auto last = LastActivity(r)) v.idle_ns = now_ns > *last ? now_ns - *last : 0;
  return v;
}

absl::StatusOr<StreamView> StreamRegistry::Query(uint64_t stream, uint64_t now_ns) const {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return absl::NotFoundError(absl::StrCat("no stream ", stream));
  return View(stream, it->second, now_ns);
}

absl::StatusOr<std::pair<StreamView, StreamView>> StreamRegistry::QueryPair(
    uint64_t pair, uint64_t now_ns) const {
  auto it = pairs_.find(pair);
  if (it == pairs_.end()) return absl::NotFoundError(absl::StrCat("no pair ", pair));
  auto a = Query(it->second.a, now_ns);
  if (!a.ok()) return a.status();
  auto b = Query(it->second.b, now_ns);
  if (!b.ok()) return b.status();
  return std::make_pair(*std::move(a), *std::move(b));
}

std::vector<StreamView> StreamRegistry::List(const StreamFilter& filter, size_t offset,
                                             size_t limit, uint64_t now_ns,
                                             size_t* total) const {
  std::vector<uint64_t> ids(dense_streams_.begin(), dense_streams_.end());
  std::sort(ids.begin(), ids.end());
  std::vector<StreamView> out;
  size_t matched = 0;
  for (uint64_t id : ids) {
    const StreamRecord& r = streams_.at(id);
    if (filter.label && pairs_.at(r.pair).label != *filter.label) continue;
    if (filter.state || filter.policy || filter.peer_ip) {
      StreamView v = View(id, r, now_ns);
      if (filter.state && v.rtp.state != *filter.state) continue;
      if (filter.policy && v.rtp.policy != *filter.policy) continue;
      if (filter.peer_ip && !(v.rtp.peer_ip == *filter.peer_ip) &&
          !(v.rtp.expected_ip == *filter.peer_ip)) {
        continue;
      }
    }
    if (matched++ < offset || out.size() >= limit) continue;
    out.push_back(View(id, r, now_ns));
  }
  *total = matched;
  return out;
}

void StreamRegistry::DrainEvents(
    std::vector<SpscRing<DataplaneEvent>*>& rings, NeighborTable& neighbors,
    std::vector<ControlEvent>* out,
    const std::function<void(uint32_t, const DataplaneEvent&)>& other) {
  DataplaneEvent e;
  for (uint32_t ring_index = 0; ring_index < rings.size(); ++ring_index) {
    while (rings[ring_index]->Pop(&e)) {
      if (e.type == DataplaneEvent::Type::kNeighbor) {
        neighbors.Learn(e.ip, e.mac);
        continue;
      }
      if (e.type == DataplaneEvent::Type::kKeepaliveFreed) {
        if (other) other(ring_index, e);
        continue;
      }
      auto slot_it = stream_by_slot_.find(e.slot);
      if (slot_it == stream_by_slot_.end()) continue;
      const StreamRecord& r = streams_.at(slot_it->second);
      if (r.generation != e.generation) continue;  // slot reused since
      out->push_back(ControlEvent{e.type == DataplaneEvent::Type::kLatched
                                      ? ControlEvent::Type::kLatched
                                      : ControlEvent::Type::kRelatched,
                                  slot_it->second, r.pair, Endpoint{e.ip, e.port}, 0});
    }
  }
}

void StreamRegistry::ScanIdle(uint64_t now_ns, uint64_t timeout_ns, size_t budget,
                              std::vector<ControlEvent>* out) {
  for (size_t n = 0; n < budget && !dense_streams_.empty(); ++n) {
    if (idle_cursor_ >= dense_streams_.size()) {
      // A pass over every stream ended: its census is the gauge's now.
      idle_cursor_ = 0;
      states_seen_ = states_counting_;
      states_counting_ = {};
    }
    uint64_t id = dense_streams_[idle_cursor_++];
    StreamRecord& r = streams_.at(id);
    ++states_counting_[static_cast<size_t>(StateOf(r))];
    uint64_t last = LastActivity(r).value_or(r.allocated_ns);
    uint64_t idle = now_ns > last ? now_ns - last : 0;
    if (idle < timeout_ns) {
      r.idle_reported = false;
      continue;
    }
    if (r.idle_reported) continue;
    r.idle_reported = true;
    out->push_back(ControlEvent{ControlEvent::Type::kIdle, id, r.pair, {}, idle});
  }
}

}  // namespace rtplatch
