#include "control/routing/proxy.h"

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/logger.h"
#include "control/guard/raw_response.h"
#include "control/guard/raw_sip_head.h"
#include "control/media/pair_repush.h"
#include "control/nat/nat_detector.h"
#include "control/routing/raw_challenge.h"
#include "control/sdp/sdp.h"
#include "control/sip/sip_response.h"
#include "control/sip/sip_uri.h"

namespace rtplatch {
namespace {

// The Warning of the 403 that ends a password guesser's run (it is banned
// from now on); the same whichever limit it reached.
constexpr absl::string_view kGuardRefusal = "too many failed authentications";

// Option tags (RFC 3261 19.2) the proxy and registrar understand: the
// Supported of our OPTIONS answer.
constexpr absl::string_view kUnderstoodOptionTags[] = {"path", "outbound"};

// Our OPTIONS answer's Supported: the tags above.
const std::string& SupportedHeader() {
  static const std::string kHeader =
      absl::StrCat("Supported: ", absl::StrJoin(kUnderstoodOptionTags, ", "));
  return kHeader;
}

// The option tags in `values` (comma lists, as Require and Proxy-Require
// carry them) that we do not understand, each once, in order.
std::vector<std::string> UnknownOptionTags(const std::vector<std::string>& values) {
  std::vector<std::string> unknown;
  for (const std::string& v : values) {
    for (absl::string_view tag : absl::StrSplit(v, ',')) {
      tag = absl::StripAsciiWhitespace(tag);
      if (tag.empty()) continue;
      const bool understood =
          std::any_of(std::begin(kUnderstoodOptionTags), std::end(kUnderstoodOptionTags),
                      [tag](absl::string_view k) { return absl::EqualsIgnoreCase(tag, k); });
      if (!understood && std::find(unknown.begin(), unknown.end(), tag) == unknown.end()) {
        unknown.emplace_back(tag);
      }
    }
  }
  return unknown;
}

// The Proxy's own key when the config brings none (unit tests; the
// control plane always brings one and does not start without it).
FlowTokens RandomFlowTokens() {
  absl::StatusOr<FlowTokens> t = FlowTokens::WithRandomKey();
  return t.ok() ? *std::move(t) : FlowTokens(FlowTokens::Key{});
}

std::string HostForUri(const IpAddress& ip) {
  return ip.is_v4() ? ip.ToString() : absl::StrCat("[", ip.ToString(), "]");
}

// The transports this proxy speaks; WS, WSS and SCTP are refused by name
// rather than tried over UDP.
absl::StatusOr<SipTransportKind> KindOf(Binding::Transport t) {
  switch (t) {
    case Binding::Transport::kUdp: return SipTransportKind::kUdp;
    case Binding::Transport::kTcp: return SipTransportKind::kTcp;
    case Binding::Transport::kTls: return SipTransportKind::kTls;
    default: break;
  }
  return absl::UnimplementedError(
      absl::StrCat("transport ", TransportName(t), " is not supported"));
}

std::optional<SipRoute> OptionalRoute(absl::StatusOr<SipRoute> route) {
  if (!route.ok()) return std::nullopt;
  return *std::move(route);
}

std::optional<Endpoint> SdpPeer(const SdpMediaDescription& m) {
  if (!m.connection || m.connection_is_hold || m.port == 0) return std::nullopt;
  return Endpoint{*m.connection, m.port};
}

// Where the relay may send a phone's media before the phone has sent any:
// its SDP address, except for a NAT'd phone whose leg latches (learn).
// There the SDP address is the phone's private view, or a NAT mapping that
// does not exist until the phone sends, so the dataplane is given no peer
// and holds the partner's first packets until this phone speaks
// (dataplane/fastpath/held_packets.h) instead of sending them into the void.
std::optional<Endpoint> SendablePeer(const CallSide& side, const SdpMediaDescription& m) {
  if (side.natted && side.policy == LatchPolicy::kLearn) return std::nullopt;
  return SdpPeer(m);
}

std::string HeaderValue(const SipMessage& m, bool from) {
  const osip_message& o = m.osip();
  auto s = from ? OsipToString(osip_from_to_str, o.from) : OsipToString(osip_to_to_str, o.to);
  return s.value_or("");
}

}  // namespace

Proxy::Proxy(ProxyConfig config, Registrar& registrar, DataplaneLink& link,
             KeepaliveSync& keepalives, const InsidePrefixes& inside,
             const NatPolicyTable& policies, SipTransactions& transactions,
             Channels channels, std::function<int64_t()> now, std::function<int64_t()> now_ms)
    : config_(std::move(config)),
      flow_tokens_(config_.flow_tokens ? *config_.flow_tokens : RandomFlowTokens()),
      registrar_(registrar),
      link_(link),
      keepalives_(keepalives),
      inside_(inside),
      policies_(policies),
      txns_(transactions),
      channels_(std::move(channels)),
      now_(std::move(now)),
      now_ms_(std::move(now_ms)),
      learner_({.floor_ms = registrar.config().keepalive_min_interval_ms}, registrar, keepalives,
               [this](const Binding& b, uint64_t id) { return SendProbe(b, id); }) {
  // Bindings still learning when the previous process stopped start over.
  learner_.Resume(registrar_.Learning(now_()), NowMs());
}

void Proxy::OnTraffic(const Endpoint& source) { learner_.HeardFrom(source, NowMs()); }

// ---------------------------------------------------------------------------
// Helpers

void Proxy::RespondLocal(SipTxnId txn, int code, absl::string_view reason,
                         std::vector<std::string> headers) {
  const SipMessage* request = txns_.ServerRequest(txn);
  if (request == nullptr || txns_.HasFinalResponse(txn)) return;
  auto text = BuildResponse(*request, code, reason, config_.server_header, headers);
  if (!text.ok()) return;
  auto response = SipMessage::Parse(*text);
  if (!response.ok()) return;
  (void)txns_.Respond(txn, *std::move(response));
}

bool Proxy::IsLocalHost(absl::string_view host, uint16_t port) const {
  auto ip = IpAddress::Parse(host);
  if (!ip.ok()) return false;
  const bool address = std::find(config_.local_addresses.begin(), config_.local_addresses.end(),
                                 *ip) != config_.local_addresses.end() ||
                       (config_.advertised_v4 && config_.advertised_v4->ip == *ip) ||
                       (config_.advertised_v6 && config_.advertised_v6->ip == *ip);
  const bool our_port = std::find(config_.local_ports.begin(), config_.local_ports.end(), port) !=
                        config_.local_ports.end();
  return address && our_port;
}

bool Proxy::IsOurDomain(absl::string_view host) const {
  return absl::EqualsIgnoreCase(host, config_.domain);
}

std::optional<Endpoint> Proxy::Advertised(bool ipv6, SipTransportKind transport) const {
  if (transport == SipTransportKind::kTls) {
    return ipv6 ? config_.advertised_tls_v6 : config_.advertised_tls_v4;
  }
  return ipv6 ? config_.advertised_v6 : config_.advertised_v4;
}

absl::Status Proxy::PrepareForward(SipMessage& fwd, const SipRoute& out,
                                   SipTransportKind in_transport, bool in_ipv6,
                                   const RecordRouteFlows* record_route, std::string branch) {
  const bool out_ipv6 = !out.dest.ip.is_v4();
  // A VIP's socket: the VIP, whichever node holds it when the phone comes back.
  std::optional<Endpoint> us = SharedLocalOf(out);
  if (!us) us = Advertised(out_ipv6, out.transport);
  if (!us) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no local ", SipTransportName(out.transport), " address of the destination's family"));
  }
  if (record_route != nullptr) {
    // RFC 5658 double Record-Route when the two sides reach us over
    // different transports or families: each phone gets an entry it can
    // use; and when both are on outbound flows: each entry its token.
    const std::string spiral = record_route->spiral ? absl::StrCat(";", kSpiralParam) : "";
    auto rr = [&spiral](const Endpoint& ep, SipTransportKind t, absl::string_view token) {
      const char* param = t == SipTransportKind::kTcp   ? ";transport=tcp"
                          : t == SipTransportKind::kTls ? ";transport=tls"
                                                        : "";
      return absl::StrCat("<sip:", token, token.empty() ? "" : "@", HostForUri(ep.ip), ":",
                          ep.port, param, ";lr", spiral, ">");
    };
    const bool two_flows = !record_route->in.empty() && !record_route->out.empty();
    const std::optional<Endpoint>& in_vip = record_route->in_vip;
    if (in_transport != out.transport || in_ipv6 != out_ipv6 || two_flows ||
        (in_vip && *in_vip != *us)) {
      std::optional<Endpoint> in_us = in_vip ? in_vip : Advertised(in_ipv6, in_transport);
      if (in_us) {
        if (absl::Status s = fwd.PushRecordRoute(rr(*in_us, in_transport, record_route->in));
            !s.ok()) {
          return s;
        }
      }
      if (absl::Status s = fwd.PushRecordRoute(rr(*us, out.transport, record_route->out));
          !s.ok()) {
        return s;
      }
    } else {
      const std::string& token = record_route->in.empty() ? record_route->out : record_route->in;
      if (absl::Status s = fwd.PushRecordRoute(rr(*us, out.transport, token)); !s.ok()) return s;
    }
  }
  return fwd.PushVia(absl::StrCat("SIP/2.0/", SipTransportName(out.transport), " ",
                                  HostForUri(us->ip), ":", us->port, ";branch=", branch,
                                  ";rport"));
}

std::vector<std::string> Proxy::PopOwnRoutes(SipMessage& request) const {
  std::vector<std::string> users;
  for (int guard = 0; guard < 4; ++guard) {
    std::optional<SipContact> top = request.top_route();
    if (!top || !IsOwnRoute(*top)) break;
    if (!top->user.empty()) users.push_back(top->user);
    request.PopRoute();
  }
  return users;
}

bool Proxy::IsOwnRoute(const SipContact& route) const {
  if (!IsLocalHost(route.host, route.port)) return false;
  if (node_router_ == nullptr) return true;
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(route.host);
  return !ip.ok() || !node_router_->VipHeldElsewhere(*ip);
}

std::string Proxy::FlowTokenOf(const SipInbound& in) const {
  return flow_tokens_.Encode(SipFlow{in.transport, in.source, in.local});
}

absl::StatusOr<SipRoute> Proxy::InDialogRoute(const CallSide& sender, const CallSide& target,
                                              SipMessage& fwd, const SipInbound& in) {
  for (const std::string& user : PopOwnRoutes(fwd)) {
    std::optional<SipFlow> flow = flow_tokens_.Decode(user);
    if (!flow) {
      ++counters_.flow_token_refused;
      return absl::PermissionDeniedError("not our flow token");
    }
    // Our entry facing the sender (also when it came back on a new
    // connection): not where the request goes.
    if (user == sender.flow_token ||
        (flow->transport == in.transport && flow->remote == in.source)) {
      continue;
    }
    std::optional<SipChannelId> channel = IsStream(flow->transport)
                                              ? channels_.tcp_connection_to(flow->remote)
                                              : channels_.udp_socket_for(flow->local);
    if (!channel) {
      ++counters_.flow_failed;
      return absl::UnavailableError("the flow is gone");
    }
    ++counters_.flow_token_routed;
    return SipRoute{flow->remote, flow->transport, *channel};
  }
  std::optional<SipRoute> out = RouteToSide(target, fwd);
  if (!out) return absl::NotFoundError("no route to the other side");
  return *out;
}

absl::StatusOr<SipRoute> Proxy::RouteToSource(const Binding& b) const {
  absl::StatusOr<SipTransportKind> kind = KindOf(b.transport);
  if (!kind.ok()) return kind.status();
  std::optional<SipChannelId> channel = IsStream(*kind)
                                            ? channels_.tcp_connection_to(b.source)
                                            : channels_.udp_socket_for(b.local_socket);
  if (!channel) {
    return absl::UnavailableError(IsStream(*kind)
                                      ? absl::StrCat("its ", SipTransportName(*kind),
                                                     " connection is gone")
                                      : "no UDP socket for the address it registered on");
  }
  return SipRoute{b.source, *kind, *channel};
}

