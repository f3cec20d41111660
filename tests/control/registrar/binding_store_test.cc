#include "control/registrar/binding_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/control/registrar/scratch_dir.h"

namespace rtplatch {
namespace {

constexpr int64_t kNow = 1'700'000'000;

Endpoint Ep(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : Endpoint{};
}

// What the file holds, read past the store: `sql`'s one integer.
int64_t RawCount(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

struct Family {
  const char* name;
  const char* source;
  const char* local;
};

class BindingStoreTest : public ::testing::TestWithParam<Family> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp failed";
    path_ = dir_ + "/bindings.db";
  }

  std::unique_ptr<BindingStore> OpenStore() {
    auto store = BindingStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  Binding MakeBinding(absl::string_view aor, absl::string_view contact,
                      int64_t expires_at = kNow + 3600) {
    Binding b;
    b.aor = std::string(aor);
    b.contact_uri = std::string(contact);
    b.expires_at = expires_at;
    b.call_id = "a84b4c76e66710@pc33.example.com";
    b.cseq = 314159;
    b.user_agent = "baresip v3.0 \"quoted\"";
    b.source = Ep(GetParam().source);
    b.transport = Binding::Transport::kUdp;
    b.local_socket = Ep(GetParam().local);
    b.behind_nat = true;
    b.nat_reasons = {"via sent-by 192.0.2.10:5060 differs from source",
                     "contact in inside prefix", "ünïcode, \"quotes\"\nand newline"};
    b.keepalive_interval_ms = 25'000;
    b.keepalive_reason = "re-registered from a new source port";
    b.keepalive_learning = true;
    b.q_milli = 700;
    return b;
  }

  // The AOR's live bindings, highest q first: LoadAll, filtered (the
  // store has no index by AOR).
  static absl::StatusOr<std::vector<Binding>> Live(BindingStore& store, absl::string_view aor) {
    absl::StatusOr<std::vector<Binding>> all = store.LoadAll(kNow);
    if (all.ok()) std::erase_if(*all, [&](const Binding& b) { return b.aor != aor; });
    return all;
  }
  // The row (aor, contact) is stored at, 0 when none.
  static BindingRow RowOf(BindingStore& store, absl::string_view aor, absl::string_view contact) {
    BindingRow found = 0;
    EXPECT_TRUE(store
                    .LoadEach([&](BindingRow row, const Binding& b) {
                      if (b.aor == aor && b.contact_uri == contact) found = row;
                    })
                    .ok());
    return found;
  }
  // A REGISTER of new bindings (and removed rows).
  static absl::Status Register(BindingStore& store, std::vector<Binding> upserts,
                               std::vector<BindingRow> removed = {}) {
    std::vector<BindingRow> rows(upserts.size(), 0);
    return store.ApplyRegister(removed, upserts, absl::MakeSpan(rows));
  }

  ScratchDir scratch_{"binding_store_test"};
  const std::string dir_ = scratch_.path();
  std::string path_;
};

INSTANTIATE_TEST_SUITE_P(
    Families, BindingStoreTest,
    ::testing::Values(Family{"Ipv4", "203.0.113.7:40123", "203.0.113.1:5060"},
                      Family{"Ipv6", "[2001:db8::7]:40123", "[2001:db8::1]:5060"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_P(BindingStoreTest, RoundTripsEveryField) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10:5060");
  ASSERT_TRUE(store->Insert(b).ok());
  auto found = Live(*store, b.aor);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0], b);
  EXPECT_EQ((*found)[0].source.ToString(), GetParam().source);
}

TEST_P(BindingStoreTest, SurvivesReopen) {
  Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10:5060");
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Insert(b).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto all = store->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0], b);
}

// WAL: a committed upsert is on disk even if the process dies right after,
// without closing anything.
TEST_P(BindingStoreTest, SurvivesKillMinus9) {
  Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10:5060");
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = BindingStore::Open(path_);
    if (!store.ok() || !(*store)->Insert(b).ok()) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child did not reach the kill (status " << status << ")";
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal")) << "WAL mode is on";

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto found = Live(*store, b.aor);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0], b);
}

// A load reads every row through one Binding (its buffers reused): no
// field of a row may leak into the next, long or short, natted or not.
TEST_P(BindingStoreTest, EachLoadedRowIsItsOwnWhateverCameBefore) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Binding natted = MakeBinding("sip:alice-with-a-long-name@example.com",
                               "sip:alice@192.0.2.10:5060;transport=udp;ob");
  Binding plain = MakeBinding("sip:bo@example.com", "sip:bo@192.0.2.20");
  plain.behind_nat = false;
  plain.nat_reasons.clear();
  plain.user_agent.clear();
  plain.keepalive_reason.clear();
  plain.keepalive_learning = false;
  plain.call_id = "c";
  Binding natted_again = MakeBinding("sip:carol@example.com", "sip:carol@192.0.2.30");
  natted_again.nat_reasons = {"one reason"};
  for (const Binding* b : {&natted, &plain, &natted_again}) ASSERT_TRUE(store->Insert(*b).ok());
  std::vector<Binding> loaded;
  ASSERT_TRUE(store->LoadEach([&](BindingRow, const Binding& b) { loaded.push_back(b); }).ok());
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded[0], natted);
  EXPECT_EQ(loaded[1], plain);
  EXPECT_EQ(loaded[2], natted_again);
}

