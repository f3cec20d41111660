#include "control/cluster/redis_link.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/logger.h"

namespace rtplatch {
namespace {

// The fence every fenced script passes first: ARGV[1] is the epoch the
// writer holds the VIP with ("0": not fenced), `key` the VIP's epoch key.
// A stale epoch writes nothing and returns 0. A Redis that lost its data
// (restarted empty) has no epoch: the writer's is written back, so a
// later take still counts past it.
std::string FenceOn(absl::string_view key) {
  return absl::StrCat("if ARGV[1] ~= '0' then local e = redis.call('GET', ", key, ") ",
                      "if e == false then redis.call('SET', ", key, ", ARGV[1]) ",
                      "elseif e ~= ARGV[1] then return 0 end end ");
}
// Changes under one fence (KEYS[1] the epoch key), all or nothing: each a
// binding's value or refresh in its AOR's hash (KEYS[i], the hash's expiry
// moved to its latest binding's) or a call in its VIP's hash (no expiry:
// 0), as ARGV[4i-4 .. 4i-1] = field, value, expiry, and '1' when the
// field's refresh (kRefreshSuffix) goes (a binding's whole value); then
// ARGV[3], what the bindings' changes are published with (one message,
// empty for none), on channel ARGV[2]. One script a batch: a refresh
// storm flushed once a second costs Redis a script call per batch, not
// per binding.
constexpr const char* kPutBatchBody =
    "for i = 2, #KEYS do "
    "local a = 4 * i - 4 "
    "redis.call('HSET', KEYS[i], ARGV[a], ARGV[a + 1]) "
    "if ARGV[a + 3] == '1' then redis.call('HDEL', KEYS[i], ARGV[a] .. '\\nr') end "
    "local at = tonumber(ARGV[a + 2]) "
    "if at > 0 and redis.call('PEXPIRETIME', KEYS[i]) < at then "
    "redis.call('PEXPIREAT', KEYS[i], at) end end "
    "if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end "
    "return 1";
// A binding's refresh is its hash field "<contact>\nr": a contact has no
// newline (SIP header lines end there), so no contact is taken for it.
constexpr absl::string_view kRefreshSuffix = "\nr";
// Changes written in one script at most: the script blocks Redis while it
// runs (about a millisecond for this many).
constexpr size_t kPutBatch = 256;
constexpr const char* kDelBody =
    "redis.call('HDEL', KEYS[1], ARGV[2], ARGV[2] .. '\\nr') "
    "if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end "
    "return 1";
// Renewed only while the epoch is still the holder's (FenceOn): 0 when
// another node has taken the VIP since.
constexpr const char* kRenewBody =
    "redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[1], 'PX', ARGV[3]) "
    "return 1";
// A heartbeat: the node's key, expiring on its own, and the publish.
constexpr const char* kHeartbeatScript =
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "redis.call('PUBLISH', ARGV[3], ARGV[4]) "
    "return 1";
// Heartbeats missed before a node's key expires.
constexpr int64_t kHeartbeatsKept = 3;
// A VIP's lease taken: its epoch one more (the epoch key never expires, so
// no epoch is ever handed out twice), the holder in the lease key.
constexpr const char* kTakeScript =
    "local e = redis.call('INCR', KEYS[2]) "
    "redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. e, 'PX', ARGV[2]) "
    "return e";
// Keys a SCAN step asks for while reading the shared table.
constexpr const char* kScanCount = "1000";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval Timeval(int64_t ms) { return {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)}; }

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// Queues a command in the context's output buffer (a pipeline's step).
void Append(redisContext* c, const std::vector<absl::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (absl::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
}

// One command and its reply (what redisCommandArgv does on a blocking
// context); nullptr when the connection failed.
Reply Command(redisContext* c, const std::vector<absl::string_view>& args) {
  Append(c, args);
  void* reply = nullptr;
  if (redisGetReply(c, &reply) != REDIS_OK) return nullptr;
  return Reply(static_cast<redisReply*>(reply));
}

std::string Text(const redisReply* r) { return std::string(r->str, r->len); }

}  // namespace

void RedisLink::ContextFree::operator()(redisContext* c) const { redisFree(c); }

absl::StatusOr<std::unique_ptr<RedisLink>> RedisLink::Start(Options options) {
  if (options.node.empty() || options.node.find('\n') != std::string::npos) {
    return absl::InvalidArgumentError("cluster: node name is empty or has a newline");
  }
  std::unique_ptr<RedisLink> link(new RedisLink(std::move(options)));
  if (link->wake_fd_ < 0 || link->kick_fd_ < 0) {
    return absl::InternalError("cluster: eventfd failed");
  }
  link->thread_ = std::thread([l = link.get()] { l->Run(); });
  return link;
}

RedisLink::RedisLink(Options options)
    : options_(std::move(options)),
      channel_(absl::StrCat(options_.prefix, ":bindings")),
      nodes_channel_(absl::StrCat(options_.prefix, ":nodes")),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      kick_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

RedisLink::~RedisLink() {
  stop_ = true;
  Kick();
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (kick_fd_ >= 0) close(kick_fd_);
}

void RedisLink::Kick() {
  const uint64_t one = 1;
  (void)!write(kick_fd_, &one, sizeof(one));
}

void RedisLink::Put(absl::string_view aor, absl::string_view contact, std::string value,
                    int64_t expires_at_ms, bool urgent, const IpAddress& fence) {
  Enqueue(Op{false, false, BindingsKey(aor), std::string(contact), std::move(value), expires_at_ms,
             fence, std::string(aor)},
          urgent);
}

void RedisLink::Remove(absl::string_view aor, absl::string_view contact,
                       const IpAddress& fence) {
  Enqueue(Op{true, false, BindingsKey(aor), std::string(contact), "", 0, fence, std::string(aor)},
          true);
}

void RedisLink::Refresh(absl::string_view aor, absl::string_view contact, std::string value,
                        int64_t expires_at_ms, const IpAddress& fence) {
  Enqueue(Op{false, true, BindingsKey(aor), absl::StrCat(contact, kRefreshSuffix), std::move(value),
             expires_at_ms, fence, std::string(aor)},
          false);
}

std::string RedisLink::MessageOf(const Op& op) const {
  if (op.aor.empty()) return "";
  if (op.remove) return absl::StrCat("del\n", options_.node, "\n", op.aor, "\n", op.field);
  if (op.refresh) {
    absl::string_view contact = op.field;
    contact.remove_suffix(kRefreshSuffix.size());
    return absl::StrCat("exp\n", options_.node, "\n", op.aor, "\n", contact, "\n", op.value);
  }
  return absl::StrCat("put\n", options_.node, "\n", op.aor, "\n", op.field, "\n", op.value);
}

void RedisLink::PutCall(const IpAddress& vip, absl::string_view call_id, std::string record) {
  Enqueue(Op{false, false, CallsKey(vip), std::string(call_id), std::move(record), 0, vip, ""}, true);
}

void RedisLink::RemoveCall(const IpAddress& vip, absl::string_view call_id) {
  Enqueue(Op{true, false, CallsKey(vip), std::string(call_id), "", 0, vip, ""}, true);
}

std::string RedisLink::BindingsKey(absl::string_view aor) const {
  return absl::StrCat(options_.prefix, ":b:", aor);
}

std::string RedisLink::CallsKey(const IpAddress& vip) const {
  return absl::StrCat(options_.prefix, ":c:", vip.ToString());
}

void RedisLink::Enqueue(Op op, bool urgent) {
  std::string key = absl::StrCat(op.hash, "\n", op.field);
  urgent |= op.remove;
  std::lock_guard<std::mutex> lock(mu_);
  if (!op.refresh && !op.aor.empty()) {
    // The binding's whole value (or its removal) carries its latest
    // expiry: a refresh still waiting is older.
    const std::string refresh_key = absl::StrCat(key, kRefreshSuffix);
    coalesced_.erase(refresh_key);
    urgent_.erase(refresh_key);
  }
  // A change already waiting to go at once keeps its urgency.
  if (auto it = urgent_.find(key); it != urgent_.end()) {
    it->second = std::move(op);
    return;
  }
  if (!urgent) {
    coalesced_[std::move(key)] = std::move(op);
    return;
  }
  coalesced_.erase(key);
  urgent_[std::move(key)] = std::move(op);
  Kick();
}

void RedisLink::TakeLease(const IpAddress& vip) {
  std::lock_guard<std::mutex> lock(mu_);
  leases_[vip] = HeldLease{};
  takes_.push_back(vip);
  Kick();
}

void RedisLink::ReleaseLease(const IpAddress& vip) {
  std::lock_guard<std::mutex> lock(mu_);
  leases_.erase(vip);
  takes_.erase(std::remove(takes_.begin(), takes_.end(), vip), takes_.end());
}

RedisLink::Lease RedisLink::lease(const IpAddress& vip) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = leases_.find(vip);
  if (it == leases_.end()) return {};
  const HeldLease& h = it->second;
  return {h.epoch, h.lost,
          h.epoch != 0 && !h.lost && NowMs() - h.renewed_ms < options_.lease_ttl_ms};
}

