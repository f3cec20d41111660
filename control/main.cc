// rtplatch-control --config FILE
//
// The SIP control plane, one thread: the SIP transport (UDP and TCP) feeds
// oSIP2's transactions, whose listener is the proxy + registrar; the proxy
// drives the dataplane over its control socket; operators use the control
// socket (rtplatchctl registrations / calls / sip-stats). Malformed
// messages go to the stateless core (400 with a reason, or a counted drop).
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/control_server.h"
#include "common/monotonic_clock.h"
#include "control/registrar/binding_store.h"
#include "control/control_config.h"
#include "control/media/dataplane_link.h"
#include "control/media/keepalive_sync.h"
#include "control/nat/nat_policy.h"
#include "control/operator/operator_commands.h"
#include "control/routing/proxy.h"
#include "control/registrar/registrar.h"
#include "control/sip/sip_transactions.h"
#include "control/sip/sip_transport.h"
#include "control/sip/stateless_core.h"
#include "control/registrar/users_file.h"

namespace rtplatch {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

// How long one epoll_wait may sleep: oSIP2's timers (T1 = 500 ms) and the
// operator socket are served between waits, so this bounds their latency.
constexpr int kPollTimeoutMs = 10;
constexpr int64_t kTimerPeriodMs = 10;  // retransmissions, timeouts
constexpr int64_t kTickPeriodMs = 100;  // dataplane events, binding expiry
// Binding changes are committed when a round brought no input (the loop
// is idle: commit at once) and otherwise at most this long after the last
// commit, so a registrar under load pays one WAL commit per interval, not
// per round. A kill -9 loses at most this much of the latest REGISTERs
// (their phones re-register), as synchronous=NORMAL accepts for power loss.
constexpr int64_t kCommitIntervalMs = 50;

int64_t UnixNow() { return static_cast<int64_t>(::time(nullptr)); }

constexpr char kUsage[] = "usage: rtplatch-control --config FILE\n";

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

// The operator socket's view of this process.
class ControlPlaneView : public OperatorView {
 public:
  ControlPlaneView(const Registrar& registrar, const Proxy& proxy)
      : registrar_(registrar), proxy_(proxy) {}
  std::vector<Binding> Registrations(int64_t now) const override { return registrar_.All(now); }
  nlohmann::json Calls() const override { return proxy_.CallsJson(); }
  nlohmann::json Stats() const override { return proxy_.StatsJson(); }
  int64_t Now() const override { return UnixNow(); }

 private:
  const Registrar& registrar_;
  const Proxy& proxy_;
};

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "rtplatch-control: %s\n", std::string(s.message()).c_str());
  return 1;
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

