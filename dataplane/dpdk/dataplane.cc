#include "dataplane/dpdk/dataplane.h"

#include "dataplane/control/dataplane_metrics.h"
#include "dataplane/dpdk/telemetry_commands.h"

#include <net/if.h>

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/logger.h"
#include "dataplane/dpdk/ports.h"

namespace rtplatch {
namespace {

// DPDK's levels are syslog's plus one (RTE_LOG_ERR 4 .. RTE_LOG_DEBUG 8).
// Every log type follows, so `debug` shows the drivers' debug lines too.
void SetDpdkLogLevel(LogLevel level) {
  const uint32_t dpdk = static_cast<uint32_t>(level) + 1;
  rte_log_set_global_level(dpdk);
  (void)rte_log_set_level_pattern("*", dpdk);
}

constexpr size_t kCommandRingSize = 1 << 16;
constexpr size_t kEventRingSize = 1 << 16;
constexpr unsigned kHandoffRingSize = 4096;
constexpr unsigned kMbufCache = 256;
// Idle scan: every 50 ms, 64 Ki streams (1 M streams are all seen within a
// second, far finer than idle timeouts in seconds, and no long pause in
// control replies).
constexpr size_t kIdleScanBudget = 65536;
constexpr uint64_t kIdleScanIntervalNs = 50'000'000;

int LcoreMain(void* arg) { return RunLcore(*static_cast<LcoreContext*>(arg)); }

// DPDK object names are process-global; tests build several dataplanes.
std::atomic<uint32_t> g_instances{0};

}  // namespace

absl::StatusOr<std::unique_ptr<Dataplane>> Dataplane::Create(DataplaneConfig config,
                                                             std::vector<uint32_t> lcore_ids) {
  if (lcore_ids.empty()) {
    return absl::InvalidArgumentError(
        "no forwarding lcore: give EAL at least two lcores (-l 0,1): the main one runs "
        "the control socket, the others forward");
  }
  auto addresses = RelayAddresses::Create(config.relay_addresses, config.standby_addresses);
  if (!addresses.ok()) return addresses.status();
  auto table = FlowTable::Create(std::move(*addresses), config.port_min, config.port_max);
  if (!table.ok()) return table.status();
  std::unique_ptr<Dataplane> d(new Dataplane(std::move(config), std::move(*table)));
  if (auto s = d->SetUpLcores(lcore_ids); !s.ok()) return s;
  if (auto s = d->StartPorts(); !s.ok()) return s;
  return d;
}

Dataplane::Dataplane(DataplaneConfig config, std::unique_ptr<FlowTable> table)
    : config_(std::move(config)), table_(std::move(table)) {
  for (const StaticNeighbor& n : config_.neighbors) neighbors_.Learn(n.ip, n.mac);
}

Dataplane::~Dataplane() {
  Stop();
  if (launched_) rte_eal_mp_wait_lcore();
  server_.reset();
  telemetry_.reset();
  // Stop, then close (the driver hands back the mbufs in its rings), then
  // free the pools those mbufs came from. A port listed twice (media_tx_port
  // equal to media_port) is no longer valid the second time.
  for (uint16_t port : {config_.media_port, static_cast<uint16_t>(config_.media_tx_port),
                        static_cast<uint16_t>(config_.exception_port)}) {
    if (!rte_eth_dev_is_valid_port(port)) continue;
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
  }
  for (rte_ring* r : handoff_rings_) rte_ring_free(r);
  for (rte_mempool* pool : pools_) rte_mempool_free(pool);
}

absl::Status Dataplane::SetUpLcores(const std::vector<uint32_t>& lcore_ids) {
  const uint32_t n = static_cast<uint32_t>(lcore_ids.size());
  const uint32_t instance = g_instances.fetch_add(1);
  std::vector<SpscRing<FlowCommand>*> command_ptrs;
  std::vector<SpscRing<KeepaliveCommand>*> keepalive_ptrs;
  for (uint32_t i = 0; i < n; ++i) {
    keepalive_rings_.push_back(std::make_unique<SpscRing<KeepaliveCommand>>(kCommandRingSize));
    keepalive_ptrs.push_back(keepalive_rings_.back().get());
    command_rings_.push_back(std::make_unique<SpscRing<FlowCommand>>(kCommandRingSize));
    command_ptrs.push_back(command_rings_.back().get());
    event_rings_.push_back(std::make_unique<SpscRing<DataplaneEvent>>(kEventRingSize));
    event_ring_ptrs_.push_back(event_rings_.back().get());
    if (absl::Status s = CreateLcoreMemory(instance, i, lcore_ids[i], n > 1); !s.ok()) return s;
  }
  registry_ = std::make_unique<StreamRegistry>(
      *table_, command_ptrs, config_.default_policy,
      [] { std::this_thread::sleep_for(std::chrono::microseconds(50)); },
      config_.ice_streams_per_lcore);
  keepalives_ = std::make_unique<KeepaliveRegistry>(
      table_->addresses(), keepalive_ptrs,
      [] { std::this_thread::sleep_for(std::chrono::microseconds(50)); });
  auto kernel = ExceptionInterface();
  if (!kernel.ok()) return kernel.status();
  kernel_addresses_ = std::make_unique<KernelAddresses>(*kernel);
  commands_ = std::make_unique<ControlCommands>(
      *registry_, [this] { return CollectStats(); }, [this] { return clock_.NowNs(); },
      keepalives_.get(), kernel_addresses_.get());
  commands_->set_log_level_hook(SetDpdkLogLevel);
  if (config_.log_level) {
    ProcessLogger().set_level(*config_.log_level);
    SetDpdkLogLevel(*config_.log_level);
  }
  uint8_t relay_mac[6];
  RelayMac(relay_mac);
  for (uint32_t i = 0; i < n; ++i) {
    lcores_.push_back(MakeLcoreContext(i, lcore_ids[i], n, relay_mac));
  }
  return absl::OkStatus();
}

absl::Status Dataplane::CreateLcoreMemory(uint32_t instance, uint32_t index, uint32_t lcore_id,
                                          bool handoff) {
  const int socket = static_cast<int>(rte_lcore_to_socket_id(lcore_id));
  const std::string name = absl::StrCat("rl_pool_", instance, "_", index);
  rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), config_.mbufs_per_lcore, kMbufCache,
                                              0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "mbuf pool for lcore ", lcore_id, " (", config_.mbufs_per_lcore,
        " mbufs): ", rte_strerror(rte_errno), "; give EAL more memory (-m) or lower "
        "mbufs_per_lcore"));
  }
  pools_.push_back(pool);
  if (!handoff) return absl::OkStatus();
  rte_ring* ring = rte_ring_create(absl::StrCat("rl_handoff_", instance, "_", index).c_str(),
                                   kHandoffRingSize, socket, RING_F_SC_DEQ);
  if (ring == nullptr) return absl::ResourceExhaustedError("hand-off ring");
  handoff_rings_.push_back(ring);
  return absl::OkStatus();
}

