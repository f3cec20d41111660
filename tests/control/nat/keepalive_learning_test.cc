#include "control/nat/keepalive_learning.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

// A NAT whose UDP mapping dies after `timeout_ms` of silence, probed as the
// control plane would: each due probe is answered only if the mapping
// outlived the gap. Returns the state once learned and when that was.
struct Outcome {
  KeepaliveLearning learning;
  int64_t learned_at_ms;
};
Outcome LearnBehindNat(uint32_t timeout_ms, const KeepaliveLearningConfig& config = {}) {
  KeepaliveLearning l = StartLearning(config, 0);
  int64_t now = 0;
  for (int probes = 0; l.phase == KeepaliveLearning::Phase::kProbing && probes < 20; ++probes) {
    now = *ProbeDueAt(l);
    const bool alive = now - l.quiet_since_ms < timeout_ms;
    OnProbeSent(l, now);
    if (alive) {
      OnProbeAnswered(l, config, now + 20);  // a LAN round trip
      now += 20;
    } else {
      now = *ProbeLostAt(l, config);
      OnProbeLost(l, config);
    }
  }
  return {l, now};
}

TEST(KeepaliveLearningTest, StartsAtTheFloorGap) {
  KeepaliveLearning l = StartLearning({}, 1000);
  EXPECT_EQ(l.phase, KeepaliveLearning::Phase::kProbing);
  EXPECT_EQ(ProbeDueAt(l), 6000);
  EXPECT_EQ(l.interval_ms, 0u);  // probes are the keepalives meanwhile
  EXPECT_EQ(l.reason, "learning: probing a 5 s gap");
}

// The case: a port-preserving NAT that forgets after 10 s.
TEST(KeepaliveLearningTest, TenSecondNatIsLearnedAtTheFloorInUnderHalfAMinute) {
  Outcome o = LearnBehindNat(10000);
  EXPECT_EQ(o.learning.phase, KeepaliveLearning::Phase::kLearned);
  EXPECT_EQ(o.learning.interval_ms, 5000u);
  EXPECT_LT(o.learned_at_ms, 30000);
  EXPECT_EQ(o.learning.reason,
            "learned: NAT held 5 s, dropped the mapping within 10 s; interval 5 s (floor)");
}

TEST(KeepaliveLearningTest, ThirtySecondNatKeepsTheInitialInterval) {
  Outcome o = LearnBehindNat(30000);
  EXPECT_EQ(o.learning.interval_ms, 25000u);
  EXPECT_EQ(o.learned_at_ms, 5000 + 10000 + 20000 + 25000 + 4 * 20);
  EXPECT_THAT(o.learning.reason, HasSubstr("held a 25 s gap"));
}

TEST(KeepaliveLearningTest, NatBetweenTheGapsGetsTheLongestGapThatHeldLessAFifth) {
  Outcome o = LearnBehindNat(22000);
  EXPECT_EQ(o.learning.interval_ms, 16000u);  // 20 s held, 25 s did not
  EXPECT_THAT(o.learning.reason, HasSubstr("held 20 s, dropped the mapping within 25 s; interval 16 s"));
}

// No needless keepalive traffic: a NAT that keeps mappings for minutes
// ends at the initial interval, never below it.
TEST(KeepaliveLearningTest, LongLivedNatDoesNotShrinkTheInterval) {
  for (uint32_t timeout_ms : {60000u, 180000u, 3600000u}) {
    Outcome o = LearnBehindNat(timeout_ms);
    EXPECT_EQ(o.learning.interval_ms, 25000u) << timeout_ms;
  }
}

TEST(KeepaliveLearningTest, NatShorterThanTheFloorGetsTheFloorAndSaysSo) {
  Outcome o = LearnBehindNat(3000);
  EXPECT_EQ(o.learning.interval_ms, 5000u);
  EXPECT_EQ(o.learning.reason,
            "learned: no answer to the first probe (5 s gap): NAT timeout below it or the phone "
            "ignores OPTIONS; interval 5 s (floor)");
}

