#include "dataplane/control/control_commands.h"

#include <cctype>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json_protocol.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;

constexpr size_t kRememberedReplies = 4096;

absl::StatusOr<uint64_t> RequiredId(const json& r, const char* field) {
  auto it = r.find(field);
  if (it == r.end()) return ArgError(field, "required");
  if (!it->is_number_unsigned()) return ArgError(field, "must be a positive integer");
  return it->get<uint64_t>();
}

absl::StatusOr<std::optional<LatchPolicy>> OptionalPolicy(const json& r, absl::string_view where) {
  auto text = OptionalString(r, "policy", where);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::optional<LatchPolicy>();
  LatchPolicy p;
  if (!ParseLatchPolicy(**text, &p)) {
    return ArgError(absl::StrCat(where, "policy"), absl::StrCat("'", **text,
                    "' is not one of learn, strict, asymmetric"));
  }
  return std::optional<LatchPolicy>(p);
}

// An "ip:port" field ("peer", "relay"); absent, null or "" is nullopt.
absl::StatusOr<std::optional<Endpoint>> OptionalEndpoint(const json& r, const char* field,
                                                         absl::string_view where) {
  auto text = OptionalString(r, field, where);
  if (!text.ok()) return text.status();
  if (!text->has_value() || (*text)->empty()) return std::optional<Endpoint>();
  auto ep = Endpoint::Parse(**text);
  if (!ep.ok()) return ArgError(absl::StrCat(where, field), ep.status().message());
  return std::optional<Endpoint>(*ep);
}

absl::StatusOr<std::optional<Endpoint>> OptionalPeer(const json& r, absl::string_view where) {
  return OptionalEndpoint(r, "peer", where);
}

// "ice": {"ufrag", "pwd"}: the credentials the leg's relay ports answer
// ICE checks with. Absent: none.
absl::StatusOr<IceCredentials> ParseIce(const json& leg, const std::string& where) {
  auto it = leg.find("ice");
  if (it == leg.end() || it->is_null()) return IceCredentials{};
  const std::string field = absl::StrCat(where, "ice");
  if (!it->is_object()) return ArgError(field, "must be an object {ufrag, pwd}");
  auto ufrag = OptionalString(*it, "ufrag", field + ".");
  if (!ufrag.ok()) return ufrag.status();
  auto pwd = OptionalString(*it, "pwd", field + ".");
  if (!pwd.ok()) return pwd.status();
  if (!ufrag->has_value() || !ValidIceUfrag(**ufrag)) {
    return ArgError(field + ".ufrag", absl::StrCat(kIceUfragMin, " to ", kIceUfragMax,
                                                   " characters of A-Z a-z 0-9 + /"));
  }
  if (!pwd->has_value() || !ValidIcePwd(**pwd)) {
    return ArgError(field + ".pwd", absl::StrCat(kIcePwdMin, " to ", kIcePwdMax,
                                                 " characters of A-Z a-z 0-9 + /"));
  }
  return MakeIceCredentials(**ufrag, **pwd);
}

absl::StatusOr<LegRequest> ParseLeg(const json& r, const char* name) {
  auto it = r.find(name);
  LegRequest leg;
  if (it == r.end()) return leg;
  if (!it->is_object()) return ArgError(name, "must be an object");
  std::string where = absl::StrCat(name, ".");
  auto family = OptionalString(*it, "family", where);
  if (!family.ok()) return family.status();
  if (family->has_value()) {
    if (**family == "ipv6") {
      leg.ipv6 = true;
    } else if (**family != "ipv4") {
      return ArgError(absl::StrCat(where, "family"), "must be ipv4 or ipv6");
    }
  }
  auto peer = OptionalPeer(*it, where);
  if (!peer.ok()) return peer.status();
  leg.peer = *peer;
  auto relay = OptionalEndpoint(*it, "relay", where);
  if (!relay.ok()) return relay.status();
  leg.relay = *relay;
  auto address = OptionalString(*it, "address", where);
  if (!address.ok()) return address.status();
  if (address->has_value() && !(*address)->empty()) {
    auto ip = IpAddress::Parse(**address);
    if (!ip.ok()) return ArgError(absl::StrCat(where, "address"), ip.status().message());
    leg.address = *ip;
  }
  // Without a family, the leg takes the relay's, else the address's, else
  // the peer's.
  if (!family->has_value()) {
    if (leg.relay) {
      leg.ipv6 = !leg.relay->ip.is_v4();
    } else if (leg.address) {
      leg.ipv6 = !leg.address->is_v4();
    } else if (leg.peer) {
      leg.ipv6 = !leg.peer->ip.is_v4();
    }
  }
  auto policy = OptionalPolicy(*it, where);
  if (!policy.ok()) return policy.status();
  leg.policy = *policy;
  if (auto mux = it->find("rtcp_mux"); mux != it->end()) {
    if (!mux->is_boolean()) return ArgError(absl::StrCat(where, "rtcp_mux"), "must be true or false");
    leg.rtcp_mux = mux->get<bool>();
  }
  auto ice = ParseIce(*it, where);
  if (!ice.ok()) return ice.status();
  leg.ice = *ice;
  return leg;
}

