// The proxy at a carrier's edge (issue 15): our phones' calls to numbers
// that are not local users follow the dial plan to a peer, from target to
// target on failure; a peer's calls reach our phones untouched by digest
// auth; a down target is probed until it answers. The fixture
// (proxy_fixture.h) records what the proxy would send.
//
// Peer targets (documentation prefix): 198.51.100.40 (priority 1) and
// 198.51.100.41 (priority 2) of peer "core", trusted by address.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_split.h"
#include "control/dns/sip_locator.h"
#include "tests/control/dns/table_dns.h"
#include "absl/time/time.h"
#include "control/registrar/digest_auth.h"
#include "control/registrar/users_file.h"
#include "tests/control/routing/proxy_fixture.h"

namespace rtplatch {
namespace proxy_fixture {
namespace {

// The two targets, as phones: what a softswitch says and where it is.
const Phone kPrimary{"+15551234567", "198.51.100.40:5060", Ep("198.51.100.40:5060"),
                     "198.51.100.40", 8000};
const Phone kSecondary{"+15551234567", "198.51.100.41:5060", Ep("198.51.100.41:5060"),
                       "198.51.100.41", 8002};
// Someone on the internet who is neither a peer nor one of our users.
const Phone kStranger{"mallory", "198.51.100.66:5060", Ep("198.51.100.66:5060"),
                      "198.51.100.66", 9000};

json CorePeer(absl::string_view media = "always") {
  return json::array({{{"name", "core"},
                       {"targets", json::array({{{"uri", "sip:198.51.100.40"}, {"priority", 1}},
                                                {{"uri", "sip:198.51.100.41:5060"},
                                                 {"priority", 2}}})},
                       {"media", media},
                       {"answer_timeout_ms", 2000},
                       {"failures_to_down", 2},
                       {"probe_interval_s", 5}}});
}

json Routes() {
  return json::array({{{"prefix", "+1"}, {"peers", {"core"}}},
                      {{"prefix", "+1555999"}, {"peers", {"core"}}}});
}

using testing::TableDns;

class PeerRoutingTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(SetEdge(CorePeer(), Routes()));
  }

  // alice's INVITE to the number; the INVITE that reached `target`.
  std::optional<Sent> CallNumber(const Dialog& d, const Phone& target) {
    const size_t mark = sent_.size();
    Receive(InviteText(d, Sdp(*d.caller, 1)), d.caller->source);
    return RequestTo(target.source, "INVITE", mark);
  }

  // The state of target `index`'s one hop.
  json TargetJson(int index) const { return peers_->ToJson()[0]["targets"][index]["hops"][0]; }

  // `d`'s INVITE from a caller outside our domain, to `request_uri_host`.
  std::string ForeignInvite(const Dialog& d, absl::string_view request_uri_host) {
    return absl::StrReplaceAll(
        InviteText(d, Sdp(*d.caller, 1)),
        {{absl::StrCat("INVITE ", d.callee->aor_uri()),
          absl::StrCat("INVITE sip:", d.callee->user, "@", request_uri_host)},
         {absl::StrCat("From: <", d.caller->aor_uri()),
          absl::StrCat("From: <sip:", d.caller->user, "@elsewhere.example")}});
  }
};

TEST_F(PeerRoutingTest, ANumberThatIsNoLocalUserGoesToThePeerWithRelayedMedia) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kPrimary);
  std::optional<Sent> invite = CallNumber(d, kPrimary);
  ASSERT_TRUE(invite.has_value()) << ::testing::PrintToString(CodesTo(kAlice.source));
  const SipMessage m = invite->Parsed();
  EXPECT_EQ(m.request_uri(), "sip:+15551234567@198.51.100.40:5060");
  EXPECT_THAT(m.record_routes(), ElementsAre(kRecordRouteV4));
  // The peer's SDP has the relay, not alice's private address.
  const std::string sdp = invite->bytes.substr(invite->bytes.find("\r\n\r\n"));
  EXPECT_THAT(sdp, HasSubstr("c=IN IP4 203.0.113.1"));
  EXPECT_THAT(sdp, Not(HasSubstr("192.0.2.10")));

  CalleeResponds(d, *invite, 200, "OK", Sdp(kPrimary, 1));
  std::optional<Sent> ok = ResponseTo(kAlice.source, 200);
  ASSERT_TRUE(ok.has_value());
  EXPECT_THAT(ok->bytes, HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'a'))));
  const json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["peer"], "core");
  EXPECT_EQ(calls[0]["state"], "confirmed");
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["calls_to_peers"], 1);
  EXPECT_EQ(TargetJson(0)["attempts"], 1);
}

