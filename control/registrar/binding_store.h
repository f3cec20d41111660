// Persistence for registrar bindings, so a restarted control plane knows
// where every phone is (and which NAT'd ones need keepalives) without
// waiting for them to re-register.
//
// Why SQLite: it is a library, not a server (nothing to install, run or
// monitor next to the registrar); every change is a transaction, so a
// REGISTER's bindings land whole or not at all; and in WAL mode a committed
// transaction survives the process being killed (kill -9) at any point —
// recovery happens on the next open. With synchronous=NORMAL a power loss
// may lose the last few commits, which costs only a re-REGISTER. A flat file
// would need all of that written by hand.
//
// Not thread-safe: one owner (the registrar) calls it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/ip_address.h"
#include "control/registrar/binding.h"
#include "control/registrar/binding_sink.h"
#include "control/registrar/refresh_log.h"
#include "control/registrar/sqlite_statement.h"
#include "control/registrar/wal_checkpointer.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rtplatch {

absl::string_view TransportName(Binding::Transport transport);  // "udp", ...
absl::StatusOr<Binding::Transport> ParseTransport(absl::string_view name);

class BindingStore final : public BindingSink {
 public:
  // Opens or creates the database at `path`, in WAL mode, creating or
  // checking the schema. A file that is not a database, is corrupt or has a
  // newer schema is an error naming the path, never a crash.
  static absl::StatusOr<std::unique_ptr<BindingStore>> Open(const std::string& path);
  ~BindingStore() override;

  BindingStore(const BindingStore&) = delete;
  BindingStore& operator=(const BindingStore&) = delete;

  // Group commit: changes join one open transaction that Flush() commits
  // (the BindingWriter flushes after each batch the event loop handed it).
  // A registrar at thousands of REGISTERs a second then pays one WAL
  // commit per batch, not per REGISTER; a crash loses at most the changes
  // since the last commit (phones re-register), as synchronous=NORMAL
  // already accepts for power loss.
  void set_group_commit(bool on) { group_commit_ = on; }
  absl::Status Flush();

  // A new binding, appended as the table's next row; returns its row.
  absl::StatusOr<BindingRow> Insert(const Binding& binding);
  // Rewrites the binding stored at `row` (a refresh: the row stays where
  // it is, beside the bindings that arrived with it).
  absl::Status Update(BindingRow row, const Binding& binding) override;
  // Removing a row that is not there is not an error.
  absl::Status Remove(BindingRow row) override;
  // One REGISTER's effect in one transaction: the rows `removed` go, and
  // each of `upserts` is written to rows[i], or inserted when rows[i] is
  // 0 (rows[i] then holds its new row). All of it lands or none of it; on
  // an error `rows` is not to be used. refresh_only[i] (when given): the
  // binding differs from the one stored at rows[i] in its expiry, CSeq and
  // Call-ID at most (OnlyRefreshMoved), and goes to the refresh log.
  absl::Status ApplyRegister(absl::Span<const BindingRow> removed,
                             absl::Span<const Binding> upserts, absl::Span<BindingRow> rows,
                             absl::Span<const bool> refresh_only = {}) override;

  // Every binding not expired at `now`, by AOR, highest q first, then
  // latest expiry: a scan and a sort of the whole table and the refresh
  // log, for tools and tests (the registrar holds its bindings in memory).
  absl::StatusOr<std::vector<Binding>> LoadAll(int64_t now);
  // Every binding stored, expired or not, with its row, in the order they
  // arrived: a restart with a million of them never holds a second copy
  // of the table.
  absl::Status LoadEach(absl::FunctionRef<void(BindingRow, const Binding&)> fn);
  // At least as many as the rows stored (the highest row; cheap): what a
  // load sizes its tables for.
  absl::StatusOr<int64_t> RowCountBound();
  // Deletes bindings with expires_at <= now; returns how many. A scan of
  // the table and the log (there is no expiry index): the registrar
  // removes the expired bindings it holds by row instead.
  absl::StatusOr<int> PruneExpired(int64_t now);
  BindingStoreCounters counters() const override { return counters_; }
  // The caller holds changes in memory that the file may lack (a change
  // it made was refused): from now on (until a restart) refreshes are
  // written whole, which puts a lost row back. A rollback does it too.
  void DistrustMemory();
  // Checkpoints done off the event loop (wal_checkpointer.h).
  const WalCheckpointer& checkpointer() const { return *checkpointer_; }
  const RefreshLog& refresh_log() const { return *log_; }

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  using Stmt = SqliteStmt;

