#include "control/control_plane.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/logger.h"
#include "common/monotonic_clock.h"
#include "control/memory_release.h"
#include "control/guard/raw_response.h"
#include "control/config_reload.h"
#include "control/operator/control_metrics.h"

namespace rtplatch {
namespace {

// How long one epoll_wait may sleep: oSIP2's timers (T1 = 500 ms) and the
// operator socket are served between waits, so this bounds their latency.
constexpr int kPollTimeoutMs = 10;
// Other nodes' binding changes applied per loop round: a full read of the
// shared table after a reconnect (a million of them) goes in slices that
// each cost about a millisecond, between SIP reads.
constexpr size_t kRemoteSlice = 256;
constexpr int64_t kTimerPeriodMs = 10;  // retransmissions, timeouts
constexpr int64_t kTickPeriodMs = 100;  // dataplane events, binding expiry
// Free heap kept for reuse, and what a tick gives back beyond it: 80 MB/s,
// a fraction of a millisecond of madvise a tick.
constexpr size_t kKeptFreeHeapBytes = size_t{32} << 20;
constexpr size_t kReleaseSliceBytes = size_t{8} << 20;
// Binding changes go to the store's writer (binding_writer.h) when a
// round brought no input (the loop is idle: at once) and otherwise at most
// this long after the last hand-over, so a registrar under load wakes the
// writer once an interval, not every round. A kill -9 loses at most this
// much of the latest REGISTERs and the batch the writer is committing
// (their phones re-register), as synchronous=NORMAL accepts for power loss.
constexpr int64_t kCommitIntervalMs = 50;

int64_t UnixNow() { return static_cast<int64_t>(::time(nullptr)); }

// The users file at `path`; none (an empty list) when the config names none.
absl::StatusOr<std::unique_ptr<UsersFile>> LoadUsersFile(const std::string& path) {
  return path.empty() ? UsersFile::Parse("", "(no users_file)") : UsersFile::Load(path);
}

// Addresses a Request-URI may name to mean us: the listen addresses, and
// for a wildcard listen address every interface address of its family.
std::vector<IpAddress> LocalAddresses(const std::vector<Endpoint>& listen) {
  std::vector<IpAddress> out;
  auto add = [&out](const IpAddress& ip) {
    if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
  };
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) ifs = nullptr;
  for (const Endpoint& ep : listen) {
    if (!ep.ip.is_unspecified()) {
      add(ep.ip);
      continue;
    }
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr) continue;
      if (ep.ip.is_v4() && i->ifa_addr->sa_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
        add(IpAddress::FromV4Bytes(reinterpret_cast<const uint8_t*>(&sin->sin_addr)));
      } else if (!ep.ip.is_v4() && i->ifa_addr->sa_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
        add(IpAddress::FromV6Bytes(reinterpret_cast<const uint8_t*>(&sin6->sin6_addr)));
      }
    }
  }
  if (ifs != nullptr) ::freeifaddrs(ifs);
  return out;
}

// mkdir -p of `path`'s directory, for the database and sockets.
void MakeParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  std::string dir;
  for (absl::string_view part : absl::StrSplit(path.substr(0, slash), '/', absl::SkipEmpty())) {
    absl::StrAppend(&dir, path[0] == '/' || !dir.empty() ? "/" : "", part);
    ::mkdir(dir.c_str(), 0755);
  }
}

// Where phones reach us, per family: explicit listen addresses first,
// then the configured advertised ones (for wildcard listens).
struct Advertised {
  std::optional<Endpoint> v4, v6;
};
Advertised AdvertisedEndpoints(const ControlConfig& config) {
  Advertised out;
  auto offer = [&out](const Endpoint& ep) {
    auto& slot = ep.ip.is_v4() ? out.v4 : out.v6;
    if (!slot) slot = ep;
  };
  for (const Endpoint& ep : config.sip_listen) {
    if (!ep.ip.is_unspecified()) offer(ep);
  }
  for (const Endpoint& ep : config.advertised) offer(ep);
  return out;
}

ProxyConfig ProxyConfigFrom(const ControlConfig& config, const Advertised& advertised) {
  ProxyConfig pc;
  pc.domain = absl::AsciiStrToLower(config.domain);
  pc.local_addresses = LocalAddresses(config.sip_listen);
  for (const Endpoint& ep : config.sip_listen) pc.local_ports.push_back(ep.port);
  for (const Endpoint& ep : config.advertised) pc.local_ports.push_back(ep.port);
  pc.advertised_v4 = advertised.v4;
  pc.advertised_v6 = advertised.v6;
  // TLS: the listener's address, else the advertised address of its
  // family at the listener's port.
  for (const Endpoint& ep : config.tls_listen) {
    pc.local_ports.push_back(ep.port);
    const std::optional<Endpoint>& plain = ep.ip.is_v4() ? advertised.v4 : advertised.v6;
    std::optional<Endpoint>& slot = ep.ip.is_v4() ? pc.advertised_tls_v4 : pc.advertised_tls_v6;
    if (slot) continue;
    if (!ep.ip.is_unspecified()) {
      slot = ep;
    } else if (plain) {
      slot = Endpoint{plain->ip, ep.port};
    }
  }
  pc.authenticate_calls = config.authenticate;
  pc.shared_addresses = config.cluster.vips;
  pc.anchor_media_always = config.anchor_media_always;
  pc.server_header = config.server_header;
  pc.qualify_interval_s = config.qualify_interval_s;
  pc.max_ringing_s = config.max_ringing_s;
  return pc;
}

}  // namespace

