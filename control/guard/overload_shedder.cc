#include "control/guard/overload_shedder.h"

#include <algorithm>

#include "control/guard/raw_sip_head.h"

namespace rtplatch {

std::vector<std::pair<absl::string_view, uint64_t>> OverloadCounters::Named() const {
  return {{"overloads", overloads},
          {"refused_invites", refused_invites},
          {"refused_registers", refused_registers},
          {"passed_credentials", passed_credentials},
          {"passed_new", passed_new},
          {"queue_overflows", queue_overflows},
          {"dropped_other", dropped_other},
          {"passed_in_dialog", passed_in_dialog},
          {"passed_admitted", passed_admitted},
          {"max_delay_ms", static_cast<uint64_t>(max_delay_ms)}};
}

void OverloadShedder::Observe(int64_t queued_ms, uint32_t dropped_before, int64_t now_ms) {
  counters_.max_delay_ms = std::max(counters_.max_delay_ms, queued_ms);
  if (now_ms - last_datagram_ms_ >= config_.interval_ms) {
    // Nothing came for an interval: no queue stood then, and what the
    // unfinished interval saw before the gap says nothing about now.
    StartInterval(now_ms);
  }
  last_datagram_ms_ = now_ms;
  if (dropped_before > 0) {
    // The kernel refused datagrams: over capacity now, whatever the
    // waits say (a queue may fill before it waits enter_delay_ms).
    counters_.queue_overflows += dropped_before;
    interval_dropped_ = true;
    if (!overloaded_) Enter();
  }
  if (now_ms - interval_start_ms_ >= config_.interval_ms) {
    EndInterval();
    StartInterval(now_ms);
  }
  if (queued_ms >= 0) {
    interval_min_ms_ = interval_samples_ == 0 ? queued_ms : std::min(interval_min_ms_, queued_ms);
    ++interval_samples_;
  }
}

void OverloadShedder::StartInterval(int64_t now_ms) {
  interval_start_ms_ = now_ms;
  interval_samples_ = 0;
  interval_dropped_ = false;
  interval_refused_ = 0;
}

// The interval is over: its shortest wait says whether a queue stood. A
// few datagrams that waited are a stalled loop, not a load to shed. The
// overload is over when the queue drained with nothing refused and
// nothing dropped: the requests came slower than they were served.
void OverloadShedder::EndInterval() {
  if (interval_samples_ > 0) last_interval_min_ms_ = interval_min_ms_;
  if (!overloaded_) {
    if (interval_samples_ >= kMinSamples && interval_min_ms_ >= config_.enter_delay_ms) Enter();
    return;
  }
  if (interval_samples_ > 0 && interval_min_ms_ <= config_.leave_delay_ms && interval_refused_ == 0 &&
      !interval_dropped_) {
    overloaded_ = false;
  }
}

void OverloadShedder::Enter() {
  overloaded_ = true;
  ++counters_.overloads;
}

ShedVerdict OverloadShedder::Decide(absl::string_view bytes, int64_t queued_ms, int64_t now_ms) {
  const RawSipHead head = SniffSipHead(bytes);
  const bool is_register = head.method == "REGISTER";
  const bool new_request = (head.method == "INVITE" || is_register) && !head.to_tag &&
                           !head.call_id.empty();
  if (!overloaded_) {
    if (new_request) admitted_.Admit(head.call_id, now_ms);
    return ShedVerdict::kPass;
  }
  // Responses complete our own transactions; a To tag is a dialog's
  // request; CANCEL and ACK end what is already under way.
  if (head.is_response || head.to_tag || head.method == "CANCEL" || head.method == "ACK") {
    ++counters_.passed_in_dialog;
    return ShedVerdict::kPass;
  }
  if (new_request) {
    if (admitted_.Contains(head.call_id, now_ms)) {
      ++counters_.passed_admitted;
      return ShedVerdict::kPass;
    }
    if (is_register && head.credentials) {
      ++counters_.passed_credentials;
      return ShedVerdict::kPass;
    }
    // One that came to the head of the queue soon enough is served: the
    // queue then stands at about leave_delay_ms, so the core never idles
    // and what it serves is answered long before a retransmission.
    if (queued_ms >= 0 && queued_ms < config_.leave_delay_ms) {
      admitted_.Admit(head.call_id, now_ms);
      ++counters_.passed_new;
      return ShedVerdict::kPass;
    }
    ++interval_refused_;
    ++(is_register ? counters_.refused_registers : counters_.refused_invites);
    return ShedVerdict::kRefuse;
  }
  ++counters_.dropped_other;
  return ShedVerdict::kDrop;
}

void OverloadShedder::Tick(int64_t now_ms, bool queue_drained) {
  if (overloaded_ && queue_drained && now_ms - last_datagram_ms_ >= kQuietLeaveMs) {
    overloaded_ = false;
  }
}

}  // namespace rtplatch