std::string RedisLink::LeaseKey(const IpAddress& vip) const {
  return absl::StrCat(options_.prefix, ":lease:", vip.ToString());
}

std::string RedisLink::EpochKey(const IpAddress& vip) const {
  return absl::StrCat(options_.prefix, ":epoch:", vip.ToString());
}

bool RedisLink::TakeLeases() {
  std::vector<IpAddress> takes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    takes.swap(takes_);
  }
  for (size_t i = 0; i < takes.size(); ++i) {
    Reply r = Command(commands_.get(),
                      {"EVALSHA", take_sha_, "2", LeaseKey(takes[i]), EpochKey(takes[i]),
                       options_.node, absl::StrCat(options_.lease_ttl_ms)});
    if (r == nullptr || r->type != REDIS_REPLY_INTEGER) {
      std::lock_guard<std::mutex> lock(mu_);  // taken again after the reconnect
      takes_.insert(takes_.end(), takes.begin() + static_cast<ptrdiff_t>(i), takes.end());
      return false;
    }
    ++counters_.lease_takes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = leases_.find(takes[i]);
      if (it == leases_.end()) continue;  // released meanwhile
      it->second = {static_cast<uint64_t>(r->integer), NowMs(), false};
    }
    // Read after the take: whatever the last holder wrote is in, and it
    // can write nothing more (fenced).
    if (!LoadCalls(takes[i])) {
      std::lock_guard<std::mutex> lock(mu_);
      takes_.insert(takes_.end(), takes.begin() + static_cast<ptrdiff_t>(i), takes.end());
      return false;
    }
  }
  return true;
}