ControlPlane::ControlPlane(ControlConfig config) : config_(std::move(config)) {}

ControlPlane::~ControlPlane() = default;

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Create(ControlConfig config) {
  if (config.domain.empty()) {
    return absl::InvalidArgumentError(
        "config: domain: required (the SIP domain this registrar serves)");
  }
  std::unique_ptr<ControlPlane> plane(new ControlPlane(std::move(config)));
  plane->loaded_json_ = plane->config_.source_json;
  if (absl::Status s = plane->OpenRegistrar(); !s.ok()) return s;
  if (absl::Status s = plane->OpenSip(); !s.ok()) return s;
  if (absl::Status s = plane->OpenOperatorSocket(); !s.ok()) return s;
  if (absl::Status s = plane->OpenMetrics(); !s.ok()) return s;
  if (absl::Status s = plane->OpenCluster(); !s.ok()) return s;
  if (!plane->config_.ng_listen.empty()) {
    NgCalls* calls = plane->ng_calls_.get();
    auto ng = NgServer::Create(plane->config_.ng_listen,
                               [calls](const NgRequest& r, const Endpoint& from) {
                                 return calls->Handle(r, from);
                               });
    if (!ng.ok()) return ng.status();
    plane->ng_ = *std::move(ng);
    for (int fd : plane->ng_->fds()) {
      if (absl::Status s = plane->transport_->WakeOnReadable(fd); !s.ok()) return s;
    }
  }
  // First contact with the dataplane (reconciles keepalive targets with
  // the bindings loaded from the database); retried from the loop.
  (void)plane->link_->EnsureConnected();
  // What loading the users file and the bindings freed goes back now,
  // before anything is served.
  ReleaseAllFreeHeap();
  return plane;
}

absl::Status ControlPlane::OpenRegistrar() {
  // Each step's time is logged: a restart's length is the operator's
  // question after a crash, and with a million bindings it is seconds.
  const int64_t t_start = MonotonicMs();
  auto users = LoadUsersFile(config_.users_file);
  if (!users.ok()) return users.status();
  const size_t accounts = (*users)->size();
  users_ = std::make_unique<ReloadableUsers>(*std::move(users));
  const int64_t t_users = MonotonicMs();
  std::unique_ptr<BindingStore> store;
  if (!config_.database.empty()) {
    MakeParentDir(config_.database);
    auto opened = BindingStore::Open(config_.database);
    if (!opened.ok()) return opened.status();
    store = *std::move(opened);
  }
  const int64_t t_store = MonotonicMs();
  auto policies = NatPolicyTable::FromJson(config_.nat_policy);
  if (!policies.ok()) return policies.status();
  policies_ = std::make_unique<NatPolicyTable>(*std::move(policies));

  RegistrarConfig rc = config_.registrar;
  rc.domain = absl::AsciiStrToLower(config_.domain);
  rc.server_header = config_.server_header;
  rc.require_auth = config_.authenticate;
  auto registrar =
      Registrar::Create(rc, *users_, store.get(), config_.inside_prefixes, *policies_);
  if (!registrar.ok()) return registrar.status();
  registrar_ = *std::move(registrar);
  RTPLATCH_LOG(Info,
               "registrar: %zu accounts read in %lld ms, binding store opened in %lld ms, "
               "%zu bindings loaded in %lld ms",
               accounts, static_cast<long long>(t_users - t_start),
               static_cast<long long>(t_store - t_users), registrar_->binding_count(),
               static_cast<long long>(MonotonicMs() - t_store));
  if (store != nullptr) {
    // Loaded: from here on the store is written off the event loop.
    auto writer = BindingWriter::Start(std::move(store));
    if (!writer.ok()) return writer.status();
    writer_ = *std::move(writer);
    registrar_->set_sink(writer_.get());
  }
  return absl::OkStatus();
}

