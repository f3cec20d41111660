#include "control/dns/dns_resolver.h"

#include <ares.h>
#include <arpa/nameser.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rtplatch {

struct DnsResolver::Pending {
  DnsResolver* resolver;
  std::string key;
  DnsType type;
};

namespace {

ares_channel Channel(void* c) { return static_cast<ares_channel>(c); }

absl::Status AresError(absl::string_view what, int rc) {
  return absl::UnavailableError(absl::StrCat(what, ": ", ares_strerror(rc)));
}

std::string ServerCsv(const std::vector<Endpoint>& servers) {
  return absl::StrJoin(servers, ",", [](std::string* out, const Endpoint& e) {
    absl::StrAppend(out, e.ToString());  // a.b.c.d:port or [v6]:port
  });
}

}  // namespace

DnsResolver::DnsResolver(DnsResolverConfig config, std::function<int64_t()> now_ms,
                         SocketWatch watch)
    : config_(std::move(config)), now_ms_(std::move(now_ms)), watch_(std::move(watch)) {}

absl::StatusOr<std::unique_ptr<DnsResolver>> DnsResolver::Create(
    DnsResolverConfig config, std::function<int64_t()> now_ms, SocketWatch watch) {
  static const int library = ares_library_init(ARES_LIB_INIT_ALL);
  if (library != ARES_SUCCESS) return AresError("DNS: c-ares", library);
  std::unique_ptr<DnsResolver> r(
      new DnsResolver(std::move(config), std::move(now_ms), std::move(watch)));
  ares_options options{};
  options.sock_state_cb = &DnsResolver::OnSocketState;
  options.sock_state_cb_data = r.get();
  options.timeout = static_cast<int>(r->config_.timeout_ms);
  options.tries = static_cast<int>(r->config_.tries);
  // Only DNS: no /etc/hosts, no search domains (a SIP host name is a FQDN).
  char lookups[] = "b";
  options.lookups = lookups;
  ares_channel channel = nullptr;
  const int rc = ares_init_options(
      &channel, &options,
      ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
  if (rc != ARES_SUCCESS) return AresError("DNS: c-ares channel", rc);
  r->channel_ = channel;
  if (!r->config_.servers.empty()) {
    const std::string csv = ServerCsv(r->config_.servers);
    if (int s = ares_set_servers_ports_csv(channel, csv.c_str()); s != ARES_SUCCESS) {
      return AresError(absl::StrCat("DNS: servers '", csv, "'"), s);
    }
  }
  return r;
}

DnsResolver::~DnsResolver() {
  // Pending queries end with ARES_EDESTRUCTION: their callbacks must not
  // run into a half-destroyed resolver.
  in_flight_.clear();
  if (channel_ != nullptr) ares_destroy(Channel(channel_));
}

void DnsResolver::Query(const std::string& name, DnsType type, Callback done) {
  ++counters_.queries;
  std::string key = absl::StrCat(static_cast<int>(type), " ", name);
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (it->second.expires_ms > now_ms_()) {
      ++counters_.cache_hits;
      ready_.emplace_back(std::move(done), it->second.records);
      return;
    }
    cache_.erase(it);
  }
  auto [pending, first] = in_flight_.try_emplace(key);
  pending->second.push_back(std::move(done));
  if (!first) {
    ++counters_.joined;
    return;
  }
  ++counters_.sent;
  auto* arg = new Pending{this, key, type};
  ares_query(Channel(channel_), name.c_str(), ns_c_in, static_cast<int>(type),
             &DnsResolver::OnAnswer, arg);
}

void DnsResolver::OnSocketState(void* self, int fd, int read, int write) {
  auto* r = static_cast<DnsResolver*>(self);
  if (read == 0 && write == 0) {
    r->sockets_.erase(fd);
  } else {
    r->sockets_[fd] = {read != 0, write != 0};
  }
  if (r->watch_) r->watch_(fd, read != 0, write != 0);
}

void DnsResolver::OnAnswer(void* arg, int status, int, unsigned char* abuf, int alen) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(arg));
  DnsResolver& r = *pending->resolver;
  if (status == ARES_EDESTRUCTION || !r.in_flight_.contains(pending->key)) return;
  absl::StatusOr<DnsRecords> result;
  if (abuf != nullptr && alen > 0) {
    // NXDOMAIN and NODATA come with the server's message: its SOA says how
    // long the negative answer holds.
    result = ParseDnsAnswer(pending->type, abuf, static_cast<size_t>(alen));
    if (!result.ok() && absl::IsInvalidArgument(result.status())) ++r.counters_.malformed;
  } else {
    result = AresError(absl::StrCat("DNS ", DnsTypeName(pending->type), " query"), status);
  }
  if (result.ok()) {
    ++r.counters_.answers;
    if (result->negative) ++r.counters_.negative;
    r.Remember(pending->key, *result);
  } else {
    ++r.counters_.failures;
  }
  r.Finish(pending->key, std::move(result));
}

void DnsResolver::Remember(const std::string& key, const DnsRecords& records) {
  if (records.ttl_s == 0) return;
  if (cache_.size() >= config_.max_cache_entries) {
    const int64_t now = now_ms_();
    absl::erase_if(cache_, [now](const auto& e) { return e.second.expires_ms <= now; });
    while (cache_.size() >= config_.max_cache_entries && !cache_.empty()) {
      cache_.erase(cache_.begin());
      ++counters_.evictions;
    }
  }
  if (config_.max_cache_entries == 0) return;
  cache_[key] = Cached{records, now_ms_() + int64_t{records.ttl_s} * 1000};
}

void DnsResolver::Finish(const std::string& key, absl::StatusOr<DnsRecords> result) {
  auto it = in_flight_.find(key);
  if (it == in_flight_.end()) return;
  for (Callback& done : it->second) ready_.emplace_back(std::move(done), result);
  in_flight_.erase(it);
}

void DnsResolver::Poll() {
  // A copy: c-ares may open or close sockets while it processes.
  std::vector<std::pair<int, std::pair<bool, bool>>> sockets(sockets_.begin(), sockets_.end());
  for (const auto& [fd, interest] : sockets) {
    ares_process_fd(Channel(channel_), interest.first ? fd : ARES_SOCKET_BAD,
                    interest.second ? fd : ARES_SOCKET_BAD);
  }
  ares_process_fd(Channel(channel_), ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // time-outs
  // Callbacks may ask again (NAPTR -> SRV -> A): answered from the cache,
  // those run in this round too.
  for (int rounds = 0; !ready_.empty() && rounds < 16; ++rounds) {
    auto batch = std::move(ready_);
    ready_.clear();
    for (auto& [done, result] : batch) done(result);
  }
}

nlohmann::json DnsResolver::StatsJson() const {
  const DnsCounters& c = counters_;
  return {{"queries", c.queries},       {"cache_hits", c.cache_hits}, {"sent", c.sent},
          {"joined", c.joined},         {"answers", c.answers},       {"negative", c.negative},
          {"malformed", c.malformed},   {"failures", c.failures},     {"evictions", c.evictions},
          {"cached", cache_.size()},    {"in_flight", in_flight_.size()}};
}

}  // namespace rtplatch
