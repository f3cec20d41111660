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
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/ip_address.h"
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

  friend bool operator==(const Binding&, const Binding&) = default;
};

absl::string_view TransportName(Binding::Transport transport);  // "udp", ...
absl::StatusOr<Binding::Transport> ParseTransport(absl::string_view name);

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

  // Inserts or replaces the binding (aor, contact_uri).
  absl::Status Upsert(const Binding& binding);
  // One REGISTER's effect in one transaction: the upserts and the removed
  // contacts of `aor` land together or not at all. Every upsert must be for
  // `aor`.
  absl::Status ApplyRegister(absl::string_view aor,
                             absl::Span<const Binding> upserts,
                             absl::Span<const std::string> removed_contacts);
  // Removing what is not there is not an error.
  absl::Status Remove(absl::string_view aor, absl::string_view contact_uri);
  absl::Status RemoveAll(absl::string_view aor);

  // The AOR's bindings that have not expired at `now` (unix seconds),
  // highest q first, then latest expiry.
  absl::StatusOr<std::vector<Binding>> Lookup(absl::string_view aor, int64_t now);
  // Every binding not expired at `now`, by AOR: what a restart reloads.
  absl::StatusOr<std::vector<Binding>> LoadAll(int64_t now);
  // Every binding stored, expired or not, one at a time: a restart with a
  // million of them never holds a second copy of the table.
  absl::Status LoadEach(absl::FunctionRef<void(const Binding&)> fn);
  // Deletes bindings with expires_at <= now; returns how many. A scan of
  // the table (there is no expiry index): the registrar removes the
  // expired bindings it holds by key instead.
  absl::StatusOr<int> PruneExpired(int64_t now);
  // Checkpoints done off the event loop (wal_checkpointer.h).
  const WalCheckpointer& checkpointer() const { return *checkpointer_; }

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

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
  // `single_statement`: the body makes one atomic change, so under group
  // commit it needs no savepoint of its own.
  absl::Status InTransaction(absl::string_view op, absl::FunctionRef<absl::Status()> body,
                             bool single_statement = false);
  absl::Status UpsertRow(const Binding& binding);
  absl::Status RemoveRow(absl::string_view aor, absl::string_view contact_uri);
  absl::StatusOr<std::vector<Binding>> ReadRows(absl::string_view op,
                                                sqlite3_stmt* stmt);
  // The rows of `stmt`, each read into a Binding; the first row that does
  // not read back stops it with DataLoss.
  absl::Status EachRow(absl::string_view op, sqlite3_stmt* stmt,
                       absl::FunctionRef<void(Binding&)> fn);

  const std::string path_;
  // Declared before the statements so they are finalized first.
  std::unique_ptr<sqlite3, DbCloser> db_;
  Stmt update_;
  Stmt insert_;
  Stmt remove_;
  Stmt remove_all_;
  Stmt lookup_;
  Stmt load_all_;
  Stmt load_each_;
  Stmt prune_;
  // Group commit's per-change savepoint, prepared once: sqlite3_exec
  // would parse the SQL text on every REGISTER.
  Stmt savepoint_;
  Stmt release_;
  Stmt rollback_to_;
  absl::Status Step(absl::string_view op, sqlite3_stmt* stmt);
  // After db_: stopped before the connection closes.
  std::unique_ptr<WalCheckpointer> checkpointer_;
};

}  // namespace rtplatch
