// The keepalive wheel's contract, one property per test: fires on time
// (never early, at the first Expire at or after due), in tick order, across
// rounds, under Cancel/re-arm from inside the callback, under a budget, and
// against a std::multimap reference model for random operation mixes.
#include "dataplane/keepalive/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "dataplane/keepalive/chunked_slab.h"

namespace rtplatch {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kTick = kMs;
// Far from 0 so "in the past" has room, and not tick-aligned on purpose.
constexpr uint64_t kStart = 1'000'000 * kMs + 123'456;
// 2^10 slots of 1 ms: a 1.024 s span keeps the round tests short.
constexpr uint32_t kSlotsLog2 = 10;
constexpr uint64_t kSpan = kTick << kSlotsLog2;
constexpr uint32_t kIds = 70'000;  // crosses a chunk boundary
constexpr uint32_t kUnlimited = UINT32_MAX;

struct TestNode {
  WheelLinks links;
  uint64_t payload;
};

class TimerWheelTest : public ::testing::Test {
 protected:
  TimerWheelTest() { nodes_.EnsureCapacity(kIds); }

  std::vector<uint32_t> ExpireAt(uint64_t now, uint32_t budget = kUnlimited) {
    std::vector<uint32_t> fired;
    uint32_t n = wheel_.Expire(now, budget, [&](uint32_t id) { fired.push_back(id); });
    EXPECT_EQ(n, fired.size());
    return fired;
  }
  // Expires tick by tick up to `end`, returning id -> the now it fired at.
  std::map<uint32_t, uint64_t> StepTo(uint64_t from, uint64_t end, uint64_t step = kTick) {
    std::map<uint32_t, uint64_t> fired_at;
    for (uint64_t now = from; now <= end; now += step) {
      for (uint32_t id : ExpireAt(now)) EXPECT_TRUE(fired_at.emplace(id, now).second) << id;
    }
    return fired_at;
  }

  ChunkedSlab<TestNode> nodes_;
  TimerWheel<TestNode> wheel_{&nodes_, kTick, kSlotsLog2, kStart};
};

// --- ChunkedSlab ---------------------------------------------------------

TEST(ChunkedSlabTest, EnsureCapacityKeepsAddressesStableAndZeroes) {
  ChunkedSlab<TestNode> slab;
  EXPECT_EQ(slab.capacity(), 0u);
  EXPECT_EQ(slab.bytes(), ChunkedSlab<TestNode>::kMaxChunks * sizeof(TestNode*));

  slab.EnsureCapacity(10);
  const uint32_t chunk = ChunkedSlab<TestNode>::kChunkElements;
  ASSERT_EQ(slab.capacity(), chunk);
  std::vector<TestNode*> before;
  for (uint32_t i = 0; i < chunk; i += 997) {
    slab[i].payload = i + 1;
    before.push_back(&slab[i]);
  }

  slab.EnsureCapacity(5 * chunk + 1);
  ASSERT_EQ(slab.capacity(), 6 * chunk);
  EXPECT_EQ(slab.bytes(), ChunkedSlab<TestNode>::kMaxChunks * sizeof(TestNode*) +
                              6 * ChunkedSlab<TestNode>::kChunkBytes);
  size_t k = 0;
  for (uint32_t i = 0; i < chunk; i += 997, ++k) {
    EXPECT_EQ(&slab[i], before[k]) << i;
    EXPECT_EQ(slab[i].payload, i + 1) << i;
  }
  static const TestNode kZero{};
  for (uint32_t i : {chunk, chunk + 1, 3 * chunk + 77, 6 * chunk - 1}) {
    EXPECT_EQ(std::memcmp(&slab[i], &kZero, sizeof(TestNode)), 0) << i;
  }
  for (uint32_t c = 0; c < 6; ++c) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(&slab[c * chunk]) % 64, 0u) << c;
  }

  slab.EnsureCapacity(3);  // never shrinks
  EXPECT_EQ(slab.capacity(), 6 * chunk);
}

