// A binding as the cluster's nodes share it in Redis (control/cluster/
// shared_bindings.h): one JSON object per binding, naming the node that
// owns it. What another node wrote is input like any other: a value that
// does not decode is an error naming the field, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

// `binding` as owned by `node` (binding.node is ignored: a node writes
// only its own).
std::string EncodeBinding(const Binding& binding, absl::string_view node);
absl::StatusOr<Binding> DecodeBinding(absl::string_view text);

// A plain refresh (only the expiry, CSeq and Call-ID moved) as shared:
// "<expires_at> <cseq> <call_id>". nullopt when the Call-ID is empty or
// holds a space or line break (the binding then goes whole).
struct BindingRefresh {
  int64_t expires_at = 0;
  uint32_t cseq = 0;
  std::string call_id;
};
std::optional<std::string> EncodeRefresh(const Binding& binding);
absl::StatusOr<BindingRefresh> DecodeRefresh(absl::string_view text);

}  // namespace rtplatch
