// Parallel forking at the proxy (RFC 3261 16.7, issue 15): a call to a
// user with several bindings rings them all; the first 2xx wins and the
// others get CANCEL; early media from any branch reaches the caller; a
// 6xx ends the call; when all fail the best answer goes back. The fixture
// (proxy_fixture.h) records what the proxy would send.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control/routing/proxy_fixture.h"

namespace rtplatch {
namespace proxy_fixture {
namespace {

// bob's second phone: same AOR, another NAT and port.
const Phone kBobDesk{"bob", "192.0.2.21:5062", Ep("203.0.113.21:42000"), "192.0.2.21", 5100};

std::string RegisterContact(const Phone& p, const std::string& call_id) {
  return absl::StrReplaceAll(RegisterText(p),
                             {{absl::StrCat("Call-ID: reg-", p.user), absl::StrCat("Call-ID: ", call_id)}});
}

class ForkingTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(Register(kAlice));
    ASSERT_NO_FATAL_FAILURE(Register(kBob));
    const size_t mark = sent_.size();
    Receive(RegisterContact(kBobDesk, "reg-bob-desk"), kBobDesk.source);
    ASSERT_THAT(CodesTo(kBobDesk.source, mark), ElementsAre(200));
  }

  // alice calls bob: the INVITE each of bob's phones got.
  void Ring(Dialog& d, std::optional<Sent>* mobile, std::optional<Sent>* desk) {
    const size_t mark = sent_.size();
    Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
    *mobile = RequestTo(kBob.source, "INVITE", mark);
    *desk = RequestTo(kBobDesk.source, "INVITE", mark);
  }

  void Answer(const Sent& invite, const Phone& phone, int code, absl::string_view reason,
              absl::string_view tag, absl::string_view sdp = "") {
    Receive(ResponseText(invite.bytes, code, reason, tag, phone.contact(), sdp), phone.source);
  }
};

TEST_F(ForkingTest, BothPhonesRingTheFirstAnswerWinsTheOtherIsCancelled) {
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> mobile, desk;
  Ring(d, &mobile, &desk);
  ASSERT_TRUE(mobile.has_value());
  ASSERT_TRUE(desk.has_value());
  EXPECT_EQ(mobile->Parsed().request_uri(), kBob.contact());
  EXPECT_EQ(desk->Parsed().request_uri(), kBobDesk.contact());
  EXPECT_NE(mobile->Parsed().top_via().branch, desk->Parsed().top_via().branch);
  // One relay for the call: both phones are offered the same port.
  EXPECT_THAT(mobile->bytes, HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'))));
  EXPECT_THAT(desk->bytes, HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'))));
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));

  Answer(*mobile, kBob, 180, "Ringing", "m");
  Answer(*desk, kBobDesk, 183, "Session Progress", "d", Sdp(kBobDesk, 1));
  EXPECT_THAT(CodesTo(kAlice.source), ::testing::Contains(183)) << "early media from any branch";

  const size_t mark = sent_.size();
  Answer(*desk, kBobDesk, 200, "OK", "d", Sdp(kBobDesk, 1));
  std::optional<Sent> cancel = RequestTo(kBob.source, "CANCEL", mark);
  ASSERT_TRUE(cancel.has_value()) << "the mobile's branch is cancelled";
  EXPECT_EQ(cancel->Parsed().top_via().branch, mobile->Parsed().top_via().branch);
  EXPECT_FALSE(RequestTo(kBobDesk.source, "CANCEL", mark).has_value());
  std::optional<Sent> ok = ResponseTo(kAlice.source, 200);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->Parsed().to_tag(), "d");
  Answer(*mobile, kBob, 487, "Request Terminated", "m");
  EXPECT_THAT(CodesTo(kAlice.source), Not(::testing::Contains(487)));

  const json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["state"], "confirmed");
  const json stats = proxy_->StatsJson()["proxy"];
  EXPECT_EQ(stats["calls_forked"], 1);
  EXPECT_EQ(stats["fork_branches_cancelled"], 1);

  // In-dialog requests go to the phone that answered.
  d.callee_tag = "d";
  d.remote_target = kBobDesk.contact();
  std::vector<std::string> rr = ok->Parsed().record_routes();
  d.route.assign(rr.rbegin(), rr.rend());
  const size_t before_bye = sent_.size();
  Receive(InDialogText(d, "BYE", 2, Branch()), kAlice.source);
  EXPECT_TRUE(RequestTo(kBobDesk.source, "BYE", before_bye).has_value());
  EXPECT_FALSE(RequestTo(kBob.source, "BYE", before_bye).has_value());
}

