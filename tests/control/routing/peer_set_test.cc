// The peers at run time (control/routing/peer_set.h): who a source is,
// the order a route's targets are tried in (priority, then weight as RFC
// 2782 draws it), and each target's health.
#include "control/routing/peer_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace rtplatch {
namespace {

using ::testing::ElementsAre;

PeerTargetConfig Target(const char* ip, uint16_t priority, uint16_t weight) {
  PeerTargetConfig t;
  t.uri = absl::StrCat("sip:", ip);
  t.ip = *IpAddress::Parse(ip);
  t.parts.host = ip;
  t.priority = priority;
  t.weight = weight;
  return t;
}

PeerConfig Peer(const char* name, std::vector<PeerTargetConfig> targets) {
  PeerConfig p;
  p.name = name;
  p.targets = std::move(targets);
  for (const PeerTargetConfig& t : p.targets) p.trusted_sources.push_back(IpPrefix{*t.ip, 128});
  p.failures_to_down = 2;
  p.probe_interval_s = 10;
  return p;
}

RouteConfig Route(std::vector<std::string> peers) {
  RouteConfig r;
  r.is_default = true;
  r.peers = std::move(peers);
  return r;
}

std::vector<std::string> Uris(const PeerSet& set, const std::vector<PeerTargetRef>& refs) {
  std::vector<std::string> out;
  for (PeerTargetRef r : refs) out.push_back(set.target(r).uri);
  return out;
}

std::vector<std::string> Hops(const PeerSet& set, const std::vector<PeerTargetRef>& refs) {
  std::vector<std::string> out;
  for (PeerTargetRef r : refs) out.push_back(r.hop.ToString());
  return out;
}

TEST(PeerSetTest, SourcesAreMatchedToTheirPeer) {
  PeerConfig wide = Peer("wide", {Target("198.51.100.9", 1, 1)});
  wide.trusted_sources.push_back(*IpPrefix::Parse("203.0.113.0/24"));
  PeerSet set({Peer("core", {Target("203.0.113.40", 1, 1)}), wide});
  EXPECT_EQ(set.FromSource(*IpAddress::Parse("203.0.113.40")), 0u) << "the first listed wins";
  EXPECT_EQ(set.FromSource(*IpAddress::Parse("203.0.113.41")), 1u);
  EXPECT_EQ(set.FromSource(*IpAddress::Parse("198.51.100.9")), 1u);
  EXPECT_EQ(set.FromSource(*IpAddress::Parse("198.51.100.10")), std::nullopt);
  EXPECT_EQ(set.Find("wide"), 1u);
  EXPECT_EQ(set.Find("nobody"), std::nullopt);
}

TEST(PeerSetTest, VerifiedCertificateNamesAreMatchedToTheirPeer) {
  PeerConfig core = Peer("core", {Target("203.0.113.40", 1, 1)});
  core.trusted_tls_names = {"core.carrier.example"};
  PeerSet set({Peer("other", {Target("198.51.100.9", 1, 1)}), core});
  EXPECT_EQ(set.FromCertificate({"edge.example", "Core.Carrier.Example"}), 1u);
  EXPECT_EQ(set.FromCertificate({"mallory.example"}), std::nullopt);
  EXPECT_EQ(set.FromCertificate({}), std::nullopt);
}

TEST(PeerSetTest, LowerPriorityFirstThenTheRoutesNextPeer) {
  PeerSet set({Peer("core", {Target("203.0.113.42", 3, 1), Target("203.0.113.40", 1, 1),
                             Target("203.0.113.41", 2, 1)}),
               Peer("backup", {Target("198.51.100.50", 1, 1)})},
              [](uint64_t) { return uint64_t{0}; });
  EXPECT_THAT(Uris(set, set.Candidates(Route({"core", "backup"}))),
              ElementsAre("sip:203.0.113.40", "sip:203.0.113.41", "sip:203.0.113.42",
                          "sip:198.51.100.50"));
  EXPECT_THAT(Uris(set, set.Candidates(Route({"backup", "core"}))),
              ElementsAre("sip:198.51.100.50", "sip:203.0.113.40", "sip:203.0.113.41",
                          "sip:203.0.113.42"));
}

TEST(PeerSetTest, WeightsShareTheFirstPlaceInProportion) {
  // 3:1 weights: the heavy target first in about 3 of 4 calls; weight 0
  // only once the others are drawn (RFC 2782).
  PeerSet set({Peer("core", {Target("203.0.113.40", 1, 30), Target("203.0.113.41", 1, 10),
                             Target("203.0.113.42", 1, 0)})});
  std::map<std::string, int> first;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    std::vector<PeerTargetRef> order = set.Candidates(Route({"core"}));
    ASSERT_EQ(order.size(), 3u);
    first[set.target(order[0]).uri]++;
    EXPECT_EQ(set.target(order[2]).uri, "sip:203.0.113.42");
  }
  EXPECT_NEAR(first["sip:203.0.113.40"] / double{kDraws}, 0.75, 0.02);
  EXPECT_NEAR(first["sip:203.0.113.41"] / double{kDraws}, 0.25, 0.02);
}

