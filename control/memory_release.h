// Gives the heap's free pages back to the kernel. tcmalloc keeps what a
// storm's transactions, a restart's load or the users file's parse freed,
// for reuse; without this, rtplatch-control's resident memory would stay
// at its highest point for good (issue 17: "memory taken in a storm given
// back"). With glibc's malloc (sanitizer builds) only the whole release
// exists, through malloc_trim.
#pragma once

#include <cstddef>

namespace rtplatch {

// Every free page, at once: for startup, before anything is served.
void ReleaseAllFreeHeap();
// About `bytes` of free pages (tcmalloc only): what it costs is what it
// releases, so the event loop can call it every tick without a stall.
void ReleaseFreeHeap(size_t bytes);
// Free bytes the allocator holds and has not released (0 when unknown).
size_t UnreleasedFreeHeap();

}  // namespace rtplatch