int Run(const std::string& config_path) {
  auto config = LoadControlConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  if (config->domain.empty()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("config: domain: required (the SIP domain this registrar serves) (in ",
                     config_path, ")")));
  }

  absl::StatusOr<std::unique_ptr<UsersFile>> users =
      config->users_file.empty() ? UsersFile::Parse("", "(no users_file)")
                                 : UsersFile::Load(config->users_file);
  if (!users.ok()) return Fail(users.status());
  std::unique_ptr<BindingStore> store;
  if (!config->database.empty()) {
    MakeParentDir(config->database);
    auto opened = BindingStore::Open(config->database);
    if (!opened.ok()) return Fail(opened.status());
    store = *std::move(opened);
    store->set_group_commit(true);
  }
  auto policies = NatPolicyTable::FromJson(config->nat_policy);
  if (!policies.ok()) return Fail(policies.status());

  RegistrarConfig rc = config->registrar;
  rc.domain = absl::AsciiStrToLower(config->domain);
  rc.server_header = config->server_header;
  rc.require_auth = config->authenticate;
  auto registrar = Registrar::Create(rc, **users, store.get(), config->inside_prefixes, *policies);
  if (!registrar.ok()) return Fail(registrar.status());

  // Where phones reach us, per family: explicit listen addresses first,
  // then the configured advertised ones (for wildcard listens).
  std::optional<Endpoint> adv4, adv6;
  for (const Endpoint& ep : config->sip_listen) {
    if (ep.ip.is_unspecified()) continue;
    auto& slot = ep.ip.is_v4() ? adv4 : adv6;
    if (!slot) slot = ep;
  }
  for (const Endpoint& ep : config->advertised) {
    auto& slot = ep.ip.is_v4() ? adv4 : adv6;
    if (!slot) slot = ep;
  }

  DataplaneLink link(DataplaneLink::Options{config->dataplane_socket, config->dataplane_timeout_ms,
                                            1000});
  KeepaliveSync::Options ko;
  ko.payload = config->keepalive_payload;
  if (adv4) ko.advertised_v4 = adv4->ip;
  if (adv6) ko.advertised_v6 = adv6->ip;
  KeepaliveSync keepalives(link, ko);

  ProxyConfig pc;
  pc.domain = rc.domain;
  pc.local_addresses = LocalAddresses(config->sip_listen);
  for (const Endpoint& ep : config->sip_listen) pc.local_ports.push_back(ep.port);
  for (const Endpoint& ep : config->advertised) pc.local_ports.push_back(ep.port);
  pc.advertised_v4 = adv4;
  pc.advertised_v6 = adv6;
  pc.authenticate_calls = config->authenticate;
  pc.anchor_media_always = config->anchor_media_always;
  pc.server_header = config->server_header;
  pc.qualify_interval_s = config->qualify_interval_s;
  pc.max_ringing_s = config->max_ringing_s;

  StatelessCore::Options so;
  so.local_addresses = pc.local_addresses;
  so.local_ports = pc.local_ports;
  so.server_header = config->server_header;
  StatelessCore stateless(std::move(so));

  SipTransport* transport_ptr = nullptr;
  SipTransactions* txns_ptr = nullptr;
  auto send = [&transport_ptr](absl::string_view bytes, const SipRoute& r) {
    return transport_ptr->Send(bytes, r.dest, r.transport, r.channel);
  };
  Proxy::Channels channels;
  channels.udp_socket_for = [&transport_ptr](const Endpoint& local) {
    return transport_ptr->UdpSocketFor(local);
  };
  channels.tcp_connection_to = [&transport_ptr](const Endpoint& peer) {
    return transport_ptr->TcpConnectionTo(peer);
  };
  channels.send = send;
  Proxy proxy(pc, **registrar, link, keepalives, config->inside_prefixes, *policies, channels,
              UnixNow);
  auto txns = SipTransactions::Create(proxy, send);
  if (!txns.ok()) return Fail(txns.status());
  txns_ptr = txns->get();
  proxy.set_transactions(txns_ptr);
  link.set_on_reconnect([&proxy] { proxy.OnDataplaneConnected(); });

  auto transport = SipTransport::Create(config->sip_listen, [&](const SipInbound& in) {
    absl::StatusOr<SipMessage> message = SipMessage::Parse(in.bytes);
    if (!message.ok()) {
      // Malformed: 400 with the parser's reason where a reply can be
      // built, else a counted drop (stateless_core.h).
      std::optional<SipOutbound> reply = stateless.Handle(in);
      if (reply) {
        (void)transport_ptr->Send(reply->bytes, reply->dest, reply->transport, reply->channel);
      }
      return;
    }
    txns_ptr->Receive(*std::move(message), in);
  });
  if (!transport.ok()) return Fail(transport.status());
  transport_ptr = transport->get();

  ControlPlaneView view(**registrar, proxy);
  OperatorCommands commands(view);
  MakeParentDir(config->control_socket);
  auto operator_socket = ControlServer::Listen(
      config->control_socket, [&commands](absl::string_view line, bool* subscribe) {
        return commands.Handle(line, subscribe);
      });
  if (!operator_socket.ok()) return Fail(operator_socket.status());

  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: epoll_wait returns EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // First contact with the dataplane (reconciles keepalive targets with
  // the bindings loaded from the database); retried from the loop.
  (void)link.EnsureConnected();

  std::string listening;
  for (const Endpoint& ep : config->sip_listen) {
    absl::StrAppend(&listening, listening.empty() ? "" : " ", "udp+tcp:", ep.ToString());
  }
  std::printf("rtplatch-control: listening on %s, domain '%s', %zu bindings loaded, dataplane %s\n",
              listening.c_str(), rc.domain.c_str(), (*registrar)->All(UnixNow()).size(),
              link.connected() ? "connected" : "not connected (retrying)");
  std::fflush(stdout);

  int64_t last_timers = 0;
  int64_t last_tick = 0;
  int64_t last_commit = 0;
  auto messages_in = [&transport] {
    const SipTransportCounters& c = (*transport)->counters();
    return c.udp_datagrams + c.tcp_messages;
  };
  while (!g_stop.load()) {
    const uint64_t before = messages_in();
    if (absl::Status s = (*transport)->RunOnce(kPollTimeoutMs); !s.ok()) return Fail(s);
    // The round's posted dataplane updates and deletes: one wait for all.
    link.Settle();
    const int64_t now_ms = MonotonicMs();
    if (store && (messages_in() == before || now_ms - last_commit >= kCommitIntervalMs)) {
      last_commit = now_ms;
      if (absl::Status s = store->Flush(); !s.ok()) {
        std::fprintf(stderr, "rtplatch-control: %s\n", std::string(s.message()).c_str());
      }
    }
    if (now_ms - last_timers >= kTimerPeriodMs) {
      last_timers = now_ms;
      txns_ptr->RunTimers();
      (*operator_socket)->Poll(0);
    }
    if (now_ms - last_tick >= kTickPeriodMs) {
      last_tick = now_ms;
      (void)link.EnsureConnected();
      proxy.Tick();
    }
  }

  const StatelessCoreCounters& c = stateless.counters();
  std::string drops;
  for (size_t i = 0; i < kSipDropReasonCount; ++i) {
    absl::StrAppend(&drops, " ", kSipDropReasonNames[i], "=", c.dropped[i]);
  }
  const SipTransportCounters& t = (*transport)->counters();
  std::fprintf(stderr,
               "rtplatch-control: shutting down: %s; malformed: responded=%llu dropped:%s; "
               "transport: udp_datagrams=%llu tcp_messages=%llu tcp_accepted=%llu "
               "tcp_oversize=%llu tcp_bad_framing=%llu tcp_output_overflow=%llu "
               "tcp_rejected_full=%llu send_errors=%llu\n",
               proxy.StatsJson().dump().c_str(), static_cast<unsigned long long>(c.responded),
               drops.c_str(), static_cast<unsigned long long>(t.udp_datagrams),
               static_cast<unsigned long long>(t.tcp_messages),
               static_cast<unsigned long long>(t.tcp_accepted),
               static_cast<unsigned long long>(t.tcp_oversize),
               static_cast<unsigned long long>(t.tcp_bad_framing),
               static_cast<unsigned long long>(t.tcp_output_overflow),
               static_cast<unsigned long long>(t.tcp_rejected_full),
               static_cast<unsigned long long>(t.send_errors));
  return 0;
}

}  // namespace
}  // namespace rtplatch

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(rtplatch::kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "rtplatch-control: unexpected argument '%s'\n%s", arg.c_str(),
                   rtplatch::kUsage);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fputs(rtplatch::kUsage, stderr);
    return 2;
  }
  return rtplatch::Run(config_path);
}
