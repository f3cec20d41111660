// OperatorCommands against a fake OperatorView: every command, the filters
// and paging, every error path, and a table of malformed requests that must
// each come back as one error reply naming the bad input (never a throw).
#include "control/operator/operator_commands.h"
#include "tests/control/operator/view_slices.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'700'000'000;

Endpoint Ep(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : Endpoint{};
}

Binding MakeBinding(std::string aor, std::string contact, int64_t expires_in,
                    bool natted, std::string user_agent, uint16_t q_milli = 1000) {
  Binding b;
  b.aor = std::move(aor);
  b.contact_uri = std::move(contact);
  b.expires_at = kNow + expires_in;
  b.call_id = absl::StrCat("cid-", b.contact_uri);
  b.cseq = 7;
  b.user_agent = std::move(user_agent);
  b.source = natted ? Ep("203.0.113.40:31000") : Ep("192.0.2.10:5060");
  b.local_socket = Ep("203.0.113.10:5060");
  b.behind_nat = natted;
  if (natted) {
    b.nat_reasons = {"via_inside", "contact_inside"};
    b.keepalive_interval_ms = 25000;
    b.keepalive_reason = "policy default";
  }
  b.q_milli = q_milli;
  return b;
}

class FakeView : public OperatorView {
 public:
  std::string ScanRegistrations(absl::string_view after, size_t budget, int64_t now,
                                absl::FunctionRef<void(const Binding&)> fn) const override {
    ++scans;
    return ScanSorted(LiveSorted(now), after, budget, fn);
  }
  // As the registrar's Lookup: the AOR's live ones, its order.
  std::vector<Binding> RegistrationsOf(absl::string_view aor, int64_t now) const override {
    return BindingsOfAor(LiveSorted(now), aor);
  }
  std::vector<Binding> RegistrationsPage(size_t offset, size_t limit,
                                         int64_t now) const override {
    return SliceOf(LiveSorted(now), offset, limit);
  }
  size_t RegistrationCount() const override { return LiveSorted(now).size(); }
  // By AOR, then as the registrar ranks an AOR's bindings.
  std::vector<Binding> LiveSorted(int64_t at) const {
    if (throw_) throw std::runtime_error("view exploded");
    last_now_ = at;
    std::vector<Binding> out;
    for (const Binding& b : bindings) {
      if (b.expires_at > at) out.push_back(b);
    }
    return OperatorOrder(std::move(out));
  }
  mutable int scans = 0;
  json Calls() const override {
    if (throw_) throw std::runtime_error("view exploded");
    return calls;
  }
  json Stats() const override {
    if (throw_) throw std::runtime_error("view exploded");
    return stats;
  }
  json Peers() const override { return peers; }
  int64_t Now() const override { return now; }
  absl::StatusOr<json> SetNgDraining(bool on) override {
    if (!ng_served) return absl::NotFoundError("ng: not served");
    draining = on;
    return json{{"draining", on}, {"calls", 2}};
  }
  absl::StatusOr<json> SetDraining(bool on) override {
    draining = on;
    return json{{"draining", on}, {"calls", 3}};
  }
  absl::StatusOr<json> Reload() override {
    ++reloads;
    if (!reload_error.empty()) return absl::InvalidArgumentError(reload_error);
    return json{{"users", 5}, {"restart_needed", json::array()}};
  }
  int reloads = 0;
  std::string reload_error;
  json Bans() const override { return bans; }
  absl::StatusOr<json> Unban(const IpAddress& source) override {
    for (size_t i = 0; i < bans.size(); ++i) {
      if (bans[i]["source"] == source.ToString()) {
        bans.erase(i);
        return json{{"unbanned", source.ToString()}};
      }
    }
    return absl::NotFoundError(absl::StrCat("source: ", source.ToString(), " is not banned"));
  }

  json bans = json::array();

  bool ng_served = true;
  bool draining = false;
  std::vector<Binding> bindings;
  json calls = json::array();
  json stats = json::object();
  json peers = json::array();
  int64_t now = kNow;
  bool throw_ = false;
  mutable int64_t last_now_ = 0;
};

// Follows `next` from the start with `request` (natted, limit, ...): every
// binding shown, as "aor contact", and how many calls it took.
struct Followed {
  std::vector<std::string> shown;
  int calls = 0;
};

class OperatorCommandsTest : public ::testing::Test {
 protected:
  OperatorCommandsTest() {
    // Deliberately out of order: the reply sorts.
    view_.bindings = {
        MakeBinding("carol@example.com", "sip:carol@192.0.2.30", 600, false,
                    "Linphone/5.2"),
        MakeBinding("alice@example.com", "sip:alice@192.0.2.10;ob", 300, true,
                    "Yealink SIP-T46S 66.86.0.15", 500),
        MakeBinding("alice@example.com", "sip:alice@198.51.100.2", 3600, false,
                    "Zoiper rv2.10"),
        MakeBinding("bob@example.com", "sips:bob@192.0.2.20", 120, true,
                    "Yealink SIP-W60B"),
        MakeBinding("dave@example.com", "sip:dave@192.0.2.40", 0, false,
                    "expired"),  // expires_at == now: not live
    };
    view_.bindings[1].transport = Binding::Transport::kTcp;
    view_.calls = json::array({
        {{"call_id", "a84b4c76e66710"}, {"state", "confirmed"},
         {"caller", "alice@example.com"}, {"callee", "bob@example.com"},
         {"legs", json::array({{{"tag", "1928301774"}}})}, {"pairs", json::array({3})}},
        {{"call_id", "b84b4c76e66711"}, {"state", "early"},
         {"caller", "bob@example.com"}, {"callee", "carol@example.com"},
         {"legs", json::array()}, {"pairs", json::array()}},
        {{"call_id", "c84b4c76e66712"}, {"state", "terminating"},
         {"caller", "carol@example.com"}, {"callee", "alice@example.com"},
         {"legs", json::array()}, {"pairs", json::array({5, 6})}},
    });
    view_.stats = {{"requests", 42}, {"registrations", 4}, {"calls", 3}};
  }

