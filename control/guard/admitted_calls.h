// The Call-IDs of requests admitted while the control plane kept up, so
// that what follows from them still passes once it sheds load: an INVITE's
// or REGISTER's retransmissions, and the retry that answers a 401/407
// challenge (overload_shedder.h).
//
// Kept as 64-bit hashes in two generations: the newer takes what is
// admitted; when it has spanned the window it becomes the older and the
// older is dropped whole. An admission is remembered for one to two
// windows, memory is bounded (max_entries, 8 bytes each plus the table's
// slack), and forgetting costs no walk over what is remembered. A hash
// collision can only let one more request through, never refuse one.
//
// Not thread-safe: one owner (the shedder).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

class AdmittedCalls {
 public:
  // Each generation holds at most max_entries / 2; beyond, admissions are
  // not remembered (their follow-ups are then shed like new requests).
  AdmittedCalls(int64_t window_ms, size_t max_entries)
      : window_ms_(window_ms), max_per_generation_(max_entries / 2) {}

  void Admit(absl::string_view call_id, int64_t now_ms);
  bool Contains(absl::string_view call_id, int64_t now_ms);
  size_t size() const { return newer_.size() + older_.size(); }

 private:
  void Rotate(int64_t now_ms);

  const int64_t window_ms_;
  const size_t max_per_generation_;
  absl::flat_hash_set<uint64_t> newer_, older_;
  int64_t newer_started_ms_ = 0;
};

}  // namespace rtplatch
