// The record-routing proxy (control/routing/proxy.h) with phones only: the
// fixture (proxy_fixture.h) wires it as control_plane.cc does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "tests/control/routing/proxy_fixture.h"

namespace rtplatch {
namespace proxy_fixture {
namespace {

// ---------------------------------------------------------------------------
// 1. A callee behind a NAT

// The issue-13 case at the proxy: a new NAT'd binding gets no keepalive
// target at first; OPTIONS probes from the socket it registered on, to its
// public source, test growing gaps (5 s, then 10 s); the 10 s one goes
// unanswered (its NAT forgot the mapping), so the interval is what held,
// at the 5 s floor, and only then does the dataplane get a target.
TEST_F(ProxyTest, NattedBindingLearnsItsNatTimeoutByProbingThenGetsItsKeepalive) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  EXPECT_THAT(dataplane_.Requests("keepalive_add"), IsEmpty()) << "probes first";
  const KeepaliveLearning* l =
      proxy_->learner().Find(absl::StrCat("bob@example.com\n", kBob.contact()));
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->gap_ms, 5000u);

  const int64_t start = now_ms_;
  std::vector<Sent> probes;
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1, &probes));
  ASSERT_GE(probes.size(), 2u);
  for (const Sent& probe : probes) {
    EXPECT_EQ(probe.route.channel, kUdpV4) << "from the socket bob registered on";
    EXPECT_EQ(probe.Parsed().method(), "OPTIONS");
  }
  EXPECT_LE(now_ms_ - start, 20000) << "learned within 5 + 10 + 4 s";

  // One target, from our SIP socket to bob's mapping.
  std::vector<json> keepalives = dataplane_.Requests("keepalive_add");
  ASSERT_THAT(keepalives, SizeIs(1));
  EXPECT_THAT(dataplane_.Requests("keepalive_remove"), IsEmpty());
  EXPECT_EQ(keepalives.back()["targets"][0]["target"], "203.0.113.20:41000");
  EXPECT_EQ(keepalives.back()["targets"][0]["source"], "198.51.100.1:5060");
  EXPECT_EQ(keepalives.back()["targets"][0]["interval_ms"], 5000);

  std::vector<Binding> b = registrar_->Lookup("bob@example.com", now_);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_FALSE(b[0].keepalive_learning);
  EXPECT_EQ(b[0].keepalive_interval_ms, 5000u);
  EXPECT_EQ(b[0].keepalive_reason,
            "learned: NAT held 5 s, dropped the mapping within 10 s; interval 5 s (floor)");
  EXPECT_EQ(proxy_->StatsJson()["keepalive_learning"]["learned_shorter"], 1);
}

// A NAT that holds every gap probed keeps the initial interval (the
// policy's 25 s): learning never shortens it without evidence.
TEST_F(ProxyTest, NatThatHoldsEveryGapKeepsTheInitialInterval) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  std::vector<Sent> probes;
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/100, &probes, /*refresh_s=*/50));
  EXPECT_EQ(probes.size(), 4u) << "gaps of 5, 10, 20 and 25 s";
  std::vector<json> keepalives = dataplane_.Requests("keepalive_add");
  ASSERT_THAT(keepalives, Not(IsEmpty()));
  EXPECT_EQ(keepalives.back()["targets"][0]["interval_ms"], 25000);
  EXPECT_EQ(proxy_->StatsJson()["keepalive_learning"]["learned_shorter"], 0);
  std::vector<Binding> b = registrar_->Lookup("bob@example.com", now_);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_EQ(b[0].keepalive_reason, "learned: NAT held a 25 s gap; interval 25 s (the initial one)");

  // Its refreshes keep the interval and never start the probing again.
  const size_t options = RequestsSent("OPTIONS");
  Receive(RegisterText(kBob, 10), kBob.source);
  EXPECT_EQ(proxy_->learner().size(), 0u);
  for (int i = 0; i < 100; ++i) {
    now_ms_ += 1000;
    proxy_->Tick();
  }
  EXPECT_EQ(RequestsSent("OPTIONS"), options);
  b = registrar_->Lookup("bob@example.com", now_);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_EQ(b[0].keepalive_interval_ms, 25000u);
}