json PeerJson(const IpAddress& ip, uint16_t port) {
  if (port == 0 || ip.is_unspecified()) return nullptr;
  return Endpoint{ip, port}.ToString();
}

json CountersJson(const LcoreCounters& c) {
  json drops = json::object();
  for (size_t i = 0; i < kDropReasonCount; ++i) drops[std::string(kDropReasonNames[i])] = c.drops[i];
  return json{{"rx", c.rx}, {"rx_bytes", c.rx_bytes}, {"relayed", c.relayed},
              {"exception_in", c.exception_in}, {"exception_out", c.exception_out},
              {"exception_fragments", c.exception_fragments},
              {"handoff", c.handoff}, {"held", c.held}, {"solicits", c.solicits},
              {"announcements", c.announcements},
              {"events_lost", c.events_lost}, {"keepalives_sent", c.keepalives_sent},
              {"keepalive_cycles", c.keepalive_cycles}, {"busy_cycles", c.busy_cycles},
              {"ice_checks_answered", c.ice_checks_answered},
              {"idle_cycles", c.idle_cycles}, {"drops", drops}};
}

}  // namespace

json StreamJson(const StreamView& v) {
  json j = {{"stream", v.stream}, {"pair", v.pair}, {"leg", std::string(1, v.leg)},
            {"label", v.label}, {"relay", v.relay.ToString()},
            {"rtcp_relay", v.rtcp_relay.ToString()},
            {"policy", std::string(LatchPolicyName(v.rtp.policy))},
            {"state", std::string(LatchStateName(v.rtp.state))},
            {"expected_peer", PeerJson(v.rtp.expected_ip, v.rtp.expected_port)},
            {"learned_peer", PeerJson(v.rtp.peer_ip, v.rtp.peer_port)},
            {"packets", v.rtp.packets}, {"bytes", v.rtp.bytes}, {"drops", v.rtp.drops},
            {"relatches", v.rtp.relatches}, {"lcore", v.lcore_index}};
  j["idle_ms"] = v.idle_ns ? json(*v.idle_ns / 1'000'000) : json(nullptr);
  j["rtcp"] = {{"state", std::string(LatchStateName(v.rtcp.state))},
               {"learned_peer", PeerJson(v.rtcp.peer_ip, v.rtcp.peer_port)},
               {"packets", v.rtcp.packets}, {"bytes", v.rtcp.bytes}, {"drops", v.rtcp.drops}};
  return j;
}

