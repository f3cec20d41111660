// The calls a SIP proxy (Kamailio, OpenSIPS) anchors through rtplatch over
// the ng protocol (issue 14): offer, answer, delete, query, list and
// statistics on the dataplane's stream pairs, with the SDP rewritten by
// the one rewriter the SIP proxy uses too (control/sdp).
//
// Model. A call (Call-ID) has branches. A branch is one dialogue between
// the offerer of its first offer (tag a, the From tag) and its answerer
// (tag b, the To tag, empty until the answer); forked INVITEs make several
// branches from one tag a, told apart by via-branch. Each m= line of a
// branch is one dataplane pair: leg a receives what party a sends and sends
// to party a, leg b likewise for party b. SDP from one party is rewritten
// to the other party's leg, since that is where the other party sends.
// Re-offers may come from either party (Kamailio sends the message's From
// tag as from-tag and its To tag as to-tag).
//
// Ends of a call: delete (at once or after `delete delay`), rtpengine's
// timeouts (`timeout_s` of silence on every stream, `silent_timeout_s` for
// a call on hold, `final_timeout_s` after creation whatever happens), or
// the dataplane never coming back. Silence is learnt from the dataplane's
// idle events and confirmed by querying the streams before a call is
// ended, so a call whose one direction is quiet is not cut while the
// other still talks.
//
// Limits: `max_sessions` calls (0: none) and the dataplane's free ports;
// past either, or while draining, a new call is answered "load limit" to
// clients that support it (Kamailio then tries its next node) and an error
// to the others. Calls in progress are never refused.
//
// After a dataplane restart every pair is allocated again at the relay
// ports the phones were given (labels "ng:..."), as the proxy does for its
// own calls ("rc:...").
//
// Single-threaded, driven by the control plane's loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/media/dataplane_link.h"
#include "control/ng/bencode.h"
#include "control/ng/ng_call.h"
#include "control/ng/ng_call_report.h"
#include "control/ng/ng_message.h"
#include "control/ng/ng_options.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

// A named interface for ng's "direction": the relay addresses (one per
// family at most) facing one network.
struct NgInterface {
  std::optional<IpAddress> ipv4;
  std::optional<IpAddress> ipv6;
};

struct NgCallsConfig {
  std::map<std::string, NgInterface> interfaces;  // by name; none: no names
  int64_t max_sessions = 0;        // 0: no limit
  int64_t delete_delay_s = 30;     // rtpengine's default
  int64_t timeout_s = 60;          // rtpengine's --timeout
  int64_t silent_timeout_s = 3600; // rtpengine's --silent-timeout (calls on hold)
  int64_t final_timeout_s = 0;     // rtpengine's --final-timeout; 0: none
};

struct NgCallsCounters {
  uint64_t offers = 0;
  uint64_t answers = 0;
  uint64_t deletes = 0;
  uint64_t queries = 0;
  uint64_t calls_created = 0;
  uint64_t calls_deleted = 0;
  uint64_t calls_timed_out = 0;
  uint64_t calls_final_timeout = 0;
  uint64_t load_limited = 0;
  uint64_t pairs_allocated = 0;
  uint64_t pairs_deleted = 0;
  uint64_t pair_delete_failures = 0;
  uint64_t pairs_repushed = 0;
  uint64_t repush_failures = 0;
  uint64_t errors = 0;
};

class NgCalls {
 public:
  NgCalls(NgCallsConfig config, DataplaneLink& link, std::function<int64_t()> now_s,
          std::function<int64_t()> now_ms);

  // Answers one request (ping and unknown commands included).
  BencodeValue Handle(const NgRequest& request, const Endpoint& from);

  // An event for one of this table's pairs; false if the pair is not ours.
  bool OnDataplaneEvent(const DataplaneEvent& event);
  // Delayed deletes, timeouts; call every ~100 ms.
  void Tick();
  // Re-pushes every pair after a (re)connection; deletes stray "ng:" pairs.
  void OnDataplaneConnected();

  void set_draining(bool draining) { draining_ = draining; }
  bool draining() const { return draining_; }
  size_t size() const { return calls_.size(); }
  const NgCallsCounters& counters() const { return counters_; }
  nlohmann::json StatsJson() const;
  const NgCall* Find(absl::string_view call_id) const;

  static constexpr absl::string_view kPairLabelPrefix = "ng:";

 private:
  BencodeValue Offer(const NgOptions& o, bool answer);
  BencodeValue Delete(const NgOptions& o);
  BencodeValue Query(const NgOptions& o);
  BencodeValue List(const NgOptions& o) const;
  BencodeValue Statistics() const;
  std::optional<BencodeValue> RefuseNewCall(const NgOptions& o, absl::string_view why);

  // The branch an offer or answer is for, and whether its sender is party a.
  struct Target {
    NgBranch* branch = nullptr;
    bool from_a = true;
  };
  Target FindOfferTarget(NgCall& call, const NgOptions& o);
  Target FindAnswerTarget(NgCall& call, const NgOptions& o);
  // The SDP for the other party; `warning` is set for an ok reply's
  // "warning".
  absl::StatusOr<std::string> ApplySdp(NgCall& call, NgBranch& branch, bool from_a,
                                       const NgOptions& o, bool is_offer, std::string* warning);
  // Deletes the branch's media lines from `first` on, and their pairs.
  void DropLinesFrom(NgBranch& branch, size_t first);
  absl::Status AllocateLine(NgCall& call, NgBranch& branch, bool from_a, size_t index,
                            const NgLeg& sender, const NgOptions& o);
  std::string PairLabel(const NgCall& call, const NgBranch& branch, size_t index) const;

  void DeleteBranchMedia(NgBranch& branch);
  // Deletes every pair of `scope` now, each returning its final report.
  NgPairStates DeletePairsReporting(const std::vector<const NgBranch*>& scope);
  void EraseCall(const std::string& call_id);
  void CheckIdle(NgCall& call, int64_t now_ms);

  NgCallsConfig config_;
  DataplaneLink& link_;
  std::function<int64_t()> now_s_;
  std::function<int64_t()> now_ms_;
  absl::flat_hash_map<std::string, NgCall> calls_;
  absl::flat_hash_map<uint64_t, std::string> by_pair_;  // pair -> call-id
  absl::flat_hash_set<std::string> logged_ignored_;
  // Pairs DeletePairsReporting deleted, skipped by DeleteBranchMedia.
  absl::flat_hash_set<uint64_t> deleted_;
  bool draining_ = false;
  // Calls with a delayed delete or a silence check due: what Tick looks at.
  absl::flat_hash_set<std::string> timed_;
  // (created + final_timeout_s, call-id), earliest first.
  std::priority_queue<std::pair<int64_t, std::string>,
                      std::vector<std::pair<int64_t, std::string>>, std::greater<>>
      final_due_;
  NgCallsCounters counters_;
};

}  // namespace rtplatch