TEST_P(BindingStoreTest, SeveralContactsPerAorHighestQFirst) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Binding desk = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10");
  desk.q_milli = 500;
  Binding mobile = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.20");
  mobile.q_milli = 1000;
  Binding soft = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.30");
  soft.q_milli = 500;
  soft.expires_at = desk.expires_at + 60;  // same q: later expiry first
  Binding bob = MakeBinding("sip:bob@example.com", "sip:bob@192.0.2.40");
  for (const Binding* b : {&desk, &mobile, &soft, &bob}) {
    ASSERT_TRUE(store->Insert(*b).ok());
  }
  auto found = Live(*store, "sip:alice@example.com");
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 3u);
  EXPECT_EQ((*found)[0].contact_uri, mobile.contact_uri);
  EXPECT_EQ((*found)[1].contact_uri, soft.contact_uri);
  EXPECT_EQ((*found)[2].contact_uri, desk.contact_uri);
  EXPECT_EQ(Live(*store, "sip:carol@example.com")->size(), 0u);
}

TEST_P(BindingStoreTest, UpdateRewritesItsRow) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10");
  absl::StatusOr<BindingRow> row = store->Insert(b);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_GT(*row, 0);
  b.cseq += 1;
  b.expires_at += 600;
  b.source.port = 40999;  // NAT rebinding
  b.nat_reasons.clear();
  ASSERT_TRUE(store->Update(*row, b).ok());
  auto found = Live(*store, b.aor);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0], b);
  EXPECT_EQ(RowOf(*store, b.aor, b.contact_uri), *row) << "a refresh stays in its row";
  EXPECT_EQ(store->Update(0, b).code(), absl::StatusCode::kInvalidArgument);
}

// The registrar holds the row; a file that lost it (deleted by hand) gets
// it back where it was on the next write, not a second copy.
TEST_P(BindingStoreTest, UpdateOfALostRowWritesItBack) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10");
  absl::StatusOr<BindingRow> row = store->Insert(b);
  ASSERT_TRUE(row.ok());
  ASSERT_TRUE(store->Remove(*row).ok());
  EXPECT_EQ(Live(*store, b.aor)->size(), 0u);
  ASSERT_TRUE(store->Update(*row, b).ok());
  EXPECT_EQ(RowOf(*store, b.aor, b.contact_uri), *row);
  EXPECT_EQ(store->LoadAll(kNow)->size(), 1u);
}

// Rows follow arrival, not the key: what makes a refresh, an expiry or a
// new binding write the pages its neighbours in time write.
TEST_P(BindingStoreTest, RowsAreInTheOrderBindingsArrive) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> users = {"zoe", "adam", "mia", "bob"};
  for (const std::string& u : users) {
    const std::string aor = absl::StrCat("sip:", u, "@example.com");
    ASSERT_TRUE(store->Insert(MakeBinding(aor, absl::StrCat("sip:", u, "@192.0.2.10"))).ok());
  }
  std::vector<std::string> loaded;
  BindingRow last = 0;
  ASSERT_TRUE(store
                  ->LoadEach([&](BindingRow row, const Binding& b) {
                    EXPECT_GT(row, last);
                    last = row;
                    loaded.push_back(b.aor.substr(4, b.aor.find('@') - 4));
                  })
                  .ok());
  EXPECT_EQ(loaded, users);
}

TEST_P(BindingStoreTest, RemoveTakesOneRow) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string aor = "sip:alice@example.com";
  ASSERT_TRUE(store->Insert(MakeBinding(aor, "sip:a@192.0.2.1")).ok());
  absl::StatusOr<BindingRow> second = store->Insert(MakeBinding(aor, "sip:a@192.0.2.2"));
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(store->Insert(MakeBinding(aor, "sip:a@192.0.2.3")).ok());
  ASSERT_TRUE(store->Insert(MakeBinding("sip:bob@example.com", "sip:b@192.0.2.4")).ok());

  ASSERT_TRUE(store->Remove(*second).ok());
  EXPECT_EQ(Live(*store, aor)->size(), 2u);
  EXPECT_EQ(RowOf(*store, aor, "sip:a@192.0.2.2"), 0);
  EXPECT_TRUE(store->Remove(*second).ok()) << "a row not there is not an error";
  EXPECT_EQ(Live(*store, "sip:bob@example.com")->size(), 1u);
}

