#include "control/guard/admitted_calls.h"

#include "absl/hash/hash.h"

namespace rtplatch {

void AdmittedCalls::Rotate(int64_t now_ms) {
  if (now_ms - newer_started_ms_ < window_ms_) return;
  if (now_ms - newer_started_ms_ >= 2 * window_ms_) {
    newer_.clear();  // both generations are out of the window
  }
  older_.swap(newer_);
  newer_.clear();
  newer_started_ms_ = now_ms;
}

void AdmittedCalls::Admit(absl::string_view call_id, int64_t now_ms) {
  Rotate(now_ms);
  if (newer_.size() < max_per_generation_) newer_.insert(absl::HashOf(call_id));
}

bool AdmittedCalls::Contains(absl::string_view call_id, int64_t now_ms) {
  Rotate(now_ms);
  const uint64_t h = absl::HashOf(call_id);
  return newer_.contains(h) || older_.contains(h);
}

}  // namespace rtplatch
