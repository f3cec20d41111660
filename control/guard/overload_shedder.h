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
// an interval whose shortest wait was leave_delay_ms or less with nothing
// refused (the requests came slower than they were served), or after a
// quiet second with the queue read to its end. The kernel dropping
// datagrams on a full socket queue (SO_RXQ_OVFL) turns it on at once: a
// queue may hold less than enter_delay_ms of arrivals. A stall of the loop (a
// slow disk) makes a burst of long waits, then short ones: no shedding;
// nor do fewer than kMinSamples datagrams in an interval.
// While on, what is cheap to tell
// apart is served by what it costs and what it is worth:
//   - responses, and requests inside a dialog (a To tag: BYE, re-INVITE,
//     ACK, in-dialog NOTIFY) and CANCEL: passed, so established calls
//     end and change as usual;
//   - a new INVITE or REGISTER that waited leave_delay_ms or more (as in
//     CoDel, by its own time in the queue): 503 Service Unavailable with
//     Retry-After, built from its raw lines, so the phone (or an upstream
//     proxy) tries elsewhere or later instead of retransmitting into the
//     queue. One that waited less is served: the queue so stands at about
//     leave_delay_ms, the core never idles, and what it serves is
//     answered long before a retransmission. One whose Call-ID was
//     admitted before (a
//     retransmission, the retry after a 401/407 challenge) passes, and so
//     does a REGISTER with credentials: it finishes a registration whose
//     challenge was already paid for. Under a refresh storm the core then
//     spends itself on registrations that complete (issue 17), where
//     dropping made every phone retransmit and fail;
//   - every other out-of-dialog request: dropped unanswered and counted;
//     UDP clients retransmit, and a retransmission that arrives once the
//     queue has drained is served.
// The decision reads only the start line and the To, Call-ID and
// (Proxy-)Authorization headers (raw_sip_head.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "control/guard/admitted_calls.h"
#include "control/guard/overload_config.h"

namespace rtplatch {

enum class ShedVerdict : uint8_t { kPass, kRefuse, kDrop };  // kRefuse: 503

struct OverloadCounters {
  uint64_t overloads = 0;          // times the shedder turned on
  uint64_t refused_invites = 0;    // 503 + Retry-After
  uint64_t refused_registers = 0;  // 503 + Retry-After
  uint64_t passed_credentials = 0;  // REGISTERs answering a challenge
  uint64_t passed_new = 0;         // new INVITEs and REGISTERs served while overloaded
  uint64_t queue_overflows = 0;    // datagrams the kernel dropped, its queue full
  uint64_t dropped_other = 0;      // other out-of-dialog requests, unanswered
  uint64_t passed_in_dialog = 0;   // in-dialog requests, CANCEL, responses
  uint64_t passed_admitted = 0;    // INVITEs and REGISTERs admitted before
  int64_t max_delay_ms = 0;        // the longest queueing delay seen

  std::vector<std::pair<absl::string_view, uint64_t>> Named() const;
};

class OverloadShedder {
 public:
  static constexpr int64_t kAdmittedCallMs = 32'000;
  static constexpr int64_t kQuietLeaveMs = 1'000;
  // Datagrams an interval needs before its waits can turn shedding on.
  static constexpr uint32_t kMinSamples = 16;

  explicit OverloadShedder(OverloadConfig config)
      : config_(config), admitted_(kAdmittedCallMs, config.max_admitted_calls) {}

  // One datagram: its wait in the kernel's queue (-1: unknown) and the
  // datagrams the kernel dropped on its socket since the one before.
  void Observe(int64_t queued_ms, uint32_t dropped_before, int64_t now_ms);
  // The fate of one received message (after the guard passed it) that
  // waited `queued_ms` in the kernel's queue (-1: unknown).
  ShedVerdict Decide(absl::string_view bytes, int64_t queued_ms, int64_t now_ms);
  // Turns off when no datagram came for
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
  void StartInterval(int64_t now_ms);
  void EndInterval();
  void Enter();

  const OverloadConfig config_;
  bool overloaded_ = false;
  bool interval_dropped_ = false;  // the kernel dropped datagrams this interval
  uint64_t interval_refused_ = 0;  // new requests refused this interval
  int64_t interval_start_ms_ = 0;
  int64_t interval_min_ms_ = 0;  // the shortest wait of this interval's datagrams
  uint32_t interval_samples_ = 0;
  int64_t last_interval_min_ms_ = 0;
  int64_t last_datagram_ms_ = 0;
  AdmittedCalls admitted_;
  OverloadCounters counters_;
};

}  // namespace rtplatch