TEST_P(BindingStoreTest, ExpiredBindingsAreSkippedAndPruned) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string aor = "sip:alice@example.com";
  ASSERT_TRUE(store->Insert(MakeBinding(aor, "sip:a@192.0.2.1", kNow - 10)).ok());
  ASSERT_TRUE(store->Insert(MakeBinding(aor, "sip:a@192.0.2.2", kNow)).ok());
  ASSERT_TRUE(store->Insert(MakeBinding(aor, "sip:a@192.0.2.3", kNow + 1)).ok());
  ASSERT_TRUE(store->Insert(MakeBinding("sip:bob@example.com", "sip:b@192.0.2.4",
                                        kNow + 100)).ok());

  // expires_at == now counts as expired.
  auto live = store->LoadAll(kNow);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 2u);
  EXPECT_EQ((*live)[0].contact_uri, "sip:a@192.0.2.3");
  EXPECT_EQ((*live)[1].aor, "sip:bob@example.com");
  EXPECT_EQ(Live(*store, aor)->size(), 1u);

  auto pruned = store->PruneExpired(kNow);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 2);
  EXPECT_EQ(*store->PruneExpired(kNow), 0);
  // Pruning deleted rows; loading "as of" the past shows only survivors.
  EXPECT_EQ(store->LoadAll(0)->size(), 2u);
  EXPECT_EQ(*store->PruneExpired(kNow + 1000), 2);
  EXPECT_EQ(store->LoadAll(0)->size(), 0u);
}

TEST_P(BindingStoreTest, ApplyRegisterIsAllOrNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string aor = "sip:alice@example.com";
  absl::StatusOr<BindingRow> first = store->Insert(MakeBinding(aor, "sip:a@192.0.2.1"));
  ASSERT_TRUE(first.ok());

  Binding good = MakeBinding(aor, "sip:a@192.0.2.2");
  Binding bad = MakeBinding(aor, "sip:a@192.0.2.3");
  bad.q_milli = 1500;
  const std::vector<BindingRow> removed = {*first};
  std::vector<BindingRow> rows = {0, 0};
  absl::Status s = store->ApplyRegister(removed, {good, bad}, absl::MakeSpan(rows));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "q 1500")) << s;
  auto found = Live(*store, aor);
  ASSERT_EQ(found->size(), 1u) << "nothing of the failed REGISTER landed";
  EXPECT_EQ((*found)[0].contact_uri, "sip:a@192.0.2.1");

  rows = {0};
  ASSERT_TRUE(store->ApplyRegister(removed, {good}, absl::MakeSpan(rows)).ok());
  EXPECT_GT(rows[0], 0) << "the new binding got a row";
  found = Live(*store, aor);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].contact_uri, "sip:a@192.0.2.2");
  EXPECT_EQ(RowOf(*store, aor, "sip:a@192.0.2.2"), rows[0]);

  EXPECT_EQ(store->ApplyRegister({}, {good}, {}).code(), absl::StatusCode::kInvalidArgument)
      << "a row for each binding";
}

