// The lcore's set of packets held for a partner without a destination.
#include "dataplane/fastpath/held_packets.h"

#include <gtest/gtest.h>

#include <vector>

namespace rtplatch {
namespace {

using Held = HeldPackets<int, 4>;
using Decision = Held::Decision;

std::vector<int> Packets(Held& h) {
  std::vector<int> out;
  h.Sweep(0, [](const Held::Entry&) { return Decision::kKeep; }, [](Held::Entry&) {},
          [](Held::Entry&) {});
  h.Clear([&](Held::Entry& e) { out.push_back(e.packet); });
  return out;
}

TEST(HeldPacketsTest, FullSetRefusesMore) {
  Held h;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(h.Push(i, 1, 1, 0));
  EXPECT_FALSE(h.Push(99, 1, 1, 0));
  EXPECT_EQ(h.size(), 4u);
}

TEST(HeldPacketsTest, ReleasesInArrivalOrderAndKeepsTheRestInOrder) {
  Held h;
  h.Push(10, /*slot=*/1, 1, 0);
  h.Push(20, /*slot=*/2, 1, 0);
  h.Push(11, /*slot=*/1, 1, 0);
  h.Push(21, /*slot=*/2, 1, 0);
  std::vector<int> released;
  h.Sweep(
      8, [](const Held::Entry& e) { return e.slot == 1 ? Decision::kRelease : Decision::kKeep; },
      [&](Held::Entry& e) { released.push_back(e.packet); },
      [](Held::Entry&) { ADD_FAILURE() << "nothing expires here"; });
  EXPECT_EQ(released, (std::vector<int>{10, 11}));
  EXPECT_EQ(Packets(h), (std::vector<int>{20, 21}));
}

TEST(HeldPacketsTest, ReleaseIsBoundedPerSweepWithoutReordering) {
  Held h;
  for (int i = 0; i < 4; ++i) h.Push(i, 1, 1, 0);
  std::vector<int> released;
  auto all = [](const Held::Entry&) { return Decision::kRelease; };
  auto take = [&](Held::Entry& e) { released.push_back(e.packet); };
  auto none = [](Held::Entry&) {};
  h.Sweep(3, all, take, none);
  EXPECT_EQ(released, (std::vector<int>{0, 1, 2}));
  h.Sweep(3, all, take, none);
  EXPECT_EQ(released, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(h.empty());
}

TEST(HeldPacketsTest, ExpiredEntriesLeaveAndFreeTheirRoom) {
  Held h;
  h.Push(1, 1, 1, /*held_ns=*/0);
  h.Push(2, 1, 1, /*held_ns=*/500);
  std::vector<int> expired;
  h.Sweep(
      8, [](const Held::Entry& e) { return e.held_ns < 100 ? Decision::kExpire : Decision::kKeep; },
      [](Held::Entry&) { ADD_FAILURE(); }, [&](Held::Entry& e) { expired.push_back(e.packet); });
  EXPECT_EQ(expired, (std::vector<int>{1}));
  EXPECT_EQ(h.size(), 1u);
  EXPECT_TRUE(h.Push(3, 1, 1, 600));
}

}  // namespace
}  // namespace rtplatch
