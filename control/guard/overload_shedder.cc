#include "control/guard/overload_shedder.h"

#include <algorithm>

#include "control/guard/raw_sip_head.h"

namespace rtplatch {

std::vector<std::pair<absl::string_view, uint64_t>> OverloadCounters::Named() const {
  return {{"overloads", overloads},
          {"refused_invites", refused_invites},
          {"dropped_registers", dropped_registers},
          {"dropped_other", dropped_other},
          {"passed_in_dialog", passed_in_dialog},
          {"passed_admitted", passed_admitted},
          {"max_delay_ms", static_cast<uint64_t>(max_delay_ms)}};
}

void OverloadShedder::Observe(int64_t queued_ms, int64_t now_ms) {
  counters_.max_delay_ms = std::max(counters_.max_delay_ms, queued_ms);
  if (now_ms - last_datagram_ms_ >= config_.interval_ms) {
    // Nothing came for an interval: no queue stood then, and what the
    // unfinished interval saw before the gap says nothing about now.
    interval_start_ms_ = now_ms;
    interval_samples_ = 0;
  }
  last_datagram_ms_ = now_ms;
  if (now_ms - interval_start_ms_ >= config_.interval_ms) {
    // The interval is over: its shortest wait says whether a queue stood.
    // A few datagrams that waited are a stalled loop, not a load to shed.
    if (interval_samples_ >= kMinSamples && interval_min_ms_ >= config_.enter_delay_ms) {
      if (!overloaded_) ++counters_.overloads;
      overloaded_ = true;
    } else if (interval_samples_ > 0 && interval_min_ms_ <= config_.leave_delay_ms) {
      overloaded_ = false;
    }
    if (interval_samples_ > 0) last_interval_min_ms_ = interval_min_ms_;
    interval_start_ms_ = now_ms;
    interval_samples_ = 0;
  }
  interval_min_ms_ = interval_samples_ == 0 ? queued_ms : std::min(interval_min_ms_, queued_ms);
  ++interval_samples_;
}

void OverloadShedder::Admit(absl::string_view call_id, int64_t now_ms) {
  auto it = admitted_.find(call_id);
  if (it != admitted_.end()) {
    it->second = now_ms;
  } else if (admitted_.size() < config_.max_admitted_calls) {
    admitted_.emplace(call_id, now_ms);
  }
}

ShedVerdict OverloadShedder::Decide(absl::string_view bytes, int64_t now_ms) {
  const RawSipHead head = SniffSipHead(bytes);
  const bool new_invite = head.method == "INVITE" && !head.to_tag && !head.call_id.empty();
  if (!overloaded_) {
    if (new_invite) Admit(head.call_id, now_ms);
    return ShedVerdict::kPass;
  }
  // Responses complete our own transactions; a To tag is a dialog's
  // request; CANCEL and ACK end what is already under way.
  if (head.is_response || head.to_tag || head.method == "CANCEL" || head.method == "ACK") {
    ++counters_.passed_in_dialog;
    return ShedVerdict::kPass;
  }
  if (new_invite) {
    if (admitted_.contains(head.call_id)) {
      ++counters_.passed_admitted;
      return ShedVerdict::kPass;
    }
    ++counters_.refused_invites;
    return ShedVerdict::kRefuse;
  }
  if (head.method == "REGISTER") {
    ++counters_.dropped_registers;
  } else {
    ++counters_.dropped_other;
  }
  return ShedVerdict::kDrop;
}

void OverloadShedder::Tick(int64_t now_ms, bool queue_drained) {
  if (overloaded_ && queue_drained && now_ms - last_datagram_ms_ >= kQuietLeaveMs) {
    overloaded_ = false;
  }
  absl::erase_if(admitted_, [now_ms](const auto& entry) {
    return now_ms - entry.second >= kAdmittedCallMs;
  });
}

}  // namespace rtplatch
