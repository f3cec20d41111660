#include "control/registrar/binding_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Endpoint Ep(absl::string_view text) { return *Endpoint::Parse(text); }

Binding Make(absl::string_view aor, absl::string_view contact, int64_t expires_at) {
  Binding b;
  b.aor = std::string(aor);
  b.contact_uri = std::string(contact);
  b.expires_at = expires_at;
  b.call_id = absl::StrCat("call-", aor, "-", contact);
  b.cseq = 7;
  b.user_agent = "Yealink SIP-T46S 66.86.0.15";
  b.source = Ep("203.0.113.9:40000");
  b.local_socket = Ep("192.0.2.1:5060");
  return b;
}

std::vector<std::string> Contacts(const std::vector<Binding>& list) {
  std::vector<std::string> out;
  for (const Binding& b : list) out.push_back(b.contact_uri);
  return out;
}

TEST(BindingTableTest, EveryFieldComesBackAsItWentIn) {
  BindingTable table;
  Binding b = Make("alice@example.com", "sip:alice@198.51.100.7:5062;ob", 1700000600);
  b.transport = Binding::Transport::kTls;
  b.source = Ep("[2001:db8::7]:5061");
  b.behind_nat = true;
  b.nat_reasons = {"contact_private", "source_port_differs"};
  b.keepalive_interval_ms = 25000;
  b.keepalive_reason = "learned: NAT timeout 30 s";
  b.keepalive_learning = true;
  b.q_milli = 500;
  b.cseq = 4294967295u;
  table.Put(b);
  EXPECT_EQ(table.Find("alice@example.com", "sip:alice@198.51.100.7:5062;ob"), b);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_FALSE(table.Find("alice@example.com", "sip:other@198.51.100.7"));
  EXPECT_FALSE(table.Find("bob@example.com", "sip:alice@198.51.100.7:5062;ob"));
}

TEST(BindingTableTest, PuttingTheSameKeyAgainReplacesIt) {
  BindingTable table;
  table.Put(Make("alice@example.com", "sip:a@198.51.100.7", 100));
  Binding refreshed = Make("alice@example.com", "sip:a@198.51.100.7", 400);
  refreshed.call_id = "a-much-longer-call-id-than-before@198.51.100.7";
  refreshed.user_agent = "";
  refreshed.cseq = 8;
  table.Put(refreshed);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.Find("alice@example.com", "sip:a@198.51.100.7"), refreshed);
  // The refresh moved its expiry: not taken at the old second.
  std::vector<Binding> taken;
  EXPECT_EQ(table.TakeExpired(100, 10, taken), 0u);
  EXPECT_EQ(table.TakeExpired(400, 10, taken), 1u);
}

// The NAT'd count (a metrics gauge) follows puts, replacements, removals
// and expiry without a walk.
TEST(BindingTableTest, NattedCountFollowsEveryChange) {
  BindingTable table;
  Binding natted = Make("alice@example.com", "sip:a@192.0.2.7", 100);
  natted.behind_nat = true;
  table.Put(natted);
  table.Put(Make("bob@example.com", "sip:b@198.51.100.8", 100));
  EXPECT_EQ(table.natted(), 1u);
  natted.behind_nat = false;  // re-registered from a public address
  table.Put(natted);
  EXPECT_EQ(table.natted(), 0u);
  natted.behind_nat = true;
  table.Put(natted);
  Binding carol = Make("carol@example.com", "sip:c@192.0.2.9", 50);
  carol.behind_nat = true;
  table.Put(carol);
  EXPECT_EQ(table.natted(), 2u);
  EXPECT_TRUE(table.Remove("alice@example.com", "sip:a@192.0.2.7"));
  EXPECT_EQ(table.natted(), 1u);
  std::vector<Binding> taken;
  EXPECT_EQ(table.TakeExpired(50, 10, taken), 1u);  // carol
  EXPECT_EQ(table.natted(), 0u);
  EXPECT_EQ(table.size(), 1u);
}

TEST(BindingTableTest, AnAorsBindingsComeInTheOrderTheyWerePut) {
  BindingTable table;
  for (const char* c : {"sip:c@198.51.100.1", "sip:a@198.51.100.1", "sip:b@198.51.100.1"}) {
    table.Put(Make("alice@example.com", c, 100));
  }
  table.Put(Make("bob@example.com", "sip:b@198.51.100.2", 100));
  EXPECT_THAT(Contacts(table.Get("alice@example.com")),
              ElementsAre("sip:c@198.51.100.1", "sip:a@198.51.100.1", "sip:b@198.51.100.1"));
  EXPECT_THAT(table.Get("carol@example.com"), IsEmpty());
}