TEST_P(BindingStoreTest, RejectsBindingsWithoutKey) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Insert(MakeBinding("", "sip:a@192.0.2.1")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Insert(MakeBinding("sip:alice@example.com", "")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- damaged or foreign files ---------------------------------------------

// The bindings table of schema versions 1 and 2 (version 2 adds WITHOUT
// ROWID after it), and the version table, as those builds wrote them.
constexpr const char* kOldBindingsTable =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE bindings (aor TEXT NOT NULL, contact TEXT NOT NULL,"
    " expires_at INTEGER NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,"
    " user_agent TEXT NOT NULL, source_ip TEXT NOT NULL, source_port INTEGER NOT NULL,"
    " transport TEXT NOT NULL, local_ip TEXT NOT NULL, local_port INTEGER NOT NULL,"
    " behind_nat INTEGER NOT NULL, nat_reasons TEXT NOT NULL,"
    " keepalive_interval_ms INTEGER NOT NULL, keepalive_reason TEXT NOT NULL,"
    " q_milli INTEGER NOT NULL, PRIMARY KEY (aor, contact)) STRICT";

class BindingStoreFileTest : public BindingStoreTest {
 protected:
  // A database file written by an older build: `sql` run on a new file.
  void WriteRawDatabase(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
};
INSTANTIATE_TEST_SUITE_P(
    Ipv4, BindingStoreFileTest,
    ::testing::Values(Family{"Ipv4", "203.0.113.7:40123", "203.0.113.1:5060"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_P(BindingStoreFileTest, NotADatabaseIsAClearError) {
  std::ofstream(path_) << std::string(8192, 'x') << "this is not SQLite";
  auto store = BindingStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(store.status().message(), path_));
  EXPECT_TRUE(absl::StrContains(store.status().message(), "not a database"))
      << store.status();
}

TEST_P(BindingStoreFileTest, CorruptPagesAreAnErrorNotACrash) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 400; ++i) {
      ASSERT_TRUE(store->Insert(MakeBinding(absl::StrCat("sip:u", i, "@example.com"),
                                            absl::StrCat("sip:u", i, "@192.0.2.1")))
                      .ok());
    }
  }  // close checkpoints the WAL into the main file
  ASSERT_GT(std::filesystem::file_size(path_), 8u * 4096u);
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    for (int page = 2; page < 8; ++page) {
      f.seekp(page * 4096 + 17);
      f << std::string(3000, '\xa5');
    }
  }
  auto store = BindingStore::Open(path_);
  if (store.ok()) {
    auto all = (*store)->LoadAll(kNow);
    EXPECT_FALSE(all.ok()) << "corruption went unnoticed";
  } else {
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
    EXPECT_TRUE(absl::StrContains(store.status().message(), path_));
    EXPECT_LT(store.status().message().size(), 500u) << "report is capped";
  }
}

TEST_P(BindingStoreFileTest, NewerSchemaIsRefused) {
  { ASSERT_NE(OpenStore(), nullptr); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = BindingStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(store.status().message(), "version 99"))
      << store.status();
}

// A database written by a build with schema version 1 (a rowid table with
// the same columns) is migrated on open: its rows are kept, refreshes
// update them, and the file says version 5 afterwards (keepalive_learning
// added, false for the old rows: their intervals are settled).
TEST_P(BindingStoreFileTest, Version1DatabaseIsMigrated) {
  const std::string v1 = absl::StrCat(
      kOldBindingsTable, ";"
      "CREATE INDEX bindings_by_expiry ON bindings (expires_at);"
      "INSERT INTO schema_version (version) VALUES (1);"
      "INSERT INTO bindings VALUES ('sip:alice@example.com', 'sip:alice@192.0.2.10', ",
      kNow + 600, ", 'call-1', 7, 'v1 phone', '203.0.113.5', 40000, 'udp', '203.0.113.1',"
      " 5060, 1, '[\"via_host_differs_from_source\"]', 30000, 'initial', 1000);");
  ASSERT_NO_FATAL_FAILURE(WriteRawDatabase(v1));

  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    auto all = store->LoadAll(kNow);
    ASSERT_TRUE(all.ok()) << all.status();
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].user_agent, "v1 phone");
    EXPECT_EQ((*all)[0].source.ToString(), "203.0.113.5:40000");
    EXPECT_EQ((*all)[0].nat_reasons, std::vector<std::string>{"via_host_differs_from_source"});
    EXPECT_FALSE((*all)[0].keepalive_learning);
    Binding refreshed = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10");
    ASSERT_TRUE(
        store->Update(RowOf(*store, refreshed.aor, refreshed.contact_uri), refreshed).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto all = store->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].cseq, 314159u) << "the refresh updated the migrated row";

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 5);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// The upgrade from the last release: a version 2 file (WITHOUT ROWID, no
// keepalive_learning) is migrated to 4; its rows are kept, not learning.
TEST_P(BindingStoreFileTest, Version2DatabaseIsMigrated) {
  const std::string v2 = absl::StrCat(
      kOldBindingsTable, ", WITHOUT ROWID;"
      "INSERT INTO schema_version (version) VALUES (2);"
      "INSERT INTO bindings VALUES ('sip:bob@example.com', 'sip:bob@192.0.2.20', ",
      kNow + 600, ", 'call-2', 3, 'v2 phone', '203.0.113.6', 40002, 'udp', '203.0.113.1',"
      " 5060, 1, '[]', 60000, 'initial: 60000 ms (policy default)', 1000);");
  ASSERT_NO_FATAL_FAILURE(WriteRawDatabase(v2));

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto all = store->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].user_agent, "v2 phone");
  EXPECT_EQ((*all)[0].keepalive_interval_ms, 60000u);
  EXPECT_FALSE((*all)[0].keepalive_learning);
  Binding learning = MakeBinding("sip:bob@example.com", "sip:bob@192.0.2.20");
  ASSERT_TRUE(store->Update(RowOf(*store, learning.aor, learning.contact_uri), learning).ok());
  all = store->LoadAll(kNow);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE((*all)[0].keepalive_learning) << "the new column is written";
}