absl::Status ControlPlane::OpenCluster() {
  if (config_.cluster.node.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<RedisLink>> link = RedisLink::Start({
      .server = config_.cluster.redis,
      .sentinels = config_.cluster.sentinels,
      .master_name = config_.cluster.master,
      .node = config_.cluster.node,
      .prefix = config_.cluster.prefix,
  });
  if (!link.ok()) return link.status();
  redis_ = *std::move(link);
  shared_ = std::make_unique<SharedBindings>(*redis_, *registrar_, nodes_, config_.cluster.vips);
  vips_ = std::make_unique<VipOwnership>(
      config_.cluster.vips, *redis_, *registrar_,
      [this](const IpAddress& vip, bool take) { return link_->SetAddressHeld(vip, take); });
  SetHeartbeat();
  registrar_->set_replica(shared_.get());
  shared_calls_ = std::make_unique<SharedCalls>(*redis_);
  proxy_->set_call_replica(shared_calls_.get());
  // Busy: drained by the operator, or shedding load.
  node_routing_ = std::make_unique<NodeRouting>(nodes_, *vips_, MonotonicMs, [this] {
    return draining_ || (shedder_ && shedder_->overloaded());
  });
  proxy_->set_node_router(node_routing_.get());
  // The other nodes' changes are applied as soon as they arrive.
  return transport_->WakeOnReadable(redis_->wake_fd());
}

absl::Status ControlPlane::OpenSip() {
  const Advertised advertised = AdvertisedEndpoints(config_);
  link_ = std::make_unique<DataplaneLink>(DataplaneLink::Options{
      .socket_path = config_.dataplane_socket,
      .timeout_ms = config_.dataplane_timeout_ms,
      .retry_interval_ms = 1000,
      .on_reconnect =
          [this] {
            // A restarted dataplane holds no VIP: the taken ones again first.
            if (vips_) vips_->Reassert();
            proxy_->OnDataplaneConnected();
            ng_calls_->OnDataplaneConnected();
          },
  });
  ng_calls_ = std::make_unique<NgCalls>(config_.ng, *link_, UnixNow, MonotonicMs);
  KeepaliveSync::Options ko;
  ko.payload = config_.keepalive_payload;
  if (advertised.v4) ko.advertised_v4 = advertised.v4->ip;
  if (advertised.v6) ko.advertised_v6 = advertised.v6->ip;
  ko.may_send_from = [this](const IpAddress& source) {
    return vips_ == nullptr || vips_->MayKeepAlive(source);
  };
  keepalives_ = std::make_unique<KeepaliveSync>(*link_, ko);

  ProxyConfig pc = ProxyConfigFrom(config_, advertised);
  auto tokens = FlowTokens::WithRandomKey();  // SIP Outbound's
  if (!tokens.ok()) return tokens.status();
  pc.flow_tokens = *std::move(tokens);
  StatelessCore::Options so;
  so.local_addresses = pc.local_addresses;
  so.local_ports = pc.local_ports;
  so.server_header = config_.server_header;
  stateless_ = std::make_unique<StatelessCore>(std::move(so));

  if (!config_.tls_listen.empty()) {
    auto tls = SipTls::Create(config_.tls);
    if (!tls.ok()) return tls.status();
    tls_ = *std::move(tls);
  }
  auto transport = SipTransport::Create(
      config_.sip_listen, [this](const SipInbound& in) { OnInbound(in); }, config_.tls_listen,
      tls_.get(), config_.cluster.vips);
  if (!transport.ok()) return transport.status();
  transport_ = *std::move(transport);
  SipTransport& transport_ref = *transport_;
  auto send = [&transport_ref](absl::string_view bytes, const SipRoute& r) {
    return transport_ref.Send(bytes, r.dest, r.transport, r.channel);
  };
  auto transactions = SipTransactions::Create(*this, send);
  if (!transactions.ok()) return transactions.status();
  transactions_ = *std::move(transactions);

  Proxy::Channels channels;
  channels.udp_socket_for = [&transport_ref](const Endpoint& local) {
    return transport_ref.UdpSocketFor(local);
  };
  channels.tcp_connection_to = [&transport_ref](const Endpoint& peer) {
    return transport_ref.TcpConnectionTo(peer);
  };
  channels.local_of = [&transport_ref](SipChannelId channel) {
    return transport_ref.LocalOf(channel);
  };
  channels.send = send;
  channels.connect = [&transport_ref](const Endpoint& dest, SipTransportKind t,
                                      const std::string& host) {
    return transport_ref.Connect(dest, t, host);
  };
  proxy_ = std::make_unique<Proxy>(std::move(pc), *registrar_, *link_, *keepalives_,
                                   config_.inside_prefixes, *policies_, *transactions_,
                                   std::move(channels), UnixNow, MonotonicMs);
  if (absl::Status s = OpenEdge(); !s.ok()) return s;
  OpenGuard();
  NgCalls& ng_calls = *ng_calls_;
  proxy_->set_event_filter(
      [&ng_calls](const DataplaneEvent& e) { return ng_calls.OnDataplaneEvent(e); });
  return absl::OkStatus();
}

absl::Status ControlPlane::OpenEdge() {
  SipTransport& transport_ref = *transport_;
  // DNS for named peers: c-ares's sockets wake the loop like SIP's.
  auto dns = DnsResolver::Create(config_.dns, MonotonicMs,
                                 [&transport_ref](int fd, bool read, bool write) {
                                   if (read || write) {
                                     (void)transport_ref.WakeOnReadable(fd);
                                   } else {
                                     transport_ref.StopWaking(fd);
                                   }
                                 });
  if (!dns.ok()) return dns.status();
  dns_ = *std::move(dns);
  // Peers over UDP, or over TCP and TLS connections we open (TLS only with
  // our certificate configured).
  std::vector<SipTransportKind> transports = {SipTransportKind::kUdp, SipTransportKind::kTcp};
  if (tls_) transports.push_back(SipTransportKind::kTls);
  locator_ = std::make_unique<SipLocator>(*dns_, std::move(transports));
  peers_ = std::make_unique<PeerSet>(config_.edge.peers);
  dial_plan_ = std::make_unique<DialPlan>(config_.edge.routes);
  proxy_->set_edge(peers_.get(), dial_plan_.get(), locator_.get());
  return absl::OkStatus();
}

void ControlPlane::OpenGuard() {
  if (config_.overload.enabled) {
    shedder_ = std::make_unique<OverloadShedder>(config_.overload);
    refusal_headers_ = {absl::StrCat("Retry-After: ", config_.overload.retry_after_s)};
  }
  if (!config_.guard.enabled) return;
  const PeerSet* peers = peers_.get();
  guard_ = std::make_unique<SipGuard>(
      config_.guard, [peers](const IpAddress& ip) { return peers->FromSource(ip).has_value(); });
  proxy_->set_guard(guard_.get());
}

void ControlPlane::LogOverloadChange(bool was_overloaded) const {
  if (shedder_->overloaded() == was_overloaded) return;
  RTPLATCH_LOG(Warning, "overload: %s (shortest queueing delay %lld ms)",
               was_overloaded ? "over: serving everything again"
                              : "shedding: 503 to new calls, out-of-dialog requests dropped",
               static_cast<long long>(shedder_->last_interval_min_ms()));
}

bool ControlPlane::AdmitUnderLoad(const SipInbound& in, int64_t now_ms) {
  const bool was_overloaded = shedder_->overloaded();
  if (in.queued_ms >= 0 || in.dropped_before > 0) {
    shedder_->Observe(in.queued_ms, in.dropped_before, now_ms);
  }
  LogOverloadChange(was_overloaded);
  switch (shedder_->Decide(in.bytes, in.queued_ms, now_ms)) {
    case ShedVerdict::kPass:
      return true;
    case ShedVerdict::kDrop:
      return false;
    case ShedVerdict::kRefuse:
      break;
  }
  // From the raw lines at a fraction of a parse; through the parser
  // (stateless_core.h) for what is not a plain request.
  if (std::optional<std::string> raw =
          RawStatelessResponse(in.bytes, in.source, 503, "Service Unavailable",
                               config_.server_header, refusal_headers_)) {
    (void)transport_->Send(*raw, in.source, in.transport, in.channel);
    return false;
  }
  std::optional<SipOutbound> reply =
      stateless_->RefuseForOverload(in, shedder_->config().retry_after_s);
  if (reply) (void)transport_->Send(reply->bytes, reply->dest, reply->transport, reply->channel);
  return false;
}

absl::Status ControlPlane::OpenOperatorSocket() {
  OperatorView& view = *this;
  operator_commands_ = std::make_unique<OperatorCommands>(view);
  MakeParentDir(config_.control_socket);
  auto server = ControlServer::Listen(
      config_.control_socket,
      [commands = operator_commands_.get()](absl::string_view line, bool* subscribe) {
        return commands->Handle(line, subscribe);
      });
  if (!server.ok()) return server.status();
  operator_socket_ = *std::move(server);
  return absl::OkStatus();
}

absl::Status ControlPlane::OpenMetrics() {
  if (!config_.metrics_listen) return absl::OkStatus();
  auto server =
      MetricsHttpServer::Start(*config_.metrics_listen, [this] { return RenderMetrics(); });
  if (!server.ok()) return server.status();
  metrics_ = *std::move(server);
  return absl::OkStatus();
}

std::string ControlPlane::RenderMetrics() const {
  const std::optional<BindingStoreCounters> store = registrar_->store_counters();
  return RenderControlMetrics({
      .messages = &transport_->messages(),
      .transport = &transport_->counters(),
      .transactions = &transactions_->counters(),
      .proxy = &proxy_->counters(),
      .setup_seconds = &proxy_->setup_seconds(),
      .calls_active = proxy_->calls().size(),
      .bindings = registrar_->binding_count(),
      .bindings_natted = registrar_->natted_binding_count(),
      .store = store ? &*store : nullptr,
      .link = &link_->counters(),
      .link_connected = link_->connected(),
      .keepalives = &keepalives_->counters(),
      .keepalive_targets = keepalives_->size(),
      .guard = guard_ ? &guard_->counters() : nullptr,
      .overload = shedder_ ? &shedder_->counters() : nullptr,
      .overloaded = shedder_ && shedder_->overloaded(),
      .log_held_back = ProcessLogger().suppressed_total(),
  });
}

void ControlPlane::OnInbound(const SipInbound& in) {
  // Banned, flooding and scanner sources cost no parse. A peer trusted by
  // its certificate is exempt like one trusted by its address.
  const int64_t now_ms = MonotonicMs();
  if (guard_ && !(in.tls_names != nullptr && peers_->FromCertificate(*in.tls_names)) &&
      guard_->Inspect(in.bytes, in.source.ip, now_ms) != GuardVerdict::kPass) {
    return;
  }
  // Over capacity, new work is shed before it costs a parse.
  if (shedder_ && !AdmitUnderLoad(in, now_ms)) return;
  // A REGISTER only to be challenged is answered from its raw lines.
  if (std::optional<std::string> challenge = proxy_->RawChallenge(in)) {
    (void)transport_->Send(*challenge, in.source, in.transport, in.channel);
    proxy_->OnTraffic(in.source);
    return;
  }
  absl::StatusOr<SipMessage> message = SipMessage::Parse(in.bytes);
  if (!message.ok()) {
    // Malformed: 400 with the parser's reason where a reply can be built,
    // else a counted drop (stateless_core.h). Logged per source: one
    // broken phone or scanner cannot fill the log.
    RTPLATCH_LOG_FROM(Notice, in.source.ip.ToString(), "malformed SIP from %s: %.200s",
                      in.source.ToString().c_str(),
                      std::string(message.status().message()).c_str());
    std::optional<SipOutbound> reply = stateless_->Handle(in);
    if (reply) (void)transport_->Send(reply->bytes, reply->dest, reply->transport, reply->channel);
  } else {
    transactions_->Receive(*std::move(message), in);
  }
  // After: a probe's answer has counted before the traffic would void it.
  proxy_->OnTraffic(in.source);
}

absl::Status ControlPlane::RunOnce() {
  const SipTransportCounters& c = transport_->counters();
  const uint64_t before = c.udp_datagrams + c.tcp_messages;
  // Expired bindings still to prune, or keepalive targets still to
  // reinstall: look at the sockets and come back.
  if (absl::Status s = transport_->RunOnce(slices_pending_ ? 0 : kPollTimeoutMs); !s.ok()) {
    return s;
  }
  // The round's posted dataplane updates and deletes: one wait for all.
  link_->Settle();
  const int64_t now_ms = MonotonicMs();
  // The ng and DNS sockets are in the SIP transport's wait set: served at once.
  if (ng_) ng_->Poll(now_ms);
  {
    // DNS answers send requests outside any listener call.
    SipTransactions::Batch batch(*transactions_);
    dns_->Poll();
  }
  slices_pending_ = proxy_->PruneExpired(Proxy::kPruneSlice);
  if (shared_) {
    std::vector<BindingChange> displaced;
    slices_pending_ |= shared_->Poll(kRemoteSlice, UnixNow(), now_ms, displaced);
    proxy_->ApplyBindingChanges(displaced);
  }
  if (vips_) {
    std::vector<BindingChange> adopted;
    slices_pending_ |= vips_->AdoptSlice(kRemoteSlice, UnixNow(), adopted);
    // Their mappings last heard the dead node's keepalives who knows when.
    proxy_->ApplyBindingChanges(adopted, KeepaliveSync::kReinstallFirstWithinMs);
    for (RedisLink::LoadedCalls& loaded : redis_->TakeLoadedCalls()) {
      absl::StatusOr<VipOwnership::View> v = vips_->Find(loaded.vip);
      if (v.ok() && v->taken) proxy_->QueueAdoptedCalls(loaded.vip, std::move(loaded.records));
    }
    slices_pending_ |= proxy_->AdoptCallsSlice(Proxy::kAdoptSlice);
  }
  slices_pending_ |= proxy_->ReinstallKeepalives(Proxy::kReinstallSlice);
  CommitBindingsIfDue(now_ms, c.udp_datagrams + c.tcp_messages == before);
  if (now_ms - last_timers_ms_ >= kTimerPeriodMs) {
    last_timers_ms_ = now_ms;
    transactions_->RunTimers();
    operator_socket_->Poll(0);
    if (metrics_) metrics_->Poll();
  }
  if (now_ms - last_tick_ms_ >= kTickPeriodMs) {
    last_tick_ms_ = now_ms;
    (void)link_->EnsureConnected();
    SipTransactions::Batch batch(*transactions_);  // Tick sends requests too
    proxy_->Tick();
    ng_calls_->Tick();
    if (redis_) SetHeartbeat();
    // A VIP taken or released, its lease lapsed, lost or back: who sends
    // the keepalives of its phones changed.
    if (vips_ && vips_->KeepaliveRightsChanged()) proxy_->RestartKeepaliveReinstall();
    if (guard_) guard_->Tick(now_ms);
    ProcessLogger().FlushSuppressed();
    LogStoreFailures();
    if (shedder_) {
      const bool was_overloaded = shedder_->overloaded();
      shedder_->Tick(now_ms, transport_->udp_drained());
      LogOverloadChange(was_overloaded);
    }
    // A storm's freed memory goes back a slice a tick once it is over.
    if (!(shedder_ && shedder_->overloaded()) && UnreleasedFreeHeap() > kKeptFreeHeapBytes) {
      ReleaseFreeHeap(kReleaseSliceBytes);
    }
  }
  // What the round changed of calls on a VIP: one write per call.
  proxy_->ShareChangedCalls();
  return absl::OkStatus();
}

void ControlPlane::CommitBindingsIfDue(int64_t now_ms, bool round_was_idle) {
  if (!writer_ || (!round_was_idle && now_ms - last_commit_ms_ < kCommitIntervalMs)) return;
  last_commit_ms_ = now_ms;
  writer_->Publish();
}

void ControlPlane::LogStoreFailures() {
  if (!writer_) return;
  const BindingWriter::Failures f = writer_->TakeFailures();
  if (f.count == 0) return;
  // The bindings stay in memory (the registrar answers from it); a
  // binding's next write puts it whole.
  RTPLATCH_LOG(Error, "binding store: %llu changes not written: %s",
               static_cast<unsigned long long>(f.count), f.first.c_str());
}

std::string ControlPlane::StartupSummary() const {
  std::string listening;
  if (config_.sip_listen.empty()) listening = "(no SIP: ng only)";
  for (const Endpoint& ep : config_.sip_listen) {
    absl::StrAppend(&listening, listening.empty() ? "" : " ", "udp+tcp:", ep.ToString());
  }
  if (ng_) {
    for (const Endpoint& ep : ng_->local()) absl::StrAppend(&listening, " ng:", ep.ToString());
  }
  return absl::StrCat("rtplatch-control: listening on ", listening, ", domain '",
                      absl::AsciiStrToLower(config_.domain), "', ",
                      registrar_->binding_count(), " bindings loaded, dataplane ",
                      link_->connected() ? "connected" : "not connected (retrying)");
}

std::string ControlPlane::ShutdownSummary() const {
  const StatelessCoreCounters& c = stateless_->counters();
  std::string drops;
  for (size_t i = 0; i < kSipDropReasonCount; ++i) {
    absl::StrAppend(&drops, " ", kSipDropReasonNames[i], "=", c.dropped[i]);
  }
  return absl::StrCat("shutting down: ", proxy_->StatsJson().dump(),
                      "; malformed: responded=", c.responded, " dropped:", drops,
                      "; transport: ", TransportJson().dump());
}

nlohmann::json ControlPlane::TransportJson() const {
  nlohmann::json j = {{"connections", transport_->tcp_connection_count()}};
  for (const auto& [name, value] : transport_->counters().Named()) j[std::string(name)] = value;
  return j;
}

// SipTransactions::Listener: everything goes to the proxy.
void ControlPlane::OnRequest(SipTxnId txn, SipMessage& request, const SipInbound& in) {
  proxy_->OnRequest(txn, request, in);
}
void ControlPlane::OnStrayAck(SipMessage& ack, const SipInbound& in) {
  proxy_->OnStrayAck(ack, in);
}
void ControlPlane::OnStrayResponse(SipMessage& response, const SipInbound& in) {
  proxy_->OnStrayResponse(response, in);
}
void ControlPlane::OnResponse(SipTxnId txn, SipMessage& response) {
  proxy_->OnResponse(txn, response);
}
void ControlPlane::OnClientFailure(SipTxnId txn, bool timeout) {
  proxy_->OnClientFailure(txn, timeout);
}
void ControlPlane::OnTransactionEnd(SipTxnId txn) { proxy_->OnTransactionEnd(txn); }

// OperatorView
std::string ControlPlane::ScanRegistrations(absl::string_view after, size_t budget, int64_t now,
                                            absl::FunctionRef<void(const Binding&)> fn) const {
  return registrar_->ScanLive(after, budget, now, fn);
}

std::vector<Binding> ControlPlane::RegistrationsOf(absl::string_view aor, int64_t now) const {
  return registrar_->Lookup(aor, now);
}

std::vector<Binding> ControlPlane::RegistrationsPage(size_t offset, size_t limit,
                                                     int64_t now) const {
  return registrar_->Page(offset, limit, now);
}

size_t ControlPlane::RegistrationCount() const { return registrar_->binding_count(); }
nlohmann::json ControlPlane::Calls() const { return proxy_->CallsJson(); }
nlohmann::json ControlPlane::Peers() const { return peers_->ToJson(MonotonicMs()); }
nlohmann::json ControlPlane::Stats() const {
  nlohmann::json stats = proxy_->StatsJson();
  stats["dns"] = dns_->StatsJson();
  stats["transport"] = TransportJson();
  stats["guard"] = GuardJson();
  stats["overload"] = OverloadJson();
  if (ng_) {
    nlohmann::json ng = ng_calls_->StatsJson();
    const NgServerCounters& c = ng_->counters();
    ng["datagrams"] = c.datagrams;
    ng["replies"] = c.replies;
    ng["error_replies"] = c.error_replies;
    ng["dropped"] = c.dropped;
    ng["retransmissions_answered"] = ng_->cache().counters().hits;
    stats["ng"] = std::move(ng);
  }
  if (shared_) stats["cluster"] = ClusterJson();
  if (const std::optional<BindingStoreCounters> c = registrar_->store_counters()) {
    stats["binding_store"] = {{"writes", c->writes},
                              {"removals", c->removals},
                              {"refreshes_logged", c->refreshes_logged},
                              {"backlog", c->backlog},
                              {"failed", c->failed}};
  }
  return stats;
}

void ControlPlane::SetHeartbeat() {
  NodeHeartbeat h;
  if (!config_.sip_listen.empty()) h.sip = config_.sip_listen.front().ToString();
  h.calls = proxy_->calls().size() + (ng_ ? ng_calls_->size() : 0);
  h.drained = draining_ || ng_calls_->draining();
  redis_->SetHeartbeat(h.Encode());
}

// Where the node looks for Redis: its address, or its sentinels.
std::string ControlPlane::RedisWhere() const {
  if (config_.cluster.sentinels.empty()) return config_.cluster.redis.ToString();
  std::string where = absl::StrCat("sentinels (master '", config_.cluster.master, "'):");
  for (const Endpoint& s : config_.cluster.sentinels) absl::StrAppend(&where, " ", s.ToString());
  return where;
}

nlohmann::json ControlPlane::Cluster() const {
  if (!shared_) return {{"enabled", false}};
  return {{"enabled", true},
          {"node", config_.cluster.node},
          {"redis", RedisWhere()},
          {"connected", redis_->connected()},
          {"nodes", nodes_.Json(MonotonicMs())},
          {"vips", VipsJson()}};
}

namespace {
nlohmann::json VipJson(const VipOwnership::View& v) {
  return {{"address", v.vip.ToString()},
          {"taken", v.taken},
          {"epoch", v.lease.epoch},
          {"lease_valid", v.lease.valid},
          {"lease_lost", v.lease.lost}};
}
}  // namespace

nlohmann::json ControlPlane::VipsJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const VipOwnership::View& v : vips_->List()) out.push_back(VipJson(v));
  return out;
}