// Qualify leaves a learning binding to the learner (whose probes would be
// cut short by the qualify's answers), and takes it up once learned.
TEST_F(ProxyTest, QualifyWaitsUntilTheNatTimeoutIsLearned) {
  MakeProxy(/*qualify_interval_s=*/2);
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  TickFor(4000);  // two qualify rounds, before the first probe
  EXPECT_EQ(proxy_->counters().qualify_sent, 0u);
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1));
  TickFor(4000);
  EXPECT_GE(proxy_->counters().qualify_sent, 1u);
}

// A probe counted as lost stops retransmitting: oSIP2 would resend it for
// Timer F's 32 s, and a late copy reaches the phone in the middle of its
// next call (a sipp callee aborts on it).
TEST_F(ProxyTest, ALostProbeIsNotRetransmittedAfterTheVerdict) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/0));
  EXPECT_EQ(proxy_->StatsJson()["keepalive_learning"]["probes_lost"], 1);
  const size_t options = RequestsSent("OPTIONS");
  ASSERT_EQ(options, 1u);
  ::usleep(700 * 1000);  // past T1 (500 ms) in oSIP2's own clock
  txns_->RunTimers();
  EXPECT_EQ(RequestsSent("OPTIONS"), options);
}

// Traffic from the phone during a gap (its own call, say) restarts it: a
// probe only counts after real silence on the mapping.
TEST_F(ProxyTest, TrafficFromTheLearningPhoneRestartsTheGap) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  now_ms_ += 4000;
  proxy_->OnTraffic(kBob.source);
  now_ms_ += 4000;
  proxy_->Tick();
  EXPECT_EQ(RequestsSent("OPTIONS"), 0u) << "only 4 s of silence";
  now_ms_ += 1100;
  proxy_->Tick();
  EXPECT_EQ(RequestsSent("OPTIONS"), 1u);
}

TEST_F(ProxyTest, InviteToNattedCalleeGoesToItsRegistrationSourceWithMediaOnTheRelay) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));

  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &fwd));

  // Where: bob's public source and our socket, not the Contact he declared.
  EXPECT_EQ(fwd->route.dest.ToString(), "203.0.113.20:41000");
  EXPECT_EQ(fwd->route.transport, SipTransportKind::kUdp);
  EXPECT_EQ(fwd->route.channel, kUdpV4);
  EXPECT_FALSE(RequestTo(Ep("192.0.2.20:5060"), "INVITE").has_value());
  EXPECT_EQ(CodesTo(kAlice.source), std::vector<int>{100});

  const SipMessage m = fwd->Parsed();
  EXPECT_EQ(m.request_uri(), "sip:bob@192.0.2.20:5060");  // the Contact, as the phone expects
  EXPECT_THAT(m.record_routes(), ElementsAre(kRecordRouteV4));
  EXPECT_EQ(m.top_via().host, "198.51.100.1");
  EXPECT_EQ(m.via_count(), 2u);
  EXPECT_THAT(fwd->bytes, HasSubstr("received=203.0.113.10"));  // alice's Via, as seen

  // Media: one pair; bob is told to send to its leg b on the relay.
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"]["family"], "ipv4");
  EXPECT_EQ(allocs[0]["b"]["family"], "ipv4");
  EXPECT_FALSE(allocs[0]["a"].contains("peer"))
      << "alice is NAT'd and latches: her private SDP address is no peer";
  EXPECT_EQ(allocs[0]["label"], absl::StrCat("rc:0:", d.call_id));
  EXPECT_TRUE(m.has_sdp_body());
  EXPECT_THAT(m.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(m.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'), " RTP/AVP 0 101")));
  EXPECT_THAT(m.body(), Not(HasSubstr("192.0.2.10"))) << "alice's private address leaked";

  json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["state"], "calling");
  EXPECT_EQ(calls[0]["legs"][0]["natted"], true);
  EXPECT_EQ(calls[0]["legs"][1]["natted"], true);
  EXPECT_EQ(calls[0]["legs"][1]["signalling"], "203.0.113.20:41000");
}

// ---------------------------------------------------------------------------
// 2. A callee on a public address