TEST_F(PeerRoutingTest, ALocalUserIsNotRoutedToThePeerEvenWhenItsNumberMatches) {
  const Phone kLocal{"+15550001111", "198.51.100.31:5060", Ep("198.51.100.31:5060"),
                     "198.51.100.31", 6100};
  ASSERT_NO_FATAL_FAILURE(Register(kLocal));
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kLocal);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
  EXPECT_FALSE(RequestTo(kPrimary.source, "INVITE").has_value());
}

TEST_F(PeerRoutingTest, A503GoesOnToTheNextTargetAndTheCallerNeverSeesIt) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kPrimary);
  std::optional<Sent> first = CallNumber(d, kPrimary);
  ASSERT_TRUE(first.has_value());
  size_t mark = sent_.size();
  CalleeResponds(d, *first, 503, "Service Unavailable");
  std::optional<Sent> second = RequestTo(kSecondary.source, "INVITE", mark);
  ASSERT_TRUE(second.has_value()) << "no failover to the secondary";
  EXPECT_EQ(second->Parsed().request_uri(), "sip:+15551234567@198.51.100.41:5060");
  EXPECT_NE(second->Parsed().top_via().branch, first->Parsed().top_via().branch);
  // The same relay port in the offer: media is allocated once per call.
  EXPECT_THAT(second->bytes, HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'))));
  EXPECT_THAT(CodesTo(kAlice.source), Not(::testing::Contains(503)));

  Receive(ResponseText(second->bytes, 200, "OK", "tag-sec", kSecondary.contact(),
                       Sdp(kSecondary, 1)),
          kSecondary.source);
  EXPECT_TRUE(ResponseTo(kAlice.source, 200).has_value());
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["peer_failovers"], 1);
  EXPECT_EQ(TargetJson(0)["failures"], 1);
  EXPECT_EQ(TargetJson(0)["state"], "up") << "one failure of two";
  EXPECT_EQ(dataplane_.Requests("allocate").size(), 1u);
}

TEST_F(PeerRoutingTest, ABusyPeerIsTheCallersAnswerNotAFailover) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kPrimary);
  std::optional<Sent> first = CallNumber(d, kPrimary);
  ASSERT_TRUE(first.has_value());
  const size_t mark = sent_.size();
  CalleeResponds(d, *first, 486, "Busy Here");
  EXPECT_FALSE(RequestTo(kSecondary.source, "INVITE", mark).has_value());
  EXPECT_TRUE(ResponseTo(kAlice.source, 486).has_value());
  EXPECT_EQ(TargetJson(0)["failures"], 0) << "486 is an answer, not a failure";
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
}

TEST_F(PeerRoutingTest, ATargetThatSaysNothingLosesTheCallAfterItsAnswerTimeout) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kPrimary);
  ASSERT_TRUE(CallNumber(d, kPrimary).has_value());
  const size_t mark = sent_.size();
  TickFor(1500);
  EXPECT_FALSE(RequestTo(kSecondary.source, "INVITE", mark).has_value()) << "too early";
  TickFor(600);
  ASSERT_TRUE(RequestTo(kSecondary.source, "INVITE", mark).has_value());
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["peer_no_answer"], 1);
  EXPECT_EQ(TargetJson(0)["failures"], 1);
}

