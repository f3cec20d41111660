// The dataplane's configuration: a JSON file plus command-line overrides.
// Every error names the field and the bad value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "common/logger.h"
#include "dataplane/fastpath/flow.h"
#include "dataplane/fastpath/latch.h"

namespace rtplatch {

struct StaticNeighbor {
  IpAddress ip;
  uint8_t mac[6];
};

struct DataplaneConfig {
  std::string control_socket = "/run/rtplatch/dataplane.sock";
  // Prometheus's /metrics over HTTP on this address, served by the main
  // lcore (docs/operations.md); unset: not served.
  std::optional<Endpoint> metrics_listen;
  // The log's threshold (common/logger.h) and DPDK's (rte_log); changed
  // at run time by the log_level command. Unset: ours is the default and
  // DPDK's is what the EAL arguments (--log-level) made it.
  std::optional<LogLevel> log_level;
  uint16_t media_port = 0;       // DPDK port id: rx (and tx unless media_tx_port)
  int32_t media_tx_port = -1;    // -1: same as media_port
  int32_t exception_port = 1;    // net_tap / virtio-user; -1: none
  std::vector<IpAddress> relay_addresses;
  // Addresses this node may take over at runtime (VIPs moved by keepalived,
  // docs/cluster.md): their ports are reserved from the start, and the
  // node relays for them only between address_take and address_release.
  std::vector<IpAddress> standby_addresses;
  // The kernel interface of the exception port, where a taken standby
  // address is added. Empty: the one the port's driver names (net_tap).
  std::string exception_interface;
  uint16_t port_min = 20000;
  uint16_t port_max = 29999;
  IpAddress gateway_v4;
  IpAddress gateway_v6;
  std::vector<StaticNeighbor> neighbors;
  LatchPolicy default_policy = LatchPolicy::kLearn;
  LatchConfig latch;
  uint32_t idle_timeout_s = 60;
  uint32_t mbufs_per_lcore = 16383;
  uint32_t rx_descriptors = 1024;
  uint32_t tx_descriptors = 1024;
  // Streams per lcore that answer ICE checks (ng "ICE=force"); each lcore
  // sets aside 2 x 56 bytes per stream for their credentials at start.
  uint32_t ice_streams_per_lcore = 16384;
};

absl::StatusOr<DataplaneConfig> ParseDataplaneConfig(absl::string_view json_text);
absl::StatusOr<DataplaneConfig> LoadDataplaneConfig(const std::string& path);

}  // namespace rtplatch
