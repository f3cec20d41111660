// The control plane's connection to the dataplane's control socket
// (docs/control-protocol.md): typed calls for the streams and keepalive
// targets the proxy and registrar need, reconnection, and restart
// detection.
//
// Two connections: one for requests (a call waits for its reply, at most
// timeout_ms: the socket is local and the dataplane answers from its main
// lcore, so a reply takes microseconds; updates and deletes may instead be
// posted and their replies read once per event-loop round), one subscribed
// to events (idle, latched), read without blocking from the event loop.
//
// The dataplane keeps no state across a restart; the control plane is the
// source of truth (design.md). When either connection breaks, the link
// reconnects (at most once per retry interval, so a dead dataplane costs a
// failed connect() per second, not per call) and, once connected again,
// calls `on_reconnect`, whose owner pushes back every live stream (at the
// relay ports the phones were given) and every keepalive target.
//
// While disconnected every call fails fast with Unavailable; the proxy
// answers new calls 503.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "common/control_client.h"
#include "common/latch_policy.h"
#include "nlohmann/json.hpp"

namespace rtplatch {


struct LegSpec {
  bool ipv6 = false;
  std::optional<Endpoint> peer;   // the SDP address (nullopt: hold or unknown)
  LatchPolicy policy = LatchPolicy::kLearn;
  bool rtcp_mux = false;
  std::optional<Endpoint> relay;  // re-push: the RTP relay port to take
  // The relay address facing this leg's phone (ng "direction"); nullopt:
  // the dataplane picks one of the family.
  std::optional<IpAddress> address;
  // ICE credentials the leg's relay ports answer checks with (ng
  // "ICE=force"); empty: none.
  std::string ice_ufrag;
  std::string ice_pwd;
};

struct StreamInfo {
  uint64_t stream = 0;
  Endpoint relay;       // RTP
  Endpoint rtcp_relay;  // RTCP
};

struct PairInfo {
  uint64_t pair = 0;
  StreamInfo a;
  StreamInfo b;
};

struct KeepaliveSpec {
  Endpoint target;
  Endpoint source;
  std::string payload = "crlf";  // "crlf", "zero4"
  uint32_t interval_ms = 60000;
  std::string label;
  uint32_t first_within_ms = 0;  // 0: the first send anywhere in the first interval
};

struct DataplaneEvent {
  std::string event;  // "idle", "latched", "relatched"
  uint64_t stream = 0;
  uint64_t pair = 0;
  std::string peer;
};

struct DataplaneLinkCounters {
  uint64_t calls = 0;
  uint64_t call_failures = 0;  // transport failures, not error replies
  uint64_t reconnects = 0;
  uint64_t events = 0;
  uint64_t posted = 0;
  uint64_t posted_failures = 0;  // error replies to posted requests
};

class DataplaneLink {
 public:
  struct Options {
    std::string socket_path;
    int timeout_ms = 1000;
    int retry_interval_ms = 1000;
    // Called after every successful (re)connection, before any other call
    // returns; the first connection counts too.
    std::function<void()> on_reconnect;
  };

  explicit DataplaneLink(Options options);

  bool connected() const { return requests_ && requests_->connected(); }
  // Connects when down and the retry interval has passed. Cheap when up.
  absl::Status EnsureConnected();

  absl::StatusOr<PairInfo> Allocate(const LegSpec& a, const LegSpec& b, absl::string_view label);
  absl::Status Update(uint64_t stream, const std::optional<Endpoint>& peer, LatchPolicy policy);
  absl::Status Delete(uint64_t pair);
  // Delete, returning the reply: the pair's streams as the delete found
  // them ({"deleted":P,"a":Stream,"b":Stream}), for a call's final report.
  absl::StatusOr<nlohmann::json> DeleteReporting(uint64_t pair);
  // The same two without waiting for the reply (a call's 200 and BYE
  // should not wait a dataplane round trip each): the request is sent now,
  // its reply read by the next Settle() or before the next waiting call.
  // An error reply then is counted (`posted_failures`) and logged in
  // last_error(); the result is what a failed Update or Delete leaves
  // anyway (the old peer, latching still on; a pair the idle scan ends).
  // Unavailable if the dataplane is not connected.
  absl::Status PostUpdate(uint64_t stream, const std::optional<Endpoint>& peer,
                          LatchPolicy policy);
  absl::Status PostDelete(uint64_t pair);
  // Reads the replies of every posted request (the event loop calls it once
  // per round, so a round's posts cost one wait).
  void Settle();
  size_t unsettled() const { return posted_.size(); }
  absl::StatusOr<std::vector<uint64_t>> AddKeepalives(const std::vector<KeepaliveSpec>& targets);
  absl::Status UpdateKeepalive(uint64_t id, uint32_t interval_ms);
  absl::Status RemoveKeepalives(const std::vector<uint64_t>& ids);
  // Ids of keepalive targets whose label starts with `prefix` (all pages).
  absl::StatusOr<std::vector<uint64_t>> ListKeepalives(absl::string_view label_prefix);
  // Every stream pair whose label starts with `prefix`: (pair id, label).
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> ListPairs(
      absl::string_view label_prefix);
  absl::StatusOr<nlohmann::json> Stats();
  // A standby address (a VIP) taken (address_take: relayed, announced,
  // on the kernel's tap) or released (address_release).
  absl::Status SetAddressHeld(const IpAddress& address, bool held);
  // One stream's state and counters (docs/control-protocol.md, `Stream`).
  absl::StatusOr<nlohmann::json> QueryStream(uint64_t stream);
  // Both streams of a pair in one round trip: {"pair":P,"a":Stream,"b":Stream}.
  absl::StatusOr<nlohmann::json> QueryPair(uint64_t pair);

  // Events received since the last call (never blocks).
  std::vector<DataplaneEvent> PollEvents();

  const DataplaneLinkCounters& counters() const { return counters_; }
  const std::string& last_error() const { return last_error_; }

 private:
  absl::StatusOr<control::Reply> Call(absl::string_view cmd, const nlohmann::json& args);
  absl::Status Post(absl::string_view cmd, const nlohmann::json& args);
  // Pages through a list command (`key`: the reply's array) and calls fn
  // for every object in it.
  absl::Status ForEachListed(absl::string_view cmd, absl::string_view key,
                             absl::FunctionRef<void(const nlohmann::json&)> fn);
  void Disconnect(const absl::Status& why);
  // A request or reply lost on the wire: counted, the link dropped (a late
  // reply would pair with the wrong request), Unavailable naming `cmd`.
  absl::Status TransportFailed(absl::string_view cmd, const absl::Status& why);

  Options options_;
  std::unique_ptr<control::ControlClient> requests_;
  std::unique_ptr<control::ControlClient> events_;
  // Posted requests whose replies are unread: (id, command), in order.
  std::deque<std::pair<nlohmann::json, std::string>> posted_;
  int64_t next_attempt_ms_ = 0;
  bool in_reconnect_ = false;
  std::string last_error_;
  DataplaneLinkCounters counters_;
};

}  // namespace rtplatch