absl::StatusOr<SipRoute> Proxy::RouteToBinding(const Binding& b) const {
  if (b.behind_nat || b.transport != Binding::Transport::kUdp) {
    // Design rule 3: a NAT'd phone is reached where it registered from,
    // over the socket (or connection) it used.
    return RouteToSource(b);
  }
  // Not NAT'd: its Contact as given (it may legitimately differ from the
  // source, e.g. a phone registering for another box).
  std::optional<UriParts> contact = ParseUri(b.contact_uri);
  if (!contact) return absl::InvalidArgumentError("its Contact is not a SIP URI");
  return RouteToUri(*contact);
}

absl::StatusOr<SipRoute> Proxy::RouteToUri(const UriParts& uri) const {
  if (!uri.supported_transport()) {
    return absl::UnimplementedError(absl::StrCat("transport ", uri.transport, " is not supported"));
  }
  auto ip = IpAddress::Parse(uri.host);
  // No DNS here: phones register IP contacts.
  if (!ip.ok()) return absl::InvalidArgumentError(absl::StrCat(uri.host, " is not an address"));
  SipRoute r;
  r.dest = Endpoint{*ip, uri.port};
  if (uri.tcp() || uri.tls()) {
    r.transport = uri.tls() ? SipTransportKind::kTls : SipTransportKind::kTcp;
    auto conn = channels_.tcp_connection_to(r.dest);
    // We do not open connections to phones.
    if (!conn) {
      return absl::UnavailableError(
          absl::StrCat("no ", SipTransportName(r.transport), " connection with it"));
    }
    r.channel = *conn;
    return r;
  }
  std::optional<Endpoint> us = Advertised(!ip->is_v4(), SipTransportKind::kUdp);
  if (!us) return absl::FailedPreconditionError("no local address of its family");
  auto sock = channels_.udp_socket_for(*us);
  if (!sock) return absl::FailedPreconditionError("no UDP socket of its family");
  r.channel = *sock;
  return r;
}

std::optional<SipRoute> Proxy::RouteToSide(const CallSide& side, const SipMessage& fwd) const {
  // A node of the cluster is the dialog's next hop, whatever the URIs say.
  if (side.natted || side.node || IsStream(side.route.transport)) {
    SipRoute r = side.route;
    if (IsStream(r.transport)) {
      auto conn = channels_.tcp_connection_to(r.dest);
      if (!conn) return std::nullopt;
      r.channel = *conn;
    }
    return r;
  }
  // Loose routing (RFC 3261 16.12): the next Route, else the Request-URI.
  if (std::optional<SipContact> top = fwd.top_route()) {
    auto parts = ParseUri(top->uri);
    if (parts) return OptionalRoute(RouteToUri(*parts));
  }
  auto parts = PartsOf(fwd.osip().req_uri);
  if (!parts) return std::nullopt;
  return OptionalRoute(RouteToUri(*parts));
}

// ---------------------------------------------------------------------------
// Media

absl::Status Proxy::ApplySdp(Call& call, bool from_caller, const SipMessage& in,
                             SipMessage& out) {
  if (!call.anchored || !in.has_sdp_body()) return absl::OkStatus();
  absl::StatusOr<SdpSession> sdp = ParseSdp(in.body());
  if (!sdp.ok()) return sdp.status();
  CallSide& sender = from_caller ? call.caller : call.callee;
  const size_t before = call.media.size();
  SdpRewrite rewrite;
  rewrite.origin_version = sdp->version;  // ours changes exactly when theirs does
  for (size_t i = 0; i < sdp->media.size(); ++i) {
    const SdpMediaDescription& m = sdp->media[i];
    if (m.port == 0) {
      rewrite.media.push_back(std::nullopt);
      continue;
    }
    const std::optional<Endpoint> peer = SendablePeer(sender, m);
    if (i >= call.media.size()) {
      // A new m= line: a new pair. The sender's leg takes its SDP family.
      if (i == 0 || from_caller) sender.media_ipv6 = m.ipv6;
      LegSpec a{call.caller.media_ipv6, from_caller ? peer : std::nullopt, call.caller.policy,
                from_caller && m.rtcp_mux, std::nullopt};
      LegSpec b{call.callee.media_ipv6, from_caller ? std::nullopt : peer, call.callee.policy,
                !from_caller && m.rtcp_mux, std::nullopt};
      a.address = LegAddress(call, a.ipv6);
      b.address = LegAddress(call, b.ipv6);
      auto pair = link_.Allocate(a, b, call.PairLabel(i));
      if (!pair.ok()) {
        // Roll back this message's new lines; earlier ones stay with the call.
        for (size_t j = before; j < call.media.size(); ++j) {
          DeletePair(call.media[j].pair, /*wait=*/true);
          calls_.UnindexPair(call.media[j].pair);
        }
        call.media.resize(before);
        return pair.status();
      }
      ++counters_.pairs_allocated;
      MediaLine line;
      line.pair = pair->pair;
      line.stream_a = pair->a.stream;
      line.stream_b = pair->b.stream;
      line.relay_a = pair->a.relay;
      line.rtcp_a = pair->a.rtcp_relay;
      line.relay_b = pair->b.relay;
      line.rtcp_b = pair->b.rtcp_relay;
      (from_caller ? line.peer_a : line.peer_b) = peer;
      (from_caller ? line.rtcp_mux_a : line.rtcp_mux_b) = m.rtcp_mux;
      call.media.push_back(line);
      calls_.IndexPairs(call);
    } else {
      MediaLine& line = call.media[i];
      std::optional<Endpoint>& known = from_caller ? line.peer_a : line.peer_b;
      (from_caller ? line.rtcp_mux_a : line.rtcp_mux_b) = m.rtcp_mux;
      // Hold (c=0.0.0.0 or a=inactive) keeps the latched peer: the stream
      // stays and media resumes to the same place.
      if (peer && peer != known) {
        const uint64_t stream = from_caller ? line.stream_a : line.stream_b;
        if (absl::Status s = link_.PostUpdate(stream, peer, sender.policy); !s.ok()) return s;
        known = peer;
      }
    }
    // The other phone sends to its own leg's relay.
    const MediaLine& line = call.media[i];
    const Endpoint& relay = from_caller ? line.relay_b : line.relay_a;
    const Endpoint& rtcp = from_caller ? line.rtcp_b : line.rtcp_a;
    rewrite.media.push_back(RelayLeg{relay.ip, relay.port, m.rtcp_mux ? relay.port : rtcp.port});
  }
  absl::StatusOr<std::string> body = RewriteSdp(in.body(), rewrite);
  if (!body.ok()) return body.status();
  MarkShared(call);
  return out.SetBody(*body, "application/sdp");
}

void Proxy::DeleteMedia(Call& call) {
  for (const MediaLine& m : call.media) {
    DeletePair(m.pair, /*wait=*/false);
    calls_.UnindexPair(m.pair);
  }
  call.media.clear();
}

void Proxy::DeletePair(uint64_t pair, bool wait) {
  const absl::Status s = wait ? link_.Delete(pair) : link_.PostDelete(pair);
  if (s.ok()) {
    ++counters_.pairs_deleted;
    return;
  }
  // Counted, not fatal: the dataplane reports the pair idle once its
  // phones are silent, and an idle pair nobody owns is deleted then.
  ++counters_.pair_delete_failures;
}

void Proxy::EndCall(const std::string& key) {
  peer_branches_.erase(key);
  forks_.erase(key);
  Call* call = calls_.Find(key);
  if (call == nullptr) return;
  DeleteMedia(*call);
  invite_servers_.erase(call->server_invite);
  if (replica_ != nullptr && !call->vip.is_unspecified()) replica_->Remove(call->vip, key);
  calls_changed_.erase(key);
  calls_.Erase(key);
}

absl::StatusOr<SipMessage> Proxy::OwnRequest(absl::string_view start_line,
                                             absl::string_view headers) {
  // The parser wants a Via; the placeholder goes before SendOwnRequest adds
  // the real one for the route.
  auto m = SipMessage::Parse(absl::StrCat(start_line, "\r\nVia: SIP/2.0/UDP 0.0.0.0:1;branch=",
                                          "z9hG4bKown\r\n", headers,
                                          "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"));
  if (!m.ok()) return m.status();
  if (absl::Status s = m->PopVia(); !s.ok()) return s;
  return m;
}

absl::StatusOr<SipTxnId> Proxy::SendOwnRequest(SipMessage request, const SipRoute& route) {
  if (absl::Status s = PrepareForward(request, route, route.transport, !route.dest.ip.is_v4(),
                                      /*record_route=*/nullptr, txns_.NewBranch());
      !s.ok()) {
    return s;
  }
  return txns_.SendRequest(std::move(request), route);
}

void Proxy::SendBye(Call& call, bool to_caller) {
  CallSide& target = to_caller ? call.caller : call.callee;
  CallSide& other = to_caller ? call.callee : call.caller;
  const std::string callee_to = absl::StrCat(call.to_header, ";tag=", call.callee.tag);
  const std::string from = to_caller ? callee_to : call.from_header;
  const std::string to = to_caller ? call.from_header : callee_to;
  other.cseq += 1;
  auto bye = OwnRequest(absl::StrCat("BYE ", target.contact, " SIP/2.0"),
                        absl::StrCat("From: ", from, "\r\nTo: ", to, "\r\nCall-ID: ",
                                     call.call_id, "\r\nCSeq: ", other.cseq, " BYE\r\n",
                                     "Reason: SIP;cause=408;text=\"media timeout\"\r\n"));
  if (!bye.ok()) return;
  std::optional<SipRoute> route = RouteToSide(target, *bye);
  if (!route) return;
  auto sent = SendOwnRequest(*std::move(bye), *route);
  if (sent.ok()) clients_[*sent] = ClientContext{0, "", false, false, !to_caller};
}

// ---------------------------------------------------------------------------
// Requests

void Proxy::OnRequest(SipTxnId txn, SipMessage& request, const SipInbound& in) {
  ++counters_.requests;
  // RFC 3581 on every request, rport filled even if the phone did not ask:
  // every response goes back to the source address and port.
  (void)request.ApplyReceivedAndRport(in.source, /*force_rport=*/true);
  const std::string method = request.method();
  if (method != "ACK" && method != "CANCEL") {
    if (std::optional<SipReply> refused = CheckExtensions(request, method)) {
      return Respond(txn, *refused);
    }
  }
  if (method == "REGISTER") return HandleRegister(txn, request, in);
  if (method == "CANCEL") return HandleCancel(txn, request);
  if (!request.to().tag.empty()) return HandleInDialog(txn, request, in);
  HandleOutOfDialog(txn, request, in);
}

std::optional<SipReply> Proxy::CheckExtensions(const SipMessage& request,
                                               absl::string_view method) {
  std::vector<std::string> tags = request.header_values("Proxy-Require");
  // Require binds the UAS: here the registrar and the OPTIONS answered for
  // the server itself; a proxy forwards it untouched.
  auto target = PartsOf(request.osip().req_uri);
  const bool answered_here = method == "REGISTER" || (method == "OPTIONS" && target &&
                                                      target->user.empty() && IsUs(*target));
  if (answered_here) {
    for (std::string& tag : request.header_values("Require")) tags.push_back(std::move(tag));
  }
  const std::vector<std::string> unknown = UnknownOptionTags(tags);
  if (unknown.empty()) return std::nullopt;
  ++counters_.bad_extensions;
  return SipReply{420, "Bad Extension", {absl::StrCat("Unsupported: ", absl::StrJoin(unknown, ", "))}};
}