  // One request line in, the reply parsed; checks the envelope.
  json Send(const std::string& line) {
    bool subscribe = true;
    std::string reply = commands_.Handle(line, &subscribe);
    EXPECT_FALSE(subscribe);
    EXPECT_EQ(reply.find('\n'), std::string::npos) << "one line";
    json j = json::parse(reply, nullptr, false);
    EXPECT_TRUE(j.is_object()) << reply;
    if (!j.is_object()) return json::object();
    EXPECT_EQ(j["v"], 1) << reply;
    EXPECT_TRUE(j["ok"].is_boolean()) << reply;
    EXPECT_TRUE(j.contains("id")) << reply;
    if (j["ok"] == true) {
      EXPECT_TRUE(j.contains("result")) << reply;
    } else {
      EXPECT_TRUE(j["error"]["code"].is_string()) << reply;
      EXPECT_TRUE(j["error"]["message"].is_string()) << reply;
    }
    return j;
  }
  json Send(const std::string& cmd, json args) {
    args["v"] = 1;
    args["id"] = "t1";
    args["cmd"] = cmd;
    return Send(args.dump());
  }
  // The result of a request that must succeed.
  json Ok(const std::string& cmd, json args = json::object()) {
    json reply = Send(cmd, std::move(args));
    EXPECT_EQ(reply["ok"], true) << reply.dump();
    EXPECT_EQ(reply["id"], "t1");
    return reply.value("result", json());
  }
  // The error code of a request that must fail.
  std::string ErrorCodeOf(const std::string& cmd, json args) {
    json reply = Send(cmd, std::move(args));
    EXPECT_EQ(reply["ok"], false) << reply.dump();
    return reply.contains("error") ? reply["error"].value("code", "") : "";
  }
  // Every page must show at least one binding.
  Followed Follow(const json& request) {
    Followed f;
    std::string after;
    do {
      json page = request;
      if (!after.empty()) page["after"] = after;
      json r = Ok("registrations", page);
      ++f.calls;
      EXPECT_GE(r["registrations"].size(), 1u);
      for (const json& b : r["registrations"]) {
        f.shown.push_back(
            absl::StrCat(b["aor"].get<std::string>(), " ", b["contact"].get<std::string>()));
      }
      after = r.contains("next") ? r["next"].get<std::string>() : "";
    } while (!after.empty() && f.calls < 1000);
    return f;
  }
  // The error of a request that must fail.
  json Err(const std::string& cmd, json args = json::object()) {
    json reply = Send(cmd, std::move(args));
    EXPECT_EQ(reply["ok"], false) << reply.dump();
    return reply.value("error", json::object());
  }

  static std::vector<std::string> Contacts(const json& list) {
    std::vector<std::string> out;
    for (const json& r : list) out.push_back(r["contact"].get<std::string>());
    return out;
  }

  FakeView view_;
  OperatorCommands commands_{view_};
};

TEST_F(OperatorCommandsTest, NgDrainTurnsOnAndOff) {
  EXPECT_EQ(Ok("ng_drain", {{"on", true}})["draining"], true);
  EXPECT_TRUE(view_.draining);
  EXPECT_EQ(Ok("ng_drain", {{"on", false}})["draining"], false);
  EXPECT_FALSE(view_.draining);
  EXPECT_EQ(Err("ng_drain")["message"], "on: required (true or false)");
  EXPECT_EQ(Err("ng_drain", {{"on", "yes"}})["code"], "invalid_argument");
  view_.ng_served = false;
  const json refused = Err("ng_drain", {{"on", true}});
  EXPECT_EQ(refused["code"], "not_found") << refused;
}

TEST_F(OperatorCommandsTest, BansListsTheGuardsBansAndUnbanLiftsOne) {
  view_.bans = json::array({{{"source", "203.0.113.66"}, {"reason", "flood"}},
                            {{"source", "2001:db8::66"}, {"reason", "auth"}}});
  json r = Ok("bans");
  EXPECT_EQ(r["total"], 2);
  EXPECT_EQ(r["bans"][1]["reason"], "auth");
  EXPECT_EQ(Ok("unban", {{"source", "2001:db8::66"}})["unbanned"], "2001:db8::66");
  EXPECT_EQ(Ok("bans")["total"], 1);
  EXPECT_EQ(Err("unban", {{"source", "2001:db8::66"}})["code"], "not_found");
  EXPECT_EQ(Err("unban", {{"source", "example.test"}})["message"],
            "source: 'example.test' is not an address");
  EXPECT_EQ(Err("unban")["code"], "invalid_argument");
}

