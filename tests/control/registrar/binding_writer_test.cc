#include "control/registrar/binding_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/control/registrar/scratch_dir.h"

namespace rtplatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kNow = 1'700'000'000;

Binding Phone(int n, int64_t expires_at = kNow + 600) {
  Binding b;
  b.aor = absl::StrCat("user", n, "@example.com");
  b.contact_uri = absl::StrCat("sip:user", n, "@192.0.2.10:5060");
  b.expires_at = expires_at;
  b.call_id = absl::StrCat("call-", n);
  b.cseq = 1;
  b.source = *Endpoint::Parse("203.0.113.5:40000");
  b.local_socket = *Endpoint::Parse("198.51.100.2:5060");
  return b;
}

// Another process's connection holding the file's write lock (BEGIN
// IMMEDIATE) until Release().
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
  }
  ~WriteLock() {
    Release();
    sqlite3_close(db_);
  }
  void Release() {
    if (held_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    held_ = false;
  }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = true;
};

class BindingWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed"; }

  std::unique_ptr<BindingStore> OpenStore() {
    auto store = BindingStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  std::unique_ptr<BindingWriter> StartWriter() {
    std::unique_ptr<BindingStore> store = OpenStore();
    if (store == nullptr) return nullptr;
    auto writer = BindingWriter::Start(std::move(store));
    EXPECT_TRUE(writer.ok()) << writer.status();
    return writer.ok() ? *std::move(writer) : nullptr;
  }
  // What the file holds, read by a store of its own.
  std::vector<std::string> StoredAors() {
    std::unique_ptr<BindingStore> store = OpenStore();
    std::vector<std::string> aors;
    if (store == nullptr) return aors;
    absl::StatusOr<std::vector<Binding>> all = store->LoadAll(kNow);
    EXPECT_TRUE(all.ok()) << all.status();
    if (all.ok()) {
      for (const Binding& b : *all) aors.push_back(absl::StrCat(b.aor, " ", b.expires_at));
    }
    return aors;
  }

  ScratchDir dir_{"rtplatch-binding-writer"};
  const std::string path_ = dir_.path() + "/bindings.db";
};

TEST_F(BindingWriterTest, ChangesLandInOrderWithRowsAboveTheStoredOnes) {
  {
    std::unique_ptr<BindingStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(*store->Insert(Phone(1)), 1);
    ASSERT_EQ(*store->Insert(Phone(2)), 2);
  }
  std::unique_ptr<BindingWriter> writer = StartWriter();
  ASSERT_NE(writer, nullptr);

  // A new binding gets its row at once, before anything is written.
  const Binding three = Phone(3);
  BindingRow row = 0;
  ASSERT_TRUE(writer->ApplyRegister({}, absl::MakeConstSpan(&three, 1), absl::MakeSpan(&row, 1))
                  .ok());
  EXPECT_EQ(row, 3);
  // A refresh of 1 through the log, 2 removed, then 3 rewritten: in order.
  Binding one = Phone(1, kNow + 900);
  BindingRow one_row = 1;
  const bool refresh = true;
  ASSERT_TRUE(writer
                  ->ApplyRegister({}, absl::MakeConstSpan(&one, 1), absl::MakeSpan(&one_row, 1),
                                  absl::MakeConstSpan(&refresh, 1))
                  .ok());
  ASSERT_TRUE(writer->Remove(2).ok());
  ASSERT_TRUE(writer->Update(3, Phone(3, kNow + 1200)).ok());
  EXPECT_EQ(writer->counters().backlog, 4u) << "nothing handed over yet";
  writer->Sync();

  EXPECT_THAT(StoredAors(), ElementsAre(absl::StrCat("user1@example.com ", kNow + 900),
                                        absl::StrCat("user3@example.com ", kNow + 1200)));
  const BindingStoreCounters c = writer->counters();
  EXPECT_EQ(c.backlog, 0u);
  EXPECT_EQ(c.writes, 3u);
  EXPECT_EQ(c.refreshes_logged, 1u);
  EXPECT_EQ(c.removals, 1u);
  EXPECT_EQ(c.failed, 0u);
}

TEST_F(BindingWriterTest, TheLoopGoesOnWhileTheFileIsLocked) {
  std::unique_ptr<BindingWriter> writer = StartWriter();
  ASSERT_NE(writer, nullptr);
  WriteLock lock(path_);
  // The store itself would wait here for the busy timeout (2 s) and fail.
  const Binding one = Phone(1);
  BindingRow row = 0;
  ASSERT_TRUE(
      writer->ApplyRegister({}, absl::MakeConstSpan(&one, 1), absl::MakeSpan(&row, 1)).ok());
  writer->Publish();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(writer->counters().backlog, 1u) << "the writer waits for the lock, the loop does not";
  lock.Release();
  writer->Sync();
  EXPECT_THAT(StoredAors(), ElementsAre(absl::StrCat("user1@example.com ", kNow + 600)));
  EXPECT_EQ(writer->TakeFailures().count, 0u);
}

