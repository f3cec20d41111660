#include "control/media/call_record.h"

#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json_protocol.h"
#include "common/latch_policy.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kWhere = "call record: ";

json EndpointJson(const std::optional<Endpoint>& e) {
  return e && e->is_set() ? json(e->ToString()) : json(nullptr);
}

// An endpoint field: absent or null is nullopt.
absl::StatusOr<std::optional<Endpoint>> OptionalEndpoint(const json& j, absl::string_view field,
                                                         absl::string_view where) {
  absl::StatusOr<std::optional<std::string>> text = OptionalString(j, field, where);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::optional<Endpoint>();
  absl::StatusOr<Endpoint> ep = Endpoint::Parse(**text);
  if (!ep.ok()) return FieldError(where, field, absl::StrCat("'", **text, "' is not ip:port"));
  return std::optional<Endpoint>(*ep);
}

absl::Status ReadEndpointInto(const json& j, absl::string_view field, absl::string_view where,
                              Endpoint* out, bool required) {
  absl::StatusOr<std::optional<Endpoint>> ep = OptionalEndpoint(j, field, where);
  if (!ep.ok()) return ep.status();
  if (!ep->has_value()) return required ? FieldError(where, field, "required") : absl::OkStatus();
  *out = **ep;
  return absl::OkStatus();
}

json SideRecord(const CallSide& s, const Endpoint& local) {
  return {{"aor", s.aor},
          {"tag", s.tag},
          {"contact", s.contact},
          {"user_agent", s.user_agent},
          {"dest", s.route.dest.ToString()},
          {"transport", std::string(SipTransportName(s.route.transport))},
          {"local", EndpointJson(local)},
          {"natted", s.natted},
          {"nat_reasons", s.nat_reasons},
          {"policy", std::string(LatchPolicyName(s.policy))},
          {"media_ipv6", s.media_ipv6},
          {"cseq", s.cseq},
          {"flow_token", s.flow_token},
          {"node", s.node}};
}

absl::Status ReadSide(const json& j, absl::string_view name, CallSide& s, Endpoint& local) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_object()) return FieldError(kWhere, name, "must be an object");
  const std::string where = absl::StrCat(kWhere, name, ".");
  const json& o = *it;
  for (auto [field, out] : {std::pair{"tag", &s.tag}, std::pair{"contact", &s.contact},
                            std::pair{"user_agent", &s.user_agent},
                            std::pair{"flow_token", &s.flow_token}}) {
    if (absl::Status st = ReadStringInto(o, field, where, out); !st.ok()) return st;
  }
  if (absl::Status st = ReadStringInto(o, "aor", where, &s.aor, "an AOR"); !st.ok()) return st;
  if (absl::Status st = ReadEndpointInto(o, "dest", where, &s.route.dest, true); !st.ok()) return st;
  if (absl::Status st = ReadEndpointInto(o, "local", where, &local, false); !st.ok()) return st;
  std::string transport = "UDP";
  if (absl::Status st = ReadChoiceInto(o, "transport", {"UDP", "TCP", "TLS"}, where, &transport);
      !st.ok()) {
    return st;
  }
  s.route.transport = transport == "UDP"   ? SipTransportKind::kUdp
                      : transport == "TCP" ? SipTransportKind::kTcp
                                           : SipTransportKind::kTls;
  std::string policy = std::string(LatchPolicyName(s.policy));
  if (absl::Status st = ReadStringInto(o, "policy", where, &policy); !st.ok()) return st;
  if (!ParseLatchPolicy(policy, &s.policy)) {
    return FieldError(where, "policy", absl::StrCat("'", policy, "' is not a latch policy"));
  }
  for (auto [field, out] : {std::pair{"natted", &s.natted}, std::pair{"media_ipv6", &s.media_ipv6},
                            std::pair{"node", &s.node}}) {
    if (absl::Status st = ReadBoolInto(o, field, where, out); !st.ok()) return st;
  }
  if (absl::Status st = ReadUnsignedInto(o, "cseq", 0, std::numeric_limits<uint32_t>::max(), where,
                                         &s.cseq);
      !st.ok()) {
    return st;
  }
  if (auto r = o.find("nat_reasons"); r != o.end() && !r->is_null()) {
    absl::StatusOr<std::vector<std::string>> reasons = ReadStringList(*r, where, "nat_reasons");
    if (!reasons.ok()) return reasons.status();
    s.nat_reasons = *std::move(reasons);
  }
  return absl::OkStatus();
}

json LineRecord(const MediaLine& m) {
  return {{"relay_a", m.relay_a.ToString()}, {"rtcp_a", m.rtcp_a.ToString()},
          {"relay_b", m.relay_b.ToString()}, {"rtcp_b", m.rtcp_b.ToString()},
          {"peer_a", EndpointJson(m.peer_a)}, {"peer_b", EndpointJson(m.peer_b)},
          {"latched_a", EndpointJson(m.latched_a)}, {"latched_b", EndpointJson(m.latched_b)},
          {"rtcp_mux_a", m.rtcp_mux_a}, {"rtcp_mux_b", m.rtcp_mux_b}};
}

