// Bencode (control/ng/bencode.h), the ng socket's encoding: any bytes
// decode to one value or an error; a value that decoded encodes to bytes
// that decode to the same value (the ng server echoes what it read in its
// replies).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/ng/bencode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<rtplatch::BencodeValue> value =
      rtplatch::DecodeBencode(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!value.ok()) return 0;
  std::string encoded = rtplatch::EncodeBencode(*value);
  absl::StatusOr<rtplatch::BencodeValue> again = rtplatch::DecodeBencode(encoded);
  if (!again.ok() || !(*again == *value)) std::abort();
  return 0;
}
