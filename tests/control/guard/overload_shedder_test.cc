#include "control/guard/overload_shedder.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

std::string Request(absl::string_view method, absl::string_view call_id,
                    absl::string_view to_tag = "") {
  return absl::StrCat(method, " sip:bob@example.test SIP/2.0\r\n",
                      "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK", call_id, "\r\n",
                      "To: <sip:bob@example.test>", to_tag.empty() ? "" : ";tag=", to_tag,
                      "\r\nCall-ID: ", call_id, "\r\nContent-Length: 0\r\n\r\n");
}

// A wait above leave_delay_ms: refused while overloaded if new.
constexpr int64_t kWaited = 120;

class OverloadShedderTest : public ::testing::Test {
 protected:
  // A whole interval of datagrams that each waited `wait_ms`, ending at
  // `end_ms` (the next datagram closes it).
  void Interval(int64_t end_ms, int64_t wait_ms) {
    for (int i = 0; i < 20; ++i) shedder_.Observe(wait_ms, 0, end_ms - 500 + i * 20);
  }
  void Overload(int64_t now_ms) {
    Interval(now_ms - 500, 250);
    Interval(now_ms, 250);
    shedder_.Observe(250, 0, now_ms);
  }
  OverloadShedder shedder_{OverloadConfig{}};
};

TEST_F(OverloadShedderTest, UnderCapacityEverythingPasses) {
  Interval(1000, 199);
  Interval(1500, 199);
  EXPECT_FALSE(shedder_.overloaded());
  for (absl::string_view m : {"INVITE", "REGISTER", "OPTIONS", "SUBSCRIBE"}) {
    EXPECT_EQ(shedder_.Decide(Request(m, "c1"), kWaited, 1), ShedVerdict::kPass) << m;
  }
  EXPECT_EQ(shedder_.counters().overloads, 0u);
}

TEST_F(OverloadShedderTest, AStallOfTheLoopIsABurstNotAnOverload) {
  Interval(1000, 0);
  // The loop stood still for 400 ms: the queue drains in a few ms.
  for (int i = 0; i < 50; ++i) shedder_.Observe(400 - i * 10, 0, 1400 + i);
  for (int i = 0; i < 20; ++i) shedder_.Observe(1, 0, 1450 + i * 20);
  shedder_.Observe(0, 0, 2000);
  EXPECT_FALSE(shedder_.overloaded());
  // Nor do a few datagrams that each waited long (a trickle into a stall).
  for (int i = 0; i < 5; ++i) shedder_.Observe(900, 0, 2100 + i * 100);
  shedder_.Observe(900, 0, 2600);
  EXPECT_FALSE(shedder_.overloaded());
}

TEST_F(OverloadShedderTest, OverloadedNewCallsAndRegistersGet503OtherRequestsAreDropped) {
  Overload(1000);
  ASSERT_TRUE(shedder_.overloaded());
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "new"), kWaited, 1), ShedVerdict::kRefuse);
  EXPECT_EQ(shedder_.Decide(Request("REGISTER", "r1"), kWaited, 1), ShedVerdict::kRefuse);
  EXPECT_EQ(shedder_.Decide(Request("OPTIONS", "o1"), kWaited, 1), ShedVerdict::kDrop);
  EXPECT_EQ(shedder_.Decide("garbage", kWaited, 1), ShedVerdict::kDrop);
  EXPECT_EQ(shedder_.counters().refused_invites, 1u);
  EXPECT_EQ(shedder_.counters().refused_registers, 1u);
  EXPECT_EQ(shedder_.counters().dropped_other, 2u);
  EXPECT_EQ(shedder_.counters().overloads, 1u);
}

// Issue 17: under a refresh storm the core finishes what it started. A
// REGISTER answering a challenge passes, whatever its Call-ID; so does the
// retransmission of one admitted before the overload.
TEST_F(OverloadShedderTest, RegistrationsUnderWayFinishThroughAnOverload) {
  EXPECT_EQ(shedder_.Decide(Request("REGISTER", "early"), kWaited, 0), ShedVerdict::kPass);
  Overload(1000);
  EXPECT_EQ(shedder_.Decide(Request("REGISTER", "early"), kWaited, 1001), ShedVerdict::kPass);
  const std::string answer = absl::StrCat(
      "REGISTER sip:example.test SIP/2.0\r\nTo: <sip:bob@example.test>\r\nCall-ID: late\r\n",
      "Authorization: Digest username=\"bob\", nonce=\"n\"\r\n\r\n");
  EXPECT_EQ(shedder_.Decide(answer, kWaited, 1002), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide(Request("REGISTER", "late"), kWaited, 1003), ShedVerdict::kRefuse);
  EXPECT_EQ(shedder_.counters().passed_admitted, 1u);
  EXPECT_EQ(shedder_.counters().passed_credentials, 1u);
  EXPECT_EQ(shedder_.counters().refused_registers, 1u);
}

