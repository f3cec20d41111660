// What a (re)connected dataplane must hold again. The dataplane keeps no
// state across a restart (design.md); each owner of stream pairs (the SIP
// proxy's call table, the ng server's calls) walks its pairs through
// Keep(): a pair the dataplane still lists under the same label is kept
// (a reconnect without a restart), any other is allocated anew at the relay
// ports the phones were given. Strangers() are then the listed pairs with
// the owner's label prefix that nobody kept (a predecessor's), to delete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/media/dataplane_link.h"

namespace rtplatch {

// An owner's ids of one pair, updated when the pair is allocated anew.
struct PairIds {
  uint64_t pair = 0;
  uint64_t stream_a = 0;
  uint64_t stream_b = 0;
};

class PairRepush {
 public:
  // Lists the dataplane's pairs whose label starts with `label_prefix`
  // (none when the listing fails: every pair is then allocated anew).
  PairRepush(DataplaneLink& link, absl::string_view label_prefix);

  // true: allocated anew (ids updated); false: kept as it is; an error
  // when the allocation failed (ids unchanged).
  absl::StatusOr<bool> Keep(PairIds& ids, absl::string_view label, const LegSpec& a,
                            const LegSpec& b);

  std::vector<uint64_t> Strangers() const;

 private:
  DataplaneLink& link_;
  absl::flat_hash_map<uint64_t, std::string> listed_;
  absl::flat_hash_set<uint64_t> kept_;
};

}  // namespace rtplatch