TEST_F(ProxyTest, InviteToPublicCalleeGoesToItsContact) {
  ASSERT_NO_FATAL_FAILURE(Register(kCarol));
  EXPECT_THAT(dataplane_.Requests("keepalive_add"), IsEmpty()) << "no NAT, no keepalive";

  Dialog d = NewDialog(kAlice, kCarol);
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &fwd));
  EXPECT_EQ(fwd->route.dest.ToString(), "198.51.100.30:5060");
  EXPECT_EQ(fwd->route.channel, kUdpV4);
  const SipMessage m = fwd->Parsed();
  EXPECT_EQ(m.request_uri(), "sip:carol@198.51.100.30:5060");
  EXPECT_THAT(m.record_routes(), ElementsAre(kRecordRouteV4));
  // The caller is NAT'd (and anchor_media_always): relayed all the same.
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));
  EXPECT_THAT(m.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));

  json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["legs"][1]["natted"], false);
}

// Without NAT evidence the Contact is taken as given, even when it is not
// where the REGISTER came from (a phone registering for another box).
TEST_F(ProxyTest, ContactThatIsNotTheSourceIsUsedWhenNoNatIsDetected) {
  Phone erin{"erin", "198.51.100.31:5070", Ep("198.51.100.30:5060"), "198.51.100.31", 8000};
  const size_t mark = sent_.size();
  // Its Via says where it sends from; only the Contact differs.
  std::string reg = RegisterText(erin);
  reg = absl::StrReplaceAll(reg, {{"Via: SIP/2.0/UDP 198.51.100.31:5070",
                                   "Via: SIP/2.0/UDP 198.51.100.30:5060"}});
  Receive(reg, erin.source);
  ASSERT_THAT(CodesTo(erin.source, mark), ElementsAre(200));

  Dialog d = NewDialog(kAlice, erin);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  std::optional<Sent> fwd = RequestTo(Ep("198.51.100.31:5070"), "INVITE");
  ASSERT_TRUE(fwd.has_value()) << "not sent to the Contact; to alice: "
                               << ::testing::PrintToString(CodesTo(kAlice.source));
  EXPECT_FALSE(RequestTo(erin.source, "INVITE").has_value());
}

// ---------------------------------------------------------------------------
// 3. No dataplane

TEST_F(ProxyTest, InviteWhileTheDataplaneWasNeverReachableIsAnswered503) {
  dataplane_.Stop();  // its socket is gone before the link ever connects
  ASSERT_NO_FATAL_FAILURE(Register(kBob));  // the registrar works without it
  EXPECT_FALSE(link_->connected());

  Dialog d = NewDialog(kAlice, kBob);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source), ElementsAre(100, 503));
  std::optional<Sent> busy = ResponseTo(kAlice.source, 503);
  ASSERT_TRUE(busy.has_value());
  const SipMessage m = busy->Parsed();
  // Today's answer: a Retry-After and a Warning naming the dataplane.
  EXPECT_THAT(m.header_values("Retry-After"), ElementsAre("5"));
  ASSERT_THAT(m.header_values("Warning"), SizeIs(1));
  EXPECT_THAT(m.header_values("Warning")[0], HasSubstr("dataplane unreachable"));

  EXPECT_FALSE(RequestTo(kBob.source, "INVITE").has_value()) << "a call without media rang";
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_EQ(proxy_->counters().rejected_dataplane, 1u);
  EXPECT_EQ(proxy_->counters().calls_failed, 1u);
}

TEST_F(ProxyTest, InviteAfterTheDataplaneWentAwayIsAnswered503) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1));
  ASSERT_TRUE(link_->connected()) << "the keepalive for bob connected the link";
  dataplane_.Stop();

  Dialog d = NewDialog(kAlice, kBob);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source), ElementsAre(100, 503));
  std::optional<Sent> busy = ResponseTo(kAlice.source, 503);
  ASSERT_TRUE(busy.has_value());
  EXPECT_THAT(busy->Parsed().header_values("Retry-After"), ElementsAre("5"));
  EXPECT_FALSE(RequestTo(kBob.source, "INVITE").has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_FALSE(link_->connected());
}

// ---------------------------------------------------------------------------
// 4. Hold

