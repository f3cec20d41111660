#include "dataplane/fastpath/flow_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <vector>

namespace rtplatch {
namespace {

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

RelayAddresses TwoAddresses() {
  return *RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")});
}

TEST(FlowTableTest, SlotIsAddressTimesRangePlusPortOffset) {
  auto table = FlowTable::Create(TwoAddresses(), 20000, 20099);
  ASSERT_TRUE(table.ok()) << table.status();
  FlowTable& t = **table;
  EXPECT_EQ(t.ports_per_address(), 100u);
  EXPECT_EQ(t.size(), 200u);
  EXPECT_EQ(t.bytes(), 200u * sizeof(Flow));
  EXPECT_EQ(t.SlotOf(0, 20000), 0u);
  EXPECT_EQ(t.SlotOf(0, 20001), 1u);  // RTCP sits next to its RTP port
  EXPECT_EQ(t.SlotOf(1, 20000), 100u);
  EXPECT_EQ(t.SlotOf(1, 20099), 199u);
  for (uint32_t slot : {0u, 57u, 100u, 199u}) {
    EXPECT_EQ(t.SlotOf(t.AddressIdOf(slot), t.PortOf(slot)), slot) << slot;
  }
}

TEST(FlowTableTest, PortsOutsideTheRangeHaveNoSlot) {
  auto table = FlowTable::Create(TwoAddresses(), 20000, 20099);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ((*table)->SlotOf(0, 19999), kNoSlot);
  EXPECT_EQ((*table)->SlotOf(0, 20100), kNoSlot);
  EXPECT_EQ((*table)->SlotOf(1, 65535), kNoSlot);
}

TEST(FlowTableTest, RangeRoundsToWholeRtpRtcpPairsOnEvenPorts) {
  auto table = FlowTable::Create(TwoAddresses(), 20001, 20010);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->port_min(), 20002);  // RTP on even ports
  EXPECT_EQ((*table)->ports_per_address(), 8u);  // 20002..20009: four pairs
}

TEST(FlowTableTest, NewTableIsAllFree) {
  auto table = FlowTable::Create(TwoAddresses(), 20000, 20099);
  ASSERT_TRUE(table.ok());
  for (uint32_t slot = 0; slot < (*table)->size(); ++slot) {
    ASSERT_EQ((*table)->at(slot).state, LatchState::kFree) << slot;
  }
}

TEST(FlowTableTest, BadRangesAreErrorsNamingThem) {
  for (auto [lo, hi] : std::vector<std::pair<uint16_t, uint16_t>>{
           {0, 100}, {20000, 19999}, {20000, 20002}}) {
    auto table = FlowTable::Create(TwoAddresses(), lo, hi);
    ASSERT_FALSE(table.ok()) << lo << ".." << hi;
    EXPECT_THAT(std::string(table.status().message()), ::testing::HasSubstr("port range"));
  }
}

// Standby addresses follow the fixed ones, not held; a standby address
// that repeats a fixed one, or too many in all, is refused by name.
TEST(RelayAddressesTest, StandbyAddressesFollowTheFixedOnesNotHeld) {
  auto addrs = RelayAddresses::Create({Ip("203.0.113.10")}, {Ip("203.0.113.70"), Ip("2001:db8::70")});
  ASSERT_TRUE(addrs.ok()) << addrs.status();
  EXPECT_EQ(addrs->size(), 3u);
  EXPECT_FALSE(addrs->is_standby(0));
  EXPECT_TRUE(addrs->held(0));
  EXPECT_FALSE(addrs->holding().announcing()) << "a fixed address is announced by no one";
  EXPECT_EQ(addrs->Find(Ip("203.0.113.70")), 1);
  EXPECT_EQ(addrs->Find(Ip("2001:db8::70")), 2);
  EXPECT_EQ(addrs->Find(Ip("203.0.113.99")), kNoAddress);
  EXPECT_TRUE(addrs->is_standby(1));
  EXPECT_FALSE(addrs->held(1));
  EXPECT_FALSE(addrs->held(2));

  auto repeated = RelayAddresses::Create({Ip("203.0.113.10")}, {Ip("203.0.113.10")});
  ASSERT_FALSE(repeated.ok());
  EXPECT_THAT(std::string(repeated.status().message()),
              ::testing::HasSubstr("standby_addresses: duplicate 203.0.113.10"));
  std::vector<IpAddress> many;
  for (int i = 1; i <= 128; ++i) many.push_back(Ip(("2001:db8::" + std::to_string(i)).c_str()));
  auto too_many = RelayAddresses::Create({Ip("203.0.113.10")}, many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(std::string(too_many.status().message()), ::testing::HasSubstr("at most 128"));
}

// In a child process: lowers the address-space limit so a table of 128
// addresses x the whole port range (~1 GiB) cannot be allocated, and exits
// 0 only if Create says so with an error naming the fields that sized it.
[[noreturn]] void CreateUnderATightMemoryLimit() {
  std::vector<IpAddress> many;
  for (int i = 1; i <= 128; ++i) many.push_back(*IpAddress::Parse("2001:db8::" + std::to_string(i)));
  const rlim_t limit = rlim_t{512} << 20;
  const rlimit rl{limit, limit};
  if (setrlimit(RLIMIT_AS, &rl) != 0) std::exit(3);
  auto table = FlowTable::Create(*RelayAddresses::Create(many), 2, 65535);
  if (table.ok()) std::exit(4);
  const std::string why(table.status().message());
  const bool names_fields = why.find("relay_addresses") != std::string::npos &&
                            why.find("port_min..port_max") != std::string::npos;
  std::exit(absl::IsResourceExhausted(table.status()) && names_fields ? 0 : 5);
}

// A table too large for the memory the process may have is a startup
// error, not an uncaught std::bad_alloc.
TEST(FlowTableDeathTest, TooLargeForMemoryIsAClearError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan reserves terabytes of shadow memory: RLIMIT_AS cannot apply";
#else
  EXPECT_EXIT(CreateUnderATightMemoryLimit(), ::testing::ExitedWithCode(0), "");
#endif
}

}  // namespace
}  // namespace rtplatch