TEST_F(OverloadShedderTest, EstablishedCallsGoOnThroughAnOverload) {
  Overload(1000);
  EXPECT_EQ(shedder_.Decide(Request("BYE", "up", "b1"), kWaited, 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "up", "b1"), kWaited, 1), ShedVerdict::kPass);  // re-INVITE
  EXPECT_EQ(shedder_.Decide(Request("ACK", "up", "b1"), kWaited, 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide(Request("CANCEL", "setup"), kWaited, 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide("SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", kWaited, 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.counters().passed_in_dialog, 5u);
}

TEST_F(OverloadShedderTest, ACallAdmittedBeforeTheOverloadIsNotRefusedOnItsRetransmission) {
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "early"), kWaited, 0), ShedVerdict::kPass);
  Overload(1100);
  // The retransmission, or the retry with credentials after a 407.
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "early"), kWaited, 1101), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.counters().passed_admitted, 1u);
  // Forgotten after two windows of 32 s.
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "early"), kWaited, 2 * OverloadShedder::kAdmittedCallMs),
            ShedVerdict::kRefuse);
  EXPECT_EQ(shedder_.admitted_calls(), 0u);
}

TEST_F(OverloadShedderTest, ItTurnsOffWhenTheQueueDrainsOrAfterAQuietSecondWithNothingQueued) {
  Overload(1000);
  ASSERT_TRUE(shedder_.overloaded());
  Interval(1500, 120);  // between the thresholds: still on
  shedder_.Observe(120, 0, 1500);
  EXPECT_TRUE(shedder_.overloaded());
  Interval(2000, 50);
  shedder_.Observe(50, 0, 2000);
  EXPECT_FALSE(shedder_.overloaded());
  Overload(3000);
  ASSERT_TRUE(shedder_.overloaded());
  shedder_.Tick(4500, /*queue_drained=*/false);  // busy elsewhere, a queue left
  EXPECT_TRUE(shedder_.overloaded());
  shedder_.Tick(3999, /*queue_drained=*/true);
  EXPECT_TRUE(shedder_.overloaded());
  shedder_.Tick(4000, /*queue_drained=*/true);  // a quiet second, nothing queued
  EXPECT_FALSE(shedder_.overloaded());
  EXPECT_EQ(shedder_.counters().overloads, 2u);
  EXPECT_EQ(shedder_.counters().max_delay_ms, 250);
}

// A kernel queue that overflows before its datagrams wait enter_delay_ms
// (a small buffer, a fast arrival rate) is an overload all the same.
TEST_F(OverloadShedderTest, KernelDropsTurnItOnAtOnce) {
  shedder_.Observe(20, 0, 1000);
  EXPECT_FALSE(shedder_.overloaded());
  shedder_.Observe(30, 7, 1010);
  EXPECT_TRUE(shedder_.overloaded());
  shedder_.Observe(30, 3, 1020);
  EXPECT_EQ(shedder_.counters().queue_overflows, 10u);
  EXPECT_EQ(shedder_.counters().overloads, 1u);
  // An interval that drained but also dropped does not end it.
  for (int i = 0; i < 20; ++i) shedder_.Observe(5, i == 10 ? 1 : 0, 1100 + i * 20);
  shedder_.Observe(5, 0, 1600);
  EXPECT_TRUE(shedder_.overloaded());
}

// While overloaded, a new INVITE or REGISTER is served if it waited less
// than leave_delay_ms, refused otherwise: the queue stands at about that
// delay and the core never idles. Refusals keep the overload on.
TEST_F(OverloadShedderTest, ServesNewRequestsThatWaitedLessThanTheTarget) {
  shedder_.Observe(1, 1, 1000);
  ASSERT_TRUE(shedder_.overloaded());
  const int64_t target = OverloadConfig{}.leave_delay_ms;
  EXPECT_EQ(shedder_.Decide(Request("REGISTER", "r1"), target - 1, 1001), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "i1"), target - 1, 1001), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide(Request("REGISTER", "r2"), target, 1001), ShedVerdict::kRefuse);
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "i2"), -1, 1001), ShedVerdict::kRefuse);
  EXPECT_EQ(shedder_.counters().passed_new, 2u);
  // A served one's retransmission passes however long it waited.
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "i1"), 400, 1002), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.counters().passed_admitted, 1u);
  // The queue drained, but requests were refused in the interval: still on.
  for (int i = 0; i < 20; ++i) shedder_.Observe(5, 0, 1100 + i * 20);
  shedder_.Observe(5, 0, 1600);
  EXPECT_TRUE(shedder_.overloaded());
  // A drained interval with nothing refused ends it.
  for (int i = 0; i < 20; ++i) shedder_.Observe(5, 0, 1620 + i * 20);
  shedder_.Observe(5, 0, 2100);
  EXPECT_FALSE(shedder_.overloaded());
}

TEST_F(OverloadShedderTest, WaitsSeenBeforeAQuietGapDoNotTurnItOnAfterIt) {
  for (int i = 0; i < 20; ++i) shedder_.Observe(300, 0, 1000 + i);  // an unfinished interval
  shedder_.Observe(2, 0, 3000);  // then quiet, then a datagram that hardly waited
  shedder_.Observe(2, 0, 3600);
  EXPECT_FALSE(shedder_.overloaded());
  EXPECT_EQ(shedder_.counters().overloads, 0u);
}

TEST_F(OverloadShedderTest, TheAdmittedCallsAreBounded) {
  OverloadConfig c;
  c.max_admitted_calls = 4;  // two a generation
  OverloadShedder s(c);
  for (int i = 0; i < 5; ++i) s.Decide(Request("INVITE", absl::StrCat("c", i)), kWaited, i);
  EXPECT_EQ(s.admitted_calls(), 2u);
}

}  // namespace
}  // namespace rtplatch
