// NAT policies: what the registrar and proxy do with a NatVerdict, one
// named preset per failure mode in design.md's table, selectable globally
// and per User-Agent.
//
// A policy is a handful of knobs; Decide() turns (policy, verdict) into a
// NatDecision:
//
//   natted         = nat == kAlways
//                    || (nat == kDetect && verdict.reasons ∩ evidence ≠ ∅)
//   request_target = natted ? kSource : kContact
//   anchor_media   = natted || anchor_media_without_nat
//   media_latch    = natted ? latch_natted : latch_direct
//   keepalive      = natted ? keepalive != kNever : keepalive == kAlways
//
// The presets (NatPolicyPresets(); "default" unless configured):
//
// | name                   | nat    | evidence | latch nat'd/direct | anchor w/o NAT | keepalive      |
// |------------------------|--------|----------|--------------------|----------------|----------------|
// | default                | detect | all      | learn / learn      | no             | when NAT'd 25s |
// | self_fixing_phone      | detect | all      | learn / learn      | yes            | when NAT'd 25s |
// | asymmetric_rtp         | detect | all      | asymmetric / asym. | no             | when NAT'd 25s |
// | broken_alg             | always | -        | learn / -          | -              | when NAT'd 25s |
// | no_nat_contact_differs | detect | Via only | learn / learn      | no             | when NAT'd 25s |
// | proper_alg             | detect | all      | learn / strict     | no             | when NAT'd 25s |
// | ipv6                   | detect | all      | learn / strict     | no             | always     25s |
// | carrier_grade_nat      | detect | all      | learn / learn      | no             | when NAT'd 20s |
//
// Why each differs from default:
// - self_fixing_phone: a STUN-using phone can look clean in signalling
//   while its SDP port is wrong (RTP mapping != SIP mapping); anchoring its
//   media even without NAT lets latching correct the SDP address.
// - asymmetric_rtp: the phone sends RTP from another port than it listens
//   on; never latch, send to the SDP address.
// - broken_alg: an ALG may hide its damage (e.g. rewrites c= and o= but
//   not m=), so the leg is always NAT'd: the source address and latching
//   win over anything SIP declares.
// - no_nat_contact_differs: hosts that register Contacts other than
//   themselves (PBXs, third-party registration, private interconnects):
//   only the Via counts as NAT evidence; Contact and SDP are used as given.
// - proper_alg: signalling is trustworthy, so an anchored direct leg may
//   latch only to the signalled IP (strict: the RTP Bleed defence).
// - ipv6: no NAT, but a stateful IPv6 firewall (RFC 6092) still closes
//   idle pinholes, so keepalives go out even to a direct leg; strict too.
// - carrier_grade_nat: CGNs are seen with ~30 s UDP timeouts; start the
//   keepalive shorter (the adaptive interval elsewhere still adjusts).
//
// The 25 s initial interval (the ceiling the NAT timeout learning probes up
// to, control/nat/keepalive_learning.h): RFC 5626 §4.4.1 has UDP flows
// refreshed every 24-29 s, and the shortest UDP binding timeout among the
// 34 home gateways Hätönen et al. measured ("An Experimental Study of Home
// Gateway Characteristics", IMC 2010) was 30 s. design.md's 60 s outlives
// many of those gateways; NATs below 25 s are found by the learning.
//
// Selection: an ordered list of rules {user_agent glob, policy, overrides};
// the first glob that matches the whole User-Agent (ASCII case-insensitive,
// `*` any run, `?` one character) wins, else the default. Globs, not
// std::regex: the User-Agent is attacker-controlled and std::regex
// backtracks recursively (a long header can overflow the stack). Glob
// matching here is iterative, O(len(pattern) * len(user_agent)) worst case.
//
// JSON (the control plane's config; every error names the field):
//   {"default": "default" | {"policy": "...", <overrides>},
//    "by_user_agent": [{"user_agent": "Yealink SIP-T4*",
//                       "policy": "asymmetric_rtp", <overrides>}, ...]}
//   overrides: "nat": "detect"|"always"|"never", "evidence": [reason names],
//   "latch_natted"/"latch_direct": "learn"|"strict"|"asymmetric",
//   "anchor_media_without_nat": bool, "keepalive": "never"|"when_natted"|
//   "always", "keepalive_interval_s": 1..3600.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/latch_policy.h"
#include "control/nat/nat_detector.h"

