// NAT policies: the defaults, per-User-Agent selection and overrides, the
// JSON config, and each preset's decisions, named after design.md's
// failure-mode rows.
#include "control/nat/nat_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

NatVerdict Verdict(std::initializer_list<NatReason> reasons) {
  const NatReasonSet set(reasons);
  return NatVerdict{set.Intersects(NatReasonSet::Evidence()), set};
}

// A phone on an inside LAN behind a NAT (what DetectNat reports for it).
const NatVerdict kBehindNat =
    Verdict({NatReason::kViaHostDiffersFromSource, NatReason::kViaPortDiffersFromSource,
             NatReason::kViaInside, NatReason::kContactInside,
             NatReason::kViaRportRequested, NatReason::kContactDiffersFromSource});
// Only the Contact is inside (e.g. an ALG fixed the Via only).
const NatVerdict kContactOnlyInside =
    Verdict({NatReason::kContactInside, NatReason::kContactDiffersFromSource});
// Consistent signalling.
const NatVerdict kClean = Verdict({NatReason::kViaRportRequested});

NatPolicy Preset(absl::string_view name) {
  auto p = NatPolicyPreset(name);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : NatPolicy{};
}

TEST(NatPolicyTest, NamesMatchTheControlProtocol) {
  // docs/control-protocol.md: allocate/update "policy".
  EXPECT_EQ(LatchPolicyName(LatchPolicy::kLearn), "learn");
  EXPECT_EQ(LatchPolicyName(LatchPolicy::kStrict), "strict");
  EXPECT_EQ(LatchPolicyName(LatchPolicy::kAsymmetric), "asymmetric");
  EXPECT_EQ(NatModeName(NatMode::kAlways), "always");
  EXPECT_EQ(KeepaliveModeName(KeepaliveMode::kWhenNatted), "when_natted");
  EXPECT_EQ(RequestTargetName(RequestTarget::kSource), "source");
  EXPECT_EQ(RequestTargetName(RequestTarget::kContact), "contact");
}

TEST(NatPolicyTest, PresetsAreTheFailureModes) {
  std::vector<std::string> names;
  for (const NatPolicy& p : NatPolicyPresets()) names.push_back(p.name);
  EXPECT_THAT(names, ElementsAre("default", "self_fixing_phone", "asymmetric_rtp", "broken_alg",
                                 "no_nat_contact_differs", "proper_alg", "ipv6",
                                 "carrier_grade_nat"));
  auto unknown = NatPolicyPreset("asymetric_rtp");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(unknown.status()), HasSubstr("'asymetric_rtp'"));
  EXPECT_THAT(Message(unknown.status()), HasSubstr("asymmetric_rtp"));
}

TEST(NatPolicyTest, DefaultFollowsDetection) {
  const NatPolicyTable table;
  EXPECT_EQ(table.Select("anything").name, "default");

  const NatDecision natd = table.Decide("baresip v2.9.0", kBehindNat);
  EXPECT_EQ(natd.policy, "default");
  EXPECT_TRUE(natd.natted);
  EXPECT_EQ(natd.request_target, RequestTarget::kSource);
  EXPECT_TRUE(natd.anchor_media);
  EXPECT_EQ(natd.media_latch, LatchPolicy::kLearn);
  EXPECT_TRUE(natd.keepalive);
  EXPECT_EQ(natd.keepalive_interval_s, 25u);
  EXPECT_EQ(natd.reasons, kBehindNat.reasons);

  const NatDecision clean = table.Decide("baresip v2.9.0", kClean);
  EXPECT_FALSE(clean.natted);
  EXPECT_EQ(clean.request_target, RequestTarget::kContact);
  EXPECT_FALSE(clean.anchor_media);
  EXPECT_FALSE(clean.keepalive);
}

// Each preset against the three verdicts: one row per preset.
struct PresetCase {
  const char* name;
  // natted / target-is-source / anchor / latch / keepalive, per verdict
  struct Expect {
    bool natted;
    bool anchor;
    LatchPolicy latch;
    bool keepalive;
  } behind_nat, contact_only_inside, clean;
  uint32_t interval_s;
};

class NatPolicyPresetTest : public ::testing::TestWithParam<PresetCase> {};