bool RedisLink::LoadCalls(const IpAddress& vip) {
  LoadedCalls loaded{vip, {}};
  std::string cursor = "0";
  do {
    Reply scan = Command(commands_.get(), {"HSCAN", CallsKey(vip), cursor, "COUNT", kScanCount});
    if (scan == nullptr) return false;
    if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
        scan->element[0]->type != REDIS_REPLY_STRING ||
        scan->element[1]->type != REDIS_REPLY_ARRAY) {
      // Not a hash (WRONGTYPE), or some other refusal: counted, and the
      // VIP taken without calls rather than retried for ever.
      ++counters_.bad_messages;
      RTPLATCH_LOG(Error, "cluster: %s: its calls cannot be read: %s",
                   CallsKey(vip).c_str(),
                   scan->type == REDIS_REPLY_ERROR ? Text(scan.get()).c_str() : "not a scan reply");
      break;
    }
    cursor = Text(scan->element[0]);
    const redisReply* fields = scan->element[1];
    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
      loaded.records.push_back(Text(fields->element[f + 1]));
    }
  } while (cursor != "0" && !stop_);
  counters_.calls_loaded += loaded.records.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    loaded_calls_.push_back(std::move(loaded));
  }
  calls_waiting_ = true;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  return true;
}

std::vector<RedisLink::LoadedCalls> RedisLink::TakeLoadedCalls() {
  if (!calls_waiting_.load(std::memory_order_relaxed)) return {};
  std::lock_guard<std::mutex> lock(mu_);
  calls_waiting_ = false;
  return std::exchange(loaded_calls_, {});
}

bool RedisLink::RenewLeases() {
  std::vector<std::pair<IpAddress, uint64_t>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [vip, h] : leases_) {
      if (h.epoch != 0 && !h.lost) held.emplace_back(vip, h.epoch);
    }
  }
  for (const auto& [vip, epoch] : held) {
    Reply r = Command(commands_.get(),
                      {"EVALSHA", renew_sha_, "2", LeaseKey(vip), EpochKey(vip),
                       absl::StrCat(epoch), options_.node, absl::StrCat(options_.lease_ttl_ms)});
    if (r == nullptr || r->type != REDIS_REPLY_INTEGER) return false;
    if (r->integer == 0) {
      LoseLease(vip);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = leases_.find(vip); it != leases_.end() && it->second.epoch == epoch) {
      it->second.renewed_ms = NowMs();
    }
  }
  return true;
}