// The upgrade from the last release: a version 3 file (WITHOUT ROWID,
// keyed by AOR) becomes a table in arrival order. Its rows go in the
// order they will be refreshed (by expiry), learning state kept.
TEST_P(BindingStoreFileTest, Version3DatabaseIsMigratedInExpiryOrder) {
  auto row = [](absl::string_view user, int64_t expires_at, int learning) {
    return absl::StrCat("INSERT INTO bindings VALUES ('sip:", user, "@example.com', 'sip:",
                        user, "@192.0.2.20', ", expires_at, ", 'call-", user,
                        "', 3, 'v3 phone', '203.0.113.6', 40002, 'udp', '203.0.113.1', 5060, 1,"
                        " '[]', 60000, 'learning', 1000, ", learning, ");");
  };
  // Version 2's table with keepalive_learning added last.
  const std::string v3 = absl::StrCat(
      absl::StrReplaceAll(kOldBindingsTable,
                          {{"PRIMARY KEY", "keepalive_learning INTEGER NOT NULL DEFAULT 0, "
                                           "PRIMARY KEY"}}),
      ", WITHOUT ROWID;"
      "INSERT INTO schema_version (version) VALUES (3);",
      row("alice", kNow + 900, 1), row("bob", kNow + 300, 0), row("carol", kNow + 600, 0));
  ASSERT_NO_FATAL_FAILURE(WriteRawDatabase(v3));

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> order;
  bool alice_learning = false;
  ASSERT_TRUE(store
                  ->LoadEach([&](BindingRow, const Binding& b) {
                    order.push_back(b.call_id);
                    if (b.call_id == "call-alice") alice_learning = b.keepalive_learning;
                  })
                  .ok());
  EXPECT_EQ(order, (std::vector<std::string>{"call-bob", "call-carol", "call-alice"}));
  EXPECT_TRUE(alice_learning);
}

// The upgrade from the last release: a version 4 file (rows in arrival
// order, no refresh log) gains the log and refresh_seq; its rows load as
// they were and a logged refresh of one of them lands over it.
TEST_P(BindingStoreFileTest, Version4DatabaseGainsTheRefreshLog) {
  const std::string v4 = absl::StrCat(
      "CREATE TABLE schema_version (version INTEGER NOT NULL);"
      "CREATE TABLE bindings (id INTEGER PRIMARY KEY, aor TEXT NOT NULL, contact TEXT NOT NULL,"
      " expires_at INTEGER NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,"
      " user_agent TEXT NOT NULL, source_ip TEXT NOT NULL, source_port INTEGER NOT NULL,"
      " transport TEXT NOT NULL, local_ip TEXT NOT NULL, local_port INTEGER NOT NULL,"
      " behind_nat INTEGER NOT NULL, nat_reasons TEXT NOT NULL,"
      " keepalive_interval_ms INTEGER NOT NULL, keepalive_reason TEXT NOT NULL,"
      " keepalive_learning INTEGER NOT NULL DEFAULT 0, q_milli INTEGER NOT NULL) STRICT;"
      "INSERT INTO schema_version (version) VALUES (4);"
      "INSERT INTO bindings VALUES (7, 'sip:dave@example.com', 'sip:dave@192.0.2.40', ",
      kNow + 600, ", 'call-dave', 3, 'v4 phone', '203.0.113.6', 40002, 'udp', '203.0.113.1',"
      " 5060, 1, '[]', 60000, 'learned', 0, 1000);");
  ASSERT_NO_FATAL_FAILURE(WriteRawDatabase(v4));
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    std::vector<std::pair<BindingRow, Binding>> loaded;
    ASSERT_TRUE(store->LoadEach([&](BindingRow row, const Binding& b) {
                       loaded.emplace_back(row, b);
                     }).ok());
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_EQ(loaded[0].first, 7);
    EXPECT_EQ(loaded[0].second.user_agent, "v4 phone");
    Binding later = loaded[0].second;
    later.expires_at = kNow + 1200;
    later.cseq = 4;
    BindingRow row = 7;
    const bool plain = true;
    ASSERT_TRUE(store->ApplyRegister({}, absl::MakeConstSpan(&later, 1), absl::MakeSpan(&row, 1),
                                     absl::MakeConstSpan(&plain, 1))
                    .ok());
  }
  EXPECT_EQ(RawCount(path_, "SELECT version FROM schema_version"), 5);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Binding>> all = store->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].expires_at, kNow + 1200);
  EXPECT_EQ((*all)[0].cseq, 4u);
}

TEST_P(BindingStoreFileTest, BadRowIsNamedNotSkipped) {
  Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10");
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Insert(b).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE bindings SET source_ip = 'not-an-ip'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto all = store->LoadAll(kNow);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(all.status().message(), "sip:alice@example.com"));
  EXPECT_TRUE(absl::StrContains(all.status().message(), "not-an-ip"));
}

TEST_P(BindingStoreFileTest, UnopenablePathIsAClearError) {
  auto store = BindingStore::Open(dir_);  // a directory
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::StrContains(store.status().message(), dir_)) << store.status();
  auto missing_dir = BindingStore::Open(dir_ + "/no/such/dir/b.db");
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_TRUE(absl::StrContains(missing_dir.status().message(), "open"));
}

