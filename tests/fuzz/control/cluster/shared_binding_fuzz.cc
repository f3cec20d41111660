// Another node's binding as read from Redis (control/cluster/binding_codec.h):
// any bytes decode or fail with an error; whatever decodes encodes to a
// value that decodes to the same binding (what a node writes, every node
// reads back whole).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "control/cluster/binding_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<rtplatch::Binding> b = rtplatch::DecodeBinding(text);
  if (!b.ok()) return 0;
  absl::StatusOr<rtplatch::Binding> again = rtplatch::DecodeBinding(rtplatch::EncodeBinding(*b, b->node));
  // Strings with invalid UTF-8 are written with U+FFFD: equal only when
  // they were valid to begin with, so compare what survives the trip twice.
  if (!again.ok()) std::abort();
  absl::StatusOr<rtplatch::Binding> third =
      rtplatch::DecodeBinding(rtplatch::EncodeBinding(*again, again->node));
  if (!third.ok() || !(*third == *again)) std::abort();
  return 0;
}
