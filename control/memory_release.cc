#include "control/memory_release.h"

#include <malloc.h>

// tcmalloc's C interface, weak: null unless the binary links tcmalloc
// (rtplatch-control does; tests and sanitizer builds do not).
extern "C" {
void MallocExtension_ReleaseToSystem(size_t num_bytes) __attribute__((weak));
void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));
int MallocExtension_GetNumericProperty(const char* property, size_t* value)
    __attribute__((weak));
}

namespace rtplatch {

void ReleaseAllFreeHeap() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
  } else {
    malloc_trim(0);
  }
}

void ReleaseFreeHeap(size_t bytes) {
  if (MallocExtension_ReleaseToSystem != nullptr) MallocExtension_ReleaseToSystem(bytes);
}

size_t UnreleasedFreeHeap() {
  size_t free_bytes = 0;
  if (MallocExtension_GetNumericProperty == nullptr ||
      !MallocExtension_GetNumericProperty("tcmalloc.pageheap_free_bytes", &free_bytes)) {
    return 0;
  }
  return free_bytes;
}

}  // namespace rtplatch
