#include "control/nat/nat_policy.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rtplatch {
namespace {

// CGNs are seen with ~30 s UDP timeouts; 20 s leaves room for jitter.
constexpr uint32_t kCgnKeepaliveIntervalS = 20;
constexpr uint32_t kMaxKeepaliveIntervalS = 3600;

NatReasonSet ViaEvidence() {
  return {NatReason::kViaHostDiffersFromSource, NatReason::kViaPortDiffersFromSource,
          NatReason::kViaInside};
}

std::vector<NatPolicy> MakePresets() {
  std::vector<NatPolicy> p;
  NatPolicy base;

  NatPolicy d = base;
  d.name = "default";
  p.push_back(d);

  NatPolicy self_fixing = base;
  self_fixing.name = "self_fixing_phone";
  self_fixing.anchor_media_without_nat = true;
  p.push_back(self_fixing);

  NatPolicy asym = base;
  asym.name = "asymmetric_rtp";
  asym.latch_natted = LatchPolicy::kAsymmetric;
  asym.latch_direct = LatchPolicy::kAsymmetric;
  p.push_back(asym);

  NatPolicy broken = base;
  broken.name = "broken_alg";
  broken.nat = NatMode::kAlways;
  p.push_back(broken);

  NatPolicy contact = base;
  contact.name = "no_nat_contact_differs";
  contact.evidence = ViaEvidence();
  p.push_back(contact);

  NatPolicy alg = base;
  alg.name = "proper_alg";
  alg.latch_direct = LatchPolicy::kStrict;
  p.push_back(alg);

  NatPolicy v6 = base;
  v6.name = "ipv6";
  v6.latch_direct = LatchPolicy::kStrict;
  v6.keepalive = KeepaliveMode::kAlways;
  p.push_back(v6);

  NatPolicy cgn = base;
  cgn.name = "carrier_grade_nat";
  cgn.keepalive_interval_s = kCgnKeepaliveIntervalS;
  p.push_back(cgn);
  return p;
}

template <typename E, size_t N>
std::optional<E> EnumByName(const std::array<std::pair<E, absl::string_view>, N>& table,
                            absl::string_view name) {
  for (const auto& [e, n] : table) {
    if (n == name) return e;
  }
  return std::nullopt;
}

template <typename E, size_t N>
absl::string_view NameOf(const std::array<std::pair<E, absl::string_view>, N>& table, E e) {
  for (const auto& [x, n] : table) {
    if (x == e) return n;
  }
  return "?";
}

template <typename E, size_t N>
std::string NamesOf(const std::array<std::pair<E, absl::string_view>, N>& table) {
  std::vector<absl::string_view> names;
  for (const auto& entry : table) names.push_back(entry.second);
  return absl::StrJoin(names, ", ");
}

constexpr std::array<std::pair<NatMode, absl::string_view>, 3> kNatModes = {{
    {NatMode::kDetect, "detect"}, {NatMode::kAlways, "always"}, {NatMode::kNever, "never"}}};
constexpr std::array<std::pair<LatchPolicy, absl::string_view>, 3> kLatchPolicies = {{
    {LatchPolicy::kLearn, "learn"},
    {LatchPolicy::kStrict, "strict"},
    {LatchPolicy::kAsymmetric, "asymmetric"}}};
constexpr std::array<std::pair<KeepaliveMode, absl::string_view>, 3> kKeepaliveModes = {{
    {KeepaliveMode::kNever, "never"},
    {KeepaliveMode::kWhenNatted, "when_natted"},
    {KeepaliveMode::kAlways, "always"}}};

char Lower(char c) { return absl::ascii_tolower(static_cast<unsigned char>(c)); }

void ApplyOverrides(const NatPolicyOverrides& o, NatPolicy& p) {
  if (o.nat) p.nat = *o.nat;
  if (o.evidence) p.evidence = *o.evidence;
  if (o.latch_natted) p.latch_natted = *o.latch_natted;
  if (o.latch_direct) p.latch_direct = *o.latch_direct;
  if (o.anchor_media_without_nat) p.anchor_media_without_nat = *o.anchor_media_without_nat;
  if (o.keepalive) p.keepalive = *o.keepalive;
  if (o.keepalive_interval_s) p.keepalive_interval_s = *o.keepalive_interval_s;
}

absl::StatusOr<NatPolicy> Resolve(const NatPolicyRule& rule, absl::string_view where) {
  auto preset = NatPolicyPreset(rule.policy);
  if (!preset.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".policy: ", preset.status().message()));
  }
  if (rule.overrides.keepalive_interval_s &&
      (*rule.overrides.keepalive_interval_s == 0 ||
       *rule.overrides.keepalive_interval_s > kMaxKeepaliveIntervalS)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ".keepalive_interval_s: ", *rule.overrides.keepalive_interval_s,
        " is not in 1..", kMaxKeepaliveIntervalS));
  }
  ApplyOverrides(rule.overrides, *preset);
  return *preset;
}

