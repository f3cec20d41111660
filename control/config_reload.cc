#include "control/config_reload.h"

#include <algorithm>
#include <set>

namespace rtplatch {

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
    if (key == "nat_policy") {
      plan.nat_policy_changed = true;
    } else if (key == "users_file") {
      plan.users_file_changed = true;
    } else {
      plan.restart_needed.push_back(key);
    }
  }
  return plan;
}

}  // namespace rtplatch
