#include "control/operator/operator_commands.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_protocol.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;

// Sent when even building an error reply failed (out of memory).
constexpr char kLastResortReply[] =
    R"({"v":1,"id":null,"ok":false,"error":{"code":"internal","message":"reply could not be built"}})";

// The registrar keys bindings by "user@domain"; operators often paste the
// URI form, so a leading "sip:" or "sips:" is ignored.
std::string NormalizeAor(absl::string_view aor) {
  for (absl::string_view scheme : {"sip:", "sips:"}) {
    if (absl::StartsWithIgnoreCase(aor, scheme)) return std::string(aor.substr(scheme.size()));
  }
  return std::string(aor);
}

}  // namespace

json RegistrationJson(const Binding& b, int64_t now) {
  json j{{"aor", b.aor},
         {"contact", b.contact_uri},
         {"expires_in", std::max<int64_t>(0, b.expires_at - now)},
         {"call_id", b.call_id},
         {"cseq", b.cseq},
         {"user_agent", b.user_agent},
         {"source", b.source.ToString()},
         {"transport", std::string(TransportName(b.transport))},
         {"local_socket", b.local_socket.ToString()},
         {"behind_nat", b.behind_nat},
         {"nat_reasons", b.nat_reasons},
         {"keepalive_interval_ms", b.keepalive_interval_ms},
         {"keepalive_reason", b.keepalive_reason},
         {"keepalive_learning", b.keepalive_learning},
         {"q", static_cast<double>(b.q_milli) / 1000.0}};
  // In a cluster, another node's binding names its owner.
  if (!b.node.empty()) j["node"] = b.node;
  return j;
}

const std::vector<OperatorCommands::Command>& OperatorCommands::Table() {
  static const std::vector<Command> kTable = {
      {"version", &OperatorCommands::Version, {}, "protocol and software version"},
      {"help", &OperatorCommands::Help, {}, "this list"},
      {"registrations", &OperatorCommands::Registrations,
       {"aor", "natted", "user_agent", "after", "offset", "limit"},
       "live bindings, filtered by aor (exact), natted, user_agent (substring); "
       "offset, limit; a filter across AORs looks at about 4096 bindings a call "
       "and says where to go on (next, for after)"},
      {"registration", &OperatorCommands::Registration, {"aor"}, "one AOR's live bindings"},
      {"calls", &OperatorCommands::Calls, {"offset", "limit"}, "calls; offset, limit"},
      {"call", &OperatorCommands::Call, {"call_id"}, "one call by its Call-ID"},
      {"stats", &OperatorCommands::Stats, {}, "control plane counters"},
      {"cluster", &OperatorCommands::Cluster, {},
       "this node's cluster: its Redis, and each node heard (up/down, SIP, calls, drained)"},
      {"peers", &OperatorCommands::Peers, {},
       "SIP peers: each target's state (up/down), attempts, failures, probes"},
      {"reload", &OperatorCommands::Reload, {},
       "re-read the config file: users file, NAT policies, peers, routes and log level at "
       "once, the rest named as needing a restart; a bad file is refused and the running "
       "config stays"},
      {"log_level", &OperatorCommands::LogThreshold, {"level"},
       "the log's threshold: error, warning, notice, info or debug (level sets it; "
       "without it, tells it)"},
      {"drain", &OperatorCommands::Drain, {"on"},
       "the node: take no new calls while on (true|false): SIP calls go to the least loaded "
       "node of the cluster, ng offers are refused; calls in progress go on"},
      {"ng_drain", &OperatorCommands::NgDrain, {"on"},
       "ng server: take no new calls while on (true|false); calls in progress go on"},
      {"bans", &OperatorCommands::Bans, {},
       "sources banned by the guard (flood, failed authentication): why, until when"},
      {"unban", &OperatorCommands::Unban, {"source"}, "lift the ban on one source address"},
      {"vip_take", &OperatorCommands::VipTake, {"address"},
       "take a VIP (keepalived made this node its master): the dataplane relays and "
       "announces it, its lease and its phones' bindings become this node's"},
      {"vip_release", &OperatorCommands::VipRelease, {"address"},
       "release a VIP: the dataplane stops relaying it, its lease is no longer renewed"},
      {"vip_check", &OperatorCommands::VipCheck, {"address"},
       "keepalived's track script: fails (failed_precondition) while this node cannot "
       "reach Redis, or has the VIP taken but another node took its lease since"},
  };
  return kTable;
}

