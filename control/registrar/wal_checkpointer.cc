#include "control/registrar/wal_checkpointer.h"

#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"

namespace rtplatch {

absl::StatusOr<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(const std::string& path,
                                                                        sqlite3* writer,
                                                                        int wake_pages) {
  sqlite3* own = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &own, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  // A connection sees the WAL only once it has read the database: until
  // then a checkpoint finds "no WAL" and does nothing.
  if (rc == SQLITE_OK && sqlite3_exec(own, "PRAGMA journal_mode", nullptr, nullptr, nullptr) !=
                             SQLITE_OK) {
    const std::string why = sqlite3_errmsg(own);
    sqlite3_close_v2(own);
    return absl::UnavailableError(
        absl::StrCat("binding store ", path, ": checkpoint connection: ", why));
  }
  if (rc != SQLITE_OK) {
    const std::string why = own != nullptr ? sqlite3_errmsg(own) : sqlite3_errstr(rc);
    sqlite3_close_v2(own);
    return absl::UnavailableError(
        absl::StrCat("binding store ", path, ": checkpoint connection: ", why));
  }
  return std::unique_ptr<WalCheckpointer>(new WalCheckpointer(own, writer, wake_pages));
}

WalCheckpointer::WalCheckpointer(sqlite3* own, sqlite3* writer, int wake_pages)
    : own_(own), writer_(writer), wake_pages_(wake_pages), thread_([this] { Run(); }) {
  // Replaces SQLite's automatic checkpoint, which is itself this hook.
  sqlite3_wal_hook(writer_, &WalCheckpointer::OnCommit, this);
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_autocheckpoint(writer_, 1000);  // the default hook again
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
  sqlite3_close_v2(own_);
}

int WalCheckpointer::OnCommit(void* self, sqlite3* /*db*/, const char* /*name*/, int pages) {
  auto* c = static_cast<WalCheckpointer*>(self);
  if (pages >= c->wake_pages_) {
    {
      std::lock_guard<std::mutex> lock(c->mu_);
      c->wake_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::Run() {
  // The event loop first: pinned to one core with it, a checkpoint at the
  // same priority took whole scheduler slices from SIP while a million
  // bindings expired (a 14.7 ms round trip). At nice 19 it still runs
  // under full load, a little, and catches up once the loop idles.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kNice);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || wake_; });
    if (stop_) break;
    wake_ = false;
    lock.unlock();
    int wal_pages = 0;
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(own_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             &wal_pages, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      failures_.fetch_add(1, std::memory_order_relaxed);
    } else if (rc == SQLITE_OK && wal_pages > 0 && copied == wal_pages) {
      complete_.fetch_add(1, std::memory_order_relaxed);
    }
    lock.lock();
  }
}

}  // namespace rtplatch