TEST(ChunkedSlabTest, CapacityRoundsUpToWholeChunks) {
  ChunkedSlab<uint64_t> slab;
  slab.EnsureCapacity(ChunkedSlab<uint64_t>::kChunkElements);
  EXPECT_EQ(slab.capacity(), ChunkedSlab<uint64_t>::kChunkElements);
  slab.EnsureCapacity(ChunkedSlab<uint64_t>::kChunkElements + 1);
  EXPECT_EQ(slab.capacity(), 2 * ChunkedSlab<uint64_t>::kChunkElements);
}

// --- TimerWheel: basics ----------------------------------------------------

TEST_F(TimerWheelTest, ZeroedNodesReadAsUnscheduled) {
  EXPECT_FALSE(wheel_.IsScheduled(0));
  EXPECT_FALSE(wheel_.IsScheduled(kIds - 1));
  wheel_.Cancel(5);  // no-op
  EXPECT_EQ(wheel_.scheduled(), 0u);
  EXPECT_TRUE(ExpireAt(kStart + 10 * kSpan).empty());
}

TEST_F(TimerWheelTest, FiresAtFirstExpireAtOrAfterDueForRandomDueTimes) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> due_offset(0, 3 * kSpan);
  std::vector<uint64_t> due(kIds);
  for (uint32_t id = 0; id < kIds; ++id) {
    due[id] = kStart + due_offset(rng);
    wheel_.Schedule(id, due[id]);
  }
  ASSERT_EQ(wheel_.scheduled(), kIds);
  // Irregular polling: sub-tick steps and multi-tick gaps.
  std::uniform_int_distribution<uint64_t> step(1, 5 * kTick / 2);
  uint64_t prev = kStart - 1;
  size_t fired = 0;
  for (uint64_t now = kStart; fired < kIds; now += step(rng)) {
    for (uint32_t id : ExpireAt(now)) {
      EXPECT_LE(due[id], now) << "early: id " << id;
      EXPECT_GT(due[id], prev) << "late: id " << id << " was due at the previous Expire";
      ++fired;
    }
    prev = now;
    ASSERT_LT(now, kStart + 4 * kSpan);
  }
  EXPECT_EQ(wheel_.scheduled(), 0u);
}

TEST_F(TimerWheelTest, PollingEveryTickFiresWithinOneTick) {
  std::mt19937_64 rng(2);
  std::uniform_int_distribution<uint64_t> due_offset(0, 2 * kSpan);
  std::vector<uint64_t> due(1000);
  for (uint32_t id = 0; id < due.size(); ++id) {
    due[id] = kStart + due_offset(rng);
    wheel_.Schedule(id, due[id]);
  }
  auto fired_at = StepTo(kStart, kStart + 2 * kSpan + kTick);
  ASSERT_EQ(fired_at.size(), due.size());
  for (auto [id, now] : fired_at) {
    EXPECT_LE(due[id], now);
    EXPECT_LT(now - due[id], kTick);
  }
}

