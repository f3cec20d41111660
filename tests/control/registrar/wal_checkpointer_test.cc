#include "control/registrar/wal_checkpointer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/control/registrar/scratch_dir.h"

namespace rtplatch {
namespace {

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp failed";
    path_ = dir_ + "/bindings.db";
    ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db_,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              nullptr),
              SQLITE_OK);
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA wal_autocheckpoint=0");  // nothing but the checkpointer copies
    Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)");
  }
  void TearDown() override {
    sqlite3_close_v2(db_);
  }
  void Exec(const std::string& sql) {
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
  }
  // Rows in transactions of 100: a few thousand pages of WAL.
  void Write(int rows) {
    for (int i = 0; i < rows; i += 100) {
      Exec("BEGIN");
      for (int j = i; j < i + 100; ++j) {
        Exec(absl::StrCat("INSERT INTO t VALUES ('key-", next_key_++, "', '",
                          std::string(400, 'v'), "')"));
      }
      Exec("COMMIT");
    }
  }
  int next_key_ = 0;
  uintmax_t DatabaseBytes() const { return std::filesystem::file_size(path_); }

  ScratchDir scratch_{"rtplatch-wal"};
  const std::string dir_ = scratch_.path();
  std::string path_;
  sqlite3* db_ = nullptr;
};

TEST_F(WalCheckpointerTest, WithoutItTheDatabaseFileNeverGrows) {
  const uintmax_t before = DatabaseBytes();
  Write(5000);
  EXPECT_EQ(DatabaseBytes(), before) << "every page stays in the WAL";
}

TEST_F(WalCheckpointerTest, ItsThreadCopiesTheWalIntoTheDatabase) {
  absl::StatusOr<std::unique_ptr<WalCheckpointer>> c = WalCheckpointer::Start(path_, db_, 100);
  ASSERT_TRUE(c.ok()) << c.status();
  const uintmax_t before = DatabaseBytes();
  Write(5000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*c)->complete() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE((*c)->complete(), 1u);
  EXPECT_EQ((*c)->failures(), 0u);
  EXPECT_GT(DatabaseBytes(), before + (1u << 20));
  c->reset();  // stops cleanly; the writer goes on with SQLite's own hook
  Write(100);
}

// The nice value of each of this process's threads (field 19 of its stat).
std::vector<int> ThreadNiceValues() {
  std::vector<int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream stat(task.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {
    }
    out.push_back(std::stoi(field));
  }
  return out;
}

TEST_F(WalCheckpointerTest, ItsThreadYieldsToTheEventLoop) {
  absl::StatusOr<std::unique_ptr<WalCheckpointer>> c = WalCheckpointer::Start(path_, db_, 100);
  ASSERT_TRUE(c.ok()) << c.status();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::vector<int> nice;
  do {
    nice = ThreadNiceValues();
    if (std::count(nice.begin(), nice.end(), 19) == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(std::count(nice.begin(), nice.end(), 19), 1) << "the checkpointer's thread at nice 19";
}

TEST_F(WalCheckpointerTest, AMissingDatabaseIsAnErrorNamingIt) {
  absl::StatusOr<std::unique_ptr<WalCheckpointer>> c =
      WalCheckpointer::Start(dir_ + "/no/such/dir/x.db", db_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("no/such/dir/x.db"), std::string::npos);
}

}  // namespace
}  // namespace rtplatch
