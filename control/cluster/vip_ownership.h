// The VIPs this node may hold (the control config's cluster.vips, the
// dataplane's standby_addresses): public addresses keepalived moves
// between the nodes of a cluster (docs/cluster.md). A node that becomes
// VRRP master for one takes it (keepalived's notify runs `rtplatchctl vip
// take ADDRESS`):
//   - the dataplane relays for it and announces it (address_take);
//   - the Redis link takes its lease, one epoch more than the last holder
//     (writes of its bindings are fenced by that epoch: redis_link.h);
//   - the bindings other nodes registered on it become this node's, in
//     slices (stored here, replicated as this node's, given keepalives);
//   - keepalives go from it only while the lease is valid: a node cut off
//     from Redis stops them once its lease lapses, so a successor that
//     took the VIP meanwhile is the only sender.
// Releasing does the reverse for the dataplane and the lease; the
// bindings stay until the new holder's writes displace them.
//
// Not thread-safe: the control plane's event loop owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "control/cluster/redis_link.h"
#include "control/registrar/registrar.h"

namespace rtplatch {

class VipOwnership {
 public:
  struct Counters {
    uint64_t takes = 0;
    uint64_t releases = 0;
    uint64_t take_failures = 0;  // the dataplane refused or was unreachable
    uint64_t adopted = 0;        // other nodes' bindings made this node's
  };
  struct View {
    IpAddress vip;
    bool taken = false;
    RedisLink::Lease lease;
  };
  // Takes (true) or releases (false) an address in the dataplane.
  using DataplaneHook = std::function<absl::Status(const IpAddress&, bool take)>;

  // `link` and `registrar` are borrowed and outlive this.
  VipOwnership(std::vector<IpAddress> vips, RedisLink& link, Registrar& registrar,
               DataplaneHook dataplane);

  const std::vector<IpAddress>& vips() const { return vips_; }
  // One VIP's state; InvalidArgument when it is not one of cluster.vips
  // (as Take and Release answer then).
  absl::StatusOr<View> Find(const IpAddress& vip) const;
  absl::Status Take(const IpAddress& vip);
  absl::Status Release(const IpAddress& vip);
  // The dataplane (re)connected: it holds none of the taken VIPs yet.
  void Reassert();

  // Keepalives may leave from `source`: it is not a VIP, or a VIP taken
  // here whose lease is valid.
  bool MayKeepAlive(const IpAddress& source) const;
  // Whether MayKeepAlive changed for some VIP since the last call (a take,
  // a release, a lease lapsed, lost or back): the keepalive targets are
  // then installed again. Call about once a second.
  bool KeepaliveRightsChanged();
  // Other nodes' bindings on VIPs taken here become this node's, about
  // `budget` looked at a call; their changes (kAdded) go to `adopted` for
  // the keepalive sync. True while more wait.
  bool AdoptSlice(size_t budget, int64_t now, std::vector<BindingChange>& adopted);

  std::vector<View> List() const;
  const Counters& counters() const { return counters_; }

 private:
  absl::Status Known(const IpAddress& vip) const;
  bool Rights(size_t i) const;

  const std::vector<IpAddress> vips_;
  RedisLink& link_;
  Registrar& registrar_;
  DataplaneHook dataplane_;
  absl::flat_hash_set<IpAddress> taken_;
  std::vector<bool> rights_;  // by index in vips_: MayKeepAlive at the last check
  // VIPs taken since the adoption walk began, and where it goes on from.
  absl::flat_hash_set<IpAddress> adopting_;
  std::string adopt_after_;
  bool adopt_pending_ = false;
  Counters counters_;
};

}  // namespace rtplatch