TEST_F(ForkingTest, ASecondAnswerIsAckedAndReleased) {
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> mobile, desk;
  Ring(d, &mobile, &desk);
  ASSERT_TRUE(mobile && desk);
  Answer(*mobile, kBob, 200, "OK", "m", Sdp(kBob, 1));
  const size_t mark = sent_.size();
  Answer(*desk, kBobDesk, 200, "OK", "d", Sdp(kBobDesk, 1));
  EXPECT_THAT(CodesTo(kAlice.source, mark), IsEmpty()) << "the caller has its answer";
  std::optional<Sent> ack = RequestTo(kBobDesk.source, "ACK", mark);
  std::optional<Sent> bye = RequestTo(kBobDesk.source, "BYE", mark);
  ASSERT_TRUE(ack.has_value());
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(bye->Parsed().to_tag(), "d");
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["fork_answers_released"], 1);
  EXPECT_EQ(proxy_->CallsJson()[0]["state"], "confirmed");
}

TEST_F(ForkingTest, ASixHundredEndsTheCallAndCancelsTheOtherPhone) {
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> mobile, desk;
  Ring(d, &mobile, &desk);
  ASSERT_TRUE(mobile && desk);
  Answer(*desk, kBobDesk, 180, "Ringing", "d");
  const size_t mark = sent_.size();
  Answer(*mobile, kBob, 603, "Decline", "m");
  EXPECT_TRUE(ResponseTo(kAlice.source, 603).has_value());
  EXPECT_TRUE(RequestTo(kBobDesk.source, "CANCEL", mark).has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1)) << "the relay is freed";
}

TEST_F(ForkingTest, WhenEveryPhoneFailsTheCallerGetsTheBestAnswer) {
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> mobile, desk;
  Ring(d, &mobile, &desk);
  ASSERT_TRUE(mobile && desk);
  Answer(*mobile, kBob, 503, "Service Unavailable", "m");
  EXPECT_THAT(CodesTo(kAlice.source), Not(::testing::Contains(503))) << "waits for the desk";
  Answer(*desk, kBobDesk, 486, "Busy Here", "d");
  EXPECT_TRUE(ResponseTo(kAlice.source, 486).has_value()) << "4xx is better than 5xx";
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
}

// A branch that never got an answer (its 408 is ours) and one that declines:
// the caller still gets a final answer and the call ends.
TEST_F(ForkingTest, ASilentBranchAndABusyOneStillEndTheCall) {
  unreachable_ = kBob.source;  // the mobile's INVITE cannot leave
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> mobile, desk;
  Ring(d, &mobile, &desk);
  ASSERT_FALSE(mobile.has_value());
  ASSERT_TRUE(desk.has_value());
  Answer(*desk, kBobDesk, 486, "Busy Here", "d");
  std::vector<int> codes = CodesTo(kAlice.source);
  ASSERT_FALSE(codes.empty());
  EXPECT_GE(codes.back(), 400) << "a final answer reached alice";
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
}

TEST_F(ForkingTest, TheCallersCancelReachesEveryBranch) {
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> mobile, desk;
  Ring(d, &mobile, &desk);
  ASSERT_TRUE(mobile && desk);
  Answer(*mobile, kBob, 180, "Ringing", "m");
  Answer(*desk, kBobDesk, 180, "Ringing", "d");
  const size_t mark = sent_.size();
  Receive(CancelText(d), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(200, 487));
  EXPECT_TRUE(RequestTo(kBob.source, "CANCEL", mark).has_value());
  EXPECT_TRUE(RequestTo(kBobDesk.source, "CANCEL", mark).has_value());
  Answer(*mobile, kBob, 487, "Request Terminated", "m");
  Answer(*desk, kBobDesk, 487, "Request Terminated", "d");
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
}

}  // namespace
}  // namespace proxy_fixture
}  // namespace rtplatch
