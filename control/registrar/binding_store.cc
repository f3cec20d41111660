#include "control/registrar/binding_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

constexpr int kSchemaVersion = 5;
// How long a statement waits for another connection's lock (a second
// registrar on the same file, or the CLI reading it) before failing.
constexpr int kBusyTimeoutMs = 2000;
// Cap on the integrity-check report quoted in an error message.
constexpr size_t kMaxVerdictBytes = 240;

// The bindings table (version 5; version 4 without refresh_seq): a rowid
// table in the order bindings arrive, with no index at all (BindingRow
// says why). STRICT makes SQLite enforce the column types, so a row read
// back has the types the reader expects (SQLite >= 3.37). Version 1 was a rowid table with a key index,
// versions 2 and 3 a WITHOUT ROWID table keyed by (aor, contact), 3 with
// keepalive_learning.
#define RTPLATCH_BINDINGS_COLUMNS(table)                                      \
  "CREATE TABLE " table " (\n"                                                \
  "  id                    INTEGER PRIMARY KEY,\n"                            \
  "  aor                   TEXT    NOT NULL,\n"                               \
  "  contact               TEXT    NOT NULL,\n"                               \
  "  expires_at            INTEGER NOT NULL,\n"                               \
  "  call_id               TEXT    NOT NULL,\n"                               \
  "  cseq                  INTEGER NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),\n" \
  "  user_agent            TEXT    NOT NULL,\n"                               \
  "  source_ip             TEXT    NOT NULL,\n"                               \
  "  source_port           INTEGER NOT NULL CHECK (source_port BETWEEN 0 AND 65535),\n" \
  "  transport             TEXT    NOT NULL,\n"                               \
  "  local_ip              TEXT    NOT NULL,\n"                               \
  "  local_port            INTEGER NOT NULL CHECK (local_port BETWEEN 0 AND 65535),\n" \
  "  behind_nat            INTEGER NOT NULL CHECK (behind_nat IN (0, 1)),\n"  \
  "  nat_reasons           TEXT    NOT NULL,  -- JSON array of strings\n"     \
  "  keepalive_interval_ms INTEGER NOT NULL,\n"                               \
  "  keepalive_reason      TEXT    NOT NULL,\n"                               \
  "  keepalive_learning    INTEGER NOT NULL DEFAULT 0 CHECK (keepalive_learning IN (0, 1)),\n" \
  "  q_milli               INTEGER NOT NULL CHECK (q_milli BETWEEN 0 AND 1000),\n" \
  "  refresh_seq           INTEGER NOT NULL DEFAULT 0\n" \
  ") STRICT;\n"

// The refresh log (version 5, refresh_log.h): a refresh appended, not
// written over its row; a row's refresh_seq is the log's newest id when
// the row itself was written. AUTOINCREMENT: no id is handed out twice.
#define RTPLATCH_REFRESHES_TABLE                                               \
  "CREATE TABLE refreshes (\n"                                                \
  "  id         INTEGER PRIMARY KEY AUTOINCREMENT,\n"                         \
  "  row        INTEGER NOT NULL,\n"                                          \
  "  expires_at INTEGER NOT NULL,\n"                                          \
  "  cseq       INTEGER NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),\n"    \
  "  call_id    TEXT    NOT NULL\n"                                           \
  ") STRICT;\n"

constexpr const char* kCreateSchema =
    RTPLATCH_BINDINGS_COLUMNS("bindings")
    RTPLATCH_REFRESHES_TABLE
    "INSERT INTO schema_version (version) VALUES (5);\n";

#define RTPLATCH_V1_COLUMNS                                                    \
  "aor, contact, expires_at, call_id, cseq, user_agent, source_ip, source_port, " \
  "transport, local_ip, local_port, behind_nat, nat_reasons, keepalive_interval_ms, " \
  "keepalive_reason, q_milli"

// Versions 1 and 2 lack keepalive_learning: their intervals count as
// settled, not learning. The rows go in the order they will next be
// refreshed (by expiry): the closest a migration gets to the order they
// arrived in.
constexpr const char* kMigrateFromV1 =
    RTPLATCH_BINDINGS_COLUMNS("bindings_v4")
    "INSERT INTO bindings_v4 (" RTPLATCH_V1_COLUMNS ") SELECT " RTPLATCH_V1_COLUMNS
    " FROM bindings ORDER BY expires_at;\n"
    "DROP TABLE bindings;\n"
    "ALTER TABLE bindings_v4 RENAME TO bindings;\n"
    RTPLATCH_REFRESHES_TABLE
    "UPDATE schema_version SET version = 5;\n";