void Proxy::HandleRegister(SipTxnId txn, SipMessage& request, const SipInbound& in) {
  ++counters_.registers;
  auto parts = PartsOf(request.osip().req_uri);
  if (parts && !IsUs(*parts)) {
    return RespondLocal(txn, 403, "Forbidden",
                        {WarningHeader("this registrar serves only its own domain")});
  }
  const Binding::Transport transport = in.transport == SipTransportKind::kTcp
                                            ? Binding::Transport::kTcp
                                        : in.transport == SipTransportKind::kTls
                                            ? Binding::Transport::kTls
                                            : Binding::Transport::kUdp;
  RegisterResult r = registrar_.HandleRegister(request, in.source, transport, in.local, now_());
  if (GuardRefuses(r.auth_failed, in.source.ip, request.to().user)) {
    return RespondLocal(txn, 403, "Forbidden", {WarningHeader(kGuardRefusal)});
  }
  if (r.status_code == 401) ++counters_.auth_challenges;
  ApplyBindingChanges(r.changes);
  if (r.response.empty()) return RespondLocal(txn, r.status_code, r.reason, r.headers);
  (void)txns_.RespondRaw(txn, r.status_code, std::move(r.response));
}

std::optional<std::string> Proxy::RawChallenge(const SipInbound& in) {
  // Only a REGISTER is read further (this runs for every datagram).
  if (!registrar_.config().require_auth ||
      !absl::StartsWith(absl::StripLeadingAsciiWhitespace(in.bytes), "REGISTER ")) {
    return std::nullopt;
  }
  const std::optional<std::string> user =
      ChallengeableRegisterUser(SniffSipHead(in.bytes), registrar_.config().domain);
  if (!user) return std::nullopt;
  std::optional<std::string> response =
      RawStatelessResponse(in.bytes, in.source, 401, "Unauthorized", config_.server_header,
                           registrar_.ChallengeHeaders("WWW-Authenticate", *user, false, now_()));
  if (!response) return std::nullopt;
  ++counters_.requests;
  ++counters_.registers;
  ++counters_.auth_challenges;
  ++counters_.raw_challenges;
  return response;
}

void Proxy::HandleCancel(SipTxnId txn, SipMessage& request) {
  std::optional<SipTxnId> invite = txns_.FindServerInvite(request);
  if (!invite) return RespondLocal(txn, 481, "Call/Transaction Does Not Exist");
  RespondLocal(txn, 200, "OK");
  auto it = invite_servers_.find(*invite);
  Call* call = it == invite_servers_.end() ? nullptr : calls_.Find(it->second);
  if (call == nullptr || call->client_invite == 0) {
    RespondLocal(*invite, 487, "Request Terminated");
    return;
  }
  ++counters_.calls_cancelled;
  // The caller's INVITE ends now (487) and the call's relay ports are freed
  // at once, whether or not the callee can be reached: a phone whose NAT
  // mapping is gone never answers, and its branch would hold both for 32 s
  // (Timer B). The branch is CANCELled (once it has a 1xx) and finishes in
  // the background; its final response goes nowhere.
  RespondLocal(*invite, 487, "Request Terminated");
  call->cancelled = true;
  DeleteMedia(*call);
  CancelBranches(*call);
}

void Proxy::CancelBranches(const Call& call) {
  auto fork = forks_.find(call.Key());
  if (fork == forks_.end()) return txns_.Cancel(call.client_invite);
  for (size_t b : fork->second->context.OnCallerCancel()) {
    if (fork->second->txns[b] != 0) txns_.Cancel(fork->second->txns[b]);
  }
}

Proxy::Origin Proxy::OriginOf(const SipMessage& request, SipMessage& fwd,
                              const SipInbound& in) {
  // A configured peer (by its source address) is trusted; our users prove
  // it (RFC 3261 22.3), so no one calls as someone else; calls from
  // elsewhere may only reach our users.
  Origin o;
  o.peer = peers_ != nullptr ? peers_->FromSource(in.source.ip) : std::nullopt;
  if (!o.peer && peers_ != nullptr && in.tls_names != nullptr) {
    o.peer = peers_->FromCertificate(*in.tls_names);
  }
  // Another node of the cluster authenticated its caller.
  o.node = !o.peer && node_router_ != nullptr && node_router_->IsNode(in.source.ip);
  if (o.node) ++counters_.from_nodes;
  // Whether the node it came from relays its media; nobody else may say.
  if (o.node) {
    const std::vector<std::string> media = request.header_values(kNodeMediaHeader);
    o.media_relayed = std::find(media.begin(), media.end(), "relayed") != media.end();
    o.handed_off = std::find(media.begin(), media.end(), "handed-off") != media.end();
  }
  fwd.RemoveHeaders(kNodeMediaHeader);
  o.local = !o.peer && (o.node || IsOurDomain(request.from().host));
  return o;
}

void Proxy::HandleOutOfDialog(SipTxnId txn, SipMessage& request, const SipInbound& in) {
  const std::string method = request.method();
  auto target = PartsOf(request.osip().req_uri);
  if (!target) return RespondLocal(txn, 416, "Unsupported URI Scheme");
  const bool to_us = IsUs(*target);
  TrunkTarget(request, in, *target);
  if (method == "OPTIONS" && to_us && target->user.empty()) {
    return RespondLocal(txn, 200, "OK",
                        {"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE",
                         "Accept: application/sdp", SupportedHeader()});
  }
  const bool invite = method == "INVITE";
  if (invite) {
    ++counters_.invites;
    RespondLocal(txn, 100, "Trying");
  }
  auto fwd = request.Clone();
  if (!fwd.ok()) return RespondLocal(txn, 500, "Server Internal Error");
  if (fwd->DecrementMaxForwards() < 0) return RespondLocal(txn, 483, "Too Many Hops");

  const Origin origin = OriginOf(request, *fwd, in);
  const std::optional<uint32_t> from_peer = origin.peer;
  const bool from_node = origin.node;
  const bool from_local = origin.local;
  if (from_local && !from_node && config_.authenticate_calls) {
    if (std::optional<SipReply> refused = AuthorizeCaller(request, in.source.ip)) {
      return Respond(txn, *refused);
    }
    fwd->RemoveProxyAuthorizations(config_.domain);
  }

  Call call;
  call.call_id = request.call_id();
  call.created_at = now_();
  call.created_ms = NowMs();
  call.from_header = HeaderValue(request, true);
  call.to_header = HeaderValue(request, false);
  if (from_peer) call.peer = peers_->peer(*from_peer).name;
  call.media_elsewhere = origin.media_relayed;
  call.spiral = SpiralsBack(request, from_node);
  if (call.spiral) ++counters_.calls_spiralled;
  CallSide caller = CallerSide(request, in);
  if (from_node) {
    // The phone behind the node may be behind any NAT.
    caller.node = true;
    caller.policy = policies_.Select("").latch_natted;
  }
  const Arrival arrival{in.transport, !in.source.ip.is_v4()};
  // Our callers reach a number or domain that is not a local user through
  // the dial plan.
  const RouteConfig* route = nullptr;
  if (dial_plan_ != nullptr && from_local && !(to_us && IsLocalUser(target->user))) {
    route = dial_plan_->Match(target->user, target->host, to_us);
  }
  if (route == nullptr && !to_us && from_local && locator_ != nullptr &&
      !IpAddress::Parse(target->host).ok()) {
    // A host name: located first (RFC 3263), then forwarded.
    call.caller = caller;
    return LocateRemote(txn, request, *std::move(fwd), std::move(call), arrival, *target);
  }
  PeerBranch branch;
  std::vector<CallSide> forks;
  std::optional<SipReply> refused =
      route != nullptr ? FindPeerCallee(*route, *target, call.callee, branch)
      : to_us ? FindLocalCallee(target->user, *fwd, call.callee, invite ? &forks : nullptr,
                                from_node && !origin.handed_off)
              : FindRemoteCallee(*target, from_local, request, call.callee);
  if (refused) return Respond(txn, *refused);
  call.caller = caller;
  if (from_peer && invite) ++counters_.calls_from_peers;
  // A call handed on is forked, if at all, by the node it goes to; but one
  // whose first branch is a node's keeps its other branches here.
  if (invite && !from_node && (forks.empty() || !call.callee.node) &&
      HandOff(txn, request, *fwd, call, arrival, *target, to_us)) {
    return;
  }
  Forward(txn, request, *std::move(fwd), std::move(call), arrival,
          route != nullptr ? &branch : nullptr, std::move(forks));
}

bool Proxy::HandOff(SipTxnId txn, const SipMessage& request, SipMessage& fwd, Call& call,
                    const Arrival& arrival, const UriParts& target, bool to_us) {
  if (node_router_ == nullptr) return false;
  std::optional<Endpoint> there = node_router_->NewCallsElsewhere();
  if (!there) return false;
  ++counters_.calls_handed_off;
  call.media_elsewhere = true;
  // A callee behind another node goes to that node, which relays it now;
  // any other to the least loaded node, which routes it from the start.
  if (!call.callee.node) {
    const std::string host = to_us ? absl::AsciiStrToLower(config_.domain) : target.host;
    call.callee = NodeSide(*there, absl::StrCat(target.user, "@", host));
    if (!fwd.SetRequestUri(call.callee.contact).ok()) {
      RespondLocal(txn, 500, "Server Internal Error");
      return true;
    }
  }
  Forward(txn, request, std::move(fwd), std::move(call), arrival, nullptr, {});
  return true;
}

bool Proxy::SpiralsBack(const SipMessage& request, bool from_node) {
  if (!from_node || request.method() != "INVITE") return false;
  const Call* first = calls_.Find(CallKey(request.call_id(), false));
  return first != nullptr && first->media_elsewhere && first->callee.node;
}

std::string Proxy::InDialogKey(const SipMessage& request, const SipInbound& in) {
  if (std::optional<SipContact> top = request.top_route(); top && IsOwnRoute(*top)) {
    return CallKey(request.call_id(), request.top_route_has_param(kSpiralParam));
  }
  // No Route of ours: a request the other node made itself (a BYE on
  // silent media, the BYE to a fork branch it let go). Towards the callee
  // it can only belong to the second pass, whose caller is that node.
  std::string second = CallKey(request.call_id(), true);
  const Call* spiral = calls_.Find(second);
  if (spiral != nullptr && node_router_ != nullptr && node_router_->IsNode(in.source.ip) &&
      request.from().tag == spiral->caller.tag) {
    return second;
  }
  return CallKey(request.call_id(), false);
}

std::string Proxy::StrayResponseKey(const SipMessage& response) const {
  return CallKey(response.call_id(), absl::EndsWith(response.top_via().branch, kSpiralBranchSuffix));
}

std::string Proxy::NewBranch(const Call& call) {
  std::string branch = txns_.NewBranch();
  if (call.spiral) absl::StrAppend(&branch, kSpiralBranchSuffix);
  return branch;
}

void Proxy::Forward(SipTxnId txn, const SipMessage& request, SipMessage fwd, Call call,
                    const Arrival& arrival, PeerBranch* branch, std::vector<CallSide> forks) {
  const bool invite = request.method() == "INVITE";
  if (!forks.empty()) {
    ++counters_.calls_forked;
    forks.insert(forks.begin(), call.callee);
    auto fork = std::make_shared<Fork>(forks.size());
    fork->sides = std::move(forks);
    ForkContext where{fork, arrival.transport, arrival.ipv6};
    return StartCall(txn, std::move(call), request, std::move(fwd), nullptr, &where);
  }
  if (branch != nullptr) {
    call.peer = peers_->peer(branch->candidates.front().peer).name;
    branch->in_transport = arrival.transport;
    branch->in_ipv6 = arrival.ipv6;
    if (invite) {
      ++counters_.calls_to_peers;
      return StartCall(txn, std::move(call), request, std::move(fwd), branch);
    }
    // Other requests (MESSAGE, OPTIONS to a number) go to the first target.
    if (!fwd.SetRequestUri(call.callee.contact).ok()) {
      return RespondLocal(txn, 500, "Server Internal Error");
    }
  }
  const SipRoute out = call.callee.route;
  const RecordRouteFlows flows{call.caller.flow_token, call.callee.flow_token, call.spiral,
                               SharedLocalOf(call.caller.route)};
  if (absl::Status s = PrepareForward(fwd, out, arrival.transport, arrival.ipv6,
                                      invite ? &flows : nullptr, NewBranch(call));
      !s.ok()) {
    return RespondLocal(txn, 500, "Server Internal Error", {WarningHeader(s.message())});
  }
  if (!invite) {
    // MESSAGE, OPTIONS to a user, SUBSCRIBE...: forwarded, no call state.
    auto sent = txns_.SendRequest(std::move(fwd), out);
    if (!sent.ok()) return RespondLocal(txn, 500, "Server Internal Error");
    ++counters_.forwarded_requests;
    clients_[*sent] = ClientContext{txn, "", false, false, true};
    return;
  }
  StartCall(txn, std::move(call), request, std::move(fwd));
}

