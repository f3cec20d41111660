// What one ng request asks for, read out of its dictionary once (issue
// 14): the call's keys, the SDP, and every flag and key rtplatch acts on,
// in the spellings Kamailio 5.6's and OpenSIPS's rtpengine modules send.
//
// Spelling: rtpengine matches keys and flags with dashes, underscores or
// spaces ("address family", "address-family"); so does this, and case
// does not matter ("ICE", "ice"). Values in `flags` may also carry a
// sub-list's prefix as rtpengine's own parser reads them
// ("replace-origin", "rtcp-mux-demux", "ICE=remove", "direction=pub").
//
// Errors (InvalidArgument, the text for the reply's error-reason) are
// only for values rtplatch cannot read: a key of the wrong type, a bad
// address. A flag rtplatch does not know is kept in `ignored` for the log
// and otherwise ignored, as rtpengine does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "common/latch_policy.h"
#include "control/ng/ng_message.h"

namespace rtplatch {

enum class NgIce : uint8_t {
  kDefault,  // rtplatch removes ICE (see docs/ng-protocol.md)
  kRemove,
  kForce,    // the relay as the only candidate: ice-lite, checks answered by the dataplane
};

// Where a sender's media address comes from.
enum class NgAddressSource : uint8_t {
  kSdp,        // "trust address" (rtpengine's default)
  kSipSource,  // "SIP source address": received-from, with the SDP's port
};

struct NgRtcpMux {
  bool offer = false;
  bool require = false;
  bool demux = false;
  bool accept = false;
  bool reject = false;
};

struct NgReplace {
  bool origin = false;
  bool session_connection = false;
  bool sdp_version = false;
  bool force_increment_sdp_version = false;
  bool session_name = false;
  bool username = false;
  bool zero_address = false;
};

struct NgOptions {
  std::string call_id;
  std::string from_tag;
  std::string to_tag;
  std::string via_branch;
  std::optional<std::string> sdp;
  std::optional<IpAddress> received_from;
  std::optional<IpAddress> media_address;
  NgAddressSource address_source = NgAddressSource::kSdp;
  // "symmetric" (the default) and "media handover" learn; "strict source"
  // locks to the signalled address; "asymmetric" never latches.
  LatchPolicy policy = LatchPolicy::kLearn;
  NgReplace replace;
  // "direction": the offerer's and the answerer's interface.
  std::vector<std::string> direction;
  // "address family" IP4 / IP6: the family of the SDP this message's
  // receiver gets.
  std::optional<bool> ipv6;
  NgIce ice = NgIce::kDefault;
  NgRtcpMux rtcp_mux;
  std::optional<std::string> transport_protocol;
  std::string label;
  bool supports_load_limit = false;
  // delete
  bool fatal = false;
  bool fast = false;
  bool to_tag_flag = false;  // the "to-tag" flag: delete only that branch
  std::optional<int64_t> delete_delay_s;
  // list
  int64_t limit = 32;
  // Flags and keys rtplatch does not act on, for the log.
  std::vector<std::string> ignored;
};

// Reads `request.dictionary`. The caller checks which keys its command
// needs (call-id, from-tag, sdp).
absl::StatusOr<NgOptions> ParseNgOptions(const NgRequest& request);

}  // namespace rtplatch
