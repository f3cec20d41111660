// Checkpoints the binding store's WAL from a thread and connection of its
// own. SQLite's automatic checkpoint runs inside whichever commit takes
// the WAL past 1000 pages: that commit then copies the pages into the
// database file and waits for its fsync, on the event loop, stalling SIP
// (issue 17: a REGISTER's cost must not grow with N, and no stall above a
// few milliseconds). Here the writer only appends to the WAL; this thread
// copies and syncs. A checkpoint is PASSIVE: it never blocks the writer,
// and the WAL starts over once one has caught up.
//
// Thread-safe where it says so; one writer connection.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

struct sqlite3;

namespace rtplatch {

class WalCheckpointer {
 public:
  // Opens its own connection to `path` (in WAL mode already) and takes
  // over `writer`'s WAL hook: a commit that leaves `wake_pages` or more in
  // the WAL wakes the thread, which also looks once a second.
  static absl::StatusOr<std::unique_ptr<WalCheckpointer>> Start(const std::string& path,
                                                                sqlite3* writer,
                                                                int wake_pages = 1000);
  // Gives the hook back to SQLite's default and joins the thread.
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Checkpoints that copied every page of the WAL (any thread).
  uint64_t complete() const { return complete_.load(std::memory_order_relaxed); }
  // Checkpoints that failed (any thread).
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  WalCheckpointer(sqlite3* own, sqlite3* writer, int wake_pages);
  static int OnCommit(void* self, sqlite3* db, const char* name, int pages);
  static constexpr int kNice = 19;  // the thread's, below the event loop's
  void Run();

  sqlite3* const own_;
  sqlite3* const writer_;
  const int wake_pages_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stop_ = false;
  std::atomic<uint64_t> complete_{0};
  std::atomic<uint64_t> failures_{0};
  std::thread thread_;  // last: starts once the rest is set
};

}  // namespace rtplatch