TEST_F(ProxyTest, HoldAndResumeKeepTheCallsStreams) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  // Carol is on a public address, so the relay is given her SDP address as
  // leg a's peer: hold must not take it away.
  Dialog d = NewDialog(kCarol, kBob);
  ASSERT_NO_FATAL_FAILURE(Establish(d));
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"]["peer"], "198.51.100.30:6000");
  dataplane_.ClearRequests();

  // RFC 3264 hold: a=sendonly, the address kept.
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(
      ReInvite(d, Sdp(kCarol, 2, "sendonly"), Sdp(kBob, 2, "recvonly"), &fwd));
  EXPECT_EQ(fwd->route.dest.ToString(), "203.0.113.20:41000");
  EXPECT_THAT(fwd->Parsed().body(), HasSubstr("a=sendonly"));
  EXPECT_THAT(fwd->Parsed().body(),
              HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'), " RTP/AVP")));

  // RFC 2543 hold: c=0.0.0.0, left alone for bob to see.
  ASSERT_NO_FATAL_FAILURE(ReInvite(d, Sdp(kCarol, 3, "inactive", /*hold_address=*/true),
                                   Sdp(kBob, 3, "inactive"), &fwd));
  EXPECT_THAT(fwd->Parsed().body(), HasSubstr("c=IN IP4 0.0.0.0\r\n"));

  // Resume.
  ASSERT_NO_FATAL_FAILURE(ReInvite(d, Sdp(kCarol, 4), Sdp(kBob, 4), &fwd));
  EXPECT_THAT(fwd->Parsed().body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));

  EXPECT_THAT(dataplane_.Requests("delete"), IsEmpty());
  EXPECT_THAT(dataplane_.Requests("allocate"), IsEmpty()) << "the same pair throughout";
  EXPECT_THAT(dataplane_.Requests("update"), IsEmpty()) << "the peer never changed";
  json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["state"], "confirmed");
  EXPECT_EQ(calls[0]["pairs"], json::array({1}));
  EXPECT_EQ(calls[0]["media"][0]["peer_a"], "198.51.100.30:6000");
  EXPECT_EQ(proxy_->counters().pairs_deleted, 0u);
}

// ---------------------------------------------------------------------------
// 5. Ending a call frees its pair

TEST_F(ProxyTest, CancelBeforeAnswerFreesThePairAndTheCallerGets487) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
  CalleeResponds(d, *invite, 180, "Ringing");
  ASSERT_THAT(CodesTo(kAlice.source), ElementsAre(100, 180));
  ASSERT_THAT(proxy_->CallsJson(), SizeIs(1));
  EXPECT_EQ(proxy_->CallsJson()[0]["state"], "early");

  size_t mark = sent_.size();
  Receive(CancelText(d), kAlice.source);
  EXPECT_TRUE(ResponseTo(kAlice.source, 200, "CANCEL").has_value());
  // Alice's INVITE ends at once and the pair is freed, without waiting for
  // the branch (issue 13: an unreachable callee would hold both for 32 s).
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(200, 487));
  std::vector<json> deletes = dataplane_.Requests("delete");
  ASSERT_THAT(deletes, SizeIs(1));
  EXPECT_EQ(deletes[0]["pair"], 1);
  std::optional<Sent> cancel = RequestTo(kBob.source, "CANCEL", mark);
  ASSERT_TRUE(cancel.has_value()) << "the branch was not CANCELled";
  ASSERT_THAT(proxy_->CallsJson(), SizeIs(1));
  EXPECT_EQ(proxy_->CallsJson()[0]["cancelled"], true);

  // Bob: 200 for the CANCEL, 487 for the INVITE, which goes nowhere.
  Receive(ResponseText(cancel->bytes, 200, "OK", kBob.tag()), kBob.source);
  mark = sent_.size();
  CalleeResponds(d, *invite, 487, "Request Terminated");
  EXPECT_THAT(CodesTo(kAlice.source, mark), IsEmpty());
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_EQ(proxy_->counters().calls_cancelled, 1u);
  EXPECT_EQ(proxy_->counters().calls_failed, 0u);
}

// The callee cannot be reached (its NAT mapping is gone): no 1xx ever
// comes, so no CANCEL can be sent, yet the caller's CANCEL ends its INVITE
// with 487 at once and the relay ports are freed at once.
TEST_F(ProxyTest, CancelToAnUnreachableCalleeIsAnswered487AtOnce) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));  // bob never answers
  const size_t mark = sent_.size();
  Receive(CancelText(d), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(200, 487));
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
  EXPECT_FALSE(RequestTo(kBob.source, "CANCEL", mark).has_value())
      << "no CANCEL before a provisional response (RFC 3261 9.1)";
}