TEST_F(OperatorCommandsTest, Version) {
  json r = Ok("version");
  EXPECT_EQ(r["protocol"], 1);
  EXPECT_TRUE(r["software"].is_string());
}

TEST_F(OperatorCommandsTest, HelpListsEveryCommandWithItsArguments) {
  json r = Ok("help");
  std::vector<std::string> names;
  for (const json& c : r["commands"]) {
    names.push_back(c["name"].get<std::string>());
    EXPECT_FALSE(c["help"].get<std::string>().empty());
    EXPECT_TRUE(c["args"].is_array());
  }
  EXPECT_THAT(names, ElementsAre("version", "help", "registrations", "registration", "calls",
                                 "call", "stats", "cluster", "peers", "reload", "log_level", "drain",
                                 "ng_drain", "bans",
                                 "unban", "vip_take", "vip_release", "vip_check"));
  EXPECT_EQ(r["commands"][2]["args"],
            json::array({"aor", "natted", "user_agent", "after", "offset", "limit"}));
}

// A single node (the view's default) says so; a cluster's view answers
// for itself (control_plane's Cluster, cluster_bindings_test.sh).
// drain: the node's (no ng server needed), told on or off.
TEST_F(OperatorCommandsTest, DrainNeedsOnAndReachesTheView) {
  EXPECT_EQ(ErrorCodeOf("drain", {}), "invalid_argument");
  EXPECT_EQ(ErrorCodeOf("drain", {{"on", "yes"}}), "invalid_argument");
  EXPECT_EQ(Ok("drain", {{"on", true}}), json({{"draining", true}, {"calls", 3}}));
}

// reload: the view's answer, or its error as the reply's.
TEST_F(OperatorCommandsTest, ReloadReachesTheViewAndCarriesItsError) {
  EXPECT_EQ(Ok("reload"), json({{"users", 5}, {"restart_needed", json::array()}}));
  view_.reload_error = "reload refused, running config kept: users: line 3: no secret";
  EXPECT_EQ(ErrorCodeOf("reload", {}), "invalid_argument");
  EXPECT_EQ(view_.reloads, 2);
}

TEST_F(OperatorCommandsTest, ClusterOfASingleNodeSaysNotEnabled) {
  EXPECT_EQ(Ok("cluster"), json({{"enabled", false}}));
}

// vip_take on a single node: not found; a malformed address: said so,
// before the view is asked (vip_failover_test.sh takes real ones).
TEST_F(OperatorCommandsTest, VipTakeNeedsAClusterAndAnAddress) {
  EXPECT_EQ(ErrorCodeOf("vip_take", {{"address", "203.0.113.70"}}), "not_found");
  EXPECT_EQ(ErrorCodeOf("vip_release", {{"address", "vip-1"}}), "invalid_argument");
  EXPECT_EQ(ErrorCodeOf("vip_take", {}), "invalid_argument");
  EXPECT_EQ(ErrorCodeOf("vip_check", {{"address", "203.0.113.70"}}), "not_found");
}

TEST_F(OperatorCommandsTest, RegistrationsListsLiveBindingsSortedByAorThenRank) {
  json r = Ok("registrations");
  EXPECT_EQ(r["total"], 4);
  // alice: q 1.0 before q 0.5; dave's binding expired at now.
  EXPECT_THAT(Contacts(r["registrations"]),
              ElementsAre("sip:alice@198.51.100.2", "sip:alice@192.0.2.10;ob",
                          "sips:bob@192.0.2.20", "sip:carol@192.0.2.30"));
  EXPECT_EQ(view_.last_now_, kNow);
}

TEST_F(OperatorCommandsTest, RegistrationObjectHasEveryField) {
  json r = Ok("registrations", {{"aor", "alice@example.com"}, {"natted", true}});
  ASSERT_EQ(r["registrations"].size(), 1u);
  EXPECT_EQ(r["registrations"][0],
            json::parse(R"({
              "aor": "alice@example.com", "contact": "sip:alice@192.0.2.10;ob",
              "expires_in": 300, "call_id": "cid-sip:alice@192.0.2.10;ob", "cseq": 7,
              "user_agent": "Yealink SIP-T46S 66.86.0.15", "source": "203.0.113.40:31000",
              "transport": "tcp", "local_socket": "203.0.113.10:5060", "behind_nat": true,
              "nat_reasons": ["via_inside", "contact_inside"],
              "keepalive_interval_ms": 25000, "keepalive_reason": "policy default",
              "keepalive_learning": false, "q": 0.5})"));
}

TEST_F(OperatorCommandsTest, QIsPrintedAsADecimalNumber) {
  bool subscribe = false;
  std::string reply = commands_.Handle(
      R"({"v":1,"cmd":"registrations","aor":"alice@example.com","natted":true})", &subscribe);
  EXPECT_THAT(reply, HasSubstr("\"q\":0.5"));
  view_.bindings[1].q_milli = 700;
  reply = commands_.Handle(
      R"({"v":1,"cmd":"registrations","aor":"alice@example.com","natted":true})", &subscribe);
  EXPECT_THAT(reply, HasSubstr("\"q\":0.7"));
}