void RedisLink::LoseLease(const IpAddress& vip) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = leases_.find(vip);
  if (it == leases_.end() || it->second.lost) return;
  it->second.lost = true;
  ++counters_.leases_lost;
  const std::string name = vip.ToString();
  RTPLATCH_LOG_FROM(Warning, name,
                    "cluster: lease of %s lost: another node took it (epoch %llu was ours)",
                    name.c_str(), static_cast<unsigned long long>(it->second.epoch));
}

std::optional<uint64_t> RedisLink::FenceEpoch(const IpAddress& vip) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = leases_.find(vip);
  if (it == leases_.end() || it->second.lost) return 0;
  if (it->second.epoch == 0) return std::nullopt;
  return it->second.epoch;
}

void RedisLink::SetHeartbeat(std::string heartbeat) {
  std::lock_guard<std::mutex> lock(mu_);
  heartbeat_ = std::move(heartbeat);
}

bool RedisLink::Beat() {
  std::string heartbeat;
  {
    std::lock_guard<std::mutex> lock(mu_);
    heartbeat = heartbeat_;
  }
  if (heartbeat.empty()) return true;
  Reply r = Command(commands_.get(),
                    {"EVALSHA", heartbeat_sha_, "1",
                     absl::StrCat(options_.prefix, ":node:", options_.node), heartbeat,
                     absl::StrCat(kHeartbeatsKept * options_.heartbeat_interval_ms),
                     nodes_channel_, absl::StrCat(options_.node, "\n", heartbeat)});
  return r != nullptr && r->type != REDIS_REPLY_ERROR;
}

size_t RedisLink::pending_writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return urgent_.size() + coalesced_.size();
}

std::vector<RedisLink::Remote> RedisLink::TakeRemote(size_t max) {
  uint64_t drained;
  (void)!read(wake_fd_, &drained, sizeof(drained));
  std::lock_guard<std::mutex> lock(mu_);
  const size_t n = std::min(max, remote_.size() - remote_taken_);
  std::vector<Remote> out(std::make_move_iterator(remote_.begin() + remote_taken_),
                          std::make_move_iterator(remote_.begin() + remote_taken_ + n));
  remote_taken_ += n;
  if (remote_taken_ == remote_.size()) {
    remote_.clear();
    remote_taken_ = 0;
  } else {
    const uint64_t one = 1;  // more wait: stay readable
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  return out;
}

void RedisLink::PushRemote(std::vector<Remote> remote) {
  if (remote.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Remote& r : remote) remote_.push_back(std::move(r));
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void RedisLink::Run() {
  int64_t next_flush = NowMs() + options_.flush_interval_ms;
  int64_t last_reply_ms = NowMs();
  int64_t next_beat = NowMs();
  while (!stop_) {
    if (!connected_ && !Connect()) {
      // Changes made meanwhile kick too: only stop ends the wait early,
      // so a down Redis costs one connect a second, not one a change.
      const int64_t retry_at = NowMs() + options_.reconnect_interval_ms;
      for (int64_t left = options_.reconnect_interval_ms; left > 0 && !stop_;
           left = retry_at - NowMs()) {
        pollfd kick{kick_fd_, POLLIN, 0};
        (void)poll(&kick, 1, static_cast<int>(left));
        uint64_t drained;
        (void)!read(kick_fd_, &drained, sizeof(drained));
      }
      continue;
    }
    pollfd fds[2] = {{subscriber_->fd, POLLIN, 0}, {kick_fd_, POLLIN, 0}};
    const int64_t wait = std::max<int64_t>(0, std::min(next_flush, next_beat) - NowMs());
    (void)poll(fds, 2, static_cast<int>(wait));
    if (fds[1].revents != 0) {
      uint64_t drained;
      (void)!read(kick_fd_, &drained, sizeof(drained));
    }
    if (fds[0].revents != 0 && !ReadMessages()) {
      Disconnect();
      continue;
    }
    // Leases before writes: a binding on a VIP just taken goes with its
    // epoch. The writes are taken after, so a broken link here loses none.
    if (!TakeLeases()) {
      Disconnect();
      continue;
    }
    if (NowMs() >= next_beat) {
      next_beat = NowMs() + options_.heartbeat_interval_ms;
      if (!Beat() || !RenewLeases()) {
        Disconnect();
        continue;
      }
    }
    OpMap ops;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ops.swap(urgent_);
      if (NowMs() >= next_flush) {
        const size_t flushed = coalesced_.size();
        if (ops.empty()) {
          ops.swap(coalesced_);
        } else {
          for (auto& [key, op] : coalesced_) ops.try_emplace(key, std::move(op));
        }
        // Sized for the next interval's refreshes here, on this thread:
        // the loop then adds them without growing the table.
        coalesced_ = {};
        coalesced_.reserve(flushed);
        next_flush = NowMs() + options_.flush_interval_ms;
      }
    }
    if (!ops.empty()) {
      if (!Write(std::move(ops))) Disconnect();
      last_reply_ms = NowMs();
    } else if (NowMs() - last_reply_ms >= options_.ping_interval_ms) {
      if (!Ping()) {
        RTPLATCH_LOG(Warning, "cluster: redis %s: no answer to PING",
                     server_.ToString().c_str());
        Disconnect();
        continue;
      }
      last_reply_ms = NowMs();
    }
  }
  Disconnect();
}

std::optional<Endpoint> RedisLink::MasterFromSentinels(std::string& why) {
  for (const Endpoint& sentinel : options_.sentinels) {
    Context c(redisConnectWithTimeout(sentinel.ip.ToString().c_str(), sentinel.port,
                                      Timeval(options_.connect_timeout_ms)));
    if (c == nullptr || c->err != 0) {
      why = absl::StrCat("sentinel ", sentinel.ToString(), ": ", c ? c->errstr : "out of memory");
      continue;
    }
    redisSetTimeout(c.get(), Timeval(options_.reply_timeout_ms));
    Reply r = Command(c.get(), {"SENTINEL", "get-master-addr-by-name", options_.master_name});
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      why = absl::StrCat("sentinel ", sentinel.ToString(), " knows no master '",
                         options_.master_name, "'");
      continue;
    }
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(Text(r->element[0]));
    int port = 0;
    if (!ip.ok() || !absl::SimpleAtoi(Text(r->element[1]), &port) || port <= 0 || port > 65535) {
      why = absl::StrCat("sentinel ", sentinel.ToString(), ": bad master address");
      continue;
    }
    return Endpoint{*ip, static_cast<uint16_t>(port)};
  }
  return std::nullopt;
}

