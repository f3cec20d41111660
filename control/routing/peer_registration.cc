#include "control/routing/peer_registration.h"

#include <algorithm>

namespace rtplatch {

uint32_t PeerRegistration::Sent(int64_t now_ms) {
  in_flight_ = true;
  ++sent_;
  next_ms_ = now_ms + kRetryMs;  // if no answer ever comes
  return ++cseq_;
}

void PeerRegistration::Answered(int code, uint32_t granted_s, const std::string& error,
                                int64_t now_ms) {
  in_flight_ = false;
  last_code_ = code;
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
          {"state", registered(now_ms) ? "registered" : in_flight_ ? "registering" : "not registered"},
          {"expires_in_s", registered(now_ms) ? (registered_until_ms_ - now_ms) / 1000 : 0},
          {"last_code", last_code_},
          {"last_error", last_error_},
          {"sent", sent_},
          {"failures", failures_}};
}

}  // namespace rtplatch