TEST_F(OperatorCommandsTest, ExpiresInCountsFromTheViewsClock) {
  view_.now = kNow + 100;
  json r = Ok("registrations", {{"aor", "bob@example.com"}});
  EXPECT_EQ(r["registrations"][0]["expires_in"], 20);
  view_.now = kNow + 120;  // bob's binding expires now
  EXPECT_EQ(Ok("registrations", {{"aor", "bob@example.com"}})["total"], 0);
}

TEST_F(OperatorCommandsTest, FilterByAorIsExactAndIgnoresASipScheme) {
  EXPECT_EQ(Ok("registrations", {{"aor", "alice@example.com"}})["total"], 2);
  EXPECT_EQ(Ok("registrations", {{"aor", "sip:alice@example.com"}})["total"], 2);
  EXPECT_EQ(Ok("registrations", {{"aor", "SIPS:alice@example.com"}})["total"], 2);
  EXPECT_EQ(Ok("registrations", {{"aor", "alice@example"}})["total"], 0);
  EXPECT_EQ(Ok("registrations", {{"aor", "Alice@example.com"}})["total"], 0);
}

TEST_F(OperatorCommandsTest, FilterByNatted) {
  EXPECT_THAT(Contacts(Ok("registrations", {{"natted", true}})["registrations"]),
              ElementsAre("sip:alice@192.0.2.10;ob", "sips:bob@192.0.2.20"));
  EXPECT_THAT(Contacts(Ok("registrations", {{"natted", false}})["registrations"]),
              ElementsAre("sip:alice@198.51.100.2", "sip:carol@192.0.2.30"));
  EXPECT_EQ(Ok("registrations", {{"natted", nullptr}})["total"], 4);  // null: not given
}

TEST_F(OperatorCommandsTest, FilterByUserAgentSubstring) {
  EXPECT_THAT(Contacts(Ok("registrations", {{"user_agent", "Yealink"}})["registrations"]),
              ElementsAre("sip:alice@192.0.2.10;ob", "sips:bob@192.0.2.20"));
  EXPECT_EQ(Ok("registrations", {{"user_agent", "W60"}})["total"], 1);
  EXPECT_EQ(Ok("registrations", {{"user_agent", ""}})["total"], 4);
  EXPECT_EQ(Ok("registrations", {{"user_agent", "Polycom"}})["total"], 0);
}

TEST_F(OperatorCommandsTest, FiltersCombine) {
  json r = Ok("registrations",
              {{"aor", "alice@example.com"}, {"natted", false}, {"user_agent", "Zoiper"}});
  EXPECT_THAT(Contacts(r["registrations"]), ElementsAre("sip:alice@198.51.100.2"));
  EXPECT_EQ(Ok("registrations",
               {{"aor", "bob@example.com"}, {"natted", false}})["total"], 0);
}