const std::vector<ControlCommands::Command>& ControlCommands::Table() {
  static const std::vector<Command> kTable = {
      {"version", &ControlCommands::Version, false, "protocol and software version"},
      {"help", &ControlCommands::Help, false, "this list"},
      {"allocate", &ControlCommands::Allocate, true,
       "allocate a stream pair: a/b legs {family, peer, policy, rtcp_mux, relay, address, "
       "ice {ufrag, pwd}}, label; "
       "relay \"ip:port\" takes that RTP port (even) or fails with already_in_use"},
      {"update", &ControlCommands::Update, true, "set a stream's expected peer and/or policy"},
      {"delete", &ControlCommands::Delete, true, "delete a stream pair"},
      {"query", &ControlCommands::Query, false, "one stream (stream), or both of a pair (pair)"},
      {"list", &ControlCommands::List, false,
       "streams, filtered by state, policy, label, peer_ip; offset, limit"},
      {"stats", &ControlCommands::Stats, false, "per-lcore and total counters"},
      {"log_level", &ControlCommands::LogThreshold, false,
       "the log's threshold (and DPDK's): error, warning, notice, info or debug (level sets "
       "it; without it, tells it)"},
      {"subscribe", &ControlCommands::Subscribe, false,
       "receive latched/relatched/idle events on this connection"},
      {"keepalive_add", &ControlCommands::KeepaliveAdd, true,
       "add NAT keepalive targets: targets [{target, source, payload, interval_ms, jitter_ms, "
       "first_within_ms, label}]"},
      {"keepalive_update", &ControlCommands::KeepaliveUpdate, true,
       "change a keepalive's interval_ms (and jitter_ms)"},
      {"keepalive_remove", &ControlCommands::KeepaliveRemove, true, "remove keepalives: ids"},
      {"keepalive_query", &ControlCommands::KeepaliveQuery, false, "one keepalive target"},
      {"keepalive_list", &ControlCommands::KeepaliveList, false,
       "keepalive targets, filtered by target_ip, label; offset, limit"},
      {"address_take", &ControlCommands::AddressTake, true,
       "take a standby address (a VIP): relay and send keepalives for it, announce it "
       "from the NIC, put it on the kernel's exception interface"},
      {"address_release", &ControlCommands::AddressRelease, true,
       "release a standby address: relay and send nothing for it, take it off the kernel's "
       "interface (its streams stay, ready for the next take)"},
      {"address_list", &ControlCommands::AddressList, false,
       "the relay addresses: fixed or standby, held or not"},
  };
  return kTable;
}

ControlCommands::ControlCommands(StreamRegistry& registry,
                                 std::function<DataplaneStats()> stats,
                                 std::function<uint64_t()> now_ns, KeepaliveRegistry* keepalives,
                                 const KernelAddresses* kernel)
    : registry_(registry),
      keepalives_(keepalives),
      kernel_(kernel),
      stats_(std::move(stats)),
      now_ns_(std::move(now_ns)) {}

std::string ControlCommands::Handle(absl::string_view line, bool* subscribe) {
  *subscribe = false;
  auto parsed = ParseRequest(line, "this dataplane");
  if (json* error = std::get_if<json>(&parsed)) return DumpJson(*error);
  const JsonRequest& request = std::get<JsonRequest>(parsed);
  const Command* command = nullptr;
  for (const Command& c : Table()) {
    if (c.name == request.cmd) command = &c;
  }
  if (command != nullptr && keepalives_ == nullptr && absl::StartsWith(request.cmd, "keepalive_")) {
    command = nullptr;  // built without keepalive support (unit tests)
  }
  if (command == nullptr) {
    return DumpJson(ErrorReply(request.id, "unknown_command",
                               absl::StrCat("cmd: unknown '", request.cmd, "' (try help)")));
  }
  const std::string cache_key = request.id.is_null() ? "" : DumpJson(request.id);
  if (command->mutates && !cache_key.empty()) {
    if (auto hit = replies_by_id_.find(cache_key); hit != replies_by_id_.end()) {
      return hit->second;  // retransmission: answer again, apply nothing
    }
  }
  subscribe_requested_ = false;
  std::string reply = DumpJson(ReplyFor(request.id, (this->*command->handler)(request.body)));
  if (command->mutates && !cache_key.empty()) Remember(cache_key, reply);
  *subscribe = subscribe_requested_;
  return reply;
}

void ControlCommands::Remember(const std::string& id, const std::string& reply) {
  if (replies_by_id_.emplace(id, reply).second) reply_ids_.push_back(id);
  while (reply_ids_.size() > kRememberedReplies) {
    replies_by_id_.erase(reply_ids_.front());
    reply_ids_.pop_front();
  }
}

