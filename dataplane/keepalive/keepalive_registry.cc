#include "dataplane/keepalive/keepalive_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "dataplane/fastpath/flow.h"

namespace rtplatch {

KeepaliveRegistry::KeepaliveRegistry(const RelayAddresses& addresses,
                                     std::vector<SpscRing<KeepaliveCommand>*> command_rings,
                                     std::function<void()> wait_for_ring)
    : addresses_(addresses),
      rings_(std::move(command_rings)),
      wait_for_ring_(std::move(wait_for_ring)),
      lcores_(rings_.size()) {
  for (auto& l : lcores_) l.slab = std::make_unique<ChunkedSlab<KeepaliveTarget>>();
}

absl::Status KeepaliveRegistry::Check(const KeepaliveSpec& s, uint8_t* src_addr_id) const {
  if (!s.target.is_set()) return absl::InvalidArgumentError("target: address and port required");
  if (!s.source.is_set()) return absl::InvalidArgumentError("source: address and port required");
  if (s.target.ip.is_v4() != s.source.ip.is_v4()) {
    return absl::InvalidArgumentError(absl::StrCat("source ", s.source.ToString(),
                                                   " and target ", s.target.ToString(),
                                                   " are of different families"));
  }
  const uint8_t id = addresses_.Find(s.source.ip);
  if (id == kNoAddress) {
    return absl::InvalidArgumentError(absl::StrCat(
        "source: ", s.source.ip.ToString(), " is not one of the relay addresses"));
  }
  if (s.interval_ms < kMinKeepaliveIntervalMs || s.interval_ms > kMaxKeepaliveIntervalMs) {
    return absl::InvalidArgumentError(absl::StrCat("interval_ms: ", s.interval_ms, " is outside ",
                                                   kMinKeepaliveIntervalMs, "..",
                                                   kMaxKeepaliveIntervalMs));
  }
  if (s.jitter_ms >= s.interval_ms) {
    return absl::InvalidArgumentError(absl::StrCat("jitter_ms: ", s.jitter_ms,
                                                   " must be below interval_ms ", s.interval_ms));
  }
  *src_addr_id = id;
  return absl::OkStatus();
}

// Where in its first interval a target first fires. Targets are spread
// evenly (a million added at once must not fire together, now or a minute
// later), but in groups of kKeepaliveGroup neighbouring indexes that share
// a tick: an lcore then walks each tick's targets as runs of adjacent
// cache lines instead of one miss per target. Groups are placed by the
// golden ratio, which spreads any number of them evenly.
uint64_t KeepaliveRegistry::FirstSendOffset(uint32_t index, uint32_t interval_ms) {
  const uint64_t group = index / kKeepaliveGroup;
  const uint64_t fraction = group * 0x9e3779b97f4a7c15ull;  // frac(group * phi) in 2^-64
  const uint64_t interval_ns = uint64_t{interval_ms} * 1'000'000;
  return static_cast<uint64_t>((static_cast<unsigned __int128>(fraction) * interval_ns) >> 64);
}

uint32_t KeepaliveRegistry::TakeIndex(PerLcore& l) {
  if (!l.free.empty()) {
    uint32_t index = l.free.back();
    l.free.pop_back();
    return index;
  }
  uint32_t index = l.next_fresh++;
  l.slab->EnsureCapacity(l.next_fresh);
  l.slots.resize(l.next_fresh, Slot::kFree);
  return index;
}

void KeepaliveRegistry::Send(uint32_t lcore, const KeepaliveCommand& c) {
  while (!rings_[lcore]->Push(c)) wait_for_ring_();
}

absl::StatusOr<std::vector<uint64_t>> KeepaliveRegistry::Add(
    const std::vector<KeepaliveSpec>& specs, uint64_t now_ns) {
  std::vector<uint8_t> src_ids(specs.size());
  std::vector<uint16_t> payload_ids(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    auto prefix = [&](const absl::Status& s) {
      return absl::Status(s.code(), absl::StrCat("targets[", i, "].", s.message()));
    };
    if (auto s = Check(specs[i], &src_ids[i]); !s.ok()) return prefix(s);
    auto payload = payloads_.Intern(specs[i].payload);
    if (!payload.ok()) return prefix(payload.status());
    payload_ids[i] = *payload;
  }
  std::vector<uint64_t> ids;
  ids.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const KeepaliveSpec& s = specs[i];
    const uint32_t lcore = next_lcore_;
    next_lcore_ = (next_lcore_ + 1) % lcores_.size();
    PerLcore& l = lcores_[lcore];
    const uint32_t index = TakeIndex(l);
    KeepaliveTarget& t = (*l.slab)[index];
    // Static fields, written before the lcore learns the index (ring push
    // publishes them); links and counters are the lcore's.
    t.dst_ip = s.target.ip;
    t.dst_port = s.target.port;
    t.src_port = s.source.port;
    t.src_addr_id = src_ids[i];
    t.payload_id = payload_ids[i];
    RelaxedStore(t.interval_ms, s.interval_ms);
    RelaxedStore(t.jitter_ms, s.jitter_ms);
    RelaxedStore(t.sent, 0u);
    RelaxedStore(t.last_sent_ns, uint64_t{0});
    l.slots[index] = Slot::kLive;
    ++l.live;
    ++live_;
    const uint64_t id = IdOf(lcore, index);
    if (!s.label.empty()) labels_[id] = s.label;
    const uint32_t first_ms =
        s.first_within_ms != 0 ? std::min(s.first_within_ms, s.interval_ms) : s.interval_ms;
    Send(lcore, KeepaliveCommand{KeepaliveCommand::Op::kArm, index, s.interval_ms, s.jitter_ms,
                                 now_ns + FirstSendOffset(index, first_ms)});
    ids.push_back(id);
  }
  return ids;
}

