// What a fake OperatorView answers from a plain vector of bindings: one
// AOR's, and a page. Shared by the operator tests and the fuzz target.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "control/operator/operator_commands.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

inline std::vector<Binding> BindingsOfAor(std::vector<Binding> all, absl::string_view aor) {
  std::erase_if(all, [aor](const Binding& b) { return b.aor != aor; });
  return all;
}

// The operator's order: by AOR, then as the registrar ranks an AOR's
// bindings (highest q, latest expiry).
inline std::vector<Binding> OperatorOrder(std::vector<Binding> all) {
  std::sort(all.begin(), all.end(), [](const Binding& a, const Binding& b) {
    return std::forward_as_tuple(a.aor, b.q_milli, b.expires_at, a.contact_uri) <
           std::forward_as_tuple(b.aor, a.q_milli, a.expires_at, b.contact_uri);
  });
  return all;
}

// As Registrar::ScanLive over `sorted` (the operator's order): AOR by
// AOR after `after`, until `budget` bindings were looked at.
inline std::string ScanSorted(const std::vector<Binding>& sorted, absl::string_view after,
                              size_t budget, absl::FunctionRef<void(const Binding&)> fn) {
  size_t looked = 0;
  for (size_t i = 0; i < sorted.size();) {
    const std::string& aor = sorted[i].aor;
    size_t end = i;
    while (end < sorted.size() && sorted[end].aor == aor) ++end;
    if (after.empty() || aor > after) {
      if (looked > 0 && looked >= budget) return sorted[i - 1].aor;
      for (size_t j = i; j < end; ++j) fn(sorted[j]);
      looked += end - i;
    }
    i = end;
  }
  return "";
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
  // Every live binding, in any order.
  virtual std::vector<Binding> Registrations(int64_t now) const = 0;
  std::string ScanRegistrations(absl::string_view after, size_t budget, int64_t now,
                                absl::FunctionRef<void(const Binding&)> fn) const override {
    return ScanSorted(OperatorOrder(Registrations(now)), after, budget, fn);
  }
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
