// Reference-counted interning for the strings many bindings share (the
// User-Agent, the NAT reasons, the keepalive reason): a binding holds a
// 4-byte id instead of its own copy, which at a million bindings is the
// difference between tens of bytes and hundreds (docs/performance.md, "The
// registrar at scale"). Id 0 is the empty string; it is never counted.
//
// Not thread-safe: one owner (the binding table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

class StringPool {
 public:
  using Id = uint32_t;
  static constexpr Id kEmpty = 0;

  StringPool();

  // One more reference to `text`, added if new.
  Id Intern(absl::string_view text);
  // One reference fewer; the string goes when none is left.
  void Release(Id id);
  absl::string_view Get(Id id) const;
  // Distinct non-empty strings held.
  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    std::string text;  // on the heap through the unique_ptr: views stay valid
    uint32_t refs = 0;
  };
  std::vector<std::unique_ptr<Entry>> entries_;  // [kEmpty] stays null
  std::vector<Id> free_;
  absl::flat_hash_map<absl::string_view, Id> index_;
};

}  // namespace rtplatch