// A 200 from the callee that crosses the caller's CANCEL: the caller
// already has its 487, so the callee's unwanted dialog gets a BYE.
TEST_F(ProxyTest, LateAnswerAfterCancelGetsABye) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
  CalleeResponds(d, *invite, 180, "Ringing");
  Receive(CancelText(d), kAlice.source);
  const size_t mark = sent_.size();
  CalleeResponds(d, *invite, 200, "OK", Sdp(kBob, 1));
  EXPECT_THAT(CodesTo(kAlice.source, mark), IsEmpty()) << "the caller has its 487";
  EXPECT_TRUE(RequestTo(kBob.source, "BYE", mark).has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
}

TEST_F(ProxyTest, ByeAfterAnswerFreesThePair) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> ok;
  ASSERT_NO_FATAL_FAILURE(Establish(d, &ok));
  // Alice's 200 carries bob's answer moved onto leg a of the relay.
  const SipMessage answer = ok->Parsed();
  EXPECT_THAT(answer.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(answer.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'a'), " RTP/AVP")));
  EXPECT_THAT(answer.body(), Not(HasSubstr("192.0.2.20")));
  EXPECT_THAT(d.route, ElementsAre(kRecordRouteV4));
  ASSERT_THAT(proxy_->CallsJson(), SizeIs(1));
  EXPECT_EQ(proxy_->CallsJson()[0]["state"], "confirmed");
  EXPECT_THAT(dataplane_.Requests("delete"), IsEmpty());

  const size_t mark = sent_.size();
  Receive(InDialogText(d, "BYE", ++d.cseq, Branch()), kAlice.source);
  std::optional<Sent> bye = RequestTo(kBob.source, "BYE", mark);
  ASSERT_TRUE(bye.has_value());
  EXPECT_THAT(bye->Parsed().routes(), IsEmpty()) << "our own Route entry is popped";

  std::vector<json> deletes = dataplane_.Requests("delete");
  ASSERT_THAT(deletes, SizeIs(1));
  EXPECT_EQ(deletes[0]["pair"], 1);
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());

  Receive(ResponseText(bye->bytes, 200, "OK", ""), kBob.source);
  EXPECT_TRUE(ResponseTo(kAlice.source, 200, "BYE").has_value());
  EXPECT_EQ(proxy_->counters().calls_ended_bye, 1u);
}

// RFC 3261 16.7 step 5: once the caller has its final answer, only 2xx
// responses go on. A provisional response the callee's side sends late (a
// carrier's Kamailio whose two UDP workers relayed its softswitch's 180
// after its 200: tls_peer_test.sh) is dropped, not sent to the caller.
TEST_F(ProxyTest, ProvisionalAfterTheAnswerIsNotForwarded) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
  CalleeResponds(d, *invite, 200, "OK", Sdp(*d.callee, 1));
  ASSERT_TRUE(ResponseTo(kAlice.source, 200).has_value());
  const size_t mark = sent_.size();
  CalleeResponds(d, *invite, 180, "Ringing");
  EXPECT_THAT(CodesTo(kAlice.source, mark), IsEmpty());
  CalleeResponds(d, *invite, 200, "OK", Sdp(*d.callee, 1));
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(200)) << "a 2xx retransmission still goes";
}

TEST_F(ProxyTest, ByeWhileTheDataplaneIsGoneCountsTheFailedDelete) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> ok;
  ASSERT_NO_FATAL_FAILURE(Establish(d, &ok));
  dataplane_.Stop();
  const size_t mark = sent_.size();
  Receive(InDialogText(d, "BYE", ++d.cseq, Branch()), kAlice.source);
  // The call ends for the phones whatever the dataplane says ...
  EXPECT_TRUE(RequestTo(kBob.source, "BYE", mark).has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  // ... and the pair that could not be deleted is counted, not forgotten.
  EXPECT_EQ(proxy_->counters().pairs_deleted, 0u);
  EXPECT_EQ(proxy_->counters().pair_delete_failures, 1u);
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["pair_delete_failures"], 1);
}

// ---------------------------------------------------------------------------
// 6. IPv6