constexpr const char* kMigrateFromV3 =
    RTPLATCH_BINDINGS_COLUMNS("bindings_v4")
    "INSERT INTO bindings_v4 (" RTPLATCH_V1_COLUMNS ", keepalive_learning) SELECT "
    RTPLATCH_V1_COLUMNS ", keepalive_learning FROM bindings ORDER BY expires_at;\n"
    "DROP TABLE bindings;\n"
    "ALTER TABLE bindings_v4 RENAME TO bindings;\n"
    RTPLATCH_REFRESHES_TABLE
    "UPDATE schema_version SET version = 5;\n";
constexpr const char* kMigrateFromV4 =
    "ALTER TABLE bindings ADD COLUMN refresh_seq INTEGER NOT NULL DEFAULT 0;\n"
    RTPLATCH_REFRESHES_TABLE
    "UPDATE schema_version SET version = 5;\n";
#undef RTPLATCH_V1_COLUMNS
#undef RTPLATCH_BINDINGS_COLUMNS
#undef RTPLATCH_REFRESHES_TABLE

// What EachRow reads: the row, the binding, then the row's refresh_seq.
constexpr const char* kColumns =
    "id, aor, contact, expires_at, call_id, cseq, user_agent, source_ip, "
    "source_port, transport, local_ip, local_port, behind_nat, nat_reasons, "
    "keepalive_interval_ms, keepalive_reason, q_milli, keepalive_learning, refresh_seq";

constexpr struct {
  Binding::Transport transport;
  absl::string_view name;
} kTransportNames[] = {
    {Binding::Transport::kUdp, "udp"}, {Binding::Transport::kTcp, "tcp"},
    {Binding::Transport::kTls, "tls"}, {Binding::Transport::kWs, "ws"},
    {Binding::Transport::kWss, "wss"},
};

int BindText(sqlite3_stmt* stmt, int index, absl::string_view text) {
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(),
                             SQLITE_TRANSIENT, SQLITE_UTF8);
}

// The column's text as SQLite holds it, valid until the next step.
absl::string_view ColumnView(sqlite3_stmt* stmt, int index) {
  const unsigned char* text = sqlite3_column_text(stmt, index);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<size_t>(sqlite3_column_bytes(stmt, index))};
}

std::string ColumnText(sqlite3_stmt* stmt, int index) {
  return std::string(ColumnView(stmt, index));
}

// Into `out`, reusing its buffer: a load reads a million rows through one
// Binding.
void AssignColumn(sqlite3_stmt* stmt, int index, std::string& out) {
  const absl::string_view text = ColumnView(stmt, index);
  out.assign(text.data(), text.size());
}

// While it lives, the connection reads the file through a mapping: the
// passes over the whole file (quick_check at open, a load) read every page
// once, and a mapping spares each page a pread and a copy into the page
// cache (200 000 of each at a million bindings in 1 KiB pages). Outside
// them the store reads through its cache as before, where a failed read
// is a status rather than a SIGBUS. A pragma that fails leaves plain reads,
// which are slower, not wrong. Declared before any statement it covers
// (the mapping cannot shrink under a statement still stepping).
class MappedReads {
 public:
  explicit MappedReads(sqlite3* db) : db_(db) {
    (void)sqlite3_exec(db_, "PRAGMA mmap_size=2147418112", nullptr, nullptr, nullptr);
  }
  ~MappedReads() { (void)sqlite3_exec(db_, "PRAGMA mmap_size=0", nullptr, nullptr, nullptr); }
  MappedReads(const MappedReads&) = delete;
  MappedReads& operator=(const MappedReads&) = delete;

 private:
  sqlite3* db_;
};

