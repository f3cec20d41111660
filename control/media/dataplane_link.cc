#include "control/media/dataplane_link.h"

#include <time.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/monotonic_clock.h"

namespace rtplatch {
namespace {

// Posted requests in flight at most (Post settles first when there are).
constexpr size_t kMaxPosted = 256;

nlohmann::json UpdateArgs(uint64_t stream, const std::optional<Endpoint>& peer,
                          LatchPolicy policy) {
  return {{"stream", stream},
          {"peer", peer ? peer->ToString() : std::string()},
          {"policy", std::string(LatchPolicyName(policy))}};
}

absl::Status FromErrorReply(absl::string_view cmd, const control::Reply& r) {
  const std::string msg = absl::StrCat("dataplane: ", cmd, ": ", r.error_code, ": ", r.error_message);
  if (r.error_code == "resource_exhausted") return absl::ResourceExhaustedError(msg);
  if (r.error_code == "not_found") return absl::NotFoundError(msg);
  if (r.error_code == "already_in_use") return absl::AlreadyExistsError(msg);
  if (r.error_code == "invalid_argument") return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

nlohmann::json LegJson(const LegSpec& leg) {
  nlohmann::json j = {{"family", leg.ipv6 ? "ipv6" : "ipv4"},
                      {"policy", std::string(LatchPolicyName(leg.policy))},
                      {"rtcp_mux", leg.rtcp_mux}};
  if (leg.peer) j["peer"] = leg.peer->ToString();
  if (leg.relay) j["relay"] = leg.relay->ToString();
  if (leg.address) j["address"] = leg.address->ToString();
  if (!leg.ice_ufrag.empty()) j["ice"] = {{"ufrag", leg.ice_ufrag}, {"pwd", leg.ice_pwd}};
  return j;
}

absl::StatusOr<Endpoint> EndpointField(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) {
    return absl::InternalError(absl::StrCat("dataplane: reply lacks ", key));
  }
  return Endpoint::Parse(j[key].get<std::string>());
}

absl::StatusOr<StreamInfo> StreamFromJson(const nlohmann::json& j) {
  StreamInfo s;
  if (!j.is_object() || !j.contains("stream") || !j["stream"].is_number_unsigned()) {
    return absl::InternalError("dataplane: reply lacks a stream id");
  }
  s.stream = j["stream"].get<uint64_t>();
  auto relay = EndpointField(j, "relay");
  if (!relay.ok()) return relay.status();
  auto rtcp = EndpointField(j, "rtcp_relay");
  if (!rtcp.ok()) return rtcp.status();
  s.relay = *relay;
  s.rtcp_relay = *rtcp;
  return s;
}

}  // namespace

DataplaneLink::DataplaneLink(Options options) : options_(std::move(options)) {}

void DataplaneLink::Disconnect(const absl::Status& why) {
  last_error_ = std::string(why.message());
  posted_.clear();  // their replies die with the connection
  if (requests_) requests_->Close();
  if (events_) events_->Close();
  next_attempt_ms_ = 0;  // the first retry may be immediate: the dataplane may be back
}

absl::Status DataplaneLink::EnsureConnected() {
  if (connected() && events_ && events_->connected()) return absl::OkStatus();
  if (in_reconnect_) return absl::OkStatus();  // the re-push's own calls
  const int64_t now = MonotonicMs();
  if (now < next_attempt_ms_) {
    return absl::UnavailableError(absl::StrCat("dataplane unreachable: ", last_error_));
  }
  next_attempt_ms_ = now + options_.retry_interval_ms;
  requests_ = std::make_unique<control::ControlClient>(options_.socket_path, options_.timeout_ms,
                                                       "rtplatch-control");
  events_ = std::make_unique<control::ControlClient>(options_.socket_path, options_.timeout_ms,
                                                     "rtplatch-control-events");
  absl::Status s = requests_->Connect();
  if (s.ok()) s = events_->Connect();
  if (s.ok()) {
    auto sub = events_->Call("subscribe");
    if (!sub.ok()) s = sub.status();
    else if (!sub->ok) s = absl::InternalError("dataplane refused subscribe");
  }
  if (!s.ok()) {
    last_error_ = std::string(s.message());
    requests_->Close();
    events_->Close();
    return absl::UnavailableError(absl::StrCat("dataplane unreachable: ", last_error_));
  }
  ++counters_.reconnects;
  last_error_.clear();
  if (options_.on_reconnect) {
    in_reconnect_ = true;
    options_.on_reconnect();
    in_reconnect_ = false;
  }
  return absl::OkStatus();
}

absl::Status DataplaneLink::TransportFailed(absl::string_view cmd, const absl::Status& why) {
  ++counters_.call_failures;
  absl::Status unreachable = absl::UnavailableError(
      absl::StrCat("dataplane unreachable: ", cmd, ": ", why.message()));
  Disconnect(unreachable);
  return unreachable;
}

absl::StatusOr<control::Reply> DataplaneLink::Call(absl::string_view cmd,
                                                   const nlohmann::json& args) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  if (!connected()) return absl::UnavailableError("dataplane unreachable");
  Settle();  // replies come in order: the posted ones first
  if (!connected()) return absl::UnavailableError(absl::StrCat("dataplane unreachable: ", last_error_));
  ++counters_.calls;
  auto reply = requests_->Call(cmd, args);
  if (!reply.ok()) return TransportFailed(cmd, reply.status());
  if (!reply->ok) return FromErrorReply(cmd, *reply);
  return reply;
}

