// A phone's binding as the registrar holds and stores it, the row it is
// stored at, and what the store has done with them.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "common/ip_address.h"

namespace rtplatch {

struct Binding {
  enum class Transport : uint8_t { kUdp, kTcp, kTls, kWs, kWss };

  std::string aor;          // as the registrar normalises it; key part 1
  std::string contact_uri;  // key part 2
  int64_t expires_at = 0;   // unix seconds
  std::string call_id;
  uint32_t cseq = 0;
  std::string user_agent;
  Endpoint source;  // where the REGISTER really came from
  Transport transport = Transport::kUdp;
  Endpoint local_socket;  // our socket it arrived on (replies leave from it)
  bool behind_nat = false;
  std::vector<std::string> nat_reasons;
  uint32_t keepalive_interval_ms = 0;  // 0: no keepalives
  std::string keepalive_reason;
  // The NAT's timeout is still being learned (control/nat/
  // keepalive_learning.h): the control plane's probes keep the mapping, the
  // dataplane has no target yet, and keepalive_interval_ms is the ceiling.
  bool keepalive_learning = false;
  // RFC 3261 q-value × 1000: qvalues have at most three decimals, so an
  // integer holds them exactly and orders them without float compares.
  uint16_t q_milli = 1000;
  // The cluster node that owns the binding (its phone registered there:
  // docs/cluster.md); empty: this node. Only this node's bindings are
  // stored here, so the store never holds a node.
  std::string node;

  friend bool operator==(const Binding&, const Binding&) = default;
};

// Whether `after` differs from `before` in its expiry, CSeq and Call-ID at
// most (a plain refresh; a phone that restarted refreshes with a new
// Call-ID): what the cluster writes as those alone.
inline bool OnlyRefreshMoved(const Binding& before, const Binding& after) {
  auto rest = [](const Binding& b) {
    return std::tie(b.aor, b.contact_uri, b.user_agent, b.source, b.transport,
                    b.local_socket, b.behind_nat, b.nat_reasons, b.keepalive_interval_ms,
                    b.keepalive_reason, b.keepalive_learning, b.q_milli, b.node);
  };
  return rest(before) == rest(after);
}

// Where a binding is stored: the table's rows are kept in the order
// bindings arrive, keyed by this id, not by (aor, contact). A phone
// refreshes on its own timer, so the bindings that arrived together are
// refreshed together and expire together: a refresh, an expiry or a new
// binding dirties the few pages its neighbours in time dirty. Keyed by
// AOR, each of those wrote a page of its own anywhere in the file (at a
// million bindings, a 200 MB file and a 128 MiB cache). The registrar
// keeps each binding's row in memory, so no index on the key is needed;
// it is what keeps (aor, contact) unique. 0 is no row.
using BindingRow = int64_t;

// What the store has written (metrics).
struct BindingStoreCounters {
  uint64_t writes = 0;    // bindings written, new or refreshed
  uint64_t removals = 0;
  uint64_t refreshes_logged = 0;  // of the writes, appended to the refresh log
  // Through a BindingWriter: changes handed over and not yet committed,
  // and changes the store refused (each logged; memory still holds them).
  uint64_t backlog = 0;
  uint64_t failed = 0;
};

}  // namespace rtplatch
