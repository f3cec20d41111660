// The calls the proxy has in flight: per call, both phones' signalling
// routes and NAT verdicts, the dialog identifiers needed to end it, and
// the dataplane stream pairs that relay its media (one per m= line).
//
// The table is the control plane's source of truth for media: after a
// dataplane restart every MediaLine is allocated again at the relay ports
// recorded here (the phones were told them in SDP).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/media/dataplane_link.h"
#include "control/sip/sip_transactions.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

// One phone of a call.
struct CallSide {
  std::string aor;
  std::string tag;         // its dialog tag (From tag of the caller, To tag of the callee)
  std::string contact;     // remote target (its Contact URI)
  std::string user_agent;
  SipRoute route;          // where its signalling goes
  bool natted = false;     // in-dialog requests go to route, not to contact
  std::vector<std::string> nat_reasons;
  LatchPolicy policy = LatchPolicy::kLearn;
  bool media_ipv6 = false; // the family of its relay leg
  uint32_t cseq = 0;       // highest CSeq it sent in this dialog
  // RFC 5626 flow token of the flow it reaches us over, for our
  // Record-Route entry facing it; empty: no outbound flow.
  std::string flow_token;
  // Another node of the cluster, which reaches the phone (or takes the
  // call) itself.
  bool node = false;
};

// One m= line's relay: leg a faces the caller, leg b the callee.
struct MediaLine {
  uint64_t pair = 0;
  uint64_t stream_a = 0;
  uint64_t stream_b = 0;
  Endpoint relay_a, rtcp_a;  // the caller sends here
  Endpoint relay_b, rtcp_b;  // the callee sends here
  std::optional<Endpoint> peer_a, peer_b;  // as the SDP said (nullopt: hold/unknown)
  // Where the dataplane latched each leg (its events): a node that takes
  // the call over relays there from its first packet.
  std::optional<Endpoint> latched_a, latched_b;
  bool rtcp_mux_a = false;
  bool rtcp_mux_b = false;
};

struct Call {
  enum class State : uint8_t { kCalling, kEarly, kConfirmed };

  std::string call_id;
  State state = State::kCalling;
  CallSide caller;
  CallSide callee;
  // Header values of the initial INVITE (From with the caller's tag, To
  // without a tag), for the BYEs the proxy itself sends.
  std::string from_header;
  std::string to_header;
  bool anchored = false;  // media relayed through the dataplane
  // Another node of the cluster relays the media: the one the call came
  // from said so, or this node handed the call on.
  bool media_elsewhere = false;
  // The SIP peer (routing/edge_config.h) the call comes from or goes to;
  // empty: phones only.
  std::string peer;
  std::vector<MediaLine> media;
  // The cluster VIP the call's signalling and relay ports are on
  // (unspecified: none): its record is shared in Redis under the VIP, and
  // the node that takes the VIP over carries the call on.
  IpAddress vip;
  SipTxnId server_invite = 0;
  SipTxnId client_invite = 0;
  int64_t created_at = 0;   // unix seconds
  int64_t created_ms = 0;   // the proxy's steady clock: the set-up time
  int64_t answered_at = 0;  // 0: not answered
  bool ring_timeout_sent = false;  // timer C CANCELled the branch
  // The caller CANCELled: it has its 487 and the media is freed; the
  // branch finishes in the background (a late 2xx is answered with BYE).
  bool cancelled = false;
  // The call's second pass through this node (a spiral, RFC 3261 16.3):
  // this node handed it to another node for its media, and that node
  // routed it back here to one of this node's own phones. Both passes have
  // the call's Call-ID; they are two calls here, told apart by key.
  bool spiral = false;

  // The call table's key: the Call-ID, marked on a spiral's second pass.
  std::string Key() const;
  // The dataplane label of line `index`: "rc:<index>:<call-id>".
  std::string PairLabel(size_t index) const;
};

// The key of the call with `call_id`, on its second pass or not (a space
// cannot occur in a Call-ID, so no Call-ID is ever a second pass's key).
std::string CallKey(absl::string_view call_id, bool spiral);

absl::string_view CallStateName(Call::State s);
nlohmann::json CallToJson(const Call& call, int64_t now);

class CallTable {
 public:
  static constexpr absl::string_view kPairLabelPrefix = "rc:";

  Call* Find(absl::string_view key);  // by Call::Key()
  Call* FindByPair(uint64_t pair);
  // Inserts a new call; nullptr if its key is in use.
  Call* Insert(Call call);
  void Erase(absl::string_view key);
  // Keep the pair index in step after media lines change.
  void IndexPairs(const Call& call);
  void UnindexPair(uint64_t pair) { by_pair_.erase(pair); }

  size_t size() const { return calls_.size(); }
  template <typename F>
  void ForEach(F&& f) {
    for (auto& [id, call] : calls_) f(call);
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [id, call] : calls_) f(call);
  }

 private:
  absl::flat_hash_map<std::string, Call> calls_;
  absl::flat_hash_map<uint64_t, std::string> by_pair_;
};

}  // namespace rtplatch