// Rounds handed over while the writer is stuck queue up whole; it then
// commits them in order, kBatch changes a transaction across their
// boundaries (one ends inside the second round here).
TEST_F(BindingWriterTest, RoundsQueuedBehindABusyWriterLandInOrder) {
  std::unique_ptr<BindingWriter> writer = StartWriter();
  ASSERT_NE(writer, nullptr);
  constexpr int kFirst = 3000;
  constexpr int kSecond = 3000;
  static_assert(kFirst < BindingWriter::kBatch && kFirst + kSecond > BindingWriter::kBatch);
  std::vector<BindingRow> rows(kFirst + kSecond + 1, 0);
  auto add = [&](int n) {
    const Binding b = Phone(n);
    return writer->ApplyRegister({}, absl::MakeConstSpan(&b, 1), absl::MakeSpan(&rows[n], 1));
  };
  {
    WriteLock lock(path_);
    for (int n = 1; n <= kFirst; ++n) ASSERT_TRUE(add(n).ok());
    writer->Publish();
    // The odd ones removed (rows made in the round before), new ones added.
    for (int n = 1; n <= kFirst; n += 2) ASSERT_TRUE(writer->Remove(rows[n]).ok());
    for (int n = kFirst + 1; n <= kFirst + kSecond; ++n) ASSERT_TRUE(add(n).ok());
    writer->Publish();
    for (int n = 2; n <= kFirst; n += 2) {
      ASSERT_TRUE(writer->Update(rows[n], Phone(n, kNow + 900)).ok());
    }
    writer->Publish();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(writer->counters().backlog, static_cast<uint64_t>(kFirst * 2 + kSecond))
        << "all three rounds wait behind the lock";
  }
  writer->Sync();
  std::vector<std::string> expected;
  for (int n = 2; n <= kFirst; n += 2) {
    expected.push_back(absl::StrCat("user", n, "@example.com ", kNow + 900));
  }
  for (int n = kFirst + 1; n <= kFirst + kSecond; ++n) {
    expected.push_back(absl::StrCat("user", n, "@example.com ", kNow + 600));
  }
  std::vector<std::string> stored = StoredAors();
  std::sort(stored.begin(), stored.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(stored, expected);
  const BindingStoreCounters c = writer->counters();
  EXPECT_EQ(c.backlog, 0u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(c.removals, static_cast<uint64_t>(kFirst / 2));
  EXPECT_EQ(c.writes, static_cast<uint64_t>(kFirst + kSecond + kFirst / 2));
}

TEST_F(BindingWriterTest, ARefusedChangeIsCountedAndTheNextWritePutsItWhole) {
  std::unique_ptr<BindingWriter> writer = StartWriter();
  ASSERT_NE(writer, nullptr);
  const Binding one = Phone(1);
  BindingRow row = 0;
  {
    // Held past the store's busy timeout: the batch fails.
    WriteLock lock(path_);
    ASSERT_TRUE(
        writer->ApplyRegister({}, absl::MakeConstSpan(&one, 1), absl::MakeSpan(&row, 1)).ok());
    writer->Sync();
  }
  const BindingWriter::Failures f = writer->TakeFailures();
  EXPECT_EQ(f.count, 1u);
  EXPECT_THAT(f.first, ::testing::HasSubstr("lock")) << f.first;
  EXPECT_EQ(writer->counters().failed, 1u);
  EXPECT_EQ(writer->TakeFailures().count, 0u) << "taken once";
  EXPECT_THAT(StoredAors(), IsEmpty());

  // Its refresh, written whole (the store no longer trusts memory's rows).
  Binding refreshed = Phone(1, kNow + 900);
  const bool refresh = true;
  ASSERT_TRUE(writer
                  ->ApplyRegister({}, absl::MakeConstSpan(&refreshed, 1), absl::MakeSpan(&row, 1),
                                  absl::MakeConstSpan(&refresh, 1))
                  .ok());
  writer->Sync();
  EXPECT_THAT(StoredAors(), ElementsAre(absl::StrCat("user1@example.com ", kNow + 900)));
}

TEST_F(BindingWriterTest, StoppingCommitsWhatWasNeverHandedOver) {
  {
    std::unique_ptr<BindingWriter> writer = StartWriter();
    ASSERT_NE(writer, nullptr);
    const Binding one = Phone(1);
    BindingRow row = 0;
    ASSERT_TRUE(
        writer->ApplyRegister({}, absl::MakeConstSpan(&one, 1), absl::MakeSpan(&row, 1)).ok());
  }
  EXPECT_THAT(StoredAors(), ElementsAre(absl::StrCat("user1@example.com ", kNow + 600)));
}

TEST_F(BindingWriterTest, MismatchedSpansAreRefusedAndNothingIsQueued) {
  std::unique_ptr<BindingWriter> writer = StartWriter();
  ASSERT_NE(writer, nullptr);
  const Binding one = Phone(1);
  BindingRow rows[2] = {0, 0};
  EXPECT_TRUE(absl::IsInvalidArgument(
      writer->ApplyRegister({}, absl::MakeConstSpan(&one, 1), absl::MakeSpan(rows, 2))));
  EXPECT_TRUE(absl::IsInvalidArgument(writer->Update(0, one)));
  EXPECT_EQ(writer->counters().backlog, 0u);
}

}  // namespace
}  // namespace rtplatch