// ---- JSON ----

absl::Status FieldError(absl::string_view where, absl::string_view field,
                        absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ".", field, ": ", what));
}

template <typename E, size_t N>
absl::Status EnumField(const nlohmann::json& j, absl::string_view where, const char* field,
                       const std::array<std::pair<E, absl::string_view>, N>& table,
                       std::optional<E>& out) {
  if (!j.contains(field)) return absl::OkStatus();
  const nlohmann::json& v = j.at(field);
  std::optional<E> e;
  if (v.is_string()) e = EnumByName(table, v.get<std::string>());
  if (!e) {
    return FieldError(where, field, absl::StrCat(v.dump(), " is not one of ", NamesOf(table)));
  }
  out = e;
  return absl::OkStatus();
}

absl::StatusOr<NatPolicyRule> RuleFromJson(const nlohmann::json& j, absl::string_view where,
                                           bool needs_user_agent) {
  NatPolicyRule rule;
  if (j.is_string()) {  // "default": "broken_alg"
    rule.policy = j.get<std::string>();
    return rule;
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected an object"));
  }
  static constexpr const char* kKnown[] = {
      "user_agent", "policy", "nat", "evidence", "latch_natted", "latch_direct",
      "anchor_media_without_nat", "keepalive", "keepalive_interval_s"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return FieldError(where, key, "unknown field");
    }
  }
  if (needs_user_agent) {
    if (!j.contains("user_agent") || !j.at("user_agent").is_string() ||
        j.at("user_agent").get<std::string>().empty()) {
      return FieldError(where, "user_agent", "must be a non-empty glob string");
    }
    rule.user_agent = j.at("user_agent").get<std::string>();
  } else if (j.contains("user_agent")) {
    return FieldError(where, "user_agent", "not allowed in the default policy");
  }
  if (!j.contains("policy") || !j.at("policy").is_string()) {
    return FieldError(where, "policy", "must be a policy name");
  }
  rule.policy = j.at("policy").get<std::string>();

  NatPolicyOverrides& o = rule.overrides;
  if (absl::Status s = EnumField(j, where, "nat", kNatModes, o.nat); !s.ok()) return s;
  if (absl::Status s = EnumField(j, where, "latch_natted", kLatchPolicies, o.latch_natted);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = EnumField(j, where, "latch_direct", kLatchPolicies, o.latch_direct);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = EnumField(j, where, "keepalive", kKeepaliveModes, o.keepalive);
      !s.ok()) {
    return s;
  }
  if (j.contains("anchor_media_without_nat")) {
    if (!j.at("anchor_media_without_nat").is_boolean()) {
      return FieldError(where, "anchor_media_without_nat", "must be true or false");
    }
    o.anchor_media_without_nat = j.at("anchor_media_without_nat").get<bool>();
  }
  if (j.contains("keepalive_interval_s")) {
    const nlohmann::json& v = j.at("keepalive_interval_s");
    if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 ||
        v.get<uint64_t>() > kMaxKeepaliveIntervalS) {
      return FieldError(where, "keepalive_interval_s",
                        absl::StrCat(v.dump(), " is not in 1..", kMaxKeepaliveIntervalS));
    }
    o.keepalive_interval_s = static_cast<uint32_t>(v.get<uint64_t>());
  }
  if (j.contains("evidence")) {
    const nlohmann::json& v = j.at("evidence");
    if (!v.is_array()) return FieldError(where, "evidence", "must be a list of reason names");
    NatReasonSet set;
    for (size_t i = 0; i < v.size(); ++i) {
      std::optional<NatReason> r;
      if (v[i].is_string()) r = ParseNatReason(v[i].get<std::string>());
      if (!r) {
        return FieldError(where, absl::StrCat("evidence[", i, "]"),
                          absl::StrCat(v[i].dump(), " is not a NAT reason name"));
      }
      set.Add(*r);
    }
    o.evidence = set;
  }
  return rule;
}

}  // namespace

