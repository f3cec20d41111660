// rtplatch-control's JSON config (control/control_config.h): any file
// contents give a config or an error naming the bad input, never a throw
// (nlohmann::json throws on type mismatches the reader must check first).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "control/control_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)rtplatch::ParseControlConfig(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