absl::StatusCode CodeFor(int sqlite_code) {
  switch (sqlite_code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CANTOPEN:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

// ": No such file or directory" when the OS said why, else nothing.
std::string SystemReason(sqlite3* db) {
  const int err = db != nullptr ? sqlite3_system_errno(db) : 0;
  return err != 0 ? absl::StrCat(": ", std::strerror(err)) : "";
}

}  // namespace

absl::string_view TransportName(Binding::Transport transport) {
  for (const auto& entry : kTransportNames) {
    if (entry.transport == transport) return entry.name;
  }
  return "?";
}

absl::StatusOr<Binding::Transport> ParseTransport(absl::string_view name) {
  for (const auto& entry : kTransportNames) {
    if (entry.name == name) return entry.transport;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("transport '", name, "' is not udp, tcp, tls, ws or wss"));
}

void BindingStore::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

BindingStore::BindingStore(std::string path, std::unique_ptr<sqlite3, DbCloser> db)
    : path_(std::move(path)), db_(std::move(db)) {}

BindingStore::~BindingStore() { (void)Flush(); }

absl::Status BindingStore::SqliteError(absl::string_view op) const {
  const int code = sqlite3_extended_errcode(db_.get());
  return absl::Status(CodeFor(code),
                      absl::StrCat("binding store ", path_, ": ", op, ": ",
                                   sqlite3_errmsg(db_.get()),
                                   SystemReason(db_.get()), " (sqlite code ",
                                   code, ")"));
}

absl::Status BindingStore::Exec(absl::string_view op, const char* sql) {
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteError(op);
  }
  return absl::OkStatus();
}

absl::Status BindingStore::InTransaction(absl::string_view op,
                                         absl::FunctionRef<absl::Status()> body,
                                         bool single_statement) {
  const uint64_t log_before = log_ != nullptr ? log_->mutations() : 0;
  // A rollback that took back the whole round, or this change's own log
  // entries, may have taken what memory counts as written.
  auto distrust_log = [&](bool whole_round) {
    if (log_ != nullptr && (whole_round || log_->mutations() != log_before)) DistrustMemory();
  };
  if (group_commit_) {
    // One outer transaction collects a whole event-loop round (Flush()
    // commits it); each change is a savepoint inside it, so it still lands
    // whole or not at all.
    if (!outer_open_) {
      if (absl::Status s = Exec(absl::StrCat(op, ": begin"), "BEGIN IMMEDIATE"); !s.ok()) {
        return s;
      }
      outer_open_ = true;
    }
    absl::Status status;
    if (single_statement) {
      // One statement is atomic by itself: no savepoint needed (the
      // common REGISTER refresh).
      status = body();
    } else if (status = Step("savepoint", savepoint_.get()); status.ok()) {
      status = body();
      if (status.ok()) status = Step("release", release_.get());
      if (!status.ok()) {
        (void)Step("rollback to savepoint", rollback_to_.get());
        (void)Step("release", release_.get());
      }
    }
    // Some errors (disk full, I/O, out of memory) make SQLite roll back the
    // whole round: the next change must begin a new one, and the loss is
    // said rather than silent.
    if (!status.ok()) distrust_log(sqlite3_get_autocommit(db_.get()) != 0);
    if (!status.ok() && sqlite3_get_autocommit(db_.get())) {
      outer_open_ = false;
      status = absl::Status(status.code(),
                            absl::StrCat(status.message(),
                                         " (SQLite rolled back the open group of changes)"));
    }
    return status;
  }
  // Group commit was turned off with a round still open: commit it first,
  // else BEGIN fails ("within a transaction") and the round holds the lock.
  if (outer_open_) {
    if (absl::Status s = Flush(); !s.ok()) return s;
  }
  // IMMEDIATE takes the write lock up front, so a concurrent writer makes
  // us wait (busy timeout) at BEGIN rather than fail halfway through.
  if (absl::Status s = Exec(absl::StrCat(op, ": begin"), "BEGIN IMMEDIATE");
      !s.ok()) {
    return s;
  }
  absl::Status status = body();
  if (status.ok()) status = Exec(absl::StrCat(op, ": commit"), "COMMIT");
  if (!status.ok()) {
    // Keep the first error; a failed rollback leaves SQLite to roll back
    // on the next open, which it always does for an uncommitted transaction.
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    distrust_log(/*whole_round=*/false);
  }
  return status;
}

