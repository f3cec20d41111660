// RFC 2782's order of records that carry a priority and a weight (SRV
// records, and configured peer targets that follow the same rules): lowest
// priority first; within a priority each next record is drawn with
// probability proportional to its weight, and weight-0 records only once
// every remaining weight is 0. Shared by the SIP locator and the peer set.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace rtplatch {

// `uniform(n)` returns a number in [0, n) (n > 0).
using UniformDraw = std::function<uint64_t(uint64_t)>;

// A draw from absl's default random generator.
UniformDraw DefaultUniformDraw();

// The indexes of `records` ({priority, weight} each) in that order.
std::vector<size_t> SrvOrder(const std::vector<std::pair<uint16_t, uint16_t>>& records,
                             const UniformDraw& uniform);

}  // namespace rtplatch