void Proxy::LocateRemote(SipTxnId txn, const SipMessage& request, SipMessage fwd, Call call,
                         const Arrival& arrival, const UriParts& target) {
  absl::StatusOr<SipMessage> copy = request.Clone();
  if (!copy.ok()) return RespondLocal(txn, 500, "Server Internal Error");
  const uint64_t id = ++lookup_counter_;
  ++counters_.dns_lookups;
  lookups_.emplace(id, PendingLookup{txn, *std::move(copy), std::move(fwd), std::move(call),
                                     arrival, target});
  locator_->Locate(target, [this, id](absl::StatusOr<std::vector<SipHop>> hops) {
    auto it = lookups_.find(id);
    if (it == lookups_.end()) return;
    PendingLookup p = std::move(it->second);
    lookups_.erase(it);
    // The caller may have given up while we looked (CANCEL: 487 sent).
    if (txns_.HasFinalResponse(p.txn)) return;
    std::optional<SipRoute> route;
    if (hops.ok()) {
      for (const SipHop& hop : *hops) {
        if (absl::StatusOr<SipRoute> r = RouteToHop(hop); r.ok()) {
          route = *r;
          break;
        }
      }
    }
    if (!route) {
      ++counters_.dns_failures;
      const std::string why = hops.ok() ? "no hop we can reach" : std::string(hops.status().message());
      return RespondLocal(p.txn, hops.ok() || absl::IsNotFound(hops.status()) ? 404 : 503,
                          hops.ok() || absl::IsNotFound(hops.status()) ? "Not Found"
                                                                      : "Service Unavailable",
                          {WarningHeader(absl::StrCat("cannot route there: ", why))});
    }
    p.call.callee.aor = absl::StrCat(p.target.user, "@", p.target.host);
    p.call.callee.contact = p.request.request_uri();
    p.call.callee.route = *route;
    p.call.callee.media_ipv6 = !route->dest.ip.is_v4();
    Forward(p.txn, p.request, std::move(p.fwd), std::move(p.call), p.arrival, nullptr, {});
  });
}

void Proxy::TrunkTarget(const SipMessage& request, const SipInbound& in, UriParts& target) const {
  // A trunk we register with calls our Contact (its user is ours to
  // choose); the number it calls is in To.
  if (peers_ == nullptr) return;
  std::optional<uint32_t> p = peers_->FromSource(in.source.ip);
  if (!p) return;
  const PeerRegistrationConfig& r = peers_->peer(*p).registration;
  if (r.aor.empty() || target.user != r.contact_user) return;
  const std::string to_user = request.to().user;
  if (!to_user.empty()) target.user = to_user;
}

bool Proxy::GuardRefuses(bool auth_failed, const IpAddress& source, absl::string_view user) {
  return auth_failed && guard_ != nullptr && guard_->AuthFailed(source, user, NowMs());
}

std::optional<SipReply> Proxy::AuthorizeCaller(const SipMessage& request,
                                               const IpAddress& source) {
  AuthCheck auth = registrar_.AuthorizeRequest(request, now_());
  if (auth.authorized) return std::nullopt;
  if (GuardRefuses(auth.auth_failed, source, request.from().user)) {
    return SipReply{403, "Forbidden", {WarningHeader(kGuardRefusal)}};
  }
  if (auth.status_code == 407) {
    ++counters_.auth_challenges;
    ++counters_.request_challenges;
  }
  SipReply reply{auth.status_code, auth.reason, auth.headers};
  if (auth.status_code != 407) reply.headers.push_back(WarningHeader(auth.error));
  return reply;
}

std::optional<SipReply> Proxy::FindLocalCallee(absl::string_view user, SipMessage& fwd,
                                               CallSide& callee, std::vector<CallSide>* forks,
                                               bool own_only) {
  if (user.empty()) return SipReply{404, "Not Found", {}};
  const std::string aor = absl::StrCat(user, "@", absl::AsciiStrToLower(config_.domain));
  std::vector<Binding> bindings = registrar_.Lookup(aor, now_());
  if (bindings.empty()) {
    return SipReply{480, "Temporarily Unavailable",
                    {WarningHeader(absl::StrCat(aor, " has no registered contact"))}};
  }
  // The best binding that can be reached now is the callee; with `forks`
  // the others of its family ring too.
  std::optional<absl::Status> first_error;
  bool found = false;
  std::vector<Endpoint> via_nodes;  // one branch a node: it rings its own bindings
  for (const Binding& b : bindings) {
    absl::StatusOr<CallSide> side = ClusterSideOf(b, aor, own_only);
    if (!side.ok()) {
      if (!first_error) first_error = side.status();
      continue;
    }
    if (side->node) {
      if (std::find(via_nodes.begin(), via_nodes.end(), side->route.dest) != via_nodes.end()) {
        continue;
      }
      via_nodes.push_back(side->route.dest);
      ++counters_.via_node;
    }
    if (!found) {
      callee = *std::move(side);
      found = true;
      if (forks == nullptr) break;
    } else if (side->media_ipv6 == callee.media_ipv6) {
      forks->push_back(*std::move(side));
    }
  }
  if (!found) {
    return SipReply{480, "Temporarily Unavailable",
                    {WarningHeader(absl::StrCat("no way to reach ", aor, " now: ",
                                                first_error->message()))}};
  }
  if (absl::Status s = fwd.SetRequestUri(callee.contact); !s.ok()) {
    return SipReply{500, "Server Internal Error", {}};
  }
  return std::nullopt;
}

absl::StatusOr<CallSide> Proxy::SideOf(const Binding& b, const std::string& aor) const {
  absl::StatusOr<SipRoute> route = RouteToBinding(b);
  if (!route.ok()) return route.status();
  const NatPolicy& policy = policies_.Select(b.user_agent);
  CallSide side;
  side.aor = aor;
  side.contact = b.contact_uri;
  side.user_agent = b.user_agent;
  side.natted = b.behind_nat;
  side.nat_reasons = b.nat_reasons;
  side.policy = b.behind_nat ? policy.latch_natted : policy.latch_direct;
  side.route = *route;
  side.media_ipv6 = !route->dest.ip.is_v4();
  // A TCP/TLS phone is reached only over its connection: in-dialog
  // requests to it follow the flow token in our Record-Route.
  if (IsStream(route->transport)) {
    side.flow_token = flow_tokens_.Encode(SipFlow{route->transport, b.source, b.local_socket});
  }
  return side;
}

std::optional<SipReply> Proxy::FindRemoteCallee(const UriParts& target, bool from_local,
                                                const SipMessage& request, CallSide& callee) {
  if (!from_local) return SipReply{403, "Forbidden", {WarningHeader("relaying denied")}};
  // An authenticated user of ours calling an address directly.
  absl::StatusOr<SipRoute> route = RouteToUri(target);
  if (!route.ok()) {
    return SipReply{404, "Not Found",
                    {WarningHeader(absl::StrCat("cannot route there: ", route.status().message()))}};
  }
  callee.aor = absl::StrCat(target.user, "@", target.host);
  callee.contact = request.request_uri();
  callee.route = *route;
  callee.media_ipv6 = !route->dest.ip.is_v4();
  return std::nullopt;
}

std::optional<SipReply> Proxy::FindPeerCallee(const RouteConfig& route, const UriParts& target,
                                              CallSide& callee, PeerBranch& branch) {
  branch.candidates = peers_->Candidates(route);
  // The first target that has a route now; the others wait for failover.
  while (branch.next < branch.candidates.size()) {
    const PeerTargetRef t = branch.candidates[branch.next];
    absl::StatusOr<SipRoute> out = RouteToPeer(t);
    if (out.ok()) {
      const PeerTargetConfig& c = peers_->target(t);
      callee.aor = absl::StrCat(target.user, "@", c.parts.host);
      callee.contact = PeerRequestUri(t, target.user);
      callee.route = *out;
      callee.media_ipv6 = !out->dest.ip.is_v4();
      callee.policy = policies_.Select("").latch_direct;
      return std::nullopt;
    }
    peers_->Failed(t);
    branch.candidates.erase(branch.candidates.begin() + static_cast<ptrdiff_t>(branch.next));
  }
  return SipReply{503, "Service Unavailable",
                  {WarningHeader("no peer of the route can be reached")}};
}

bool Proxy::IsLocalUser(absl::string_view user) const {
  if (user.empty()) return false;
  if (registrar_.HasUser(user)) return true;
  return !registrar_.Lookup(absl::StrCat(user, "@", absl::AsciiStrToLower(config_.domain)), now_())
              .empty();
}

CallSide Proxy::CallerSide(const SipMessage& request, const SipInbound& in) const {
  // design.md's NAT tests on this request.
  const NatVerdict verdict = DetectNat(request, in.source, inside_);
  const NatDecision decision = policies_.Decide(request.user_agent(), verdict);
  const SipNameAddr from = request.from();
  CallSide caller;
  caller.aor = from.aor();
  caller.tag = from.tag;
  caller.user_agent = request.user_agent();
  caller.route = SipRoute{in.source, in.transport, in.channel};
  caller.natted = decision.natted;
  for (absl::string_view n : verdict.reasons.Names()) caller.nat_reasons.emplace_back(n);
  caller.policy = decision.media_latch;
  caller.cseq = request.cseq_number();
  caller.media_ipv6 = !in.source.ip.is_v4();
  if (auto contacts = request.contacts(); !contacts.empty()) {
    caller.contact = contacts[0].uri;
    // RFC 5626 5.3: a UA on an outbound flow gets its dialog's requests
    // back over that flow, named by the token in our Record-Route.
    if (contacts[0].ob) caller.flow_token = FlowTokenOf(in);
  }
  return caller;
}

void Proxy::StartCall(SipTxnId txn, Call call, const SipMessage& request, SipMessage fwd,
                      PeerBranch* branch, const ForkContext* fork) {
  if (fork != nullptr) {
    // One relay leg faces every branch: NAT'd if any of them is.
    for (const CallSide& side : fork->fork->sides) {
      if (side.natted && !call.callee.natted) {
        call.callee.natted = true;
        call.callee.policy = side.policy;
      }
    }
  }
  call.anchored = Anchored(call);
  call.server_invite = txn;
  call.vip = CallVip(call);
  if (call.callee.node) {
    // The node relays the media unless we do (it strips this); a call
    // handed on is the node's to route.
    const char* media = call.media_elsewhere ? "handed-off" : call.anchored ? "relayed" : "open";
    if (absl::Status s = fwd.AddHeader(kNodeMediaHeader, media); !s.ok()) {
      return RespondToError(txn, s);
    }
  }
  const SipRoute out = call.callee.route;
  Call* stored = calls_.Insert(std::move(call));
  if (stored == nullptr) return RespondLocal(txn, 482, "Loop Detected");
  MarkShared(*stored);
  const std::string key = stored->Key();
  if (absl::Status s = ApplySdp(*stored, /*from_caller=*/true, request, fwd); !s.ok()) {
    EndCall(key);
    ++counters_.calls_failed;
    return RespondToError(txn, s);
  }
  invite_servers_[txn] = key;
  if (fork != nullptr) {
    forks_[key] = fork->fork;
    if (!SendForks(*stored, fork->fork, fwd, fork->in_transport, fork->in_ipv6)) {
      EndCall(key);
      ++counters_.calls_failed;
      RespondLocal(txn, 500, "Server Internal Error");
    }
    return;
  }
  if (branch != nullptr) {
    branch->invite = std::move(fwd);
    PeerBranch& stored_branch = peer_branches_[key] = std::move(*branch);
    if (!SendToNextPeer(*stored, stored_branch)) {
      EndCall(key);
      ++counters_.calls_failed;
      RespondLocal(txn, 503, "Service Unavailable",
                   {WarningHeader("no peer of the route can be reached")});
    }
    return;
  }
  auto sent = txns_.SendRequest(std::move(fwd), out);
  if (!sent.ok()) {
    EndCall(key);
    return RespondLocal(txn, 500, "Server Internal Error");
  }
  ++counters_.forwarded_requests;
  stored->client_invite = *sent;
  clients_[*sent] = ClientContext{txn, key, true, true, true};
}