TEST_F(ProxyTest, Ipv4CallerReachesIpv6CalleeWithMediaBridgedByTheRelay) {
  ASSERT_NO_FATAL_FAILURE(Register(kDave));
  Dialog d = NewDialog(kAlice, kDave);
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &fwd));
  EXPECT_EQ(fwd->route.dest.ToString(), "[2001:db8::30]:5060");
  EXPECT_EQ(fwd->route.channel, kUdpV6);
  const SipMessage m = fwd->Parsed();
  // RFC 5658 double Record-Route: each side gets an entry of its family.
  EXPECT_THAT(m.record_routes(), ElementsAre(kRecordRouteV6, kRecordRouteV4));
  EXPECT_EQ(m.top_via().host, "2001:db8::1");

  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"]["family"], "ipv4");
  EXPECT_EQ(allocs[0]["b"]["family"], "ipv6");
  EXPECT_THAT(m.body(), HasSubstr("c=IN IP6 2001:db8::2\r\n"));
  EXPECT_THAT(m.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'), " RTP/AVP")));

  // Dave answers in IPv6; alice is told an IPv4 relay address.
  CalleeResponds(d, *fwd, 200, "OK", Sdp(kDave, 1));
  std::optional<Sent> ok = ResponseTo(kAlice.source, 200);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->route.channel, kUdpV4);
  const SipMessage answer = ok->Parsed();
  EXPECT_THAT(answer.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(answer.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'a'), " RTP/AVP")));
  // Dave is on a public address: his SDP address is leg b's peer at once.
  std::vector<json> updates = dataplane_.Requests("update");
  ASSERT_THAT(updates, SizeIs(1));
  EXPECT_EQ(updates[0]["peer"], "[2001:db8::30]:7000");

  // Alice hangs up through both Record-Route entries.
  std::vector<std::string> rr = answer.record_routes();
  d.callee_tag = std::string(answer.to_tag());
  d.remote_target = answer.contacts().at(0).uri;
  d.route.assign(rr.rbegin(), rr.rend());
  EXPECT_THAT(d.route, ElementsAre(kRecordRouteV4, kRecordRouteV6));
  Receive(InDialogText(d, "ACK", 1, Branch()), kAlice.source);
  const size_t mark = sent_.size();
  Receive(InDialogText(d, "BYE", ++d.cseq, Branch()), kAlice.source);
  std::optional<Sent> bye = RequestTo(kDave.source, "BYE", mark);
  ASSERT_TRUE(bye.has_value()) << "BYE lost between the families";
  EXPECT_EQ(bye->route.channel, kUdpV6);
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
}

// ---------------------------------------------------------------------------
// The dataplane (re)connects

TEST_F(ProxyTest, KeepaliveTargetsAreReinstalledInSlicesAfterAReconnect) {
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  // Bob answers one probe; alice none: both end learned, with targets.
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1));
  const size_t adds_before = dataplane_.Requests("keepalive_add").size();
  ASSERT_EQ(adds_before, 2u);

  proxy_->OnDataplaneConnected();
  EXPECT_THAT(dataplane_.Requests("keepalive_add"), SizeIs(adds_before))
      << "the reconnect itself installs nothing: the loop's slices do";
  int rounds = 1;
  while (proxy_->ReinstallKeepalives(/*budget=*/1)) ASSERT_LE(++rounds, 3);
  EXPECT_FALSE(proxy_->ReinstallKeepalives(1)) << "done stays done";
  std::vector<json> adds = dataplane_.Requests("keepalive_add");
  std::vector<std::string> labels;
  for (size_t i = adds_before; i < adds.size(); ++i) {
    ASSERT_THAT(adds[i]["targets"], SizeIs(1)) << "one binding a slice";
    labels.push_back(adds[i]["targets"][0]["label"].get<std::string>());
  }
  EXPECT_THAT(labels, ElementsAre("rc-ka:alice@example.com", "rc-ka:bob@example.com"));
}

// ---------------------------------------------------------------------------
// The clock

TEST_F(ProxyTest, ExpiredRegistrationIsNotRungAndItsKeepaliveGoes) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1));
  // Registered while its NAT timeout was unknown: max_expires_learning
  // (60 s by default).
  now_ = kStart + 61;
  proxy_->Tick();
  std::vector<json> removes = dataplane_.Requests("keepalive_remove");
  // The one target that was sending: none is left for a binding that is gone.
  ASSERT_THAT(removes, SizeIs(1));
  EXPECT_EQ(removes[0]["ids"], json::array({1}));

  Dialog d = NewDialog(kAlice, kBob);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source), ElementsAre(100, 480));
  EXPECT_EQ(RequestsSent("INVITE"), 0u);
  EXPECT_THAT(dataplane_.Requests("allocate"), IsEmpty());
}

