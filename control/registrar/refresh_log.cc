#include "control/registrar/refresh_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

RefreshLog::Entry ReadEntry(sqlite3_stmt* s) {
  RefreshLog::Entry e;
  e.id = sqlite3_column_int64(s, 0);
  e.row = sqlite3_column_int64(s, 1);
  e.expires_at = sqlite3_column_int64(s, 2);
  // The table's CHECK keeps it in range.
  e.cseq = static_cast<uint32_t>(sqlite3_column_int64(s, 3));
  const unsigned char* text = sqlite3_column_text(s, 4);
  if (text != nullptr) {
    e.call_id.assign(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(s, 4)));
  }
  return e;
}

}  // namespace

RefreshLog::~RefreshLog() = default;

absl::StatusOr<std::unique_ptr<RefreshLog>> RefreshLog::Open(sqlite3* db, std::string path) {
  std::unique_ptr<RefreshLog> log(new RefreshLog(db, std::move(path)));
  if (absl::Status s = log->Prepare(); !s.ok()) return s;
  if (absl::Status s = log->ReadCounts(); !s.ok()) return s;
  return log;
}

absl::Status RefreshLog::Error(absl::string_view op) const {
  return absl::InternalError(absl::StrCat("binding store ", path_, ": refresh log: ", op, ": ",
                                          sqlite3_errmsg(db_), " (sqlite code ",
                                          sqlite3_extended_errcode(db_), ")"));
}

absl::Status RefreshLog::Prepare() {
  const std::pair<Stmt*, const char*> statements[] = {
      {&append_, "INSERT INTO refreshes (row, expires_at, cseq, call_id) VALUES (?1, ?2, ?3, ?4)"},
      {&oldest_, "SELECT id, row, expires_at, cseq, call_id FROM refreshes ORDER BY id LIMIT ?1"},
      {&trim_, "DELETE FROM refreshes WHERE id <= ?1"},
      {&each_, "SELECT id, row, expires_at, cseq, call_id FROM refreshes ORDER BY id"},
  };
  for (const auto& [stmt, sql] : statements) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return Error(absl::StrCat("prepare '", absl::string_view(sql).substr(0, 40), "...'"));
    }
    stmt->reset(raw);
  }
  return absl::OkStatus();
}

absl::Status RefreshLog::ReadCounts() {
  // AUTOINCREMENT: ids are never handed out twice, so a row's
  // refresh_seq stays below every later entry, even after the log was
  // trimmed to nothing.
  const char* sql =
      "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'refreshes'), 0), "
      "(SELECT count(*) FROM refreshes)";
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK) return Error("read counts");
  Stmt s(raw);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return Error("read counts");
  high_ = sqlite3_column_int64(s.get(), 0);
  entries_ = sqlite3_column_int64(s.get(), 1);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RefreshLog::Insert(int64_t row, int64_t expires_at, uint32_t cseq,
                                           absl::string_view call_id) {
  sqlite3_stmt* s = append_.get();
  SqliteStmtUse use(s);
  if (sqlite3_bind_int64(s, 1, row) != SQLITE_OK ||
      sqlite3_bind_int64(s, 2, expires_at) != SQLITE_OK ||
      sqlite3_bind_int64(s, 3, cseq) != SQLITE_OK ||
      sqlite3_bind_text64(s, 4, call_id.data(), call_id.size(), SQLITE_TRANSIENT, SQLITE_UTF8) !=
          SQLITE_OK ||
      sqlite3_step(s) != SQLITE_DONE) {
    return Error(absl::StrCat("append a refresh of row ", row));
  }
  high_ = sqlite3_last_insert_rowid(db_);
  ++entries_;
  ++mutations_;
  return high_;
}

absl::Status RefreshLog::Append(int64_t row, int64_t expires_at, uint32_t cseq,
                                absl::string_view call_id) {
  absl::StatusOr<int64_t> id = Insert(row, expires_at, cseq, call_id);
  if (!id.ok()) return id.status();
  live_[row] = *id;
  return absl::OkStatus();
}

