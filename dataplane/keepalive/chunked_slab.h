// Per-lcore storage indexed by a 32-bit id that grows without moving what
// it holds: elements live in fixed 65536-element chunks reached through a
// chunk table allocated once, so the lcore can keep using element
// addresses (and prefetch them) while the control thread adds chunks.
//
// Threads: EnsureCapacity(), capacity() and bytes() belong to the control
// thread; operator[] belongs to the lcore. The control thread calls
// EnsureCapacity(n) before it hands the lcore any id < n, and hands ids over
// through an SPSC ring (release push, acquire pop), which is what makes the
// lcore's plain load of the chunk pointer safe.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

namespace rtplatch {

template <typename T>
class ChunkedSlab {
  // Chunks are zero-filled raw memory: a T must be valid as all-zero bytes
  // (IpAddress's all-zero is "::", which is fine) and need no destructor.
  static_assert(std::is_trivially_copyable_v<T>);
  static_assert(std::is_trivially_destructible_v<T>);

 public:
  // 2^16 elements per chunk and 2^16 chunks cover every 32-bit id; a chunk
  // of 64-byte nodes is 4 MiB, small enough to add while serving traffic.
  static constexpr uint32_t kChunkShift = 16;
  static constexpr uint32_t kChunkElements = 1u << kChunkShift;
  static constexpr uint32_t kChunkMask = kChunkElements - 1;
  static constexpr size_t kMaxChunks = size_t{1} << (32 - kChunkShift);
  // Cache-line aligned so a 64-byte T never straddles two lines.
  // Chunks start on a 2 MiB boundary and ask for transparent huge pages:
  // millions of targets touched in random order cost a TLB miss each on
  // 4 KiB pages (measured: the keepalive lcore share at 10 M targets).
  static constexpr size_t kHugePage = 2u << 20;
  static constexpr size_t kAlign = std::max<size_t>(kHugePage, alignof(T));
  static constexpr size_t kChunkBytes = sizeof(T) * kChunkElements;

  ChunkedSlab() : chunks_(std::make_unique<T*[]>(kMaxChunks)) {}
  ~ChunkedSlab() {
    for (size_t c = 0; c < kMaxChunks; ++c) {
      if (chunks_[c] != nullptr) ::operator delete(chunks_[c], std::align_val_t{kAlign});
    }
  }
  ChunkedSlab(const ChunkedSlab&) = delete;
  ChunkedSlab& operator=(const ChunkedSlab&) = delete;

  // Control thread. Makes ids [0, n) addressable, zero-filled; existing
  // elements do not move. Throws std::bad_alloc when memory runs out
  // (control thread only, never on the lcore).
  void EnsureCapacity(uint32_t n) {
    const size_t needed = (size_t{n} + kChunkMask) >> kChunkShift;
    size_t have = chunk_count_.load(std::memory_order_relaxed);
    for (; have < needed; ++have) {
      T* chunk = static_cast<T*>(::operator new(kChunkBytes, std::align_val_t{kAlign}));
      if (kChunkBytes % kHugePage == 0) madvise(chunk, kChunkBytes, MADV_HUGEPAGE);  // a hint
      std::memset(static_cast<void*>(chunk), 0, kChunkBytes);
      // Release: whoever later sees this pointer also sees the zeroes.
      std::atomic_ref<T*>(chunks_[have]).store(chunk, std::memory_order_release);
      chunk_count_.store(static_cast<uint32_t>(have + 1), std::memory_order_relaxed);
    }
  }

  // Lcore. `i` must be below a capacity the control thread published
  // before handing `i` over.
  T& operator[](uint32_t i) {
    T* chunk = chunks_[i >> kChunkShift];
    assert(chunk != nullptr);
    return chunk[i & kChunkMask];
  }
  const T& operator[](uint32_t i) const {
    const T* chunk = chunks_[i >> kChunkShift];
    assert(chunk != nullptr);
    return chunk[i & kChunkMask];
  }

  // Addressable ids; saturates at UINT32_MAX when all 2^32 slots exist
  // (UINT32_MAX itself is every user's "none" id anyway).
  uint32_t capacity() const {
    size_t elements = size_t{chunk_count_.load(std::memory_order_relaxed)} << kChunkShift;
    return static_cast<uint32_t>(std::min<size_t>(elements, UINT32_MAX));
  }
  // Chunks plus the chunk table, for `rtplatchctl stats`.
  size_t bytes() const {
    return kMaxChunks * sizeof(T*) +
           size_t{chunk_count_.load(std::memory_order_relaxed)} * kChunkBytes;
  }

 private:
  const std::unique_ptr<T*[]> chunks_;  // kMaxChunks entries, nullptr until allocated
  // Chunks [0, chunk_count_) are allocated; written by the control thread
  // only, atomic so stats may read it from any thread.
  std::atomic<uint32_t> chunk_count_{0};
};

}  // namespace rtplatch
