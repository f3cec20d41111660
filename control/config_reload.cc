#include "control/config_reload.h"

#include <set>

namespace rtplatch {

namespace {

bool IsLive(const std::string& member) {
  return std::find(kLiveMembers.begin(), kLiveMembers.end(), member) != kLiveMembers.end();
}

}  // namespace

ReloadPlan PlanReload(const nlohmann::json& running, const nlohmann::json& fresh) {
  ReloadPlan plan;
  std::set<std::string> keys;
  for (const nlohmann::json* j : {&running, &fresh}) {
    if (!j->is_object()) continue;
    for (auto it = j->begin(); it != j->end(); ++it) keys.insert(it.key());
  }
  const nlohmann::json none;  // a member left out: its default
  for (const std::string& key : keys) {
    const nlohmann::json& before = running.contains(key) ? running.at(key) : none;
    const nlohmann::json& after = fresh.contains(key) ? fresh.at(key) : none;
    if (before == after) continue;
    (IsLive(key) ? plan.changed_live : plan.restart_needed).push_back(key);
  }
  return plan;
}

nlohmann::json AppliedAfterReload(const nlohmann::json& running, const nlohmann::json& fresh) {
  nlohmann::json applied = running.is_object() ? running : nlohmann::json::object();
  for (std::string_view live : kLiveMembers) {
    const std::string key(live);
    if (fresh.is_object() && fresh.contains(key)) {
      applied[key] = fresh[key];
    } else {
      applied.erase(key);
    }
  }
  return applied;
}

}  // namespace rtplatch