std::string ControlCommands::EventLine(const ControlEvent& e) {
  json j = {{"v", kControlProtocolVersion}, {"stream", e.stream}, {"pair", e.pair}};
  switch (e.type) {
    case ControlEvent::Type::kLatched:
      j["event"] = "latched";
      j["peer"] = e.peer.ToString();
      break;
    case ControlEvent::Type::kRelatched:
      j["event"] = "relatched";
      j["peer"] = e.peer.ToString();
      break;
    case ControlEvent::Type::kIdle:
      j["event"] = "idle";
      j["idle_ms"] = e.idle_ns / 1'000'000;
      break;
  }
  return DumpJson(j);
}

absl::StatusOr<json> ControlCommands::Version(const json&) {
  return json{{"protocol", kControlProtocolVersion}, {"software", std::string(SoftwareVersion())}};
}

absl::StatusOr<json> ControlCommands::Help(const json&) {
  json list = json::array();
  for (const Command& c : Table()) {
    if (keepalives_ == nullptr && absl::StartsWith(c.name, "keepalive_")) continue;
    list.push_back({{"name", std::string(c.name)}, {"help", std::string(c.help)}});
  }
  return json{{"commands", list}};
}

absl::StatusOr<json> ControlCommands::Allocate(const json& r) {
  auto a = ParseLeg(r, "a");
  if (!a.ok()) return a.status();
  auto b = ParseLeg(r, "b");
  if (!b.ok()) return b.status();
  auto label = OptionalString(r, "label");
  if (!label.ok()) return label.status();
  auto pair = registry_.Allocate(*a, *b, label->value_or(""), now_ns_());
  if (!pair.ok()) return pair.status();
  return json{{"pair", pair->pair}, {"a", StreamJson(pair->a)}, {"b", StreamJson(pair->b)}};
}

absl::StatusOr<json> ControlCommands::Update(const json& r) {
  auto stream = RequiredId(r, "stream");
  if (!stream.ok()) return stream.status();
  std::optional<std::optional<Endpoint>> peer;
  if (r.contains("peer")) {
    auto p = OptionalPeer(r, "");
    if (!p.ok()) return p.status();
    peer = *p;
  }
  auto policy = OptionalPolicy(r, "");
  if (!policy.ok()) return policy.status();
  auto view = registry_.Update(*stream, peer, *policy, now_ns_());
  if (!view.ok()) return view.status();
  return StreamJson(*view);
}

absl::StatusOr<json> ControlCommands::Delete(const json& r) {
  auto pair = RequiredId(r, "pair");
  if (!pair.ok()) return pair.status();
  // The streams' last state comes back with the delete: a relay reporting
  // a call's statistics at its end needs no query first.
  auto views = registry_.QueryPair(*pair, now_ns_());
  if (auto s = registry_.Delete(*pair); !s.ok()) return s;
  json out = {{"deleted", *pair}};
  if (views.ok()) {
    out["a"] = StreamJson(views->first);
    out["b"] = StreamJson(views->second);
  }
  return out;
}

absl::StatusOr<json> ControlCommands::Query(const json& r) {
  if (r.contains("pair") && !r.contains("stream")) {
    auto pair = RequiredId(r, "pair");
    if (!pair.ok()) return pair.status();
    auto views = registry_.QueryPair(*pair, now_ns_());
    if (!views.ok()) return views.status();
    return json{{"pair", *pair}, {"a", StreamJson(views->first)}, {"b", StreamJson(views->second)}};
  }
  auto stream = RequiredId(r, "stream");
  if (!stream.ok()) return stream.status();
  auto view = registry_.Query(*stream, now_ns_());
  if (!view.ok()) return view.status();
  return StreamJson(*view);
}

