// DPDK port bring-up: the media port (any PMD) and the exception port
// (net_tap / virtio-user), one rx and one tx queue per forwarding lcore.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rte_mempool.h>

#include "absl/status/status.h"

namespace rtplatch {

struct PortPlan {
  uint16_t port_id;
  uint16_t queues;
  uint32_t rx_descriptors;
  uint32_t tx_descriptors;
  bool promiscuous;  // the media port sees frames for the kernel's MAC too
  std::string role;  // for error messages: "media_port", ...
};

// Configures and starts the port; `pools[q]` backs rx queue q.
absl::Status StartPort(const PortPlan& plan, const std::vector<rte_mempool*>& pools);

}  // namespace rtplatch
