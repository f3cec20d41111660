// The kernel's copy of the relay addresses on the exception interface
// (the net_tap the dataplane hands ARP, ND and SIP to): a standby address
// taken is added there, so the kernel answers ARP and ND for it and SIP
// to it reaches the control plane; released, it is removed. Through
// rtnetlink (RTM_NEWADDR, RTM_DELADDR) on the control thread, never an
// lcore. An address already there (keepalived's virtual_ipaddress put it)
// or already gone is not an error: both sides may follow the same VIP.
#pragma once

#include "absl/status/status.h"
#include "common/ip_address.h"

namespace rtplatch {

class KernelAddresses {
 public:
  // `ifindex` 0: no interface to follow (every call succeeds, doing nothing).
  explicit KernelAddresses(int ifindex) : ifindex_(ifindex) {}

  int ifindex() const { return ifindex_; }
  // As a host address (/32, /128 without duplicate address detection).
  absl::Status Add(const IpAddress& address) const { return Change(address, true); }
  absl::Status Remove(const IpAddress& address) const { return Change(address, false); }

 private:
  absl::Status Change(const IpAddress& address, bool add) const;

  int ifindex_;
};

}  // namespace rtplatch
