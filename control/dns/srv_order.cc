#include "control/dns/srv_order.h"

#include <map>
#include <memory>

#include "absl/random/random.h"

namespace rtplatch {

UniformDraw DefaultUniformDraw() {
  return [gen = std::make_shared<absl::BitGen>()](uint64_t n) {
    return absl::Uniform<uint64_t>(*gen, 0, n);
  };
}

std::vector<size_t> SrvOrder(const std::vector<std::pair<uint16_t, uint16_t>>& records,
                             const UniformDraw& uniform) {
  std::map<uint16_t, std::vector<size_t>> by_priority;
  for (size_t i = 0; i < records.size(); ++i) by_priority[records[i].first].push_back(i);
  std::vector<size_t> out;
  out.reserve(records.size());
  for (auto& [priority, group] : by_priority) {
    while (!group.empty()) {
      uint64_t total = 0;
      for (size_t i : group) total += records[i].second;
      size_t chosen = 0;
      if (total == 0) {
        chosen = uniform(group.size());
      } else {
        uint64_t draw = uniform(total);
        while (draw >= records[group[chosen]].second) draw -= records[group[chosen++]].second;
      }
      out.push_back(group[chosen]);
      group.erase(group.begin() + static_cast<ptrdiff_t>(chosen));
    }
  }
  return out;
}

}  // namespace rtplatch
