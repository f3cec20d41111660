#include "control/media/keepalive_sync.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/control/media/fake_dataplane.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using testing::Answer;
using testing::Err;
using testing::FakeDataplane;
using testing::Ok;

// The dataplane's keepalive table behind the fake dataplane:
// keepalive_add/remove/update/list as docs/control-protocol.md describes them
// (all or nothing, unknown ids are not_found). A restart (Stop + Start) loses
// every target, as the real dataplane does.
class FakeKeepaliveDataplane : public FakeDataplane {
 public:
  FakeKeepaliveDataplane() {
    set_responder([this](const json& r) { return Respond(r); });
    set_on_start([this] {
      std::lock_guard<std::mutex> lock(table_mu_);
      targets_.clear();
    });
  }
  // The server thread calls Respond(): it must be gone before targets_ is.
  ~FakeKeepaliveDataplane() { Stop(); }

  // A target someone else (or an earlier control plane) installed.
  void Seed(const std::string& label) {
    std::lock_guard<std::mutex> lock(table_mu_);
    const uint64_t id = next_id_++;
    targets_[id] = {{"id", id},
                    {"target", "192.0.2.99:5060"},
                    {"source", "203.0.113.10:5060"},
                    {"payload", "crlf"},
                    {"interval_ms", 30000},
                    {"label", label}};
  }
  std::pair<size_t, uint64_t> CountAndLastId() {
    std::lock_guard<std::mutex> lock(table_mu_);
    return {targets_.size(), targets_.empty() ? 0 : targets_.rbegin()->first};
  }
  std::map<uint64_t, json> Targets() {
    std::lock_guard<std::mutex> lock(table_mu_);
    return targets_;
  }

 private:
  Answer Respond(const json& r) {
    std::lock_guard<std::mutex> lock(table_mu_);
    const std::string cmd = r.value("cmd", "");
    if (cmd == "keepalive_add") {
      const json& list = r["targets"];
      if (!list.is_array() || list.empty() || list.size() > 100000) {
        return Err("invalid_argument");
      }
      for (const json& t : list) {
        for (const char* key : {"target", "source", "payload", "interval_ms", "label"}) {
          if (!t.contains(key)) return Err("invalid_argument");
        }
      }
      json ids = json::array();
      for (json t : list) {
        const uint64_t id = next_id_++;
        t["id"] = id;
        targets_[id] = t;
        ids.push_back(id);
      }
      return Ok({{"ids", ids}});
    }
    if (cmd == "keepalive_remove") {
      for (const json& id : r["ids"]) {
        if (!targets_.contains(id.get<uint64_t>())) return Err("not_found");
      }
      for (const json& id : r["ids"]) targets_.erase(id.get<uint64_t>());
      return Ok({{"removed", r["ids"].size()}});
    }
    if (cmd == "keepalive_update") {
      auto it = targets_.find(r.value("id", uint64_t{0}));
      if (it == targets_.end()) return Err("not_found");
      it->second["interval_ms"] = r["interval_ms"];
      return Ok(it->second);
    }
    if (cmd == "keepalive_list") {
      const size_t offset = r.value("offset", size_t{0});
      const size_t limit = r.value("limit", size_t{1000});
      json list = json::array();
      size_t i = 0;
      for (const auto& [id, t] : targets_) {
        if (i >= offset && i < offset + limit) list.push_back(t);
        ++i;
      }
      return Ok({{"total", targets_.size()}, {"keepalives", list}});
    }
    return Err("unknown_command");
  }

  std::mutex table_mu_;
  std::map<uint64_t, json> targets_;
  uint64_t next_id_ = 1;  // never reused, even across a restart
};

Endpoint Ep(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << text;
  return e.ok() ? *e : Endpoint{};
}

struct Family {
  const char* name;
  const char* source;      // the phone's public address (NAT mapping)
  const char* new_source;  // the mapping after a NAT rebinding
  const char* local;       // our SIP socket
  const char* wildcard;    // our SIP socket bound to any address
  const char* advertised;  // where phones send SIP
  const char* advertised_source;
};

constexpr Family kV4{"Ipv4",          "203.0.113.40:31000", "203.0.113.40:31002",
                     "203.0.113.10:5060", "0.0.0.0:5060", "198.51.100.1",
                     "198.51.100.1:5060"};