bool Proxy::SendForks(Call& call, const std::shared_ptr<Fork>& fork, const SipMessage& fwd,
                      SipTransportKind in_transport, bool in_ipv6) {
  bool sent_any = false;
  for (size_t i = 0; i < fork->sides.size(); ++i) {
    const CallSide& side = fork->sides[i];
    absl::StatusOr<SipMessage> branch = fwd.Clone();
    absl::StatusOr<SipTxnId> sent = absl::InternalError("not sent");
    const RecordRouteFlows flows{call.caller.flow_token, side.flow_token, call.spiral,
                                 SharedLocalOf(call.caller.route)};
    if (branch.ok() && branch->SetRequestUri(side.contact).ok() &&
        PrepareForward(*branch, side.route, in_transport, in_ipv6, &flows, NewBranch(call))
            .ok()) {
      sent = txns_.SendRequest(*std::move(branch), side.route);
    }
    if (!sent.ok()) {
      // A branch that cannot leave is a failed branch (its 408).
      fork->context.OnResponse(i, 0);
      continue;
    }
    ++counters_.forwarded_requests;
    fork->txns[i] = *sent;
    if (!sent_any) call.client_invite = *sent;
    sent_any = true;
    ClientContext ctx{call.server_invite, call.Key(), true, true, true};
    ctx.fork = fork;
    ctx.fork_branch = i;
    clients_[*sent] = std::move(ctx);
  }
  return sent_any;
}

bool Proxy::ForkBranchAnswered(const ClientContext& ctx, SipMessage& response, int code) {
  Fork& fork = *ctx.fork;
  const size_t b = ctx.fork_branch;
  if (code == 100) return true;  // hop by hop
  const ForkedInvite::Verdict v = fork.context.OnResponse(b, code);
  for (size_t c : v.cancel) {
    if (fork.txns[c] != 0) txns_.Cancel(fork.txns[c]);
    ++counters_.fork_branches_cancelled;
  }
  if (code >= 300 && fork.context.best() == b) {
    if (absl::StatusOr<SipMessage> copy = response.Clone(); copy.ok()) fork.best = *std::move(copy);
  }
  if (v.release) {
    ++counters_.fork_answers_released;
    ReleaseAnswer(fork.sides[b], response);
    return true;
  }
  Call* call = calls_.Find(ctx.call_key);
  if (v.forward && code >= 200 && code < 300 && call != nullptr) {
    // The winner: the call's callee is this branch's binding from now on.
    call->callee = fork.sides[b];
    call->callee.tag = std::string(response.to().tag);
    call->callee.user_agent = response.user_agent();
    call->client_invite = fork.txns[b];
    return false;
  }
  if (v.forward) return false;  // a 1xx, or the 6xx that ends every branch
  if (v.forward_best) {
    if (!fork.best) {
      // The best "answer" was a branch that never answered: a 408 of ours.
      if (call != nullptr && !call->cancelled) ++counters_.calls_failed;
      EndCall(ctx.call_key);
      RespondLocal(ctx.server, 408, "Request Timeout");
      return true;
    }
    ClientContext best = ctx;
    best.fork = nullptr;  // the generic path, as if it came from one branch
    SipMessage& answer = *fork.best;
    RelayResponse(best, answer, answer.status_code());
  }
  return true;
}

void Proxy::ReleaseAnswer(const CallSide& side, const SipMessage& response) {
  // The 2xx's dialog, ended from here (RFC 3261 16.7 leaves it to the
  // caller, who would only get a dialog we no longer route).
  const std::string to = HeaderValue(response, false);
  const std::string from = HeaderValue(response, true);
  const uint32_t cseq = response.cseq_number();
  std::string target = side.contact;
  if (auto contacts = response.contacts(); !contacts.empty()) target = contacts[0].uri;
  for (const char* method : {"ACK", "BYE"}) {
    const bool bye = method[0] == 'B';
    auto request = OwnRequest(
        absl::StrCat(method, " ", target, " SIP/2.0"),
        absl::StrCat("From: ", from, "\r\nTo: ", to, "\r\nCall-ID: ", response.call_id(),
                     "\r\nCSeq: ", bye ? cseq + 1 : cseq, " ", method, "\r\n"));
    if (!request.ok()) return;
    std::optional<SipRoute> route = RouteToSide(side, *request);
    if (!route) return;
    if (!bye) {
      // The ACK of a 2xx is its own transaction: sent, never retransmitted.
      if (PrepareForward(*request, *route, route->transport, !route->dest.ip.is_v4(), nullptr,
                         txns_.NewBranch())
              .ok()) {
        if (auto bytes = request->Serialize(); bytes.ok()) (void)channels_.send(*bytes, *route);
      }
      continue;
    }
    auto sent = SendOwnRequest(*std::move(request), *route);
    if (sent.ok()) clients_[*sent] = ClientContext{0, "", false, false, true};
  }
}

bool Proxy::Anchored(const Call& call) const {
  if (call.media_elsewhere) return false;
  bool always = config_.anchor_media_always;
  if (std::optional<uint32_t> p =
          call.peer.empty() || peers_ == nullptr ? std::nullopt : peers_->Find(call.peer)) {
    always = peers_->peer(*p).media == PeerMedia::kAlways;
  }
  return always || call.caller.natted || call.callee.natted ||
         call.caller.media_ipv6 != call.callee.media_ipv6;
}

bool Proxy::SendToNextPeer(Call& call, PeerBranch& branch) {
  while (branch.next < branch.candidates.size()) {
    const PeerTargetRef t = branch.candidates[branch.next++];
    // The SDP offered already carries the relay of the first hop's
    // family; a hop of the other family cannot take this call.
    if (t.hop.ip.is_v4() == call.callee.media_ipv6) continue;
    // A reload since the call began removed it from the config.
    if (peers_->retired(t)) continue;
    branch.authenticated = false;
    if (SendToHop(call, branch, t, "", "")) return true;
  }
  return false;
}

bool Proxy::SendToHop(Call& call, PeerBranch& branch, const PeerTargetRef& t,
                      absl::string_view auth_header, absl::string_view auth_value) {
  absl::StatusOr<SipRoute> route = RouteToPeer(t);
  absl::StatusOr<SipMessage> fwd = branch.invite->Clone();
  if (!route.ok() || !fwd.ok()) {
    peers_->Failed(t);
    return false;
  }
  const UriParts uri = *PartsOf(branch.invite->osip().req_uri);
  const std::string contact = PeerRequestUri(t, uri.user);
  const RecordRouteFlows flows{call.caller.flow_token, ""};
  if (!fwd->SetRequestUri(contact).ok() ||
      (!auth_header.empty() && !fwd->AddHeader(auth_header, auth_value).ok()) ||
      !PrepareForward(*fwd, *route, branch.in_transport, branch.in_ipv6, &flows,
                      txns_.NewBranch())
           .ok()) {
    return false;
  }
  absl::StatusOr<SipTxnId> sent = txns_.SendRequest(*std::move(fwd), *route);
  if (!sent.ok()) {
    peers_->Failed(t);
    return false;
  }
  peers_->Attempted(t);
  ++counters_.forwarded_requests;
  branch.current = t;
  branch.sent_ms = NowMs();
  branch.answered = false;
  call.callee.route = *route;
  call.callee.contact = contact;
  call.callee.aor = absl::StrCat(uri.user, "@", peers_->target(t).parts.host);
  // A new hop is a new callee: the last one's early dialog is not its.
  call.callee.tag.clear();
  call.callee.user_agent.clear();
  call.client_invite = *sent;
  ClientContext ctx{call.server_invite, call.Key(), true, true, true};
  ctx.peer_branch = true;
  clients_[*sent] = std::move(ctx);
  return true;
}

bool Proxy::AnswerPeerChallenge(Call& call, PeerBranch& branch, const SipMessage& response) {
  // A peer that challenges us (a trunk with digest credentials): the same
  // INVITE again, same hop, CSeq kept (a proxy cannot renumber the
  // caller's dialog), with our answer; a second challenge is a failure.
  const PeerConfig& peer = peers_->peer(branch.current.peer);
  const int code = response.status_code();
  if (branch.authenticated || peer.auth_username.empty()) return false;
  std::vector<SipChallenge> challenges = response.challenges(code == 407);
  if (challenges.empty()) return false;
  const UriParts uri = *PartsOf(branch.invite->osip().req_uri);
  absl::StatusOr<std::string> answer =
      AnswerDigestChallenge(challenges.front(), peer.auth_username, peer.auth_password, "INVITE",
                            PeerRequestUri(branch.current, uri.user), txns_.NewBranch());
  if (!answer.ok()) return false;
  // Set before the send: if it cannot go, the challenge counts as the
  // hop's failure (PeerBranchAnswered), not as an answer for the caller.
  branch.authenticated = true;
  if (!SendToHop(call, branch, branch.current,
                 code == 407 ? "Proxy-Authorization" : "Authorization", *answer)) {
    return false;
  }
  ++counters_.peer_challenges_answered;
  return true;
}

bool Proxy::PeerBranchAnswered(const ClientContext& ctx, int code, const SipMessage* response) {
  auto it = peer_branches_.find(ctx.call_key);
  if (it == peer_branches_.end()) return false;
  PeerBranch& branch = it->second;
  if ((code == 401 || code == 407) && response != nullptr) {
    Call* call = calls_.Find(ctx.call_key);
    if (call != nullptr && !call->cancelled && !call->ring_timeout_sent &&
        AnswerPeerChallenge(*call, branch, *response)) {
      return true;
    }
  }
  // A challenge we answered already: our credentials are not good there.
  const bool refused = (code == 401 || code == 407) && branch.authenticated;
  const bool failed = code == 0 || code == 408 || code == 503 || refused;
  if (!failed) {
    if (!branch.answered) peers_->Succeeded(branch.current);
    branch.answered = true;
    if (code >= 200) peer_branches_.erase(it);
    return false;
  }
  if (peers_->Failed(branch.current)) {
    const std::string hop = branch.current.hop.ToString();
    RTPLATCH_LOG_FROM(Warning, hop, "peer %s hop %s is down (%u failures in a row)",
                      peers_->peer(branch.current.peer).name.c_str(), hop.c_str(),
                      peers_->hop(branch.current)->failures_in_a_row);
  }
  Call* call = calls_.Find(ctx.call_key);
  if (call != nullptr && !call->cancelled && !call->ring_timeout_sent &&
      SendToNextPeer(*call, branch)) {
    ++counters_.peer_failovers;
    return true;
  }
  peer_branches_.erase(it);
  return false;
}

absl::StatusOr<SipRoute> Proxy::RouteToPeer(const PeerTargetRef& target) const {
  const PeerHopHealth* health = peers_->hop(target);
  if (health == nullptr) return absl::UnavailableError("DNS no longer lists this hop");
  return RouteToHop(health->hop);
}

absl::StatusOr<SipRoute> Proxy::RouteToHop(const SipHop& hop) const {
  if (IsStream(hop.transport)) {
    // We open (or reuse, RFC 5923) the connection.
    if (!channels_.connect) return absl::UnavailableError("no connections can be opened");
    absl::StatusOr<SipChannelId> channel = channels_.connect(hop.endpoint, hop.transport, hop.host);
    if (!channel.ok()) return channel.status();
    return SipRoute{hop.endpoint, hop.transport, *channel};
  }
  UriParts uri;
  uri.host = hop.endpoint.ip.ToString();
  uri.port = hop.endpoint.port;
  return RouteToUri(uri);
}

