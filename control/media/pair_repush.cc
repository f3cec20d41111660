#include "control/media/pair_repush.h"

namespace rtplatch {

PairRepush::PairRepush(DataplaneLink& link, absl::string_view label_prefix) : link_(link) {
  auto listed = link_.ListPairs(label_prefix);
  if (!listed.ok()) return;
  for (auto& [pair, label] : *listed) listed_[pair] = std::move(label);
}

absl::StatusOr<bool> PairRepush::Keep(PairIds& ids, absl::string_view label, const LegSpec& a,
                                      const LegSpec& b) {
  auto it = listed_.find(ids.pair);
  if (it != listed_.end() && it->second == label) {
    kept_.insert(ids.pair);
    return false;
  }
  absl::StatusOr<PairInfo> pair = link_.Allocate(a, b, label);
  if (!pair.ok()) return pair.status();
  ids = PairIds{pair->pair, pair->a.stream, pair->b.stream};
  kept_.insert(ids.pair);
  return true;
}

std::vector<uint64_t> PairRepush::Strangers() const {
  std::vector<uint64_t> out;
  for (const auto& [pair, label] : listed_) {
    if (!kept_.contains(pair)) out.push_back(pair);
  }
  return out;
}

}  // namespace rtplatch
