// The cluster's connection to Redis (docs/cluster.md), on a thread of its
// own: the event loop hands it this node's binding changes and takes the
// other nodes' changes from it, and never waits for Redis. While Redis is
// unreachable the node serves from memory, its unwritten changes wait here
// (one per binding, the latest), and the thread reconnects every second;
// on each connect it reads the whole shared table again (Redis's pub/sub
// messages are fire-and-forget: whatever was published while the link was
// down is lost, the hashes are not).
//
// In Redis, under `prefix`:
//   <prefix>:b:<aor>   a hash, contact -> the binding's JSON (binding_codec.h),
//                      expiring with the AOR's latest binding
//   <prefix>:bindings  the channel every change is published on:
//                      "put\n<node>\n<aor>\n<contact>\n<json>" or
//                      "del\n<node>\n<aor>\n<contact>"
//   <prefix>:node:<n>  node n's heartbeat (cluster_nodes.h), expiring
//                      three heartbeats after it was written
//   <prefix>:nodes     the channel heartbeats are published on: "<n>\n<json>"
//   <prefix>:epoch:<vip>  the VIP's ownership epoch, one more at every take;
//                      never expires (an epoch must never come back)
//   <prefix>:lease:<vip>  "<node> <epoch>": who holds the VIP, renewed with
//                      each heartbeat, expiring lease_ttl_ms after
//   <prefix>:c:<vip>   a hash, Call-ID -> the record of a call on the VIP
//                      (control/media/call_record.h), written fenced on
//                      each change of the call, deleted when it ends; read
//                      by the node that takes the VIP, once its lease is in
// Ownership of a VIP (a public address keepalived moves between nodes) is
// a lease: taking it adds one to the VIP's epoch, and every write of a
// binding that arrived on the VIP carries the epoch it was taken with; a
// script refuses a write whose epoch is not the VIP's current one (a node
// cut off from Redis while another took its VIP cannot overwrite what the
// successor wrote once it is back). A node that cannot renew its lease
// (Redis unreachable) treats it as gone lease_ttl_ms after the last
// renewal: it sends no keepalives for the VIP's phones (lease(vip).valid).
// Each change is one EVALSHA of a small Lua script (the hash write, its
// expiry and the publish at once), so a change is one command in Redis's
// INFO commandstats and never half applied.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"

struct redisContext;

namespace rtplatch {

class RedisLink {
 public:
  struct Options {
    // Redis itself, or (with `sentinels`) found through Redis Sentinel:
    // the master Sentinel names for `master_name`, asked again on every
    // connect, so a failover is followed.
    Endpoint server;
    std::vector<Endpoint> sentinels;
    std::string master_name = "rtplatch";
    std::string node;  // this node's name: its own messages are skipped
    std::string prefix = "rtplatch";
    // How often refreshes that only move an expiry are written: a storm
    // of them costs Redis one write per binding per interval.
    int64_t flush_interval_ms = 1000;
    int64_t connect_timeout_ms = 1000;
    int64_t reply_timeout_ms = 2000;
    int64_t reconnect_interval_ms = 1000;
    // An idle link PINGs Redis this often: a partition that drops packets
    // (no reset, no close) shows as a PING unanswered within
    // reply_timeout_ms, and the node reconnects and reads the table again.
    int64_t ping_interval_ms = 1000;
    // This node's heartbeat goes out this often (once set); leases are
    // renewed with it.
    int64_t heartbeat_interval_ms = 1000;
    // A lease not renewed for this long is gone: three heartbeats.
    int64_t lease_ttl_ms = 3000;
  };
  // What this node holds of a VIP, as the Redis thread last saw it.
  struct Lease {
    uint64_t epoch = 0;  // 0: not taken (yet)
    bool lost = false;   // another node took it since (a newer epoch)
    bool valid = false;  // taken, not lost, renewed within lease_ttl_ms
  };
  // A change another node made (or, after a connect, a binding read from
  // the shared table: node, aor and contact then come from `value`). A
  // read of the table comes between kSnapshotBegin (value: the Redis
  // server's run_id, new when Redis restarted) and kSnapshotEnd; a read
  // cut short by a lost connection has no end, and the next one begins
  // again.
  struct Remote {
    // kNode: node's heartbeat (value: its JSON).
    // kRefresh: only the binding's expiry, CSeq and Call-ID moved (value:
    // binding_codec.h's EncodeRefresh; from a read of the table, node is
    // empty).
    enum class Kind : uint8_t { kPut, kRemove, kRefresh, kSnapshotBegin, kSnapshotEnd, kNode };
    Kind kind = Kind::kPut;
    std::string node;
    std::string aor;
    std::string contact;
    std::string value;  // kPut: the binding's JSON
  };
  struct Counters {
    std::atomic<uint64_t> writes{0};          // changes Redis acknowledged
    std::atomic<uint64_t> write_failures{0};  // batches that lost the connection
    std::atomic<uint64_t> connects{0};
    std::atomic<uint64_t> connect_failures{0};
    std::atomic<uint64_t> remote_changes{0};  // other nodes' changes received
    std::atomic<uint64_t> snapshot_bindings{0};
    std::atomic<uint64_t> bad_messages{0};    // published messages not understood
    std::atomic<uint64_t> lease_takes{0};
    std::atomic<uint64_t> leases_lost{0};     // taken by another node while held here
    std::atomic<uint64_t> fenced_writes{0};   // refused: the VIP's epoch moved on
    std::atomic<uint64_t> calls_loaded{0};    // call records read at takes
  };
  // The calls recorded for a VIP this node took, read once its lease was in.
  struct LoadedCalls {
    IpAddress vip;
    std::vector<std::string> records;
  };

