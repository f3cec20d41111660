// A binding as the cluster's nodes share it in Redis (control/cluster/
// shared_bindings.h): one JSON object per binding, naming the node that
// owns it. What another node wrote is input like any other: a value that
// does not decode is an error naming the field, never a crash.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

// `binding` as owned by `node` (binding.node is ignored: a node writes
// only its own).
std::string EncodeBinding(const Binding& binding, absl::string_view node);
absl::StatusOr<Binding> DecodeBinding(absl::string_view text);

}  // namespace rtplatch
