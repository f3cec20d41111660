// Where the registrar's binding changes go: the SQLite store itself, in
// the caller's thread (tools, tests), or a BindingWriter that hands them
// to a thread of its own, so the event loop never waits for a disk.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "control/registrar/binding.h"

namespace rtplatch {

class BindingSink {
 public:
  virtual ~BindingSink() = default;

  // One REGISTER's effect, whole: the rows `removed` go, and each of
  // `upserts` is written to rows[i], or given a new row when rows[i] is 0
  // (rows[i] then holds it). refresh_only[i] (when given): the binding
  // differs from the one at rows[i] in its expiry, CSeq and Call-ID at
  // most (OnlyRefreshMoved).
  virtual absl::Status ApplyRegister(absl::Span<const BindingRow> removed,
                                     absl::Span<const Binding> upserts,
                                     absl::Span<BindingRow> rows,
                                     absl::Span<const bool> refresh_only = {}) = 0;
  // Rewrites the binding at `row`.
  virtual absl::Status Update(BindingRow row, const Binding& binding) = 0;
  // Removing a row that is not there is not an error.
  virtual absl::Status Remove(BindingRow row) = 0;
  virtual BindingStoreCounters counters() const = 0;
};

// ApplyRegister's spans agree: a row and (when given) a refresh flag for
// each binding. The error says what was given.
inline absl::Status RegisterSpansAgree(size_t upserts, size_t rows, size_t refresh_only) {
  if (rows == upserts && (refresh_only == 0 || refresh_only == upserts)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("register: ", upserts, " bindings but ", rows,
                                                 " rows and ", refresh_only, " refresh flags"));
}

}  // namespace rtplatch