  BindingStore(std::string path, std::unique_ptr<sqlite3, DbCloser> db);

  // Open's steps: WAL, synchronous and cache pragmas; quick_check; the
  // schema created or migrated (inside a transaction); statements.
  absl::Status Configure();
  absl::Status CheckIntegrity();
  absl::Status MigrateSchema();
  absl::Status Prepare();
  // The first column of a one-row statement's result.
  absl::StatusOr<std::string> QueryText(absl::string_view what, const char* sql);
  absl::Status Exec(absl::string_view op, const char* sql);
  absl::Status SqliteError(absl::string_view op) const;
  bool group_commit_ = false;
  bool outer_open_ = false;
  BindingStoreCounters counters_;
  // `single_statement`: the body makes one atomic change, so under group
  // commit it needs no savepoint of its own.
  absl::Status InTransaction(absl::string_view op, absl::FunctionRef<absl::Status()> body,
                             bool single_statement = false);
  // Writes `binding` to `row`, or appends it when `row` is 0 (then sets
  // `row`).
  absl::Status WriteRow(BindingRow& row, const Binding& binding);
  // Binds ?1 to `row` (NULL when 0: the insert then takes the next row)
  // and ?2... to the binding's columns, and steps `s`.
  absl::Status StepWrite(sqlite3_stmt* s, BindingRow row, const Binding& binding,
                         const std::string& reasons_json);
  absl::Status RemoveRow(BindingRow row);
  // The rows of `stmt` (the row id, then kColumns), each read into a
  // Binding; the first row that does not read back stops it with
  // DataLoss.
  absl::Status EachRow(absl::string_view op, sqlite3_stmt* stmt,
                       absl::FunctionRef<void(BindingRow, int64_t refresh_seq, Binding&)> fn);
  // Every row as it stands with the refresh log laid over it, in the
  // table's order; with `index_live` the log learns what is live (a load).
  absl::Status EachEffective(absl::FunctionRef<void(BindingRow, Binding&)> fn, bool index_live);
  // Compaction takes at least this many of the log's oldest entries a
  // flush (when it is due: refresh_log.h).
  static constexpr int64_t kMinCompactSlice = 256;
  int64_t flushed_high_ = 0;  // the log's newest id at the last flush
  // False after a rollback took back changes memory may count as written:
  // from then on (until a restart) refreshes are written whole, and the
  // log's live set is forgotten (no compaction) until the next load.
  bool rows_trusted_ = true;

  const std::string path_;
  // Declared before the statements so they are finalized first.
  std::unique_ptr<sqlite3, DbCloser> db_;
  Stmt update_;
  Stmt insert_;
  Stmt remove_;
  Stmt load_each_;
  // Group commit's per-change savepoint, prepared once: sqlite3_exec
  // would parse the SQL text on every REGISTER.
  Stmt savepoint_;
  Stmt release_;
  Stmt rollback_to_;
  absl::Status Step(absl::string_view op, sqlite3_stmt* stmt);
  // After db_: its statements finalized before the connection closes.
  std::unique_ptr<RefreshLog> log_;
  // After db_: stopped before the connection closes.
  std::unique_ptr<WalCheckpointer> checkpointer_;
};

}  // namespace rtplatch