absl::StatusOr<json> ControlCommands::List(const json& r) {
  StreamFilter filter;
  auto state = OptionalString(r, "state");
  if (!state.ok()) return state.status();
  if (state->has_value()) {
    bool found = false;
    for (LatchState s : {LatchState::kUnlatched, LatchState::kLearning, LatchState::kLocked}) {
      if (LatchStateName(s) == **state) {
        filter.state = s;
        found = true;
      }
    }
    if (!found) return ArgError("state", "must be unlatched, learning or locked");
  }
  auto policy = OptionalPolicy(r, "");
  if (!policy.ok()) return policy.status();
  filter.policy = *policy;
  auto label = OptionalString(r, "label");
  if (!label.ok()) return label.status();
  filter.label = *label;
  auto peer_ip = OptionalString(r, "peer_ip");
  if (!peer_ip.ok()) return peer_ip.status();
  if (peer_ip->has_value()) {
    auto ip = IpAddress::Parse(**peer_ip);
    if (!ip.ok()) return ArgError("peer_ip", ip.status().message());
    filter.peer_ip = *ip;
  }
  auto page = ParsePage(r);
  if (!page.ok()) return page.status();
  size_t total = 0;
  json streams = json::array();
  for (const StreamView& v :
       registry_.List(filter, page->offset, page->limit, now_ns_(), &total)) {
    streams.push_back(StreamJson(v));
  }
  return json{{"total", total}, {"streams", streams}};
}

absl::StatusOr<json> ControlCommands::LogThreshold(const json& request) {
  return LogLevelCommand(request, ProcessLogger(), log_level_hook_);
}

absl::StatusOr<json> ControlCommands::Stats(const json&) {
  DataplaneStats stats = stats_();
  LcoreCounters total;
  size_t keepalives = 0;
  json lcores = json::array();
  for (size_t index = 0; index < stats.lcores.size(); ++index) {
    const LcoreStats& l = stats.lcores[index];
    total.Accumulate(l.counters);
    json j = CountersJson(l.counters);
    j["lcore"] = l.lcore_id;
    j["index"] = index;
    j["keepalives"] = l.keepalives;
    keepalives += l.keepalives;
    lcores.push_back(j);
  }
  json total_json = CountersJson(total);
  total_json["keepalives"] = keepalives;
  return json{{"streams", registry_.stream_count()}, {"pairs", registry_.pair_count()},
              {"free_port_pairs_v4", registry_.free_port_pairs(false)},
              {"free_port_pairs_v6", registry_.free_port_pairs(true)},
              {"neighbors", stats.neighbors}, {"table_bytes", stats.table_bytes},
              {"keepalive_bytes", stats.keepalive_bytes},
              {"keepalive_payloads", stats.keepalive_payloads},
              {"tsc_hz", stats.tsc_hz}, {"total", total_json}, {"lcores", lcores}};
}

absl::StatusOr<json> ControlCommands::Subscribe(const json&) {
  subscribe_requested_ = true;
  return json{{"subscribed", true}};
}