  // Starts the thread; Redis need not be up yet (it is retried).
  static absl::StatusOr<std::unique_ptr<RedisLink>> Start(Options options);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Event loop side. `urgent`: written at once; else with the next flush.
  // A later change to the same binding replaces one still waiting.
  // `fence`: the VIP the binding arrived on (unspecified: none); the write
  // carries the epoch this node holds it with, and is dropped (counted)
  // when it holds none or the VIP's epoch moved on.
  void Put(absl::string_view aor, absl::string_view contact, std::string value,
           int64_t expires_at_ms, bool urgent, const IpAddress& fence = {});
  void Remove(absl::string_view aor, absl::string_view contact, const IpAddress& fence = {});
  // A plain refresh (`value`: binding_codec.h's EncodeRefresh), written
  // with the next flush as a field of its own beside the binding's value
  // ("<contact>\nr"), and published as such; the next Put or Remove of
  // the binding drops it.
  void Refresh(absl::string_view aor, absl::string_view contact, std::string value,
               int64_t expires_at_ms, const IpAddress& fence = {});
  // A call on `vip` (its record) written or deleted at once, fenced by
  // the VIP's lease like a binding.
  void PutCall(const IpAddress& vip, absl::string_view call_id, std::string record);
  void RemoveCall(const IpAddress& vip, absl::string_view call_id);
  // The calls of VIPs taken since the last call (the wake fd signals them
  // too).
  std::vector<LoadedCalls> TakeLoadedCalls();
  // Takes the VIP's lease (its epoch + 1) as soon as Redis answers, and
  // renews it with every heartbeat; ReleaseLease stops renewing (the key
  // expires, the next taker's epoch is higher anyway).
  void TakeLease(const IpAddress& vip);
  void ReleaseLease(const IpAddress& vip);
  Lease lease(const IpAddress& vip) const;
  // What this node's next heartbeats say (JSON, cluster_nodes.h).
  void SetHeartbeat(std::string heartbeat);
  // Readable while other nodes' changes wait (an eventfd: add it to the
  // loop's wait set); TakeRemote clears it.
  int wake_fd() const { return wake_fd_; }
  // Up to `max` waiting changes, oldest first.
  std::vector<Remote> TakeRemote(size_t max);
  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  size_t pending_writes() const;
  const Counters& counters() const { return counters_; }
  const Options& options() const { return options_; }

 private:
  // One hash field written or deleted.
  struct Op {
    bool remove = false;
    bool refresh = false;  // field is "<contact>\nr", value as Refresh writes it
    std::string hash;   // the Redis key
    std::string field;  // a binding's contact, a call's Call-ID
    std::string value;
    int64_t expires_at_ms = 0;  // the hash's, at least (0: none)
    IpAddress fence;
    // A binding's AOR: the change is published on channel_ (built when it
    // is written, not for each change a newer one replaces); empty: a
    // call's, not published.
    std::string aor;
  };
  // The message a binding's change is published with ("" for a call's).
  std::string MessageOf(const Op& op) const;
  // Those of several changes in one message ("" for none; one change's
  // own message when it is the only one).
  std::string MessageOf(const std::vector<const Op*>& ops) const;
  // One script of a Write: a removal, or puts under one fence and epoch.
  struct WriteScript {
    uint64_t epoch = 0;
    std::vector<const Op*> ops;
  };
  struct HeldLease {
    uint64_t epoch = 0;
    int64_t renewed_ms = 0;
    bool lost = false;
  };
  using OpMap = absl::flat_hash_map<std::string, Op>;  // by "hash\nfield"
  struct ContextFree {
    void operator()(redisContext* c) const;
  };
  using Context = std::unique_ptr<redisContext, ContextFree>;