absl::StatusOr<nlohmann::json> ControlPlane::CheckVip(const IpAddress& vip) const {
  if (!vips_) return NotAClusterNode();
  absl::StatusOr<VipOwnership::View> v = vips_->Find(vip);
  if (!v.ok()) return v.status();
  // Cut off from Redis, this node can neither renew a lease nor write
  // one fenced: a node that can is the better master.
  if (!redis_->connected()) {
    return absl::FailedPreconditionError(
        absl::StrCat(vip.ToString(), ": Redis unreachable (", RedisWhere(), ")"));
  }
  if (v->taken && v->lease.lost) {
    return absl::FailedPreconditionError(absl::StrCat(
        vip.ToString(), ": taken here, but another node took its lease since (epoch ",
        v->lease.epoch, " was ours)"));
  }
  return VipJson(*v);
}

absl::StatusOr<nlohmann::json> ControlPlane::SetVipHeld(const IpAddress& vip, bool take) {
  if (!vips_) return NotAClusterNode();
  absl::Status s = take ? vips_->Take(vip) : vips_->Release(vip);
  // The new holder carries the VIP's calls on (even if our dataplane did
  // not answer the release).
  if (!take) proxy_->GiveUpCalls(vip);
  if (!s.ok()) return s;
  const std::string name = vip.ToString();
  RTPLATCH_LOG_FROM(Notice, name, "cluster: %s %s", take ? "took" : "released", name.c_str());
  return nlohmann::json{{"address", name}, {"taken", take}};
}