TEST_P(NatPolicyPresetTest, Decides) {
  const PresetCase& c = GetParam();
  const NatPolicy policy = Preset(c.name);
  auto check = [&](const NatVerdict& v, const PresetCase::Expect& e, const char* what) {
    const NatDecision d = Decide(policy, v);
    SCOPED_TRACE(absl::StrCat(c.name, " / ", what));
    EXPECT_EQ(d.policy, c.name);
    EXPECT_EQ(d.natted, e.natted);
    EXPECT_EQ(d.request_target, e.natted ? RequestTarget::kSource : RequestTarget::kContact);
    EXPECT_EQ(d.anchor_media, e.anchor);
    EXPECT_EQ(d.media_latch, e.latch);
    EXPECT_EQ(d.keepalive, e.keepalive);
    EXPECT_EQ(d.keepalive_interval_s, c.interval_s);
  };
  check(kBehindNat, c.behind_nat, "behind NAT");
  check(kContactOnlyInside, c.contact_only_inside, "contact only inside");
  check(kClean, c.clean, "clean");
}

constexpr auto kLearn = LatchPolicy::kLearn;
constexpr auto kStrict = LatchPolicy::kStrict;
constexpr auto kAsym = LatchPolicy::kAsymmetric;

INSTANTIATE_TEST_SUITE_P(
    Presets, NatPolicyPresetTest,
    ::testing::Values(
        //         name                      behind NAT                  contact only inside         clean                         interval
        PresetCase{"default",                {true, true, kLearn, true}, {true, true, kLearn, true}, {false, false, kLearn, false}, 25},
        PresetCase{"self_fixing_phone",      {true, true, kLearn, true}, {true, true, kLearn, true}, {false, true, kLearn, false},  25},
        PresetCase{"asymmetric_rtp",         {true, true, kAsym, true},  {true, true, kAsym, true},  {false, false, kAsym, false},  25},
        PresetCase{"broken_alg",             {true, true, kLearn, true}, {true, true, kLearn, true}, {true, true, kLearn, true},  25},
        PresetCase{"no_nat_contact_differs", {true, true, kLearn, true}, {false, false, kLearn, false}, {false, false, kLearn, false}, 25},
        PresetCase{"proper_alg",             {true, true, kLearn, true}, {true, true, kLearn, true}, {false, false, kStrict, false}, 25},
        PresetCase{"ipv6",                   {true, true, kLearn, true}, {true, true, kLearn, true}, {false, false, kStrict, true},  25},
        PresetCase{"carrier_grade_nat",      {true, true, kLearn, true}, {true, true, kLearn, true}, {false, false, kLearn, false}, 20}),
    [](const ::testing::TestParamInfo<PresetCase>& info) { return std::string(info.param.name); });

// ---- design.md failure-mode rows ----

TEST(NatPolicyTest, PhoneWorksAroundNatItself) {
  // Port differs: still NAT (detection); the policy adds anchoring when
  // signalling looks clean, so latching corrects a STUN-derived SDP port.
  const NatPolicy p = Preset("self_fixing_phone");
  const NatDecision port_differs =
      Decide(p, Verdict({NatReason::kViaPortDiffersFromSource, NatReason::kViaRportRequested}));
  EXPECT_TRUE(port_differs.natted);
  EXPECT_EQ(port_differs.request_target, RequestTarget::kSource);
  const NatDecision clean = Decide(p, kClean);
  EXPECT_FALSE(clean.natted);
  EXPECT_EQ(clean.request_target, RequestTarget::kContact);
  EXPECT_TRUE(clean.anchor_media);
  EXPECT_EQ(clean.media_latch, LatchPolicy::kLearn);
}

TEST(NatPolicyTest, AsymmetricRtpPhoneSelectedByUserAgent) {
  auto table = NatPolicyTable::Create({"", "default", {}},
                                      {{"Cisco/SPA5*", "asymmetric_rtp", {}}});
  ASSERT_TRUE(table.ok()) << table.status();
  const NatDecision cisco = table->Decide("Cisco/SPA504G-7.6.2", kClean);
  EXPECT_EQ(cisco.policy, "asymmetric_rtp");
  EXPECT_EQ(cisco.media_latch, LatchPolicy::kAsymmetric);
  const NatDecision cisco_natd = table->Decide("Cisco/SPA504G-7.6.2", kBehindNat);
  EXPECT_EQ(cisco_natd.media_latch, LatchPolicy::kAsymmetric);
  EXPECT_EQ(table->Decide("Yealink SIP-T46S 66.86.0.15", kClean).policy, "default");
}

