#include "control/cluster/cluster_nodes.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace rtplatch {

using json = nlohmann::json;

std::string NodeHeartbeat::Encode() const {
  return json{{"sip", sip}, {"calls", calls}, {"weight", weight}, {"drained", drained}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<NodeHeartbeat> NodeHeartbeat::Decode(absl::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("heartbeat: not a JSON object");
  auto sip = j.find("sip");
  auto calls = j.find("calls");
  auto weight = j.find("weight");
  auto drained = j.find("drained");
  if (sip == j.end() || !sip->is_string() || calls == j.end() || !calls->is_number_unsigned() ||
      weight == j.end() || !weight->is_number_unsigned() ||
      weight->get<uint64_t>() > std::numeric_limits<uint32_t>::max() || drained == j.end() ||
      !drained->is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat("heartbeat: needs sip (string), calls, weight (unsigned), drained (bool): ",
                     text.substr(0, 120)));
  }
  NodeHeartbeat h;
  h.sip = sip->get<std::string>();
  h.calls = calls->get<uint64_t>();
  h.weight = weight->get<uint32_t>();
  h.drained = drained->get<bool>();
  return h;
}

bool ClusterNodes::Heard(absl::string_view node, absl::string_view heartbeat, int64_t now_ms) {
  absl::StatusOr<NodeHeartbeat> h = NodeHeartbeat::Decode(heartbeat);
  if (!h.ok()) {
    ++bad_heartbeats_;
    return false;
  }
  Seen& seen = nodes_[node];
  seen.heartbeat = *std::move(h);
  seen.heard_ms = now_ms;
  return true;
}

bool ClusterNodes::Up(absl::string_view node, int64_t now_ms) const {
  const auto it = nodes_.find(node);
  return it != nodes_.end() && now_ms - it->second.heard_ms < kDownAfterMs;
}

std::optional<Endpoint> ClusterNodes::SipOf(absl::string_view node, int64_t now_ms) const {
  if (!Up(node, now_ms)) return std::nullopt;
  absl::StatusOr<Endpoint> sip = Endpoint::Parse(nodes_.find(node)->second.heartbeat.sip);
  if (!sip.ok() || !sip->is_set()) return std::nullopt;
  return *sip;
}

bool ClusterNodes::IsNodeAddress(const IpAddress& ip) const {
  for (const auto& [name, seen] : nodes_) {
    absl::StatusOr<Endpoint> sip = Endpoint::Parse(seen.heartbeat.sip);
    if (sip.ok() && sip->ip == ip) return true;
  }
  return false;
}

std::optional<Endpoint> ClusterNodes::LeastLoaded(int64_t now_ms) const {
  std::optional<Endpoint> best;
  double best_load = 0;
  for (const auto& [name, seen] : nodes_) {
    const NodeHeartbeat& h = seen.heartbeat;
    if (h.drained || h.weight == 0) continue;
    std::optional<Endpoint> sip = SipOf(name, now_ms);
    if (!sip) continue;
    const double load = static_cast<double>(h.calls) / h.weight;
    if (!best || load < best_load) {
      best = sip;
      best_load = load;
    }
  }
  return best;
}

json ClusterNodes::Json(int64_t now_ms) const {
  json out = json::array();
  for (const auto& [name, seen] : nodes_) {
    const bool up = now_ms - seen.heard_ms < kDownAfterMs;
    out.push_back({{"node", name},
                   {"state", up ? "up" : "down"},
                   {"heard_ms_ago", now_ms - seen.heard_ms},
                   {"sip", seen.heartbeat.sip},
                   {"calls", seen.heartbeat.calls},
                   {"weight", seen.heartbeat.weight},
                   {"drained", seen.heartbeat.drained}});
  }
  return out;
}

}  // namespace rtplatch