// The silent hop wakes up after the call moved on: its answers are not
// the caller's; its 2xx is ACKed and BYEd here, and the call's relay
// still faces the hop that took it.
TEST_F(PeerRoutingTest, AnAbandonedHopsLateAnswerIsNotTheCallers) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kPrimary);
  std::optional<Sent> first = CallNumber(d, kPrimary);
  ASSERT_TRUE(first.has_value());
  TickFor(2100);
  size_t mark = sent_.size();
  ASSERT_EQ(proxy_->StatsJson()["proxy"]["peer_no_answer"], 1);
  const size_t to_alice = CodesTo(kAlice.source).size();
  CalleeResponds(d, *first, 180, "Ringing");
  CalleeResponds(d, *first, 200, "OK", Sdp(kPrimary, 1));
  EXPECT_EQ(CodesTo(kAlice.source).size(), to_alice) << "nothing of it reached alice";
  EXPECT_TRUE(RequestTo(kPrimary.source, "ACK", mark).has_value());
  EXPECT_TRUE(RequestTo(kPrimary.source, "BYE", mark).has_value());
  EXPECT_THAT(proxy_->CallsJson(), SizeIs(1));
  EXPECT_EQ(proxy_->CallsJson()[0]["state"], "calling") << "still waiting for the secondary";
}

TEST_F(PeerRoutingTest, WhenEveryTargetFailsTheCallerGetsTheLastAnswer) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kPrimary);
  std::optional<Sent> first = CallNumber(d, kPrimary);
  ASSERT_TRUE(first.has_value());
  const size_t mark = sent_.size();
  CalleeResponds(d, *first, 503, "Service Unavailable");
  std::optional<Sent> second = RequestTo(kSecondary.source, "INVITE", mark);
  ASSERT_TRUE(second.has_value());
  Receive(ResponseText(second->bytes, 408, "Request Timeout", "tag-sec"), kSecondary.source);
  EXPECT_TRUE(ResponseTo(kAlice.source, 408).has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1)) << "the call's relay is freed";
}

TEST_F(PeerRoutingTest, AFailingTargetGoesDownIsSkippedAndComesBackWhenItAnswersOptions) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  for (int i = 0; i < 2; ++i) {
    Dialog d = NewDialog(kAlice, kPrimary);
    std::optional<Sent> first = CallNumber(d, kPrimary);
    ASSERT_TRUE(first.has_value()) << "call " << i;
    CalleeResponds(d, *first, 503, "Service Unavailable");
  }
  EXPECT_EQ(TargetJson(0)["state"], "down");

  // Down: the next call goes straight to the secondary.
  Dialog d = NewDialog(kAlice, kPrimary);
  size_t mark = sent_.size();
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  EXPECT_FALSE(RequestTo(kPrimary.source, "INVITE", mark).has_value());
  EXPECT_TRUE(RequestTo(kSecondary.source, "INVITE", mark).has_value());

  // Probed with OPTIONS; no answer keeps it down, an answer brings it up.
  mark = sent_.size();
  TickFor(200);
  std::optional<Sent> probe = RequestTo(kPrimary.source, "OPTIONS", mark);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->Parsed().request_uri(), "sip:198.51.100.40:5060");
  Receive(ResponseText(probe->bytes, 503, "Service Unavailable", "p"), kPrimary.source);
  EXPECT_EQ(TargetJson(0)["state"], "down") << "503 is no recovery";
  mark = sent_.size();
  TickFor(3000);
  EXPECT_FALSE(RequestTo(kPrimary.source, "OPTIONS", mark).has_value()) << "every 5 s only";
  TickFor(2500);
  probe = RequestTo(kPrimary.source, "OPTIONS", mark);
  ASSERT_TRUE(probe.has_value());
  Receive(ResponseText(probe->bytes, 200, "OK", "p"), kPrimary.source);
  EXPECT_EQ(TargetJson(0)["state"], "up");
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["peers_recovered"], 1);

  Dialog again = NewDialog(kAlice, kPrimary);
  EXPECT_TRUE(CallNumber(again, kPrimary).has_value()) << "the primary takes calls again";
}

