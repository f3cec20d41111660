// RFC 3263 server location: the hops (transport, address, port) to try, in
// order, for a SIP URI whose host may be a name.
//
//   address literal      that address; port as given or 5060
//   port given           A and AAAA of the host (§4.2: no SRV)
//   transport given      SRV _sip._udp / _sip._tcp of the host, else A/AAAA
//   neither              NAPTR (SIP+D2U, SIP+D2T, in order and preference,
//                        flag "s") -> SRV of its replacement; no NAPTR: SRV
//                        for each transport we speak, UDP first; no SRV:
//                        A/AAAA, port 5060, UDP
//
// SRV targets go by priority, each priority's in the weighted random order
// of RFC 2782; each target's IPv4 addresses before its IPv6 ones. Only
// transports the caller lists are kept. Bounded: at most kMaxHops hops and
// kMaxSrvTargets SRV targets, so a huge or looping answer cannot grow the
// work. Asynchronous through a DnsQuerier; `done` runs once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "control/dns/dns_resolver.h"
#include "control/sip/sip_transport.h"
#include "control/sip/sip_uri.h"

namespace rtplatch {

struct SipHop {
  SipTransportKind transport = SipTransportKind::kUdp;
  Endpoint endpoint;
  std::string host;  // the name it came from (logs; TLS: SNI)

  friend bool operator==(const SipHop& a, const SipHop& b) {
    return a.transport == b.transport && a.endpoint == b.endpoint;
  }
};

class SipLocator {
 public:
  static constexpr size_t kMaxHops = 16;
  static constexpr size_t kMaxSrvTargets = 8;
  using Callback = std::function<void(absl::StatusOr<std::vector<SipHop>>)>;

  // `dns` is borrowed; `transports`: what we can send over, in preference
  // order. `uniform(n)` draws in [0, n) for RFC 2782 (default: absl's).
  SipLocator(DnsQuerier& dns, std::vector<SipTransportKind> transports,
             std::function<uint64_t(uint64_t)> uniform = nullptr);

  // NotFound when the name has no usable record, Unavailable when DNS
  // failed, InvalidArgument for a transport we do not speak. For an
  // address literal `done` runs before Locate returns.
  void Locate(const UriParts& uri, Callback done);

  // The SRV owner name RFC 3263 asks for a transport.
  static std::string SrvName(SipTransportKind t, absl::string_view host);

 private:
  struct Job;
  bool Speaks(SipTransportKind t) const;
  // The next steps of a job; each ends by calling the job's done.
  void ByNaptr(std::shared_ptr<Job> job);
  void BySrv(std::shared_ptr<Job> job, std::vector<SipTransportKind> transports);
  void ByAddress(std::shared_ptr<Job> job, SipTransportKind t, uint16_t port);
  // The hops of SRV `records` (ordered here), then `then`.
  void SrvTargets(std::shared_ptr<Job> job, SipTransportKind t, std::vector<SrvRecord> records,
                  std::function<void()> then);
  // NAPTR record i's SRV (then i + 1's while no hop is found).
  void NaptrStep(std::shared_ptr<Job> job, std::shared_ptr<const std::vector<NaptrRecord>> records,
                 size_t i);
  // SRV target i's addresses, then i + 1's; `then` after the last.
  void SrvStep(std::shared_ptr<Job> job, SipTransportKind t,
               std::shared_ptr<const std::vector<SrvRecord>> ordered, size_t i,
               std::function<void()> then);
  // A then AAAA of `host`, appended to the job's hops, then `then`.
  void Addresses(std::shared_ptr<Job> job, const std::string& host, SipTransportKind t,
                 uint16_t port, std::function<void()> then);

  DnsQuerier& dns_;
  std::vector<SipTransportKind> transports_;
  std::function<uint64_t(uint64_t)> uniform_;
};

}  // namespace rtplatch
