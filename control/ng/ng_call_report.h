// The statistics an ng `query` answers, and a `delete` unless `fast`, in
// rtpengine's layout (docs/ng-protocol.md): `created`, `last signal`,
// `totals` (RTP and RTCP: packets, bytes, errors) and per SIP tag its
// medias and streams (local port, endpoint, advertised endpoint, last
// packet, stats). Kamailio's $rtpstat reads `totals`.
//
// Counters come from the dataplane: per m= line its pair as `query` (or
// the `delete` that ended it) reported it ({"a":Stream,"b":Stream}); a
// pair without a report (the dataplane is restarting) is listed without
// stats.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "control/media/dataplane_link.h"
#include "control/ng/bencode.h"
#include "control/ng/ng_call.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

// Pair id -> its dataplane report.
using NgPairStates = absl::flat_hash_map<uint64_t, nlohmann::json>;

// One `query` per m= line of `branches`.
NgPairStates QueryNgPairs(const std::vector<const NgBranch*>& branches, DataplaneLink& link);

BencodeValue NgCallReport(const NgCall& call, const std::vector<const NgBranch*>& branches,
                          const NgPairStates& states, int64_t now_s);

}  // namespace rtplatch
