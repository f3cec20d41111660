// The control plane's operator protocol (docs/control-protocol.md, "Control
// plane operator socket"): one JSON request line in, one JSON reply line
// out, in the same envelope as the dataplane's: registrations, calls and
// counters, seen through an OperatorView the control plane implements, and
// one action, draining the ng server (no new calls) for maintenance. Each command is declared once in a table (name, handler,
// accepted arguments, help) so dispatch, argument checking and `help`
// cannot drift.
//
// Wiring (the control plane's event loop owns both):
//   OperatorCommands commands(view);
//   auto server = ControlServer::Listen(config.control_socket,
//       [&](absl::string_view line, bool* subscribe) {
//         return commands.Handle(line, subscribe);
//       });
//
// Not thread-safe: Handle runs on the thread that owns the view.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "common/json_protocol.h"
#include "control/registrar/binding_store.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

inline constexpr int kOperatorProtocolVersion = kJsonProtocolVersion;

// What the operator socket may read of the control plane's state. Calls are
// made on the thread that calls OperatorCommands::Handle.
class OperatorView {
 public:
  virtual ~OperatorView() = default;
  // Live bindings (not expired at `now`, unix seconds) in the operator's
  // order, AOR by AOR from the first AOR after `after` (from the start
  // when empty), until about `budget` have been looked at; returns the
  // last AOR looked at, or "" when the end was reached (Registrar::
  // ScanLive).
  virtual std::string ScanRegistrations(absl::string_view after, size_t budget, int64_t now,
                                        absl::FunctionRef<void(const Binding&)> fn) const = 0;
  // One AOR's bindings not expired at `now`, found by its key (what it
  // costs is that AOR's, not every binding's), highest q first, then
  // latest expiry.
  virtual std::vector<Binding> RegistrationsOf(absl::string_view aor, int64_t now) const = 0;
  // Live bindings in the operator's order (by AOR, then highest q, then
  // latest expiry), `limit` of them after the first `offset`, costing the
  // AORs walked; and how many bindings there are (live, or expired within
  // the last second and not yet pruned).
  virtual std::vector<Binding> RegistrationsPage(size_t offset, size_t limit,
                                                 int64_t now) const = 0;
  virtual size_t RegistrationCount() const = 0;
  // JSON array of call objects, each with at least a string "call_id"
  // ({"call_id":..,"state":..,"caller":..,"callee":..,"legs":[...],
  // "pairs":[...],...}), in the order `calls` should list them.
  virtual nlohmann::json Calls() const = 0;
  // JSON object of counters.
  virtual nlohmann::json Stats() const = 0;
  // JSON array of the configured SIP peers with their targets' health
  // (PeerSet::ToJson); empty without peers.
  virtual nlohmann::json Peers() const = 0;
  // This node's cluster and the nodes it hears ({"enabled": false} alone
  // for a single node).
  virtual nlohmann::json Cluster() const { return {{"enabled", false}}; }
  // Unix seconds.
  virtual int64_t Now() const = 0;
  // The ng server takes no new calls (its clients try their next node)
  // while `on`; calls in progress go on. Returns {"draining":bool,
  // "calls":N}, or NotFound when no ng server runs.
  virtual absl::StatusOr<nlohmann::json> SetNgDraining(bool on) = 0;
  // The node takes no new calls while on: SIP calls go to another node of
  // its cluster, ng offers are refused.
  virtual absl::StatusOr<nlohmann::json> SetDraining(bool on) = 0;
  // Re-reads the config file: {"users": N, "users_file", "nat_policy":
  // "reloaded"|"unchanged", "restart_needed": [...]}, or the error that
  // kept the running config.
  virtual absl::StatusOr<nlohmann::json> Reload() = 0;
  // JSON array of the sources banned now ({"source", "reason",
  // "banned_s_ago", "ends_in_s", "dropped"}), the one ending last first.
  virtual nlohmann::json Bans() const = 0;
  // Lifts the ban on `source`: {"unbanned": "..."}, or NotFound.
  virtual absl::StatusOr<nlohmann::json> Unban(const IpAddress& source) = 0;
  // Takes (keepalived made this node VRRP master for it) or releases a
  // VIP: {"address", "taken"}; NotFound for a single node,
  // InvalidArgument for an address not in cluster.vips.
  virtual absl::StatusOr<nlohmann::json> SetVipHeld(const IpAddress&, bool) {
    return NotAClusterNode();
  }
  // The VIP's state here ({"address", "taken", "epoch", "lease_valid",
  // "lease_lost"}); FailedPrecondition while this node cannot reach Redis,
  // or while the VIP is taken here but another node took its lease since
  // (VRRP flapped). keepalived's weighted track script then lowers this
  // node's priority: a node that reaches Redis becomes master, and if none
  // does (Redis down) the order stays as it was.
  virtual absl::StatusOr<nlohmann::json> CheckVip(const IpAddress&) const {
    return NotAClusterNode();
  }

