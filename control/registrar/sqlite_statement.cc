#include "control/registrar/sqlite_statement.h"

#include <sqlite3.h>

namespace rtplatch {

void SqliteStmtFinalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

SqliteStmtUse::~SqliteStmtUse() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

}  // namespace rtplatch
