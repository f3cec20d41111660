// rtplatch-control --config FILE
//
// The SIP control plane. This slice: the SIP transport (UDP and TCP, one
// thread) feeding the stateless core (OPTIONS, 400 for malformed
// requests, 501 for the rest until the registrar/proxy slices land).
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "control/control_config.h"
#include "control/sip_transport.h"
#include "control/stateless_core.h"

namespace rtplatch {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

// How long one epoll_wait may sleep; a signal ends it at once (no
// SA_RESTART), this only bounds the race with a signal that lands just
// before the wait.
constexpr int kPollTimeoutMs = 500;

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

int Run(const std::string& config_path) {
  auto config = LoadControlConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "rtplatch-control: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  StatelessCore::Options options;
  options.local_addresses = LocalAddresses(config->sip_listen);
  for (const Endpoint& ep : config->sip_listen) options.local_ports.push_back(ep.port);
  options.server_header = config->server_header;
  StatelessCore core(std::move(options));

  SipTransport* transport_ptr = nullptr;
  auto transport = SipTransport::Create(config->sip_listen, [&](const SipInbound& in) {
    std::optional<SipOutbound> reply = core.Handle(in);
    if (!reply) return;
    // A send error is the peer's problem (gone, unreachable): counted by
    // the transport, never fatal.
    (void)transport_ptr->Send(reply->bytes, reply->dest, reply->transport, reply->channel);
  });
  if (!transport.ok()) {
    std::fprintf(stderr, "rtplatch-control: %s\n", std::string(transport.status().message()).c_str());
    return 1;
  }
  transport_ptr = transport->get();

  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: epoll_wait returns EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::string listening;
  for (const Endpoint& ep : config->sip_listen) {
    absl::StrAppend(&listening, listening.empty() ? "" : " ", "udp+tcp:", ep.ToString());
  }
  std::printf("rtplatch-control: listening on %s\n", listening.c_str());
  std::fflush(stdout);

  while (!g_stop.load()) {
    if (absl::Status s = (*transport)->RunOnce(kPollTimeoutMs); !s.ok()) {
      std::fprintf(stderr, "rtplatch-control: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }

  const StatelessCoreCounters& c = core.counters();
  std::string drops;
  for (size_t i = 0; i < kSipDropReasonCount; ++i) {
    absl::StrAppend(&drops, " ", kSipDropReasonNames[i], "=", c.dropped[i]);
  }
  const SipTransportCounters& t = (*transport)->counters();
  std::fprintf(stderr,
               "rtplatch-control: shutting down: received=%llu responded=%llu dropped:%s; "
               "transport: udp_datagrams=%llu tcp_messages=%llu tcp_accepted=%llu "
               "tcp_oversize=%llu tcp_bad_framing=%llu tcp_output_overflow=%llu "
               "tcp_rejected_full=%llu send_errors=%llu\n",
               static_cast<unsigned long long>(c.received),
               static_cast<unsigned long long>(c.responded), drops.c_str(),
               static_cast<unsigned long long>(t.udp_datagrams),
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