absl::Status DataplaneLink::Post(absl::string_view cmd, const nlohmann::json& args) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  if (!connected()) return absl::UnavailableError("dataplane unreachable");
  // Bounded: a dataplane that stopped reading must not let requests pile up.
  if (posted_.size() >= kMaxPosted) Settle();
  if (!connected()) return absl::UnavailableError(absl::StrCat("dataplane unreachable: ", last_error_));
  ++counters_.posted;
  auto id = requests_->Post(cmd, args);
  if (!id.ok()) return TransportFailed(cmd, id.status());
  posted_.emplace_back(*std::move(id), std::string(cmd));
  return absl::OkStatus();
}

void DataplaneLink::Settle() {
  while (!posted_.empty() && connected()) {
    auto [id, cmd] = std::move(posted_.front());
    posted_.pop_front();
    auto reply = requests_->Await(id);
    if (!reply.ok()) {
      (void)TransportFailed(cmd, reply.status());
      return;
    }
    if (!reply->ok) {
      ++counters_.posted_failures;
      last_error_ = std::string(FromErrorReply(cmd, *reply).message());
    }
  }
}

absl::Status DataplaneLink::PostUpdate(uint64_t stream, const std::optional<Endpoint>& peer,
                                       LatchPolicy policy) {
  return Post("update", UpdateArgs(stream, peer, policy));
}

absl::Status DataplaneLink::PostDelete(uint64_t pair) { return Post("delete", {{"pair", pair}}); }

absl::StatusOr<PairInfo> DataplaneLink::Allocate(const LegSpec& a, const LegSpec& b,
                                                 absl::string_view label) {
  auto reply = Call("allocate", {{"a", LegJson(a)}, {"b", LegJson(b)}, {"label", std::string(label)}});
  if (!reply.ok()) return reply.status();
  const nlohmann::json& r = reply->result;
  PairInfo p;
  if (!r.is_object() || !r.contains("pair") || !r["pair"].is_number_unsigned()) {
    return absl::InternalError("dataplane: allocate: reply lacks pair");
  }
  p.pair = r["pair"].get<uint64_t>();
  auto sa = StreamFromJson(r.value("a", nlohmann::json()));
  if (!sa.ok()) return sa.status();
  auto sb = StreamFromJson(r.value("b", nlohmann::json()));
  if (!sb.ok()) return sb.status();
  p.a = *sa;
  p.b = *sb;
  return p;
}