TEST_F(OperatorCommandsTest, RegistrationsPaging) {
  json r = Ok("registrations", {{"offset", 1}, {"limit", 2}});
  EXPECT_EQ(r["total"], 4);
  EXPECT_THAT(Contacts(r["registrations"]),
              ElementsAre("sip:alice@192.0.2.10;ob", "sips:bob@192.0.2.20"));
  r = Ok("registrations", {{"offset", 3}, {"limit", 10}});
  EXPECT_THAT(Contacts(r["registrations"]), ElementsAre("sip:carol@192.0.2.30"));
  r = Ok("registrations", {{"offset", 4}});
  EXPECT_EQ(r["total"], 4);
  EXPECT_TRUE(r["registrations"].empty());
  r = Ok("registrations", {{"offset", 1'000'000'000}});
  EXPECT_TRUE(r["registrations"].empty());
  r = Ok("registrations", {{"limit", 0}});
  EXPECT_EQ(r["total"], 4);
  EXPECT_TRUE(r["registrations"].empty());
}

TEST_F(OperatorCommandsTest, DefaultLimitIsAThousand) {
  view_.bindings.clear();
  for (int i = 0; i < 1005; ++i) {
    view_.bindings.push_back(MakeBinding(absl::StrCat("u", 10000 + i, "@example.com"),
                                         "sip:x@192.0.2.1", 60, false, "ua"));
  }
  json r = Ok("registrations");
  EXPECT_EQ(r["total"], 1005);
  EXPECT_EQ(r["registrations"].size(), 1000u);
  EXPECT_EQ(Ok("registrations", {{"offset", 1000}})["registrations"].size(), 5u);
}

TEST_F(OperatorCommandsTest, RegistrationListsOneAorsBindingsBestFirst) {
  json r = Ok("registration", {{"aor", "sip:alice@example.com"}});
  EXPECT_EQ(r["aor"], "alice@example.com");
  EXPECT_THAT(Contacts(r["bindings"]),
              ElementsAre("sip:alice@198.51.100.2", "sip:alice@192.0.2.10;ob"));
  EXPECT_EQ(r["bindings"][1]["q"], 0.5);
}

// Issue 17: one AOR costs that AOR's bindings, found by key, never a copy
// and sort of the whole table (which stalled SIP for 0.16 s at 100 000).
TEST_F(OperatorCommandsTest, OneAorIsLookedUpByKeyNotByListingEveryBinding) {
  Ok("registration", {{"aor", "alice@example.com"}});
  Ok("registrations", {{"aor", "alice@example.com"}, {"natted", true}});
  EXPECT_EQ(view_.scans, 0);
  // Nor does a page of the whole table: it is the registrar's ordered walk.
  Ok("registrations", {{"limit", 10}});
  EXPECT_EQ(view_.scans, 0);
  // A filter across AORs scans, a slice at a time (next test).
  Ok("registrations", {{"natted", true}});
  EXPECT_EQ(view_.scans, 1);
}

// Issue 17: pages far into the table go from a key, not an offset: the
// offset is walked, so a large one is refused with what to do instead.
TEST_F(OperatorCommandsTest, PagesGoOnFromAnAorAndLargeOffsetsAreRefused) {
  json first = Ok("registrations", {{"limit", 2}});
  ASSERT_EQ(first["registrations"].size(), 2u);
  // After alice (the first AOR): bob's and carol's, whole AORs.
  json r = Ok("registrations", {{"after", "alice@example.com"}, {"limit", 1}});
  ASSERT_GE(r["registrations"].size(), 1u);
  EXPECT_EQ(r["registrations"][0]["aor"], "bob@example.com");
  EXPECT_EQ(r["next"], "bob@example.com");
  json last = Ok("registrations", {{"after", "bob@example.com"}, {"limit", 100}});
  EXPECT_FALSE(last.contains("next")) << last.dump();
  for (const json& b : last["registrations"]) EXPECT_GT(b["aor"].get<std::string>(), "bob");
  // Past the end there is nothing to walk; inside a big table, a large
  // offset is refused.
  EXPECT_TRUE(Ok("registrations", {{"offset", 1000000}})["registrations"].empty());
  for (size_t i = 0; i < OperatorCommands::kMaxOffset + 10; ++i) {
    view_.bindings.push_back(MakeBinding(absl::StrFormat("z%06d@example.com", i),
                                         "sip:z@192.0.2.10", 600, false, "Yealink"));
  }
  json e = Err("registrations", {{"offset", OperatorCommands::kMaxOffset + 1}});
  EXPECT_EQ(e["code"], "invalid_argument");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("after"));
  EXPECT_EQ(Ok("registrations", {{"offset", OperatorCommands::kMaxOffset}})["registrations"].size(),
            4u + 10);
}

// A small page inside a slice: following `next` shows every match once,
// in order (the page takes the rest of its last AOR).
TEST_F(OperatorCommandsTest, FollowingNextWithSmallPagesShowsEveryMatchOnce) {
  view_.bindings.clear();
  for (int i = 0; i < 300; ++i) {
    for (int c = 0; c < 1 + i % 3; ++c) {
      view_.bindings.push_back(MakeBinding(absl::StrFormat("u%04d@example.com", i),
                                           absl::StrFormat("sip:c%d@192.0.2.10", c), 600,
                                           /*natted=*/true, "Yealink"));
    }
  }
  const Followed f = Follow({{"natted", true}, {"limit", 7}});
  std::vector<std::string> expected;
  for (const Binding& b : view_.LiveSorted(kNow)) {
    expected.push_back(absl::StrCat(b.aor, " ", b.contact_uri));
  }
  EXPECT_EQ(f.shown, expected);
}

// Issue 17: a filter across AORs looks at about kFilterScanBudget bindings
// a call and says where to go on; following `next` finds every match once.
TEST_F(OperatorCommandsTest, AFilterAcrossAorsLooksAtASliceAndSaysWhereToGoOn) {
  const size_t n = OperatorCommands::kFilterScanBudget * 2 + 100;
  view_.bindings.clear();
  for (size_t i = 0; i < n; ++i) {
    view_.bindings.push_back(MakeBinding(absl::StrFormat("u%06d@example.com", i),
                                         absl::StrFormat("sip:u%06d@192.0.2.10", i), 600,
                                         /*natted=*/i % 3 == 0, "Yealink"));
  }
  const Followed f = Follow({{"natted", true}, {"limit", 100000}});
  EXPECT_EQ(f.calls, 3);
  ASSERT_EQ(f.shown.size(), (n + 2) / 3);
  for (size_t i = 0; i < f.shown.size(); ++i) {
    EXPECT_EQ(f.shown[i], absl::StrFormat("u%06d@example.com sip:u%06d@192.0.2.10", 3 * i, 3 * i));
  }
}

TEST_F(OperatorCommandsTest, RegistrationOfAnUnknownOrExpiredAorIsNotFound) {
  json e = Err("registration", {{"aor", "zed@example.com"}});
  EXPECT_EQ(e["code"], "not_found");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("zed@example.com"));
  EXPECT_EQ(Err("registration", {{"aor", "dave@example.com"}})["code"], "not_found");
}

TEST_F(OperatorCommandsTest, RegistrationNeedsAnAor) {
  EXPECT_EQ(Err("registration")["message"], "aor: required");
  EXPECT_EQ(Err("registration", {{"aor", ""}})["message"], "aor: must not be empty");
  EXPECT_EQ(Err("registration", {{"aor", 5}})["message"], "aor: must be a string");
}

TEST_F(OperatorCommandsTest, CallsListsAndPages) {
  json r = Ok("calls");
  EXPECT_EQ(r["total"], 3);
  EXPECT_EQ(r["calls"], view_.calls);
  r = Ok("calls", {{"offset", 1}, {"limit", 1}});
  EXPECT_EQ(r["total"], 3);
  ASSERT_EQ(r["calls"].size(), 1u);
  EXPECT_EQ(r["calls"][0]["call_id"], "b84b4c76e66711");
  EXPECT_TRUE(Ok("calls", {{"offset", 3}})["calls"].empty());
  view_.calls = json::array();
  r = Ok("calls");
  EXPECT_EQ(r["total"], 0);
  EXPECT_TRUE(r["calls"].is_array());
}

TEST_F(OperatorCommandsTest, CallReturnsTheCallObject) {
  EXPECT_EQ(Ok("call", {{"call_id", "c84b4c76e66712"}}), view_.calls[2]);
}

TEST_F(OperatorCommandsTest, CallErrors) {
  json e = Err("call", {{"call_id", "nope"}});
  EXPECT_EQ(e["code"], "not_found");
  EXPECT_EQ(e["message"], "call_id: no call 'nope'");
  EXPECT_EQ(Err("call")["message"], "call_id: required");
  EXPECT_EQ(Err("call", {{"call_id", ""}})["message"], "call_id: must not be empty");
  EXPECT_EQ(Err("call", {{"call_id", json::array({"x"})}})["message"],
            "call_id: must be a string");
}

TEST_F(OperatorCommandsTest, CallSkipsEntriesThatAreNotCallObjects) {
  view_.calls = json::array({1, "x", {{"call_id", 5}}, {{"call_id", "real"}}});
  EXPECT_EQ(Ok("call", {{"call_id", "real"}}), json({{"call_id", "real"}}));
}

TEST_F(OperatorCommandsTest, Stats) {
  EXPECT_EQ(Ok("stats"), view_.stats);
}

TEST_F(OperatorCommandsTest, PeersListsTheViewsPeers) {
  EXPECT_EQ(Ok("peers")["peers"], json::array());
  view_.peers = json::array({{{"name", "core"}, {"targets", json::array()}}});
  EXPECT_EQ(Ok("peers")["peers"][0]["name"], "core");
}

TEST_F(OperatorCommandsTest, AViewReturningTheWrongShapeIsInternal) {
  view_.calls = json::object();
  json e = Err("calls");
  EXPECT_EQ(e["code"], "internal");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("not an array"));
  EXPECT_EQ(Err("call", {{"call_id", "x"}})["code"], "internal");
  view_.stats = json::array();
  e = Err("stats");
  EXPECT_EQ(e["code"], "internal");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("not an object"));
}