std::string OperatorCommands::Handle(absl::string_view line, bool* subscribe) {
  *subscribe = false;
  try {
    auto parsed = ParseRequest(line, "this control plane");
    if (json* error = std::get_if<json>(&parsed)) return DumpJson(*error);
    return DumpJson(Dispatch(std::get<JsonRequest>(parsed)));
  } catch (const std::exception&) {
    return kLastResortReply;  // only out of memory gets here
  }
}

json OperatorCommands::Dispatch(const JsonRequest& request) const {
  const Command* command = nullptr;
  for (const Command& c : Table()) {
    if (c.name == request.cmd) command = &c;
  }
  if (command == nullptr) {
    return ErrorReply(request.id, "unknown_command",
                      absl::StrCat("cmd: unknown '", request.cmd, "' (try help)"));
  }
  for (const auto& [key, value] : request.body.items()) {
    if (key == "v" || key == "id" || key == "cmd") continue;
    if (std::find(command->args.begin(), command->args.end(), key) != command->args.end()) {
      continue;
    }
    return ErrorReply(request.id, "invalid_argument",
                      absl::StrCat(key, ": not an argument of ", request.cmd,
                                   command->args.empty()
                                       ? " (it takes none)"
                                       : absl::StrCat(" (accepted: ",
                                                      absl::StrJoin(command->args, ", "), ")")));
  }
  absl::StatusOr<json> result;
  try {
    result = (this->*command->handler)(request.body);
  } catch (const std::exception& e) {  // the view threw, or a type we did not check
    result = absl::InternalError(absl::StrCat(request.cmd, ": ", e.what()));
  }
  return ReplyFor(request.id, std::move(result));
}

absl::StatusOr<json> OperatorCommands::Version(const json&) const {
  return json{{"protocol", kOperatorProtocolVersion}, {"software", std::string(SoftwareVersion())}};
}

absl::StatusOr<json> OperatorCommands::Help(const json&) const {
  json list = json::array();
  for (const Command& c : Table()) {
    json args = json::array();
    for (absl::string_view a : c.args) args.push_back(std::string(a));
    list.push_back({{"name", std::string(c.name)}, {"help", std::string(c.help)}, {"args", args}});
  }
  return json{{"commands", list}};
}

absl::StatusOr<json> OperatorCommands::Registrations(const json& r) const {
  auto aor = OptionalString(r, "aor");
  if (!aor.ok()) return aor.status();
  auto natted = OptionalBool(r, "natted");
  if (!natted.ok()) return natted.status();
  auto user_agent = OptionalString(r, "user_agent");
  if (!user_agent.ok()) return user_agent.status();
  auto page = ParsePage(r);
  if (!page.ok()) return page.status();

  auto after = OptionalString(r, "after");
  if (!after.ok()) return after.status();
  const int64_t now = view_.Now();
  if (!aor->has_value() && !natted->has_value() && !user_agent->has_value()) {
    return RegistrationsPage(*page, *after, now);
  }
  auto wanted = [&](const Binding& b) {
    return (!natted->has_value() || b.behind_nat == **natted) &&
           (!user_agent->has_value() || absl::StrContains(b.user_agent, **user_agent));
  };
  if (!aor->has_value()) return FilteredSlice(*page, after->value_or(""), wanted, now);
  // One AOR by its key.
  std::vector<Binding> matched;
  for (Binding& b : view_.RegistrationsOf(NormalizeAor(**aor), now)) {
    if (wanted(b)) matched.push_back(std::move(b));
  }
  auto [begin, end] = PageSlice(*page, matched.size());
  json list = json::array();
  for (size_t i = begin; i < end; ++i) list.push_back(RegistrationJson(matched[i], now));
  return json{{"total", matched.size()}, {"registrations", std::move(list)}};
}

