#include "control/routing/peer_set.h"

#include <algorithm>
#include <utility>

#include "control/dns/srv_order.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {

namespace {

// A target given as an address is its one hop from the start; a host
// name's hops come from DNS.
PeerTargetState InitialState(const PeerTargetConfig& c) {
  PeerTargetState s;
  if (c.ip) {
    const SipTransportKind t = c.parts.tls()   ? SipTransportKind::kTls
                               : c.parts.tcp() ? SipTransportKind::kTcp
                                               : SipTransportKind::kUdp;
    s.hops.emplace_back().hop = SipHop{t, Endpoint{*c.ip, c.parts.port}, c.parts.host};
  }
  return s;
}

}  // namespace

PeerSet::PeerSet(std::vector<PeerConfig> peers, std::function<uint64_t(uint64_t)> uniform)
    : uniform_(std::move(uniform)) {
  for (PeerConfig& p : peers) AddPeer(std::move(p));
  if (!uniform_) uniform_ = DefaultUniformDraw();
}

void PeerSet::AddPeer(PeerConfig peer) {
  registrations_.emplace_back();
  if (!peer.registration.aor.empty()) registrations_.back().emplace(peer.registration);
  std::vector<PeerTargetState>& targets = state_.emplace_back();
  for (const PeerTargetConfig& c : peer.targets) targets.push_back(InitialState(c));
  peers_.push_back(std::move(peer));
  retired_.push_back(false);
}

PeerConfig PeerSet::LiveConfig(uint32_t p) const {
  PeerConfig live = peers_[p];
  live.targets.clear();
  for (uint32_t t = 0; t < peers_[p].targets.size(); ++t) {
    if (!state_[p][t].retired) live.targets.push_back(peers_[p].targets[t]);
  }
  return live;
}

bool PeerSet::retired(const PeerTargetRef& t) const {
  return retired_[t.peer] || state_[t.peer][t.target].retired;
}

absl::flat_hash_map<std::string, uint32_t> PeerSet::ActiveByName() const {
  absl::flat_hash_map<std::string, uint32_t> out;
  for (uint32_t p = 0; p < peers_.size(); ++p) {
    if (!retired_[p]) out.emplace(peers_[p].name, p);
  }
  return out;
}

PeerSetChange PeerSet::Reconfigure(std::vector<PeerConfig> fresh, int64_t now_ms) {
  PeerSetChange change;
  absl::flat_hash_map<std::string, uint32_t> active = ActiveByName();
  for (PeerConfig& peer : fresh) {
    if (auto it = active.find(peer.name); it != active.end()) {
      const uint32_t p = it->second;
      active.erase(it);
      if (LiveConfig(p) == peer) continue;
      change.changed.push_back(peer.name);
      UpdatePeer(p, std::move(peer), now_ms);
      continue;
    }
    change.added.push_back(peer.name);
    // A peer removed by an earlier reload comes back to its place.
    uint32_t p = 0;
    while (p < peers_.size() && !(retired_[p] && peers_[p].name == peer.name)) ++p;
    if (p == peers_.size()) {
      AddPeer(std::move(peer));
      continue;
    }
    retired_[p] = false;
    registrations_[p].reset();
    UpdatePeer(p, std::move(peer), now_ms);
  }
  for (const auto& [name, p] : active) {
    change.removed.push_back(name);
    retired_[p] = true;
    if (registrations_[p]) registrations_[p]->Withdraw(now_ms);
  }
  std::sort(change.removed.begin(), change.removed.end());
  return change;
}

void PeerSet::UpdatePeer(uint32_t p, PeerConfig fresh, int64_t now_ms) {
  PeerConfig& peer = peers_[p];
  std::vector<PeerTargetState>& states = state_[p];
  for (PeerTargetState& s : states) s.retired = true;
  for (PeerTargetConfig& target : fresh.targets) {
    auto same = std::find_if(peer.targets.begin(), peer.targets.end(),
                             [&](const PeerTargetConfig& c) { return c.uri == target.uri; });
    if (same == peer.targets.end()) {
      states.push_back(InitialState(target));
      peer.targets.push_back(std::move(target));
      continue;
    }
    states[same - peer.targets.begin()].retired = false;
    *same = std::move(target);
  }
  // The merged targets stay; every other setting is the fresh one's.
  fresh.targets = std::move(peer.targets);
  std::optional<PeerRegistration>& r = registrations_[p];
  const bool active = r && !r->withdrawn() && !r->withdrawing();
  // A registration that changed starts again (the old binding, if its AOR
  // changed, lapses at its expiry); one the config dropped is withdrawn.
  if (!active || !(r->config() == fresh.registration)) {
    if (active && fresh.registration.aor.empty()) r->Withdraw(now_ms);
    if (!fresh.registration.aor.empty()) r.emplace(fresh.registration);
  }
  peer = std::move(fresh);
}