nlohmann::json ControlPlane::ClusterJson() const {
  const RedisLink::Counters& r = redis_->counters();
  const SharedBindings::Counters& s = shared_->counters();
  return {{"node", config_.cluster.node},
          {"redis", RedisWhere()},
          {"connected", redis_->connected()},
          {"pending_writes", redis_->pending_writes()},
          {"writes", r.writes.load()},
          {"write_failures", r.write_failures.load()},
          {"connects", r.connects.load()},
          {"connect_failures", r.connect_failures.load()},
          {"remote_changes", r.remote_changes.load()},
          {"snapshot_bindings", r.snapshot_bindings.load()},
          {"bad_messages", r.bad_messages.load()},
          {"applied", s.applied},
          {"refreshed", s.refreshed},
          {"removed", s.removed},
          {"displaced", s.displaced},
          {"bad_values", s.bad_values},
          {"swept", s.swept},
          {"rewritten", s.rewritten},
          {"reconciling", shared_->reconciling()},
          {"lease_takes", r.lease_takes.load()},
          {"leases_lost", r.leases_lost.load()},
          {"fenced_writes", r.fenced_writes.load()},
          {"vip_takes", vips_->counters().takes},
          {"vip_releases", vips_->counters().releases},
          {"vip_take_failures", vips_->counters().take_failures},
          {"adopted", vips_->counters().adopted},
          {"calls_loaded", r.calls_loaded.load()},
          {"calls_adopted", proxy_->counters().calls_adopted},
          {"calls_given_up", proxy_->counters().calls_given_up}};
}
int64_t ControlPlane::Now() const { return UnixNow(); }