constexpr Family kV6{"Ipv6",
                     "[2001:db8:40::7]:31000",
                     "[2001:db8:40::7]:31002",
                     "[2001:db8::10]:5060",
                     "[::]:5060",
                     "2001:db8::1",
                     "[2001:db8::1]:5060"};

Binding NattedBinding(const Family& f, absl::string_view aor, absl::string_view contact) {
  Binding b;
  b.aor = std::string(aor);
  b.contact_uri = std::string(contact);
  b.expires_at = 1'700'000'600;
  b.call_id = "843817637684230@192.168.1.20";
  b.cseq = 2;
  b.user_agent = "Yealink SIP-T46S 66.86.0.15";
  b.source = Ep(f.source);
  b.transport = Binding::Transport::kUdp;
  b.local_socket = Ep(f.local);
  b.behind_nat = true;
  b.nat_reasons = {"via_inside", "contact_inside"};
  b.keepalive_interval_ms = 25000;
  b.keepalive_reason = "policy default";
  return b;
}

BindingChange Added(const Binding& b) {
  BindingChange c;
  c.kind = BindingChange::Kind::kAdded;
  c.binding = b;
  return c;
}
BindingChange Refreshed(const Binding& previous, const Binding& now, bool keepalive_changed) {
  BindingChange c;
  c.kind = BindingChange::Kind::kRefreshed;
  c.binding = now;
  c.previous = previous;
  c.keepalive_changed = keepalive_changed;
  return c;
}
BindingChange RemovedChange(const Binding& b) {
  BindingChange c;
  c.kind = BindingChange::Kind::kRemoved;
  c.binding = b;
  return c;
}

class KeepaliveSyncTest : public ::testing::TestWithParam<Family> {
 protected:
  void SetUp() override {
    server_ = std::make_unique<FakeKeepaliveDataplane>();
    server_->Start();
    // As the proxy does: every (re)connection reinstalls the live set.
    link_ = std::make_unique<DataplaneLink>(DataplaneLink::Options{
        server_->path(), 20000, kRetryMs, [this] { sync_->ReinstallAll(live_); }});
    KeepaliveSync::Options o;
    o.advertised_v4 = *IpAddress::Parse(kV4.advertised);
    o.advertised_v6 = *IpAddress::Parse(kV6.advertised);
    sync_ = std::make_unique<KeepaliveSync>(*link_, o);
    ASSERT_TRUE(link_->EnsureConnected().ok());
    server_->ClearRequests();
  }
  void TearDown() override {
    sync_.reset();
    link_.reset();
    server_.reset();
  }

  static constexpr int kRetryMs = 50;
  std::unique_ptr<FakeKeepaliveDataplane> server_;
  std::unique_ptr<DataplaneLink> link_;
  std::unique_ptr<KeepaliveSync> sync_;
  std::vector<Binding> live_;  // the registrar's view, for reinstalls
};

INSTANTIATE_TEST_SUITE_P(Families, KeepaliveSyncTest, ::testing::Values(kV4, kV6),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(KeepaliveSyncTest, AddedNattedUdpBindingInstallsOneTarget) {
  const Binding b = NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060");
  sync_->Apply({Added(b)});
  auto targets = server_->Targets();
  ASSERT_EQ(targets.size(), 1u);
  const auto& [id, t] = *targets.begin();
  EXPECT_EQ(t["target"], GetParam().source);
  EXPECT_EQ(t["source"], GetParam().local);
  EXPECT_EQ(t["payload"], "crlf");
  EXPECT_EQ(t["interval_ms"], 25000);
  EXPECT_EQ(t["label"], "rc-ka:alice@example.com");
  EXPECT_EQ(sync_->TargetOf(b), id);
  EXPECT_EQ(sync_->size(), 1u);
  EXPECT_EQ(sync_->counters().installed, 1u);
  EXPECT_EQ(sync_->counters().failures, 0u);
}

// A registration's target fires anywhere in its first interval (its
// mapping is fresh); an adopted binding's soon (its mapping's age is not
// known).
TEST_P(KeepaliveSyncTest, AdoptedBindingsAskForTheirFirstKeepaliveSoon) {
  const Binding fresh = NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060");
  const Binding adopted = NattedBinding(GetParam(), "bob@example.com", "sip:bob@192.168.1.21:5060");
  sync_->Apply({Added(fresh)});
  sync_->Apply({Added(adopted)}, KeepaliveSync::kReinstallFirstWithinMs);
  auto adds = server_->Requests("keepalive_add");
  ASSERT_EQ(adds.size(), 2u);
  EXPECT_FALSE(adds[0]["targets"][0].contains("first_within_ms"));
  EXPECT_EQ(adds[1]["targets"][0]["first_within_ms"], KeepaliveSync::kReinstallFirstWithinMs);
}

TEST_P(KeepaliveSyncTest, WildcardLocalSocketSendsFromTheAdvertisedAddress) {
  Binding b = NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060");
  b.local_socket = Ep(GetParam().wildcard);
  sync_->Apply({Added(b)});
  auto targets = server_->Targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets.begin()->second["source"], GetParam().advertised_source);
  EXPECT_EQ(targets.begin()->second["target"], GetParam().source);
}

