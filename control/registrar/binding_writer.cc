#include "control/registrar/binding_writer.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    handed_ += round_.size();
    if (queue_.empty()) {
      queue_.swap(round_);
    } else {
      std::move(round_.begin(), round_.end(), std::back_inserter(queue_));
    }
    backlog_ = handed_ - finished_;
  }
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

uint64_t BindingWriter::Commit(absl::Span<Change> batch, std::string& first_error) {
  uint64_t failed = 0;
  auto note = [&](const absl::Status& s) {
    if (s.ok()) return;
    ++failed;
    if (first_error.empty()) first_error = std::string(s.message());
    // Memory has the change the file lacks.
    store_->DistrustMemory();
  };
  auto stint = std::chrono::steady_clock::now();
  for (Change& change : batch) {
    note(Apply(change));
    if (const auto now = std::chrono::steady_clock::now(); now - stint >= kStint) {
      sched_yield();
      stint = std::chrono::steady_clock::now();
    }
  }
  if (absl::Status s = store_->Flush(); !s.ok()) {
    note(s);
    failed = batch.size();  // the commit took the whole batch back
  }
  return failed;
}

void BindingWriter::Run() {
  // Below the loop, as the WAL checkpointer is (wal_checkpointer.h).
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kNice);
  std::vector<Change> taken;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stop_, and everything handed over is done
    taken.swap(queue_);
    lock.unlock();
    for (size_t at = 0; at < taken.size(); at += kBatch) {
      const size_t n = std::min(kBatch, taken.size() - at);
      std::string first_error;
      const uint64_t failed = Commit(absl::MakeSpan(taken).subspan(at, n), first_error);
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
    taken.clear();
    lock.lock();
  }
}

}  // namespace rtplatch