std::string Proxy::PeerRequestUri(const PeerTargetRef& target, absl::string_view user) const {
  // A named peer keeps its name (its domain, as it expects to be called);
  // an address target gets the address and port of the hop.
  const PeerTargetConfig& c = peers_->target(target);
  const std::string who = user.empty() ? "" : absl::StrCat(user, "@");
  if (!c.ip) {
    return absl::StrCat("sip:", who, c.parts.host,
                        c.parts.port_given ? absl::StrCat(":", c.parts.port) : "");
  }
  return absl::StrCat("sip:", who, HostForUri(target.hop.ip), ":", target.hop.port);
}

void Proxy::RespondToError(SipTxnId txn, const absl::Status& error) {
  if (absl::IsUnavailable(error) || absl::IsResourceExhausted(error)) {
    ++counters_.rejected_dataplane;
  }
  Respond(txn, SipReplyForError(error));
}

void Proxy::Respond(SipTxnId txn, const SipReply& reply) {
  RespondLocal(txn, reply.code, reply.reason, reply.headers);
}

void Proxy::HandleInDialog(SipTxnId txn, SipMessage& request, const SipInbound& in) {
  const std::string method = request.method();
  Call* call = calls_.Find(InDialogKey(request, in));
  if (call == nullptr) {
    ++counters_.in_dialog_unknown;
    return RespondLocal(txn, 481, "Call/Transaction Does Not Exist");
  }
  // A re-INVITE waits for the other phone as long as an INVITE does: stop
  // the caller's retransmissions now (RFC 3261 17.2.1).
  if (method == "INVITE") RespondLocal(txn, 100, "Trying");
  const bool from_caller = request.from().tag == call->caller.tag;
  CallSide& sender = from_caller ? call->caller : call->callee;
  CallSide& target = from_caller ? call->callee : call->caller;
  sender.cseq = std::max(sender.cseq, request.cseq_number());
  // A NAT'd phone's mapping may have moved: requests reach it where it
  // last spoke from.
  if (sender.natted && in.transport == SipTransportKind::kUdp) {
    sender.route = SipRoute{in.source, in.transport, in.channel};
  }
  MarkShared(*call);  // its CSeq, maybe its route: a successor needs both

  auto fwd = request.Clone();
  if (!fwd.ok()) return RespondLocal(txn, 500, "Server Internal Error");
  if (fwd->DecrementMaxForwards() < 0) return RespondLocal(txn, 483, "Too Many Hops");
  absl::StatusOr<SipRoute> out = InDialogRoute(sender, target, *fwd, in);
  if (!out.ok()) {
    switch (out.status().code()) {
      case absl::StatusCode::kPermissionDenied:
        return RespondLocal(txn, 403, "Forbidden");
      case absl::StatusCode::kUnavailable:
        return RespondLocal(txn, 430, "Flow Failed");
      default:
        return RespondLocal(txn, 480, "Temporarily Unavailable");
    }
  }
  if (!PrepareForward(*fwd, *out, in.transport, !in.source.ip.is_v4(), nullptr, NewBranch(*call))
           .ok()) {
    return RespondLocal(txn, 500, "Server Internal Error");
  }
  const bool invite = method == "INVITE";
  if (invite || method == "UPDATE") {
    if (absl::Status s = ApplySdp(*call, from_caller, request, *fwd); !s.ok()) {
      return RespondToError(txn, s);
    }
  }
  const std::string key = call->Key();
  auto sent = txns_.SendRequest(*std::move(fwd), *out);
  if (!sent.ok()) return RespondLocal(txn, 500, "Server Internal Error");
  ++counters_.forwarded_requests;
  clients_[*sent] = ClientContext{txn, key, invite, false, from_caller};
  if (method == "BYE") {
    ++counters_.calls_ended_bye;
    EndCall(key);
  }
}

void Proxy::OnStrayAck(SipMessage& ack, const SipInbound& in) {
  // The ACK for a 2xx (its own transaction, end to end): routed like any
  // in-dialog request, statelessly.
  Call* call = calls_.Find(InDialogKey(ack, in));
  if (call == nullptr) {
    ++counters_.dropped;
    return;
  }
  if (!ForwardStrayAck(*call, ack, in)) ++counters_.stray_unforwardable;
}

bool Proxy::ForwardStrayAck(Call& call, SipMessage& ack, const SipInbound& in) {
  const bool from_caller = ack.from().tag == call.caller.tag;
  const CallSide& sender = from_caller ? call.caller : call.callee;
  CallSide& target = from_caller ? call.callee : call.caller;
  (void)ack.ApplyReceivedAndRport(in.source);
  auto fwd = ack.Clone();
  if (!fwd.ok() || fwd->DecrementMaxForwards() < 0) return false;
  absl::StatusOr<SipRoute> out = InDialogRoute(sender, target, *fwd, in);
  if (!out.ok()) return false;
  // Stateless forwarding needs a branch that is the same for a
  // retransmitted ACK (RFC 3261 16.11): a hash of the incoming one.
  const std::string branch = absl::StrFormat(
      "z9hG4bKa%016x", absl::HashOf(ack.top_via().branch, ack.call_id(), ack.cseq_number()));
  if (!PrepareForward(*fwd, *out, in.transport, !in.source.ip.is_v4(), nullptr, branch).ok()) {
    return false;
  }
  if (!ApplySdp(call, from_caller, ack, *fwd).ok()) return false;
  auto bytes = fwd->Serialize();
  if (!bytes.ok()) return false;
  ++counters_.stateless_forwards;
  (void)channels_.send(*bytes, *out);
  return true;
}

// ---------------------------------------------------------------------------
// Responses

bool Proxy::OwnOptionsAnswered(const ClientContext& ctx, int code) {
  if (!ctx.qualify_binding.empty()) {
    // Any final answer (even 404 or 405) means the phone is there.
    if (code >= 200) {
      ++counters_.qualify_answered;
      qualify_pending_.erase(ctx.qualify_binding);
    }
    return true;
  }
  if (!ctx.probe_binding.empty()) {
    // Any answer crossed the NAT: the mapping outlived the gap.
    learner_.OnProbeAnswered(ctx.probe_binding, ctx.probe_id, NowMs());
    return true;
  }
  if (ctx.peer_probe) {
    if (code >= 200 && peers_->ProbeDone(*ctx.peer_probe, code)) {
      ++counters_.peers_recovered;
      const std::string hop = ctx.peer_probe->hop.ToString();
      RTPLATCH_LOG_FROM(Notice, hop, "peer %s hop %s is up (answered OPTIONS %d)",
                        peers_->peer(ctx.peer_probe->peer).name.c_str(), hop.c_str(), code);
    }
    return true;
  }
  return false;
}

void Proxy::OnResponse(SipTxnId txn, SipMessage& response) {
  auto it = clients_.find(txn);
  if (it == clients_.end()) return;
  const ClientContext ctx = it->second;
  const int code = response.status_code();
  if (code >= 200) clients_.erase(it);
  if (ctx.peer_register) {
    if (code >= 200) PeerRegisterAnswered(ctx, &response);
    return;
  }
  if (OwnOptionsAnswered(ctx, code)) return;
  if (ctx.peer_branch && PeerBranchAnswered(ctx, code, &response)) return;
  if (ctx.fork && ForkBranchAnswered(ctx, response, code)) return;
  if (code == 100) return;  // hop by hop (RFC 3261 16.7 step 5)
  RelayResponse(ctx, response, code);
}

void Proxy::RelayResponse(const ClientContext& ctx, SipMessage& response, int code) {
  auto fwd = response.Clone();
  if (!fwd.ok() || !fwd->PopVia().ok()) return;
  if (fwd->via_count() == 0) {
    // Nothing left to route it by (RFC 3261 16.7 step 3): the branch's
    // answer is lost, so a final one becomes our own 502 to the caller.
    ++counters_.dropped;
    if (code >= 200) {
      if (ctx.initial) {
        ++counters_.calls_failed;
        EndCall(ctx.call_key);
      }
      if (ctx.server != 0) {
        RespondLocal(ctx.server, 502, "Bad Gateway",
                     {WarningHeader("the next hop answered without our caller's Via")});
      }
    }
    return;
  }

  Call* call = ctx.call_key.empty() ? nullptr : calls_.Find(ctx.call_key);
  if (call != nullptr && ctx.initial && call->cancelled) return FinishCancelledBranch(*call, code);
  if (call != nullptr && ctx.invite) {
    // The response comes from the request's target.
    const bool from_caller = !ctx.to_callee;
    if (ctx.initial && code < 300) {
      if (call->callee.tag.empty()) call->callee.tag = response.to().tag;
      if (auto contacts = response.contacts(); !contacts.empty()) {
        call->callee.contact = contacts[0].uri;
      }
      if (call->callee.user_agent.empty()) call->callee.user_agent = response.user_agent();
    }
    if (code < 300) {
      if (absl::Status s = ApplySdp(*call, from_caller, response, *fwd); !s.ok()) {
        // The callee's answer cannot be relayed: the caller gets an error
        // instead of a call without media; the callee is released.
        if (ctx.initial && code >= 200) {
          call->state = Call::State::kConfirmed;
          SendBye(*call, /*to_caller=*/false);
          EndCall(ctx.call_key);
          ++counters_.calls_failed;
          RespondLocal(ctx.server, 503, "Service Unavailable", {WarningHeader(s.message())});
        }
        return;
      }
    }
    if (ctx.initial) {
      MarkShared(*call);
      if (code < 200 && call->state == Call::State::kCalling) call->state = Call::State::kEarly;
      if (code >= 200 && code < 300 && call->state != Call::State::kConfirmed) {
        call->state = Call::State::kConfirmed;
        call->answered_at = now_();
        ++counters_.calls_connected;
        setup_seconds_.Observe(static_cast<double>(NowMs() - call->created_ms) / 1000.0);
      }
      if (code >= 300) {
        ++counters_.calls_failed;
        EndCall(ctx.call_key);
      }
    }
  }
  if (ctx.server == 0) return;  // our own BYE
  ++counters_.forwarded_responses;
  (void)txns_.Respond(ctx.server, *std::move(fwd));
}

void Proxy::FinishCancelledBranch(Call& call, int code) {
  if (code < 200) return;
  if (code < 300) {
    // The callee answered after all: it has a dialog nobody wants.
    call.state = Call::State::kConfirmed;
    SendBye(call, /*to_caller=*/false);
  }
  EndCall(call.Key());
}

void Proxy::OnClientFailure(SipTxnId txn, bool timeout) {
  auto it = clients_.find(txn);
  if (it == clients_.end()) return;
  const ClientContext ctx = it->second;
  clients_.erase(it);
  if (!ctx.qualify_binding.empty()) {
    qualify_pending_.erase(ctx.qualify_binding);
    const size_t nl = ctx.qualify_binding.find('\n');
    Binding removed;
    if (nl != std::string::npos &&
        registrar_.RemoveBinding(ctx.qualify_binding.substr(0, nl),
                                 ctx.qualify_binding.substr(nl + 1), &removed)) {
      ++counters_.qualify_dead;
      keepalives_.Removed({removed});
      learner_.Removed({removed});
    }
    return;
  }
  // A probe's loss is the learner's to decide, on its own timeout.
  if (!ctx.probe_binding.empty()) return;
  if (ctx.peer_probe) {
    peers_->ProbeDone(*ctx.peer_probe, 0);
    return;
  }
  if (ctx.peer_register) return PeerRegisterAnswered(ctx, nullptr);
  if (ctx.peer_branch && PeerBranchAnswered(ctx, 0, nullptr)) return;
  if (ctx.fork) {
    // A branch that never answered counts as its 408; the caller hears
    // only when every branch is final.
    const ForkedInvite::Verdict v = ctx.fork->context.OnResponse(ctx.fork_branch, 0);
    if (!v.forward_best) return;
    if (std::optional<SipMessage>& best = ctx.fork->best) {
      ClientContext plain = ctx;
      plain.fork = nullptr;
      return RelayResponse(plain, *best, best->status_code());
    }
    // No branch answered at all: the caller's 408 or 503, below.
  }
  if (ctx.initial) {
    const Call* call = calls_.Find(ctx.call_key);
    // A cancelled call did not fail: its caller chose to end it.
    if (call == nullptr || !call->cancelled) ++counters_.calls_failed;
    EndCall(ctx.call_key);
  }
  if (ctx.server == 0) return;
  if (timeout) {
    RespondLocal(ctx.server, 408, "Request Timeout");
  } else {
    RespondLocal(ctx.server, 503, "Service Unavailable",
                 {WarningHeader("the next hop could not be reached")});
  }
}