absl::Status DataplaneLink::Update(uint64_t stream, const std::optional<Endpoint>& peer,
                                   LatchPolicy policy) {
  auto reply = Call("update", UpdateArgs(stream, peer, policy));
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::StatusOr<nlohmann::json> DataplaneLink::DeleteReporting(uint64_t pair) {
  auto reply = Call("delete", {{"pair", pair}});
  if (!reply.ok()) return reply.status();
  return reply->result;
}

absl::Status DataplaneLink::Delete(uint64_t pair) {
  auto reply = Call("delete", {{"pair", pair}});
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::StatusOr<std::vector<uint64_t>> DataplaneLink::AddKeepalives(
    const std::vector<KeepaliveSpec>& targets) {
  nlohmann::json list = nlohmann::json::array();
  for (const KeepaliveSpec& t : targets) {
    nlohmann::json target = {{"target", t.target.ToString()},
                             {"source", t.source.ToString()},
                             {"payload", t.payload},
                             {"interval_ms", t.interval_ms},
                             {"label", t.label}};
    if (t.first_within_ms != 0) target["first_within_ms"] = t.first_within_ms;
    list.push_back(std::move(target));
  }
  auto reply = Call("keepalive_add", {{"targets", list}});
  if (!reply.ok()) return reply.status();
  std::vector<uint64_t> ids;
  const nlohmann::json& r = reply->result;
  if (!r.contains("ids") || !r["ids"].is_array()) {
    return absl::InternalError("dataplane: keepalive_add: reply lacks ids");
  }
  for (const auto& id : r["ids"]) {
    if (!id.is_number_unsigned()) return absl::InternalError("dataplane: keepalive_add: bad id");
    ids.push_back(id.get<uint64_t>());
  }
  if (ids.size() != targets.size()) {
    return absl::InternalError("dataplane: keepalive_add: wrong number of ids");
  }
  return ids;
}

absl::Status DataplaneLink::UpdateKeepalive(uint64_t id, uint32_t interval_ms) {
  auto reply = Call("keepalive_update", {{"id", id}, {"interval_ms", interval_ms}});
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::Status DataplaneLink::RemoveKeepalives(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  auto reply = Call("keepalive_remove", {{"ids", ids}});
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::Status DataplaneLink::ForEachListed(
    absl::string_view cmd, absl::string_view key,
    absl::FunctionRef<void(const nlohmann::json&)> fn) {
  constexpr size_t kPage = 1000;
  for (size_t offset = 0;; offset += kPage) {
    auto reply = Call(cmd, {{"offset", offset}, {"limit", kPage}});
    if (!reply.ok()) return reply.status();
    const nlohmann::json list = reply->result.value(std::string(key), nlohmann::json::array());
    for (const auto& item : list) {
      if (item.is_object()) fn(item);
    }
    if (list.size() < kPage) return absl::OkStatus();
  }
}

absl::StatusOr<std::vector<uint64_t>> DataplaneLink::ListKeepalives(absl::string_view prefix) {
  std::vector<uint64_t> ids;
  absl::Status s = ForEachListed("keepalive_list", "keepalives", [&](const nlohmann::json& k) {
    auto id = k.find("id");
    if (absl::StartsWith(k.value("label", ""), prefix) && id != k.end() &&
        id->is_number_unsigned()) {
      ids.push_back(id->get<uint64_t>());
    }
  });
  if (!s.ok()) return s;
  return ids;
}

absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> DataplaneLink::ListPairs(
    absl::string_view prefix) {
  std::vector<std::pair<uint64_t, std::string>> pairs;
  absl::Status s = ForEachListed("list", "streams", [&](const nlohmann::json& st) {
    auto pair = st.find("pair");
    if (st.value("leg", "") == "a" && absl::StartsWith(st.value("label", ""), prefix) &&
        pair != st.end() && pair->is_number_unsigned()) {
      pairs.emplace_back(pair->get<uint64_t>(), st.value("label", ""));
    }
  });
  if (!s.ok()) return s;
  return pairs;
}

absl::Status DataplaneLink::SetAddressHeld(const IpAddress& address, bool held) {
  return Call(held ? "address_take" : "address_release", {{"address", address.ToString()}})
      .status();
}

absl::StatusOr<nlohmann::json> DataplaneLink::Stats() {
  auto reply = Call("stats", nlohmann::json::object());
  if (!reply.ok()) return reply.status();
  return reply->result;
}

absl::StatusOr<nlohmann::json> DataplaneLink::QueryPair(uint64_t pair) {
  auto reply = Call("query", {{"pair", pair}});
  if (!reply.ok()) return reply.status();
  return reply->result;
}

absl::StatusOr<nlohmann::json> DataplaneLink::QueryStream(uint64_t stream) {
  auto reply = Call("query", {{"stream", stream}});
  if (!reply.ok()) return reply.status();
  return reply->result;
}

std::vector<DataplaneEvent> DataplaneLink::PollEvents() {
  std::vector<DataplaneEvent> out;
  if (!events_ || !events_->connected()) {
    (void)EnsureConnected();
    return out;
  }
  for (;;) {
    auto polled = events_->PollEvent();
    if (!polled.ok()) {
      // The dataplane went away: reconnect (and re-push) when it is back.
      Disconnect(polled.status());
      break;
    }
    if (!polled->has_value()) break;
    const nlohmann::json& e = **polled;
    ++counters_.events;
    DataplaneEvent ev;
    ev.event = e.value("event", "");
    ev.stream = e.value("stream", uint64_t{0});
    ev.pair = e.value("pair", uint64_t{0});
    ev.peer = e.value("peer", "");
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace rtplatch
