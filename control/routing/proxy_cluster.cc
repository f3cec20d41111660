// The proxy in a cluster (docs/cluster.md): requests to another node's
// phones through that node, new calls handed to another node while this
// one is busy, and the shared calls (which calls are on a VIP, their
// records out to the replica when they change, and the calls of a VIP
// taken over carried on from their records).
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logger.h"
#include "control/media/call_record.h"
#include "control/routing/proxy.h"

namespace rtplatch {

absl::StatusOr<CallSide> Proxy::ClusterSideOf(const Binding& b, const std::string& aor,
                                              bool own_only) const {
  if (node_router_ == nullptr) return SideOf(b, aor);
  NodeRouter::BindingRoute route = node_router_->RouteTo(b);
  switch (route.kind) {
    case NodeRouter::BindingRoute::Kind::kHere:
      return SideOf(b, aor);
    case NodeRouter::BindingRoute::Kind::kUnreachable:
      return absl::UnavailableError(route.why);
    case NodeRouter::BindingRoute::Kind::kViaNode:
      break;
  }
  // A node forwards only to its own phones: no request goes round.
  if (own_only) return absl::UnavailableError(absl::StrCat("registered to node ", b.node));
  return NodeSide(route.node_sip, aor);
}

CallSide Proxy::NodeSide(const Endpoint& node, const std::string& aor) const {
  CallSide side;
  side.aor = aor;
  // The node looks the AOR up among its own bindings.
  side.contact = absl::StrCat("sip:", aor);
  // Our first socket of the family: the node's own address, which it holds
  // whatever VIPs come and go.
  side.route = SipRoute{node, SipTransportKind::kUdp,
                        channels_.udp_socket_for(Endpoint{node.ip, 0}).value_or(0)};
  // The phone behind the node may be behind any NAT.
  side.policy = policies_.Select("").latch_natted;
  side.media_ipv6 = !node.ip.is_v4();
  side.node = true;
  return side;
}

nlohmann::json Proxy::ClusterCountersJson() const {
  const ProxyCounters& c = counters_;
  return {{"call_records_written", c.call_records_written},
          {"calls_adopted", c.calls_adopted},
          {"call_records_bad", c.call_records_bad},
          {"calls_given_up", c.calls_given_up},
          {"calls_not_adopted", c.calls_not_adopted},
          {"calls_spliced", c.calls_spliced},
          {"via_node", c.via_node},
          {"calls_handed_off", c.calls_handed_off},
          {"calls_spiralled", c.calls_spiralled},
          {"from_nodes", c.from_nodes}};
}

std::optional<Endpoint> Proxy::LocalOf(const SipRoute& route) const {
  if (!channels_.local_of) return std::nullopt;
  return channels_.local_of(route.channel);
}

std::optional<Endpoint> Proxy::SharedLocalOf(const SipRoute& route) const {
  if (config_.shared_addresses.empty()) return std::nullopt;
  std::optional<Endpoint> local = LocalOf(route);
  if (!local) return std::nullopt;
  const auto& vips = config_.shared_addresses;
  if (std::find(vips.begin(), vips.end(), local->ip) == vips.end()) return std::nullopt;
  return local;
}

IpAddress Proxy::CallVip(const Call& call) const {
  for (const CallSide* side : {&call.caller, &call.callee}) {
    if (std::optional<Endpoint> local = SharedLocalOf(side->route)) return local->ip;
  }
  return IpAddress();
}

std::optional<IpAddress> Proxy::LegAddress(const Call& call, bool ipv6) const {
  if (call.vip.is_unspecified() || call.vip.is_v4() == ipv6) return std::nullopt;
  return call.vip;
}

void Proxy::MarkShared(const Call& call) {
  if (replica_ != nullptr && !call.vip.is_unspecified()) calls_changed_.insert(call.Key());
}

void Proxy::ShareChangedCalls() {
  if (calls_changed_.empty()) return;
  for (const std::string& id : calls_changed_) {
    const Call* call = calls_.Find(id);
    if (call == nullptr || replica_ == nullptr) continue;
    const CallRecordLocals locals{LocalOf(call->caller.route).value_or(Endpoint{}),
                                  LocalOf(call->callee.route).value_or(Endpoint{})};
    replica_->Put(call->vip, id, EncodeCallRecord(*call, locals));
    ++counters_.call_records_written;
  }
  calls_changed_.clear();
}

void Proxy::RecordLatch(const DataplaneEvent& e) {
  Call* call = calls_.FindByPair(e.pair);
  if (call == nullptr) return;
  absl::StatusOr<Endpoint> peer = Endpoint::Parse(e.peer);
  if (!peer.ok()) return;
  for (MediaLine& line : call->media) {
    if (line.pair != e.pair) continue;
    if (e.stream == line.stream_a) line.latched_a = *peer;
    if (e.stream == line.stream_b) line.latched_b = *peer;
  }
  MarkShared(*call);
}

void Proxy::QueueAdoptedCalls(const IpAddress& vip, std::vector<std::string> records) {
  for (std::string& r : records) calls_to_adopt_.emplace_back(vip, std::move(r));
}

bool Proxy::AdoptCallsSlice(size_t budget) {
  for (; budget > 0 && !calls_to_adopt_.empty(); --budget) {
    auto [vip, record] = std::move(calls_to_adopt_.front());
    calls_to_adopt_.pop_front();
    AdoptCall(vip, record);
  }
  return !calls_to_adopt_.empty();
}

void Proxy::ResolveRoute(CallSide& side, const Endpoint& local) const {
  std::optional<SipChannelId> channel;
  if (IsStream(side.route.transport)) {
    // The phone's connection ended with the node that had it; it is
    // reached again once it connects here.
    channel = channels_.tcp_connection_to(side.route.dest);
  } else {
    channel = channels_.udp_socket_for(local.is_set() ? local : Endpoint{side.route.dest.ip, 0});
  }
  side.route.channel = channel.value_or(0);
}

void Proxy::AdoptCall(const IpAddress& vip, absl::string_view record) {
  absl::StatusOr<DecodedCallRecord> decoded = DecodeCallRecord(record);
  if (!decoded.ok()) {
    ++counters_.call_records_bad;
    RTPLATCH_LOG(Error, "cluster: a call of %s: %s", vip.ToString().c_str(),
                 std::string(decoded.status().message()).c_str());
    return;
  }
  Call& call = decoded->call;
  Call* here = calls_.Find(call.Key());
  // A spiral's second pass meets the leg this node carried between the
  // dead node's two passes (from it, back to it) under the plain key.
  if (here == nullptr && call.spiral) {
    Call* middle = calls_.Find(CallKey(call.call_id, false));
    if (middle != nullptr && middle->caller.node && middle->callee.node) here = middle;
  }
  if (here != nullptr) {
    // A call between the dead node and this one: its leg here takes the
    // dead node's phone (and media) over. Else the call was this node's
    // before (it gave the VIP up and took it back before the record
    // changed): the one in memory is the newer.
    if (SpliceDeadLeg(*here, call, vip, decoded->locals)) {
      ++counters_.calls_spliced;
    } else {
      ++counters_.calls_not_adopted;
    }
    return;
  }
  // A call still ringing: its INVITE transaction died with the node, and
  // nothing would end it here. The caller's INVITE fails; its record goes.
  if (call.state != Call::State::kConfirmed) {
    ++counters_.calls_not_adopted;
    if (replica_ != nullptr) replica_->Remove(vip, call.Key());
    return;
  }
  call.vip = vip;
  ResolveRoute(call.caller, decoded->locals.caller);
  ResolveRoute(call.callee, decoded->locals.callee);
  RepushMedia(call);
  if (calls_.Insert(std::move(call)) != nullptr) ++counters_.calls_adopted;
}

bool Proxy::SpliceDeadLeg(Call& here, Call& dead, const IpAddress& vip,
                          const CallRecordLocals& locals) {
  // Our leg's side facing the dead node is the dead leg's other side: the
  // phone on the VIP we now hold.
  if (dead.state != Call::State::kConfirmed) return false;
  CallSide* ours = nullptr;
  const CallSide* theirs = nullptr;
  const Endpoint* local = nullptr;
  if (here.caller.node && dead.callee.node) {
    ours = &here.caller;
    theirs = &dead.caller;
    local = &locals.caller;
  } else if (here.callee.node && dead.caller.node) {
    ours = &here.callee;
    theirs = &dead.callee;
    local = &locals.callee;
  } else {
    return false;
  }
  *ours = *theirs;
  ResolveRoute(*ours, *local);
  // Shared under the VIP it now has a phone on, unless it has one already.
  if (here.vip.is_unspecified()) here.vip = vip;
  // The media was relayed once, by one of the two nodes: if by the dead
  // one, here at its ports from now on (its legs face the same phones).
  if (here.media_elsewhere && !dead.media.empty()) {
    here.media = std::move(dead.media);
    here.media_elsewhere = false;
    here.anchored = true;
    RepushMedia(here);
    calls_.IndexPairs(here);
  }
  // A second pass's record is kept under the leg's own key from now on.
  if (replica_ != nullptr && dead.Key() != here.Key()) replica_->Remove(vip, dead.Key());
  MarkShared(here);
  return true;
}

void Proxy::RepushMedia(Call& call) {
  for (size_t i = 0; i < call.media.size(); ++i) {
    MediaLine& line = call.media[i];
    // The phones keep sending where their SDP said: the same relay ports.
    // Media goes to where each leg was latched until a packet says otherwise.
    LegSpec a{call.caller.media_ipv6, line.latched_a ? line.latched_a : line.peer_a,
              call.caller.policy, line.rtcp_mux_a, line.relay_a};
    LegSpec b{call.callee.media_ipv6, line.latched_b ? line.latched_b : line.peer_b,
              call.callee.policy, line.rtcp_mux_b, line.relay_b};
    absl::StatusOr<PairInfo> pair = link_.Allocate(a, b, call.PairLabel(i));
    if (!pair.ok()) {
      ++counters_.repush_failures;
      continue;
    }
    ++counters_.pairs_repushed;
    line.pair = pair->pair;
    line.stream_a = pair->a.stream;
    line.stream_b = pair->b.stream;
  }
}

void Proxy::GiveUpCalls(const IpAddress& vip) {
  std::vector<std::string> ids;
  calls_.ForEach([&](const Call& call) {
    if (call.vip == vip) ids.push_back(call.Key());
  });
  for (const std::string& id : ids) {
    Call* call = calls_.Find(id);
    DeleteMedia(*call);
    invite_servers_.erase(call->server_invite);
    peer_branches_.erase(id);
    forks_.erase(id);
    calls_.Erase(id);
    calls_changed_.erase(id);
    ++counters_.calls_given_up;
  }
  calls_to_adopt_.erase(std::remove_if(calls_to_adopt_.begin(), calls_to_adopt_.end(),
                                       [&](const auto& r) { return r.first == vip; }),
                        calls_to_adopt_.end());
}

}  // namespace rtplatch
