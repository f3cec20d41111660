// Where a cluster node's calls are copied (docs/cluster.md): the proxy
// hands over each call on a VIP when its state changed (offer, answer, a
// latch, a re-INVITE) and when it ends, never per packet. The cluster's
// implementation writes them to Redis, fenced by the VIP's lease.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace rtplatch {

class CallReplica {
 public:
  virtual ~CallReplica() = default;
  // `record`: the call as call_record.h encodes it.
  virtual void Put(const IpAddress& vip, absl::string_view call_id, std::string record) = 0;
  virtual void Remove(const IpAddress& vip, absl::string_view call_id) = 0;
};

}  // namespace rtplatch
