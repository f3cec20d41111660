#include "control/guard/sip_guard_config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json_protocol.h"

namespace rtplatch {
namespace {

constexpr absl::string_view kWhere = "config: guard.";

absl::Status FieldError(absl::string_view field, absl::string_view why) {
  return rtplatch::FieldError(kWhere, field, why);
}

absl::Status ReadLists(const nlohmann::json& j, SipGuardConfig& c) {
  if (auto it = j.find("scanner_user_agents"); it != j.end()) {
    auto agents = ReadStringList(*it, kWhere, "scanner_user_agents");
    if (!agents.ok()) return agents.status();
    c.scanner_user_agents.clear();
    for (const std::string& a : *agents) c.scanner_user_agents.push_back(absl::AsciiStrToLower(a));
  }
  if (auto it = j.find("exempt"); it != j.end()) {
    auto prefixes = ReadStringList(*it, kWhere, "exempt");
    if (!prefixes.ok()) return prefixes.status();
    for (size_t i = 0; i < prefixes->size(); ++i) {
      absl::StatusOr<IpPrefix> p = IpPrefix::Parse((*prefixes)[i]);
      if (!p.ok()) return FieldError(absl::StrCat("exempt[", i, "]"), p.status().message());
      c.exempt.push_back(*p);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SipGuardConfig> ParseSipGuardConfig(const nlohmann::json& j) {
  SipGuardConfig c;
  if (!j.is_object()) return absl::InvalidArgumentError("config: guard: must be an object");
  if (absl::Status s = CheckKnownFields(
          j, {"enabled", "window_ms", "register_per_window", "invite_per_window",
              "other_per_window", "max_sources", "flood_ban_s", "auth_failures_per_source",
              "auth_failures_per_user", "auth_window_s", "auth_ban_s", "scanner_user_agents",
              "exempt", "max_bans"},
          kWhere);
      !s.ok()) {
    return s;
  }
  uint32_t flood_ban_s = c.flood_ban_ms / 1000, auth_window_s = c.auth.window_ms / 1000,
           auth_ban_s = c.auth_ban_ms / 1000;
  for (absl::Status s : {
           ReadBoolInto(j, "enabled", kWhere, &c.enabled),
           ReadUnsignedInto(j, "window_ms", 100, 600'000, kWhere, &c.rates.window_ms),
           ReadUnsignedInto(j, "register_per_window", 1, 1'000'000, kWhere, &c.rates.per_window[0]),
           ReadUnsignedInto(j, "invite_per_window", 1, 1'000'000, kWhere, &c.rates.per_window[1]),
           ReadUnsignedInto(j, "other_per_window", 1, 1'000'000, kWhere, &c.rates.per_window[2]),
           ReadUnsignedInto(j, "max_sources", 1, 100'000'000, kWhere, &c.rates.max_sources),
           ReadUnsignedInto(j, "flood_ban_s", 1, 86400 * 7, kWhere, &flood_ban_s),
           ReadUnsignedInto(j, "auth_failures_per_source", 1, 1'000'000, kWhere,
                            &c.auth.per_source),
           ReadUnsignedInto(j, "auth_failures_per_user", 1, 1'000'000, kWhere, &c.auth.per_user),
           ReadUnsignedInto(j, "auth_window_s", 1, 86400, kWhere, &auth_window_s),
           ReadUnsignedInto(j, "auth_ban_s", 1, 86400 * 7, kWhere, &auth_ban_s),
           ReadUnsignedInto(j, "max_bans", 1, 100'000'000, kWhere, &c.max_bans),
       }) {
    if (!s.ok()) return s;
  }
  c.flood_ban_ms = int64_t{flood_ban_s} * 1000;
  c.auth.window_ms = int64_t{auth_window_s} * 1000;
  c.auth_ban_ms = int64_t{auth_ban_s} * 1000;
  if (absl::Status s = ReadLists(j, c); !s.ok()) return s;
  return c;
}

}  // namespace rtplatch