nlohmann::json ControlPlane::GuardJson() const {
  if (!guard_) return {{"enabled", false}};
  nlohmann::json j = {{"enabled", true},
                      {"bans", guard_->bans().size()},
                      {"bans_evicted", guard_->bans().evicted()},
                      {"sources_tracked", guard_->rates().tracked()},
                      {"sources_untracked", guard_->rates().untracked()}};
  for (const auto& [name, value] : guard_->counters().Named()) j[std::string(name)] = value;
  return j;
}

nlohmann::json ControlPlane::OverloadJson() const {
  if (!shedder_) return {{"enabled", false}};
  nlohmann::json j = {{"enabled", true},
                      {"overloaded", shedder_->overloaded()},
                      {"admitted_calls", shedder_->admitted_calls()}};
  for (const auto& [name, value] : shedder_->counters().Named()) j[std::string(name)] = value;
  return j;
}

nlohmann::json ControlPlane::Bans() const {
  nlohmann::json list = nlohmann::json::array();
  if (!guard_) return list;
  const int64_t now = MonotonicMs();
  for (const SourceBan& b : guard_->bans().Live(now)) {
    list.push_back({{"source", GuardedSourceName(b.source)},
                    {"reason", b.reason},
                    {"banned_s_ago", (now - b.since_ms) / 1000},
                    {"ends_in_s", (b.until_ms - now + 999) / 1000},
                    {"dropped", b.dropped}});
  }
  return list;
}