absl::Status BindingStore::Step(absl::string_view op, sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqliteError(op);
  return absl::OkStatus();
}

absl::Status BindingStore::Flush() {
  // The log's oldest entries go with a round that appended to it: twice
  // what it appended, so compaction keeps up with any refresh rate and
  // costs a round without refreshes (a mass expiry) nothing.
  const int64_t appended = log_ != nullptr ? log_->high() - flushed_high_ : 0;
  if (appended > 0 && group_commit_ && outer_open_) {
    const int64_t budget = std::max<int64_t>(kMinCompactSlice, 2 * appended);
    flushed_high_ = log_->high();
    // A failed slice is rolled back alone; the round still commits (and
    // if SQLite took the whole round back, there is nothing to commit).
    (void)InTransaction("compact the refresh log", [&]() -> absl::Status {
      absl::StatusOr<int64_t> taken = log_->CompactSlice(budget);
      return taken.status();
    });
  }
  if (!outer_open_) return absl::OkStatus();
  outer_open_ = false;
  absl::Status s = Exec("flush: commit", "COMMIT");
  if (!s.ok()) {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    DistrustMemory();
  }
  return s;
}

void BindingStore::DistrustMemory() {
  if (log_ != nullptr) log_->Distrust();
  rows_trusted_ = false;
}

absl::StatusOr<std::unique_ptr<BindingStore>> BindingStore::Open(
    const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  if (rc != SQLITE_OK) {
    return absl::Status(
        CodeFor(rc), absl::StrCat("binding store ", path, ": open: ",
                                  raw != nullptr ? sqlite3_errmsg(raw)
                                                 : sqlite3_errstr(rc),
                                  SystemReason(raw)));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  std::unique_ptr<BindingStore> store(new BindingStore(path, std::move(db)));
  if (absl::Status s = store->Configure(); !s.ok()) return s;
  {
    MappedReads mapped(store->db_.get());
    if (absl::Status s = store->CheckIntegrity(); !s.ok()) return s;
  }
  if (absl::Status s = store->InTransaction("schema", [&] { return store->MigrateSchema(); });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = store->Prepare(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<RefreshLog>> log = RefreshLog::Open(store->db_.get(), path);
  if (!log.ok()) return log.status();
  store->log_ = *std::move(log);
  store->flushed_high_ = store->log_->high();
  absl::StatusOr<std::unique_ptr<WalCheckpointer>> checkpointer =
      WalCheckpointer::Start(path, store->db_.get());
  if (!checkpointer.ok()) return checkpointer.status();
  store->checkpointer_ = *std::move(checkpointer);
  return store;
}

absl::StatusOr<std::string> BindingStore::QueryText(absl::string_view what, const char* sql) {
  sqlite3_stmt* raw_stmt = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw_stmt, nullptr) != SQLITE_OK) {
    return SqliteError(what);
  }
  Stmt stmt(raw_stmt);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return SqliteError(what);
  return ColumnText(stmt.get(), 0);
}

absl::Status BindingStore::Configure() {
  // journal_mode answers with the mode in force; anything but "wal" (e.g.
  // a filesystem without shared memory) is reported rather than ignored.
  // This is also the first read of the file, where "not a database" shows.
  // 1 KiB pages for a new file (an existing one keeps its own): a
  // refresh rewrites one row somewhere in a million, and every byte of
  // the page it sits in is written to the WAL and copied again by the
  // checkpoint; with 4 KiB pages that made a refresh at 1 000 000
  // bindings cost 14 us of SQLite against 12 at 1 KiB (2.3 at 10 000).
  if (absl::Status s = Exec("set page size", "PRAGMA page_size=1024"); !s.ok()) return s;
  absl::StatusOr<std::string> mode = QueryText("set WAL mode", "PRAGMA journal_mode=WAL");
  if (!mode.ok()) return mode.status();
  if (*mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "binding store ", path_, ": set WAL mode: journal mode is '", *mode, "', not 'wal'"));
  }
  // In WAL mode NORMAL still never corrupts the database and keeps every
  // commit across a process crash; only an OS crash may lose the latest.
  if (absl::Status s = Exec("set synchronous", "PRAGMA synchronous=NORMAL"); !s.ok()) return s;
  // 128 MiB of page cache: most of a million bindings' pages (about 150
  // MB of file) stay in memory, so an upsert rarely reads its page back
  // from the file; at 100 000 bindings the whole file fits and the cache
  // holds only what the file has.
  return Exec("set cache size", "PRAGMA cache_size=-131072");
}