absl::StatusOr<MediaLine> ReadLine(const json& o, size_t index) {
  if (!o.is_object()) return FieldError(kWhere, absl::StrCat("media[", index, "]"), "must be an object");
  const std::string where = absl::StrCat(kWhere, "media[", index, "].");
  MediaLine m;
  for (auto [field, out] : {std::pair{"relay_a", &m.relay_a}, std::pair{"rtcp_a", &m.rtcp_a},
                            std::pair{"relay_b", &m.relay_b}, std::pair{"rtcp_b", &m.rtcp_b}}) {
    if (absl::Status st = ReadEndpointInto(o, field, where, out, true); !st.ok()) return st;
  }
  for (auto [field, out] : {std::pair{"peer_a", &m.peer_a}, std::pair{"peer_b", &m.peer_b},
                            std::pair{"latched_a", &m.latched_a},
                            std::pair{"latched_b", &m.latched_b}}) {
    absl::StatusOr<std::optional<Endpoint>> ep = OptionalEndpoint(o, field, where);
    if (!ep.ok()) return ep.status();
    *out = *ep;
  }
  for (auto [field, out] : {std::pair{"rtcp_mux_a", &m.rtcp_mux_a},
                            std::pair{"rtcp_mux_b", &m.rtcp_mux_b}}) {
    if (absl::Status st = ReadBoolInto(o, field, where, out); !st.ok()) return st;
  }
  return m;
}

absl::Status ReadState(const json& j, Call& call) {
  std::string state = "calling";
  if (absl::Status st = ReadChoiceInto(j, "state", {"calling", "early", "confirmed"}, kWhere, &state);
      !st.ok()) {
    return st;
  }
  call.state = state == "confirmed" ? Call::State::kConfirmed
               : state == "early"   ? Call::State::kEarly
                                    : Call::State::kCalling;
  return absl::OkStatus();
}

}  // namespace

std::string EncodeCallRecord(const Call& call, const CallRecordLocals& locals) {
  json media = json::array();
  for (const MediaLine& m : call.media) media.push_back(LineRecord(m));
  const json j{{"call_id", call.call_id},
               {"state", std::string(CallStateName(call.state))},
               {"vip", call.vip.is_unspecified() ? json(nullptr) : json(call.vip.ToString())},
               {"caller", SideRecord(call.caller, locals.caller)},
               {"callee", SideRecord(call.callee, locals.callee)},
               {"from", call.from_header},
               {"to", call.to_header},
               {"anchored", call.anchored},
               {"spiral", call.spiral},
               {"peer", call.peer},
               {"created_at", call.created_at},
               {"answered_at", call.answered_at},
               {"media", media}};
  return DumpJson(j);
}

absl::StatusOr<DecodedCallRecord> DecodeCallRecord(absl::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("call record: not a JSON object");
  DecodedCallRecord out;
  Call& call = out.call;
  absl::StatusOr<std::string> id = RequiredString(j, "call_id", kWhere);
  if (!id.ok()) return id.status();
  call.call_id = *std::move(id);
  if (absl::Status st = ReadState(j, call); !st.ok()) return st;
  if (auto v = j.find("vip"); v != j.end() && !v->is_null()) {
    absl::StatusOr<IpAddress> vip = RequiredAddress(j, "vip", kWhere);
    if (!vip.ok()) return vip.status();
    call.vip = *vip;
  }
  if (absl::Status st = ReadSide(j, "caller", call.caller, out.locals.caller); !st.ok()) return st;
  if (absl::Status st = ReadSide(j, "callee", call.callee, out.locals.callee); !st.ok()) return st;
  for (auto [field, dest] : {std::pair{"from", &call.from_header}, std::pair{"to", &call.to_header},
                             std::pair{"peer", &call.peer}}) {
    if (absl::Status st = ReadStringInto(j, field, kWhere, dest); !st.ok()) return st;
  }
  for (auto [field, dest] : {std::pair{"anchored", &call.anchored},
                             std::pair{"spiral", &call.spiral}}) {
    if (absl::Status st = ReadBoolInto(j, field, kWhere, dest); !st.ok()) return st;
  }
  constexpr uint64_t kMaxTime = std::numeric_limits<uint32_t>::max();
  for (auto [field, dest] : {std::pair{"created_at", &call.created_at},
                             std::pair{"answered_at", &call.answered_at}}) {
    if (absl::Status st = ReadUnsignedInto(j, field, 0, kMaxTime, kWhere, dest); !st.ok()) return st;
  }
  const auto media = j.find("media");
  if (media == j.end() || !media->is_array()) return FieldError(kWhere, "media", "must be a list");
  for (size_t i = 0; i < media->size(); ++i) {
    absl::StatusOr<MediaLine> line = ReadLine((*media)[i], i);
    if (!line.ok()) return line.status();
    call.media.push_back(*std::move(line));
  }
  return out;
}

}  // namespace rtplatch
