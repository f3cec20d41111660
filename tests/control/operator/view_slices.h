// What a fake OperatorView answers from a plain vector of bindings: one
// AOR's, and a page. Shared by the operator tests and the fuzz target.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "absl/strings/string_view.h"
#include "control/operator/operator_commands.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

inline std::vector<Binding> BindingsOfAor(std::vector<Binding> all, absl::string_view aor) {
  std::erase_if(all, [aor](const Binding& b) { return b.aor != aor; });
  return all;
}

inline std::vector<Binding> SliceOf(std::vector<Binding> all, size_t offset, size_t limit) {
  all.erase(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min(offset, all.size())));
  if (all.size() > limit) all.resize(limit);
  return all;
}

// A fake view whose bindings are what Registrations returns: one AOR's
// and a page are cut from it.
class SlicedRegistrationsView : public OperatorView {
 public:
  std::vector<Binding> RegistrationsOf(absl::string_view aor, int64_t now) const override {
    return BindingsOfAor(Registrations(now), aor);
  }
  std::vector<Binding> RegistrationsPage(size_t offset, size_t limit,
                                         int64_t now) const override {
    return SliceOf(Registrations(now), offset, limit);
  }
  size_t RegistrationCount() const override { return Registrations(0).size(); }
};

}  // namespace rtplatch
