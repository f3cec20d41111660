// Observations counted in fixed buckets, with their sum: the state behind
// a Prometheus histogram (prometheus_text.h writes it). Observing is a
// short scan of a few bounds, no allocation.
//
// Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace rtplatch {

class BucketHistogram {
 public:
  // `upper_bounds` ascending; a value above the last lands in +Inf's.
  explicit BucketHistogram(std::vector<double> upper_bounds)
      : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

  void Observe(double value) {
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += value;
  }

  absl::Span<const double> upper_bounds() const { return bounds_; }
  // One per bound, then +Inf's; not cumulative.
  absl::Span<const uint64_t> counts() const { return counts_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
};

}  // namespace rtplatch
