#include "control/cluster/node_routing.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch {

NodeRouting::NodeRouting(const ClusterNodes& nodes, const VipOwnership& vips,
                         std::function<int64_t()> now_ms, std::function<bool()> busy)
    : nodes_(nodes), vips_(vips), now_ms_(std::move(now_ms)), busy_(std::move(busy)) {}

NodeRouter::BindingRoute NodeRouting::RouteTo(const Binding& b) const {
  if (b.node.empty()) return {};
  // A VIP taken here: the phone's mapping leads here now (its binding is
  // being adopted).
  absl::StatusOr<VipOwnership::View> vip = vips_.Find(b.local_socket.ip);
  if (vip.ok() && vip->taken) return {};
  if (std::optional<Endpoint> sip = nodes_.SipOf(b.node, now_ms_())) {
    return {BindingRoute::Kind::kViaNode, *sip, ""};
  }
  return {BindingRoute::Kind::kUnreachable, Endpoint{},
          absl::StrCat("it registered to node ", b.node, ", which is down, at ",
                       b.local_socket.ToString(), ", which this node does not hold")};
}

std::optional<Endpoint> NodeRouting::NewCallsElsewhere() const {
  if (!busy_()) return std::nullopt;
  return nodes_.LeastLoaded(now_ms_());
}

bool NodeRouting::IsNode(const IpAddress& source) const { return nodes_.IsNodeAddress(source); }

bool NodeRouting::VipHeldElsewhere(const IpAddress& ip) const {
  absl::StatusOr<VipOwnership::View> vip = vips_.Find(ip);
  return vip.ok() && !vip->taken;
}

}  // namespace rtplatch
