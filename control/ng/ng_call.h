// One call anchored over the ng protocol, as NgCalls (ng_calls.h) keeps
// it: its branches (dialogues), their m= lines and each party's leg on the
// dataplane. Plain data; NgCalls owns the rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "common/latch_policy.h"

namespace rtplatch {

// One party's side of one m= line.
struct NgLeg {
  uint64_t stream = 0;
  Endpoint relay;       // the party sends RTP here
  Endpoint rtcp_relay;  // and RTCP here (unless rtcp-mux)
  std::optional<Endpoint> peer;  // its SDP address, as last signalled
  bool ipv6 = false;
  bool rtcp_mux = false;
  bool held = false;  // its last SDP asked not to receive (hold, sendonly, inactive)
  // The credentials its relay ports answer ICE checks with (ICE=force at
  // allocation); empty: none.
  std::string ice_ufrag;
  std::string ice_pwd;
};

struct NgMedia {
  uint64_t pair = 0;
  std::string type;      // "audio", "video", ...
  std::string protocol;  // "RTP/AVP", ...
  NgLeg a, b;
  bool demux = false;  // "rtcp-mux demux": mux taken from a, not offered to b
};

// What was last sent to one party, for the `replace` flags that keep o=
// and s= steady towards it.
struct NgSentSdp {
  std::optional<uint64_t> version;
  std::string body;
  std::string username;
  std::string session_name;
};

struct NgBranch {
  uint64_t serial = 0;  // unique in the call: labels and logs
  std::string via_branch;
  std::string tag_a, tag_b;
  std::string label_a, label_b;
  LatchPolicy policy_a = LatchPolicy::kLearn;
  LatchPolicy policy_b = LatchPolicy::kLearn;
  int64_t created_a = 0, created_b = 0;  // unix seconds
  std::vector<NgMedia> media;
  NgSentSdp sent_to_a, sent_to_b;
};

struct NgCall {
  std::string call_id;
  int64_t created = 0;      // unix seconds
  int64_t last_signal = 0;  // unix seconds
  int64_t created_ms = 0;   // monotonic
  int64_t last_signal_ms = 0;
  std::vector<NgBranch> branches;
  uint64_t next_serial = 1;
  int64_t delete_at_ms = 0;   // a delayed delete is due then; 0: none
  int64_t idle_check_ms = 0;  // its streams are checked for silence then; 0: not due
};

}  // namespace rtplatch