namespace rtplatch {

enum class NatMode : uint8_t {
  kDetect,  // NAT'd if a reason in `evidence` fired
  kAlways,  // always NAT'd (the source address wins)
  kNever,   // never NAT'd (the Contact and SDP are used as given)
};

// The dataplane stream policy for an anchored leg. Names are the `policy`
// strings of docs/control-protocol.md's allocate/update.
enum class KeepaliveMode : uint8_t { kNever, kWhenNatted, kAlways };

enum class RequestTarget : uint8_t {
  kSource,   // the binding's source address/port/socket
  kContact,  // the Contact URI as registered
};

absl::string_view NatModeName(NatMode m);
absl::string_view KeepaliveModeName(KeepaliveMode m);
absl::string_view RequestTargetName(RequestTarget t);

struct NatPolicy {
  std::string name;
  NatMode nat = NatMode::kDetect;
  NatReasonSet evidence = NatReasonSet::Evidence();
  LatchPolicy latch_natted = LatchPolicy::kLearn;
  LatchPolicy latch_direct = LatchPolicy::kLearn;
  bool anchor_media_without_nat = false;
  KeepaliveMode keepalive = KeepaliveMode::kWhenNatted;
  uint32_t keepalive_interval_s = 25;  // see the table's note on 25 s
};

struct NatDecision {
  std::string policy;  // name of the policy applied
  bool natted = false;
  RequestTarget request_target = RequestTarget::kContact;
  // Relay this leg's media. The proxy may anchor a direct leg for other
  // reasons too (the other leg is NAT'd, or IPv4<->IPv6 bridging).
  bool anchor_media = false;
  LatchPolicy media_latch = LatchPolicy::kLearn;  // when anchored
  bool keepalive = false;                       // for a REGISTER binding
  uint32_t keepalive_interval_s = 25;
  NatReasonSet reasons;  // the verdict's, for logs and the CLI
};

NatDecision Decide(const NatPolicy& policy, const NatVerdict& verdict);

// The named presets, in the table's order.
const std::vector<NatPolicy>& NatPolicyPresets();
// A preset by name; NotFound names the known ones.
absl::StatusOr<NatPolicy> NatPolicyPreset(absl::string_view name);

// Field overrides on top of a preset (unset = keep the preset's value).
struct NatPolicyOverrides {
  std::optional<NatMode> nat;
  std::optional<NatReasonSet> evidence;
  std::optional<LatchPolicy> latch_natted;
  std::optional<LatchPolicy> latch_direct;
  std::optional<bool> anchor_media_without_nat;
  std::optional<KeepaliveMode> keepalive;
  std::optional<uint32_t> keepalive_interval_s;
};

struct NatPolicyRule {
  std::string user_agent;  // glob over the whole User-Agent
  std::string policy;      // preset name
  NatPolicyOverrides overrides;
};

// Case-insensitive (ASCII) whole-string glob: `*` any run, `?` one char.
bool GlobMatch(absl::string_view pattern, absl::string_view text);

class NatPolicyTable {
 public:
  // The "default" preset for everyone.
  NatPolicyTable();

  // Errors name the bad rule by index and the bad field.
  static absl::StatusOr<NatPolicyTable> Create(const NatPolicyRule& default_rule,
                                               const std::vector<NatPolicyRule>& rules);
  static absl::StatusOr<NatPolicyTable> FromJson(const nlohmann::json& config);

  // The policy for a phone with this User-Agent ("" if it sent none).
  const NatPolicy& Select(absl::string_view user_agent) const;
  NatDecision Decide(absl::string_view user_agent, const NatVerdict& verdict) const {
    return rtplatch::Decide(Select(user_agent), verdict);
  }

  const NatPolicy& default_policy() const { return default_; }

 private:
  struct Rule {
    std::string glob;
    NatPolicy policy;
  };
  NatPolicy default_;
  std::vector<Rule> rules_;
};

}  // namespace rtplatch
