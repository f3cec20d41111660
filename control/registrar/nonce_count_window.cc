#include "control/registrar/nonce_count_window.h"

#include <algorithm>
#include <bit>

namespace rtplatch {
namespace {

size_t RoundSize(size_t n) {
  return std::bit_ceil(std::max(n, NonceCountWindow::kPageSize));
}

// nc values the ring records; one above is a worn-out nonce.
constexpr uint32_t kMaxRecordedNc = 0xfffe;

}  // namespace

NonceCountWindow::NonceCountWindow(int64_t lifetime_s, size_t initial_size, size_t max_size)
    : lifetime_s_(lifetime_s),
      max_size_(RoundSize(std::max(initial_size, max_size))),
      highest_nc_(RoundSize(initial_size), 0),
      page_issued_at_(highest_nc_.size() / kPageSize, 0) {}

uint64_t NonceCountWindow::Issue(int64_t now_s) {
  const uint64_t number = issued_;
  if (number % kPageSize == 0) {
    // A new page overwrites the page of `size()` nonces ago: if that one is
    // still within its lifetime, make room instead while we may.
    const size_t pages = page_issued_at_.size();
    const bool recycles_live = number >= size() &&
                               now_s - page_issued_at_[(number / kPageSize) % pages] <= lifetime_s_;
    if (recycles_live && size() < max_size_) Grow();
    const size_t page = (number / kPageSize) % page_issued_at_.size();
    page_issued_at_[page] = now_s;
    std::fill_n(highest_nc_.begin() + static_cast<ptrdiff_t>(page * kPageSize), kPageSize, 0);
  }
  ++issued_;
  return number;
}

NonceCountWindow::Verdict NonceCountWindow::Consume(uint64_t number, uint32_t nc) {
  // Whole pages are tracked: the current one (which the latest nonce
  // started or joined) and the pages before it that the ring still holds.
  if (number >= issued_) return Verdict::kForgotten;
  const uint64_t current_page = (issued_ - 1) / kPageSize;
  if (current_page - number / kPageSize >= page_issued_at_.size()) return Verdict::kForgotten;
  if (nc > kMaxRecordedNc) return Verdict::kForgotten;
  uint16_t& highest = highest_nc_[number & (size() - 1)];
  if (nc <= highest) return Verdict::kReplayed;
  highest = static_cast<uint16_t>(nc);
  return Verdict::kAccepted;
}

// Doubles the ring, each tracked nonce moved to its slot in the new one
// (number modulo the new size); called at a page boundary.
void NonceCountWindow::Grow() {
  const size_t old_size = size();
  const size_t new_size = old_size * 2;
  std::vector<uint16_t> nc(new_size, 0);
  std::vector<int64_t> pages(new_size / kPageSize, 0);
  const uint64_t first = issued_ > old_size ? issued_ - old_size : 0;
  for (uint64_t n = first; n < issued_; ++n) nc[n & (new_size - 1)] = highest_nc_[n & (old_size - 1)];
  for (uint64_t p = first / kPageSize; p < issued_ / kPageSize; ++p) {
    pages[p % pages.size()] = page_issued_at_[p % page_issued_at_.size()];
  }
  highest_nc_ = std::move(nc);
  page_issued_at_ = std::move(pages);
}

}  // namespace rtplatch