absl::Status BindingStore::CheckIntegrity() {
  // A damaged file is refused at open, with SQLite's own description,
  // rather than discovered by the first lookup after a restart.
  absl::StatusOr<std::string> verdict = QueryText("integrity check", "PRAGMA quick_check");
  if (!verdict.ok()) return verdict.status();
  if (*verdict == "ok") return absl::OkStatus();
  // SQLite lists every damaged cell; the first few say enough.
  if (verdict->size() > kMaxVerdictBytes) {
    *verdict = absl::StrCat(verdict->substr(0, kMaxVerdictBytes), "...");
  }
  return absl::DataLossError(absl::StrCat(
      "binding store ", path_, ": integrity check: database is corrupt: ", *verdict));
}

absl::Status BindingStore::MigrateSchema() {
  if (absl::Status s = Exec("schema: create version table",
                            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      !s.ok()) {
    return s;
  }
  sqlite3_stmt* raw_stmt = nullptr;
  if (sqlite3_prepare_v2(db_.get(), "SELECT version FROM schema_version", -1, &raw_stmt,
                         nullptr) != SQLITE_OK) {
    return SqliteError("schema: read version");
  }
  Stmt stmt(raw_stmt);
  std::vector<int64_t> versions;
  int step;
  while ((step = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    versions.push_back(sqlite3_column_int64(stmt.get(), 0));
  }
  if (step != SQLITE_DONE) return SqliteError("schema: read version");
  if (versions.empty()) {
    return Exec(absl::StrCat("schema: create version ", kSchemaVersion), kCreateSchema);
  }
  if (versions.size() != 1) {
    return absl::DataLossError(absl::StrCat("binding store ", path_,
                                            ": schema: schema_version has ", versions.size(),
                                            " rows, expected 1"));
  }
  if (versions[0] >= 1 && versions[0] <= 4) {
    return Exec(absl::StrCat("schema: migrate version ", versions[0], " to ", kSchemaVersion),
                versions[0] == 4   ? kMigrateFromV4
                : versions[0] == 3 ? kMigrateFromV3
                                   : kMigrateFromV1);
  }
  if (versions[0] != kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "binding store ", path_, ": schema: version ", versions[0],
        " is not the version this build knows (", kSchemaVersion, ")"));
  }
  return absl::OkStatus();
}

absl::Status BindingStore::Prepare() {
  const std::pair<Stmt*, std::string> statements[] = {
      // WriteRow binds ?1 to the row (NULL for the insert: SQLite gives
      // it the next row) and ?2... to kColumns' binding columns.
      {&update_,
       "UPDATE bindings SET aor = ?2, contact = ?3, expires_at = ?4, call_id = ?5, cseq = ?6, "
       "user_agent = ?7, source_ip = ?8, source_port = ?9, transport = ?10, local_ip = ?11, "
       "local_port = ?12, behind_nat = ?13, nat_reasons = ?14, keepalive_interval_ms = ?15, "
       "keepalive_reason = ?16, q_milli = ?17, keepalive_learning = ?18, refresh_seq = ?19 "
       "WHERE id = ?1"},
      {&insert_,
       absl::StrCat("INSERT INTO bindings (", kColumns,
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                    "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)")},
      {&remove_, "DELETE FROM bindings WHERE id = ?1"},
      // In the table's own order, which is the order of arrival: sorting a
      // million rows would cost the restart seconds.
      {&load_each_, absl::StrCat("SELECT ", kColumns, " FROM bindings ORDER BY id")},
      {&savepoint_, "SAVEPOINT change"},
      {&release_, "RELEASE change"},
      {&rollback_to_, "ROLLBACK TO change"},
  };
  for (const auto& [stmt, sql] : statements) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &raw, nullptr) != SQLITE_OK) {
      return SqliteError(absl::StrCat("prepare '", sql.substr(0, 40), "...'"));
    }
    stmt->reset(raw);
  }
  return absl::OkStatus();
}