namespace {

absl::StatusOr<std::string> ParsePayload(const json& p) {
  if (p.is_string()) {
    const std::string name = p.get<std::string>();
    if (name == "crlf") return std::string("\r\n\r\n");
    if (name == "zero4") return std::string(4, '\0');
    return ArgError("payload", "must be \"crlf\", \"zero4\", {\"text\": ...} or {\"hex\": ...}");
  }
  if (p.is_object() && p.size() == 1 && p.contains("text") && p["text"].is_string()) {
    return p["text"].get<std::string>();
  }
  if (p.is_object() && p.size() == 1 && p.contains("hex") && p["hex"].is_string()) {
    const std::string hex = p["hex"].get<std::string>();
    bool ok = hex.size() % 2 == 0;
    for (char c : hex) ok = ok && std::isxdigit(static_cast<unsigned char>(c));
    if (!ok) return ArgError("payload.hex", "must be an even number of hex digits");
    return absl::HexStringToBytes(hex);
  }
  return ArgError("payload", "must be \"crlf\", \"zero4\", {\"text\": ...} or {\"hex\": ...}");
}

absl::StatusOr<uint32_t> OptionalU32(const json& r, const char* field, uint32_t fallback) {
  auto it = r.find(field);
  if (it == r.end()) return fallback;
  if (!it->is_number_unsigned() || it->get<uint64_t>() > UINT32_MAX) {
    return ArgError(field, "must be a non-negative integer");
  }
  return static_cast<uint32_t>(it->get<uint64_t>());
}

absl::StatusOr<KeepaliveSpec> ParseKeepalive(const json& t) {
  if (!t.is_object()) return ArgError("", "must be an object");
  KeepaliveSpec spec;
  for (auto [field, out] : {std::pair{"target", &spec.target}, std::pair{"source", &spec.source}}) {
    auto text = OptionalString(t, field);
    if (!text.ok()) return text.status();
    if (!text->has_value()) return ArgError(field, "required");
    auto ep = Endpoint::Parse(**text);
    if (!ep.ok()) return ArgError(field, ep.status().message());
    *out = *ep;
  }
  if (auto it = t.find("payload"); it != t.end()) {
    auto payload = ParsePayload(*it);
    if (!payload.ok()) return payload.status();
    spec.payload = *payload;
  }
  auto interval = OptionalU32(t, "interval_ms", kDefaultKeepaliveIntervalMs);
  if (!interval.ok()) return interval.status();
  spec.interval_ms = *interval;
  auto jitter = OptionalU32(t, "jitter_ms", 0);
  if (!jitter.ok()) return jitter.status();
  spec.jitter_ms = *jitter;
  auto first = OptionalU32(t, "first_within_ms", 0);
  if (!first.ok()) return first.status();
  spec.first_within_ms = *first;
  auto label = OptionalString(t, "label");
  if (!label.ok()) return label.status();
  spec.label = label->value_or("");
  return spec;
}

json KeepaliveJson(const KeepaliveView& v) {
  json j = {{"id", v.id}, {"target", v.target.ToString()}, {"source", v.source.ToString()},
            {"payload_bytes", v.payload_bytes}, {"interval_ms", v.interval_ms},
            {"jitter_ms", v.jitter_ms}, {"label", v.label}, {"sent", v.sent},
            {"lcore", v.lcore_index}};
  j["last_sent_ms_ago"] =
      v.last_sent_ago_ns ? json(*v.last_sent_ago_ns / 1'000'000) : json(nullptr);
  return j;
}

constexpr size_t kMaxKeepalivesPerRequest = 100000;

}  // namespace

absl::StatusOr<json> ControlCommands::KeepaliveAdd(const json& r) {
  auto it = r.find("targets");
  if (it == r.end() || !it->is_array() || it->empty() || it->size() > kMaxKeepalivesPerRequest) {
    return ArgError("targets", absl::StrCat("must be a list of 1..", kMaxKeepalivesPerRequest,
                                            " keepalive objects"));
  }
  std::vector<KeepaliveSpec> specs;
  specs.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    auto spec = ParseKeepalive((*it)[i]);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("targets[", i, "].", spec.status().message()));
    }
    specs.push_back(*std::move(spec));
  }
  auto ids = keepalives_->Add(specs, now_ns_());
  if (!ids.ok()) return ids.status();
  return json{{"ids", *ids}};
}

absl::StatusOr<json> ControlCommands::KeepaliveUpdate(const json& r) {
  auto id = RequiredId(r, "id");
  if (!id.ok()) return id.status();
  if (!r.contains("interval_ms")) return ArgError("interval_ms", "required");
  auto interval = OptionalU32(r, "interval_ms", 0);
  if (!interval.ok()) return interval.status();
  std::optional<uint32_t> jitter;
  if (r.contains("jitter_ms")) {
    auto j = OptionalU32(r, "jitter_ms", 0);
    if (!j.ok()) return j.status();
    jitter = *j;
  }
  auto view = keepalives_->Update(*id, *interval, jitter, now_ns_());
  if (!view.ok()) return view.status();
  return KeepaliveJson(*view);
}

absl::StatusOr<json> ControlCommands::KeepaliveRemove(const json& r) {
  auto it = r.find("ids");
  if (it == r.end() || !it->is_array() || it->empty()) {
    return ArgError("ids", "must be a non-empty list of keepalive ids");
  }
  std::vector<uint64_t> ids;
  for (const json& id : *it) {
    if (!id.is_number_unsigned()) return ArgError("ids", "must hold positive integers");
    ids.push_back(id.get<uint64_t>());
  }
  if (auto s = keepalives_->Remove(ids); !s.ok()) return s;
  return json{{"removed", ids.size()}};
}