std::unique_ptr<LcoreContext> Dataplane::MakeLcoreContext(uint32_t i, uint32_t lcore_id,
                                                          uint32_t n,
                                                          const uint8_t relay_mac[6]) {
  auto ctx = std::make_unique<LcoreContext>();
  ctx->lcore_id = lcore_id;
  ctx->queue = static_cast<uint16_t>(i);
  ctx->media_rx_port = config_.media_port;
  ctx->media_tx_port = config_.media_tx_port >= 0 ? static_cast<uint16_t>(config_.media_tx_port)
                                                  : config_.media_port;
  ctx->exception_port = config_.exception_port;
  if (config_.exception_port >= 0) {
    uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(static_cast<uint16_t>(config_.exception_port), &mtu) == 0 && mtu >= 1280) {
      ctx->exception_mtu = mtu;
    }
  }
  ctx->fast.table = table_.get();
  ctx->fast.neighbors = &neighbors_;
  ctx->fast.next_hops = &ctx->next_hops;
  ctx->ice = std::make_unique<IceCredentialTable>(config_.ice_streams_per_lcore);
  ctx->fast.ice = ctx->ice.get();
  ctx->fast.counters = &ctx->counters;
  ctx->fast.events = event_rings_[i].get();
  ctx->fast.latch = config_.latch;
  std::memcpy(ctx->fast.relay_mac, relay_mac, 6);
  ctx->fast.gateway_v4 = config_.gateway_v4;
  ctx->fast.gateway_v6 = config_.gateway_v6;
  ctx->fast.lcore_index = i;
  ctx->fast.lcore_count = n;
  ctx->commands = command_rings_[i].get();
  keepalive_schedulers_.push_back(
      std::make_unique<KeepaliveScheduler>(keepalives_->slab(i), clock_.NowNs()));
  ctx->keepalive_commands = keepalive_rings_[i].get();
  ctx->keepalives = keepalive_schedulers_.back().get();
  ctx->payloads = &keepalives_->payloads();
  ctx->addresses = &table_->addresses();
  ctx->pool = pools_[i];
  ctx->events = event_rings_[i].get();
  ctx->handoff_in = n > 1 ? handoff_rings_[i] : nullptr;
  if (n > 1) ctx->handoff_out = handoff_rings_;
  for (const IpAddress& a : config_.relay_addresses) {
    IpAddress& slot = a.is_v4() ? ctx->solicit_source_v4 : ctx->solicit_source_v6;
    if (slot.is_unspecified()) slot = a;
  }
  ctx->clock = &clock_;
  ctx->quit = &quit_;
  return ctx;
}

