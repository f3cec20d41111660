#include "control/routing/peer_set.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/random/random.h"

namespace rtplatch {

PeerSet::PeerSet(std::vector<PeerConfig> peers, std::function<uint64_t(uint64_t)> uniform)
    : peers_(std::move(peers)), uniform_(std::move(uniform)) {
  for (const PeerConfig& p : peers_) health_.emplace_back(p.targets.size());
  if (!uniform_) {
    uniform_ = [gen = std::make_shared<absl::BitGen>()](uint64_t n) {
      return absl::Uniform<uint64_t>(*gen, 0, n);
    };
  }
}

std::optional<uint32_t> PeerSet::FromSource(const IpAddress& source) const {
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    for (const IpPrefix& prefix : peers_[i].trusted_sources) {
      if (prefix.Contains(source)) return i;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> PeerSet::Find(absl::string_view name) const {
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].name == name) return i;
  }
  return std::nullopt;
}

std::vector<PeerTargetRef> PeerSet::Candidates(const RouteConfig& route) {
  std::vector<PeerTargetRef> out;
  for (bool up : {true, false}) {
    for (const std::string& name : route.peers) {
      if (std::optional<uint32_t> p = Find(name)) AppendOrdered(*p, up, out);
    }
  }
  return out;
}

void PeerSet::AppendOrdered(uint32_t p, bool up, std::vector<PeerTargetRef>& out) {
  std::map<uint16_t, std::vector<uint32_t>> by_priority;
  for (uint32_t t = 0; t < peers_[p].targets.size(); ++t) {
    if (health_[p][t].up == up) by_priority[peers_[p].targets[t].priority].push_back(t);
  }
  for (auto& [priority, targets] : by_priority) {
    // RFC 2782: pick each next target with probability proportional to its
    // weight (weight 0 targets get a small chance: they count as 1 when
    // every remaining weight is 0).
    while (!targets.empty()) {
      uint64_t total = 0;
      for (uint32_t t : targets) total += peers_[p].targets[t].weight;
      size_t chosen = 0;
      if (total == 0) {
        chosen = uniform_(targets.size());
      } else {
        uint64_t r = uniform_(total);
        while (r >= peers_[p].targets[targets[chosen]].weight) {
          r -= peers_[p].targets[targets[chosen]].weight;
          ++chosen;
        }
      }
      out.push_back(PeerTargetRef{p, targets[chosen]});
      targets.erase(targets.begin() + static_cast<ptrdiff_t>(chosen));
    }
  }
}

void PeerSet::Succeeded(PeerTargetRef t) {
  PeerTargetHealth& h = health_[t.peer][t.target];
  h.failures_in_a_row = 0;
  h.up = true;
}

bool PeerSet::Failed(PeerTargetRef t) {
  PeerTargetHealth& h = health_[t.peer][t.target];
  ++h.failures;
  ++h.failures_in_a_row;
  if (!h.up || h.failures_in_a_row < peers_[t.peer].failures_to_down) return false;
  h.up = false;
  ++h.went_down;
  h.last_probe_ms = 0;
  return true;
}

std::vector<PeerTargetRef> PeerSet::ProbesDue(int64_t now_ms) {
  std::vector<PeerTargetRef> due;
  for (uint32_t p = 0; p < peers_.size(); ++p) {
    const int64_t interval_ms = int64_t{peers_[p].probe_interval_s} * 1000;
    for (uint32_t t = 0; t < health_[p].size(); ++t) {
      PeerTargetHealth& h = health_[p][t];
      if (h.up || h.probe_in_flight) continue;
      if (h.last_probe_ms != 0 && now_ms - h.last_probe_ms < interval_ms) continue;
      h.probe_in_flight = true;
      h.last_probe_ms = now_ms;
      ++h.probes_sent;
      due.push_back(PeerTargetRef{p, t});
    }
  }
  return due;
}

bool PeerSet::ProbeDone(PeerTargetRef t, int code) {
  PeerTargetHealth& h = health_[t.peer][t.target];
  h.probe_in_flight = false;
  // 408 and 5xx say the peer is there but will not take calls.
  if (code < 200 || code == 408 || code >= 500) return false;
  h.up = true;
  h.failures_in_a_row = 0;
  return true;
}

nlohmann::json PeerSet::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (uint32_t p = 0; p < peers_.size(); ++p) {
    nlohmann::json targets = nlohmann::json::array();
    for (uint32_t t = 0; t < peers_[p].targets.size(); ++t) {
      const PeerTargetConfig& c = peers_[p].targets[t];
      const PeerTargetHealth& h = health_[p][t];
      targets.push_back({{"uri", c.uri},
                         {"priority", c.priority},
                         {"weight", c.weight},
                         {"state", h.up ? "up" : "down"},
                         {"failures_in_a_row", h.failures_in_a_row},
                         {"attempts", h.attempts},
                         {"failures", h.failures},
                         {"went_down", h.went_down},
                         {"probes_sent", h.probes_sent}});
    }
    out.push_back({{"name", peers_[p].name},
                   {"media", peers_[p].media == PeerMedia::kAlways ? "always" : "nat"},
                   {"targets", std::move(targets)}});
  }
  return out;
}

}  // namespace rtplatch