absl::StatusOr<json> OperatorCommands::FilteredSlice(
    const Page& page, absl::string_view after,
    absl::FunctionRef<bool(const Binding&)> wanted, int64_t now) const {
  // A bounded slice of the ordered table a call, so the SIP loop never
  // waits for a scan of a million bindings.
  std::vector<Binding> matched;
  std::string next = view_.ScanRegistrations(after, kFilterScanBudget, now, [&](const Binding& b) {
    if (wanted(b)) matched.push_back(b);
  });
  size_t end = matched.size();
  if (page.limit > 0 && page.offset + page.limit < matched.size()) {
    // The page ends inside the slice: it takes the rest of its last AOR,
    // and the next call goes on after that AOR, losing no match.
    end = page.offset + page.limit;
    const std::string last = matched[end - 1].aor;
    while (end < matched.size() && matched[end].aor == last) ++end;
    if (end < matched.size()) next = last;  // else the slice's own next stands
  }
  json list = json::array();
  for (size_t i = std::min(page.offset, end); i < end; ++i) {
    list.push_back(RegistrationJson(matched[i], now));
  }
  json reply{{"total", end}, {"registrations", std::move(list)}};
  if (!next.empty()) reply["next"] = next;
  return reply;
}

absl::StatusOr<json> OperatorCommands::RegistrationsPage(const Page& page,
                                                         const std::optional<std::string>& after,
                                                         int64_t now) const {
  json list = json::array();
  if (after.has_value()) {
    // From a key: the AORs after it, whole, until the page is full (a
    // page at most kFilterScanBudget long: one call never walks far).
    const size_t budget = std::clamp<size_t>(page.limit, 1, kFilterScanBudget);
    std::string next = view_.ScanRegistrations(*after, budget, now, [&](const Binding& b) {
      list.push_back(RegistrationJson(b, now));
    });
    json reply{{"total", view_.RegistrationCount()}, {"registrations", std::move(list)}};
    if (!next.empty()) reply["next"] = next;
    return reply;
  }
  // An offset is walked AOR by AOR: bounded, so no request stalls SIP
  // (one past the end walks nothing).
  if (page.offset >= view_.RegistrationCount()) {
    return json{{"total", view_.RegistrationCount()}, {"registrations", std::move(list)}};
  }
  if (page.offset > kMaxOffset) {
    return absl::InvalidArgumentError(absl::StrCat(
        "offset: at most ", kMaxOffset, " (it is walked); page on with after = the last AOR seen"));
  }
  for (const Binding& b : view_.RegistrationsPage(
           page.offset, std::min<size_t>(page.limit, kFilterScanBudget), now)) {
    list.push_back(RegistrationJson(b, now));
  }
  return json{{"total", view_.RegistrationCount()}, {"registrations", std::move(list)}};
}

absl::StatusOr<json> OperatorCommands::Registration(const json& r) const {
  auto aor = RequiredString(r, "aor");
  if (!aor.ok()) return aor.status();
  const std::string want = NormalizeAor(*aor);
  const int64_t now = view_.Now();
  json bindings = json::array();
  for (const Binding& b : view_.RegistrationsOf(want, now)) {
    bindings.push_back(RegistrationJson(b, now));
  }
  if (bindings.empty()) {
    return absl::NotFoundError(absl::StrCat("aor: no live registration for '", want, "'"));
  }
  return json{{"aor", want}, {"bindings", std::move(bindings)}};
}