TEST(BindingTransportTest, NamesRoundTrip) {
  for (auto t : {Binding::Transport::kUdp, Binding::Transport::kTcp,
                 Binding::Transport::kTls, Binding::Transport::kWs,
                 Binding::Transport::kWss}) {
    auto parsed = ParseTransport(TransportName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(ParseTransport("sctp").ok());
}


// ---- group commit (set_group_commit / Flush) -------------------------------

// The binding as a plain refresh leaves it: expiry, CSeq and Call-ID.
Binding Refreshed(Binding b, int64_t expires_at, uint32_t cseq) {
  b.expires_at = expires_at;
  b.cseq = cseq;
  b.call_id = absl::StrCat("refresh-", cseq, "@pc33.example.com");
  return b;
}

// A plain refresh is appended to the log, its row left as it was; a load
// (after a reopen: a restart) sees the refresh.
TEST_P(BindingStoreTest, PlainRefreshIsLoggedAndLoadedOverItsRow) {
  const Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10");
  const Binding later = Refreshed(b, kNow + 7200, 314160);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(Register(*store, {b}).ok());
    BindingRow row = RowOf(*store, b.aor, b.contact_uri);
    const bool refresh = true;
    ASSERT_TRUE(store->ApplyRegister({}, absl::MakeConstSpan(&later, 1), absl::MakeSpan(&row, 1),
                                     absl::MakeConstSpan(&refresh, 1))
                    .ok());
    EXPECT_EQ(store->counters().refreshes_logged, 1u);
  }
  EXPECT_EQ(RawCount(path_, "SELECT expires_at FROM bindings"), kNow + 3600) << "row untouched";
  EXPECT_EQ(RawCount(path_, "SELECT count(*) FROM refreshes"), 1);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Binding>> live = Live(*store, b.aor);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0], later);
  int loaded = 0;
  ASSERT_TRUE(store
                  ->LoadEach([&](BindingRow, const Binding& got) {
                    EXPECT_EQ(got, later);
                    ++loaded;
                  })
                  .ok());
  EXPECT_EQ(loaded, 1);
}

// Rows are never reused, so after long uptime the highest row is far
// above the count: the load's refreshes, newest of several for a row,
// still land on their rows however sparse (a table by row number would be
// sized by the highest).
TEST_P(BindingStoreTest, RefreshesLandOnSparseRowsFarAboveTheCount) {
  const Binding a = MakeBinding("sip:a@example.com", "sip:a@192.0.2.1");
  const Binding b = MakeBinding("sip:b@example.com", "sip:b@192.0.2.2");
  const Binding c = MakeBinding("sip:c@example.com", "sip:c@192.0.2.3");
  BindingRow c_row = 0;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(Register(*store, {a, b, c}).ok());
    c_row = RowOf(*store, c.aor, c.contact_uri);
    BindingRow rows[] = {RowOf(*store, a.aor, a.contact_uri), c_row};
    const bool plain[] = {true, true};
    for (uint32_t cseq : {1u, 2u}) {
      const Binding refreshes[] = {Refreshed(a, kNow + 7000 + cseq, cseq),
                                   Refreshed(c, kNow + 8000 + cseq, cseq)};
      ASSERT_TRUE(store->ApplyRegister({}, refreshes, absl::MakeSpan(rows), plain).ok());
    }
  }
  // c's row (and its log entries) moved to a row id a trillion up.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const std::string move_c =
      absl::StrCat("UPDATE bindings SET id = 1000000000000 WHERE id = ", c_row,
                   "; UPDATE refreshes SET row = 1000000000000 WHERE row = ", c_row, ";");
  ASSERT_EQ(sqlite3_exec(db, move_c.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::pair<BindingRow, Binding>> loaded;
  ASSERT_TRUE(store
                  ->LoadEach([&](BindingRow row, const Binding& got) {
                    loaded.emplace_back(row, got);
                  })
                  .ok());
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded[0].second, Refreshed(a, kNow + 7002, 2));
  EXPECT_EQ(loaded[1].second, b);
  EXPECT_EQ(loaded[2].first, 1'000'000'000'000);
  EXPECT_EQ(loaded[2].second, Refreshed(c, kNow + 8002, 2));
}

// A row written whole after a logged refresh (its contact's details
// changed) wins over the older log entry; a removed row stays removed.
TEST_P(BindingStoreTest, WholeWriteAfterALoggedRefreshWinsAndRemovalSticks) {
  Binding a = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10");
  const Binding b = MakeBinding("sip:bob@example.com", "sip:bob@192.0.2.20");
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(Register(*store, {a, b}).ok());
    BindingRow rows[] = {RowOf(*store, a.aor, a.contact_uri), RowOf(*store, b.aor, b.contact_uri)};
    const Binding refreshes[] = {Refreshed(a, kNow + 7200, 1), Refreshed(b, kNow + 7200, 1)};
    const bool plain[] = {true, true};
    ASSERT_TRUE(store->ApplyRegister({}, refreshes, absl::MakeSpan(rows), plain).ok());
    a.user_agent = "baresip v3.1";
    a.expires_at = kNow + 900;
    ASSERT_TRUE(store->Update(rows[0], a).ok());
    ASSERT_TRUE(store->Remove(rows[1]).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Binding>> all = store->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u) << "bob's log entry does not bring him back";
  EXPECT_EQ((*all)[0], a) << "the whole write, not the older log entry";
}