void Proxy::OnTransactionEnd(SipTxnId txn) {
  clients_.erase(txn);
  probe_txns_.erase(txn);
  invite_servers_.erase(txn);
}

void Proxy::OnStrayResponse(SipMessage& response, const SipInbound& in) {
  // A 2xx retransmission from the callee after its INVITE transaction
  // ended (RFC 3261 16.7): only if the top Via is ours, back to the phone
  // that sent the request. A provisional response after the final one
  // (sent late by a next hop with several workers) is not forwarded
  // (16.7 step 5).
  if (response.status_code() < 200) {
    ++counters_.dropped;
    return;
  }
  const SipVia via = response.top_via();
  if (!IsLocalHost(via.host, via.port)) {
    ++counters_.dropped;
    return;
  }
  Call* call = calls_.Find(StrayResponseKey(response));
  if (call == nullptr) {
    ++counters_.dropped;
    return;
  }
  // Only the callee's own dialog goes on to the caller. An answer from a
  // branch we left (a silent peer hop that woke up): a 2xx is released
  // here, anything else dropped.
  const bool from_caller_side = response.from().tag == call->caller.tag;
  // (While the call rings its live branch has a transaction, so a stray
  // answer then is from a branch we left too.)
  const bool other_dialog = call->state != Call::State::kConfirmed ||
                            (!call->callee.tag.empty() && response.to().tag != call->callee.tag);
  if (from_caller_side && other_dialog) {
    ++counters_.dropped;
    const int code = response.status_code();
    if (code >= 200 && code < 300) {
      CallSide late;
      late.natted = true;  // answer where it came from
      late.route = SipRoute{in.source, in.transport, in.channel};
      ++counters_.fork_answers_released;
      ReleaseAnswer(late, response);
    }
    return;
  }
  if (!ForwardStrayResponse(*call, response)) ++counters_.stray_unforwardable;
}

bool Proxy::ForwardStrayResponse(Call& call, SipMessage& response) {
  const bool to_caller = response.from().tag == call.caller.tag;
  const CallSide& side = to_caller ? call.caller : call.callee;
  auto fwd = response.Clone();
  if (!fwd.ok() || !fwd->PopVia().ok()) return false;
  std::optional<SipRoute> route = RouteToSide(side, *fwd);
  if (!side.natted && side.route.transport == SipTransportKind::kUdp) route = side.route;
  if (!route) return false;
  if (response.status_code() < 300 && response.has_sdp_body()) {
    // Same SDP as the first 2xx: the rewrite only reads the recorded relays.
    if (!ApplySdp(call, !to_caller, response, *fwd).ok()) return false;
  }
  auto bytes = fwd->Serialize();
  if (!bytes.ok()) return false;
  ++counters_.stateless_forwards;
  (void)channels_.send(*bytes, *route);
  return true;
}

// ---------------------------------------------------------------------------
// Periodic work and the dataplane

void Proxy::ApplyBindingChanges(const std::vector<BindingChange>& changes,
                                uint32_t first_keepalive_within_ms) {
  keepalives_.Apply(changes, first_keepalive_within_ms);
  learner_.Apply(changes, NowMs());
}

bool Proxy::PruneExpired(size_t budget) {
  const int64_t now = now_();
  if (!registrar_.HasExpired(now)) return false;
  std::vector<Binding> expired;
  // Bounded in time as well as count (kPruneSliceTime).
  (void)registrar_.PruneExpired(now, &expired, budget,
                                std::chrono::steady_clock::now() + kPruneSliceTime);
  keepalives_.Removed(expired);
  learner_.Removed(expired);
  return registrar_.HasExpired(now);
}

void Proxy::Tick() {
  const int64_t now = now_();
  (void)PruneExpired(kPruneSlice);
  learner_.Tick(NowMs());
  AbandonSettledProbes();
  if (peers_ != nullptr) PeerTimers();
  if (config_.qualify_interval_s > 0) Qualify(now);
  if (now != last_ring_check_) {
    last_ring_check_ = now;
    // Timer C: once a second is plenty for a three-minute timer.
    calls_.ForEach([&](Call& call) {
      if (call.state != Call::State::kConfirmed && call.client_invite != 0 &&
          !call.ring_timeout_sent && now - call.created_at >= config_.max_ringing_s) {
        call.ring_timeout_sent = true;
        ++counters_.calls_ring_timeout;
        CancelBranches(call);
      }
    });
  }
  for (const DataplaneEvent& e : link_.PollEvents()) {
    if (event_filter_ && event_filter_(e)) continue;
    if (e.event == "latched" || e.event == "relatched") {
      RecordLatch(e);
      continue;
    }
    if (e.event != "idle") continue;
    Call* call = calls_.FindByPair(e.pair);
    if (call == nullptr) {
      // A pair nobody owns (a predecessor's): free its ports.
      DeletePair(e.pair, /*wait=*/false);
      continue;
    }
    // A ringing call has no media yet; only an answered call's silence
    // means a phone is gone.
    if (call->state != Call::State::kConfirmed) continue;
    ++counters_.calls_ended_idle;
    SendBye(*call, /*to_caller=*/true);
    SendBye(*call, /*to_caller=*/false);
    EndCall(call->Key());
  }
}

void Proxy::PeerTimers() {
  const int64_t now_ms = NowMs();
  std::vector<std::string> silent;
  for (const auto& [key, branch] : peer_branches_) {
    const uint32_t timeout_ms = peers_->peer(branch.current.peer).answer_timeout_ms;
    if (!branch.answered && now_ms - branch.sent_ms >= timeout_ms) silent.push_back(key);
  }
  for (const std::string& key : silent) {
    Call* call = calls_.Find(key);
    auto it = peer_branches_.find(key);
    if (call == nullptr || it == peer_branches_.end()) continue;
    ++counters_.peer_no_answer;
    // Nothing came back, not even 100: no CANCEL can be sent (RFC 3261
    // 9.1), the transaction just stops retransmitting.
    const SipTxnId silent_txn = call->client_invite;
    auto ctx = clients_.find(silent_txn);
    if (ctx == clients_.end()) continue;
    const ClientContext copy = ctx->second;
    clients_.erase(ctx);
    txns_.Abandon(silent_txn);
    if (PeerBranchAnswered(copy, 0, nullptr)) continue;
    if (!call->cancelled) ++counters_.calls_failed;
    EndCall(key);
    RespondLocal(copy.server, 408, "Request Timeout",
                 {WarningHeader("no peer of the route answered")});
  }
  for (PeerTargetRef t : peers_->ProbesDue(now_ms)) SendPeerProbe(t);
  for (uint32_t p = 0; p < peers_->size(); ++p) {
    PeerRegistration* r = peers_->registration(p);
    if (r != nullptr && r->Due(now_ms)) SendPeerRegister(p, std::nullopt);
  }
  if (locator_ == nullptr) return;
  for (PeerTargetRef t : peers_->LocationsDue(now_ms)) {
    locator_->Locate(peers_->target(t).parts,
                     [this, t](absl::StatusOr<std::vector<SipHop>> hops) {
                       if (!hops.ok()) {
                         const std::string& uri = peers_->target(t).uri;
                         RTPLATCH_LOG_FROM(Warning, uri, "peer %s target %s: %s",
                                           peers_->peer(t.peer).name.c_str(), uri.c_str(),
                                           std::string(hops.status().message()).c_str());
                       }
                       peers_->Located(t, hops, NowMs());
                     });
  }
}

void Proxy::SendPeerRegister(uint32_t p, std::optional<PeerTargetRef> hop,
                             absl::string_view auth_header, absl::string_view auth_value) {
  PeerRegistration& r = *peers_->registration(p);
  const int64_t now_ms = NowMs();
  if (!hop) {
    std::vector<PeerTargetRef> hops = peers_->HopsOf(p);
    if (hops.empty()) {
      r.Sent(now_ms);
      r.Answered(0, 0, "no hop: the peer is not located yet", now_ms);
      return;
    }
    hop = hops.front();
  }
  absl::StatusOr<SipRoute> route = RouteToPeer(*hop);
  std::optional<Endpoint> us =
      route.ok() ? Advertised(!route->dest.ip.is_v4(), route->transport) : std::nullopt;
  const std::optional<UriParts> aor = ParseUri(r.config().aor);
  if (!route.ok() || !us || !aor) {
    r.Sent(now_ms);
    r.Answered(0, 0, route.ok() ? "no local address for it" : std::string(route.status().message()),
               now_ms);
    return;
  }
  if (r.call_id().empty()) {
    r.set_call_id(absl::StrCat("reg-", absl::Hex(absl::HashOf(r.config().aor, NowMs())), "@",
                               config_.domain));
  }
  const uint32_t cseq = r.Sent(now_ms);
  std::string headers = absl::StrCat(
      "From: <", r.config().aor, ">;tag=r", absl::Hex(absl::HashOf(r.call_id())), "\r\nTo: <",
      r.config().aor, ">\r\nCall-ID: ", r.call_id(), "\r\nCSeq: ", cseq,
      " REGISTER\r\nContact: <sip:", r.config().contact_user, "@", HostForUri(us->ip), ":",
      us->port, ">\r\nExpires: ", r.expires_to_send(), "\r\n");
  if (!auth_header.empty()) absl::StrAppend(&headers, auth_header, ": ", auth_value, "\r\n");
  auto request = OwnRequest(absl::StrCat("REGISTER sip:", aor->host, " SIP/2.0"), headers);
  absl::StatusOr<SipTxnId> sent = request.ok() ? SendOwnRequest(*std::move(request), *route)
                                               : absl::StatusOr<SipTxnId>(request.status());
  if (!sent.ok()) {
    r.Answered(0, 0, std::string(sent.status().message()), now_ms);
    return;
  }
  ++counters_.peer_registers_sent;
  ClientContext ctx;
  ctx.peer_register = p;
  ctx.register_id = r.id();
  ctx.register_hop = *hop;
  ctx.register_authenticated = !auth_header.empty();
  clients_[*sent] = std::move(ctx);
}

void Proxy::PeerRegisterAnswered(const ClientContext& ctx, const SipMessage* response) {
  const uint32_t p = *ctx.peer_register;
  // A reload may have taken the registration away, or replaced it, while
  // this was in flight: the answer is not the present one's.
  if (peers_->registration(p) == nullptr || peers_->registration(p)->id() != ctx.register_id) {
    return;
  }
  PeerRegistration& r = *peers_->registration(p);
  const int64_t now_ms = NowMs();
  const int code = response != nullptr ? response->status_code() : 0;
  const PeerConfig& peer = peers_->peer(p);
  if ((code == 401 || code == 407) && !ctx.register_authenticated &&
      !peer.auth_username.empty()) {
    std::vector<SipChallenge> challenges = response->challenges(code == 407);
    const std::optional<UriParts> aor = ParseUri(r.config().aor);
    if (!challenges.empty() && aor) {
      absl::StatusOr<std::string> answer = AnswerDigestChallenge(
          challenges.front(), peer.auth_username, peer.auth_password, "REGISTER",
          absl::StrCat("sip:", aor->host), txns_.NewBranch());
      if (answer.ok()) {
        r.Challenged();
        return SendPeerRegister(p, ctx.register_hop,
                                code == 407 ? "Proxy-Authorization" : "Authorization", *answer);
      }
    }
  }
  // The expiry the peer granted: our Contact's, else Expires, else ours.
  uint32_t granted = 0;
  if (code >= 200 && code < 300) {
    granted = r.config().expires_s;
    if (std::optional<uint32_t> e = response->expires()) granted = *e;
    for (const SipContact& c : response->contacts()) {
      if (c.user == r.config().contact_user && c.expires) granted = *c.expires;
    }
  }
  const std::string error =
      code == 0 ? "no answer" : code >= 300 ? absl::StrCat("answered ", code) : "";
  const bool withdrawing = r.unregister_in_flight();
  r.Answered(code, granted, error, now_ms);
  if (withdrawing) {
    RTPLATCH_LOG(Notice, "peer %s: registration withdrawn (%s)", peer.name.c_str(),
                 error.empty() ? "answered" : error.c_str());
  } else if (code >= 300 || code == 0) {
    RTPLATCH_LOG_FROM(Warning, peer.name, "peer %s: REGISTER %s", peer.name.c_str(),
                      error.c_str());
  }
}