std::optional<KeepaliveRegistry::Location> KeepaliveRegistry::Locate(uint64_t id) const {
  if (id == 0) return std::nullopt;
  const uint32_t lcore = static_cast<uint32_t>((id - 1) % lcores_.size());
  const uint64_t index = (id - 1) / lcores_.size();
  const PerLcore& l = lcores_[lcore];
  if (index >= l.slots.size() || l.slots[index] != Slot::kLive) return std::nullopt;
  return Location{lcore, static_cast<uint32_t>(index)};
}

absl::StatusOr<KeepaliveView> KeepaliveRegistry::Update(uint64_t id, uint32_t interval_ms,
                                                        std::optional<uint32_t> jitter_ms,
                                                        uint64_t now_ns) {
  auto where = Locate(id);
  if (!where) return absl::NotFoundError(absl::StrCat("no keepalive ", id));
  const KeepaliveTarget& t = (*lcores_[where->lcore].slab)[where->index];
  KeepaliveSpec check;
  check.target = Endpoint{t.dst_ip, t.dst_port};
  check.source = Endpoint{addresses_.at(t.src_addr_id), t.src_port};
  check.interval_ms = interval_ms;
  check.jitter_ms = jitter_ms.value_or(RelaxedLoad(t.jitter_ms));
  uint8_t unused;
  if (auto s = Check(check, &unused); !s.ok()) return s;
  Send(where->lcore, KeepaliveCommand{KeepaliveCommand::Op::kUpdate, where->index, interval_ms,
                                      check.jitter_ms, 0});
  KeepaliveView v = View(id, *where, now_ns);
  v.interval_ms = interval_ms;  // as asked; the lcore applies it shortly
  v.jitter_ms = check.jitter_ms;
  return v;
}

absl::Status KeepaliveRegistry::Remove(const std::vector<uint64_t>& ids) {
  std::vector<Location> where;
  where.reserve(ids.size());
  for (uint64_t id : ids) {
    auto w = Locate(id);
    if (!w) return absl::NotFoundError(absl::StrCat("no keepalive ", id));
    where.push_back(*w);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    PerLcore& l = lcores_[where[i].lcore];
    if (l.slots[where[i].index] != Slot::kLive) continue;  // listed twice
    l.slots[where[i].index] = Slot::kFreeing;
    --l.live;
    --live_;
    labels_.erase(ids[i]);
    Send(where[i].lcore, KeepaliveCommand{KeepaliveCommand::Op::kRemove, where[i].index, 0, 0, 0});
  }
  return absl::OkStatus();
}

void KeepaliveRegistry::Freed(uint32_t lcore_index, uint32_t index) {
  if (lcore_index >= lcores_.size()) return;
  PerLcore& l = lcores_[lcore_index];
  if (index >= l.slots.size() || l.slots[index] != Slot::kFreeing) return;
  l.slots[index] = Slot::kFree;
  l.free.push_back(index);
}

KeepaliveView KeepaliveRegistry::View(uint64_t id, Location where, uint64_t now_ns) const {
  const KeepaliveTarget& t = (*lcores_[where.lcore].slab)[where.index];
  KeepaliveView v;
  v.id = id;
  v.target = Endpoint{t.dst_ip, t.dst_port};
  v.source = Endpoint{addresses_.at(t.src_addr_id), t.src_port};
  v.payload_bytes = payloads_.at(t.payload_id).length;
  v.interval_ms = RelaxedLoad(t.interval_ms);
  v.jitter_ms = RelaxedLoad(t.jitter_ms);
  if (auto it = labels_.find(id); it != labels_.end()) v.label = it->second;
  v.sent = RelaxedLoad(t.sent);
  uint64_t last = RelaxedLoad(t.last_sent_ns);
  if (last != 0) v.last_sent_ago_ns = now_ns > last ? now_ns - last : 0;
  v.lcore_index = where.lcore;
  return v;
}

absl::StatusOr<KeepaliveView> KeepaliveRegistry::Query(uint64_t id, uint64_t now_ns) const {
  auto where = Locate(id);
  if (!where) return absl::NotFoundError(absl::StrCat("no keepalive ", id));
  return View(id, *where, now_ns);
}

std::vector<KeepaliveView> KeepaliveRegistry::List(const std::optional<IpAddress>& target_ip,
                                                   const std::optional<std::string>& label,
                                                   size_t offset, size_t limit, uint64_t now_ns,
                                                   size_t* total) const {
  std::vector<KeepaliveView> out;
  size_t matched = 0;
  uint32_t max_index = 0;
  for (const auto& l : lcores_) max_index = std::max<uint32_t>(max_index, l.next_fresh);
  // Index-major, lcore-minor: ascending ids.
  for (uint32_t index = 0; index < max_index; ++index) {
    for (uint32_t lcore = 0; lcore < lcores_.size(); ++lcore) {
      const PerLcore& l = lcores_[lcore];
      if (index >= l.slots.size() || l.slots[index] != Slot::kLive) continue;
      const uint64_t id = IdOf(lcore, index);
      if (target_ip && !((*l.slab)[index].dst_ip == *target_ip)) continue;
      if (label) {
        auto it = labels_.find(id);
        if (it == labels_.end() ? !label->empty() : it->second != *label) continue;
      }
      if (matched++ < offset || out.size() >= limit) continue;
      out.push_back(View(id, Location{lcore, index}, now_ns));
    }
  }
  *total = matched;
  return out;
}

size_t KeepaliveRegistry::bytes() const {
  size_t b = 0;
  for (const auto& l : lcores_) {
    b += l.slab->bytes() + l.slots.capacity() + l.free.capacity() * sizeof(uint32_t);
  }
  return b;
}

}  // namespace rtplatch