// ---------------------------------------------------------------------------
// SIP Outbound flow tokens (RFC 5626 5.3)

// Behind a NAT, on an outbound flow: ;ob in the Contact of her requests.
const Phone kOlive{"olive", "192.0.2.11:5060;ob", Ep("203.0.113.11:40100"), "192.0.2.11", 4100};

// A request the callee sends inside the dialog, along the route set it
// learnt from the INVITE (Record-Route in order, RFC 3261 12.1.1).
std::string CalleeRequestText(const Dialog& d, absl::string_view method, uint32_t cseq,
                              absl::string_view route) {
  return SipText(absl::StrCat(
      method, " ", d.caller->contact(), " SIP/2.0\n",
      "Via: SIP/2.0/UDP ", d.callee->declared, ";branch=z9hG4bKcallee", cseq, ";rport\n",
      "Max-Forwards: 70\n",
      "Route: ", route, "\n",
      "From: <", d.callee->aor_uri(), ">;tag=", d.callee_tag, "\n",
      "To: <", d.caller->aor_uri(), ">;tag=", d.caller->tag(), "\n",
      "Call-ID: ", d.call_id, "\n",
      "CSeq: ", cseq, " ", method, "\n"));
}

TEST_F(ProxyTest, OutboundCallersRecordRouteCarriesAFlowTokenThatBringsTheCalleesRequestsBack) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kOlive, kBob);
  ASSERT_NO_FATAL_FAILURE(Establish(d));
  ASSERT_THAT(d.route, SizeIs(1));
  EXPECT_THAT(d.route[0], ::testing::MatchesRegex(
                              "<sip:[A-Za-z0-9_-]{67}@198\\.51\\.100\\.1:5060;lr>"));

  // Her own requests carry her token: not where they go (bob gets them).
  std::optional<Sent> reinvite;
  ASSERT_NO_FATAL_FAILURE(ReInvite(d, Sdp(kOlive, 2), Sdp(kBob, 2), &reinvite));
  EXPECT_EQ(proxy_->counters().flow_token_routed, 0u);

  // Bob's BYE: over the flow the token names, her NAT's public side.
  const size_t mark = sent_.size();
  Receive(CalleeRequestText(d, "BYE", 7, d.route[0]), kBob.source);
  std::optional<Sent> bye = RequestTo(kOlive.source, "BYE", mark);
  ASSERT_TRUE(bye.has_value()) << ::testing::PrintToString(CodesTo(kBob.source, mark));
  EXPECT_EQ(bye->route.channel, kUdpV4);
  EXPECT_EQ(bye->route.transport, SipTransportKind::kUdp);
  EXPECT_THAT(bye->Parsed().routes(), IsEmpty()) << "our own Route entry is popped";
  EXPECT_EQ(proxy_->counters().flow_token_routed, 1u);
}

TEST_F(ProxyTest, ForgedFlowTokenIsRefused403AndTheCallStays) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kOlive, kBob);
  ASSERT_NO_FATAL_FAILURE(Establish(d));
  ASSERT_THAT(d.route, SizeIs(1));
  // One character of the token changed (it starts after "<sip:").
  std::string forged = d.route[0];
  forged[8] = forged[8] == 'A' ? 'B' : 'A';

  const size_t mark = sent_.size();
  Receive(CalleeRequestText(d, "BYE", 7, forged), kBob.source);
  EXPECT_THAT(CodesTo(kBob.source, mark), ElementsAre(403));
  EXPECT_FALSE(RequestTo(kOlive.source, "BYE", mark).has_value());
  EXPECT_EQ(proxy_->counters().flow_token_refused, 1u);
  EXPECT_THAT(proxy_->CallsJson(), SizeIs(1)) << "a refused request ends nothing";
  EXPECT_THAT(dataplane_.Requests("delete"), IsEmpty());
}

// ---------------------------------------------------------------------------
// RFC 3261 extensions (issue 16)