void Proxy::SendPeerProbe(const PeerTargetRef& target) {
  absl::StatusOr<SipRoute> route = RouteToPeer(target);
  const uint64_t n = ++qualify_counter_;
  const std::string uri = PeerRequestUri(target, "");
  auto options = OwnRequest(
      absl::StrCat("OPTIONS ", uri, " SIP/2.0"),
      absl::StrCat("From: <sip:peer-probe@", config_.domain, ">;tag=p", absl::Hex(n),
                   "\r\nTo: <", uri, ">\r\nCall-ID: p", absl::Hex(n), "@", config_.domain,
                   "\r\nCSeq: 1 OPTIONS\r\n"));
  absl::StatusOr<SipTxnId> sent =
      route.ok() && options.ok() ? SendOwnRequest(*std::move(options), *route)
                                 : absl::StatusOr<SipTxnId>(absl::UnavailableError("no route"));
  if (!sent.ok()) {
    peers_->ProbeDone(target, 0);
    return;
  }
  ++counters_.peer_probes_sent;
  ClientContext ctx;
  ctx.peer_probe = target;
  clients_[*sent] = std::move(ctx);
}

void Proxy::Qualify(int64_t now) {
  if (!qualify_in_round_) {
    if (now - qualify_round_started_ < config_.qualify_interval_s) return;
    qualify_round_started_ = now;
    qualify_in_round_ = true;
    qualify_after_.clear();
  }
  // Tick runs ten times a second: a slice per tick spreads the round over
  // a tenth of the interval, so answers are in long before the next round;
  // each slice walks on from the last AOR, never the whole table.
  const size_t ticks = std::max<size_t>(1, config_.qualify_interval_s);
  const size_t slice = std::max<size_t>(1, registrar_.binding_count() / ticks + 1);
  std::vector<Binding> due;
  qualify_after_ = registrar_.ScanLive(qualify_after_, slice, now, [&](const Binding& b) {
    // A binding whose NAT timeout is being learned is probed already;
    // a qualify's answer would also cut the learner's silent gaps short.
    if (b.behind_nat && !b.keepalive_learning) due.push_back(b);
  });
  if (qualify_after_.empty()) qualify_in_round_ = false;
  // Sent after the walk: a send that fails at once may remove a binding.
  for (const Binding& b : due) SendQualify(b);
}

void Proxy::SendQualify(const Binding& b) {
  const std::string key = absl::StrCat(b.aor, "\n", b.contact_uri);
  if (qualify_pending_.contains(key)) return;
  std::optional<SipTxnId> sent = SendOptions(b, "qualify");
  if (!sent) return;  // TCP: the connection is gone; the binding expires
  ++counters_.qualify_sent;
  qualify_pending_[key] = true;
  ClientContext ctx;
  ctx.qualify_binding = key;
  clients_[*sent] = std::move(ctx);
}

bool Proxy::SendProbe(const Binding& b, uint64_t probe_id) {
  std::optional<SipTxnId> sent = SendOptions(b, "keepalive-probe");
  if (!sent) return false;
  ClientContext ctx;
  ctx.probe_binding = KeepaliveLearner::KeyOf(b);
  ctx.probe_id = probe_id;
  probe_txns_[*sent] = {ctx.probe_binding, probe_id};
  clients_[*sent] = std::move(ctx);
  return true;
}

void Proxy::AbandonSettledProbes() {
  // A probe the learner no longer waits for (lost, void, learned) must not
  // go on retransmitting for Timer F's 32 s: a late copy would reach the
  // phone after the verdict, in the middle of whatever it does next.
  std::vector<SipTxnId> settled;
  for (const auto& [txn, probe] : probe_txns_) {
    const KeepaliveLearning* s = learner_.Find(probe.first);
    if (s == nullptr || !s->probe_sent_ms || s->probe_id != probe.second) settled.push_back(txn);
  }
  for (SipTxnId txn : settled) {
    probe_txns_.erase(txn);
    txns_.Abandon(txn);
  }
}

std::optional<SipTxnId> Proxy::SendOptions(const Binding& b, absl::string_view from_user) {
  absl::StatusOr<SipRoute> route = RouteToSource(b);
  if (!route.ok()) return std::nullopt;
  const uint64_t n = ++qualify_counter_;
  auto options = OwnRequest(
      absl::StrCat("OPTIONS ", b.contact_uri, " SIP/2.0"),
      absl::StrCat("From: <sip:", from_user, "@", config_.domain, ">;tag=q", absl::Hex(n),
                   "\r\nTo: <", b.contact_uri, ">\r\nCall-ID: q", absl::Hex(n), "-",
                   absl::Hex(absl::HashOf(b.aor, b.contact_uri)), "@", config_.domain,
                   "\r\nCSeq: 1 OPTIONS\r\n"));
  if (!options.ok()) return std::nullopt;
  auto sent = SendOwnRequest(*std::move(options), *route);
  if (!sent.ok()) return std::nullopt;
  return *sent;
}

void Proxy::OnDataplaneConnected() {
  PairRepush repush(link_, CallTable::kPairLabelPrefix);
  // Pair ids restart at 1 in a restarted dataplane: drop every old id from
  // the index first, or a new pair of one call could be unindexed as
  // another call's old one.
  calls_.ForEach([&](Call& call) {
    for (const MediaLine& line : call.media) calls_.UnindexPair(line.pair);
  });
  calls_.ForEach([&](Call& call) {
    for (size_t i = 0; i < call.media.size(); ++i) {
      MediaLine& line = call.media[i];
      const LegSpec a{call.caller.media_ipv6, line.peer_a, call.caller.policy, line.rtcp_mux_a,
                      line.relay_a};
      const LegSpec b{call.callee.media_ipv6, line.peer_b, call.callee.policy, line.rtcp_mux_b,
                      line.relay_b};
      PairIds ids{line.pair, line.stream_a, line.stream_b};
      absl::StatusOr<bool> fresh = repush.Keep(ids, call.PairLabel(i), a, b);
      if (!fresh.ok()) {
        ++counters_.repush_failures;
        continue;
      }
      line.pair = ids.pair;
      line.stream_a = ids.stream_a;
      line.stream_b = ids.stream_b;
      if (*fresh) ++counters_.pairs_repushed;
    }
    calls_.IndexPairs(call);
  });
  for (uint64_t pair : repush.Strangers()) DeletePair(pair, /*wait=*/true);
  // The keepalive targets go in slices (ReinstallKeepalives): a million
  // at once would stop SIP for seconds.
  RestartKeepaliveReinstall();
}

void Proxy::RestartKeepaliveReinstall() {
  reinstall_pending_ = keepalives_.BeginReinstall();
  reinstall_after_.clear();
}

bool Proxy::ReinstallKeepalives(size_t budget) {
  if (!reinstall_pending_) return false;
  std::vector<Binding> slice;
  reinstall_after_ = registrar_.ScanLive(reinstall_after_, budget, now_(), [&](const Binding& b) {
    if (b.keepalive_interval_ms != 0) slice.push_back(b);
  });
  // A refusal or a lost link stops the walk: the next connection starts
  // it over.
  reinstall_pending_ = keepalives_.InstallSlice(slice) && !reinstall_after_.empty();
  return reinstall_pending_;
}

nlohmann::json Proxy::CallsJson() const {
  nlohmann::json out = nlohmann::json::array();
  const int64_t now = now_();
  calls_.ForEach([&](const Call& c) { out.push_back(CallToJson(c, now)); });
  return out;
}

nlohmann::json Proxy::StatsJson() const {
  nlohmann::json out = CountersJson();
  out["proxy"].update(ClusterCountersJson());
  return out;
}

nlohmann::json Proxy::CountersJson() const {
  const ProxyCounters& c = counters_;
  const SipTransactionCounters& t = txns_.counters();
  const DataplaneLinkCounters& d = link_.counters();
  const KeepaliveSyncCounters& k = keepalives_.counters();
  const KeepaliveLearnerCounters& l = learner_.counters();
  return {{"calls", calls_.size()},
          {"transactions", txns_.size()},
          {"dataplane_connected", link_.connected()},
          {"dataplane_last_error", link_.last_error()},
          {"proxy",
           {{"requests", c.requests},
            {"bad_extensions", c.bad_extensions},
            {"registers", c.registers},
            {"invites", c.invites},
            {"calls_connected", c.calls_connected},
            {"calls_failed", c.calls_failed},
            {"calls_cancelled", c.calls_cancelled},
            {"calls_ended_bye", c.calls_ended_bye},
            {"calls_ended_idle", c.calls_ended_idle},
            {"auth_challenges", c.auth_challenges},
            {"raw_challenges", c.raw_challenges},
            {"request_challenges", c.request_challenges},
            {"rejected_dataplane", c.rejected_dataplane},
            {"forwarded_requests", c.forwarded_requests},
            {"forwarded_responses", c.forwarded_responses},
            {"stateless_forwards", c.stateless_forwards},
            {"dropped", c.dropped},
            {"stray_unforwardable", c.stray_unforwardable},
            {"in_dialog_unknown", c.in_dialog_unknown},
            {"flow_token_routed", c.flow_token_routed},
            {"flow_token_refused", c.flow_token_refused},
            {"flow_failed", c.flow_failed},
            {"pairs_allocated", c.pairs_allocated},
            {"pairs_deleted", c.pairs_deleted},
            {"pair_delete_failures", c.pair_delete_failures},
            {"pairs_repushed", c.pairs_repushed},
            {"repush_failures", c.repush_failures},
            {"qualify_sent", c.qualify_sent},
            {"qualify_answered", c.qualify_answered},
            {"qualify_dead", c.qualify_dead},
            {"calls_ring_timeout", c.calls_ring_timeout},
            {"calls_to_peers", c.calls_to_peers},
            {"calls_from_peers", c.calls_from_peers},
            {"peer_failovers", c.peer_failovers},
            {"peer_no_answer", c.peer_no_answer},
            {"peer_probes_sent", c.peer_probes_sent},
            {"peers_recovered", c.peers_recovered},
            {"peer_challenges_answered", c.peer_challenges_answered},
            {"peer_registers_sent", c.peer_registers_sent},
            {"dns_lookups", c.dns_lookups},
            {"dns_failures", c.dns_failures},
            {"calls_forked", c.calls_forked},
            {"fork_branches_cancelled", c.fork_branches_cancelled},
            {"fork_answers_released", c.fork_answers_released}}},
          {"transaction_layer",
           {{"server_created", t.server_created},
            {"client_created", t.client_created},
            {"retransmissions_absorbed", t.retransmissions_absorbed},
            {"completed_evicted", t.completed_evicted},
            {"stray_responses", t.stray_responses},
            {"stray_acks", t.stray_acks},
            {"timeouts", t.timeouts},
            {"transport_errors", t.transport_errors}}},
          {"dataplane_link",
           {{"calls", d.calls}, {"failures", d.call_failures}, {"reconnects", d.reconnects},
            {"events", d.events}, {"posted", d.posted}, {"posted_failures", d.posted_failures}}},
          {"keepalive_learning",
           {{"learning", learner_.size()}, {"started", l.started},
            {"probes_sent", l.probes_sent}, {"probes_answered", l.probes_answered},
            {"probes_lost", l.probes_lost}, {"probes_unsendable", l.probes_unsendable},
            {"learned", l.learned}, {"learned_shorter", l.learned_shorter},
            {"abandoned", l.abandoned}}},
          {"keepalives",
           {{"targets", keepalives_.size()}, {"installed", k.installed}, {"removed", k.removed},
            {"updated", k.updated}, {"failures", k.failures}, {"reinstalls", k.reinstalls},
            {"skipped_no_source", k.skipped_no_source}}}};
}

}  // namespace rtplatch