// The kernel interface taken standby addresses are added to (0: none):
// the configured name, else the exception port's own (net_tap names it).
absl::StatusOr<int> Dataplane::ExceptionInterface() const {
  if (config_.standby_addresses.empty()) return 0;
  if (!config_.exception_interface.empty()) {
    const unsigned index = if_nametoindex(config_.exception_interface.c_str());
    if (index == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: exception_interface: no interface '", config_.exception_interface, "'"));
    }
    return static_cast<int>(index);
  }
  rte_eth_dev_info info{};
  if (config_.exception_port >= 0 &&
      rte_eth_dev_info_get(static_cast<uint16_t>(config_.exception_port), &info) == 0) {
    return static_cast<int>(info.if_index);
  }
  return 0;
}

// The MAC frames leave with: the exception port's (the kernel's view of the
// relay's interface), else the media port's; zeros if neither answers.
void Dataplane::RelayMac(uint8_t out[6]) const {
  std::memset(out, 0, 6);
  const uint16_t mac_port = config_.exception_port >= 0
                                ? static_cast<uint16_t>(config_.exception_port)
                                : config_.media_port;
  rte_ether_addr mac{};
  if (rte_eth_dev_is_valid_port(mac_port) && rte_eth_macaddr_get(mac_port, &mac) == 0) {
    std::memcpy(out, mac.addr_bytes, 6);
  }
}