TEST(BindingTableTest, RemovingTheFirstMiddleOrLastOfAnAorKeepsTheRest) {
  BindingTable table;
  for (const char* c : {"sip:1@198.51.100.1", "sip:2@198.51.100.1", "sip:3@198.51.100.1",
                        "sip:4@198.51.100.1"}) {
    table.Put(Make("alice@example.com", c, 100));
  }
  Binding removed;
  EXPECT_TRUE(table.Remove("alice@example.com", "sip:1@198.51.100.1", &removed));
  EXPECT_EQ(removed.contact_uri, "sip:1@198.51.100.1");
  EXPECT_TRUE(table.Remove("alice@example.com", "sip:3@198.51.100.1"));
  EXPECT_TRUE(table.Remove("alice@example.com", "sip:4@198.51.100.1"));
  EXPECT_FALSE(table.Remove("alice@example.com", "sip:4@198.51.100.1"));
  EXPECT_FALSE(table.Remove("nobody@example.com", "sip:2@198.51.100.1"));
  EXPECT_THAT(Contacts(table.Get("alice@example.com")), ElementsAre("sip:2@198.51.100.1"));
  EXPECT_TRUE(table.Remove("alice@example.com", "sip:2@198.51.100.1"));
  EXPECT_THAT(table.Get("alice@example.com"), IsEmpty());
  EXPECT_EQ(table.size(), 0u);
}

TEST(BindingTableTest, ExpiredBindingsAreTakenEarliestFirstWithinTheBudget) {
  BindingTable table;
  table.Put(Make("c@example.com", "sip:c@198.51.100.1", 30));
  table.Put(Make("a@example.com", "sip:a@198.51.100.1", 10));
  table.Put(Make("b@example.com", "sip:b@198.51.100.1", 20));
  table.Put(Make("d@example.com", "sip:d@198.51.100.1", 90));
  EXPECT_FALSE(table.HasExpired(9));
  EXPECT_TRUE(table.HasExpired(10));
  std::vector<Binding> taken;
  EXPECT_EQ(table.TakeExpired(50, 2, taken), 2u);
  EXPECT_THAT(Contacts(taken), ElementsAre("sip:a@198.51.100.1", "sip:b@198.51.100.1"));
  EXPECT_TRUE(table.HasExpired(50));
  EXPECT_EQ(table.TakeExpired(50, 2, taken), 1u);
  EXPECT_FALSE(table.HasExpired(50));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_FALSE(table.Find("b@example.com", "sip:b@198.51.100.1"));
}

// The store's row rides with the binding: a refresh names it, expiry
// hands it back so the row can be deleted.
TEST(BindingTableTest, KeepsEachBindingsStoreRow) {
  BindingTable table;
  table.Put(Make("a@example.com", "sip:a@198.51.100.1", 10), 7);
  table.Put(Make("b@example.com", "sip:b@198.51.100.1", 20), 8);
  EXPECT_EQ(table.RowOf("a@example.com", "sip:a@198.51.100.1"), std::optional<BindingRow>(7));
  EXPECT_EQ(table.RowOf("a@example.com", "sip:nobody@198.51.100.1"), std::nullopt);
  table.Put(Make("a@example.com", "sip:a@198.51.100.1", 30), 7);
  std::vector<Binding> taken;
  std::vector<BindingRow> rows;
  EXPECT_EQ(table.TakeExpired(40, 10, taken, &rows), 2u);
  EXPECT_THAT(rows, ElementsAre(8, 7)) << "earliest expiry first, each with its row";
}

