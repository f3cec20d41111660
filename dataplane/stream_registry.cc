#include "dataplane/stream_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace rtplatch {

StreamRegistry::StreamRegistry(FlowTable& table,
                               std::vector<SpscRing<FlowCommand>*> command_rings,
                               LatchPolicy default_policy,
                               std::function<void()> wait_for_ring)
    : table_(table),
      rings_(std::move(command_rings)),
      default_policy_(default_policy),
      wait_for_ring_(std::move(wait_for_ring)) {
  const uint32_t lcores = static_cast<uint32_t>(rings_.size());
  free_.resize(table_.addresses().size());
  for (auto& per_address : free_) per_address.resize(lcores);
  // Walk downwards so pop_back hands out the lowest port first: allocation
  // order is deterministic (address 0 first, ascending even ports).
  for (uint32_t slot = table_.size(); slot >= 2;) {
    slot -= 2;
    free_[table_.AddressIdOf(slot)][OwnerIndexOf(slot, lcores)].push_back(slot);
  }
}

size_t StreamRegistry::free_port_pairs(bool ipv6) const {
  size_t n = 0;
  for (size_t a = 0; a < free_.size(); ++a) {
    if (table_.addresses().at(static_cast<uint8_t>(a)).is_v4() == ipv6) continue;
    for (const auto& list : free_[a]) n += list.size();
  }
  return n;
}

std::optional<uint32_t> StreamRegistry::TakePortPair(bool ipv6, uint32_t lcore_index) {
  for (size_t a = 0; a < free_.size(); ++a) {
    if (table_.addresses().at(static_cast<uint8_t>(a)).is_v4() == ipv6) continue;
    auto& list = free_[a][lcore_index];
    if (list.empty()) continue;
    uint32_t slot = list.back();
    list.pop_back();
    return slot;
  }
  return std::nullopt;
}

void StreamRegistry::ReturnPortPair(uint32_t rtp_slot) {
  // Freed ports go to the front, to be reused last: stray packets of the
  // old call must not land in the next one.
  auto& list = free_[table_.AddressIdOf(rtp_slot)][OwnerIndexOf(
      rtp_slot, static_cast<uint32_t>(rings_.size()))];
  list.push_front(rtp_slot);
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

absl::StatusOr<PairView> StreamRegistry::Allocate(const LegRequest& a, const LegRequest& b,
                                                  std::string label, uint64_t now_ns) {
  for (const auto& [name, leg] : {std::pair{"a", &a}, std::pair{"b", &b}}) {
    if (leg->peer && leg->peer->is_set() && leg->peer->ip.is_v4() == leg->ipv6) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ".peer: ", leg->peer->ToString(), " is not of the leg's family ",
          leg->ipv6 ? "ipv6" : "ipv4"));
    }
  }
  const uint32_t lcores = static_cast<uint32_t>(rings_.size());
  std::optional<uint32_t> slot_a, slot_b;
  uint32_t lcore = 0;
  for (uint32_t attempt = 0; attempt < lcores && !(slot_a && slot_b); ++attempt) {
    lcore = (next_lcore_ + attempt) % lcores;
    if (slot_a) ReturnPortPair(*slot_a);
    slot_a = TakePortPair(a.ipv6, lcore);
    slot_b = slot_a ? TakePortPair(b.ipv6, lcore) : std::nullopt;
  }
  if (!slot_a || !slot_b) {
    if (slot_a) ReturnPortPair(*slot_a);
    return absl::ResourceExhaustedError("no free relay port pair for this call");
  }
  next_lcore_ = (lcore + 1) % lcores;

  const uint64_t pair = next_pair_++;
  const uint64_t id_a = next_stream_++, id_b = next_stream_++;
  pairs_[pair] = PairRecord{id_a, id_b, std::move(label)};
  auto add = [&](uint64_t id, uint32_t slot, bool leg_b, const LegRequest& req) {
    StreamRecord r{pair, slot, lcore, static_cast<uint32_t>(dense_streams_.size()),
                   now_ns, next_generation_++, req.policy.value_or(default_policy_),
                   req.peer, leg_b, req.rtcp_mux, false};
    if (next_generation_ == 0) next_generation_ = 1;
    streams_[id] = r;
    stream_by_slot_[slot] = id;
    stream_by_slot_[slot + 1] = id;
    dense_streams_.push_back(id);
  };
  add(id_a, *slot_a, false, a);
  add(id_b, *slot_b, true, b);
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
    if (idle_cursor_ >= dense_streams_.size()) idle_cursor_ = 0;
    uint64_t id = dense_streams_[idle_cursor_++];
    StreamRecord& r = streams_.at(id);
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