bool RedisLink::IsMaster(std::string& why) {
  Reply role = Command(commands_.get(), {"ROLE"});
  if (role == nullptr || role->type != REDIS_REPLY_ARRAY || role->elements == 0) {
    why = "ROLE: no answer";
    return false;
  }
  if (Text(role->element[0]) != "master") {
    why = absl::StrCat("is a ", Text(role->element[0]), ", not the master");
    return false;
  }
  return true;
}

bool RedisLink::Connect() {
  std::string why;
  if (!options_.sentinels.empty()) {
    std::optional<Endpoint> master = MasterFromSentinels(why);
    if (master) server_ = *master;
  } else {
    server_ = options_.server;
  }
  const std::string where = server_.ToString();
  auto fail = [&](absl::string_view reason) {
    ++counters_.connect_failures;
    if (!logged_down_) {
      RTPLATCH_LOG(Error, "cluster: redis %s: %s (serving from memory; retrying every %lld ms)",
                   where.c_str(), std::string(reason).c_str(),
                   static_cast<long long>(options_.reconnect_interval_ms));
      logged_down_ = true;
    }
    commands_.reset();
    subscriber_.reset();
    return false;
  };
  if (!why.empty() && server_.port == 0) return fail(why);  // no sentinel answered yet
  const std::string ip = server_.ip.ToString();
  for (Context* c : {&commands_, &subscriber_}) {
    c->reset(redisConnectWithTimeout(ip.c_str(), server_.port,
                                     Timeval(options_.connect_timeout_ms)));
    if (*c == nullptr) return fail("out of memory");
    if ((*c)->err != 0) return fail((*c)->errstr);
    redisSetTimeout(c->get(), Timeval(options_.reply_timeout_ms));
  }
  if (!IsMaster(why)) return fail(why);
  for (auto [script, sha] :
       {std::pair{absl::StrCat(FenceOn("KEYS[1]"), kPutBatchBody), &put_sha_},
        std::pair{absl::StrCat(FenceOn("KEYS[2]"), kDelBody), &del_sha_},
        std::pair{absl::StrCat(FenceOn("KEYS[2]"), kRenewBody), &renew_sha_},
        std::pair{std::string(kHeartbeatScript), &heartbeat_sha_},
        std::pair{std::string(kTakeScript), &take_sha_}}) {
    Reply r = Command(commands_.get(), {"SCRIPT", "LOAD", script});
    if (r == nullptr) return fail(commands_->errstr);
    if (r->type != REDIS_REPLY_STRING) return fail(absl::StrCat("SCRIPT LOAD: ", Text(r.get())));
    *sha = Text(r.get());
  }
  const std::string run_id = RunId();
  // Two channels: the second confirmation waits in the reader and is
  // skipped with the messages.
  Reply sub = Command(subscriber_.get(), {"SUBSCRIBE", channel_, nodes_channel_});
  if (sub == nullptr) return fail(subscriber_->errstr);
  if (sub->type != REDIS_REPLY_ARRAY) return fail(absl::StrCat("SUBSCRIBE: ", Text(sub.get())));
  // Subscribed first: a change made while the table is read is not missed
  // (it may come twice, which applying it again makes harmless).
  PushRemote({{Remote::Kind::kSnapshotBegin, "", "", "", run_id}});
  if (!ReadSnapshot()) return fail(commands_->err != 0 ? commands_->errstr : "reading the shared table");
  PushRemote({{Remote::Kind::kSnapshotEnd, "", "", "", ""}});
  ++counters_.connects;
  if (logged_down_) {
    RTPLATCH_LOG(Notice, "cluster: redis %s: connected again", where.c_str());
  } else if (!options_.sentinels.empty()) {
    RTPLATCH_LOG(Info, "cluster: redis %s: the master sentinel names",
                 where.c_str());
  }
  logged_down_ = false;
  connected_ = true;
  return true;
}

