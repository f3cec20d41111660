// A cluster node's side of the shared binding table (docs/cluster.md):
// this node's binding changes go to Redis through the link (the
// registrar's BindingReplica), and the other nodes' changes come back
// into the registrar, in bounded slices per loop round so a full read of
// the table after a reconnect never stalls SIP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "control/cluster/redis_link.h"
#include "control/registrar/binding_replica.h"
#include "control/registrar/registrar.h"

namespace rtplatch {

class SharedBindings : public BindingReplica {
 public:
  struct Counters {
    uint64_t applied = 0;    // other nodes' bindings put here
    uint64_t removed = 0;    // other nodes' bindings taken away
    uint64_t displaced = 0;  // this node's bindings a phone took elsewhere
    uint64_t bad_values = 0; // shared values that did not decode
  };

  // `link` and `registrar` are borrowed and outlive this.
  SharedBindings(RedisLink& link, Registrar& registrar);

  // BindingReplica.
  void Put(const Binding& binding, bool urgent) override;
  void Remove(absl::string_view aor, absl::string_view contact_uri) override;

  // Applies up to `budget` of the other nodes' changes at `now` (unix
  // seconds; an expired binding is skipped). This node's bindings they
  // displaced go to `displaced` (the keepalive sync removes their
  // targets). True when more wait.
  bool Poll(size_t budget, int64_t now, std::vector<BindingChange>& displaced);

  const Counters& counters() const { return counters_; }

 private:
  RedisLink& link_;
  Registrar& registrar_;
  Counters counters_;
};

}  // namespace rtplatch
