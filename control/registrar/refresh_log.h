// The binding store's refresh log (issue 17: the cost of a REGISTER must
// not grow with the number of bindings).
//
// At a million bindings the phones refreshing in any second are scattered
// over the whole table: rewriting a refreshed binding's row dirtied a page
// no other refresh shared, written to the WAL, copied back by the
// checkpoint and synced, so a refresh cost more the more bindings there
// were. A plain refresh (expiry, CSeq and Call-ID moved: OnlyRefreshMoved)
// is appended here instead, to the pages at the log's end whatever N is.
//
// A row's own write records the log's newest id (`refresh_seq`), so a load
// lets only later entries override it. Compaction takes the log's oldest
// entries in slices: one that is no longer its row's newest is deleted
// with them, a live one is appended again first. Phones refresh on steady
// timers, so an entry is nearly always superseded by the time it is
// oldest; the log is let grow to twice the live entries (and at least
// kMinGarbage stale ones) before a slice runs, which bounds the copying to
// one entry per stale one.
//
// What is live is kept in memory (a row's newest entry, 16 bytes a row).
// It is known once the log was read (a load, `IndexLive`); an error that
// rolled changes back makes it unknown again, and compaction waits for the
// next load rather than guess. Not thread-safe: the store's one owner.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/registrar/sqlite_statement.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rtplatch {

class RefreshLog {
 public:
  struct Entry {
    int64_t id = 0;
    int64_t row = 0;
    int64_t expires_at = 0;
    uint32_t cseq = 0;
    std::string call_id;
  };
  // Stale entries tolerated before compaction, however few are live.
  static constexpr int64_t kMinGarbage = 4096;

  // The log of `db` (the store's connection, the schema in place);
  // `path` names it in errors.
  static absl::StatusOr<std::unique_ptr<RefreshLog>> Open(sqlite3* db, std::string path);
  ~RefreshLog();
  RefreshLog(const RefreshLog&) = delete;
  RefreshLog& operator=(const RefreshLog&) = delete;

  // Appends a refresh of `row` (in the caller's transaction) and makes it
  // the row's live entry.
  absl::Status Append(int64_t row, int64_t expires_at, uint32_t cseq, absl::string_view call_id);
  // The row was written whole (its refresh_seq is high()) or removed: none
  // of its entries is live.
  void Supersede(int64_t row) {
    live_.erase(row);
    ++mutations_;
  }
  // The newest id appended: what a row's own write records.
  int64_t high() const { return high_; }

  // Each row's newest entry, as ReadNewest leaves them: sorted by row
  // (the load asks in row order, so a cursor steps through them instead
  // of a hash probed at random; rows are never reused, so after months
  // of phones coming and going the highest is far above the count, and
  // an array by row would be sized by it), their Call-IDs in one string
  // (a million entries after a storm would otherwise be a million
  // allocations).
  class Newest {
   public:
    struct Refresh {
      int64_t id;
      int64_t expires_at;
      uint32_t cseq;
      absl::string_view call_id;
    };
    // `row`'s newest entry; nullopt when it has none. Cheapest when asked
    // in ascending row order.
    std::optional<Refresh> Of(int64_t row) const;
    size_t size() const { return stored_.size(); }

   private:
    friend class RefreshLog;
    struct Stored {
      int64_t row;
      int64_t id;
      int64_t expires_at;
      uint32_t cseq;
      uint32_t call_id_len;
      uint64_t call_id_at;  // into call_ids_
    };
    std::vector<Stored> stored_;  // by row, one a row
    std::string call_ids_;
    mutable size_t cursor_ = 0;  // where the last Of() stopped
  };
  // The newest entry of each row, the whole log read in order (a load).
  absl::StatusOr<Newest> ReadNewest();
  // A load is about to index up to `rows` live entries.
  void ReserveLive(size_t rows) { live_.reserve(rows); }
  // After a load: `row`'s newest entry `id` is live (it overrode the row).
  void IndexLive(int64_t row, int64_t id) { live_[row] = id; }
  // The load is over: what is live is known.
  void LoadDone() { indexed_ = true; }
  // Changes were rolled back: what is live is unknown until the next
  // load, and the newest id is read again.
  void Distrust();

  // One compaction slice of at most `budget` entries, in the caller's
  // transaction, when stale entries are due; how many it took.
  absl::StatusOr<int64_t> CompactSlice(int64_t budget);

  int64_t entries() const { return entries_; }
  int64_t live() const { return static_cast<int64_t>(live_.size()); }
  uint64_t carried() const { return carried_; }  // live entries appended again
  // Changes made in memory so far: a transaction that fails after this
  // moved may have rolled some back (Distrust).
  uint64_t mutations() const { return mutations_; }

 private:
  using Stmt = SqliteStmt;

  RefreshLog(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Prepare();
  absl::Status ReadCounts();
  absl::StatusOr<int64_t> Insert(int64_t row, int64_t expires_at, uint32_t cseq,
                                 absl::string_view call_id);
  absl::Status Error(absl::string_view op) const;

  sqlite3* const db_;
  const std::string path_;
  Stmt append_;
  Stmt oldest_;
  Stmt trim_;
  Stmt each_;
  absl::flat_hash_map<int64_t, int64_t> live_;  // row -> its live entry
  int64_t high_ = 0;
  int64_t entries_ = 0;
  bool indexed_ = false;
  uint64_t carried_ = 0;
  uint64_t mutations_ = 0;
};

}  // namespace rtplatch
