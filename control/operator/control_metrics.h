// The control plane's Prometheus page (/metrics, common/
// metrics_http_server.h): SIP traffic by method and code, transactions,
// calls and their set-up time, registrations by NAT verdict, the binding
// store, the dataplane link, keepalive targets, the guard and the overload
// shedder. Names follow Prometheus's conventions: the `rtplatch_` prefix,
// `_total` for counters, seconds for times; docs/operations.md lists them.
//
// Rendered from the counters the parts keep (never a walk over bindings
// or calls), on the event loop's thread.
#pragma once

#include <cstddef>
#include <string>

#include "common/bucket_histogram.h"
#include "control/guard/overload_shedder.h"
#include "control/guard/sip_guard.h"
#include "control/media/dataplane_link.h"
#include "control/media/keepalive_sync.h"
#include "control/registrar/binding_store.h"
#include "control/routing/proxy.h"
#include "control/sip/sip_message_counts.h"
#include "control/sip/sip_transactions.h"
#include "control/sip/sip_transport.h"

namespace rtplatch {

// What the page shows; pointers may be null where the part is off (no
// store, no guard, no shedder).
struct ControlMetricsSources {
  const SipMessageCounts* messages = nullptr;
  const SipTransportCounters* transport = nullptr;
  const SipTransactionCounters* transactions = nullptr;
  const ProxyCounters* proxy = nullptr;
  const BucketHistogram* setup_seconds = nullptr;
  size_t calls_active = 0;
  size_t bindings = 0;
  size_t bindings_natted = 0;
  const BindingStoreCounters* store = nullptr;
  const DataplaneLinkCounters* link = nullptr;
  bool link_connected = false;
  const KeepaliveSyncCounters* keepalives = nullptr;
  size_t keepalive_targets = 0;
  const SipGuardCounters* guard = nullptr;
  const OverloadCounters* overload = nullptr;
  bool overloaded = false;
  uint64_t log_held_back = 0;  // Logger::suppressed_total
};

std::string RenderControlMetrics(const ControlMetricsSources& sources);

}  // namespace rtplatch