TEST(NatPolicyTest, BrokenAlgSourceAndLatchingWin) {
  // Even when the ALG hid every inconsistency (clean verdict).
  const NatDecision d = Decide(Preset("broken_alg"), kClean);
  EXPECT_TRUE(d.natted);
  EXPECT_EQ(d.request_target, RequestTarget::kSource);
  EXPECT_TRUE(d.anchor_media);
  EXPECT_EQ(d.media_latch, LatchPolicy::kLearn);
  EXPECT_TRUE(d.keepalive);
}

// From SIP text to decision: an ALG that rewrote Via, Contact, o= and c=
// but not m= leaves nothing to detect; the operator pinned broken_alg on
// that site's phones by User-Agent, so the source and latching still win.
TEST(NatPolicyTest, BrokenAlgRewritesCNotMEndToEnd) {
  const std::string sdp =
      "v=0\r\n"
      "o=- 20039 20039 IN IP4 203.0.113.9\r\n"
      "s=SDP data\r\n"
      "c=IN IP4 203.0.113.9\r\n"
      "t=0 0\r\n"
      "m=audio 11796 RTP/AVP 0 8 101\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n";
  const std::string invite = absl::StrCat(
      "INVITE sip:bob@sip.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK1437937713;rport\r\n"
      "From: \"Carol\" <sip:carol@sip.example.com>;tag=1822417232\r\n"
      "To: <sip:bob@sip.example.com>\r\n"
      "Call-ID: 1830125426@192.0.2.20\r\n"
      "CSeq: 2 INVITE\r\n"
      "Contact: <sip:carol@203.0.113.9:5060>\r\n"
      "Content-Type: application/sdp\r\n"
      "Max-Forwards: 70\r\n"
      "User-Agent: Yealink SIP-T46S 66.86.0.15\r\n"
      "Content-Length: ", sdp.size(), "\r\n\r\n", sdp);
  auto m = SipMessage::Parse(invite);
  ASSERT_TRUE(m.ok()) << m.status();
  InsidePrefixes inside = InsidePrefixes::Default();
  ASSERT_TRUE(inside.Add("192.0.2.0/24").ok());
  const NatVerdict v = DetectNat(*m, *Endpoint::Parse("203.0.113.9:5060"), inside);
  EXPECT_FALSE(v.natted);

  auto table = NatPolicyTable::FromJson(nlohmann::json::parse(
      R"({"by_user_agent": [{"user_agent": "Yealink*", "policy": "broken_alg"}]})"));
  ASSERT_TRUE(table.ok()) << table.status();
  const NatDecision d = table->Decide(m->user_agent(), v);
  EXPECT_EQ(d.policy, "broken_alg");
  EXPECT_TRUE(d.natted);
  EXPECT_EQ(d.request_target, RequestTarget::kSource);
  EXPECT_TRUE(d.anchor_media);
  EXPECT_EQ(d.media_latch, LatchPolicy::kLearn);
}

TEST(NatPolicyTest, ContactDiffersFromSourceWithoutNat) {
  // Default: a differing Contact alone is not NAT; the Contact is used.
  const NatDecision d = Decide(Preset("default"),
                               Verdict({NatReason::kContactDiffersFromSource}));
  EXPECT_FALSE(d.natted);
  EXPECT_EQ(d.request_target, RequestTarget::kContact);
  EXPECT_FALSE(d.keepalive);
  // no_nat_contact_differs: even an inside Contact is used as given while
  // the Via is consistent; a Via mismatch still means NAT.
  const NatPolicy p = Preset("no_nat_contact_differs");
  EXPECT_EQ(Decide(p, kContactOnlyInside).request_target, RequestTarget::kContact);
  EXPECT_EQ(Decide(p, Verdict({NatReason::kViaPortDiffersFromSource})).request_target,
            RequestTarget::kSource);
}

TEST(NatPolicyTest, ProperAlgLooksConsistent) {
  const NatDecision d = Decide(Preset("proper_alg"), kClean);
  EXPECT_FALSE(d.natted);
  EXPECT_EQ(d.request_target, RequestTarget::kContact);
  EXPECT_FALSE(d.keepalive);
  EXPECT_EQ(d.media_latch, LatchPolicy::kStrict);  // if the proxy anchors it
}

TEST(NatPolicyTest, Ipv6Phone) {
  const NatDecision d = Decide(Preset("ipv6"), kClean);
  EXPECT_FALSE(d.natted);
  EXPECT_EQ(d.request_target, RequestTarget::kContact);
  EXPECT_TRUE(d.keepalive);  // stateful IPv6 firewalls close idle pinholes
  EXPECT_EQ(d.media_latch, LatchPolicy::kStrict);
}

