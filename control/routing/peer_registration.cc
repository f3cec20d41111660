#include "control/routing/peer_registration.h"

#include <algorithm>
#include <atomic>

namespace rtplatch {

PeerRegistration::PeerRegistration(PeerRegistrationConfig config) : config_(std::move(config)) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id.fetch_add(1, std::memory_order_relaxed);
}

uint32_t PeerRegistration::Sent(int64_t now_ms) {
  in_flight_ = true;
  unregistering_ = withdrawing_;
  ++sent_;
  next_ms_ = now_ms + kRetryMs;  // if no answer ever comes
  return ++cseq_;
}

void PeerRegistration::Withdraw(int64_t now_ms) {
  if (withdrawn_ || withdrawing_) return;
  if (!registered(now_ms) && !in_flight_) {
    withdrawn_ = true;
    return;
  }
  withdrawing_ = true;
  if (!in_flight_) next_ms_ = now_ms;
}

void PeerRegistration::Answered(int code, uint32_t granted_s, const std::string& error,
                                int64_t now_ms) {
  in_flight_ = false;
  last_code_ = code;
  if (withdrawing_ && unregistering_) {
    // Answered or not, the binding is let go: it lapses at its expiry if
    // the un-REGISTER was lost.
    withdrawn_ = true;
    registered_until_ms_ = 0;
    last_error_ = error;
    return;
  }
  RecordAnswer(code, granted_s, error, now_ms);
  // The REGISTER that was in flight when the registration was withdrawn:
  // undo what it did, if it registered us.
  if (withdrawing_) {
    if (registered(now_ms)) {
      next_ms_ = now_ms;
    } else {
      withdrawn_ = true;
    }
  }
}

void PeerRegistration::RecordAnswer(int code, uint32_t granted_s, const std::string& error,
                                    int64_t now_ms) {
  if (code >= 200 && code < 300 && granted_s > 0) {
    last_error_.clear();
    registered_until_ms_ = now_ms + int64_t{granted_s} * 1000;
    next_ms_ = now_ms + std::max<int64_t>(kMinRefreshMs, int64_t{granted_s} * 500);
    return;
  }
  ++failures_;
  last_error_ = error;
  next_ms_ = now_ms + kRetryMs;
}

nlohmann::json PeerRegistration::ToJson(int64_t now_ms) const {
  return {{"aor", config_.aor},
          {"state", withdrawn_     ? "withdrawn"
                    : withdrawing_ ? "withdrawing"
                    : registered(now_ms) ? "registered"
                    : in_flight_         ? "registering"
                                         : "not registered"},
          {"expires_in_s", registered(now_ms) ? (registered_until_ms_ - now_ms) / 1000 : 0},
          {"last_code", last_code_},
          {"last_error", last_error_},
          {"sent", sent_},
          {"failures", failures_}};
}

}  // namespace rtplatch
