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

class OverloadShedderTest : public ::testing::Test {
 protected:
  // A whole interval of datagrams that each waited `wait_ms`, ending at
  // `end_ms` (the next datagram closes it).
  void Interval(int64_t end_ms, int64_t wait_ms) {
    for (int i = 0; i < 20; ++i) shedder_.Observe(wait_ms, end_ms - 500 + i * 20);
  }
  void Overload(int64_t now_ms) {
    Interval(now_ms - 500, 250);
    Interval(now_ms, 250);
    shedder_.Observe(250, now_ms);
  }
  OverloadShedder shedder_{OverloadConfig{}};
};

TEST_F(OverloadShedderTest, UnderCapacityEverythingPasses) {
  Interval(1000, 199);
  Interval(1500, 199);
  EXPECT_FALSE(shedder_.overloaded());
  for (absl::string_view m : {"INVITE", "REGISTER", "OPTIONS", "SUBSCRIBE"}) {
    EXPECT_EQ(shedder_.Decide(Request(m, "c1"), 1), ShedVerdict::kPass) << m;
  }
  EXPECT_EQ(shedder_.counters().overloads, 0u);
}

TEST_F(OverloadShedderTest, AStallOfTheLoopIsABurstNotAnOverload) {
  Interval(1000, 0);
  // The loop stood still for 400 ms: the queue drains in a few ms.
  for (int i = 0; i < 50; ++i) shedder_.Observe(400 - i * 10, 1400 + i);
  for (int i = 0; i < 20; ++i) shedder_.Observe(1, 1450 + i * 20);
  shedder_.Observe(0, 2000);
  EXPECT_FALSE(shedder_.overloaded());
  // Nor do a few datagrams that each waited long (a trickle into a stall).
  for (int i = 0; i < 5; ++i) shedder_.Observe(900, 2100 + i * 100);
  shedder_.Observe(900, 2600);
  EXPECT_FALSE(shedder_.overloaded());
}

TEST_F(OverloadShedderTest, OverloadedNewCallsGet503AndOutOfDialogRequestsAreDropped) {
  Overload(1000);
  ASSERT_TRUE(shedder_.overloaded());
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "new"), 1), ShedVerdict::kRefuse);
  EXPECT_EQ(shedder_.Decide(Request("REGISTER", "r1"), 1), ShedVerdict::kDrop);
  EXPECT_EQ(shedder_.Decide(Request("OPTIONS", "o1"), 1), ShedVerdict::kDrop);
  EXPECT_EQ(shedder_.Decide("garbage", 1), ShedVerdict::kDrop);
  EXPECT_EQ(shedder_.counters().refused_invites, 1u);
  EXPECT_EQ(shedder_.counters().dropped_registers, 1u);
  EXPECT_EQ(shedder_.counters().dropped_other, 2u);
  EXPECT_EQ(shedder_.counters().overloads, 1u);
}

TEST_F(OverloadShedderTest, EstablishedCallsGoOnThroughAnOverload) {
  Overload(1000);
  EXPECT_EQ(shedder_.Decide(Request("BYE", "up", "b1"), 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "up", "b1"), 1), ShedVerdict::kPass);  // re-INVITE
  EXPECT_EQ(shedder_.Decide(Request("ACK", "up", "b1"), 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide(Request("CANCEL", "setup"), 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.Decide("SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", 1), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.counters().passed_in_dialog, 5u);
}

TEST_F(OverloadShedderTest, ACallAdmittedBeforeTheOverloadIsNotRefusedOnItsRetransmission) {
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "early"), 0), ShedVerdict::kPass);
  Overload(1100);
  // The retransmission, or the retry with credentials after a 407.
  EXPECT_EQ(shedder_.Decide(Request("INVITE", "early"), 1101), ShedVerdict::kPass);
  EXPECT_EQ(shedder_.counters().passed_admitted, 1u);
  // Forgotten after 32 s.
  shedder_.Tick(OverloadShedder::kAdmittedCallMs, true);
  EXPECT_EQ(shedder_.admitted_calls(), 0u);
}

TEST_F(OverloadShedderTest, ItTurnsOffWhenTheQueueDrainsOrAfterAQuietSecondWithNothingQueued) {
  Overload(1000);
  ASSERT_TRUE(shedder_.overloaded());
  Interval(1500, 120);  // between the thresholds: still on
  shedder_.Observe(120, 1500);
  EXPECT_TRUE(shedder_.overloaded());
  Interval(2000, 50);
  shedder_.Observe(50, 2000);
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

TEST_F(OverloadShedderTest, WaitsSeenBeforeAQuietGapDoNotTurnItOnAfterIt) {
  for (int i = 0; i < 20; ++i) shedder_.Observe(300, 1000 + i);  // an unfinished interval
  shedder_.Observe(2, 3000);  // then quiet, then a datagram that hardly waited
  shedder_.Observe(2, 3600);
  EXPECT_FALSE(shedder_.overloaded());
  EXPECT_EQ(shedder_.counters().overloads, 0u);
}

TEST_F(OverloadShedderTest, TheAdmittedCallsAreBounded) {
  OverloadConfig c;
  c.max_admitted_calls = 2;
  OverloadShedder s(c);
  for (int i = 0; i < 5; ++i) s.Decide(Request("INVITE", absl::StrCat("c", i)), i);
  EXPECT_EQ(s.admitted_calls(), 2u);
}

}  // namespace
}  // namespace rtplatch