 protected:
  static absl::Status NotAClusterNode() {
    return absl::NotFoundError("not a cluster node (no cluster section)");
  }
};

// A binding as `registrations` and `registration` show it; expires_in is
// counted from `now`.
nlohmann::json RegistrationJson(const Binding& binding, int64_t now);

class OperatorCommands {
 public:
  // Bindings a filter across AORs looks at in one call: a few
  // milliseconds of the SIP loop.
  static constexpr size_t kFilterScanBudget = 4096;
  // The largest offset `registrations` walks; beyond it, `after` pages.
  static constexpr size_t kMaxOffset = 10000;

  explicit OperatorCommands(OperatorView& view) : view_(view) {}

  // One request line to one reply line (without '\n'); never throws.
  // `*subscribe` is always set to false (there are no events here); the
  // signature is ControlServer::Handler's.
  std::string Handle(absl::string_view line, bool* subscribe);

 private:
  using json = nlohmann::json;
  struct Command {
    absl::string_view name;
    absl::StatusOr<json> (OperatorCommands::*handler)(const json& request) const;
    std::vector<absl::string_view> args;  // accepted besides v, id, cmd
    absl::string_view help;
  };
  static const std::vector<Command>& Table();

  json Dispatch(const JsonRequest& request) const;

  absl::StatusOr<json> Version(const json&) const;
  absl::StatusOr<json> Help(const json&) const;
  absl::StatusOr<json> Registrations(const json&) const;
  // registrations without filters: from `after` (a key) or an offset.
  absl::StatusOr<json> RegistrationsPage(const Page& page, const std::optional<std::string>& after,
                                         int64_t now) const;
  // registrations filtered across AORs: a slice of the table from `after`.
  absl::StatusOr<json> FilteredSlice(const Page& page, absl::string_view after,
                                     absl::FunctionRef<bool(const Binding&)> wanted,
                                     int64_t now) const;
  absl::StatusOr<json> Registration(const json&) const;
  absl::StatusOr<json> Calls(const json&) const;
  absl::StatusOr<json> Call(const json&) const;
  absl::StatusOr<json> NgDrain(const json&) const;
  absl::StatusOr<json> Drain(const json&) const;
  absl::StatusOr<json> Reload(const json&) const;
  absl::StatusOr<json> LogThreshold(const json&) const;
  absl::StatusOr<json> Stats(const json&) const;
  absl::StatusOr<json> Peers(const json&) const;
  absl::StatusOr<json> Cluster(const json&) const;
  absl::StatusOr<json> Bans(const json&) const;
  absl::StatusOr<json> Unban(const json&) const;
  absl::StatusOr<json> VipTake(const json&) const;
  absl::StatusOr<json> VipRelease(const json&) const;
  absl::StatusOr<json> SetVip(const json&, bool take) const;
  absl::StatusOr<json> VipCheck(const json&) const;

  absl::StatusOr<json> CallList() const;

  OperatorView& view_;
};

}  // namespace rtplatch