absl::string_view NatModeName(NatMode m) { return NameOf(kNatModes, m); }
absl::string_view KeepaliveModeName(KeepaliveMode m) { return NameOf(kKeepaliveModes, m); }
absl::string_view RequestTargetName(RequestTarget t) {
  return t == RequestTarget::kSource ? "source" : "contact";
}

NatDecision Decide(const NatPolicy& policy, const NatVerdict& verdict) {
  NatDecision d;
  d.policy = policy.name;
  d.reasons = verdict.reasons;
  switch (policy.nat) {
    case NatMode::kAlways: d.natted = true; break;
    case NatMode::kNever: d.natted = false; break;
    case NatMode::kDetect: d.natted = verdict.reasons.Intersects(policy.evidence); break;
  }
  d.request_target = d.natted ? RequestTarget::kSource : RequestTarget::kContact;
  d.anchor_media = d.natted || policy.anchor_media_without_nat;
  d.media_latch = d.natted ? policy.latch_natted : policy.latch_direct;
  d.keepalive = d.natted ? policy.keepalive != KeepaliveMode::kNever
                         : policy.keepalive == KeepaliveMode::kAlways;
  d.keepalive_interval_s = policy.keepalive_interval_s;
  return d;
}

const std::vector<NatPolicy>& NatPolicyPresets() {
  static const std::vector<NatPolicy>* presets = new std::vector<NatPolicy>(MakePresets());
  return *presets;
}

absl::StatusOr<NatPolicy> NatPolicyPreset(absl::string_view name) {
  std::vector<absl::string_view> names;
  for (const NatPolicy& p : NatPolicyPresets()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  return absl::NotFoundError(absl::StrCat("unknown NAT policy '", name,
                                          "' (known: ", absl::StrJoin(names, ", "), ")"));
}

bool GlobMatch(absl::string_view pattern, absl::string_view text) {
  // Classic iterative matcher: on a mismatch, let the last `*` swallow one
  // more character and retry from there. No recursion, no allocation.
  size_t p = 0, t = 0;
  size_t star = absl::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() &&
        (pattern[p] == '?' || (pattern[p] != '*' && Lower(pattern[p]) == Lower(text[t])))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

NatPolicyTable::NatPolicyTable() : default_(NatPolicyPresets().front()) {}

absl::StatusOr<NatPolicyTable> NatPolicyTable::Create(
    const NatPolicyRule& default_rule, const std::vector<NatPolicyRule>& rules) {
  NatPolicyTable table;
  auto d = Resolve(default_rule, "nat_policy.default");
  if (!d.ok()) return d.status();
  table.default_ = *std::move(d);
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string where = absl::StrCat("nat_policy.by_user_agent[", i, "]");
    if (rules[i].user_agent.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".user_agent: must be a non-empty glob"));
    }
    auto p = Resolve(rules[i], where);
    if (!p.ok()) return p.status();
    table.rules_.push_back(Rule{rules[i].user_agent, *std::move(p)});
  }
  return table;
}

absl::StatusOr<NatPolicyTable> NatPolicyTable::FromJson(const nlohmann::json& config) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError("nat_policy: expected an object");
  }
  for (const auto& [key, value] : config.items()) {
    if (key != "default" && key != "by_user_agent") {
      return absl::InvalidArgumentError(
          absl::StrCat("nat_policy.", key, ": unknown field"));
    }
  }
  NatPolicyRule default_rule{"", "default", {}};
  if (config.contains("default")) {
    auto r = RuleFromJson(config.at("default"), "nat_policy.default",
                          /*needs_user_agent=*/false);
    if (!r.ok()) return r.status();
    default_rule = *std::move(r);
  }
  std::vector<NatPolicyRule> rules;
  if (config.contains("by_user_agent")) {
    const nlohmann::json& list = config.at("by_user_agent");
    if (!list.is_array()) {
      return absl::InvalidArgumentError("nat_policy.by_user_agent: expected a list");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      auto r = RuleFromJson(list[i], absl::StrCat("nat_policy.by_user_agent[", i, "]"),
                            /*needs_user_agent=*/true);
      if (!r.ok()) return r.status();
      rules.push_back(*std::move(r));
    }
  }
  return Create(default_rule, rules);
}

const NatPolicy& NatPolicyTable::Select(absl::string_view user_agent) const {
  for (const Rule& r : rules_) {
    if (GlobMatch(r.glob, user_agent)) return r.policy;
  }
  return default_;
}

}  // namespace rtplatch