TEST(PeerSetTest, ARunOfFailuresTakesATargetDownUntilAProbeIsAnswered) {
  PeerSet set({Peer("core", {Target("203.0.113.40", 1, 1), Target("203.0.113.41", 2, 1)})},
              [](uint64_t) { return uint64_t{0}; });
  const PeerTargetRef primary{0, 0, *Endpoint::Parse("203.0.113.40:5060")};
  EXPECT_FALSE(set.Failed(primary));
  set.Succeeded(primary);  // an answer ends the run
  EXPECT_FALSE(set.Failed(primary));
  EXPECT_TRUE(set.Failed(primary)) << "two in a row";
  EXPECT_FALSE(set.Failed(primary)) << "down already";
  EXPECT_FALSE((*set.hop(primary)).up);
  EXPECT_EQ((*set.hop(primary)).went_down, 1u);
  // Down targets come after the ones that are up.
  EXPECT_THAT(Uris(set, set.Candidates(Route({"core"}))),
              ElementsAre("sip:203.0.113.41", "sip:203.0.113.40"));

  // Probed at once, then every 10 s while no answer brings it back.
  EXPECT_THAT(set.ProbesDue(1000), ElementsAre(primary));  // hop 0
  EXPECT_TRUE(set.ProbesDue(1000).empty()) << "one in flight at a time";
  EXPECT_FALSE(set.ProbeDone(primary, 0));
  EXPECT_TRUE(set.ProbesDue(9000).empty());
  EXPECT_THAT(set.ProbesDue(11000), ElementsAre(primary));
  EXPECT_FALSE(set.ProbeDone(primary, 503));
  EXPECT_THAT(set.ProbesDue(21000), ElementsAre(primary));
  EXPECT_FALSE(set.ProbeDone(primary, 408));
  EXPECT_THAT(set.ProbesDue(31000), ElementsAre(primary));
  EXPECT_TRUE(set.ProbeDone(primary, 404)) << "any answer but 408/5xx: it is there";
  EXPECT_TRUE((*set.hop(primary)).up);
  EXPECT_TRUE(set.ProbesDue(100000).empty());
  EXPECT_EQ((*set.hop(primary)).probes_sent, 4u);
  EXPECT_THAT(Uris(set, set.Candidates(Route({"core"}))),
              ElementsAre("sip:203.0.113.40", "sip:203.0.113.41"));
}

TEST(PeerSetTest, ANamedTargetsHopsComeFromDnsAndSurviveAFailedLookup) {
  PeerTargetConfig named;
  named.uri = "sip:carrier.example";
  named.parts = *ParseUri(named.uri);
  PeerSet set({Peer("core", {named, Target("198.51.100.50", 2, 1)})},
              [](uint64_t) { return uint64_t{0}; });
  // Not located yet: only the address target.
  EXPECT_THAT(Hops(set, set.Candidates(Route({"core"}))), ElementsAre("198.51.100.50:5060"));
  std::vector<PeerTargetRef> due = set.LocationsDue(1000);
  ASSERT_EQ(due.size(), 1u) << "named targets only";
  EXPECT_EQ(due[0].target, 0u);
  EXPECT_TRUE(set.LocationsDue(1000).empty()) << "one lookup at a time";
  const std::vector<SipHop> hops = {
      {SipTransportKind::kUdp, *Endpoint::Parse("203.0.113.40:5070"), "core1.carrier.example"},
      {SipTransportKind::kUdp, *Endpoint::Parse("203.0.113.41:5060"), "core2.carrier.example"}};
  set.Located(due[0], hops, 1000);
  EXPECT_THAT(Hops(set, set.Candidates(Route({"core"}))),
              ElementsAre("203.0.113.40:5070", "203.0.113.41:5060", "198.51.100.50:5060"));
  EXPECT_TRUE(set.LocationsDue(1000 + PeerSet::kRelocateMs - 1).empty());
  due = set.LocationsDue(1000 + PeerSet::kRelocateMs);
  ASSERT_EQ(due.size(), 1u);
  set.Located(due[0], absl::UnavailableError("DNS for carrier.example: timeout"), 20000);
  EXPECT_THAT(Hops(set, set.Candidates(Route({"core"}))),
              ElementsAre("203.0.113.40:5070", "203.0.113.41:5060", "198.51.100.50:5060"))
      << "a DNS outage keeps the last hops";
  EXPECT_EQ(set.ToJson()[0]["targets"][0]["dns_error"], "DNS for carrier.example: timeout");
  EXPECT_EQ(set.LocationsDue(20000 + PeerSet::kRelocateAfterErrorMs).size(), 1u)
      << "retried sooner after an error";

  // A hop DNS keeps keeps its health; one it drops is gone.
  const PeerTargetRef core1{0, 0, *Endpoint::Parse("203.0.113.40:5070")};
  const PeerTargetRef core2{0, 0, *Endpoint::Parse("203.0.113.41:5060")};
  set.Attempted(core1);
  set.Attempted(core2);
  set.Located({0, 0, Endpoint{}}, std::vector<SipHop>{hops[0]}, 30000);
  ASSERT_NE(set.hop(core1), nullptr);
  EXPECT_EQ(set.hop(core1)->attempts, 1u);
  EXPECT_EQ(set.hop(core2), nullptr);
  EXPECT_FALSE(set.Failed(core2)) << "a failure of a hop that is gone is ignored";
}