void RedisLink::Disconnect() {
  connected_ = false;
  commands_.reset();
  subscriber_.reset();
}

std::string RedisLink::RunId() {
  Reply info = Command(commands_.get(), {"INFO", "server"});
  if (info == nullptr || info->type != REDIS_REPLY_STRING) return "";
  for (absl::string_view line : absl::StrSplit(absl::string_view(info->str, info->len), "\r\n")) {
    if (absl::ConsumePrefix(&line, "run_id:")) return std::string(line);
  }
  return "";
}

bool RedisLink::Ping() {
  Reply pong = Command(commands_.get(), {"PING"});
  return pong != nullptr && pong->type == REDIS_REPLY_STATUS;
}

bool RedisLink::ReadNodes() {
  std::string cursor = "0";
  const std::string prefix = absl::StrCat(options_.prefix, ":node:");
  do {
    Reply scan = Command(commands_.get(), {"SCAN", cursor, "MATCH", prefix + "*", "COUNT", kScanCount});
    if (scan == nullptr || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) return false;
    cursor = Text(scan->element[0]);
    std::vector<Remote> batch;
    for (size_t i = 0; i < scan->element[1]->elements; ++i) {
      const std::string key = Text(scan->element[1]->element[i]);
      Reply value = Command(commands_.get(), {"GET", key});
      if (value == nullptr) return false;
      const std::string node = key.substr(prefix.size());
      if (value->type != REDIS_REPLY_STRING || node == options_.node) continue;
      batch.push_back({Remote::Kind::kNode, node, "", "", Text(value.get())});
    }
    PushRemote(std::move(batch));
  } while (cursor != "0" && !stop_);
  return true;
}