TEST_F(PeerRoutingTest, APeersCallReachesALocalPhoneAndIsNotChallenged) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  // The softswitch calls bob: From is in its own domain, yet trusted.
  Dialog d = NewDialog(kPrimary, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
  EXPECT_EQ(invite->route.dest, kBob.source) << "to bob's NAT mapping";
  EXPECT_THAT(invite->bytes, HasSubstr("c=IN IP4 203.0.113.1"));
  const json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["peer"], "core");
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["calls_from_peers"], 1);
}

// A peer known by its TLS certificate: its call from an address not in
// trusted_sources is trusted (not challenged, reaches the local phone);
// the same call with another certificate is not the peer's.
TEST_F(PeerRoutingTest, APeerIsKnownByItsVerifiedCertificate) {
  json peers = CorePeer();
  peers[0]["trusted_tls_names"] = {"core.carrier.example"};
  ASSERT_NO_FATAL_FAILURE(SetEdge(peers, Routes()));
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  const Phone kCoreTls{"+15550009999", "198.51.100.44:5061", Ep("198.51.100.44:5061"),
                       "198.51.100.44", 8100};
  const std::vector<std::string> names = {"core.carrier.example"};
  Dialog d = NewDialog(kCoreTls, kBob);
  Receive(InviteText(d, Sdp(kCoreTls, 1)), kCoreTls.source, &names);
  json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["peer"], "core");
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["calls_from_peers"], 1);
  const std::vector<std::string> other = {"mallory.example"};
  Dialog d2 = NewDialog(kCoreTls, kBob);
  Receive(InviteText(d2, Sdp(kCoreTls, 1)), kCoreTls.source, &other);
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["calls_from_peers"], 1) << "not the peer";
}

TEST_F(PeerRoutingTest, NeitherAPeerNorAStrangerMayCallThroughToAnotherPeer) {
  for (const Phone* caller : {&kPrimary, &kStranger}) {
    Dialog d = NewDialog(*caller, kSecondary);
    const size_t mark = sent_.size();
    // To the number at the carrier's own domain: not ours, not local.
    Receive(ForeignInvite(d, "carrier.example"), caller->source);
    EXPECT_THAT(CodesTo(caller->source, mark), ElementsAre(100, 403)) << caller->user;
    EXPECT_FALSE(RequestTo(kSecondary.source, "INVITE", mark).has_value());
  }
}

TEST_F(PeerRoutingTest, AStrangersCallToANumberIsNotRoutedToThePeer) {
  Dialog d = NewDialog(kStranger, kPrimary);
  const size_t mark = sent_.size();
  Receive(ForeignInvite(d, "example.com"), kStranger.source);
  EXPECT_FALSE(RequestTo(kPrimary.source, "INVITE", mark).has_value());
  EXPECT_THAT(CodesTo(kStranger.source, mark), ElementsAre(100, 480));
}

TEST_F(PeerRoutingTest, MediaPolicyNatRelaysOnlyWhereALegIsNatted) {
  ASSERT_NO_FATAL_FAILURE(SetEdge(CorePeer("nat"), Routes()));
  ASSERT_NO_FATAL_FAILURE(Register(kCarol));
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  // carol is on a public address: her SDP goes to the peer as it is.
  Dialog direct = NewDialog(kCarol, kPrimary);
  std::optional<Sent> invite = CallNumber(direct, kPrimary);
  ASSERT_TRUE(invite.has_value());
  EXPECT_THAT(invite->bytes, HasSubstr("c=IN IP4 198.51.100.30"));
  // alice is NAT'd: relayed.
  Dialog natted = NewDialog(kAlice, kPrimary);
  invite = CallNumber(natted, kPrimary);
  ASSERT_TRUE(invite.has_value());
  EXPECT_THAT(invite->bytes, HasSubstr("c=IN IP4 203.0.113.1"));
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));
}

