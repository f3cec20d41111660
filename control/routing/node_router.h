// The other nodes of a cluster, as the proxy routes through them
// (docs/cluster.md): a phone is reached through the node it registered to
// (as Path, RFC 3327, would have it: its NAT mapping leads there, and only
// that node may send from the address it registered to), and a drained or
// overloaded node hands its new calls to the least loaded one. The
// cluster implements it (control/cluster/node_routing.h); a single node
// has none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/ip_address.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

class NodeRouter {
 public:
  struct BindingRoute {
    enum class Kind : uint8_t { kHere, kViaNode, kUnreachable };
    Kind kind = Kind::kHere;
    Endpoint node_sip;  // kViaNode: the owner's SIP address
    std::string why;    // kUnreachable
  };
  virtual ~NodeRouter() = default;

  // How a request reaches binding `b`: from here (this node's binding, or
  // one on a VIP this node holds), through its owner node, or not now.
  virtual BindingRoute RouteTo(const Binding& b) const = 0;
  // Where a new call goes instead of here: this node is drained or
  // overloaded and another node is up and not; nullopt: here.
  virtual std::optional<Endpoint> NewCallsElsewhere() const = 0;
  // `source` is a node of the cluster (its requests come from callers it
  // authenticated, and go only to this node's own phones).
  virtual bool IsNode(const IpAddress& source) const = 0;
  // `ip` is a VIP another node holds now: a Route entry naming it is that
  // node's, though this node listens on it too (a call handed from the
  // VIP's holder to this node and routed back there has both in its route
  // set).
  virtual bool VipHeldElsewhere(const IpAddress& ip) const = 0;
};

}  // namespace rtplatch