// In a cluster: another node's binding is its owner's to keep alive, and
// a VIP this node holds no valid lease of sends nothing; once the lease is
// valid, a reinstall gives the VIP's binding its target.
TEST_P(KeepaliveSyncTest, NoTargetForAnotherNodesBindingOrFromAVipNotHeld) {
  bool held = false;
  const IpAddress vip = Ep(GetParam().local).ip;
  KeepaliveSync::Options o;
  o.may_send_from = [&](const IpAddress& source) { return held || !(source == vip); };
  sync_ = std::make_unique<KeepaliveSync>(*link_, o);
  Binding theirs = NattedBinding(GetParam(), "bob@example.com", "sip:bob@192.168.1.21:5060");
  theirs.node = "edge-b";
  const Binding on_vip =
      NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060");
  sync_->Apply({Added(theirs), Added(on_vip)});
  EXPECT_TRUE(server_->Targets().empty());
  EXPECT_EQ(sync_->counters().skipped_no_source, 0u) << "neither lacks a source address";

  held = true;
  ASSERT_TRUE(sync_->BeginReinstall());
  ASSERT_TRUE(sync_->InstallSlice(std::vector<Binding>{theirs, on_vip}));
  auto targets = server_->Targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets.begin()->second["label"], "rc-ka:alice@example.com");
  EXPECT_EQ(targets.begin()->second["source"], GetParam().local);
}

TEST_P(KeepaliveSyncTest, TcpBindingOrZeroIntervalInstallsNothing) {
  Binding tcp = NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060");
  tcp.transport = Binding::Transport::kTcp;
  Binding quiet = NattedBinding(GetParam(), "bob@example.com", "sip:bob@192.168.1.21:5060");
  quiet.keepalive_interval_ms = 0;
  sync_->Apply({Added(tcp), Added(quiet)});
  EXPECT_TRUE(server_->Targets().empty());
  EXPECT_TRUE(server_->Requests("keepalive_add").empty());
  EXPECT_EQ(sync_->size(), 0u);
  EXPECT_FALSE(sync_->TargetOf(tcp).has_value());
  EXPECT_EQ(sync_->counters().failures, 0u);
}

TEST_P(KeepaliveSyncTest, RefreshWithANewIntervalUpdatesTheTargetInPlace) {
  const Binding before = NattedBinding(GetParam(), "alice@example.com",
                                       "sip:alice@192.168.1.20:5060");
  sync_->Apply({Added(before)});
  const auto id = sync_->TargetOf(before);
  ASSERT_TRUE(id.has_value());
  Binding after = before;
  after.keepalive_interval_ms = 12500;  // adaptive: halved
  after.cseq = 3;
  server_->ClearRequests();
  sync_->Apply({Refreshed(before, after, /*keepalive_changed=*/true)});

  auto updates = server_->Requests("keepalive_update");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0]["id"], *id);
  EXPECT_EQ(updates[0]["interval_ms"], 12500);
  EXPECT_TRUE(server_->Requests("keepalive_add").empty());
  EXPECT_TRUE(server_->Requests("keepalive_remove").empty());
  EXPECT_EQ(server_->Targets().at(*id)["interval_ms"], 12500);
  EXPECT_EQ(sync_->TargetOf(after), id);
  EXPECT_EQ(sync_->counters().updated, 1u);
}