TEST(NatPolicyTest, CarrierGradeNat) {
  const NatDecision d = Decide(Preset("carrier_grade_nat"), kBehindNat);
  EXPECT_TRUE(d.natted);
  EXPECT_TRUE(d.keepalive);
  EXPECT_EQ(d.keepalive_interval_s, 20u);
}

// ---- selection ----

TEST(NatPolicyTest, FirstMatchingUserAgentRuleWins) {
  NatPolicyOverrides slow;
  slow.keepalive_interval_s = 25;
  auto table = NatPolicyTable::Create(
      {"", "proper_alg", {}},
      {{"yealink sip-t4?s *", "asymmetric_rtp", {}},
       {"Yealink*", "broken_alg", slow},
       {"*linphone*", "ipv6", {}}});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Select("Yealink SIP-T46S 66.86.0.15").name, "asymmetric_rtp");
  EXPECT_EQ(table->Select("Yealink SIP-T54W 96.86.0.70").name, "broken_alg");
  EXPECT_EQ(table->Select("Yealink SIP-T54W 96.86.0.70").keepalive_interval_s, 25u);
  EXPECT_EQ(table->Select("Linphone-Desktop/5.2.0 (erin-laptop)").name, "ipv6");
  EXPECT_EQ(table->Select("snomD735/10.1.159.12").name, "proper_alg");
  EXPECT_EQ(table->Select("").name, "proper_alg");
  EXPECT_EQ(table->default_policy().name, "proper_alg");
}

TEST(NatPolicyTest, OverridesChangeOnlyTheirFields) {
  NatPolicyOverrides o;
  o.nat = NatMode::kNever;
  o.keepalive = KeepaliveMode::kNever;
  o.evidence = NatReasonSet{NatReason::kViaInside};
  auto table = NatPolicyTable::Create({"", "asymmetric_rtp", o}, {});
  ASSERT_TRUE(table.ok()) << table.status();
  const NatPolicy& p = table->default_policy();
  EXPECT_EQ(p.nat, NatMode::kNever);
  EXPECT_EQ(p.keepalive, KeepaliveMode::kNever);
  EXPECT_EQ(p.latch_natted, LatchPolicy::kAsymmetric);  // kept from the preset
  EXPECT_FALSE(table->Decide("x", kBehindNat).natted);
}

TEST(NatPolicyTest, CreateNamesTheBadRule) {
  auto bad_policy = NatPolicyTable::Create({"", "default", {}},
                                           {{"Snom*", "default", {}}, {"Cisco*", "asym", {}}});
  ASSERT_FALSE(bad_policy.ok());
  EXPECT_THAT(Message(bad_policy.status()),
              HasSubstr("nat_policy.by_user_agent[1].policy: unknown NAT policy 'asym'"));
  auto empty_glob = NatPolicyTable::Create({"", "default", {}}, {{"", "default", {}}});
  ASSERT_FALSE(empty_glob.ok());
  EXPECT_THAT(Message(empty_glob.status()), HasSubstr("by_user_agent[0].user_agent"));
  NatPolicyOverrides zero;
  zero.keepalive_interval_s = 0;
  auto bad_interval = NatPolicyTable::Create({"", "default", zero}, {});
  ASSERT_FALSE(bad_interval.ok());
  EXPECT_THAT(Message(bad_interval.status()),
              HasSubstr("nat_policy.default.keepalive_interval_s: 0"));
}

