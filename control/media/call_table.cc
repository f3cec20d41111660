#include "control/media/call_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

nlohmann::json SideJson(const CallSide& s) {
  return {{"aor", s.aor},
          {"tag", s.tag},
          {"contact", s.contact},
          {"user_agent", s.user_agent},
          {"signalling", s.route.dest.ToString()},
          {"transport", std::string(SipTransportName(s.route.transport))},
          {"natted", s.natted},
          {"nat_reasons", s.nat_reasons},
          {"media_policy", std::string(LatchPolicyName(s.policy))},
          {"media_family", s.media_ipv6 ? "ipv6" : "ipv4"}};
}

nlohmann::json PeerJson(const std::optional<Endpoint>& e) {
  return e ? nlohmann::json(e->ToString()) : nlohmann::json(nullptr);
}

}  // namespace

std::string CallKey(absl::string_view call_id, bool spiral) {
  return spiral ? absl::StrCat(call_id, " spiral") : std::string(call_id);
}

std::string Call::Key() const { return CallKey(call_id, spiral); }

std::string Call::PairLabel(size_t index) const {
  return absl::StrCat(CallTable::kPairLabelPrefix, index, ":", call_id);
}

absl::string_view CallStateName(Call::State s) {
  switch (s) {
    case Call::State::kCalling: return "calling";
    case Call::State::kEarly: return "early";
    case Call::State::kConfirmed: return "confirmed";
  }
  return "calling";
}

nlohmann::json CallToJson(const Call& call, int64_t now) {
  nlohmann::json media = nlohmann::json::array();
  nlohmann::json pairs = nlohmann::json::array();
  for (const MediaLine& m : call.media) {
    pairs.push_back(m.pair);
    media.push_back({{"pair", m.pair},
                     {"stream_a", m.stream_a},
                     {"stream_b", m.stream_b},
                     {"relay_a", m.relay_a.ToString()},
                     {"relay_b", m.relay_b.ToString()},
                     {"peer_a", PeerJson(m.peer_a)},
                     {"peer_b", PeerJson(m.peer_b)}});
  }
  return {{"call_id", call.call_id},
          {"spiral", call.spiral},
          {"state", std::string(CallStateName(call.state))},
          {"cancelled", call.cancelled},
          {"caller", call.caller.aor},
          {"callee", call.callee.aor},
          {"legs", nlohmann::json::array({SideJson(call.caller), SideJson(call.callee)})},
          {"anchored", call.anchored},
          {"peer", call.peer},
          {"media", media},
          {"pairs", pairs},
          {"age_s", now - call.created_at},
          {"answered_s_ago", call.answered_at ? nlohmann::json(now - call.answered_at)
                                              : nlohmann::json(nullptr)}};
}

Call* CallTable::Find(absl::string_view key) {
  auto it = calls_.find(key);
  return it == calls_.end() ? nullptr : &it->second;
}

Call* CallTable::FindByPair(uint64_t pair) {
  auto it = by_pair_.find(pair);
  return it == by_pair_.end() ? nullptr : Find(it->second);
}

Call* CallTable::Insert(Call call) {
  std::string key = call.Key();
  auto [it, inserted] = calls_.emplace(std::move(key), std::move(call));
  if (!inserted) return nullptr;
  IndexPairs(it->second);
  return &it->second;
}

void CallTable::Erase(absl::string_view key) {
  auto it = calls_.find(key);
  if (it == calls_.end()) return;
  for (const MediaLine& m : it->second.media) {
    if (auto p = by_pair_.find(m.pair); p != by_pair_.end() && p->second == key) by_pair_.erase(p);
  }
  calls_.erase(it);
}

void CallTable::IndexPairs(const Call& call) {
  for (const MediaLine& m : call.media) {
    if (m.pair != 0) by_pair_[m.pair] = call.Key();
  }
}

}  // namespace rtplatch
