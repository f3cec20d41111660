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
#include "control/registrar/refresh_log.h"
#include "control/registrar/sqlite_statement.h"
#include "control/registrar/wal_checkpointer.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rtplatch {

struct Binding {
  enum class Transport : uint8_t { kUdp, kTcp, kTls, kWs, kWss };

  std::string aor;          // as the registrar normalises it; key part 1
  std::string contact_uri;  // key part 2
  int64_t expires_at = 0;   // unix seconds
  std::string call_id;
  uint32_t cseq = 0;
  std::string user_agent;
  Endpoint source;  // where the REGISTER really came from
  Transport transport = Transport::kUdp;
  Endpoint local_socket;  // our socket it arrived on (replies leave from it)
  bool behind_nat = false;
  std::vector<std::string> nat_reasons;
  uint32_t keepalive_interval_ms = 0;  // 0: no keepalives
  std::string keepalive_reason;
  // The NAT's timeout is still being learned (control/nat/
  // keepalive_learning.h): the control plane's probes keep the mapping, the
  // dataplane has no target yet, and keepalive_interval_ms is the ceiling.
  bool keepalive_learning = false;
  // RFC 3261 q-value × 1000: qvalues have at most three decimals, so an
  // integer holds them exactly and orders them without float compares.
  uint16_t q_milli = 1000;
  // The cluster node that owns the binding (its phone registered there:
  // docs/cluster.md); empty: this node. Only this node's bindings are
  // stored here, so the store never holds a node.
  std::string node;

  friend bool operator==(const Binding&, const Binding&) = default;
};

// Whether `after` differs from `before` in its expiry, CSeq and Call-ID at
// most (a plain refresh; a phone that restarted refreshes with a new
// Call-ID): what the cluster writes as those alone.
inline bool OnlyRefreshMoved(const Binding& before, const Binding& after) {
  auto rest = [](const Binding& b) {
    return std::tie(b.aor, b.contact_uri, b.user_agent, b.source, b.transport,
                    b.local_socket, b.behind_nat, b.nat_reasons, b.keepalive_interval_ms,
                    b.keepalive_reason, b.keepalive_learning, b.q_milli, b.node);
  };
  return rest(before) == rest(after);
}

// Where a binding is stored: the table's rows are kept in the order
// bindings arrive, keyed by this id, not by (aor, contact). A phone
// refreshes on its own timer, so the bindings that arrived together are
// refreshed together and expire together: a refresh, an expiry or a new
// binding dirties the few pages its neighbours in time dirty. Keyed by
// AOR, each of those wrote a page of its own anywhere in the file (at a
// million bindings, a 200 MB file and a 128 MiB cache). The registrar
// keeps each binding's row in memory, so no index on the key is needed;
// it is what keeps (aor, contact) unique. 0 is no row.
using BindingRow = int64_t;

absl::string_view TransportName(Binding::Transport transport);  // "udp", ...
absl::StatusOr<Binding::Transport> ParseTransport(absl::string_view name);

// What the store has written (metrics).
struct BindingStoreCounters {
  uint64_t writes = 0;    // bindings written, new or refreshed
  uint64_t removals = 0;
  uint64_t refreshes_logged = 0;  // of the writes, appended to the refresh log
};

class BindingStore {
 public:
  // Opens or creates the database at `path`, in WAL mode, creating or
  // checking the schema. A file that is not a database, is corrupt or has a
  // newer schema is an error naming the path, never a crash.
  static absl::StatusOr<std::unique_ptr<BindingStore>> Open(const std::string& path);
  ~BindingStore();

  BindingStore(const BindingStore&) = delete;
  BindingStore& operator=(const BindingStore&) = delete;

  // Group commit: changes join one open transaction that Flush() commits
  // (the event loop flushes when it goes idle, and every 50 ms under
  // load). A registrar at thousands of REGISTERs a second then pays one
  // WAL commit per interval, not per REGISTER; a crash loses at most the
  // changes since the last commit (phones re-register), as
  // synchronous=NORMAL already accepts for power loss.
  void set_group_commit(bool on) { group_commit_ = on; }
  absl::Status Flush();

  // A new binding, appended as the table's next row; returns its row.
  absl::StatusOr<BindingRow> Insert(const Binding& binding);
  // Rewrites the binding stored at `row` (a refresh: the row stays where
  // it is, beside the bindings that arrived with it).
  absl::Status Update(BindingRow row, const Binding& binding);
  // Removing a row that is not there is not an error.
  absl::Status Remove(BindingRow row);
  // One REGISTER's effect in one transaction: the rows `removed` go, and
  // each of `upserts` is written to rows[i], or inserted when rows[i] is
  // 0 (rows[i] then holds its new row). All of it lands or none of it; on
  // an error `rows` is not to be used. refresh_only[i] (when given): the
  // binding differs from the one stored at rows[i] in its expiry, CSeq and
  // Call-ID at most (OnlyRefreshMoved), and goes to the refresh log.
  absl::Status ApplyRegister(absl::Span<const BindingRow> removed,
                             absl::Span<const Binding> upserts, absl::Span<BindingRow> rows,
                             absl::Span<const bool> refresh_only = {});

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
  const BindingStoreCounters& counters() const { return counters_; }
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
  void DistrustMemory();

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