absl::Status BindingStore::WriteRow(BindingRow& row, const Binding& b) {
  if (b.aor.empty() || b.contact_uri.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "binding store ", path_, ": write: empty ",
        b.aor.empty() ? "aor" : "contact", " (aor '", b.aor, "')"));
  }
  if (b.q_milli > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("binding store ", path_, ": write ", b.aor, " ",
                     b.contact_uri, ": q ", b.q_milli, "/1000 is above 1"));
  }
  nlohmann::json reasons = nlohmann::json::array();
  for (const std::string& reason : b.nat_reasons) reasons.push_back(reason);
  // replace: a reason with invalid UTF-8 is stored with U+FFFD, not thrown.
  const std::string reasons_json =
      reasons.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

  // A row the registrar holds but the file lost (deleted by hand) is
  // written back where it was: the update changes nothing, the insert
  // with the same id puts it back.
  ++counters_.writes;
  if (row != 0) {
    if (absl::Status s = StepWrite(update_.get(), row, b, reasons_json); !s.ok()) return s;
    if (sqlite3_changes(db_.get()) > 0) {
      log_->Supersede(row);
      return absl::OkStatus();
    }
  }
  if (absl::Status s = StepWrite(insert_.get(), row, b, reasons_json); !s.ok()) return s;
  row = sqlite3_last_insert_rowid(db_.get());
  log_->Supersede(row);
  return absl::OkStatus();
}

absl::Status BindingStore::StepWrite(sqlite3_stmt* s, BindingRow row, const Binding& b,
                                     const std::string& reasons_json) {
  SqliteStmtUse use(s);
  const int rcs[] = {
      row != 0 ? sqlite3_bind_int64(s, 1, row) : sqlite3_bind_null(s, 1),
      BindText(s, 2, b.aor),
      BindText(s, 3, b.contact_uri),
      sqlite3_bind_int64(s, 4, b.expires_at),
      BindText(s, 5, b.call_id),
      sqlite3_bind_int64(s, 6, b.cseq),
      BindText(s, 7, b.user_agent),
      BindText(s, 8, b.source.ip.ToString()),
      sqlite3_bind_int(s, 9, b.source.port),
      BindText(s, 10, TransportName(b.transport)),
      BindText(s, 11, b.local_socket.ip.ToString()),
      sqlite3_bind_int(s, 12, b.local_socket.port),
      sqlite3_bind_int(s, 13, b.behind_nat ? 1 : 0),
      BindText(s, 14, reasons_json),
      sqlite3_bind_int64(s, 15, b.keepalive_interval_ms),
      BindText(s, 16, b.keepalive_reason),
      sqlite3_bind_int(s, 17, b.q_milli),
      sqlite3_bind_int(s, 18, b.keepalive_learning ? 1 : 0),
      // Only log entries after this one override what is written now.
      sqlite3_bind_int64(s, 19, log_->high()),
  };
  for (int rc : rcs) {
    if (rc != SQLITE_OK) return SqliteError(absl::StrCat("write ", b.aor));
  }
  if (sqlite3_step(s) != SQLITE_DONE) {
    return SqliteError(absl::StrCat("write ", b.aor, " ", b.contact_uri));
  }
  return absl::OkStatus();
}

absl::Status BindingStore::RemoveRow(BindingRow row) {
  sqlite3_stmt* s = remove_.get();
  SqliteStmtUse use(s);
  if (sqlite3_bind_int64(s, 1, row) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
    return SqliteError(absl::StrCat("remove row ", row));
  }
  log_->Supersede(row);
  ++counters_.removals;
  return absl::OkStatus();
}

absl::StatusOr<BindingRow> BindingStore::Insert(const Binding& binding) {
  BindingRow row = 0;
  if (absl::Status s = InTransaction("insert", [&] { return WriteRow(row, binding); }, true);
      !s.ok()) {
    return s;
  }
  return row;
}

absl::Status BindingStore::Update(BindingRow row, const Binding& binding) {
  if (row <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("binding store ", path_, ": update ",
                                                   binding.aor, ": row ", row, " is not a row"));
  }
  // UPDATE, else INSERT at the same row: one change, in its own
  // transaction or the round's.
  return InTransaction("update", [&] { return WriteRow(row, binding); }, true);
}

