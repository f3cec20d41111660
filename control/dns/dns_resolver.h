// Asynchronous DNS for the control plane's one thread: c-ares queries whose
// sockets join the event loop (SocketWatch), answers cached for their TTL
// and negative answers for their negative TTL (RFC 2308), one query on the
// wire for any number of askers of the same name and type. Nothing here
// blocks: Query returns at once and its callback runs from a later Poll().
//
//   auto dns = DnsResolver::Create(config, MonotonicMs, watch);
//   dns->Query("_sip._udp.carrier.example", DnsType::kSrv, [](auto& r) {...});
//   loop: epoll wakes on the watched fds (or its timeout) -> dns->Poll();
//
// Bad answers (dns_answer.h) reach the callback as an error and are
// counted; they are never cached.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "control/dns/dns_answer.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

// What needs DNS (the SIP locator) asks through this; tests fake it.
class DnsQuerier {
 public:
  using Callback = std::function<void(const absl::StatusOr<DnsRecords>&)>;
  virtual ~DnsQuerier() = default;
  // `done` runs exactly once, never from inside Query.
  virtual void Query(const std::string& name, DnsType type, Callback done) = 0;
};

struct DnsResolverConfig {
  // The servers to ask, in order; empty: the system's (/etc/resolv.conf).
  std::vector<Endpoint> servers;
  uint32_t timeout_ms = 2000;  // per try and server
  uint32_t tries = 2;
  size_t max_cache_entries = 100000;
};

struct DnsCounters {
  uint64_t queries = 0;        // Query calls
  uint64_t cache_hits = 0;     // answered from the cache (negative ones too)
  uint64_t sent = 0;           // queries c-ares put on the wire
  uint64_t joined = 0;         // waited for a query already on the wire
  uint64_t answers = 0;        // answers parsed (positive or negative)
  uint64_t negative = 0;       // of which NXDOMAIN / NODATA
  uint64_t malformed = 0;      // answers refused by dns_answer
  uint64_t failures = 0;       // time-outs, SERVFAIL, refused, ...
  uint64_t evictions = 0;      // cache entries dropped for room
};

class DnsResolver : public DnsQuerier {
 public:
  // c-ares opened (read and/or write interest) or closed (both false) a
  // socket: the loop adds it to or removes it from its wait set.
  using SocketWatch = std::function<void(int fd, bool read, bool write)>;

  static absl::StatusOr<std::unique_ptr<DnsResolver>> Create(DnsResolverConfig config,
                                                             std::function<int64_t()> now_ms,
                                                             SocketWatch watch);
  ~DnsResolver() override;
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  void Query(const std::string& name, DnsType type, Callback done) override;

  // Reads whatever arrived, runs c-ares's time-outs and every callback that
  // is due (cache hits included). Call each loop round.
  void Poll();

  const DnsCounters& counters() const { return counters_; }
  size_t cache_size() const { return cache_.size(); }
  size_t in_flight() const { return in_flight_.size(); }
  nlohmann::json StatsJson() const;

 private:
  struct Cached {
    DnsRecords records;
    int64_t expires_ms = 0;
  };
  struct Pending;  // one query on the wire

  DnsResolver(DnsResolverConfig config, std::function<int64_t()> now_ms, SocketWatch watch);
  static void OnSocketState(void* self, int fd, int read, int write);
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  void Finish(const std::string& key, absl::StatusOr<DnsRecords> result);
  void Remember(const std::string& key, const DnsRecords& records);

  DnsResolverConfig config_;
  std::function<int64_t()> now_ms_;
  SocketWatch watch_;
  void* channel_ = nullptr;  // ares_channel
  absl::flat_hash_map<int, std::pair<bool, bool>> sockets_;  // fd -> read, write
  absl::flat_hash_map<std::string, Cached> cache_;            // "type name"
  absl::flat_hash_map<std::string, std::vector<Callback>> in_flight_;
  std::vector<std::pair<Callback, absl::StatusOr<DnsRecords>>> ready_;
  DnsCounters counters_;
};

}  // namespace rtplatch
