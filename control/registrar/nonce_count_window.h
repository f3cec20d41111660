// Replay protection for digest nonces (RFC 2617 §3.2.2: a nonce-count
// must grow with every request that reuses a nonce): the highest nc seen
// for each nonce still within its lifetime.
//
// Nonces are numbered as they are issued (digest_auth.h puts the number in
// the nonce's salt, under its MAC), so the state is a ring indexed by that
// number, two bytes a nonce, not a hash table keyed by nonce: recording
// and checking cost the same at any load, and nothing is allocated per
// REGISTER. The ring covers the last `size` nonces issued. It grows (up to
// max_size) whenever the nonces it would forget were issued less than a
// lifetime ago, so it holds what the lifetime times the challenge rate
// needs: a storm of REGISTERs is never answered "stale" for lack of room.
// Only beyond max_size are the oldest nonces forgotten; those are then
// answered stale (the phone asks again), never accepted twice.
//
// Not thread-safe: one owner (the authenticator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rtplatch {

class NonceCountWindow {
 public:
  // Nonces are forgotten when older than `lifetime_s`; the ring starts at
  // `initial_size` and grows to at most `max_size` (both rounded up to a
  // power of two, at least kPageSize).
  NonceCountWindow(int64_t lifetime_s, size_t initial_size, size_t max_size);

  // The number of the next nonce, issued at `now_s`.
  uint64_t Issue(int64_t now_s);

  enum class Verdict : uint8_t {
    kAccepted,   // nc is higher than any seen for this nonce: recorded
    kReplayed,   // nc not higher than one seen before
    kForgotten,  // no longer tracked (or never issued here): ask again
  };
  // Checks nc (1, 2, ...) for nonce `number` and records it if higher.
  Verdict Consume(uint64_t number, uint32_t nc);

  size_t size() const { return highest_nc_.size(); }
  size_t bytes() const {
    return highest_nc_.capacity() * sizeof(uint16_t) + page_issued_at_.capacity() * sizeof(int64_t);
  }

  // Nonces are handed out and aged a page at a time: the issue time of a
  // page's first nonce stands for the page.
  static constexpr size_t kPageSize = 4096;

 private:
  void Grow();

  const int64_t lifetime_s_;
  const size_t max_size_;
  uint64_t issued_ = 0;  // nonces numbered 0 .. issued_ - 1
  // By number modulo size(): the highest nc seen, 0 for none yet. An nc
  // above 0xfffe is not recorded: the nonce is then worn out.
  std::vector<uint16_t> highest_nc_;
  // By page (number / kPageSize modulo size() / kPageSize).
  std::vector<int64_t> page_issued_at_;
};

}  // namespace rtplatch