TEST_P(KeepaliveSyncTest, RefreshFromANewSourcePortReplacesTheTarget) {
  const Binding before = NattedBinding(GetParam(), "alice@example.com",
                                       "sip:alice@192.168.1.20:5060");
  sync_->Apply({Added(before)});
  const auto old_id = sync_->TargetOf(before);
  ASSERT_TRUE(old_id.has_value());
  Binding after = before;
  after.source = Ep(GetParam().new_source);
  after.keepalive_interval_ms = 12500;
  server_->ClearRequests();
  sync_->Apply({Refreshed(before, after, /*keepalive_changed=*/true)});

  auto removes = server_->Requests("keepalive_remove");
  ASSERT_EQ(removes.size(), 1u);
  EXPECT_EQ(removes[0]["ids"], json::array({*old_id}));
  EXPECT_TRUE(server_->Requests("keepalive_update").empty());
  auto targets = server_->Targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets.begin()->second["target"], GetParam().new_source);
  EXPECT_EQ(targets.begin()->second["interval_ms"], 12500);
  EXPECT_EQ(sync_->TargetOf(after), targets.begin()->first);
  EXPECT_NE(sync_->TargetOf(after), old_id);
  EXPECT_EQ(sync_->size(), 1u);
}

TEST_P(KeepaliveSyncTest, RefreshWithoutAKeepaliveChangeSendsNothing) {
  const Binding before = NattedBinding(GetParam(), "alice@example.com",
                                       "sip:alice@192.168.1.20:5060");
  sync_->Apply({Added(before)});
  Binding after = before;
  after.cseq = 3;
  after.expires_at += 600;
  server_->ClearRequests();
  sync_->Apply({Refreshed(before, after, /*keepalive_changed=*/false)});
  EXPECT_TRUE(server_->Requests("keepalive_add").empty());
  EXPECT_TRUE(server_->Requests("keepalive_remove").empty());
  EXPECT_TRUE(server_->Requests("keepalive_update").empty());
  EXPECT_EQ(server_->Targets().size(), 1u);
}

TEST_P(KeepaliveSyncTest, RefreshOfABindingWithoutATargetInstallsIt) {
  // Its add failed earlier (or it predates a failed reinstall): a plain
  // refresh is the chance to repair it.
  Binding before = NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060");
  Binding after = before;
  after.cseq = 3;
  sync_->Apply({Refreshed(before, after, /*keepalive_changed=*/false)});
  EXPECT_EQ(server_->Targets().size(), 1u);
  EXPECT_TRUE(sync_->TargetOf(after).has_value());
}

TEST_P(KeepaliveSyncTest, RefreshThatEndsKeepalivesRemovesTheTarget) {
  const Binding before = NattedBinding(GetParam(), "alice@example.com",
                                       "sip:alice@192.168.1.20:5060");
  sync_->Apply({Added(before)});
  Binding after = before;
  after.behind_nat = false;
  after.keepalive_interval_ms = 0;
  sync_->Apply({Refreshed(before, after, /*keepalive_changed=*/true)});
  EXPECT_TRUE(server_->Targets().empty());
  EXPECT_TRUE(server_->Requests("keepalive_update").empty());
  EXPECT_EQ(sync_->size(), 0u);
}

TEST_P(KeepaliveSyncTest, RemovedAndExpiredBindingsRemoveOnlyTheirOwnTargets) {
  const Binding desk = NattedBinding(GetParam(), "alice@example.com",
                                     "sip:alice@192.168.1.20:5060");
  Binding mobile = NattedBinding(GetParam(), "alice@example.com", "sip:alice@10.0.0.7:5060");
  mobile.source.port = 40000;
  const Binding bob = NattedBinding(GetParam(), "bob@example.com", "sip:bob@192.168.1.21:5060");
  sync_->Apply({Added(desk), Added(mobile), Added(bob)});
  ASSERT_EQ(server_->Targets().size(), 3u);
  const auto mobile_id = sync_->TargetOf(mobile);
  const auto bob_id = sync_->TargetOf(bob);

  sync_->Apply({RemovedChange(desk)});  // un-REGISTER of one contact
  auto targets = server_->Targets();
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_TRUE(targets.contains(*mobile_id));
  EXPECT_TRUE(targets.contains(*bob_id));
  EXPECT_FALSE(sync_->TargetOf(desk).has_value());

  sync_->Removed({bob});  // expired
  targets = server_->Targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_TRUE(targets.contains(*mobile_id));
  EXPECT_EQ(sync_->size(), 1u);
  EXPECT_EQ(sync_->counters().removed, 2u);

  // Removing what has no target sends nothing.
  server_->ClearRequests();
  sync_->Removed({bob, desk});
  EXPECT_TRUE(server_->Requests("keepalive_remove").empty());
  EXPECT_EQ(sync_->counters().failures, 0u);
}

