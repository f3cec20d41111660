#include "control/ng/ng_calls.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logger.h"
#include "control/media/pair_repush.h"
#include "control/ng/ice_credentials_source.h"
#include "control/ng/ng_call_report.h"
#include "control/sdp/sdp.h"

namespace rtplatch {
namespace {

// rtpengine's texts, which Kamailio's rtpengine module matches to try its
// next node when the client did not say it supports "load limit".
constexpr absl::string_view kSessionLimitMessage = "Parallel session limit reached";
constexpr absl::string_view kOutOfPortsMessage = "Ran out of ports";

BencodeValue Ok() {
  BencodeValue reply = BencodeValue::Dictionary();
  reply.Set("result", BencodeValue::String("ok"));
  return reply;
}

BencodeValue OkWithWarning(absl::string_view warning) {
  BencodeValue reply = Ok();
  reply.Set("warning", BencodeValue::String(std::string(warning)));
  return reply;
}

using bencode::Int;
using bencode::Str;

// The sender's media address for one m= line: "media address" first, then
// the SIP source with "SIP source address", else the SDP's c= and port.
std::optional<Endpoint> SenderPeer(const NgOptions& o, const SdpMediaDescription& m) {
  if (m.port == 0) return std::nullopt;
  if (o.media_address) return Endpoint{*o.media_address, m.port};
  if (o.address_source == NgAddressSource::kSipSource && o.received_from) {
    return Endpoint{*o.received_from, m.port};
  }
  if (!m.connection || m.connection_is_hold) return std::nullopt;
  return Endpoint{*m.connection, m.port};
}

bool Held(const SdpMediaDescription& m) {
  using Direction = SdpMediaDescription::Direction;
  return m.connection_is_hold || m.direction == Direction::kSendOnly ||
         m.direction == Direction::kInactive;
}

// What one m= line says of its sender: media address, family, rtcp-mux, hold.
NgLeg SenderLeg(const NgOptions& o, const SdpMediaDescription& m) {
  NgLeg sender;
  sender.peer = SenderPeer(o, m);
  sender.ipv6 = sender.peer ? !sender.peer->ip.is_v4() : m.ipv6;
  sender.rtcp_mux = m.rtcp_mux;
  sender.held = Held(m);
  return sender;
}

// The family the receiver of this SDP gets: "address family", else the
// receiver's interface in "direction" when it has one family only, else
// the legacy selectors (internal = IPv4, external = IPv6, as rtpengine
// reads them when no such interface is configured), else the sender's own.
bool ReceiverIpv6(const NgOptions& o, const std::map<std::string, NgInterface>& interfaces,
                  bool sender_ipv6) {
  if (o.ipv6) return *o.ipv6;
  if (o.direction.size() >= 2) {
    if (auto it = interfaces.find(o.direction[1]); it != interfaces.end()) {
      if (it->second.ipv4.has_value() != it->second.ipv6.has_value()) {
        return it->second.ipv6.has_value();
      }
      return sender_ipv6;
    }
    if (o.direction[1] == "internal") return false;
    if (o.direction[1] == "external") return true;
  }
  return sender_ipv6;
}

// The relay address of a leg facing direction[index]'s network, in the
// leg's family; nullopt when "direction" names no interface for it (or a
// legacy selector no interface is named after).
absl::StatusOr<std::optional<IpAddress>> DirectionAddress(
    const NgOptions& o, const std::map<std::string, NgInterface>& interfaces, size_t index,
    bool ipv6) {
  if (o.direction.size() <= index) return std::nullopt;
  const std::string& name = o.direction[index];
  auto it = interfaces.find(name);
  if (it == interfaces.end()) {
    if (name == "internal" || name == "external") return std::nullopt;
    std::vector<std::string> known;
    for (const auto& [n, unused] : interfaces) known.push_back(n);
    return absl::InvalidArgumentError(absl::StrCat(
        "direction: no interface named '", name, "' (configured: ",
        known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
  }
  const std::optional<IpAddress>& address = ipv6 ? it->second.ipv6 : it->second.ipv4;
  if (!address) {
    return absl::InvalidArgumentError(absl::StrCat("direction: interface '", name, "' has no ",
                                                   ipv6 ? "IPv6" : "IPv4", " address"));
  }
  return address;
}

RelayLeg::RtcpMux MuxEdit(const NgOptions& o, bool is_offer, const NgMedia& media,
                          const NgLeg& sender) {
  if (o.rtcp_mux.reject) return RelayLeg::RtcpMux::kRemove;
  if (is_offer) {
    if (o.rtcp_mux.demux) return RelayLeg::RtcpMux::kRemove;
    if (o.rtcp_mux.offer || o.rtcp_mux.require) return RelayLeg::RtcpMux::kAdd;
    return RelayLeg::RtcpMux::kKeep;
  }
  // The answer to a demuxed offer: the offerer gets back the mux it offered.
  if (media.demux && media.a.rtcp_mux && !sender.rtcp_mux) return RelayLeg::RtcpMux::kAdd;
  return RelayLeg::RtcpMux::kKeep;
}

// Where the receiver of this SDP sends the stream: its relay port, with
// the rtcp-mux edit and (ICE=force) the credentials its ports answer with.
RelayLeg ReceiverRelay(const NgOptions& o, bool is_offer, const NgMedia& media,
                       const NgLeg& sender, const NgLeg& receiver, bool sender_wrote_mux) {
  RelayLeg leg{receiver.relay.ip, receiver.relay.port, receiver.rtcp_relay.port,
               MuxEdit(o, is_offer, media, sender)};
  const bool mux_out = leg.rtcp_mux == RelayLeg::RtcpMux::kAdd ||
                       (leg.rtcp_mux == RelayLeg::RtcpMux::kKeep && sender_wrote_mux);
  if (mux_out && o.rtcp_mux.require) leg.rtcp_port = leg.rtp_port;
  if (o.ice == NgIce::kForce) {
    leg.ice_ufrag = receiver.ice_ufrag;
    leg.ice_pwd = receiver.ice_pwd;
  }
  return leg;
}

}  // namespace

NgCalls::NgCalls(NgCallsConfig config, DataplaneLink& link, std::function<int64_t()> now_s,
                 std::function<int64_t()> now_ms)
    : config_(config), link_(link), now_s_(std::move(now_s)), now_ms_(std::move(now_ms)) {}

const NgCall* NgCalls::Find(absl::string_view call_id) const {
  auto it = calls_.find(call_id);
  return it == calls_.end() ? nullptr : &it->second;
}

BencodeValue NgCalls::Handle(const NgRequest& request, const Endpoint& from) {
  (void)from;
  const std::string& command = request.command;
  if (command == "ping") {
    BencodeValue pong = BencodeValue::Dictionary();
    pong.Set("result", Str("pong"));
    return pong;
  }
  absl::StatusOr<NgOptions> options = ParseNgOptions(request);
  if (!options.ok()) {
    ++counters_.errors;
    return NgErrorReply(options.status().message());
  }
  for (const std::string& flag : options->ignored) {
    if (logged_ignored_.size() < 1024 && logged_ignored_.insert(flag).second) {
      RTPLATCH_LOG(Notice, "ng: ignoring unknown flag or key '%s'",
                   flag.c_str());
    }
  }
  BencodeValue reply;
  if (command == "offer") {
    reply = Offer(*options, /*answer=*/false);
  } else if (command == "answer") {
    reply = Offer(*options, /*answer=*/true);
  } else if (command == "delete") {
    reply = Delete(*options);
  } else if (command == "query") {
    reply = Query(*options);
  } else if (command == "list") {
    reply = List(*options);
  } else if (command == "statistics") {
    reply = Statistics();
  } else {
    reply = NgErrorReply("Unrecognized command");
  }
  const BencodeValue* result = reply.Find("result");
  if (result != nullptr && result->is_string() && result->string() == "error") ++counters_.errors;
  return reply;
}

std::optional<BencodeValue> NgCalls::RefuseNewCall(const NgOptions& o, absl::string_view why) {
  ++counters_.load_limited;
  if (o.supports_load_limit) {
    BencodeValue reply = BencodeValue::Dictionary();
    reply.Set("result", Str("load limit"));
    reply.Set("message", Str(why));
    return reply;
  }
  return NgErrorReply(why);
}

// ---------------------------------------------------------------------------
// offer / answer

NgCalls::Target NgCalls::FindOfferTarget(NgCall& call, const NgOptions& o) {
  NgBranch* unanswered = nullptr;
  for (NgBranch& b : call.branches) {
    if (!o.to_tag.empty()) {
      if (b.tag_a == o.from_tag && b.tag_b == o.to_tag) return {&b, true};
      if (b.tag_b == o.from_tag && b.tag_a == o.to_tag) return {&b, false};
    }
    if (b.tag_a == o.from_tag && b.tag_b.empty() &&
        (o.via_branch.empty() || b.via_branch == o.via_branch) && unanswered == nullptr) {
      unanswered = &b;
    }
  }
  if (unanswered != nullptr && !o.to_tag.empty()) unanswered->tag_b = o.to_tag;
  return {unanswered, true};
}

NgCalls::Target NgCalls::FindAnswerTarget(NgCall& call, const NgOptions& o) {
  // from-tag is the offerer's, to-tag the answerer's.
  NgBranch* candidate = nullptr;
  for (NgBranch& b : call.branches) {
    if (b.tag_a == o.from_tag && b.tag_b == o.to_tag) return {&b, false};
    if (b.tag_b == o.from_tag && b.tag_a == o.to_tag) return {&b, true};
    if (candidate != nullptr || b.tag_a != o.from_tag) continue;
    if (!o.via_branch.empty() && b.via_branch != o.via_branch) continue;
    if (b.tag_b.empty()) candidate = &b;
  }
  if (candidate == nullptr) {
    // A second answerer on a branch forked without via-branch: the leg
    // now belongs to it (it is where the offer's relay port went).
    for (NgBranch& b : call.branches) {
      if (b.tag_a == o.from_tag) {
        candidate = &b;
        break;
      }
    }
  }
  if (candidate != nullptr) {
    candidate->tag_b = o.to_tag;
    if (candidate->created_b == 0) candidate->created_b = now_s_();
  }
  return {candidate, false};
}

BencodeValue NgCalls::Offer(const NgOptions& o, bool answer) {
  ++(answer ? counters_.answers : counters_.offers);
  if (o.call_id.empty()) return NgErrorReply("No call-id in message");
  if (o.from_tag.empty()) return NgErrorReply("No from-tag in message");
  if (answer && o.to_tag.empty()) return NgErrorReply("No to-tag in message");
  if (!o.sdp) return NgErrorReply("No SDP body in message");
  if (o.transport_protocol && *o.transport_protocol != "RTP/AVP" &&
      *o.transport_protocol != "RTP/AVPF" && *o.transport_protocol != "RTP/SAVP" &&
      *o.transport_protocol != "RTP/SAVPF" && *o.transport_protocol != "UDP/TLS/RTP/SAVPF") {
    return NgErrorReply(absl::StrCat("transport-protocol '", *o.transport_protocol,
                                     "' is not an RTP profile"));
  }
  auto it = calls_.find(o.call_id);
  const bool new_call = it == calls_.end();
  if (new_call) {
    if (answer) return NgErrorReply("Unknown call-id");
    if (draining_) return *RefuseNewCall(o, "draining: no new calls");
    if (config_.max_sessions > 0 && calls_.size() >= static_cast<size_t>(config_.max_sessions)) {
      return *RefuseNewCall(o, kSessionLimitMessage);
    }
    NgCall call;
    call.call_id = o.call_id;
    call.created = call.last_signal = now_s_();
    call.created_ms = call.last_signal_ms = now_ms_();
    it = calls_.emplace(o.call_id, std::move(call)).first;
    ++counters_.calls_created;
    if (config_.final_timeout_s > 0) {
      final_due_.emplace(it->second.created + config_.final_timeout_s, o.call_id);
    }
  }
  NgCall& call = it->second;
  Target target = answer ? FindAnswerTarget(call, o) : FindOfferTarget(call, o);
  if (target.branch == nullptr && answer) return NgErrorReply("Unknown from-tag");
  const bool new_branch = target.branch == nullptr;
  if (new_branch) {
    NgBranch branch;
    branch.serial = call.next_serial++;
    branch.via_branch = o.via_branch;
    branch.tag_a = o.from_tag;
    branch.tag_b = o.to_tag;
    branch.created_a = now_s_();
    call.branches.push_back(std::move(branch));
    target = {&call.branches.back(), true};
  }
  NgBranch& branch = *target.branch;
  (target.from_a ? branch.policy_a : branch.policy_b) = o.policy;
  if (!o.label.empty()) (target.from_a ? branch.label_a : branch.label_b) = o.label;
  std::string warning;
  absl::StatusOr<std::string> sdp = ApplySdp(call, branch, target.from_a, o, !answer, &warning);
  if (!sdp.ok()) {
    const bool out_of_ports = absl::IsResourceExhausted(sdp.status());
    // Nothing half-made stays behind.
    if (new_call) {
      EraseCall(o.call_id);
    } else if (new_branch) {
      call.branches.pop_back();
    }
    if (out_of_ports && new_call) return *RefuseNewCall(o, kOutOfPortsMessage);
    return NgErrorReply(out_of_ports ? kOutOfPortsMessage : sdp.status().message());
  }
  call.last_signal = now_s_();
  call.last_signal_ms = now_ms_();
  call.delete_at_ms = 0;  // a new offer or answer takes back a delayed delete
  BencodeValue reply = warning.empty() ? Ok() : OkWithWarning(warning);
  reply.Set("sdp", BencodeValue::String(*std::move(sdp)));
  return reply;
}

std::string NgCalls::PairLabel(const NgCall& call, const NgBranch& branch, size_t index) const {
  return absl::StrCat(kPairLabelPrefix, branch.serial, ":", index, ":", call.call_id);
}

absl::Status NgCalls::AllocateLine(NgCall& call, NgBranch& branch, bool from_a, size_t index,
                                   const NgLeg& sender, const NgOptions& o) {
  NgMedia media;
  NgLeg& s = from_a ? media.a : media.b;
  NgLeg& r = from_a ? media.b : media.a;
  s = sender;
  // The receiver's family: what it already uses in this branch, else asked.
  r.ipv6 = branch.media.empty() ? ReceiverIpv6(o, config_.interfaces, sender.ipv6)
                                : (from_a ? branch.media[0].b.ipv6 : branch.media[0].a.ipv6);
  if (o.ipv6) r.ipv6 = *o.ipv6;
  media.demux = o.rtcp_mux.demux && sender.rtcp_mux;
  // "direction": the sender's relay port on the interface facing it, the
  // receiver's on the one facing the receiver.
  absl::StatusOr<std::optional<IpAddress>> address_s =
      DirectionAddress(o, config_.interfaces, 0, s.ipv6);
  if (!address_s.ok()) return address_s.status();
  absl::StatusOr<std::optional<IpAddress>> address_r =
      DirectionAddress(o, config_.interfaces, 1, r.ipv6);
  if (!address_r.ok()) return address_r.status();
  LegSpec spec_s{s.ipv6, s.peer, o.policy, s.rtcp_mux, std::nullopt, *address_s};
  const LatchPolicy receiver_policy = from_a ? branch.policy_b : branch.policy_a;
  LegSpec spec_r{r.ipv6, std::nullopt, receiver_policy, false, std::nullopt, *address_r};
  if (o.ice == NgIce::kForce) {
    for (auto [leg, spec] : {std::pair{&s, &spec_s}, std::pair{&r, &spec_r}}) {
      absl::StatusOr<IceCredentialStrings> ice = NewIceCredentials();
      if (!ice.ok()) return ice.status();
      leg->ice_ufrag = spec->ice_ufrag = ice->ufrag;
      leg->ice_pwd = spec->ice_pwd = ice->pwd;
    }
  }
  absl::StatusOr<PairInfo> pair = link_.Allocate(from_a ? spec_s : spec_r,
                                                 from_a ? spec_r : spec_s,
                                                 PairLabel(call, branch, index));
  if (!pair.ok()) return pair.status();
  ++counters_.pairs_allocated;
  media.pair = pair->pair;
  media.a.stream = pair->a.stream;
  media.a.relay = pair->a.relay;
  media.a.rtcp_relay = pair->a.rtcp_relay;
  media.b.stream = pair->b.stream;
  media.b.relay = pair->b.relay;
  media.b.rtcp_relay = pair->b.rtcp_relay;
  branch.media.push_back(std::move(media));
  by_pair_[pair->pair] = call.call_id;
  return absl::OkStatus();
}

void NgCalls::DropLinesFrom(NgBranch& branch, size_t first) {
  for (size_t j = first; j < branch.media.size(); ++j) {
    if (link_.Delete(branch.media[j].pair).ok()) ++counters_.pairs_deleted;
    by_pair_.erase(branch.media[j].pair);
  }
  branch.media.resize(first);
}

absl::StatusOr<std::string> NgCalls::ApplySdp(NgCall& call, NgBranch& branch, bool from_a,
                                              const NgOptions& o, bool is_offer,
                                              std::string* warning) {
  absl::StatusOr<SdpSession> sdp = ParseSdp(*o.sdp);
  if (!sdp.ok()) return sdp.status();
  const size_t before = branch.media.size();
  SdpRewrite rewrite;
  bool ice_missing = false;
  for (size_t i = 0; i < sdp->media.size(); ++i) {
    const SdpMediaDescription& m = sdp->media[i];
    if (m.port == 0) {
      rewrite.media.push_back(std::nullopt);
      continue;
    }
    const NgLeg sender = SenderLeg(o, m);
    if (i >= branch.media.size()) {
      if (!is_offer) {
        rewrite.media.push_back(std::nullopt);  // an answer adds no streams
        continue;
      }
      absl::Status s = AllocateLine(call, branch, from_a, i, sender, o);
      if (!s.ok()) {
        DropLinesFrom(branch, before);  // this message's new lines go, earlier ones stay
        return s;
      }
    } else {
      NgLeg& leg = from_a ? branch.media[i].a : branch.media[i].b;
      // Hold keeps the latched peer: media resumes to the same place.
      if (sender.peer && sender.peer != leg.peer) {
        if (absl::Status s = link_.PostUpdate(leg.stream, sender.peer, o.policy); !s.ok()) {
          return s;
        }
        leg.peer = sender.peer;
      }
      leg.rtcp_mux = sender.rtcp_mux;
      leg.held = sender.held;
    }
    NgMedia& media = branch.media[i];
    media.type = m.media;
    media.protocol = o.transport_protocol.value_or(m.proto);
    const NgLeg& receiver = from_a ? media.b : media.a;
    rewrite.media.push_back(ReceiverRelay(o, is_offer, media, sender, receiver, m.rtcp_mux));
    if (o.ice == NgIce::kForce) (receiver.ice_ufrag.empty() ? ice_missing : rewrite.ice_lite) = true;
  }
  if (ice_missing) {
    *warning = "ICE=force: streams set up without it (by an offer without ICE=force) keep no ICE";
  }
  NgSentSdp& sent = from_a ? branch.sent_to_b : branch.sent_to_a;
  rewrite.replace_origin_address = o.replace.origin;
  rewrite.session_connection = o.replace.session_connection
                                   ? SessionConnectionRewrite::kAlways
                                   : SessionConnectionRewrite::kWhenInherited;
  rewrite.replace_hold_address = o.replace.zero_address;
  rewrite.remove_ice = true;  // every mode: ICE=force then adds the relay as the one candidate
  rewrite.transport_protocol = o.transport_protocol;
  if (o.replace.username) {
    if (sent.username.empty()) sent.username = sdp->origin_username;
    rewrite.origin_username = sent.username;
  }
  if (o.replace.session_name) {
    if (sent.session_name.empty()) sent.session_name = "rtplatch";
    rewrite.session_name = sent.session_name;
  }
  rewrite.origin_version = sdp->version;
  if (o.replace.sdp_version && sent.version) rewrite.origin_version = *sent.version;
  absl::StatusOr<std::string> body = RewriteSdp(*o.sdp, rewrite);
  if (!body.ok()) return body.status();
  if (o.replace.sdp_version && sent.version &&
      (o.replace.force_increment_sdp_version || *body != sent.body)) {
    // The SDP towards this party changed: one version higher (RFC 3264 8).
    rewrite.origin_version = *sent.version + 1;
    body = RewriteSdp(*o.sdp, rewrite);
    if (!body.ok()) return body.status();
  }
  sent.version = rewrite.origin_version;
  if (o.replace.sdp_version) sent.body = *body;
  return body;
}

// ---------------------------------------------------------------------------
// delete

void NgCalls::DeleteBranchMedia(NgBranch& branch) {
  for (const NgMedia& m : branch.media) {
    if (deleted_.erase(m.pair) > 0) continue;
    if (link_.PostDelete(m.pair).ok()) {
      ++counters_.pairs_deleted;
    } else {
      // The dataplane's idle event for a pair nobody owns frees it later.
      ++counters_.pair_delete_failures;
    }
    by_pair_.erase(m.pair);
  }
  branch.media.clear();
}

NgPairStates NgCalls::DeletePairsReporting(const std::vector<const NgBranch*>& scope) {
  NgPairStates states;
  for (const NgBranch* b : scope) {
    for (const NgMedia& m : b->media) {
      absl::StatusOr<nlohmann::json> final_state = link_.DeleteReporting(m.pair);
      if (final_state.ok()) {
        ++counters_.pairs_deleted;
        states[m.pair] = *std::move(final_state);
      } else {
        ++counters_.pair_delete_failures;
      }
      // Not deleted again by DeleteBranchMedia: already gone, or the idle
      // event for an ownerless pair frees it.
      deleted_.insert(m.pair);
      by_pair_.erase(m.pair);
    }
  }
  return states;
}

void NgCalls::EraseCall(const std::string& call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  for (NgBranch& b : it->second.branches) DeleteBranchMedia(b);
  calls_.erase(it);
  ++counters_.calls_deleted;
}

BencodeValue NgCalls::Delete(const NgOptions& o) {
  ++counters_.deletes;
  if (o.call_id.empty()) return NgErrorReply("No call-id in message");
  auto unknown = [&](absl::string_view what) {
    return o.fatal ? NgErrorReply(what) : OkWithWarning(what);
  };
  auto it = calls_.find(o.call_id);
  if (it == calls_.end()) return unknown("Unknown call-id");
  NgCall& call = it->second;
  std::vector<NgBranch*> known;
  for (NgBranch& b : call.branches) {
    if (o.from_tag.empty() || b.tag_a == o.from_tag || b.tag_b == o.from_tag) known.push_back(&b);
  }
  if (known.empty()) return unknown("Unknown from-tag");
  // One branch only: a failed fork (its via-branch) or, with the "to-tag"
  // flag, one dialogue; otherwise the whole call.
  NgBranch* only = nullptr;
  if (call.branches.size() > 1) {
    for (NgBranch* b : known) {
      if ((!o.via_branch.empty() && b->via_branch == o.via_branch && b->tag_b.empty()) ||
          (o.to_tag_flag && !o.to_tag.empty() &&
           (b->tag_a == o.to_tag || b->tag_b == o.to_tag))) {
        only = b;
        break;
      }
    }
  }
  std::vector<const NgBranch*> scope;
  if (only != nullptr) {
    scope.push_back(only);
  } else {
    for (const NgBranch& b : call.branches) scope.push_back(&b);
  }
  const int64_t delay_s = o.delete_delay_s.value_or(config_.delete_delay_s);
  const bool at_once = only != nullptr || delay_s == 0;
  // Deleted now, the pairs report their final counters with the delete.
  NgPairStates states = at_once && !o.fast ? DeletePairsReporting(scope)
                        : o.fast           ? NgPairStates()
                                           : QueryNgPairs(scope, link_);
  BencodeValue reply = o.fast ? Ok() : NgCallReport(call, scope, states, now_s_());
  if (only != nullptr) {
    DeleteBranchMedia(*only);
    const uint64_t serial = only->serial;
    std::erase_if(call.branches, [serial](const NgBranch& b) { return b.serial == serial; });
  } else if (!at_once) {
    call.delete_at_ms = now_ms_() + delay_s * 1000;
    timed_.insert(o.call_id);
  } else {
    EraseCall(o.call_id);
  }
  return reply;
}

// ---------------------------------------------------------------------------
// query, list, statistics

BencodeValue NgCalls::Query(const NgOptions& o) {
  ++counters_.queries;
  if (o.call_id.empty()) return NgErrorReply("No call-id in message");
  auto it = calls_.find(o.call_id);
  if (it == calls_.end()) return NgErrorReply("Unknown call-id");
  std::vector<const NgBranch*> scope;
  for (const NgBranch& b : it->second.branches) {
    const bool tags_match =
        (o.from_tag.empty() || b.tag_a == o.from_tag || b.tag_b == o.from_tag) &&
        (o.to_tag.empty() || b.tag_a == o.to_tag || b.tag_b == o.to_tag);
    if (tags_match) scope.push_back(&b);
  }
  if (scope.empty()) return NgErrorReply("Unknown from-tag");
  return NgCallReport(it->second, scope, QueryNgPairs(scope, link_), now_s_());
}

BencodeValue NgCalls::List(const NgOptions& o) const {
  BencodeValue reply = Ok();
  BencodeValue ids = BencodeValue::List();
  for (const auto& [id, call] : calls_) {
    if (static_cast<int64_t>(ids.list().size()) >= o.limit) break;
    ids.list().push_back(Str(id));
  }
  reply.Set("calls", std::move(ids));
  return reply;
}

BencodeValue NgCalls::Statistics() const {
  BencodeValue current = BencodeValue::Dictionary();
  current.Set("sessionsown", Int(static_cast<int64_t>(calls_.size())));
  current.Set("sessionsforeign", Int(0));
  current.Set("sessionstotal", Int(static_cast<int64_t>(calls_.size())));
  current.Set("transcodedmedia", Int(0));
  BencodeValue totals = BencodeValue::Dictionary();
  totals.Set("managedsessions", Int(static_cast<int64_t>(counters_.calls_created)));
  totals.Set("timeoutsessions", Int(static_cast<int64_t>(counters_.calls_timed_out)));
  totals.Set("finaltimeoutsessions", Int(static_cast<int64_t>(counters_.calls_final_timeout)));
  totals.Set("rejectedsessions", Int(static_cast<int64_t>(counters_.load_limited)));
  totals.Set("offers", Int(static_cast<int64_t>(counters_.offers)));
  totals.Set("answers", Int(static_cast<int64_t>(counters_.answers)));
  totals.Set("deletes", Int(static_cast<int64_t>(counters_.deletes)));
  BencodeValue statistics = BencodeValue::Dictionary();
  statistics.Set("currentstatistics", std::move(current));
  statistics.Set("totalstatistics", std::move(totals));
  BencodeValue reply = Ok();
  reply.Set("statistics", std::move(statistics));
  return reply;
}

// ---------------------------------------------------------------------------
// timers, events, reconnection

bool NgCalls::OnDataplaneEvent(const DataplaneEvent& event) {
  auto it = by_pair_.find(event.pair);
  if (it == by_pair_.end()) return false;
  if (event.event != "idle") return true;
  auto call = calls_.find(it->second);
  if (call != calls_.end() && call->second.idle_check_ms == 0) {
    call->second.idle_check_ms = now_ms_();
    timed_.insert(it->second);
  }
  return true;
}

void NgCalls::Tick() {
  const int64_t now_ms = now_ms_();
  const int64_t now_s = now_s_();
  // Only the calls with a timer: a delayed delete or a silence check.
  std::vector<std::string> due;
  for (const std::string& id : timed_) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    const NgCall& c = it->second;
    if ((c.delete_at_ms != 0 && c.delete_at_ms <= now_ms) ||
        (c.idle_check_ms != 0 && c.idle_check_ms <= now_ms)) {
      due.push_back(id);
    }
  }
  for (const std::string& id : due) {
    NgCall& call = calls_.at(id);
    if (call.delete_at_ms != 0 && call.delete_at_ms <= now_ms) {
      EraseCall(id);
      continue;
    }
    CheckIdle(call, now_ms);
    if (call.idle_check_ms < 0) {
      ++counters_.calls_timed_out;
      EraseCall(id);
    }
  }
  absl::erase_if(timed_, [this](const std::string& id) {
    auto it = calls_.find(id);
    return it == calls_.end() || (it->second.delete_at_ms == 0 && it->second.idle_check_ms == 0);
  });
  // final-timeout: a heap by deadline; an entry whose call was ended (or
  // made again under the same Call-ID later) no longer matches it.
  while (!final_due_.empty() && final_due_.top().first <= now_s) {
    const std::string id = final_due_.top().second;
    const int64_t deadline = final_due_.top().first;
    final_due_.pop();
    auto it = calls_.find(id);
    if (it != calls_.end() && it->second.created + config_.final_timeout_s == deadline) {
      ++counters_.calls_final_timeout;
      EraseCall(id);
    }
  }
}

// Ends the call (marks idle_check_ms < 0) when every stream has been silent
// for the timeout, else checks again when the quietest could reach it.
void NgCalls::CheckIdle(NgCall& call, int64_t now_ms) {
  bool held = false;
  bool answered = true;
  for (const NgBranch& b : call.branches) {
    answered = answered && !b.tag_b.empty();
    for (const NgMedia& m : b.media) held = held || m.a.held || m.b.held;
  }
  // A ringing call has no media yet: only the long timeout applies.
  const int64_t limit_ms = (held || !answered ? config_.silent_timeout_s : config_.timeout_s) * 1000;
  int64_t least_idle_ms = now_ms - call.last_signal_ms;
  for (const NgBranch& b : call.branches) {
    for (const NgMedia& m : b.media) {
      absl::StatusOr<nlohmann::json> pair = link_.QueryPair(m.pair);
      if (!pair.ok()) {
        call.idle_check_ms = now_ms + 1000;  // the dataplane is away: later
        return;
      }
      for (const char* side : {"a", "b"}) {
        const nlohmann::json& idle = (*pair)[side]["idle_ms"];
        const int64_t idle_ms =
            idle.is_number() ? idle.get<int64_t>() : now_ms - call.created_ms;
        least_idle_ms = std::min(least_idle_ms, idle_ms);
      }
    }
  }
  if (least_idle_ms >= limit_ms) {
    call.idle_check_ms = -1;
    return;
  }
  call.idle_check_ms = now_ms + std::max<int64_t>(limit_ms - least_idle_ms, 1000);
}

void NgCalls::OnDataplaneConnected() {
  PairRepush repush(link_, kPairLabelPrefix);
  // Pair ids restart in a restarted dataplane: forget every old id first.
  by_pair_.clear();
  for (auto& [id, call] : calls_) {
    for (NgBranch& branch : call.branches) {
      for (size_t i = 0; i < branch.media.size(); ++i) {
        NgMedia& m = branch.media[i];
        const LegSpec a{m.a.ipv6, m.a.peer, branch.policy_a, m.a.rtcp_mux, m.a.relay,
                        std::nullopt, m.a.ice_ufrag, m.a.ice_pwd};
        const LegSpec b{m.b.ipv6, m.b.peer, branch.policy_b, m.b.rtcp_mux, m.b.relay,
                        std::nullopt, m.b.ice_ufrag, m.b.ice_pwd};
        PairIds ids{m.pair, m.a.stream, m.b.stream};
        absl::StatusOr<bool> fresh = repush.Keep(ids, PairLabel(call, branch, i), a, b);
        if (!fresh.ok()) {
          ++counters_.repush_failures;
          continue;
        }
        m.pair = ids.pair;
        m.a.stream = ids.stream_a;
        m.b.stream = ids.stream_b;
        if (*fresh) ++counters_.pairs_repushed;
        by_pair_[m.pair] = id;
      }
    }
  }
  for (uint64_t pair : repush.Strangers()) {
    if (link_.Delete(pair).ok()) ++counters_.pairs_deleted;
  }
}

nlohmann::json NgCalls::StatsJson() const {
  const NgCallsCounters& c = counters_;
  return {{"calls", calls_.size()},          {"draining", draining_},
          {"offers", c.offers},              {"answers", c.answers},
          {"deletes", c.deletes},            {"queries", c.queries},
          {"calls_created", c.calls_created}, {"calls_deleted", c.calls_deleted},
          {"calls_timed_out", c.calls_timed_out},
          {"calls_final_timeout", c.calls_final_timeout},
          {"load_limited", c.load_limited},  {"pairs_allocated", c.pairs_allocated},
          {"pairs_deleted", c.pairs_deleted},
          {"pair_delete_failures", c.pair_delete_failures},
          {"pairs_repushed", c.pairs_repushed}, {"repush_failures", c.repush_failures},
          {"errors", c.errors}};
}

}  // namespace rtplatch
