// rtplatch-control --config FILE
//
// The SIP control plane (control/README.md): loads the config, builds the
// ControlPlane and runs its event loop until SIGINT or SIGTERM. SIGHUP
// re-reads the config file (ControlPlane::Reload, as `rtplatchctl reload`).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/logger.h"
#include "control/control_config.h"
#include "control/control_plane.h"

namespace rtplatch {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reload.store(true); }

constexpr char kUsage[] = "usage: rtplatch-control --config FILE\n";

int Fail(const absl::Status& s) {
  RTPLATCH_LOG(Error, "%s", std::string(s.message()).c_str());
  return 1;
}

void HandleStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: epoll_wait returns EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = OnHangup;
  ::sigaction(SIGHUP, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int Run(const std::string& config_path) {
  InitProcessLogger("rtplatch-control");
  auto config = LoadControlConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  ProcessLogger().set_level(config->log_level);
  if (config->domain.empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "config: domain: required (the SIP domain this registrar serves) (in ", config_path, ")")));
  }
  auto plane = ControlPlane::Create(*std::move(config));
  if (!plane.ok()) return Fail(plane.status());
  HandleStopSignals();
  std::printf("%s\n", (*plane)->StartupSummary().c_str());
  std::fflush(stdout);
  while (!g_stop.load()) {
    if (absl::Status s = (*plane)->RunOnce(); !s.ok()) return Fail(s);
    // Between rounds, on the loop's thread: nothing is half-handled.
    if (g_reload.exchange(false)) {
      if (auto r = (*plane)->ReloadConfig(); !r.ok()) {
        RTPLATCH_LOG(Error, "%s", std::string(r.status().message()).c_str());
      }
    }
  }
  RTPLATCH_LOG(Notice, "%s", (*plane)->ShutdownSummary().c_str());
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
