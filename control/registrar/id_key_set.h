// A hash set of record numbers whose key is a string the record holds:
// 4 bytes (and a control byte) a record instead of a second copy of the
// key, and lookups by the key as a string_view. The owner reads a record's
// key through `kKeyOf`; the set is constructed with the owner:
//
//   IdKeySet<Table, &Table::KeyOf> index_{0, {this}, {this}};
//
// The owner must keep a record's key unchanged while its number is in the
// set, and must not move (the functors hold its address).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

template <typename Owner, absl::string_view (Owner::*kKeyOf)(uint32_t) const>
struct IdKeyHash {
  using is_transparent = void;
  const Owner* owner;
  size_t operator()(uint32_t id) const { return (*this)((owner->*kKeyOf)(id)); }
  size_t operator()(absl::string_view key) const { return absl::Hash<absl::string_view>{}(key); }
};

template <typename Owner, absl::string_view (Owner::*kKeyOf)(uint32_t) const>
struct IdKeyEq {
  using is_transparent = void;
  const Owner* owner;
  bool operator()(uint32_t a, uint32_t b) const { return Key(a) == Key(b); }
  bool operator()(uint32_t a, absl::string_view b) const { return Key(a) == b; }
  bool operator()(absl::string_view a, uint32_t b) const { return a == Key(b); }
  absl::string_view Key(uint32_t id) const { return (owner->*kKeyOf)(id); }
};

template <typename Owner, absl::string_view (Owner::*kKeyOf)(uint32_t) const>
using IdKeySet =
    absl::flat_hash_set<uint32_t, IdKeyHash<Owner, kKeyOf>, IdKeyEq<Owner, kKeyOf>>;

}  // namespace rtplatch