// A restart's bulk load builds the same order as putting one by one:
// AORs sharing their first 16 bytes, AORs that are prefixes of others,
// several contacts per AOR, and a key loaded twice (its later row wins).
TEST(BindingTableTest, BulkLoadOrdersAsPutsDo) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const char* aor : {"bench000123@bench.example", "bench000122@bench.example",
                          "bench000123@bench.exampl", "b@x", "b", "+493012345678901@a.example",
                          "+493012345678900@a.example", "zed@example.com"}) {
    for (const char* contact : {"sip:2@198.51.100.1", "sip:1@198.51.100.1"}) {
      keys.emplace_back(aor, contact);
    }
  }
  std::mt19937 rng(7);
  std::shuffle(keys.begin(), keys.end(), rng);
  BindingTable one_by_one;
  BindingTable bulk;
  bulk.BeginBulkLoad(keys.size());
  BindingRow row = 0;
  for (const auto& [aor, contact] : keys) {
    one_by_one.Put(Make(aor, contact, 100), ++row);
    EXPECT_EQ(bulk.Put(Make(aor, contact, 100), row), std::nullopt);
  }
  EXPECT_EQ(bulk.Put(Make(keys[0].first, keys[0].second, 100), 999), std::optional<BindingRow>(1))
      << "a key loaded twice says which row it had";
  bulk.EndBulkLoad();
  std::vector<std::string> want, got;
  one_by_one.ForEachOrdered([&](const Binding& b) {
    want.push_back(b.aor + " " + b.contact_uri);
    return true;
  });
  bulk.ForEachOrdered([&](const Binding& b) {
    got.push_back(b.aor + " " + b.contact_uri);
    return true;
  });
  EXPECT_EQ(got, want);
  EXPECT_EQ(bulk.RowOf(keys[0].first, keys[0].second), std::optional<BindingRow>(999));
  bulk.Put(Make("a@new.example", "sip:a@198.51.100.1", 100), 1000);
  got.clear();
  bulk.ForEachOrdered([&](const Binding& b) {
    got.push_back(b.aor);
    return true;
  });
  EXPECT_EQ(got.front(), "+493012345678900@a.example");
  EXPECT_EQ(got.size(), keys.size() + 1);
}

TEST(BindingTableTest, WalksInAorThenContactOrderAndStopsWhenAsked) {
  BindingTable table;
  table.Put(Make("bob@example.com", "sip:z@198.51.100.1", 100));
  table.Put(Make("alice@example.com", "sip:y@198.51.100.1", 100));
  table.Put(Make("bob@example.com", "sip:a@198.51.100.1", 100));
  table.Put(Make("carol@example.com", "sip:c@198.51.100.1", 100));
  std::vector<std::string> aors;
  table.ForEachAor("", [&](absl::string_view aor) {
    aors.emplace_back(aor);
    return true;
  });
  EXPECT_THAT(aors, ElementsAre("alice@example.com", "bob@example.com", "carol@example.com"));
  // A walk resumes after an AOR, whether or not it is still held.
  for (const char* after : {"alice@example.com", "b", "bob@example.com"}) {
    aors.clear();
    table.ForEachAor(after, [&](absl::string_view aor) {
      aors.emplace_back(aor);
      return true;
    });
    EXPECT_EQ(aors.back(), "carol@example.com") << after;
    EXPECT_EQ(aors.size(), std::string(after) == "bob@example.com" ? 1u : 2u) << after;
  }
  std::vector<std::string> keys;
  table.ForEachOrdered([&](const Binding& b) {
    keys.push_back(absl::StrCat(b.aor, " ", b.contact_uri));
    return keys.size() < 3;
  });
  EXPECT_THAT(keys, ElementsAre("alice@example.com sip:y@198.51.100.1",
                                "bob@example.com sip:a@198.51.100.1",
                                "bob@example.com sip:z@198.51.100.1"));
}

// Random puts, removes and expiries against a std::map: whatever the
// order, freed records reused and chains relinked, the table holds what
// the map holds.
TEST(BindingTableTest, AgreesWithASimpleMapThroughRandomChanges) {
  BindingTable table;
  std::map<std::pair<std::string, std::string>, Binding> model;
  std::mt19937 rng(17);
  int64_t now = 0;
  for (int step = 0; step < 20000; ++step) {
    const std::string aor = absl::StrCat("u", rng() % 40, "@example.com");
    const std::string contact = absl::StrCat("sip:c", rng() % 4, "@198.51.100.1");
    switch (rng() % 4) {
      case 0:
      case 1: {
        Binding b = Make(aor, contact, now + 1 + rng() % 50);
        b.user_agent = absl::StrCat("agent ", rng() % 3);
        table.Put(b);
        model[{aor, contact}] = b;
        break;
      }
      case 2:
        EXPECT_EQ(table.Remove(aor, contact), model.erase({aor, contact}) == 1);
        break;
      case 3: {
        ++now;
        std::vector<Binding> taken;
        table.TakeExpired(now, 3, taken);
        for (const Binding& b : taken) {
          EXPECT_LE(b.expires_at, now);
          EXPECT_EQ(model.erase({b.aor, b.contact_uri}), 1u);
        }
        break;
      }
    }
    ASSERT_EQ(table.size(), model.size()) << "step " << step;
  }
  std::vector<Binding> walked;
  table.ForEachOrdered([&](const Binding& b) {
    walked.push_back(b);
    return true;
  });
  std::vector<Binding> expected;
  for (const auto& [key, b] : model) expected.push_back(b);
  EXPECT_EQ(walked, expected);
}

}  // namespace
}  // namespace rtplatch
