// A cluster node's side of the shared calls (docs/cluster.md): the proxy's
// call changes on a VIP go to Redis through the link, fenced by the VIP's
// lease, so the node that takes the VIP over finds every call's latest
// state (RedisLink::TakeLoadedCalls) and carries it on.
#pragma once

#include <string>
#include <utility>

#include "control/cluster/redis_link.h"
#include "control/media/call_replica.h"

namespace rtplatch {

class SharedCalls : public CallReplica {
 public:
  // `link` is borrowed and outlives this.
  explicit SharedCalls(RedisLink& link) : link_(link) {}

  void Put(const IpAddress& vip, absl::string_view call_id, std::string record) override {
    link_.PutCall(vip, call_id, std::move(record));
  }
  void Remove(const IpAddress& vip, absl::string_view call_id) override {
    link_.RemoveCall(vip, call_id);
  }

 private:
  RedisLink& link_;
};

}  // namespace rtplatch