absl::StatusOr<json> ControlCommands::KeepaliveQuery(const json& r) {
  auto id = RequiredId(r, "id");
  if (!id.ok()) return id.status();
  auto view = keepalives_->Query(*id, now_ns_());
  if (!view.ok()) return view.status();
  return KeepaliveJson(*view);
}

absl::StatusOr<json> ControlCommands::KeepaliveList(const json& r) {
  std::optional<IpAddress> target_ip;
  auto ip_text = OptionalString(r, "target_ip");
  if (!ip_text.ok()) return ip_text.status();
  if (ip_text->has_value()) {
    auto ip = IpAddress::Parse(**ip_text);
    if (!ip.ok()) return ArgError("target_ip", ip.status().message());
    target_ip = *ip;
  }
  auto label = OptionalString(r, "label");
  if (!label.ok()) return label.status();
  auto page = ParsePage(r);
  if (!page.ok()) return page.status();
  size_t total = 0;
  json list = json::array();
  for (const KeepaliveView& v :
       keepalives_->List(target_ip, *label, page->offset, page->limit, now_ns_(), &total)) {
    list.push_back(KeepaliveJson(v));
  }
  return json{{"total", total}, {"keepalives", list}};
}

absl::StatusOr<uint8_t> ControlCommands::StandbyAddress(const json& r) const {
  absl::StatusOr<IpAddress> ip = RequiredAddress(r, "address");
  if (!ip.ok()) return ip.status();
  const RelayAddresses& addresses = registry_.addresses();
  const uint8_t id = addresses.Find(*ip);
  if (id == kNoAddress) {
    return ArgError("address",
                    absl::StrCat(ip->ToString(), " is not a relay address of this dataplane"));
  }
  if (!addresses.is_standby(id)) {
    return ArgError("address", absl::StrCat(ip->ToString(), " is a fixed relay address, held "
                                            "for the process's life; only standby_addresses move"));
  }
  return id;
}

absl::StatusOr<json> ControlCommands::AddressTake(const json& r) {
  auto id = StandbyAddress(r);
  if (!id.ok()) return id.status();
  const RelayAddresses& addresses = registry_.addresses();
  const IpAddress& address = addresses.at(*id);
  // The kernel first: a take that cannot answer ARP for the address
  // would draw no traffic; refused, nothing changed.
  if (kernel_ != nullptr) {
    if (absl::Status s = kernel_->Add(address); !s.ok()) return s;
  }
  const bool was_held = addresses.held(*id);
  addresses.holding().Take(*id);
  return json{{"address", address.ToString()}, {"held", true}, {"was_held", was_held},
              {"announcements", AddressHolding::kAnnouncements},
              {"kernel_interface", kernel_ != nullptr ? kernel_->ifindex() : 0}};
}

absl::StatusOr<json> ControlCommands::AddressRelease(const json& r) {
  auto id = StandbyAddress(r);
  if (!id.ok()) return id.status();
  const RelayAddresses& addresses = registry_.addresses();
  const IpAddress& address = addresses.at(*id);
  const bool was_held = addresses.held(*id);
  // The lcores first: from here on nothing is relayed or sent from it.
  addresses.holding().Release(*id);
  if (kernel_ != nullptr) {
    if (absl::Status s = kernel_->Remove(address); !s.ok()) return s;
  }
  return json{{"address", address.ToString()}, {"held", false}, {"was_held", was_held}};
}

absl::StatusOr<json> ControlCommands::AddressList(const json&) {
  const RelayAddresses& addresses = registry_.addresses();
  json list = json::array();
  for (size_t i = 0; i < addresses.size(); ++i) {
    const uint8_t id = static_cast<uint8_t>(i);
    list.push_back({{"address", addresses.at(id).ToString()},
                    {"kind", addresses.is_standby(id) ? "standby" : "fixed"},
                    {"held", addresses.held(id)}});
  }
  return json{{"addresses", list}};
}

}  // namespace rtplatch