TEST_P(KeepaliveSyncTest, ReinstallAllReplacesOurTargetsAndLeavesOthersAlone) {
  // A predecessor's targets (more than one list page) and someone else's.
  for (int i = 0; i < 1500; ++i) server_->Seed(absl::StrCat("rc-ka:old", i, "@example.com"));
  server_->Seed("bench:1");
  live_ = {NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060"),
           NattedBinding(GetParam(), "bob@example.com", "sip:bob@192.168.1.21:5060")};
  Binding tcp = NattedBinding(GetParam(), "carol@example.com", "sip:carol@192.168.1.22:5060");
  tcp.transport = Binding::Transport::kTcp;
  live_.push_back(tcp);

  sync_->ReinstallAll(live_);
  auto targets = server_->Targets();
  std::vector<std::string> labels;
  for (const auto& [id, t] : targets) labels.push_back(t["label"].get<std::string>());
  EXPECT_EQ(labels, (std::vector<std::string>{"bench:1", "rc-ka:alice@example.com",
                                              "rc-ka:bob@example.com"}));
  EXPECT_EQ(server_->Requests("keepalive_list").size(), 2u) << "1501 targets: two pages";
  auto removes = server_->Requests("keepalive_remove");
  ASSERT_EQ(removes.size(), 1u);
  EXPECT_EQ(removes[0]["ids"].size(), 1500u);
  auto adds = server_->Requests("keepalive_add");
  ASSERT_EQ(adds.size(), 1u) << "the live set in one request";
  EXPECT_EQ(adds[0]["targets"].size(), 2u);
  EXPECT_EQ(adds[0]["targets"][0]["first_within_ms"], KeepaliveSync::kReinstallFirstWithinMs)
      << "how long each mapping went without a keepalive is not known: soon";
  EXPECT_EQ(sync_->size(), 2u);
  EXPECT_TRUE(sync_->TargetOf(live_[0]).has_value());
  EXPECT_FALSE(sync_->TargetOf(tcp).has_value());
  EXPECT_EQ(sync_->counters().failures, 0u);
}

TEST_P(KeepaliveSyncTest, ReinstallInSlicesSkipsWhatApplyInstalledMeanwhile) {
  server_->Seed("rc-ka:old@example.com");
  const Binding alice = NattedBinding(GetParam(), "alice@example.com",
                                      "sip:alice@192.168.1.20:5060");
  const Binding bob = NattedBinding(GetParam(), "bob@example.com", "sip:bob@192.168.1.21:5060");
  const Binding carol = NattedBinding(GetParam(), "carol@example.com",
                                      "sip:carol@192.168.1.22:5060");
  ASSERT_TRUE(sync_->BeginReinstall());
  EXPECT_TRUE(server_->Targets().empty()) << "the predecessor's target is gone at once";
  ASSERT_TRUE(sync_->InstallSlice({alice}));
  // Between slices bob registers: Apply installs him before the walk
  // reaches him, and the walk must not give him a second target.
  sync_->Apply({Added(bob)});
  ASSERT_TRUE(sync_->InstallSlice({bob, carol}));
  std::vector<std::string> labels;
  for (const auto& [id, t] : server_->Targets()) labels.push_back(t["label"].get<std::string>());
  EXPECT_EQ(labels, (std::vector<std::string>{"rc-ka:alice@example.com", "rc-ka:bob@example.com",
                                              "rc-ka:carol@example.com"}));
  EXPECT_EQ(sync_->size(), 3u);
  EXPECT_EQ(sync_->counters().installed, 3u);
  EXPECT_EQ(sync_->counters().reinstalls, 2u) << "SetUp's connection, then ours";
}

