#include "control/registrar/binding_writer.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch {

absl::StatusOr<std::unique_ptr<BindingWriter>> BindingWriter::Start(
    std::unique_ptr<BindingStore> store) {
  absl::StatusOr<int64_t> highest = store->RowCountBound();
  if (!highest.ok()) return highest.status();
  store->set_group_commit(true);
  return std::unique_ptr<BindingWriter>(new BindingWriter(std::move(store), *highest + 1));
}

BindingWriter::BindingWriter(std::unique_ptr<BindingStore> store, BindingRow next_row)
    : store_(std::move(store)),
      next_row_(next_row),
      counters_(store_->counters()),
      thread_([this] { Run(); }) {}

BindingWriter::~BindingWriter() {
  Publish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

absl::Status BindingWriter::Behind() const {
  if (backlog_ + round_.size() < kMaxBacklog) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat(backlog_ + round_.size(), " changes not yet written (the disk is behind)"));
}

absl::Status BindingWriter::ApplyRegister(absl::Span<const BindingRow> removed,
                                          absl::Span<const Binding> upserts,
                                          absl::Span<BindingRow> rows,
                                          absl::Span<const bool> refresh_only) {
  if (absl::Status s = RegisterSpansAgree(upserts.size(), rows.size(), refresh_only.size());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Behind(); !s.ok()) return s;
  for (BindingRow& row : rows) {
    if (row == 0) row = next_row_++;
  }
  auto b = std::make_unique<Change::Bindings>();
  b->removed.assign(removed.begin(), removed.end());
  b->upserts.assign(upserts.begin(), upserts.end());
  b->rows.assign(rows.begin(), rows.end());
  b->refresh_only.assign(refresh_only.begin(), refresh_only.end());
  round_.push_back(Change{Change::Kind::kRegister, 0, std::move(b)});
  return absl::OkStatus();
}

absl::Status BindingWriter::Update(BindingRow row, const Binding& binding) {
  if (row <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("update ", binding.aor, ": row ", row, " is not a row"));
  }
  if (absl::Status s = Behind(); !s.ok()) return s;
  auto b = std::make_unique<Change::Bindings>();
  b->upserts.push_back(binding);
  round_.push_back(Change{Change::Kind::kUpdate, row, std::move(b)});
  return absl::OkStatus();
}

absl::Status BindingWriter::Remove(BindingRow row) {
  round_.push_back(Change{Change::Kind::kRemove, row, nullptr});
  return absl::OkStatus();
}

void BindingWriter::Publish() {
  if (round_.empty()) return;
  std::vector<Change> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    handed_ += round_.size();
    queue_.push_back(std::move(round_));
    if (!spare_.empty()) {
      next = std::move(spare_.back());
      spare_.pop_back();
    }
    backlog_ = handed_ - finished_;
  }
  round_ = std::move(next);
  round_.clear();
  wake_.notify_one();
}

void BindingWriter::Sync() {
  Publish();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [this] { return finished_ == handed_; });
}

BindingStoreCounters BindingWriter::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  BindingStoreCounters c = counters_;
  c.backlog = handed_ - finished_ + round_.size();
  return c;
}

BindingWriter::Failures BindingWriter::TakeFailures() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(failures_, Failures{});
}

absl::Status BindingWriter::Apply(Change& change) {
  switch (change.kind) {
    case Change::Kind::kRemove:
      return store_->Remove(change.row);
    case Change::Kind::kUpdate:
      return store_->Update(change.row, change.bindings->upserts.front());
    case Change::Kind::kRegister: {
      Change::Bindings& b = *change.bindings;
      return store_->ApplyRegister(b.removed, b.upserts, absl::MakeSpan(b.rows),
                                   b.refresh_only);
    }
  }
  return absl::OkStatus();
}

size_t BindingWriter::CommitNext(Rounds& rounds, size_t& round, size_t& at, uint64_t& failed,
                                 std::string& first_error) {
  auto note = [&](const absl::Status& s) {
    if (s.ok()) return;
    ++failed;
    if (first_error.empty()) first_error = std::string(s.message());
    // Memory has the change the file lacks.
    store_->DistrustMemory();
  };
  // One transaction across rounds: at 6 000 REGISTERs a second an idle
  // loop hands over a change or two at a time, and a commit each would
  // be a sync each.
  size_t taken = 0;
  auto stint = std::chrono::steady_clock::now();
  for (; round < rounds.size() && taken < kBatch; ++round, at = 0) {
    std::vector<Change>& changes = rounds[round];
    for (; at < changes.size() && taken < kBatch; ++at, ++taken) {
      note(Apply(changes[at]));
      if (const auto now = std::chrono::steady_clock::now(); now - stint >= kStint) {
        sched_yield();
        stint = std::chrono::steady_clock::now();
      }
    }
    if (at < changes.size()) break;  // the batch is full inside this round
  }
  if (absl::Status s = store_->Flush(); !s.ok()) {
    note(s);
    failed = taken;  // the commit took the whole batch back
  }
  return taken;
}

void BindingWriter::Run() {
  // Below the loop, as the WAL checkpointer is (wal_checkpointer.h).
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kNice);
  Rounds taken;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stop_, and everything handed over is done
    taken.swap(queue_);
    lock.unlock();
    size_t round = 0;
    size_t at = 0;
    while (round < taken.size()) {
      std::string first_error;
      uint64_t failed = 0;
      const size_t n = CommitNext(taken, round, at, failed, first_error);
      const BindingStoreCounters written = store_->counters();
      lock.lock();
      finished_ += n;
      counters_.writes = written.writes;
      counters_.removals = written.removals;
      counters_.refreshes_logged = written.refreshes_logged;
      counters_.failed += failed;
      failures_.count += failed;
      if (failures_.first.empty()) failures_.first = std::move(first_error);
      lock.unlock();
      done_.notify_all();
    }
    // Emptied here, off the loop (a register's bindings are freed with
    // it); the largest few go back for the loop to fill again.
    for (std::vector<Change>& changes : taken) changes.clear();
    std::sort(taken.begin(), taken.end(),
              [](const auto& a, const auto& b) { return a.capacity() > b.capacity(); });
    lock.lock();
    for (std::vector<Change>& changes : taken) {
      if (spare_.size() >= kSpareRounds) break;
      spare_.push_back(std::move(changes));
    }
    taken.clear();  // empty rounds: only their buffers are freed
  }
}

}  // namespace rtplatch