absl::Status BindingStore::ApplyRegister(absl::Span<const BindingRow> removed,
                                         absl::Span<const Binding> upserts,
                                         absl::Span<BindingRow> rows,
                                         absl::Span<const bool> refresh_only) {
  if (absl::Status s = RegisterSpansAgree(upserts.size(), rows.size(), refresh_only.size());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("binding store ", path_, ": ", s.message()));
  }
  // WriteRow's UPDATE-else-INSERT counts as one statement: the UPDATE
  // that found no row changed nothing.
  const bool single = upserts.size() + removed.size() == 1;
  return InTransaction("register", [&]() -> absl::Status {
    for (const BindingRow row : removed) {
      if (absl::Status s = RemoveRow(row); !s.ok()) return s;
    }
    for (size_t i = 0; i < upserts.size(); ++i) {
      const Binding& b = upserts[i];
      // Only while the file holds every row memory thinks it does: after a
      // rollback a refresh is written whole (which puts a lost row back).
      if (!refresh_only.empty() && refresh_only[i] && rows[i] != 0 && rows_trusted_) {
        ++counters_.writes;
        ++counters_.refreshes_logged;
        if (absl::Status s = log_->Append(rows[i], b.expires_at, b.cseq, b.call_id); !s.ok()) {
          return s;
        }
        continue;
      }
      if (absl::Status s = WriteRow(rows[i], b); !s.ok()) return s;
    }
    return absl::OkStatus();
  }, single);
}

absl::Status BindingStore::Remove(BindingRow row) {
  // Joins the round's transaction under group commit: a prune of many
  // bindings is one commit, not one each.
  return InTransaction("remove", [&] { return RemoveRow(row); }, true);
}

absl::Status BindingStore::EachRow(absl::string_view op, sqlite3_stmt* s,
                                   absl::FunctionRef<void(BindingRow, int64_t, Binding&)> fn) {
  int step;
  Binding b;  // every field set again for each row; its strings' buffers reused
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    const BindingRow row = sqlite3_column_int64(s, 0);
    AssignColumn(s, 1, b.aor);
    AssignColumn(s, 2, b.contact_uri);
    // A row that does not read back is named, not skipped: silently losing
    // a phone's binding is worse than refusing to start.
    auto bad = [&](absl::string_view what) {
      return absl::DataLossError(absl::StrCat("binding store ", path_, ": ", op, ": row ",
                                              row, " (", b.aor, ", ", b.contact_uri,
                                              "): ", what));
    };
    b.expires_at = sqlite3_column_int64(s, 3);
    AssignColumn(s, 4, b.call_id);
    const int64_t cseq = sqlite3_column_int64(s, 5);
    if (cseq < 0 || cseq > std::numeric_limits<uint32_t>::max()) {
      return bad(absl::StrCat("cseq ", cseq, " out of range"));
    }
    b.cseq = static_cast<uint32_t>(cseq);
    AssignColumn(s, 6, b.user_agent);

    for (auto [ip_col, port_col, endpoint, name] :
         {std::tuple{7, 8, &b.source, "source"},
          std::tuple{10, 11, &b.local_socket, "local socket"}}) {
      const absl::string_view ip_text = ColumnView(s, ip_col);
      const std::optional<IpAddress> ip = IpAddress::TryParse(ip_text);
      if (!ip) return bad(absl::StrCat(name, ": ", IpAddress::Parse(ip_text).status().message()));
      const int64_t port = sqlite3_column_int64(s, port_col);
      if (port < 0 || port > 65535) {
        return bad(absl::StrCat(name, " port ", port, " out of range"));
      }
      endpoint->ip = *ip;
      endpoint->port = static_cast<uint16_t>(port);
    }
    absl::StatusOr<Binding::Transport> transport = ParseTransport(ColumnView(s, 9));
    if (!transport.ok()) return bad(transport.status().message());
    b.transport = *transport;
    b.behind_nat = sqlite3_column_int64(s, 12) != 0;

    b.nat_reasons.clear();
    // Most phones are not behind a NAT: their "[]" needs no JSON parser.
    if (const absl::string_view text = ColumnView(s, 13); text != "[]") {
      nlohmann::json reasons = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                                     /*allow_exceptions=*/false);
      if (!reasons.is_array()) return bad("nat_reasons is not a JSON array");
      for (const nlohmann::json& reason : reasons) {
        if (!reason.is_string()) return bad("nat_reasons holds a non-string");
        b.nat_reasons.push_back(reason.get<std::string>());
      }
    }
    const int64_t interval = sqlite3_column_int64(s, 14);
    if (interval < 0 || interval > std::numeric_limits<uint32_t>::max()) {
      return bad(absl::StrCat("keepalive interval ", interval, " out of range"));
    }
    b.keepalive_interval_ms = static_cast<uint32_t>(interval);
    AssignColumn(s, 15, b.keepalive_reason);
    const int64_t q = sqlite3_column_int64(s, 16);
    if (q < 0 || q > 1000) return bad(absl::StrCat("q ", q, "/1000 out of range"));
    b.q_milli = static_cast<uint16_t>(q);
    b.keepalive_learning = sqlite3_column_int64(s, 17) != 0;
    b.node.clear();  // never stored: this node's
    fn(row, sqlite3_column_int64(s, 18), b);
  }
  if (step != SQLITE_DONE) return SqliteError(op);
  return absl::OkStatus();
}