TEST_F(TimerWheelTest, EarlierSlotsFireFirstAndATickInScheduleOrder) {
  const uint64_t base = kStart + 10 * kTick;
  wheel_.Schedule(4, base + 9 * kTick);
  wheel_.Schedule(1, base + 3 * kTick + 500);
  wheel_.Schedule(3, base + 5 * kTick);
  wheel_.Schedule(2, base + 3 * kTick + 100);  // same tick as 1, scheduled later
  wheel_.Schedule(0, base + 1 * kTick);
  EXPECT_EQ(ExpireAt(base + 20 * kTick), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
}

TEST_F(TimerWheelTest, TimersBeyondOneSpanWaitWholeRounds) {
  const uint64_t near = kStart + 3 * kTick;
  wheel_.Schedule(1, near);
  wheel_.Schedule(2, near + kSpan);      // same slot, one round later
  wheel_.Schedule(3, near + 2 * kSpan);  // two rounds later
  wheel_.Schedule(4, kStart + kSpan * 5 / 2);
  auto fired_at = StepTo(kStart, kStart + 3 * kSpan);
  ASSERT_EQ(fired_at.size(), 4u);
  // Polled on the start's sub-tick phase: the first poll at or after due.
  auto first_poll_at = [](uint64_t due) {
    return kStart + (due - kStart + kTick - 1) / kTick * kTick;
  };
  EXPECT_EQ(fired_at[1], first_poll_at(near));
  EXPECT_EQ(fired_at[2], first_poll_at(near + kSpan));
  EXPECT_EQ(fired_at[3], first_poll_at(near + 2 * kSpan));
  EXPECT_EQ(fired_at[4], first_poll_at(kStart + kSpan * 5 / 2));
}

TEST_F(TimerWheelTest, LaterInTheCurrentTickWaitsForItsNanosecond) {
  const uint64_t tick_start = (kStart / kTick + 1) * kTick;
  wheel_.Schedule(1, tick_start + 600'000);
  EXPECT_TRUE(ExpireAt(tick_start + 100).empty());
  EXPECT_TRUE(ExpireAt(tick_start + 599'999).empty());
  EXPECT_EQ(ExpireAt(tick_start + 600'000), std::vector<uint32_t>{1});
}

TEST_F(TimerWheelTest, CancelBeforeDueNeverFires) {
  wheel_.Schedule(1, kStart + 5 * kTick);
  wheel_.Schedule(2, kStart + 5 * kTick);
  wheel_.Schedule(3, kStart + kSpan + 5 * kTick);
  wheel_.Cancel(1);
  wheel_.Cancel(3);
  wheel_.Cancel(3);  // second cancel is a no-op
  EXPECT_FALSE(wheel_.IsScheduled(1));
  EXPECT_EQ(wheel_.scheduled(), 1u);
  auto fired_at = StepTo(kStart, kStart + 3 * kSpan);
  EXPECT_EQ(fired_at.size(), 1u);
  EXPECT_TRUE(fired_at.count(2));
}

TEST_F(TimerWheelTest, ScheduleMovesAnArmedTimer) {
  wheel_.Schedule(1, kStart + 10 * kTick);
  wheel_.Schedule(1, kStart + 20 * kTick);
  EXPECT_EQ(wheel_.scheduled(), 1u);
  EXPECT_TRUE(ExpireAt(kStart + 15 * kTick).empty());
  wheel_.Schedule(1, kStart + 15 * kTick + kSpan);  // same slot, next round
  EXPECT_TRUE(ExpireAt(kStart + 25 * kTick).empty());
  EXPECT_EQ(ExpireAt(kStart + 15 * kTick + kSpan), std::vector<uint32_t>{1});
}

TEST_F(TimerWheelTest, ScheduleInThePastFiresAtTheNextExpire) {
  const uint64_t now = kStart + 100 * kTick;
  EXPECT_TRUE(ExpireAt(now).empty());
  wheel_.Schedule(1, kStart + 5 * kTick);
  wheel_.Schedule(2, 0);
  wheel_.Schedule(3, now);
  EXPECT_EQ(ExpireAt(now), (std::vector<uint32_t>{1, 2, 3}));
  // From before the first Expire, too.
  TimerWheel<TestNode> fresh(&nodes_, kTick, kSlotsLog2, kStart);
  fresh.Schedule(4, kStart - kSpan * 3);
  std::vector<uint32_t> fired;
  fresh.Expire(kStart, kUnlimited, [&](uint32_t id) { fired.push_back(id); });
  EXPECT_EQ(fired, std::vector<uint32_t>{4});
}

TEST_F(TimerWheelTest, ClockSteppingBackIsIgnored) {
  EXPECT_TRUE(ExpireAt(kStart + 50 * kTick).empty());
  wheel_.Schedule(1, kStart + 45 * kTick);  // overdue: fires at the next forward Expire
  wheel_.Schedule(2, kStart + 60 * kTick);
  EXPECT_TRUE(ExpireAt(kStart + 40 * kTick).empty());
  EXPECT_TRUE(ExpireAt(kStart + 49 * kTick).empty());
  EXPECT_EQ(ExpireAt(kStart + 50 * kTick), std::vector<uint32_t>{1});
  EXPECT_TRUE(ExpireAt(kStart + 59 * kTick).empty());
  EXPECT_EQ(ExpireAt(kStart + 60 * kTick), std::vector<uint32_t>{2});
}

TEST_F(TimerWheelTest, JumpOfManySpansFiresEverythingDueAndKeepsTheRest) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<uint64_t> due_offset(0, 8 * kSpan);
  std::vector<uint64_t> due(5000);
  for (uint32_t id = 0; id < due.size(); ++id) {
    due[id] = kStart + due_offset(rng);
    wheel_.Schedule(id, due[id]);
  }
  const uint64_t jump = kStart + 5 * kSpan + kSpan / 3;
  std::set<uint32_t> fired;
  for (uint32_t id : ExpireAt(jump)) {
    EXPECT_LE(due[id], jump);
    fired.insert(id);
  }
  for (uint32_t id = 0; id < due.size(); ++id) {
    EXPECT_EQ(fired.count(id) == 1, due[id] <= jump) << id;
  }
  // The rest still fires on time afterwards.
  auto later = StepTo(jump + kTick, kStart + 9 * kSpan);
  EXPECT_EQ(fired.size() + later.size(), due.size());
  for (auto [id, now] : later) {
    EXPECT_LE(due[id], now);
    EXPECT_LT(now - due[id], kTick);
  }
}

TEST_F(TimerWheelTest, JumpOfYearsWalksAtMostOneRevolution) {
  // 10 years is ~3e11 ticks: walking them one by one would never finish.
  const uint64_t years = kStart + 10 * 365 * 24 * 3600 * 1'000'000'000ull;
  wheel_.Schedule(1, kStart + 5 * kTick);
  wheel_.Schedule(2, years - kSpan * 7);
  wheel_.Schedule(3, years + 2 * kTick);
  EXPECT_EQ(ExpireAt(years).size(), 2u);
  EXPECT_TRUE(ExpireAt(years + kTick).empty());
  EXPECT_EQ(ExpireAt(years + 2 * kTick), std::vector<uint32_t>{3});
}

// --- Callbacks that change the wheel -----------------------------------------

TEST_F(TimerWheelTest, CancelOfTheNextNodeInTheSameSlotFromTheCallback) {
  const uint64_t due = kStart + 5 * kTick;
  wheel_.Schedule(1, due);
  wheel_.Schedule(2, due);
  wheel_.Schedule(3, due);
  std::vector<uint32_t> fired;
  wheel_.Expire(due, kUnlimited, [&](uint32_t id) {
    fired.push_back(id);
    if (id == 1) wheel_.Cancel(2);
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(wheel_.scheduled(), 0u);
}

TEST_F(TimerWheelTest, CancelOfItselfFromTheCallbackIsANoop) {
  wheel_.Schedule(1, kStart + kTick);
  wheel_.Schedule(2, kStart + kTick);
  std::vector<uint32_t> fired;
  wheel_.Expire(kStart + kTick, kUnlimited, [&](uint32_t id) {
    EXPECT_FALSE(wheel_.IsScheduled(id));  // unscheduled before fn runs
    wheel_.Cancel(id);
    fired.push_back(id);
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(wheel_.scheduled(), 0u);
}

TEST_F(TimerWheelTest, CancelOfTimersTheWalkAlreadyKeptFromTheCallback) {
  // One slot: two next-round timers (kept by the walk), then three due ones.
  // Moving a kept node elsewhere leaves its old links useless, so a walk
  // that kept following them would stop early.
  const uint64_t due = kStart + 7 * kTick;
  wheel_.Schedule(10, due + kSpan);  // head
  wheel_.Schedule(11, due + kSpan);  // the walk's last kept node when 1 fires
  wheel_.Schedule(1, due);
  wheel_.Schedule(2, due);
  wheel_.Schedule(3, due);
  std::vector<uint32_t> fired;
  wheel_.Expire(due, kUnlimited, [&](uint32_t id) {
    fired.push_back(id);
    if (id == 1) {
      wheel_.Cancel(11);
      wheel_.Schedule(11, due + 5 * kTick);
    }
    if (id == 2) {  // now the head is the last kept node
      wheel_.Cancel(10);
      wheel_.Schedule(10, due + 6 * kTick);
    }
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(wheel_.scheduled(), 2u);
  EXPECT_EQ(ExpireAt(due + 6 * kTick), (std::vector<uint32_t>{11, 10}));
}

TEST_F(TimerWheelTest, CancelOfATimerInALaterSlotFromTheCallback) {
  wheel_.Schedule(1, kStart + 2 * kTick);
  wheel_.Schedule(2, kStart + 6 * kTick);
  std::vector<uint32_t> fired;
  wheel_.Expire(kStart + 10 * kTick, kUnlimited, [&](uint32_t id) {
    fired.push_back(id);
    wheel_.Cancel(2);
  });
  EXPECT_EQ(fired, std::vector<uint32_t>{1});
}

TEST_F(TimerWheelTest, RearmFromTheCallbackFiresOneNewIntervalLaterNotInTheSameExpire) {
  // Each firing re-arms with a longer interval; one of them is a whole span
  // (back into the slot being walked).
  const std::vector<uint64_t> intervals = {7 * kTick, 13 * kTick + 17, kSpan, 2 * kTick};
  size_t next_interval = 0;
  std::vector<uint64_t> fired_at;
  const uint64_t first_due = kStart + 10 * kTick;
  wheel_.Schedule(1, first_due);
  for (uint64_t now = kStart; now <= kStart + 2 * kSpan; now += kTick / 4) {
    uint32_t n = wheel_.Expire(now, kUnlimited, [&](uint32_t id) {
      fired_at.push_back(now);
      if (next_interval < intervals.size()) wheel_.Schedule(id, now + intervals[next_interval++]);
    });
    ASSERT_LE(n, 1u) << "fired twice in one Expire at " << now;
  }
  // Polled every 1/4 tick from a phase of kStart: fires at the first poll >= due.
  auto first_poll_at = [](uint64_t due) {
    return kStart + (due - kStart + kTick / 4 - 1) / (kTick / 4) * (kTick / 4);
  };
  ASSERT_EQ(fired_at.size(), intervals.size() + 1);
  EXPECT_EQ(fired_at[0], first_poll_at(first_due));
  for (size_t i = 0; i < intervals.size(); ++i) {
    EXPECT_EQ(fired_at[i + 1], first_poll_at(fired_at[i] + intervals[i])) << i;
  }
}

TEST_F(TimerWheelTest, RearmAfterAMultiTickGapWaitsForItsNewDueTime) {
  wheel_.Schedule(1, kStart + 2 * kTick);
  int fires = 0;
  const uint64_t now = kStart + 50 * kTick;  // the walk crosses 50 slots
  // 1 ns after now: into the last slot this very walk still visits.
  auto rearm = [&](uint32_t id) {
    ++fires;
    wheel_.Schedule(id, now + 1);
  };
  EXPECT_EQ(wheel_.Expire(now, kUnlimited, rearm), 1u);
  EXPECT_EQ(fires, 1);
  EXPECT_EQ(wheel_.Expire(now, kUnlimited, rearm), 0u);
  EXPECT_EQ(wheel_.Expire(now + 1, kUnlimited, [&](uint32_t) { ++fires; }), 1u);
  EXPECT_EQ(fires, 2);
}

TEST_F(TimerWheelTest, OverdueScheduleFromTheCallbackIsNotStranded) {
  // While the walk is at tick 2 of 50, the callback arms timers already due:
  // one into the slot being walked, one into a slot the walk will reach.
  wheel_.Schedule(1, kStart + 2 * kTick);
  const uint64_t now = kStart + 50 * kTick;
  std::vector<uint32_t> fired;
  wheel_.Expire(now, kUnlimited, [&](uint32_t id) {
    fired.push_back(id);
    if (id == 1) {
      wheel_.Schedule(2, kStart);               // before the slot being walked
      wheel_.Schedule(3, kStart + 2 * kTick);   // in it
      wheel_.Schedule(4, kStart + 30 * kTick);  // ahead of the walk
      wheel_.Schedule(5, now + 1);              // not due: stays
    }
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 2, 3, 4}));
  EXPECT_TRUE(wheel_.IsScheduled(5));
  EXPECT_EQ(ExpireAt(now + 1), std::vector<uint32_t>{5});
}

TEST_F(TimerWheelTest, RearmIntoThePastFiresAgainOnlyWithinTheBudget) {
  wheel_.Schedule(1, kStart + kTick);
  uint32_t fires = 0;
  auto rearm_overdue = [&](uint32_t id) {
    ++fires;
    wheel_.Schedule(id, kStart);
  };
  EXPECT_EQ(wheel_.Expire(kStart + kTick, 5, rearm_overdue), 5u);
  EXPECT_EQ(fires, 5u);
  EXPECT_TRUE(wheel_.IsScheduled(1));
}

// --- Budget -----------------------------------------------------------------

TEST_F(TimerWheelTest, BudgetResumesWithoutSkippingOrDuplicating) {
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<uint64_t> due_offset(0, 60 * kTick);
  std::vector<uint64_t> due(2000);
  for (uint32_t id = 0; id < due.size(); ++id) {
    // Every 10th a round later, in the same slots.
    due[id] = kStart + due_offset(rng) + (id % 10 == 0 ? kSpan : 0);
    wheel_.Schedule(id, due[id]);
  }
  const uint64_t now = kStart + 40 * kTick;
  std::vector<uint32_t> fired;
  for (;;) {
    auto batch = ExpireAt(now, 7);
    ASSERT_LE(batch.size(), 7u);
    fired.insert(fired.end(), batch.begin(), batch.end());
    if (batch.size() < 7) break;
  }
  std::set<uint32_t> unique(fired.begin(), fired.end());
  EXPECT_EQ(unique.size(), fired.size()) << "fired twice";
  for (uint32_t id = 0; id < due.size(); ++id) {
    EXPECT_EQ(unique.count(id) == 1, due[id] <= now) << id;
  }
  for (size_t i = 1; i < fired.size(); ++i) {
    EXPECT_LE(due[fired[i - 1]] / kTick, due[fired[i]] / kTick) << "slot order, at " << i;
  }
}

TEST_F(TimerWheelTest, BudgetCutDuringAJumpOfManySpansStillFiresEverythingDue) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<uint64_t> due_offset(0, 6 * kSpan);
  std::vector<uint64_t> due(3000);
  for (uint32_t id = 0; id < due.size(); ++id) {
    due[id] = kStart + due_offset(rng);
    wheel_.Schedule(id, due[id]);
  }
  uint64_t now = kStart + 4 * kSpan + 17 * kTick;
  std::multiset<uint32_t> fired;
  for (int call = 0; call < 10'000; ++call) {
    // Later calls move now forward a little, and once a long way.
    if (call == 100) now += 3 * kTick;
    if (call == 200) now += kSpan / 2;
    for (uint32_t id : ExpireAt(now, 3)) {
      EXPECT_LE(due[id], now);
      fired.insert(id);
    }
  }
  for (uint32_t id = 0; id < due.size(); ++id) {
    EXPECT_EQ(fired.count(id), due[id] <= now ? 1u : 0u) << id;
  }
}

// --- Reference model ----------------------------------------------------------

// The wheel's contract as a sorted map: due -> id, plus id -> due.
class ReferenceWheel {
 public:
  void Schedule(uint32_t id, uint64_t due) {
    Cancel(id);
    by_id_[id] = by_due_.emplace(due, id);
  }
  void Cancel(uint32_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    by_due_.erase(it->second);
    by_id_.erase(it);
  }
  bool IsScheduled(uint32_t id) const { return by_id_.count(id) != 0; }
  uint64_t DueOf(uint32_t id) const { return by_id_.at(id)->first; }
  size_t CountDue(uint64_t now) const {
    return std::distance(by_due_.begin(), by_due_.upper_bound(now));
  }
  size_t size() const { return by_id_.size(); }

 private:
  std::multimap<uint64_t, uint32_t> by_due_;
  std::map<uint32_t, std::multimap<uint64_t, uint32_t>::iterator> by_id_;
};

TEST_F(TimerWheelTest, RandomOperationsMatchAReferenceModel) {
  std::mt19937_64 rng(6);
  std::uniform_int_distribution<uint32_t> pick_id(0, 4999);
  std::uniform_int_distribution<int> pick_op(0, 99);
  std::uniform_int_distribution<uint64_t> offset(0, 3 * kSpan);
  std::uniform_int_distribution<uint64_t> small_step(0, 3 * kTick);
  std::uniform_int_distribution<uint32_t> pick_budget(0, 40);
  ReferenceWheel model;
  uint64_t now = kStart;
  uint64_t latest = kStart;  // the latest now any Expire saw
  for (int op = 0; op < 100'000; ++op) {
    int r = pick_op(rng);
    uint32_t id = pick_id(rng);
    if (r < 40) {
      // A few land in the past (before now, even before the last walk).
      uint64_t due = now + offset(rng);
      due = due > 10 * kTick ? due - 10 * kTick : 0;
      wheel_.Schedule(id, due);
      model.Schedule(id, due);
    } else if (r < 55) {
      wheel_.Cancel(id);
      model.Cancel(id);
    } else if (r < 65) {
      ASSERT_EQ(wheel_.IsScheduled(id), model.IsScheduled(id)) << "op " << op;
    } else {
      if (r < 95) {
        now += small_step(rng);
      } else if (r < 97) {
        now += offset(rng) * 2;  // up to six spans
      } else {
        now -= std::min<uint64_t>(now - kStart, small_step(rng));  // clock steps back
      }
      uint32_t budget = pick_budget(rng) == 0 ? kUnlimited : pick_budget(rng);
      const size_t due = std::min<size_t>(budget, model.CountDue(now));
      std::vector<uint32_t> fired = ExpireAt(now, budget);
      if (now >= latest) {
        ASSERT_EQ(fired.size(), due) << "op " << op << " now " << now;
        latest = now;
      } else {  // a backward step may leave overdue timers for later
        ASSERT_LE(fired.size(), due) << "op " << op << " now " << now;
      }
      for (uint32_t f : fired) {
        ASSERT_TRUE(model.IsScheduled(f)) << "fired twice or unscheduled: " << f;
        ASSERT_LE(model.DueOf(f), now) << "early: " << f;
        model.Cancel(f);
      }
    }
    ASSERT_EQ(wheel_.scheduled(), model.size()) << "op " << op;
  }
}

TEST_F(TimerWheelTest, RandomCallbackOperationsMatchAReferenceModel) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> pick_id(0, 2999);
  std::uniform_int_distribution<int> pick_op(0, 99);
  std::uniform_int_distribution<uint64_t> offset(1, 2 * kSpan);
  std::uniform_int_distribution<uint64_t> step(0, 4 * kTick);
  ReferenceWheel model;
  uint64_t now = kStart;
  for (uint32_t id = 0; id < 3000; ++id) {
    uint64_t due = now + offset(rng);
    wheel_.Schedule(id, due);
    model.Schedule(id, due);
  }
  size_t total_fired = 0;
  for (int call = 0; call < 5000; ++call) {
    now += step(rng);
    const uint64_t walk_now = now;
    auto fn = [&](uint32_t id) {
      ASSERT_TRUE(model.IsScheduled(id)) << id;
      ASSERT_LE(model.DueOf(id), walk_now) << "early: " << id;
      ASSERT_FALSE(wheel_.IsScheduled(id));
      model.Cancel(id);
      ++total_fired;
      int r = pick_op(rng);
      if (r < 50) {  // the keepalive re-arms itself
        uint64_t due = walk_now + offset(rng);
        wheel_.Schedule(id, due);
        model.Schedule(id, due);
      }
      uint32_t other = pick_id(rng);
      if (r % 4 == 0) {
        wheel_.Cancel(other);
        model.Cancel(other);
      } else if (r % 4 == 1) {
        uint64_t due = walk_now + offset(rng);
        wheel_.Schedule(other, due);
        model.Schedule(other, due);
      } else if (r % 10 == 2) {  // already due: fires later in this walk
        uint64_t due = walk_now - std::min<uint64_t>(walk_now, offset(rng));
        wheel_.Schedule(other, due);
        model.Schedule(other, due);
      }
    };
    wheel_.Expire(now, kUnlimited, fn);
    ASSERT_EQ(model.CountDue(now), 0u) << "left due timers at call " << call;
    ASSERT_EQ(wheel_.scheduled(), model.size()) << "call " << call;
  }
  EXPECT_GT(total_fired, 3000u);
}

// --- Keepalive load shape ---------------------------------------------------

TEST(TimerWheelSpreadTest, TimersSpreadOverAnIntervalFireEvenly) {
  // 100k NAT keepalives every 20 s on a 65.5 s wheel of 1 ms ticks.
  constexpr uint32_t kTimers = 100'000;
  constexpr uint64_t kInterval = 20'000 * kMs;
  constexpr uint32_t kPerTick = (kTimers + kInterval / kTick - 1) / (kInterval / kTick);
  ChunkedSlab<TestNode> nodes;
  nodes.EnsureCapacity(kTimers);
  TimerWheel<TestNode> wheel(&nodes, kTick, 16, kStart);
  std::vector<uint64_t> due(kTimers);
  for (uint32_t i = 0; i < kTimers; ++i) {
    due[i] = kStart + i * kInterval / kTimers;
    wheel.Schedule(i, due[i]);
  }
  uint32_t max_per_tick = 0;
  uint64_t fired = 0;
  for (uint64_t now = kStart; now <= kStart + 2 * kInterval; now += kTick) {
    uint32_t n = wheel.Expire(now, kUnlimited, [&](uint32_t id) {
      EXPECT_LE(due[id], now);
      EXPECT_LT(now - due[id], kTick);
      due[id] += kInterval;  // keep the phase: the load stays spread
      wheel.Schedule(id, due[id]);
    });
    max_per_tick = std::max(max_per_tick, n);
    fired += n;
  }
  EXPECT_EQ(fired, 2 * uint64_t{kTimers} + 1);  // timer 0 fires at 0, 20 s, 40 s
  EXPECT_LE(max_per_tick, kPerTick + 1);
}

TEST(TimerWheelSlabTest, IdsInChunksAddedAfterConstructionWork) {
  ChunkedSlab<TestNode> nodes;
  nodes.EnsureCapacity(1);
  TimerWheel<TestNode> wheel(&nodes, kTick, kSlotsLog2, kStart);
  wheel.Schedule(0, kStart + 3 * kTick);
  TestNode* first = &nodes[0];
  nodes.EnsureCapacity(3 * ChunkedSlab<TestNode>::kChunkElements);
  EXPECT_EQ(&nodes[0], first);
  const uint32_t far = 3 * ChunkedSlab<TestNode>::kChunkElements - 1;
  EXPECT_FALSE(wheel.IsScheduled(far));
  wheel.Schedule(far, kStart + 3 * kTick);
  std::vector<uint32_t> fired;
  wheel.Expire(kStart + 3 * kTick, kUnlimited, [&](uint32_t id) { fired.push_back(id); });
  EXPECT_EQ(fired, (std::vector<uint32_t>{0, far}));
}

}  // namespace
}  // namespace rtplatch
