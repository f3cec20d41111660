// The proxy's view of the cluster's other nodes (control/routing/
// node_router.h), from their heartbeats (cluster_nodes.h) and the VIPs this
// node holds (vip_ownership.h):
//   - another node's binding that arrived on an address this node does not
//     hold (the owner's own address, or a VIP it holds) is reached through
//     the owner, while the owner is up;
//   - while this node is drained or overloaded (`busy`), new calls go to
//     the up, undrained node with the fewest calls for its weight;
//   - the nodes' SIP addresses are trusted sources.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "control/cluster/cluster_nodes.h"
#include "control/cluster/vip_ownership.h"
#include "control/routing/node_router.h"

namespace rtplatch {

class NodeRouting : public NodeRouter {
 public:
  // Everything is borrowed and outlives this. `now_ms`: the clock the
  // heartbeats were heard by; `busy`: this node takes no new calls now.
  NodeRouting(const ClusterNodes& nodes, const VipOwnership& vips,
              std::function<int64_t()> now_ms, std::function<bool()> busy);

  BindingRoute RouteTo(const Binding& b) const override;
  std::optional<Endpoint> NewCallsElsewhere() const override;
  bool IsNode(const IpAddress& source) const override;
  bool VipHeldElsewhere(const IpAddress& ip) const override;

 private:
  const ClusterNodes& nodes_;
  const VipOwnership& vips_;
  std::function<int64_t()> now_ms_;
  std::function<bool()> busy_;
};

}  // namespace rtplatch