absl::Status BindingStore::EachEffective(absl::FunctionRef<void(BindingRow, Binding&)> fn,
                                         bool index_live) {
  // The log read first (each row's newest entry), then the table in its
  // own order with every newer entry laid over its row.
  MappedReads mapped(db_.get());
  absl::StatusOr<RefreshLog::Newest> newest = log_->ReadNewest();
  if (!newest.ok()) return newest.status();
  if (index_live) log_->ReserveLive(newest->size());
  sqlite3_stmt* s = load_each_.get();
  SqliteStmtUse use(s);
  absl::Status read = EachRow("load", s, [&](BindingRow row, int64_t refresh_seq, Binding& b) {
    if (const std::optional<RefreshLog::Newest::Refresh> r = newest->Of(row);
        r && r->id > refresh_seq) {
      b.expires_at = r->expires_at;
      b.cseq = r->cseq;
      b.call_id.assign(r->call_id.data(), r->call_id.size());
      if (index_live) log_->IndexLive(row, r->id);
    }
    fn(row, b);
  });
  if (read.ok() && index_live) log_->LoadDone();
  return read;
}

absl::StatusOr<std::vector<Binding>> BindingStore::LoadAll(int64_t now) {
  std::vector<Binding> out;
  if (absl::Status read = EachEffective(
          [&](BindingRow, Binding& b) {
            if (b.expires_at > now) out.push_back(std::move(b));
          },
          /*index_live=*/false);
      !read.ok()) {
    return read;
  }
  std::sort(out.begin(), out.end(), [](const Binding& x, const Binding& y) {
    return std::forward_as_tuple(x.aor, y.q_milli, y.expires_at, x.contact_uri) <
           std::forward_as_tuple(y.aor, x.q_milli, x.expires_at, y.contact_uri);
  });
  return out;
}

absl::Status BindingStore::LoadEach(absl::FunctionRef<void(BindingRow, const Binding&)> fn) {
  return EachEffective([&](BindingRow row, Binding& b) { fn(row, b); }, /*index_live=*/true);
}

absl::StatusOr<int64_t> BindingStore::RowCountBound() {
  absl::StatusOr<std::string> max = QueryText("row count", "SELECT coalesce(max(id), 0) FROM bindings");
  if (!max.ok()) return max.status();
  return std::strtoll(max->c_str(), nullptr, 10);
}

absl::StatusOr<int> BindingStore::PruneExpired(int64_t now) {
  std::vector<BindingRow> due;
  if (absl::Status read = EachEffective(
          [&](BindingRow row, Binding& b) {
            if (b.expires_at <= now) due.push_back(row);
          },
          /*index_live=*/false);
      !read.ok()) {
    return read;
  }
  if (absl::Status s = InTransaction("prune expired", [&]() -> absl::Status {
        for (BindingRow row : due) {
          if (absl::Status s = RemoveRow(row); !s.ok()) return s;
        }
        return absl::OkStatus();
      });
      !s.ok()) {
    return s;
  }
  return static_cast<int>(due.size());
}

}  // namespace rtplatch