absl::Status Dataplane::StartPorts() {
  const uint16_t queues = static_cast<uint16_t>(lcores_.size());
  auto plan = [&](uint16_t port, bool promiscuous, std::string role) {
    return PortPlan{port, queues, config_.rx_descriptors, config_.tx_descriptors,
                    promiscuous, std::move(role)};
  };
  if (auto s = StartPort(plan(config_.media_port, true, "media_port"), pools_); !s.ok()) return s;
  if (config_.media_tx_port >= 0 && config_.media_tx_port != config_.media_port) {
    auto s = StartPort(plan(static_cast<uint16_t>(config_.media_tx_port), false, "media_tx_port"),
                       pools_);
    if (!s.ok()) return s;
  }
  if (config_.exception_port >= 0) {
    auto s = StartPort(plan(static_cast<uint16_t>(config_.exception_port), false,
                            "exception_port"), pools_);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Dataplane::ListenControl() {
  auto server = ControlServer::Listen(config_.control_socket,
                                      [this](absl::string_view line, bool* subscribe) {
                                        return commands_->Handle(line, subscribe);
                                      });
  if (!server.ok()) return server.status();
  server_ = std::move(*server);
  telemetry_ = std::make_unique<TelemetryCommands>();
  if (config_.metrics_listen) {
    auto metrics = MetricsHttpServer::Start(*config_.metrics_listen, [this] {
      return RenderDataplaneMetrics(CollectStats(), *registry_);
    });
    if (!metrics.ok()) return metrics.status();
    metrics_ = std::move(*metrics);
  }
  return absl::OkStatus();
}

absl::Status Dataplane::LaunchLcores() {
  for (auto& ctx : lcores_) {
    if (ctx->lcore_id == rte_get_main_lcore()) {
      return absl::InvalidArgumentError("the main lcore cannot forward; it serves control");
    }
    if (int rc = rte_eal_remote_launch(LcoreMain, ctx.get(), ctx->lcore_id); rc != 0) {
      return absl::InternalError(absl::StrCat("launch on lcore ", ctx->lcore_id, ": ",
                                              rte_strerror(-rc)));
    }
  }
  launched_ = true;
  return absl::OkStatus();
}

std::vector<std::string> Dataplane::DrainEventLines() {
  std::vector<ControlEvent> events;
  registry_->DrainEvents(event_ring_ptrs_, neighbors_, &events,
                         [this](uint32_t lcore_index, const DataplaneEvent& e) {
                           if (e.type == DataplaneEvent::Type::kKeepaliveFreed) {
                             keepalives_->Freed(lcore_index, e.slot);
                           }
                         });
  const uint64_t now = clock_.NowNs();
  if (now - last_idle_scan_ns_ >= kIdleScanIntervalNs) {
    last_idle_scan_ns_ = now;
    registry_->ScanIdle(now, uint64_t{config_.idle_timeout_s} * 1'000'000'000, kIdleScanBudget,
                        &events);
  }
  std::vector<std::string> lines;
  lines.reserve(events.size());
  for (const ControlEvent& e : events) lines.push_back(ControlCommands::EventLine(e));
  return lines;
}

void Dataplane::ServiceControl(int timeout_ms) {
  if (server_) server_->Poll(timeout_ms);
  if (metrics_) metrics_->Poll();
  if (telemetry_) {
    const uint64_t now = clock_.NowNs();
    if (now - last_telemetry_ns_ >= kTelemetryIntervalNs) {
      last_telemetry_ns_ = now;
      telemetry_->Publish({.stats = CollectStats(),
                           .streams_by_state = registry_->states_seen(),
                           .stream_pairs = registry_->pair_count(),
                           .free_port_pairs_v4 = registry_->free_port_pairs(false),
                           .free_port_pairs_v6 = registry_->free_port_pairs(true)});
    }
  }
  for (const std::string& line : DrainEventLines()) {
    if (server_) server_->Broadcast(line);
  }
}

void Dataplane::Stop() { quit_.store(true); }

std::string Dataplane::HandleRequest(absl::string_view line) {
  bool subscribe = false;
  return commands_->Handle(line, &subscribe);
}

DataplaneStats Dataplane::CollectStats() const {
  DataplaneStats s;
  for (const auto& ctx : lcores_) {
    LcoreStats l{ctx->lcore_id, {}, keepalives_->armed(static_cast<uint32_t>(s.lcores.size()))};
    l.counters.Accumulate(ctx->counters);
    s.lcores.push_back(l);
  }
  s.tsc_hz = clock_.hz();
  s.neighbors = neighbors_.size();
  s.table_bytes = table_->bytes();
  s.keepalive_bytes = keepalives_->bytes();
  s.keepalive_payloads = keepalives_->payloads().size();
  return s;
}

}  // namespace rtplatch