// Issue 16: a MESSAGE signed with S/MIME (multipart/signed, a binary
// signature with NUL, bare CR and LF, an empty line) reaches the callee with
// its body byte for byte, and the callee's answer comes back.
TEST_F(ProxyTest, MessageWithABinarySignedBodyIsRelayedByteForByte) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  const std::string body = testing::SignedBody();
  const std::string message = SipText(
      absl::StrCat("MESSAGE ", kBob.aor_uri(), " SIP/2.0\n",
                   "Via: SIP/2.0/UDP ", kAlice.declared, ";branch=z9hG4bKsmime1;rport\n",
                   "Max-Forwards: 70\n",
                   "From: <", kAlice.aor_uri(), ">;tag=", kAlice.tag(), "\n",
                   "To: <", kBob.aor_uri(), ">\n",
                   "Call-ID: smime-1@test\n",
                   "CSeq: 1 MESSAGE\n",
                   "MIME-Version: 1.0\n",
                   "Content-Type: ", testing::kSignedContentType, "\n"),
      body);
  const size_t mark = sent_.size();
  Receive(message, kAlice.source);
  std::optional<Sent> fwd = RequestTo(kBob.source, "MESSAGE", mark);
  ASSERT_TRUE(fwd.has_value()) << ::testing::PrintToString(CodesTo(kAlice.source, mark));
  EXPECT_FALSE(fwd->stateless);
  EXPECT_TRUE(absl::EndsWith(
      fwd->bytes, absl::StrCat("\r\nContent-Length: ", body.size(), "\r\n\r\n", body)));
  EXPECT_EQ(fwd->Parsed().body(), body);
  EXPECT_EQ(fwd->Parsed().via_count(), 2u);

  Receive(ResponseText(fwd->bytes, 200, "OK", kBob.tag()), kBob.source);
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(200));
}

std::string WithHeader(std::string text, absl::string_view header) {
  return absl::StrReplaceAll(text, {{"User-Agent:", absl::StrCat(header, "\r\nUser-Agent:")}});
}

// 16.3 step 5: a Proxy-Require tag we do not understand is refused with
// 420 listing it in Unsupported, whatever the request; tags we do
// understand (path, outbound) pass.
TEST_F(ProxyTest, AnUnknownProxyRequireTagIsRefusedWith420) {
  const size_t mark = sent_.size();
  Receive(WithHeader(RegisterText(kBob), "Proxy-Require: path, sec-agree, X-Foo, sec-agree"),
          kBob.source);
  ASSERT_THAT(CodesTo(kBob.source, mark), ElementsAre(420));
  std::optional<Sent> r = ResponseTo(kBob.source, 420, "REGISTER");
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->Parsed().header_values("Unsupported"), ElementsAre("sec-agree", "X-Foo"));
  EXPECT_EQ(proxy_->counters().bad_extensions, 1u);
  EXPECT_THAT(registrar_->Lookup("bob@example.com", now_), IsEmpty());

  const size_t mark2 = sent_.size();
  Receive(WithHeader(RegisterText(kBob, 2), "Proxy-Require: outbound"), kBob.source);
  EXPECT_THAT(CodesTo(kBob.source, mark2), ElementsAre(200));
}

// 8.2.2.3: Require binds the server that answers: the registrar refuses
// what it does not understand; a proxied INVITE carries Require on to the
// callee untouched (the callee's UA decides).
TEST_F(ProxyTest, RequireIsCheckedOnlyByTheServerThatAnswers) {
  const size_t mark = sent_.size();
  Receive(WithHeader(RegisterText(kBob, 5), "Require: gruu"), kBob.source);
  ASSERT_THAT(CodesTo(kBob.source, mark), ElementsAre(420));
  EXPECT_THAT(ResponseTo(kBob.source, 420, "REGISTER")->Parsed().header_values("Unsupported"),
              ElementsAre("gruu"));
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  ASSERT_NO_FATAL_FAILURE(Register(kAlice));

  Dialog d = NewDialog(kAlice, kBob);
  const size_t before = sent_.size();
  Receive(WithHeader(InviteText(d, Sdp(kAlice, 1)), "Require: 100rel"), kAlice.source);
  std::optional<Sent> fwd = RequestTo(kBob.source, "INVITE", before);
  ASSERT_TRUE(fwd.has_value()) << ::testing::PrintToString(CodesTo(kAlice.source, before));
  EXPECT_THAT(fwd->Parsed().header_values("Require"), ElementsAre("100rel"));
}

}  // namespace
}  // namespace proxy_fixture
}  // namespace rtplatch
