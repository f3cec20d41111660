#include "control/dns/sip_locator.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "control/dns/srv_order.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {

struct SipLocator::Job {
  UriParts uri;
  Callback done;
  std::vector<SipHop> hops;
  bool dns_failed = false;  // some query failed (not: said no)
  std::string why;          // the last failure, for the error

  void Finish() {
    if (!hops.empty()) return done(std::move(hops));
    if (dns_failed) return done(absl::UnavailableError(absl::StrCat("DNS for ", uri.host, ": ", why)));
    done(absl::NotFoundError(absl::StrCat("no SIP server found for ", uri.host)));
  }
};

namespace {

// What a NAPTR service field says the transport is; nullopt: not SIP we
// know (SIPS over TLS comes with TLS).
std::optional<SipTransportKind> NaptrTransport(absl::string_view service) {
  if (service == "SIP+D2U") return SipTransportKind::kUdp;
  if (service == "SIP+D2T") return SipTransportKind::kTcp;
  if (service == "SIPS+D2T") return SipTransportKind::kTls;
  return std::nullopt;
}

std::optional<SipTransportKind> UriTransport(absl::string_view t) {
  if (t == "udp") return SipTransportKind::kUdp;
  if (t == "tcp") return SipTransportKind::kTcp;
  if (t == "tls") return SipTransportKind::kTls;
  return std::nullopt;
}

}  // namespace

SipLocator::SipLocator(DnsQuerier& dns, std::vector<SipTransportKind> transports,
                       std::function<uint64_t(uint64_t)> uniform)
    : dns_(dns),
      transports_(std::move(transports)),
      uniform_(uniform ? std::move(uniform) : DefaultUniformDraw()) {}

std::string SipLocator::SrvName(SipTransportKind t, absl::string_view host) {
  switch (t) {
    case SipTransportKind::kTcp: return absl::StrCat("_sip._tcp.", host);
    case SipTransportKind::kTls: return absl::StrCat("_sips._tcp.", host);
    case SipTransportKind::kUdp: break;
  }
  return absl::StrCat("_sip._udp.", host);
}

bool SipLocator::Speaks(SipTransportKind t) const {
  return std::find(transports_.begin(), transports_.end(), t) != transports_.end();
}

void SipLocator::Locate(const UriParts& uri, Callback done) {
  auto job = std::make_shared<Job>();
  job->uri = uri;
  job->uri.host = absl::AsciiStrToLower(uri.host);
  if (!job->uri.host.empty() && job->uri.host.back() == '.') job->uri.host.pop_back();
  job->done = std::move(done);
  std::optional<SipTransportKind> given;
  if (uri.sips) {
    given = SipTransportKind::kTls;
    if (!Speaks(*given)) {
      return job->done(absl::InvalidArgumentError("a sips: URI needs TLS, which is not configured"));
    }
  } else if (!uri.transport.empty()) {
    given = UriTransport(uri.transport);
    if (!given || !Speaks(*given)) {
      return job->done(absl::InvalidArgumentError(
          absl::StrCat("transport '", uri.transport, "' is not one we send over")));
    }
  }
  const SipTransportKind transport = given.value_or(transports_.front());
  if (absl::StatusOr<IpAddress> ip = IpAddress::Parse(job->uri.host); ip.ok()) {
    job->hops.push_back(SipHop{transport, Endpoint{*ip, uri.port}, job->uri.host});
    return job->Finish();
  }
  if (uri.port_given) return ByAddress(job, transport, uri.port);
  if (given) return BySrv(job, {*given});
  ByNaptr(job);
}

void SipLocator::ByNaptr(std::shared_ptr<Job> job) {
  dns_.Query(job->uri.host, DnsType::kNaptr, [this, job](const absl::StatusOr<DnsRecords>& r) {
    std::vector<NaptrRecord> usable;
    if (r.ok()) {
      for (const NaptrRecord& n : r->naptr) {
        std::optional<SipTransportKind> t = NaptrTransport(n.service);
        if (n.flags == "s" && t && Speaks(*t) && !n.replacement.empty()) usable.push_back(n);
      }
    } else {
      job->dns_failed = true;
      job->why = std::string(r.status().message());
    }
    if (usable.empty()) return BySrv(job, transports_);  // §4.1: SRV per transport
    std::stable_sort(usable.begin(), usable.end(), [](const NaptrRecord& a, const NaptrRecord& b) {
      return std::tie(a.order, a.preference) < std::tie(b.order, b.preference);
    });
    // The most preferred record's SRV (its replacement); the others are
    // tried only if it yields nothing.
    NaptrStep(job, std::make_shared<const std::vector<NaptrRecord>>(std::move(usable)), 0);
  });
}