  explicit RedisLink(Options options);
  void Run();
  // One connection (commands, then the subscriber), the scripts loaded,
  // the shared table read; false (and logged once a streak) if not.
  bool Connect();
  void Disconnect();
  bool ReadSnapshot();
  // The other nodes' heartbeat keys (part of a snapshot).
  bool ReadNodes();
  // The master the first answering sentinel names; nullopt (and `why`)
  // when none does.
  std::optional<Endpoint> MasterFromSentinels(std::string& why);
  // ROLE says master: a demoted master still up takes no writes.
  bool IsMaster(std::string& why);
  Endpoint server_;  // the thread's: the Redis connected to last
  // The connected server's run_id (INFO server); empty if unknown.
  std::string RunId();
  bool Ping();
  // The subscriber's messages waiting in its socket; false when it broke.
  bool ReadMessages();
  // A published change (MessageOf), or a batch of them, read into `batch`;
  // one not understood is counted.
  void ReadChange(absl::string_view payload, std::vector<Remote>& batch);
  void ReadBatch(absl::string_view payload, std::vector<Remote>& batch);
  void AppendWrite(const WriteScript& w);
  // Writes `ops` in one pipeline; on a broken connection puts them back
  // (unless a newer change to the binding arrived) and returns false.
  bool Write(OpMap ops);
  void PushRemote(std::vector<Remote> remote);
  void Kick();

  const Options options_;
  const std::string channel_;
  const std::string nodes_channel_;
  Counters counters_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  int wake_fd_ = -1;  // to the loop: remote changes wait
  int kick_fd_ = -1;  // to the thread: urgent writes wait, or stop

  mutable std::mutex mu_;
  OpMap urgent_;     // guarded by mu_
  OpMap coalesced_;  // guarded by mu_
  std::vector<Remote> remote_;  // guarded by mu_
  std::string heartbeat_;       // guarded by mu_
  absl::flat_hash_map<IpAddress, HeldLease> leases_;  // guarded by mu_
  std::vector<IpAddress> takes_;                      // guarded by mu_: leases to take
  size_t remote_taken_ = 0;     // guarded by mu_: remote_[0, taken) handed out
  std::vector<LoadedCalls> loaded_calls_;  // guarded by mu_
  std::atomic<bool> calls_waiting_{false};  // loaded_calls_ is not empty

  // The thread's own.
  Context commands_;
  Context subscriber_;
  std::string put_sha_;
  std::string del_sha_;
  std::string heartbeat_sha_;
  // The heartbeat, written and published; false when the link broke.
  bool Beat();
  // The leases waiting to be taken, taken; the held ones renewed. False
  // when the link broke.
  bool TakeLeases();
  bool RenewLeases();
  // The epoch a write fenced by `vip` goes with.
  // 0: not ours (or lost): dropped; nullopt: being taken, wait.
  std::optional<uint64_t> FenceEpoch(const IpAddress& vip);
  std::string LeaseKey(const IpAddress& vip) const;  // <prefix>:lease:<vip>
  std::string BindingsKey(absl::string_view aor) const;  // <prefix>:b:<aor>
  std::string CallsKey(const IpAddress& vip) const;      // <prefix>:c:<vip>
  // Waits to be written: removals and urgent changes at once.
  void Enqueue(Op op, bool urgent);
  // The VIP's call records, read for the loop (TakeLoadedCalls); false
  // when the link broke.
  bool LoadCalls(const IpAddress& vip);
  std::string EpochKey(const IpAddress& vip) const;  // <prefix>:epoch:<vip>
  void LoseLease(const IpAddress& vip);
  std::string take_sha_;
  std::string renew_sha_;
  bool logged_down_ = false;
  std::thread thread_;
};

}  // namespace rtplatch
