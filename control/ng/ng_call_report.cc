#include "control/ng/ng_call_report.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace rtplatch {
namespace {

using bencode::Int;
using bencode::Str;

BencodeValue EndpointDict(const Endpoint& ep) {
  BencodeValue d = BencodeValue::Dictionary();
  d.Set("family", Str(ep.ip.is_v4() ? "IPv4" : "IPv6"));
  d.Set("address", Str(ep.ip.ToString()));
  d.Set("port", Int(ep.port));
  return d;
}

std::optional<Endpoint> PeerOf(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return std::nullopt;
  auto ep = Endpoint::Parse(j[key].get<std::string>());
  if (!ep.ok()) return std::nullopt;
  return *ep;
}

int64_t Count(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>()
                                                                         : 0;
}

struct Totals {
  int64_t packets = 0, bytes = 0, errors = 0;
  bool bytes_known = true;  // every stream reported bytes

  void Add(const nlohmann::json& counters) {
    packets += Count(counters, "packets");
    errors += Count(counters, "drops");
    if (counters.is_object() && counters.contains("bytes")) {
      bytes += Count(counters, "bytes");
    } else {
      bytes_known = false;
    }
  }
  BencodeValue Dict() const {
    BencodeValue d = BencodeValue::Dictionary();
    d.Set("packets", Int(packets));
    // Not reported by this dataplane: left out rather than made up.
    if (bytes_known) d.Set("bytes", Int(bytes));
    d.Set("errors", Int(errors));
    return d;
  }
};

// One packet stream (RTP or its RTCP) of one party's leg.
BencodeValue StreamDict(const NgLeg& leg, bool rtcp, const nlohmann::json* state,
                        int64_t now_s, Totals& totals) {
  BencodeValue d = BencodeValue::Dictionary();
  d.Set("local port", Int(rtcp && !leg.rtcp_mux ? leg.rtcp_relay.port : leg.relay.port));
  std::optional<Endpoint> advertised = leg.peer;
  if (advertised && rtcp && !leg.rtcp_mux) advertised->port = advertised->port + 1;
  const nlohmann::json* counters = state == nullptr ? nullptr : rtcp ? &(*state)["rtcp"] : state;
  std::optional<Endpoint> learned =
      counters == nullptr ? std::nullopt : PeerOf(*counters, "learned_peer");
  if (learned || advertised) d.Set("endpoint", EndpointDict(learned ? *learned : *advertised));
  if (advertised) d.Set("advertised endpoint", EndpointDict(*advertised));
  BencodeValue flags = BencodeValue::List();
  flags.list().push_back(Str(rtcp ? "RTCP" : "RTP"));
  if (learned) flags.list().push_back(Str("confirmed"));
  d.Set("flags", std::move(flags));
  if (counters != nullptr) {
    if (!rtcp && state->contains("idle_ms") && (*state)["idle_ms"].is_number_integer()) {
      d.Set("last packet", Int(now_s - (*state)["idle_ms"].get<int64_t>() / 1000));
    }
    Totals own;
    own.Add(*counters);
    totals.Add(*counters);
    d.Set("stats", own.Dict());
  }
  return d;
}

BencodeValue PartyDict(const NgBranch& branch, bool party_a, const NgPairStates& states,
                       int64_t now_s, Totals& rtp, Totals& rtcp) {
  const std::string& tag = party_a ? branch.tag_a : branch.tag_b;
  const std::string& other = party_a ? branch.tag_b : branch.tag_a;
  const std::string& label = party_a ? branch.label_a : branch.label_b;
  BencodeValue d = BencodeValue::Dictionary();
  d.Set("tag", Str(tag));
  d.Set("created", Int(party_a ? branch.created_a : branch.created_b));
  if (!label.empty()) d.Set("label", Str(label));
  if (!other.empty()) d.Set("in dialogue with", Str(other));
  BencodeValue medias = BencodeValue::List();
  for (size_t i = 0; i < branch.media.size(); ++i) {
    const NgMedia& m = branch.media[i];
    const NgLeg& leg = party_a ? m.a : m.b;
    auto found = states.find(m.pair);
    const char* side = party_a ? "a" : "b";
    const nlohmann::json* s = found != states.end() && found->second.is_object() &&
                                      found->second.contains(side)
                                  ? &found->second[side]
                                  : nullptr;
    BencodeValue media = BencodeValue::Dictionary();
    media.Set("index", Int(static_cast<int64_t>(i + 1)));
    media.Set("type", Str(m.type));
    media.Set("protocol", Str(m.protocol));
    BencodeValue flags = BencodeValue::List();
    flags.list().push_back(Str("initialized"));
    if (leg.rtcp_mux) flags.list().push_back(Str("rtcp-mux"));
    media.Set("flags", std::move(flags));
    BencodeValue streams = BencodeValue::List();
    streams.list().push_back(StreamDict(leg, false, s, now_s, rtp));
    streams.list().push_back(StreamDict(leg, true, s, now_s, rtcp));
    media.Set("streams", std::move(streams));
    medias.list().push_back(std::move(media));
  }
  d.Set("medias", std::move(medias));
  return d;
}

}  // namespace

NgPairStates QueryNgPairs(const std::vector<const NgBranch*>& branches, DataplaneLink& link) {
  NgPairStates states;
  for (const NgBranch* branch : branches) {
    for (const NgMedia& m : branch->media) {
      // One round trip per m= line: both parties' streams.
      absl::StatusOr<nlohmann::json> pair = link.QueryPair(m.pair);
      if (pair.ok()) states[m.pair] = *std::move(pair);
    }
  }
  return states;
}

BencodeValue NgCallReport(const NgCall& call, const std::vector<const NgBranch*>& branches,
                          const NgPairStates& states, int64_t now_s) {
  Totals rtp, rtcp;
  BencodeValue tags = BencodeValue::Dictionary();
  for (const NgBranch* branch : branches) {
    for (bool party_a : {true, false}) {
      const std::string& tag = party_a ? branch->tag_a : branch->tag_b;
      // A forked offerer is one party: its first branch speaks for it.
      if (tags.Find(tag) != nullptr) continue;
      tags.Set(tag, PartyDict(*branch, party_a, states, now_s, rtp, rtcp));
    }
  }
  BencodeValue totals = BencodeValue::Dictionary();
  totals.Set("RTP", rtp.Dict());
  totals.Set("RTCP", rtcp.Dict());
  BencodeValue reply = BencodeValue::Dictionary();
  reply.Set("result", Str("ok"));
  reply.Set("created", Int(call.created));
  reply.Set("last signal", Int(call.last_signal));
  reply.Set("totals", std::move(totals));
  reply.Set("tags", std::move(tags));
  return reply;
}

}  // namespace rtplatch