TEST_F(OperatorCommandsTest, AViewThatThrowsIsAnInternalErrorNotACrash) {
  view_.throw_ = true;
  for (const char* cmd : {"registrations", "calls", "stats"}) {
    json e = Err(cmd);
    EXPECT_EQ(e["code"], "internal") << cmd;
    EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("view exploded")) << cmd;
  }
  EXPECT_EQ(Err("registration", {{"aor", "alice@example.com"}})["code"], "internal");
  EXPECT_EQ(Err("call", {{"call_id", "x"}})["code"], "internal");
  EXPECT_EQ(Ok("version")["protocol"], 1);  // commands not touching the view still work
}

TEST_F(OperatorCommandsTest, IdIsEchoed) {
  EXPECT_EQ(Send(R"({"v":1,"id":"abc","cmd":"version"})")["id"], "abc");
  EXPECT_EQ(Send(R"({"v":1,"id":17,"cmd":"version"})")["id"], 17);
  EXPECT_EQ(Send(R"({"v":1,"id":-3,"cmd":"version"})")["id"], -3);
  EXPECT_TRUE(Send(R"({"v":1,"cmd":"version"})")["id"].is_null());
  EXPECT_TRUE(Send(R"({"v":1,"id":null,"cmd":"version"})")["id"].is_null());
  // ...on errors too.
  EXPECT_EQ(Send(R"({"v":1,"id":"e1","cmd":"frobnicate"})")["id"], "e1");
  EXPECT_EQ(Send(R"({"v":2,"id":"e2","cmd":"version"})")["id"], "e2");
}

TEST_F(OperatorCommandsTest, RequestsAreIndependent) {
  // Nothing is cached by id: read-only commands answer the current state.
  EXPECT_EQ(Ok("stats")["requests"], 42);
  view_.stats["requests"] = 43;
  EXPECT_EQ(Ok("stats")["requests"], 43);
}

// --- malformed requests: each must be one error reply with this code whose
// message names the offending input.

struct Malformed {
  const char* line;
  const char* code;
  const char* message_has;  // substring of the error message
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.line; }

class MalformedRequestTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedRequestTest, AnswersOneErrorNamingTheInput) {
  FakeView view;
  view.bindings = {MakeBinding("alice@example.com", "sip:a@192.0.2.1", 60, true, "ua")};
  OperatorCommands commands(view);
  const Malformed& m = GetParam();
  bool subscribe = true;
  std::string reply;
  ASSERT_NO_THROW(reply = commands.Handle(m.line, &subscribe));
  EXPECT_FALSE(subscribe);
  EXPECT_EQ(reply.find('\n'), std::string::npos);
  json j = json::parse(reply, nullptr, false);
  ASSERT_TRUE(j.is_object()) << reply;
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["ok"], false) << reply;
  EXPECT_EQ(j["error"]["code"], m.code) << reply;
  EXPECT_THAT(j["error"]["message"].get<std::string>(), HasSubstr(m.message_has)) << reply;
}

