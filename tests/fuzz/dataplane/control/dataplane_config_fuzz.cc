// rtplatch-dataplane's JSON config (dataplane/control/dataplane_config.h):
// any file contents give a config or an error naming the bad input, never
// a throw.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "dataplane/control/dataplane_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)rtplatch::ParseDataplaneConfig(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