std::optional<RefreshLog::Newest::Refresh> RefreshLog::Newest::Of(int64_t row) const {
  auto before = [](const Stored& e, int64_t r) { return e.row < r; };
  if (cursor_ > 0 && stored_[cursor_ - 1].row >= row) {
    // Asked out of order: found by a search rather than the cursor.
    cursor_ = static_cast<size_t>(
        std::lower_bound(stored_.begin(), stored_.end(), row, before) - stored_.begin());
  }
  while (cursor_ < stored_.size() && stored_[cursor_].row < row) ++cursor_;
  if (cursor_ == stored_.size() || stored_[cursor_].row != row) return std::nullopt;
  const Stored& e = stored_[cursor_++];
  return Refresh{e.id, e.expires_at, e.cseq,
                 absl::string_view(call_ids_).substr(e.call_id_at, e.call_id_len)};
}

absl::StatusOr<RefreshLog::Newest> RefreshLog::ReadNewest() {
  sqlite3_stmt* s = each_.get();
  SqliteStmtUse use(s);
  Newest newest;
  std::vector<Newest::Stored>& stored = newest.stored_;
  stored.reserve(static_cast<size_t>(std::max<int64_t>(entries_, 0)));
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(s, 4);
    const auto len = static_cast<uint32_t>(sqlite3_column_bytes(s, 4));
    stored.push_back({.row = sqlite3_column_int64(s, 1),
                      .id = sqlite3_column_int64(s, 0),
                      .expires_at = sqlite3_column_int64(s, 2),
                      // The table's CHECK keeps it in range.
                      .cseq = static_cast<uint32_t>(sqlite3_column_int64(s, 3)),
                      .call_id_len = len,
                      .call_id_at = newest.call_ids_.size()});
    if (text != nullptr) newest.call_ids_.append(reinterpret_cast<const char*>(text), len);
  }
  if (step != SQLITE_DONE) return Error("read");
  entries_ = static_cast<int64_t>(stored.size());
  // By row, then id; each row's last entry (its newest) kept.
  std::sort(stored.begin(), stored.end(), [](const Newest::Stored& a, const Newest::Stored& b) {
    return a.row != b.row ? a.row < b.row : a.id < b.id;
  });
  size_t kept = 0;
  for (size_t i = 0; i < stored.size(); ++i) {
    if (i + 1 < stored.size() && stored[i + 1].row == stored[i].row) continue;
    stored[kept++] = stored[i];
  }
  stored.resize(kept);
  return newest;
}

void RefreshLog::Distrust() {
  indexed_ = false;
  live_.clear();
  (void)ReadCounts();
}

absl::StatusOr<int64_t> RefreshLog::CompactSlice(int64_t budget) {
  if (!indexed_ || budget <= 0 || entries_ - live() < std::max(kMinGarbage, live())) return 0;
  // The oldest entries, read whole first: appending while the scan is
  // open could let it meet its own copies.
  std::vector<Entry> batch;
  {
    sqlite3_stmt* s = oldest_.get();
    SqliteStmtUse use(s);
    if (sqlite3_bind_int64(s, 1, budget) != SQLITE_OK) return Error("compact: read");
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) batch.push_back(ReadEntry(s));
    if (step != SQLITE_DONE) return Error("compact: read");
  }
  if (batch.empty()) return 0;
  for (const Entry& e : batch) {
    auto it = live_.find(e.row);
    if (it == live_.end() || it->second != e.id) continue;
    absl::StatusOr<int64_t> id = Insert(e.row, e.expires_at, e.cseq, e.call_id);
    if (!id.ok()) return id.status();
    it->second = *id;
    ++carried_;
  }
  sqlite3_stmt* s = trim_.get();
  SqliteStmtUse use(s);
  if (sqlite3_bind_int64(s, 1, batch.back().id) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
    return Error("compact: trim");
  }
  entries_ -= static_cast<int64_t>(batch.size());
  return static_cast<int64_t>(batch.size());
}

}  // namespace rtplatch