std::optional<uint32_t> PeerSet::FromSource(const IpAddress& source) const {
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    if (retired_[i]) continue;
    for (const IpPrefix& prefix : peers_[i].trusted_sources) {
      if (prefix.Contains(source)) return i;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> PeerSet::FromCertificate(const std::vector<std::string>& names) const {
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    if (retired_[i]) continue;
    for (const std::string& trusted : peers_[i].trusted_tls_names) {
      for (const std::string& name : names) {
        if (absl::EqualsIgnoreCase(name, trusted)) return i;
      }
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> PeerSet::Find(absl::string_view name) const {
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    if (!retired_[i] && peers_[i].name == name) return i;
  }
  return std::nullopt;
}

std::vector<uint32_t> PeerSet::OrderedTargets(uint32_t p) {
  std::vector<uint32_t> live;
  std::vector<std::pair<uint16_t, uint16_t>> keys;
  for (uint32_t t = 0; t < peers_[p].targets.size(); ++t) {
    if (state_[p][t].retired) continue;
    live.push_back(t);
    keys.emplace_back(peers_[p].targets[t].priority, peers_[p].targets[t].weight);
  }
  std::vector<uint32_t> out;
  for (size_t i : SrvOrder(keys, uniform_)) out.push_back(live[i]);
  return out;
}

std::vector<PeerTargetRef> PeerSet::Candidates(const RouteConfig& route) {
  std::vector<uint32_t> peers;
  for (const std::string& name : route.peers) {
    if (std::optional<uint32_t> p = Find(name)) peers.push_back(*p);
  }
  return HopsInOrder(peers);
}

std::vector<PeerTargetRef> PeerSet::HopsOf(uint32_t p) { return HopsInOrder({p}); }

std::vector<PeerTargetRef> PeerSet::HopsInOrder(const std::vector<uint32_t>& peers) {
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> order;
  for (uint32_t p : peers) order.emplace_back(p, OrderedTargets(p));
  std::vector<PeerTargetRef> out;
  for (bool up : {true, false}) {
    for (const auto& [p, targets] : order) {
      for (uint32_t t : targets) {
        for (const PeerHopHealth& h : state_[p][t].hops) {
          if (h.up == up) out.push_back(PeerTargetRef{p, t, h.hop.endpoint});
        }
      }
    }
  }
  return out;
}

std::vector<PeerTargetRef> PeerSet::LocationsDue(int64_t now_ms) {
  std::vector<PeerTargetRef> due;
  for (uint32_t p = 0; p < peers_.size(); ++p) {
    for (uint32_t t = 0; t < state_[p].size(); ++t) {
      PeerTargetState& s = state_[p][t];
      if (retired_[p] || s.retired) continue;
      if (peers_[p].targets[t].ip || s.locating || now_ms < s.next_locate_ms) continue;
      s.locating = true;
      ++s.lookups;
      due.push_back(PeerTargetRef{p, t, Endpoint{}});
    }
  }
  return due;
}

void PeerSet::Located(const PeerTargetRef& t, const absl::StatusOr<std::vector<SipHop>>& hops,
                      int64_t now_ms) {
  PeerTargetState& s = state_[t.peer][t.target];
  s.locating = false;
  if (!hops.ok()) {
    s.dns_error = std::string(hops.status().message());
    s.next_locate_ms = now_ms + kRelocateAfterErrorMs;
    return;
  }
  std::vector<PeerHopHealth> next;
  for (const SipHop& hop : *hops) {
    auto old = std::find_if(s.hops.begin(), s.hops.end(), [&](const PeerHopHealth& h) {
      return h.hop.endpoint == hop.endpoint;
    });
    PeerHopHealth& h = next.emplace_back(old != s.hops.end() ? *old : PeerHopHealth{});
    h.hop = hop;
  }
  s.hops = std::move(next);
  s.dns_error.clear();
  s.next_locate_ms = now_ms + kRelocateMs;
}

const PeerHopHealth* PeerSet::hop(const PeerTargetRef& t) const {
  for (const PeerHopHealth& h : state_[t.peer][t.target].hops) {
    if (h.hop.endpoint == t.hop) return &h;
  }
  return nullptr;
}

PeerHopHealth* PeerSet::MutableHop(const PeerTargetRef& t) {
  return const_cast<PeerHopHealth*>(hop(t));
}

void PeerSet::Attempted(const PeerTargetRef& t) {
  if (PeerHopHealth* h = MutableHop(t)) ++h->attempts;
}

void PeerSet::Succeeded(const PeerTargetRef& t) {
  PeerHopHealth* h = MutableHop(t);
  if (h == nullptr) return;
  h->failures_in_a_row = 0;
  h->up = true;
}

bool PeerSet::Failed(const PeerTargetRef& t) {
  PeerHopHealth* h = MutableHop(t);
  if (h == nullptr) return false;
  ++h->failures;
  ++h->failures_in_a_row;
  if (!h->up || h->failures_in_a_row < peers_[t.peer].failures_to_down) return false;
  h->up = false;
  ++h->went_down;
  h->last_probe_ms = 0;
  return true;
}

std::vector<PeerTargetRef> PeerSet::ProbesDue(int64_t now_ms) {
  std::vector<PeerTargetRef> due;
  for (uint32_t p = 0; p < peers_.size(); ++p) {
    if (retired_[p]) continue;
    const int64_t interval_ms = int64_t{peers_[p].probe_interval_s} * 1000;
    for (uint32_t t = 0; t < state_[p].size(); ++t) {
      if (state_[p][t].retired) continue;
      for (PeerHopHealth& h : state_[p][t].hops) {
        if (h.up || h.probe_in_flight) continue;
        if (h.last_probe_ms != 0 && now_ms - h.last_probe_ms < interval_ms) continue;
        h.probe_in_flight = true;
        h.last_probe_ms = now_ms;
        ++h.probes_sent;
        due.push_back(PeerTargetRef{p, t, h.hop.endpoint});
      }
    }
  }
  return due;
}

bool PeerSet::ProbeDone(const PeerTargetRef& t, int code) {
  PeerHopHealth* h = MutableHop(t);
  if (h == nullptr) return false;
  h->probe_in_flight = false;
  // 408 and 5xx say the peer is there but will not take calls.
  if (code < 200 || code == 408 || code >= 500) return false;
  h->up = true;
  h->failures_in_a_row = 0;
  return true;
}

nlohmann::json PeerSet::ToJson(int64_t now_ms) const {
  nlohmann::json out = nlohmann::json::array();
  for (uint32_t p = 0; p < peers_.size(); ++p) {
    if (retired_[p]) continue;
    nlohmann::json targets = nlohmann::json::array();
    for (uint32_t t = 0; t < peers_[p].targets.size(); ++t) {
      const PeerTargetConfig& c = peers_[p].targets[t];
      const PeerTargetState& s = state_[p][t];
      if (s.retired) continue;
      nlohmann::json hops = nlohmann::json::array();
      for (const PeerHopHealth& h : s.hops) {
        hops.push_back({{"hop", absl::StrCat(SipTransportName(h.hop.transport), " ",
                                             h.hop.endpoint.ToString())},
                        {"host", h.hop.host},
                        {"state", h.up ? "up" : "down"},
                        {"failures_in_a_row", h.failures_in_a_row},
                        {"attempts", h.attempts},
                        {"failures", h.failures},
                        {"went_down", h.went_down},
                        {"probes_sent", h.probes_sent}});
      }
      targets.push_back({{"uri", c.uri},
                         {"priority", c.priority},
                         {"weight", c.weight},
                         {"dns_lookups", s.lookups},
                         {"dns_error", s.dns_error},
                         {"hops", std::move(hops)}});
    }
    out.push_back({{"name", peers_[p].name},
                   {"media", peers_[p].media == PeerMedia::kAlways ? "always" : "nat"},
                   {"targets", std::move(targets)},
                   {"registration", registrations_[p] ? registrations_[p]->ToJson(now_ms)
                                                      : nlohmann::json(nullptr)}});
  }
  return out;
}

}  // namespace rtplatch
