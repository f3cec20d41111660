// A call as the nodes of a cluster share it in Redis (docs/cluster.md):
// everything another node needs to carry it on after taking its VIP over
// (both phones' dialog state and signalling routes, each m= line's relay
// ports, SDP peers and latched addresses), as one JSON text. What only
// means something on the node that wrote it is left out: transaction ids,
// the dataplane's pair and stream ids, and the SIP channel ids, which the
// reader finds again from each side's local socket address.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/media/call_table.h"

namespace rtplatch {

// The local SIP address each side's signalling goes out from (unset:
// unknown; UDP: the socket's, TCP and TLS: the connection's).
struct CallRecordLocals {
  Endpoint caller;
  Endpoint callee;
};

struct DecodedCallRecord {
  Call call;  // ids that only meant something to the writer are 0
  CallRecordLocals locals;
};

std::string EncodeCallRecord(const Call& call, const CallRecordLocals& locals);
// InvalidArgument "call record: <field>: <why>" for anything missing,
// mistyped or out of range.
absl::StatusOr<DecodedCallRecord> DecodeCallRecord(absl::string_view text);

}  // namespace rtplatch