TEST(GlobMatchTest, WholeStringCaseInsensitive) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_FALSE(GlobMatch("", "x"));
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_TRUE(GlobMatch("Yealink*", "yealink SIP-T46S"));
  EXPECT_FALSE(GlobMatch("Yealink", "Yealink SIP-T46S"));
  EXPECT_TRUE(GlobMatch("*T4?S*", "Yealink SIP-T46S 66.86.0.15"));
  EXPECT_FALSE(GlobMatch("*T4?S*", "Yealink SIP-T54W 96.86.0.70"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  EXPECT_TRUE(GlobMatch("**a", "ba"));
}

TEST(GlobMatchTest, HostileUserAgentStaysCheap) {
  // Backtracking-heavy for a naive matcher; iterative here, bounded by
  // pattern length times input length.
  const std::string ua(60000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*b", ua));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// ---- JSON config ----

TEST(NatPolicyJsonTest, ParsesDefaultAndRules) {
  auto table = NatPolicyTable::FromJson(nlohmann::json::parse(R"({
    "default": "carrier_grade_nat",
    "by_user_agent": [
      {"user_agent": "Cisco/SPA5*", "policy": "asymmetric_rtp"},
      {"user_agent": "*Grandstream*", "policy": "default", "nat": "always",
       "latch_natted": "strict", "latch_direct": "asymmetric",
       "anchor_media_without_nat": true, "keepalive": "always",
       "keepalive_interval_s": 15,
       "evidence": ["via_port_differs_from_source", "contact_inside"]}
    ]})"));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->default_policy().name, "carrier_grade_nat");
  EXPECT_EQ(table->Select("Cisco/SPA504G-7.6.2").name, "asymmetric_rtp");
  const NatPolicy& gs = table->Select("Grandstream GXP2170 1.0.11.23");
  EXPECT_EQ(gs.nat, NatMode::kAlways);
  EXPECT_EQ(gs.latch_natted, LatchPolicy::kStrict);
  EXPECT_EQ(gs.latch_direct, LatchPolicy::kAsymmetric);
  EXPECT_TRUE(gs.anchor_media_without_nat);
  EXPECT_EQ(gs.keepalive, KeepaliveMode::kAlways);
  EXPECT_EQ(gs.keepalive_interval_s, 15u);
  EXPECT_EQ(gs.evidence, (NatReasonSet{NatReason::kViaPortDiffersFromSource,
                                       NatReason::kContactInside}));
}

TEST(NatPolicyJsonTest, EmptyObjectIsTheDefault) {
  auto table = NatPolicyTable::FromJson(nlohmann::json::object());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Select("x").name, "default");
  auto with_overrides = NatPolicyTable::FromJson(
      nlohmann::json::parse(R"({"default": {"policy": "ipv6", "keepalive": "never"}})"));
  ASSERT_TRUE(with_overrides.ok()) << with_overrides.status();
  EXPECT_EQ(with_overrides->default_policy().keepalive, KeepaliveMode::kNever);
}

TEST(NatPolicyJsonTest, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {R"([])", "nat_policy: expected an object"},
           {R"({"defaults": "x"})", "nat_policy.defaults: unknown field"},
           {R"({"default": "asym"})", "nat_policy.default.policy: unknown NAT policy 'asym'"},
           {R"({"default": {"policy": "default", "user_agent": "x"}})",
            "nat_policy.default.user_agent: not allowed"},
           {R"({"by_user_agent": {}})", "nat_policy.by_user_agent: expected a list"},
           {R"({"by_user_agent": [{"policy": "default"}]})",
            "nat_policy.by_user_agent[0].user_agent: must be a non-empty glob"},
           {R"({"by_user_agent": [{"user_agent": "x"}]})",
            "nat_policy.by_user_agent[0].policy: must be a policy name"},
           {R"({"by_user_agent": [{"user_agent": "x", "policy": "default", "latch_natted": "lock"}]})",
            "nat_policy.by_user_agent[0].latch_natted: \"lock\" is not one of learn, strict, asymmetric"},
           {R"({"by_user_agent": [{"user_agent": "x", "policy": "default", "nat": true}]})",
            "nat_policy.by_user_agent[0].nat: true is not one of detect, always, never"},
           {R"({"by_user_agent": [{"user_agent": "x", "policy": "default", "evidence": ["via_inside", "nat"]}]})",
            "nat_policy.by_user_agent[0].evidence[1]: \"nat\" is not a NAT reason name"},
           {R"({"by_user_agent": [{"user_agent": "x", "policy": "default", "keepalive_interval_s": 0}]})",
            "nat_policy.by_user_agent[0].keepalive_interval_s: 0 is not in 1..3600"},
           {R"({"by_user_agent": [{"user_agent": "x", "policy": "default", "keepalive_interval_s": -5}]})",
            "keepalive_interval_s: -5 is not in 1..3600"},
           {R"({"by_user_agent": [{"user_agent": "x", "policy": "default", "anchor_media_without_nat": "yes"}]})",
            "anchor_media_without_nat: must be true or false"},
           {R"({"by_user_agent": [{"user_agent": "x", "policy": "default", "keepalive_s": 5}]})",
            "nat_policy.by_user_agent[0].keepalive_s: unknown field"}}) {
    auto table = NatPolicyTable::FromJson(nlohmann::json::parse(c.json));
    ASSERT_FALSE(table.ok()) << c.json;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(Message(table.status()), HasSubstr(c.error)) << c.json;
  }
}

}  // namespace
}  // namespace rtplatch
