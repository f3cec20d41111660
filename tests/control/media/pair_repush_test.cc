#include "control/media/pair_repush.h"

#include <algorithm>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "tests/control/media/fake_dataplane.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using testing::Err;
using testing::FakeDataplane;
using testing::Ok;

json Stream(uint64_t stream, uint64_t pair, const char* leg, const std::string& label) {
  return {{"stream", stream},          {"pair", pair},
          {"leg", leg},                {"label", label},
          {"relay", "203.0.113.10:20000"}, {"rtcp_relay", "203.0.113.10:20001"},
          {"state", "unlatched"}};
}

// The dataplane lists pair 7 "ng:1:0:kept", pair 8 "ng:2:0:stale" (its
// label is not what the owner has for pair 8 now), pair 9 "ng:3:0:gone"
// (no owner) and pair 10 of another owner ("rc:..."). New pairs are 40, 41...
class PairRepushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.set_responder([this](const json& r) {
      if (r["cmd"] == "list") {
        json list = json::array();
        for (auto [pair, label] : {std::pair<uint64_t, const char*>{7, "ng:1:0:kept"},
                                   {8, "ng:2:0:stale"}, {9, "ng:3:0:gone"},
                                   {10, "rc:0:other"}}) {
          list.push_back(Stream(2 * pair, pair, "a", label));
          list.push_back(Stream(2 * pair + 1, pair, "b", label));
        }
        return Ok({{"total", list.size()}, {"streams", list}});
      }
      if (r["cmd"] == "allocate") {
        if (fail_allocations_) return Err("no_ports");
        const uint64_t pair = next_pair_++;
        return Ok({{"pair", pair},
                   {"a", Stream(100 + 2 * pair, pair, "a", r["label"])},
                   {"b", Stream(101 + 2 * pair, pair, "b", r["label"])}});
      }
      return Err("unknown_command");
    });
    server_.Start();
    link_ = std::make_unique<DataplaneLink>(DataplaneLink::Options{server_.path(), 2000, 50, [] {}});
  }

  FakeDataplane server_;
  std::unique_ptr<DataplaneLink> link_;
  uint64_t next_pair_ = 40;
  bool fail_allocations_ = false;
};

TEST_F(PairRepushTest, KeepsListedPairsAllocatesTheRestAndNamesStrangers) {
  PairRepush repush(*link_, "ng:");
  PairIds kept{7, 14, 15};
  absl::StatusOr<bool> fresh = repush.Keep(kept, "ng:1:0:kept", LegSpec{}, LegSpec{});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(*fresh);
  EXPECT_EQ(kept.pair, 7u);

  // Same id, another label: a restarted dataplane reused the id for
  // another call; this call's pair is allocated anew.
  PairIds stale{8, 16, 17};
  fresh = repush.Keep(stale, "ng:5:0:new-owner", LegSpec{}, LegSpec{});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(*fresh);
  EXPECT_EQ(stale.pair, 40u);
  EXPECT_EQ(stale.stream_a, 180u);
  EXPECT_EQ(stale.stream_b, 181u);
  ASSERT_EQ(server_.Requests("allocate").size(), 1u);
  EXPECT_EQ(server_.Requests("allocate")[0]["label"], "ng:5:0:new-owner");

  // Pair 8 (the reused id) and 9 are nobody's now; 10 is another owner's.
  std::vector<uint64_t> strangers = repush.Strangers();
  std::sort(strangers.begin(), strangers.end());
  EXPECT_EQ(strangers, (std::vector<uint64_t>{8, 9}));
}

TEST_F(PairRepushTest, AFailedAllocationLeavesTheIdsAsTheyWere) {
  fail_allocations_ = true;
  PairRepush repush(*link_, "ng:");
  PairIds ids{3, 5, 6};
  absl::StatusOr<bool> fresh = repush.Keep(ids, "ng:4:0:lost", LegSpec{}, LegSpec{});
  EXPECT_FALSE(fresh.ok());
  EXPECT_EQ(ids.pair, 3u);
  EXPECT_EQ(ids.stream_a, 5u);
  EXPECT_EQ(ids.stream_b, 6u);
  EXPECT_EQ(repush.Strangers().size(), 3u);  // 7, 8, 9: none kept
}

}  // namespace
}  // namespace rtplatch