bool RedisLink::ReadSnapshot() {
  if (!ReadNodes()) return false;
  std::string cursor = "0";
  const std::string pattern = absl::StrCat(options_.prefix, ":b:*");
  do {
    Reply scan = Command(commands_.get(), {"SCAN", cursor, "MATCH", pattern, "COUNT", kScanCount});
    if (scan == nullptr || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) return false;
    cursor = Text(scan->element[0]);
    const redisReply* keys = scan->element[1];
    for (size_t i = 0; i < keys->elements; ++i) {
      Append(commands_.get(), {"HGETALL", Text(keys->element[i])});
    }
    std::vector<Remote> batch, refreshes;
    for (size_t i = 0; i < keys->elements; ++i) {
      void* raw = nullptr;
      if (redisGetReply(commands_.get(), &raw) != REDIS_OK) return false;
      Reply fields(static_cast<redisReply*>(raw));
      if (fields->type != REDIS_REPLY_ARRAY) continue;  // gone since the SCAN
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        std::string field = Text(fields->element[f]);
        if (absl::EndsWith(field, kRefreshSuffix)) {
          field.resize(field.size() - kRefreshSuffix.size());
          // Applied after the values: a refresh moves a binding held.
          const std::string key = Text(keys->element[i]);
          refreshes.push_back({Remote::Kind::kRefresh, "", key.substr(pattern.size() - 1),
                               std::move(field), Text(fields->element[f + 1])});
        } else {
          batch.push_back({Remote::Kind::kPut, "", "", "", Text(fields->element[f + 1])});
        }
      }
    }
    std::move(refreshes.begin(), refreshes.end(), std::back_inserter(batch));
    counters_.snapshot_bindings += batch.size();
    PushRemote(std::move(batch));
  } while (cursor != "0" && !stop_);
  return true;
}

bool RedisLink::ReadMessages() {
  if (redisBufferRead(subscriber_.get()) != REDIS_OK) return false;
  std::vector<Remote> batch;
  for (;;) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(subscriber_.get(), &raw) != REDIS_OK) return false;
    if (raw == nullptr) break;
    Reply msg(static_cast<redisReply*>(raw));
    if (msg->type != REDIS_REPLY_ARRAY || msg->elements != 3 ||
        msg->element[2]->type != REDIS_REPLY_STRING) {
      continue;  // a subscribe confirmation
    }
    absl::string_view payload(msg->element[2]->str, msg->element[2]->len);
    if (absl::string_view(msg->element[1]->str, msg->element[1]->len) == nodes_channel_) {
      std::vector<std::string> beat = absl::StrSplit(payload, absl::MaxSplits('\n', 1));
      if (beat.size() != 2) {
        ++counters_.bad_messages;
      } else if (beat[0] != options_.node) {
        batch.push_back({Remote::Kind::kNode, std::move(beat[0]), "", "", std::move(beat[1])});
      }
      continue;
    }
    if (absl::ConsumePrefix(&payload, "batch\n")) {
      ReadBatch(payload, batch);
    } else {
      ReadChange(payload, batch);
    }
  }
  PushRemote(std::move(batch));
  return true;
}

void RedisLink::ReadBatch(absl::string_view payload, std::vector<Remote>& batch) {
  // "batch\n" then each change as "<length>\n<change>" (MessageOf).
  while (!payload.empty()) {
    const size_t eol = payload.find('\n');
    size_t length = 0;
    if (eol == absl::string_view::npos || !absl::SimpleAtoi(payload.substr(0, eol), &length) ||
        length > payload.size() - eol - 1) {
      ++counters_.bad_messages;
      return;
    }
    ReadChange(payload.substr(eol + 1, length), batch);
    payload.remove_prefix(eol + 1 + length);
  }
}

void RedisLink::ReadChange(absl::string_view payload, std::vector<Remote>& batch) {
  std::vector<std::string> parts = absl::StrSplit(payload, absl::MaxSplits('\n', 4));
  const bool put = parts.size() == 5 && parts[0] == "put";
  const bool refresh = parts.size() == 5 && parts[0] == "exp";
  const bool del = parts.size() == 4 && parts[0] == "del";
  if (!put && !refresh && !del) {
    ++counters_.bad_messages;
    return;
  }
  if (parts[1] == options_.node) return;  // our own, echoed
  ++counters_.remote_changes;
  const Remote::Kind kind =
      put ? Remote::Kind::kPut : refresh ? Remote::Kind::kRefresh : Remote::Kind::kRemove;
  batch.push_back({kind, std::move(parts[1]), std::move(parts[2]), std::move(parts[3]),
                   del ? "" : std::move(parts[4])});
}

std::string RedisLink::MessageOf(const std::vector<const Op*>& ops) const {
  std::vector<std::string> changes;
  for (const Op* op : ops) {
    if (!op->aor.empty()) changes.push_back(MessageOf(*op));
  }
  if (changes.size() <= 1) return changes.empty() ? "" : std::move(changes[0]);
  std::string batch = "batch\n";
  for (const std::string& c : changes) absl::StrAppend(&batch, c.size(), "\n", c);
  return batch;
}