// Refreshes far beyond the log's slack: each flush takes its oldest
// entries, carrying a live one on; the log stays bounded and every
// binding loads with its last refresh.
TEST_P(BindingStoreTest, RefreshLogIsCompactedAndKeepsEachLastRefresh) {
  const Binding bindings[] = {MakeBinding("sip:a@example.com", "sip:a@192.0.2.1"),
                              MakeBinding("sip:b@example.com", "sip:b@192.0.2.2"),
                              MakeBinding("sip:c@example.com", "sip:c@192.0.2.3")};
  constexpr uint32_t kRounds = 6000;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(Register(*store, {bindings[0], bindings[1], bindings[2]}).ok());
    std::vector<BindingRow> rows;
    ASSERT_TRUE(store->LoadEach([&](BindingRow row, const Binding&) { rows.push_back(row); }).ok());
    ASSERT_EQ(rows.size(), 3u);
    store->set_group_commit(true);
    for (uint32_t i = 1; i <= kRounds; ++i) {
      // c refreshes only once, early: its entry is the oldest live one.
      const size_t which = i == 1 ? 2 : i % 2;
      const Binding r = Refreshed(bindings[which], kNow + 3600 + i, i);
      const bool plain = true;
      ASSERT_TRUE(store->ApplyRegister({}, absl::MakeConstSpan(&r, 1),
                                       absl::MakeSpan(&rows[which], 1),
                                       absl::MakeConstSpan(&plain, 1))
                      .ok());
      if (i % 50 == 0) {
        ASSERT_TRUE(store->Flush().ok());
      }
    }
    ASSERT_TRUE(store->Flush().ok());
    EXPECT_EQ(store->refresh_log().live(), 3);
    EXPECT_LE(store->refresh_log().entries(), 2 * RefreshLog::kMinGarbage + 300);
    EXPECT_GE(store->refresh_log().carried(), 1u) << "c's one entry was carried on";
  }
  EXPECT_LE(RawCount(path_, "SELECT count(*) FROM refreshes"), 2 * RefreshLog::kMinGarbage + 300);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Binding>> all = store->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  for (const Binding& got : *all) {
    // Even rounds refresh a, odd ones b.
    const uint32_t last = got.aor == "sip:a@example.com" ? kRounds
                          : got.aor == "sip:b@example.com" ? kRounds - 1
                                                            : 1;
    EXPECT_EQ(got.cseq, last) << got.aor;
    EXPECT_EQ(got.expires_at, kNow + 3600 + last) << got.aor;
  }
}

// An expiry the log moved is the one pruning goes by.
TEST_P(BindingStoreTest, PruneGoesByTheLoggedExpiry) {
  const Binding b = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10", kNow - 10);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Register(*store, {b}).ok());
  BindingRow row = RowOf(*store, b.aor, b.contact_uri);
  const Binding later = Refreshed(b, kNow + 600, 2);
  const bool plain = true;
  ASSERT_TRUE(store->ApplyRegister({}, absl::MakeConstSpan(&later, 1), absl::MakeSpan(&row, 1),
                                   absl::MakeConstSpan(&plain, 1))
                  .ok());
  absl::StatusOr<int> pruned = store->PruneExpired(kNow);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 0) << "refreshed past now";
  pruned = store->PruneExpired(kNow + 600);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1);
}

TEST_P(BindingStoreTest, GroupCommitLandsOnFlush) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto reader = OpenStore();  // another connection: sees only commits
  ASSERT_NE(reader, nullptr);
  store->set_group_commit(true);
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  for (const std::string& u : users) {
    const std::string aor = absl::StrCat("sip:", u, "@example.com");
    ASSERT_TRUE(Register(*store, {MakeBinding(aor, absl::StrCat("sip:", u, "@192.0.2.10"))})
                    .ok());
  }
  EXPECT_EQ(store->LoadAll(kNow)->size(), 3u) << "the writer reads its own round";
  EXPECT_EQ(reader->LoadAll(kNow)->size(), 0u) << "nothing committed before Flush";
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(reader->LoadAll(kNow)->size(), 3u);
  EXPECT_TRUE(store->Flush().ok()) << "an empty round is a no-op";

  // The next round opens a new group.
  const std::string dave = "sip:dave@example.com";
  ASSERT_TRUE(Register(*store, {MakeBinding(dave, "sip:dave@192.0.2.11")}).ok());
  ASSERT_TRUE(store->Flush().ok());
  reader.reset();
  store.reset();
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  auto all = reopened->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0], MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10"));
}