absl::StatusOr<nlohmann::json> ControlPlane::Unban(const IpAddress& source) {
  if (!guard_) return absl::NotFoundError("guard: off (\"guard\": {\"enabled\": false})");
  // An IPv6 address lifts the ban on its /64, as it was banned.
  const std::string name = GuardedSourceName(GuardedSource(source));
  if (!guard_->bans().Unban(GuardedSource(source))) {
    return absl::NotFoundError(absl::StrCat("source: ", name, " is not banned"));
  }
  RTPLATCH_LOG(Notice, "guard: %s unbanned by the operator", name.c_str());
  return nlohmann::json{{"unbanned", name}};
}
absl::StatusOr<nlohmann::json> ControlPlane::SetDraining(bool on) {
  draining_ = on;
  ng_calls_->set_draining(on);
  RTPLATCH_LOG(Notice, "%s",
               on ? "draining: no new calls (SIP calls go to the cluster's other nodes)"
                  : "taking new calls again");
  return nlohmann::json{{"draining", on},
                         {"calls", proxy_->calls().size() + ng_calls_->size()}};
}

absl::StatusOr<nlohmann::json> ControlPlane::Reload() {
  if (config_.source_path.empty()) {
    return absl::FailedPreconditionError("reload: started without a config file");
  }
  // Everything is read and checked before anything changes: a file that
  // does not load leaves the running config as it was. (LoadControlConfig
  // checks the peers and routes: a route naming no peer is refused.)
  auto refused = [](const absl::Status& s, absl::string_view what = "") {
    return absl::Status(s.code(), absl::StrCat("reload refused, running config kept: ", what,
                                               s.message()));
  };
  absl::StatusOr<ControlConfig> fresh = LoadControlConfig(config_.source_path);
  if (!fresh.ok()) return refused(fresh.status());
  auto users = LoadUsersFile(fresh->users_file);
  if (!users.ok()) return refused(users.status());
  auto policies = NatPolicyTable::FromJson(fresh->nat_policy);
  if (!policies.ok()) return refused(policies.status(), "nat_policy: ");
  const ReloadPlan plan = PlanReload(loaded_json_, fresh->source_json);
  // The registrar, the proxy and the guard hold references to these:
  // replaced in place. Calls in progress keep the hops they were routed to
  // (PeerSet keeps indices); new calls follow the new routes.
  users_->Replace(*std::move(users));
  *policies_ = *std::move(policies);
  // The config's level (its default when it names none), also over one
  // an operator set at run time.
  ProcessLogger().set_level(fresh->log_level);
  const PeerSetChange peers = peers_->Reconfigure(fresh->edge.peers, MonotonicMs());
  *dial_plan_ = DialPlan(fresh->edge.routes);
  // What waits for a restart keeps being compared with what runs.
  loaded_json_ = AppliedAfterReload(loaded_json_, fresh->source_json);
  nlohmann::json reply = {
      {"users", users_->size()},
      {"users_file", fresh->users_file},
      {"nat_policy", plan.changed("nat_policy") ? "reloaded" : "unchanged"},
      {"peers",
       {{"added", peers.added}, {"removed", peers.removed}, {"changed", peers.changed}}},
      {"routes", plan.changed("routes") ? "reloaded" : "unchanged"},
      {"log_level", std::string(LogLevelName(ProcessLogger().level()))},
      {"restart_needed", plan.restart_needed}};
  RTPLATCH_LOG(Notice,
               "reloaded %s: %zu users from %s, NAT policies %s, peers added [%s] removed [%s] "
               "changed [%s], routes %s%s%s",
               config_.source_path.c_str(), users_->size(),
               fresh->users_file.empty() ? "(none)" : fresh->users_file.c_str(),
               plan.changed("nat_policy") ? "reloaded" : "unchanged",
               absl::StrJoin(peers.added, ",").c_str(), absl::StrJoin(peers.removed, ",").c_str(),
               absl::StrJoin(peers.changed, ",").c_str(),
               plan.changed("routes") ? "reloaded" : "unchanged",
               plan.restart_needed.empty() ? "" : "; a restart is needed for: ",
               absl::StrJoin(plan.restart_needed, ", ").c_str());
  return reply;
}

absl::StatusOr<nlohmann::json> ControlPlane::SetNgDraining(bool on) {
  if (!ng_) return absl::NotFoundError("ng: not served (no ng_listen in the config)");
  ng_calls_->set_draining(on);
  RTPLATCH_LOG(Notice, "ng: %s",
               on ? "draining: no new calls" : "taking new calls again");
  return nlohmann::json{{"draining", on}, {"calls", ng_calls_->size()}};
}

}  // namespace rtplatch
