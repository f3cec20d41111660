// rtplatch-dataplane <EAL args> -- --config FILE [--control-socket PATH]
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "common/logger.h"
#include "common/monotonic_clock.h"
#include "dataplane/dpdk/dataplane.h"

namespace {

std::atomic<bool> g_signalled{false};

void OnSignal(int) { g_signalled.store(true); }

constexpr char kUsage[] =
    "usage: rtplatch-dataplane <EAL args> -- --config FILE [--control-socket PATH]\n"
    "  EAL: at least two lcores (-l 0,1): the main lcore serves the control socket,\n"
    "  every other lcore forwards. Ports: see README (media port, exception port).\n";

struct AppArgs {
  std::string config_path;
  std::string control_socket;
};

bool ParseAppArgs(int argc, char** argv, AppArgs* out) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "rtplatch-dataplane: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    if (arg == "--config") {
      const char* v = value("--config");
      if (v == nullptr) return false;
      out->config_path = v;
    } else if (arg == "--control-socket") {
      const char* v = value("--control-socket");
      if (v == nullptr) return false;
      out->control_socket = v;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "rtplatch-dataplane: unknown argument '%s'\n%s", arg.c_str(), kUsage);
      return false;
    }
  }
  if (out->config_path.empty()) {
    std::fprintf(stderr, "rtplatch-dataplane: --config is required\n%s", kUsage);
    return false;
  }
  return true;
}

int Fail(const absl::Status& s) {
  RTPLATCH_LOG(Error, "%s", std::string(s.message()).c_str());
  rte_eal_cleanup();
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  rtplatch::InitProcessLogger("rtplatch-dataplane");
  int eal_args = rte_eal_init(argc, argv);
  if (eal_args < 0) {
    std::fprintf(stderr, "rtplatch-dataplane: EAL init failed: %s\n%s",
                 rte_strerror(rte_errno), kUsage);
    return 1;
  }
  argc -= eal_args;
  argv += eal_args;
  AppArgs args;
  if (!ParseAppArgs(argc, argv, &args)) {
    rte_eal_cleanup();
    return 2;
  }
  auto config = rtplatch::LoadDataplaneConfig(args.config_path);
  if (!config.ok()) return Fail(config.status());
  if (!args.control_socket.empty()) config->control_socket = args.control_socket;

  std::vector<uint32_t> workers;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) { workers.push_back(lcore); }
  auto dataplane = rtplatch::Dataplane::Create(*std::move(config), workers);
  if (!dataplane.ok()) return Fail(dataplane.status());
  if (auto s = (*dataplane)->ListenControl(); !s.ok()) return Fail(s);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (auto s = (*dataplane)->LaunchLcores(); !s.ok()) return Fail(s);
  std::printf("rtplatch-dataplane: %zu forwarding lcore(s), control socket ready\n",
              workers.size());
  std::fflush(stdout);
  int64_t flushed_ms = rtplatch::MonotonicMs();
  while (!g_signalled.load()) {
    (*dataplane)->ServiceControl(/*timeout_ms=*/1);
    // What the log's rate limit held back is told once a second.
    if (const int64_t now_ms = rtplatch::MonotonicMs(); now_ms - flushed_ms >= 1000) {
      flushed_ms = now_ms;
      rtplatch::ProcessLogger().FlushSuppressed();
    }
  }
  (*dataplane)->Stop();
  dataplane->reset();
  rte_eal_cleanup();
  return 0;
}
