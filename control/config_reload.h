// What a reload (SIGHUP, `rtplatchctl reload`) does with a config file
// that changed: which of its members the running process takes at once
// and which wait for a restart. Taken live: the users file (its path and
// its contents, re-read every reload) and the NAT policies; everything
// else (sockets, the database, the domain, peers and routes, the
// cluster) is named in `restart_needed` and keeps its running value.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace rtplatch {

struct ReloadPlan {
  bool nat_policy_changed = false;
  bool users_file_changed = false;  // the path; the contents are re-read anyway
  std::vector<std::string> restart_needed;  // top-level members, sorted
};

// `running` and `fresh`: the config files' top-level members as written
// (ControlConfig::source_json), the one in force and the new one.
ReloadPlan PlanReload(const nlohmann::json& running, const nlohmann::json& fresh);

}  // namespace rtplatch