TEST(PeerSetTest, ToJsonShowsEachHopsState) {
  PeerSet set({Peer("core", {Target("203.0.113.40", 1, 5)})});
  const PeerTargetRef hop{0, 0, *Endpoint::Parse("203.0.113.40:5060")};
  set.Attempted(hop);
  set.Failed(hop);
  set.Failed(hop);
  const nlohmann::json j = set.ToJson();
  EXPECT_EQ(j[0]["name"], "core");
  EXPECT_EQ(j[0]["targets"][0]["weight"], 5);
  const nlohmann::json& h = j[0]["targets"][0]["hops"][0];
  EXPECT_EQ(h["hop"], "UDP 203.0.113.40:5060");
  EXPECT_EQ(h["state"], "down");
  EXPECT_EQ(h["attempts"], 1);
  EXPECT_EQ(h["failures"], 2);
}

TEST(PeerSetTest, DownHopsOfEveryPeerComeAfterAllThatAreUp) {
  PeerSet set({Peer("core", {Target("203.0.113.40", 1, 1), Target("203.0.113.41", 2, 1)}),
               Peer("backup", {Target("198.51.100.50", 1, 1)})},
              [](uint64_t) { return uint64_t{0}; });
  const PeerTargetRef primary{0, 0, *Endpoint::Parse("203.0.113.40:5060")};
  set.Failed(primary);
  set.Failed(primary);
  EXPECT_THAT(Uris(set, set.Candidates(Route({"core", "backup"}))),
              ElementsAre("sip:203.0.113.41", "sip:198.51.100.50", "sip:203.0.113.40"));
}

// Reload: a kept peer keeps its index and its hops' health (calls in
// progress hold PeerTargetRefs); a removed one is retired, never matched
// or chosen again; an added one comes after.
TEST(PeerSetTest, AReloadKeepsWhatStaysAndRetiresWhatWent) {
  PeerSet set({Peer("core", {Target("203.0.113.40", 1, 1)}),
               Peer("old", {Target("198.51.100.9", 1, 1)})},
              [](uint64_t) { return uint64_t{0}; });
  const PeerTargetRef core{0, 0, *Endpoint::Parse("203.0.113.40:5060")};
  set.Failed(core);
  set.Failed(core);  // down
  PeerConfig slower = Peer("core", {Target("203.0.113.40", 1, 1)});
  slower.answer_timeout_ms = 9000;
  const PeerSetChange change =
      set.Reconfigure({Peer("new", {Target("198.51.100.20", 1, 1)}), slower}, 5000);
  EXPECT_THAT(change.added, ElementsAre("new"));
  EXPECT_THAT(change.removed, ElementsAre("old"));
  EXPECT_THAT(change.changed, ElementsAre("core"));

  EXPECT_EQ(set.Find("core"), 0u) << "kept in its place";
  EXPECT_EQ(set.peer(0).answer_timeout_ms, 9000u) << "with the new settings";
  EXPECT_FALSE((*set.hop(core)).up) << "and its health";
  EXPECT_EQ(set.Find("new"), 2u);
  EXPECT_EQ(set.Find("old"), std::nullopt);
  EXPECT_TRUE(set.retired(1));
  EXPECT_EQ(set.FromSource(*IpAddress::Parse("198.51.100.9")), std::nullopt)
      << "a removed peer's sources are no longer trusted";
  EXPECT_EQ(set.peer(1).name, "old") << "a call in progress can still name it";
  EXPECT_THAT(Uris(set, set.Candidates(Route({"old", "new", "core"}))),
              ElementsAre("sip:198.51.100.20", "sip:203.0.113.40"));
  EXPECT_EQ(set.ToJson().size(), 2u) << "`peers` lists the configured ones";

  EXPECT_TRUE(set.Reconfigure({slower, Peer("new", {Target("198.51.100.20", 1, 1)})}, 6000)
                  .empty())
      << "the same peers in another order change nothing";
  const PeerSetChange back = set.Reconfigure(
      {slower, Peer("new", {Target("198.51.100.20", 1, 1)}),
       Peer("old", {Target("198.51.100.9", 1, 1)})},
      7000);
  EXPECT_THAT(back.added, ElementsAre("old"));
  EXPECT_EQ(set.Find("old"), 1u) << "back in its place, not a new one";
  EXPECT_EQ(set.size(), 3u);
}

