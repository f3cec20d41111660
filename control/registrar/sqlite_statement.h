// A prepared SQLite statement owned by the code that prepared it, and the
// scope of one use of it: the binding store and its refresh log prepare
// theirs once and step them for every change.
#pragma once

#include <memory>

struct sqlite3_stmt;

namespace rtplatch {

struct SqliteStmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const;
};
using SqliteStmt = std::unique_ptr<sqlite3_stmt, SqliteStmtFinalizer>;

// Resets a statement (and drops its bindings) when the use ends, on every
// path, so the next use starts clean and no read lock is held.
class SqliteStmtUse {
 public:
  explicit SqliteStmtUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~SqliteStmtUse();
  SqliteStmtUse(const SqliteStmtUse&) = delete;
  SqliteStmtUse& operator=(const SqliteStmtUse&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace rtplatch