// Remove (the registrar's prune of expired bindings) and Insert join the
// round too: many removals are one commit, not one each.
TEST_P(BindingStoreTest, GroupCommitTakesRemovesAndInserts) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto reader = OpenStore();
  ASSERT_NE(reader, nullptr);
  for (const char* u : {"alice", "bob"}) {
    const std::string aor = absl::StrCat("sip:", u, "@example.com");
    ASSERT_TRUE(store->Insert(MakeBinding(aor, absl::StrCat("sip:", u, "@192.0.2.10"))).ok());
  }
  EXPECT_EQ(reader->LoadAll(kNow)->size(), 2u) << "without group commit: committed at once";
  store->set_group_commit(true);
  ASSERT_TRUE(store->Remove(RowOf(*store, "sip:alice@example.com", "sip:alice@192.0.2.10")).ok());
  ASSERT_TRUE(store->Insert(MakeBinding("sip:carol@example.com", "sip:carol@192.0.2.12")).ok());
  EXPECT_EQ(reader->LoadAll(kNow)->size(), 2u) << "nothing committed before Flush";
  ASSERT_TRUE(store->Flush().ok());
  auto all = reader->LoadAll(kNow);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].aor, "sip:bob@example.com");
  EXPECT_EQ((*all)[1].aor, "sip:carol@example.com");
}

TEST_P(BindingStoreTest, GroupCommitDestructorFlushes) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    store->set_group_commit(true);
    const std::string aor = "sip:alice@example.com";
    ASSERT_TRUE(Register(*store, {MakeBinding(aor, "sip:a@192.0.2.1")}).ok());
    ASSERT_TRUE(Register(*store, {MakeBinding(aor, "sip:a@192.0.2.2")},
                         {RowOf(*store, aor, "sip:a@192.0.2.1")})
                    .ok());
  }  // no Flush()
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto found = Live(*store, "sip:alice@example.com");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].contact_uri, "sip:a@192.0.2.2") << "the removal landed too";
}

TEST_P(BindingStoreTest, GroupCommitFailedChangeRollsBackOnlyItself) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  store->set_group_commit(true);
  const std::string alice = "sip:alice@example.com";
  const std::string bob = "sip:bob@example.com";
  const std::string carol = "sip:carol@example.com";
  ASSERT_TRUE(store->Insert(MakeBinding(bob, "sip:bob@192.0.2.20")).ok());  // before the round
  ASSERT_TRUE(Register(*store, {MakeBinding(alice, "sip:a@192.0.2.1")}).ok());

  // Bob's REGISTER removes his old contact and adds two, one without a
  // contact: WriteRow refuses it, so none of bob's change may land.
  absl::Status s = Register(*store, {MakeBinding(bob, "sip:bob@192.0.2.21"), MakeBinding(bob, "")},
                            {RowOf(*store, bob, "sip:bob@192.0.2.20")});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;

  // Reads and later changes in the same round still work.
  auto bob_now = Live(*store, bob);
  ASSERT_TRUE(bob_now.ok()) << bob_now.status();
  ASSERT_EQ(bob_now->size(), 1u);
  EXPECT_EQ((*bob_now)[0].contact_uri, "sip:bob@192.0.2.20");
  auto alice_now = Live(*store, alice);
  ASSERT_TRUE(alice_now.ok()) << alice_now.status();
  EXPECT_EQ(alice_now->size(), 1u) << "the savepoint kept alice's earlier change";
  ASSERT_TRUE(Register(*store, {MakeBinding(carol, "sip:c@192.0.2.3")}).ok());
  ASSERT_TRUE(store->Flush().ok());

  store.reset();
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  auto all = reopened->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> contacts;
  for (const Binding& b : *all) contacts.push_back(b.contact_uri);
  EXPECT_EQ(contacts, (std::vector<std::string>{"sip:a@192.0.2.1", "sip:bob@192.0.2.20",
                                                "sip:c@192.0.2.3"}));
}

TEST_P(BindingStoreTest, GroupCommitTurnedOffCommitsTheOpenRound) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string alice = "sip:alice@example.com";
  const std::string bob = "sip:bob@example.com";
  store->set_group_commit(true);
  ASSERT_TRUE(Register(*store, {MakeBinding(alice, "sip:a@192.0.2.1")}).ok());
  store->set_group_commit(false);
  // Back to one transaction per REGISTER: the open round must not get in
  // the way (BEGIN inside a transaction), and both land.
  absl::Status s = Register(*store, {MakeBinding(bob, "sip:b@192.0.2.2")});
  EXPECT_TRUE(s.ok()) << s;
  auto reader = OpenStore();
  ASSERT_NE(reader, nullptr);
  auto all = reader->LoadAll(kNow);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 2u);
}

}  // namespace
}  // namespace rtplatch
