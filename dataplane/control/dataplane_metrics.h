// The dataplane's Prometheus page (/metrics, common/metrics_http_server.h),
// served by the main lcore: per forwarding lcore, packets received,
// relayed and dropped by reason, held for a partner, handed off, keepalives
// sent, busy and idle time; streams by latch state (ScanIdle's census),
// pairs and free relay ports. docs/operations.md lists them.
#pragma once

#include <string>

#include "dataplane/control/control_commands.h"
#include "dataplane/control/stream_registry.h"

namespace rtplatch {

std::string RenderDataplaneMetrics(const DataplaneStats& stats, const StreamRegistry& registry);

}  // namespace rtplatch