INSTANTIATE_TEST_SUITE_P(
    Lines, MalformedRequestTest,
    ::testing::Values(
        // Not a JSON object.
        Malformed{"", "parse_error", "not a JSON object"},
        Malformed{" ", "parse_error", "not a JSON object"},
        Malformed{"hello", "parse_error", "not a JSON object"},
        Malformed{"{", "parse_error", "not a JSON object"},
        Malformed{"}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"stats\"", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"stats\"}}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"stats\"} {}", "parse_error", "not a JSON object"},
        Malformed{"{v:1,cmd:\"stats\"}", "parse_error", "not a JSON object"},
        Malformed{"{'v':1,'cmd':'stats'}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"stats\",}", "parse_error", "not a JSON object"},
        Malformed{"[]", "parse_error", "not a JSON object"},
        Malformed{"[{\"v\":1,\"cmd\":\"stats\"}]", "parse_error", "not a JSON object"},
        Malformed{"null", "parse_error", "not a JSON object"},
        Malformed{"true", "parse_error", "not a JSON object"},
        Malformed{"42", "parse_error", "not a JSON object"},
        Malformed{"\"stats\"", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"st\xff\xfe\"}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"stats\x01\"}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"\\ud800\"}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":01,\"cmd\":\"stats\"}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":NaN,\"cmd\":\"stats\"}", "parse_error", "not a JSON object"},
        Malformed{"{\"v\":1,\"cmd\":\"stats\"}garbage", "parse_error", "not a JSON object"},
        // Envelope.
        Malformed{"{}", "bad_version", "v:"},
        Malformed{"{\"cmd\":\"stats\"}", "bad_version", "v:"},
        Malformed{"{\"v\":2,\"cmd\":\"stats\"}", "bad_version", "version 1"},
        Malformed{"{\"v\":0,\"cmd\":\"stats\"}", "bad_version", "v:"},
        Malformed{"{\"v\":-1,\"cmd\":\"stats\"}", "bad_version", "v:"},
        Malformed{"{\"v\":\"1\",\"cmd\":\"stats\"}", "bad_version", "v:"},
        Malformed{"{\"v\":1.0,\"cmd\":\"stats\"}", "bad_version", "v:"},
        Malformed{"{\"v\":null,\"cmd\":\"stats\"}", "bad_version", "v:"},
        Malformed{"{\"v\":[1],\"cmd\":\"stats\"}", "bad_version", "v:"},
        Malformed{"{\"v\":1}", "invalid_argument", "cmd: required"},
        Malformed{"{\"v\":1,\"cmd\":null}", "invalid_argument", "cmd: required"},
        Malformed{"{\"v\":1,\"cmd\":7}", "invalid_argument", "cmd: required"},
        Malformed{"{\"v\":1,\"cmd\":[\"stats\"]}", "invalid_argument", "cmd: required"},
        Malformed{"{\"v\":1,\"cmd\":{\"name\":\"stats\"}}", "invalid_argument", "cmd: required"},
        Malformed{"{\"v\":1,\"id\":1.5,\"cmd\":\"stats\"}", "invalid_argument", "id:"},
        Malformed{"{\"v\":1,\"id\":true,\"cmd\":\"stats\"}", "invalid_argument", "id:"},
        Malformed{"{\"v\":1,\"id\":[1],\"cmd\":\"stats\"}", "invalid_argument", "id:"},
        Malformed{"{\"v\":1,\"id\":{},\"cmd\":\"stats\"}", "invalid_argument", "id:"},
        Malformed{"{\"v\":1,\"cmd\":\"\"}", "unknown_command", "cmd: unknown ''"},
        Malformed{"{\"v\":1,\"cmd\":\"frobnicate\"}", "unknown_command", "frobnicate"},
        Malformed{"{\"v\":1,\"cmd\":\"STATS\"}", "unknown_command", "STATS"},
        Malformed{"{\"v\":1,\"cmd\":\"list\"}", "unknown_command", "list"},  // dataplane's
        Malformed{"{\"v\":1,\"cmd\":\"allocate\"}", "unknown_command", "allocate"},
        Malformed{"{\"v\":1,\"cmd\":\" stats\"}", "unknown_command", " stats"},
        // Unknown arguments.
        Malformed{"{\"v\":1,\"cmd\":\"stats\",\"verbose\":true}", "invalid_argument",
                  "verbose: not an argument of stats (it takes none)"},
        Malformed{"{\"v\":1,\"cmd\":\"version\",\"x\":1}", "invalid_argument", "x: not an argument"},
        Malformed{"{\"v\":1,\"cmd\":\"calls\",\"state\":\"early\"}", "invalid_argument",
                  "state: not an argument of calls (accepted: offset, limit)"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"AOR\":\"a\"}", "invalid_argument",
                  "AOR: not an argument"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"nat\":true}", "invalid_argument",
                  "nat: not an argument"},
        Malformed{"{\"v\":1,\"cmd\":\"registration\",\"aor\":\"a\",\"limit\":1}",
                  "invalid_argument", "limit: not an argument of registration"},
        Malformed{"{\"v\":1,\"cmd\":\"call\",\"callid\":\"x\"}", "invalid_argument",
                  "callid: not an argument"},
        // registrations: wrong types and ranges.
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"aor\":1}", "invalid_argument",
                  "aor: must be a string"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"aor\":[\"a\"]}", "invalid_argument",
                  "aor: must be a string"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"aor\":true}", "invalid_argument",
                  "aor: must be a string"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"natted\":\"yes\"}", "invalid_argument",
                  "natted: must be true or false"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"natted\":1}", "invalid_argument",
                  "natted: must be true or false"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"natted\":\"true\"}", "invalid_argument",
                  "natted:"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"user_agent\":{}}", "invalid_argument",
                  "user_agent: must be a string"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"user_agent\":5}", "invalid_argument",
                  "user_agent: must be a string"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"limit\":-1}", "invalid_argument",
                  "limit: must be an integer 0..1000000000"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"offset\":-5}", "invalid_argument",
                  "offset: must be an integer"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"limit\":1.5}", "invalid_argument",
                  "limit:"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"limit\":\"10\"}", "invalid_argument",
                  "limit:"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"limit\":true}", "invalid_argument",
                  "limit:"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"offset\":1000000001}",
                  "invalid_argument", "offset: must be an integer 0..1000000000"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"offset\":18446744073709551615}",
                  "invalid_argument", "offset:"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"offset\":1e300}", "invalid_argument",
                  "offset:"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"offset\":99999999999999999999999}",
                  "invalid_argument", "offset:"},
        Malformed{"{\"v\":1,\"cmd\":\"registrations\",\"limit\":10000000000}",
                  "invalid_argument", "limit:"},
        // registration / call.
        Malformed{"{\"v\":1,\"cmd\":\"registration\"}", "invalid_argument", "aor: required"},
        Malformed{"{\"v\":1,\"cmd\":\"registration\",\"aor\":null}", "invalid_argument",
                  "aor: required"},
        Malformed{"{\"v\":1,\"cmd\":\"registration\",\"aor\":\"\"}", "invalid_argument",
                  "aor: must not be empty"},
        Malformed{"{\"v\":1,\"cmd\":\"registration\",\"aor\":{\"user\":\"a\"}}",
                  "invalid_argument", "aor: must be a string"},
        Malformed{"{\"v\":1,\"cmd\":\"registration\",\"aor\":\"nobody@example.com\"}",
                  "not_found", "nobody@example.com"},
        Malformed{"{\"v\":1,\"cmd\":\"calls\",\"limit\":-1}", "invalid_argument", "limit:"},
        Malformed{"{\"v\":1,\"cmd\":\"calls\",\"offset\":\"1\"}", "invalid_argument", "offset:"},
        Malformed{"{\"v\":1,\"cmd\":\"calls\",\"offset\":2e9}", "invalid_argument", "offset:"},
        Malformed{"{\"v\":1,\"cmd\":\"call\"}", "invalid_argument", "call_id: required"},
        Malformed{"{\"v\":1,\"cmd\":\"call\",\"call_id\":42}", "invalid_argument",
                  "call_id: must be a string"},
        Malformed{"{\"v\":1,\"cmd\":\"call\",\"call_id\":\"\"}", "invalid_argument",
                  "call_id: must not be empty"},
        Malformed{"{\"v\":1,\"cmd\":\"call\",\"call_id\":\"missing\"}", "not_found",
                  "call_id: no call 'missing'"}));