TEST_P(KeepaliveSyncTest, ASliceTheDataplaneCannotTakeSaysSo) {
  ASSERT_TRUE(sync_->BeginReinstall());
  server_->Stop();
  EXPECT_FALSE(sync_->InstallSlice(
      {NattedBinding(GetParam(), "alice@example.com", "sip:alice@192.168.1.20:5060")}));
  EXPECT_EQ(sync_->counters().failures, 1u);
  EXPECT_EQ(sync_->size(), 0u);
  EXPECT_TRUE(sync_->InstallSlice({})) << "nothing to install asks nothing of the dataplane";
}

// Heavy (50 001 targets through JSON): one family is enough.
class KeepaliveSyncBatchTest : public KeepaliveSyncTest {};
INSTANTIATE_TEST_SUITE_P(Ipv4, KeepaliveSyncBatchTest, ::testing::Values(kV4),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(KeepaliveSyncBatchTest, ReinstallAllOfALargeSetIsBatched) {
  constexpr size_t kBindings = 50001;  // keepalive_add batches of 50 000
  live_.reserve(kBindings);
  for (size_t i = 0; i < kBindings; ++i) {
    Binding b = NattedBinding(GetParam(), absl::StrCat("user", i, "@example.com"),
                              absl::StrCat("sip:user", i, "@192.168.1.20:5060"));
    b.source.port = static_cast<uint16_t>(1024 + i % 60000);
    live_.push_back(std::move(b));
  }
  sync_->ReinstallAll(live_);
  auto adds = server_->Requests("keepalive_add");
  ASSERT_EQ(adds.size(), 2u);
  EXPECT_EQ(adds[0]["targets"], 50000);  // recorded by size
  EXPECT_EQ(adds[1]["targets"].size(), 1u);
  const auto [count, last_id] = server_->CountAndLastId();
  EXPECT_EQ(count, kBindings);
  EXPECT_EQ(sync_->size(), kBindings);
  EXPECT_EQ(sync_->counters().installed, kBindings);
  // The last binding got the id of the last target.
  EXPECT_EQ(sync_->TargetOf(live_.back()), last_id);
}

TEST_P(KeepaliveSyncTest, DataplaneDownIsCountedAndTheReconnectRepairs) {
  const Binding alice = NattedBinding(GetParam(), "alice@example.com",
                                      "sip:alice@192.168.1.20:5060");
  const Binding bob = NattedBinding(GetParam(), "bob@example.com", "sip:bob@192.168.1.21:5060");
  live_ = {alice};
  sync_->Apply({Added(alice)});
  ASSERT_EQ(server_->Targets().size(), 1u);

  server_->Stop();  // the dataplane restarts: its targets are gone
  live_ = {bob};     // alice un-registers and bob registers meanwhile
  sync_->Apply({RemovedChange(alice), Added(bob)});
  EXPECT_EQ(sync_->counters().failures, 2u);
  EXPECT_FALSE(sync_->TargetOf(bob).has_value());
  EXPECT_FALSE(sync_->TargetOf(alice).has_value());

  server_->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kRetryMs));
  ASSERT_TRUE(link_->EnsureConnected().ok());
  auto targets = server_->Targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets.begin()->second["label"], "rc-ka:bob@example.com");
  EXPECT_EQ(sync_->TargetOf(bob), targets.begin()->first);
  EXPECT_EQ(sync_->counters().reinstalls, 2u);  // the first connection, then this one
}

TEST_P(KeepaliveSyncTest, ReinstallWhileDownFailsCleanlyAndForgetsStaleIds) {
  const Binding alice = NattedBinding(GetParam(), "alice@example.com",
                                      "sip:alice@192.168.1.20:5060");
  sync_->Apply({Added(alice)});
  server_->Stop();
  sync_->ReinstallAll({alice});
  EXPECT_EQ(sync_->counters().failures, 1u);
  EXPECT_EQ(sync_->size(), 0u) << "ids of a dataplane that went away mean nothing";
}

}  // namespace
}  // namespace rtplatch