// A peer reached over TCP: we open the connection and the INVITE goes over
// it, Via TCP, with Record-Route entries for both transports (RFC 5658).
TEST_F(PeerRoutingTest, ATcpPeerIsReachedOverAConnectionWeOpen) {
  json peers = CorePeer();
  peers[0]["targets"] = json::array({{{"uri", "sip:198.51.100.40;transport=tcp"}}});
  ASSERT_NO_FATAL_FAILURE(SetEdge(peers, Routes()));
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kAlice, kPrimary);
  std::optional<Sent> invite = CallNumber(d, kPrimary);
  ASSERT_TRUE(invite.has_value());
  EXPECT_THAT(connects_, ElementsAre("TCP 198.51.100.40:5060 198.51.100.40"));
  EXPECT_EQ(invite->route.transport, SipTransportKind::kTcp);
  EXPECT_EQ(invite->route.channel, kConnectionBase + 1);
  EXPECT_THAT(invite->bytes, HasSubstr("Via: SIP/2.0/TCP 198.51.100.1:5060"));
  EXPECT_THAT(invite->Parsed().record_routes(),
              ElementsAre("<sip:198.51.100.1:5060;transport=tcp;lr>", kRecordRouteV4));
}

// A trunk that challenges us: the INVITE goes again to the same hop with
// our credentials (which the trunk's own authenticator accepts), and the
// caller never sees the challenge; a second challenge is a failure and the
// call fails over.
TEST_F(PeerRoutingTest, APeersChallengeIsAnsweredWithItsCredentials) {
  json peers = CorePeer();
  peers[0]["auth"] = {{"username", "edge"}, {"password", "trunk secret"}};
  ASSERT_NO_FATAL_FAILURE(SetEdge(peers, Routes()));
  auto trunk_users = UsersFile::Parse("edge@carrier.example:trunk secret\n", "(trunk)");
  ASSERT_TRUE(trunk_users.ok()) << trunk_users.status();
  auto trunk = DigestAuthenticator::Create(
      {.realm = "carrier.example", .secret = "trunk-secret-of-16+bytes"}, **trunk_users);
  ASSERT_TRUE(trunk.ok()) << trunk.status();
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));

  Dialog d = NewDialog(kAlice, kPrimary);
  std::optional<Sent> first = CallNumber(d, kPrimary);
  ASSERT_TRUE(first.has_value());
  const absl::Time now = absl::FromUnixSeconds(now_);
  const std::string challenge = (*trunk)->Challenge(DigestAlgorithm::kSha256, now);
  size_t mark = sent_.size();
  Receive(absl::StrReplaceAll(ResponseText(first->bytes, 407, "Proxy Authentication Required", "t1"),
                              {{"Content-Length: 0", absl::StrCat("Proxy-Authenticate: ", challenge,
                                                                  "\r\nContent-Length: 0")}}),
          kPrimary.source);
  std::optional<Sent> again = RequestTo(kPrimary.source, "INVITE", mark);
  ASSERT_TRUE(again.has_value()) << "the INVITE goes again with credentials";
  const SipMessage m = again->Parsed();
  EXPECT_EQ(m.cseq_number(), first->Parsed().cseq_number()) << "the caller's CSeq is kept";
  std::vector<std::string> credentials;
  for (absl::string_view line : absl::StrSplit(again->bytes, "\r\n")) {
    if (absl::StartsWithIgnoreCase(line, "Proxy-Authorization: ")) {
      credentials.emplace_back(line.substr(strlen("Proxy-Authorization: ")));
    }
  }
  ASSERT_THAT(credentials, SizeIs(1));
  absl::StatusOr<AuthenticatedUser> user = (*trunk)->VerifyFor(
      "edge", "carrier.example", credentials[0], "INVITE", m.request_uri(), now);
  EXPECT_TRUE(user.ok()) << user.status() << "\n" << credentials[0];
  EXPECT_THAT(CodesTo(kAlice.source), Not(::testing::Contains(407)));
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["peer_challenges_answered"], 1);

  // Challenged again: our credentials are no good there; next target.
  mark = sent_.size();
  Receive(absl::StrReplaceAll(ResponseText(again->bytes, 407, "Proxy Authentication Required", "t2"),
                              {{"Content-Length: 0", absl::StrCat("Proxy-Authenticate: ", challenge,
                                                                  "\r\nContent-Length: 0")}}),
          kPrimary.source);
  EXPECT_TRUE(RequestTo(kSecondary.source, "INVITE", mark).has_value());
  EXPECT_THAT(CodesTo(kAlice.source), Not(::testing::Contains(407)));
}