// Every prefix of valid requests, and every single-byte corruption of one:
// whatever arrives, the reply is one well-formed envelope.
TEST(OperatorCommandsFuzzTest, TruncatedAndCorruptedLinesNeverThrow) {
  FakeView view;
  view.bindings = {MakeBinding("alice@example.com", "sip:a@192.0.2.1", 60, true, "ua")};
  view.calls = json::array({{{"call_id", "x"}}});
  OperatorCommands commands(view);
  const std::string requests[] = {
      R"({"v":1,"id":"r1","cmd":"registrations","aor":"alice@example.com","natted":true,"user_agent":"u","offset":0,"limit":5})",
      R"({"v":1,"id":2,"cmd":"call","call_id":"x"})",
      R"({"v":1,"cmd":"registration","aor":"sip:alice@example.com"})",
  };
  const char kBytes[] = {'\0', '"', '{', '}', '[', ']', ':', ',', '\\', '-', '9', 'x',
                         '\x80', '\xff', ' '};
  size_t lines = 0;
  for (const std::string& request : requests) {
    for (size_t n = 0; n <= request.size(); ++n) {
      bool subscribe = false;
      std::string reply;
      ASSERT_NO_THROW(reply = commands.Handle(request.substr(0, n), &subscribe));
      json j = json::parse(reply, nullptr, false);
      ASSERT_TRUE(j.is_object() && j.contains("ok")) << reply;
      EXPECT_EQ(j["ok"], n == request.size()) << request.substr(0, n) << " -> " << reply;
      ++lines;
    }
    for (size_t i = 0; i < request.size(); ++i) {
      for (char c : kBytes) {
        std::string line = request;
        line[i] = c;
        bool subscribe = false;
        std::string reply;
        ASSERT_NO_THROW(reply = commands.Handle(line, &subscribe));
        json j = json::parse(reply, nullptr, false);
        ASSERT_TRUE(j.is_object() && j.contains("ok") && j["v"] == 1) << line << " -> " << reply;
        ++lines;
      }
    }
  }
  EXPECT_GT(lines, 1000u);
}

}  // namespace
}  // namespace rtplatch