void RedisLink::AppendWrite(const WriteScript& w) {
  const Op& first = *w.ops.front();
  const std::string epoch = absl::StrCat(w.epoch);
  const std::string epoch_key = w.epoch == 0 ? first.hash : EpochKey(first.fence);  // unfenced: unread
  if (first.remove) {
    Append(commands_.get(), {"EVALSHA", del_sha_, "2", first.hash, epoch_key, epoch, first.field,
                             channel_, MessageOf(first)});
    return;
  }
  const std::string keys = absl::StrCat(w.ops.size() + 1);
  const std::string message = MessageOf(w.ops);
  std::vector<std::string> expiries;
  expiries.reserve(w.ops.size());  // viewed by args: never moved
  std::vector<absl::string_view> args = {"EVALSHA", put_sha_, keys, epoch_key};
  args.reserve(7 + 5 * w.ops.size());
  for (const Op* op : w.ops) args.push_back(op->hash);
  args.insert(args.end(), {epoch, channel_, message});
  for (const Op* op : w.ops) {
    const bool whole_binding = !op->refresh && !op->aor.empty();
    args.insert(args.end(), {op->field, op->value,
                             expiries.emplace_back(absl::StrCat(op->expires_at_ms)),
                             whole_binding ? "1" : "0"});
  }
  Append(commands_.get(), args);
}

bool RedisLink::Write(OpMap ops) {
  // Fenced writes go with the epoch this node holds their VIP with; those
  // of a VIP being taken wait for it, those of a VIP not ours are dropped.
  // A removal is a script of its own; puts go in batches, each under one
  // fence and epoch.
  std::vector<WriteScript> scripts;
  absl::flat_hash_map<std::pair<IpAddress, uint64_t>, std::vector<const Op*>> puts;
  OpMap waiting;
  for (auto it = ops.begin(); it != ops.end();) {
    std::optional<uint64_t> epoch =
        it->second.fence.is_unspecified() ? std::optional<uint64_t>(0) : FenceEpoch(it->second.fence);
    if (!epoch) {
      waiting.insert(ops.extract(it++));
      continue;
    }
    if (*epoch == 0 && !it->second.fence.is_unspecified()) {
      ++counters_.fenced_writes;
      ops.erase(it++);
      continue;
    }
    if (it->second.remove) {
      scripts.push_back({*epoch, {&it->second}});
    } else {
      puts[{it->second.fence, *epoch}].push_back(&it->second);
    }
    ++it;
  }
  for (auto& [fence, list] : puts) {
    // A binding's whole value before refreshes: its put drops the
    // binding's refresh field, which a newer refresh then writes again.
    std::stable_partition(list.begin(), list.end(), [](const Op* op) { return !op->refresh; });
    for (size_t i = 0; i < list.size(); i += kPutBatch) {
      const size_t end = std::min(list.size(), i + kPutBatch);
      scripts.push_back({fence.second, {list.begin() + i, list.begin() + end}});
    }
  }
  for (const WriteScript& w : scripts) AppendWrite(w);
  bool ok = true;
  uint64_t landed = 0;
  for (size_t i = 0; i < scripts.size() && ok; ++i) {
    void* raw = nullptr;
    ok = redisGetReply(commands_.get(), &raw) == REDIS_OK;
    Reply reply(static_cast<redisReply*>(raw));
    if (ok && reply->type == REDIS_REPLY_ERROR) {
      // A script refused (NOSCRIPT after a Redis restart, OOM): the
      // connection is redone and the change written again.
      RTPLATCH_LOG(Warning, "cluster: redis: %s", Text(reply.get()).c_str());
      ok = false;
    } else if (ok && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
      // The VIP's epoch moved on: another node holds it now.
      counters_.fenced_writes += scripts[i].ops.size();
      LoseLease(scripts[i].ops.front()->fence);
    } else if (ok) {
      landed += scripts[i].ops.size();
    }
  }
  counters_.writes += landed;  // the batch's at once
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, op] : waiting) {
    if (!coalesced_.contains(key) && !urgent_.contains(key)) coalesced_.try_emplace(key, std::move(op));
  }
  if (ok) return true;
  // Which of the batch landed is not known: all of it goes again (writing
  // a binding twice is harmless), after any newer change to the same one.
  ++counters_.write_failures;
  for (auto& [key, op] : ops) {
    if (!coalesced_.contains(key)) urgent_.try_emplace(key, std::move(op));
  }
  return false;
}

}  // namespace rtplatch
