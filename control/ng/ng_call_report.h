// The statistics an ng `query` answers, and a `delete` unless `fast`, in
// rtpengine's layout (docs/ng-protocol.md): `created`, `last signal`,
// `totals` (RTP and RTCP: packets, bytes, errors) and per SIP tag its
// medias and streams (local port, endpoint, advertised endpoint, last
// packet, stats). Kamailio's $rtpstat reads `totals`.
//
// Counters come from the dataplane, one `query` per stream; a stream the
// dataplane cannot report (it is restarting) is listed without stats.
#pragma once

#include <cstdint>
#include <vector>

#include "control/media/dataplane_link.h"
#include "control/ng/bencode.h"
#include "control/ng/ng_call.h"

namespace rtplatch {

BencodeValue NgCallReport(const NgCall& call, const std::vector<const NgBranch*>& branches,
                          DataplaneLink& link, int64_t now_s);

}  // namespace rtplatch