TEST(KeepaliveLearningTest, TrafficFromThePhoneRestartsTheGap) {
  const KeepaliveLearningConfig config;
  KeepaliveLearning l = StartLearning(config, 0);
  OnHeardFrom(l, 3000);  // e.g. a re-REGISTER on the same mapping
  EXPECT_EQ(ProbeDueAt(l), 8000);
  OnHeardFrom(l, 1000);  // older news changes nothing
  EXPECT_EQ(ProbeDueAt(l), 8000);
  OnProbeSent(l, 8000);
  EXPECT_EQ(ProbeDueAt(l), std::nullopt) << "one probe at a time";
  EXPECT_EQ(ProbeLostAt(l, config), 12000);
  OnProbeAnswered(l, config, 9000);
  EXPECT_EQ(l.held_ms, 5000u);
  EXPECT_EQ(ProbeDueAt(l), 9000 + 10000);
}

// The phone's own packet while a probe is out (its re-REGISTER right after
// the mapping died re-opens it, and the probe's retransmission then gets
// through): the probe proves nothing, and the same gap is tested again.
TEST(KeepaliveLearningTest, TrafficDuringAProbeVoidsIt) {
  const KeepaliveLearningConfig config;
  KeepaliveLearning l = StartLearning(config, 0);
  OnProbeSent(l, 5000);
  EXPECT_EQ(l.probe_id, 1u);
  OnHeardFrom(l, 6000);
  EXPECT_EQ(ProbeLostAt(l, config), std::nullopt);
  OnProbeAnswered(l, config, 6500);  // the void probe's answer
  EXPECT_EQ(l.held_ms, 0u) << "no credit for a gap the phone interrupted";
  EXPECT_EQ(ProbeDueAt(l), 6000 + 5000) << "the same gap again";
}

// A phone that never stays silent for the gap under test (its own
// keepalives every 15 s, say) does not keep learning for ever.
TEST(KeepaliveLearningTest, LearningSettlesAtItsDeadline) {
  const KeepaliveLearningConfig config;
  KeepaliveLearning l = StartLearning(config, 0);
  OnProbeSent(l, 5000);
  OnProbeAnswered(l, config, 5020);
  OnProbeSent(l, 15020);
  OnProbeAnswered(l, config, 15040);  // held 10 s; 20 s is never reached
  EXPECT_EQ(LearningDeadlineAt(l, config), 180000);
  OnLearningDeadline(l, config);
  EXPECT_EQ(l.phase, KeepaliveLearning::Phase::kLearned);
  EXPECT_EQ(l.interval_ms, 8000u);
  EXPECT_THAT(l.reason, HasSubstr("own traffic left no 20 s gap silent in 180 s; NAT held 10 s"));
  EXPECT_EQ(LearningDeadlineAt(l, config), std::nullopt);
}

TEST(KeepaliveLearningTest, EventsOutOfTurnAreIgnored) {
  const KeepaliveLearningConfig config;
  KeepaliveLearning l = StartLearning(config, 0);
  OnProbeAnswered(l, config, 100);  // no probe outstanding
  OnProbeLost(l, config);
  EXPECT_EQ(l.phase, KeepaliveLearning::Phase::kProbing);
  EXPECT_EQ(l.held_ms, 0u);
  Outcome o = LearnBehindNat(10000);
  KeepaliveLearning done = o.learning;
  OnProbeAnswered(done, config, o.learned_at_ms + 1);  // a late answer
  OnProbeSent(done, o.learned_at_ms + 2);
  EXPECT_EQ(done.phase, KeepaliveLearning::Phase::kLearned);
  EXPECT_EQ(done.interval_ms, 5000u);
  EXPECT_EQ(ProbeDueAt(done), std::nullopt);
}

}  // namespace
}  // namespace rtplatch