TEST(PeerSetTest, AReloadMergesAPeersTargetsByUri) {
  PeerSet set({Peer("core", {Target("203.0.113.40", 1, 1), Target("203.0.113.41", 2, 1)})},
              [](uint64_t) { return uint64_t{0}; });
  const PeerTargetRef second{0, 1, *Endpoint::Parse("203.0.113.41:5060")};
  set.Attempted(second);
  set.Failed(second);
  set.Failed(second);  // down: probed
  set.Reconfigure({Peer("core", {Target("203.0.113.41", 1, 1), Target("203.0.113.42", 2, 1)})},
                  1000);
  EXPECT_THAT(Uris(set, set.Candidates(Route({"core"}))),
              ElementsAre("sip:203.0.113.42", "sip:203.0.113.41"))
      << "the removed target is gone; the kept one is still down";
  EXPECT_EQ((*set.hop(second)).attempts, 1u) << "a kept target keeps its index and health";
  EXPECT_EQ(set.target(second).priority, 1) << "with its new priority";
  EXPECT_EQ(set.target(PeerTargetRef{0, 2, {}}).uri, "sip:203.0.113.42") << "appended";
  EXPECT_EQ(set.target(PeerTargetRef{0, 0, {}}).uri, "sip:203.0.113.40")
      << "a removed target stays for the calls that hold it";
  const PeerTargetRef removed{0, 0, *Endpoint::Parse("203.0.113.40:5060")};
  set.Failed(removed);
  set.Failed(removed);  // a call in progress reports it down
  EXPECT_THAT(set.ProbesDue(2000), ElementsAre(second)) << "a removed target is not probed";
  EXPECT_EQ(set.ToJson()[0]["targets"].size(), 2u);
  EXPECT_TRUE(set.Reconfigure({Peer("core", {Target("203.0.113.41", 1, 1),
                                             Target("203.0.113.42", 2, 1)})},
                              3000)
                  .empty())
      << "the same config again changes nothing (the retired target is not compared)";
  EXPECT_TRUE(set.retired(removed));
  EXPECT_FALSE(set.retired(second));
}

TEST(PeerSetTest, ARemovedPeersRegistrationIsWithdrawn) {
  PeerConfig trunk = Peer("trunk", {Target("203.0.113.40", 1, 1)});
  trunk.registration.aor = "sip:edge@carrier.example";
  PeerConfig quiet = Peer("quiet", {Target("203.0.113.50", 1, 1)});
  quiet.registration.aor = "sip:edge2@carrier.example";
  PeerSet set({trunk, quiet});
  PeerRegistration& registered = *set.registration(0);
  registered.Sent(0);
  registered.Answered(200, 600, "", 100);  // registered for 600 s
  set.Reconfigure({}, 1000);
  EXPECT_TRUE(registered.Due(1000)) << "an un-REGISTER goes at once";
  EXPECT_EQ(registered.expires_to_send(), 0u);
  EXPECT_EQ(set.HopsOf(0).size(), 1u) << "to the retired peer's hop";
  registered.Sent(1000);
  registered.Answered(200, 0, "", 1100);
  EXPECT_TRUE(registered.withdrawn());
  EXPECT_FALSE(registered.Due(100000)) << "and nothing after it";
  EXPECT_TRUE(set.registration(1)->withdrawn()) << "never registered: nothing to withdraw";
}

TEST(PeerSetTest, ARegistrationRestoredWhileWithdrawingRegistersAgain) {
  PeerConfig trunk = Peer("trunk", {Target("203.0.113.40", 1, 1)});
  trunk.registration.aor = "sip:edge@carrier.example";
  PeerSet set({trunk});
  set.registration(0)->Sent(0);
  set.registration(0)->Answered(200, 600, "", 100);
  const uint64_t first = set.registration(0)->id();
  PeerConfig unregistered = trunk;
  unregistered.registration = {};
  set.Reconfigure({unregistered}, 1000);
  EXPECT_TRUE(set.registration(0)->withdrawing());
  set.Reconfigure({trunk}, 1100);  // back before the un-REGISTER was answered
  PeerRegistration& again = *set.registration(0);
  EXPECT_NE(again.id(), first) << "a new registration: the old one's answers are not its";
  EXPECT_FALSE(again.withdrawing());
  EXPECT_TRUE(again.Due(1100));
  EXPECT_EQ(again.expires_to_send(), 600u);
}

}  // namespace
}  // namespace rtplatch