void SipLocator::NaptrStep(std::shared_ptr<Job> job,
                           std::shared_ptr<const std::vector<NaptrRecord>> records, size_t i) {
  if (i >= records->size() || !job->hops.empty()) return job->Finish();
  const NaptrRecord& n = (*records)[i];
  const SipTransportKind t = *NaptrTransport(n.service);
  dns_.Query(n.replacement, DnsType::kSrv,
             [this, job, records, t, i](const absl::StatusOr<DnsRecords>& srv) {
               if (!srv.ok()) {
                 job->dns_failed = true;
                 job->why = std::string(srv.status().message());
                 return NaptrStep(job, records, i + 1);
               }
               SrvTargets(job, t, srv->srv,
                          [this, job, records, i] { NaptrStep(job, records, i + 1); });
             });
}

void SipLocator::BySrv(std::shared_ptr<Job> job, std::vector<SipTransportKind> transports) {
  if (transports.empty()) {
    // No SRV for any transport: the host's addresses, port 5060 (§4.2).
    if (job->hops.empty()) return ByAddress(job, transports_.front(), kSipDefaultPort);
    return job->Finish();
  }
  if (!job->hops.empty()) return job->Finish();
  const SipTransportKind t = transports.front();
  transports.erase(transports.begin());
  dns_.Query(SrvName(t, job->uri.host), DnsType::kSrv,
             [this, job, t, transports](const absl::StatusOr<DnsRecords>& r) {
               if (!r.ok()) {
                 job->dns_failed = true;
                 job->why = std::string(r.status().message());
                 return BySrv(job, transports);
               }
               SrvTargets(job, t, r->srv, [this, job, transports] { BySrv(job, transports); });
             });
}

void SipLocator::ByAddress(std::shared_ptr<Job> job, SipTransportKind t, uint16_t port) {
  Addresses(job, job->uri.host, t, port, [job] { job->Finish(); });
}

void SipLocator::SrvTargets(std::shared_ptr<Job> job, SipTransportKind t,
                            std::vector<SrvRecord> records, std::function<void()> then) {
  // RFC 2782: a single record with target "." means no service here.
  std::erase_if(records, [](const SrvRecord& r) { return r.target.empty() || r.target == "."; });
  std::vector<std::pair<uint16_t, uint16_t>> keys;
  for (const SrvRecord& r : records) keys.emplace_back(r.priority, r.weight);
  auto ordered = std::make_shared<std::vector<SrvRecord>>();
  for (size_t i : SrvOrder(keys, uniform_)) {
    if (ordered->size() == kMaxSrvTargets) break;
    ordered->push_back(std::move(records[i]));
  }
  SrvStep(job, t, ordered, 0, std::move(then));
}

void SipLocator::SrvStep(std::shared_ptr<Job> job, SipTransportKind t,
                         std::shared_ptr<const std::vector<SrvRecord>> ordered, size_t i,
                         std::function<void()> then) {
  if (i >= ordered->size() || job->hops.size() >= kMaxHops) return then();
  const SrvRecord& r = (*ordered)[i];
  Addresses(job, r.target, t, r.port,
            [this, job, t, ordered, i, then] { SrvStep(job, t, ordered, i + 1, then); });
}

void SipLocator::Addresses(std::shared_ptr<Job> job, const std::string& host, SipTransportKind t,
                           uint16_t port, std::function<void()> then) {
  dns_.Query(host, DnsType::kA, [this, job, host, t, port, then](const absl::StatusOr<DnsRecords>& a) {
    auto add = [job, host, t, port](const absl::StatusOr<DnsRecords>& r) {
      if (!r.ok()) {
        job->dns_failed = true;
        job->why = std::string(r.status().message());
        return;
      }
      for (const IpAddress& ip : r->addresses) {
        if (job->hops.size() >= kMaxHops) return;
        SipHop hop{t, Endpoint{ip, port}, host};
        if (std::find(job->hops.begin(), job->hops.end(), hop) == job->hops.end()) {
          job->hops.push_back(std::move(hop));
        }
      }
    };
    add(a);
    dns_.Query(host, DnsType::kAaaa, [add, then](const absl::StatusOr<DnsRecords>& aaaa) {
      add(aaaa);
      then();
    });
  });
}

}  // namespace rtplatch
