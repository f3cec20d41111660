#include "control/memory_release.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace rtplatch {
namespace {

// 128 MB in 256 KB blocks, touched, then freed: what a storm leaves.
void AllocateTouchAndFree() {
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < 512; ++i) {
    blocks.push_back(std::make_unique<char[]>(256 << 10));
    std::memset(blocks.back().get(), 1, 256 << 10);
  }
}

TEST(MemoryReleaseTest, FreedHeapGoesBackASliceAtATimeThenAllOfIt) {
  AllocateTouchAndFree();
  const size_t held = UnreleasedFreeHeap();
  if (held == 0) {
    // glibc's malloc (a sanitizer build): no count, only the whole release.
    ReleaseAllFreeHeap();
    GTEST_SKIP() << "no tcmalloc in this build";
  }
  EXPECT_GE(held, size_t{64} << 20);
  ReleaseFreeHeap(size_t{16} << 20);
  const size_t after_slice = UnreleasedFreeHeap();
  EXPECT_LE(after_slice, held - (size_t{16} << 20));
  EXPECT_GE(after_slice, size_t{32} << 20) << "a slice must not release everything";
  ReleaseAllFreeHeap();
  EXPECT_LT(UnreleasedFreeHeap(), size_t{4} << 20);
}

}  // namespace
}  // namespace rtplatch