// A trunk that wants us registered: REGISTER at once to its first hop,
// its challenge answered, registered for what it granted, refreshed at
// half of it; its calls to our Contact reach the local user in To.
TEST_F(PeerRoutingTest, WeRegisterWithATrunkThatWantsIt) {
  json peers = CorePeer();
  peers[0]["auth"] = {{"username", "edge"}, {"password", "trunk secret"}};
  peers[0]["register"] = {{"aor", "sip:edge@carrier.example"}, {"expires", 600}};
  ASSERT_NO_FATAL_FAILURE(SetEdge(peers, Routes()));
  auto trunk_users = UsersFile::Parse("edge@carrier.example:trunk secret\n", "(trunk)");
  ASSERT_TRUE(trunk_users.ok());
  auto trunk = DigestAuthenticator::Create(
      {.realm = "carrier.example", .secret = "trunk-secret-of-16+bytes"}, **trunk_users);
  ASSERT_TRUE(trunk.ok());

  size_t mark = sent_.size();
  TickFor(100);
  std::optional<Sent> reg = RequestTo(kPrimary.source, "REGISTER", mark);
  ASSERT_TRUE(reg.has_value());
  SipMessage m = reg->Parsed();
  EXPECT_EQ(m.request_uri(), "sip:carrier.example");
  EXPECT_THAT(reg->bytes, HasSubstr("Contact: <sip:edge@198.51.100.1:5060>"));
  EXPECT_THAT(reg->bytes, HasSubstr("Expires: 600"));

  const absl::Time now = absl::FromUnixSeconds(now_);
  const std::string challenge = (*trunk)->Challenge(DigestAlgorithm::kMd5, now);
  mark = sent_.size();
  Receive(absl::StrReplaceAll(ResponseText(reg->bytes, 401, "Unauthorized", "t"),
                              {{"Content-Length: 0", absl::StrCat("WWW-Authenticate: ", challenge,
                                                                  "\r\nContent-Length: 0")}}),
          kPrimary.source);
  std::optional<Sent> again = RequestTo(kPrimary.source, "REGISTER", mark);
  ASSERT_TRUE(again.has_value()) << "answered with our credentials";
  m = again->Parsed();
  EXPECT_EQ(m.cseq_number(), reg->Parsed().cseq_number() + 1);
  EXPECT_EQ(m.call_id(), reg->Parsed().call_id());
  std::string credentials;
  for (absl::string_view line : absl::StrSplit(again->bytes, "\r\n")) {
    if (absl::StartsWith(line, "Authorization: ")) credentials = std::string(line.substr(15));
  }
  EXPECT_TRUE((*trunk)->VerifyFor("edge", "carrier.example", credentials, "REGISTER",
                                  "sip:carrier.example", now).ok())
      << credentials;
  Receive(absl::StrReplaceAll(ResponseText(again->bytes, 200, "OK", "t"),
                              {{"Content-Length: 0",
                                "Contact: <sip:edge@198.51.100.1:5060>;expires=300\r\n"
                                "Content-Length: 0"}}),
          kPrimary.source);
  json registration = peers_->ToJson(now_ms_)[0]["registration"];
  EXPECT_EQ(registration["state"], "registered") << registration.dump();
  EXPECT_EQ(registration["expires_in_s"], 300);

  mark = sent_.size();
  TickFor(140'000);
  EXPECT_FALSE(RequestTo(kPrimary.source, "REGISTER", mark).has_value()) << "not before half";
  TickFor(11'000);
  EXPECT_TRUE(RequestTo(kPrimary.source, "REGISTER", mark).has_value()) << "refreshed at 150 s";

  // The trunk calls our Contact for alice's number.
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  Dialog d = NewDialog(kPrimary, kAlice);
  mark = sent_.size();
  Receive(absl::StrReplaceAll(InviteText(d, Sdp(kPrimary, 1)),
                              {{"INVITE sip:alice@example.com", "INVITE sip:edge@198.51.100.1:5060"}}),
          kPrimary.source);
  EXPECT_TRUE(RequestTo(kAlice.source, "INVITE", mark).has_value())
      << ::testing::PrintToString(CodesTo(kPrimary.source, mark));
}

// Our user calls someone at another domain, by name: the proxy locates it
// (RFC 3263) without blocking, then forwards; a name without SIP is 404, a
// DNS failure 503.
TEST_F(PeerRoutingTest, AHostNameIsLocatedByDnsBeforeTheRequestGoes) {
  TableDns dns;
  SipLocator locator(dns, {SipTransportKind::kUdp});
  DnsRecords srv;
  srv.srv = {{10, 0, 5070, "sip.far.example"}};
  dns.table[{"_sip._udp.far.example", DnsType::kSrv}] = srv;
  DnsRecords a;
  a.addresses = {*IpAddress::Parse("198.51.100.77")};
  dns.table[{"sip.far.example", DnsType::kA}] = a;
  proxy_->set_edge(peers_.get(), dial_plan_.get(), &locator);
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  const Phone kFar{"zoe", "198.51.100.77:5070", Ep("198.51.100.77:5070"), "198.51.100.77", 9100};

  Dialog d = NewDialog(kAlice, kFar);
  size_t mark = sent_.size();
  Receive(absl::StrReplaceAll(InviteText(d, Sdp(kAlice, 1)),
                              {{"INVITE sip:zoe@example.com", "INVITE sip:zoe@far.example"}}),
          kAlice.source);
  EXPECT_FALSE(RequestTo(kFar.source, "INVITE", mark).has_value()) << "waits for DNS";
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(100));
  dns.Run();
  std::optional<Sent> invite = RequestTo(kFar.source, "INVITE", mark);
  ASSERT_TRUE(invite.has_value()) << ::testing::PrintToString(CodesTo(kAlice.source, mark));
  EXPECT_EQ(invite->Parsed().request_uri(), "sip:zoe@far.example");
  EXPECT_THAT(invite->bytes, HasSubstr("c=IN IP4 203.0.113.1"));
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["dns_lookups"], 1);

  Dialog nowhere = NewDialog(kAlice, kFar);
  mark = sent_.size();
  Receive(absl::StrReplaceAll(InviteText(nowhere, Sdp(kAlice, 1)),
                              {{"INVITE sip:zoe@example.com", "INVITE sip:zoe@nowhere.example"}}),
          kAlice.source);
  dns.Run();
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(100, 404));

  dns.failing = {"down.example", "_sip._udp.down.example"};
  Dialog down = NewDialog(kAlice, kFar);
  mark = sent_.size();
  Receive(absl::StrReplaceAll(InviteText(down, Sdp(kAlice, 1)),
                              {{"INVITE sip:zoe@example.com", "INVITE sip:zoe@down.example"}}),
          kAlice.source);
  dns.Run();
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(100, 503));
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["dns_failures"], 2);
}

}  // namespace
}  // namespace proxy_fixture
}  // namespace rtplatch
