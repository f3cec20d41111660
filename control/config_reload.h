// What a reload (SIGHUP, `rtplatchctl reload`) does with a config file
// that changed: which of its members the running process takes at once
// and which wait for a restart. Taken live (kLiveMembers): the users file
// (its path and its contents, re-read every reload), the NAT policies, the
// peers and the routes; everything else (sockets, the database, the
// domain, the cluster, ...) is named in `restart_needed` and keeps its
// running value.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace rtplatch {

inline constexpr std::array<std::string_view, 5> kLiveMembers = {
    "users_file", "nat_policy", "peers", "routes", "log_level"};

struct ReloadPlan {
  std::vector<std::string> changed_live;    // members of kLiveMembers, sorted
  std::vector<std::string> restart_needed;  // top-level members, sorted

  bool changed(std::string_view member) const {
    return std::find(changed_live.begin(), changed_live.end(), member) != changed_live.end();
  }
};

// `running` and `fresh`: the config files' top-level members as written
// (ControlConfig::source_json), the one in force and the new one.
ReloadPlan PlanReload(const nlohmann::json& running, const nlohmann::json& fresh);

// `running` with the live members as `fresh` has them: what is in force
// after a reload (what waits for a restart keeps its running value).
nlohmann::json AppliedAfterReload(const nlohmann::json& running, const nlohmann::json& fresh);

}  // namespace rtplatch
