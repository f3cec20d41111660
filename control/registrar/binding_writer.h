// Commits binding changes on a thread of its own, so the SIP event loop
// never waits for SQLite or the disk.
//
// Why: with the store on the loop, each commit was the loop's, and a commit
// can sync. SQLite syncs the WAL's header whenever a writer starts the WAL
// over after a checkpoint (without it a power loss can corrupt the file),
// and while a million bindings expired such a commit's fdatasync held SIP
// for 4 ms of a 10.6 ms round trip (perf, off-CPU, at a million); deletes
// also read pages the page cache had let go. Memory is what the registrar
// answers from; the file is what a restart loads. So the loop hands its
// changes over and goes on, and the writer applies them in order, a batch
// a transaction (the group commit the loop used to do every 50 ms).
//
// Rows are given out here, not by SQLite: a new binding's row is known at
// once (the registrar keeps it in memory) without waiting for its insert.
//
// A change the store refuses (disk full, I/O error) is counted and kept for
// the loop to log; the binding stays in memory, and its next write puts it
// whole (BindingStore distrusts the refresh log after a rollback). A kill -9
// loses what was handed over and not yet committed: at most a batch, as the
// loop's own group commit did.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "control/registrar/binding_sink.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

class BindingWriter final : public BindingSink {
 public:
  // Takes over `store` (loaded already: nothing else may use it from now
  // on) and starts the thread. New bindings get rows above its highest.
  static absl::StatusOr<std::unique_ptr<BindingWriter>> Start(std::unique_ptr<BindingStore> store);
  // Commits everything handed over (Publish'd or not), then stops.
  ~BindingWriter() override;

  BindingWriter(const BindingWriter&) = delete;
  BindingWriter& operator=(const BindingWriter&) = delete;

  // The loop's side: each change joins the round's list (no lock, no
  // SQLite); Publish() hands the list over. An error only when the writer
  // is kMaxBacklog changes behind (the disk cannot keep up): the REGISTER
  // is then refused rather than memory grown without end.
  absl::Status ApplyRegister(absl::Span<const BindingRow> removed,
                             absl::Span<const Binding> upserts, absl::Span<BindingRow> rows,
                             absl::Span<const bool> refresh_only = {}) override;
  absl::Status Update(BindingRow row, const Binding& binding) override;
  // Never refused: a removal is small, and each binding is removed once.
  absl::Status Remove(BindingRow row) override;
  // The store's counters as of the last batch, with the backlog and the
  // failed changes.
  BindingStoreCounters counters() const override;

  // Hands the changes since the last call to the writer: one lock, one
  // wake-up. The event loop calls it when idle and every commit interval.
  void Publish();
  // Publish(), then waits until everything handed over is committed or
  // failed: shutdown and tests.
  void Sync();
  // What the store refused since the last call (the first message and how
  // many), for the event loop to log.
  struct Failures {
    uint64_t count = 0;
    std::string first;
  };
  Failures TakeFailures();

  static constexpr uint64_t kMaxBacklog = 4'000'000;
  // At most this many changes a transaction: a mass expiry's removals
  // commit as they go, not as one transaction of a million, and no one
  // commit holds a core for long.
  static constexpr size_t kBatch = 4'096;
  // Below the loop: under full load it still gets about a quarter of the
  // core, more than commits need.
  static constexpr int kNice = 5;
  // Where the writer shares a core with the event loop (rtplatch-control
  // on one core) and both are busy, as while a million bindings expire,
  // the scheduler lets it run until the next tick, 4 ms on a 250 Hz
  // kernel, and SIP waits that long (perf, at a million): so it gives
  // the core back after this much work. A yield costs nothing when
  // nothing else wants the core.
  static constexpr std::chrono::microseconds kStint{500};
  // Emptied rounds kept for the loop to fill again: a round's buffer
  // reused has its pages already (a fresh one faults each page in, on
  // the loop, while a mass expiry fills it).
  static constexpr size_t kSpareRounds = 4;

 private:
  // One change as the loop made it; a register's bindings out of line,
  // so that the many removals of an expiry stay small.
  struct Change {
    enum class Kind : uint8_t { kRemove, kUpdate, kRegister };
    struct Bindings {
      absl::InlinedVector<BindingRow, 2> removed;
      std::vector<Binding> upserts;
      absl::InlinedVector<BindingRow, 2> rows;
      absl::InlinedVector<bool, 2> refresh_only;
    };
    Kind kind = Kind::kRemove;
    BindingRow row = 0;  // kRemove, kUpdate
    std::unique_ptr<Bindings> bindings;  // kUpdate (one), kRegister
  };

  // Rounds in the order they were handed over. Publish adds a round
  // whole, never copies one onto another: appending to one growing
  // vector made a Publish behind a mass expiry move the whole backlog
  // into fresh memory, 8 ms of page faults on the loop (perf, at a
  // million).
  using Rounds = std::deque<std::vector<Change>>;

  BindingWriter(std::unique_ptr<BindingStore> store, BindingRow next_row);
  void Run();
  // Applies and commits the next kBatch changes of `rounds` from
  // (`round`, `at`) on, moving them past what it took; returns how many
  // it took and counts the refused ones in `failed`.
  size_t CommitNext(Rounds& rounds, size_t& round, size_t& at, uint64_t& failed,
                    std::string& first_error);
  absl::Status Apply(Change& change);
  absl::Status Behind() const;

  std::unique_ptr<BindingStore> store_;  // the writer thread's alone
  BindingRow next_row_;                  // the loop's
  std::vector<Change> round_;            // the loop's, until Publish()

  mutable std::mutex mu_;
  std::condition_variable wake_;  // the writer: changes or stop
  std::condition_variable done_;  // Sync(): a batch committed
  Rounds queue_;                  // handed over, not yet taken
  std::vector<std::vector<Change>> spare_;  // emptied rounds, at most kSpareRounds
  uint64_t handed_ = 0;           // changes handed over, ever
  uint64_t finished_ = 0;         // of them, committed or failed
  uint64_t backlog_ = 0;          // the loop's view, as of its last Publish()
  BindingStoreCounters counters_;
  Failures failures_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace rtplatch
