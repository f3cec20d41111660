// Sheds load when rtplatch-control itself is over capacity: more requests
// arrive than its one thread can serve, from sources each within the
// guard's per-source limits (many phones at once after an outage, a peer's
// burst, a flood from many addresses).
//
// Overload is measured, not guessed: the transport gives each UDP datagram
// the time it waited in the kernel's socket queue (SO_TIMESTAMPNS). As in
// CoDel, a standing queue is told from a burst by the shortest wait over an
// interval: when even that is enter_delay_ms or more, requests arrive
// faster than they are served and the shedder turns on; it turns off after
// an interval whose shortest wait was leave_delay_ms or less (the queue
// drained), or after a quiet second with the queue read to its end. A stall of the loop (a
// slow disk) makes a burst of long waits, then short ones: no shedding;
// nor do fewer than kMinSamples datagrams in an interval.
// While on, what is cheap to tell
// apart is served by what it costs and what it is worth:
//   - responses, and requests inside a dialog (a To tag: BYE, re-INVITE,
//     ACK, in-dialog NOTIFY) and CANCEL: passed, so established calls
//     end and change as usual;
//   - a new INVITE: 503 Service Unavailable with Retry-After, built from
//     its raw lines, so the caller (or an upstream proxy) tries elsewhere
//     or later, instead of waiting for a call that will time out; an
//     INVITE whose Call-ID was admitted before the overload (a
//     retransmission, the retry after a 407 challenge) passes;
//   - REGISTER and every other out-of-dialog request: dropped unanswered
//     and counted; UDP clients retransmit, and a retransmission that
//     arrives once the queue has drained is served.
// The decision reads only the start line and the To and Call-ID headers
// (raw_sip_head.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "control/guard/overload_config.h"

namespace rtplatch {

enum class ShedVerdict : uint8_t { kPass, kRefuse, kDrop };  // kRefuse: 503

struct OverloadCounters {
  uint64_t overloads = 0;          // times the shedder turned on
  uint64_t refused_invites = 0;    // 503 + Retry-After
  uint64_t dropped_registers = 0;  // unanswered
  uint64_t dropped_other = 0;      // other out-of-dialog requests, unanswered
  uint64_t passed_in_dialog = 0;   // in-dialog requests, CANCEL, responses
  uint64_t passed_admitted = 0;    // INVITEs of calls admitted before
  int64_t max_delay_ms = 0;        // the longest queueing delay seen

  std::vector<std::pair<absl::string_view, uint64_t>> Named() const;
};

class OverloadShedder {
 public:
  static constexpr int64_t kAdmittedCallMs = 32'000;
  static constexpr int64_t kQuietLeaveMs = 1'000;
  // Datagrams an interval needs before its waits can turn shedding on.
  static constexpr uint32_t kMinSamples = 16;

  explicit OverloadShedder(OverloadConfig config) : config_(config) {}

  // One datagram's wait in the kernel's queue.
  void Observe(int64_t queued_ms, int64_t now_ms);
  // The fate of one received message (after the guard passed it).
  ShedVerdict Decide(absl::string_view bytes, int64_t now_ms);
  // Forgets old admitted calls; turns off when no datagram came for
  // kQuietLeaveMs and the last read emptied the queue (`queue_drained`:
  // a loop busy elsewhere reads nothing for a while too, with a queue
  // still there). Call about once a second.
  void Tick(int64_t now_ms, bool queue_drained);

  bool overloaded() const { return overloaded_; }
  // The shortest wait of the last interval that ended (what decided).
  int64_t last_interval_min_ms() const { return last_interval_min_ms_; }
  size_t admitted_calls() const { return admitted_.size(); }
  const OverloadCounters& counters() const { return counters_; }
  const OverloadConfig& config() const { return config_; }

 private:
  void Admit(absl::string_view call_id, int64_t now_ms);

  const OverloadConfig config_;
  bool overloaded_ = false;
  int64_t interval_start_ms_ = 0;
  int64_t interval_min_ms_ = 0;  // the shortest wait of this interval's datagrams
  uint32_t interval_samples_ = 0;
  int64_t last_interval_min_ms_ = 0;
  int64_t last_datagram_ms_ = 0;
  absl::flat_hash_map<std::string, int64_t> admitted_;  // Call-ID -> when
  OverloadCounters counters_;
};

}  // namespace rtplatch