absl::StatusOr<json> OperatorCommands::CallList() const {
  json calls = view_.Calls();
  if (!calls.is_array()) {
    return absl::InternalError(
        absl::StrCat("calls: the control plane returned ", calls.type_name(), ", not an array"));
  }
  return calls;
}

absl::StatusOr<json> OperatorCommands::Calls(const json& r) const {
  auto page = ParsePage(r);
  if (!page.ok()) return page.status();
  auto calls = CallList();
  if (!calls.ok()) return calls.status();
  auto [begin, end] = PageSlice(*page, calls->size());
  json list = json::array();
  for (size_t i = begin; i < end; ++i) list.push_back(std::move((*calls)[i]));
  return json{{"total", calls->size()}, {"calls", std::move(list)}};
}

absl::StatusOr<json> OperatorCommands::Call(const json& r) const {
  auto call_id = RequiredString(r, "call_id");
  if (!call_id.ok()) return call_id.status();
  auto calls = CallList();
  if (!calls.ok()) return calls.status();
  for (json& call : *calls) {
    if (!call.is_object()) continue;
    auto it = call.find("call_id");
    if (it != call.end() && it->is_string() && it->get<std::string>() == *call_id) {
      return std::move(call);
    }
  }
  return absl::NotFoundError(absl::StrCat("call_id: no call '", *call_id, "'"));
}

absl::StatusOr<json> OperatorCommands::Reload(const json&) const { return view_.Reload(); }

absl::StatusOr<json> OperatorCommands::LogThreshold(const json& r) const {
  return LogLevelCommand(r, ProcessLogger());
}

absl::StatusOr<json> OperatorCommands::NgDrain(const json& r) const {
  auto on = OptionalBool(r, "on");
  if (!on.ok()) return on.status();
  if (!on->has_value()) return absl::InvalidArgumentError("on: required (true or false)");
  return view_.SetNgDraining(**on);
}

absl::StatusOr<json> OperatorCommands::Drain(const json& r) const {
  auto on = OptionalBool(r, "on");
  if (!on.ok()) return on.status();
  if (!on->has_value()) return absl::InvalidArgumentError("on: required (true or false)");
  return view_.SetDraining(**on);
}

absl::StatusOr<json> OperatorCommands::Stats(const json&) const {
  json stats = view_.Stats();
  if (!stats.is_object()) {
    return absl::InternalError(
        absl::StrCat("stats: the control plane returned ", stats.type_name(), ", not an object"));
  }
  return stats;
}

absl::StatusOr<json> OperatorCommands::Cluster(const json&) const { return view_.Cluster(); }

absl::StatusOr<json> OperatorCommands::Peers(const json&) const {
  return json{{"peers", view_.Peers()}};
}

absl::StatusOr<json> OperatorCommands::Bans(const json&) const {
  json bans = view_.Bans();
  const size_t n = bans.size();
  return json{{"bans", std::move(bans)}, {"total", n}};
}

absl::StatusOr<json> OperatorCommands::Unban(const json& r) const {
  absl::StatusOr<IpAddress> source = RequiredAddress(r, "source");
  if (!source.ok()) return source.status();
  return view_.Unban(*source);
}

absl::StatusOr<json> OperatorCommands::SetVip(const json& r, bool take) const {
  absl::StatusOr<IpAddress> vip = RequiredAddress(r, "address");
  if (!vip.ok()) return vip.status();
  return view_.SetVipHeld(*vip, take);
}

absl::StatusOr<json> OperatorCommands::VipTake(const json& r) const { return SetVip(r, true); }
absl::StatusOr<json> OperatorCommands::VipRelease(const json& r) const { return SetVip(r, false); }

absl::StatusOr<json> OperatorCommands::VipCheck(const json& r) const {
  absl::StatusOr<IpAddress> vip = RequiredAddress(r, "address");
  if (!vip.ok()) return vip.status();
  return view_.CheckVip(*vip);
}

}  // namespace rtplatch
