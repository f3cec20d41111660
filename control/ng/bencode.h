// Bencode, the encoding of rtpengine's ng control protocol (issue 14):
// integers `i42e`, byte strings `4:spam`, lists `l...e`, dictionaries
// `d<key><value>...e` with byte-string keys.
//
// The decoder is strict and bounded, because the ng socket faces whatever
// reaches it: one value spanning the whole input, integers without leading
// zeros or "-0" and within int64, string lengths without leading zeros and
// within the input, dictionary keys unique (in any order: Kamailio and
// OpenSIPS send them in insertion order, not sorted), at most
// kMaxBencodeDepth levels, kMaxBencodeItems values in all and
// kMaxBencodeDictionaryKeys keys per dictionary. Anything else
// is an InvalidArgument naming the byte offset, never a crash.
//
// The encoder writes dictionaries in their stored order (rtpengine's
// clients do not need sorted keys, and the order then follows the code
// that built the reply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rtplatch {

inline constexpr int kMaxBencodeDepth = 16;
inline constexpr size_t kMaxBencodeItems = 16384;
// Keys are looked up linearly (ng dictionaries have a few dozen): a cap
// keeps a hostile dictionary from costing quadratic time.
inline constexpr size_t kMaxBencodeDictionaryKeys = 256;

struct BencodeEntry;

class BencodeValue {
 public:
  enum class Type : uint8_t { kInteger, kString, kList, kDictionary };

  BencodeValue();
  static BencodeValue Integer(int64_t v);
  static BencodeValue String(std::string v);
  // Two overloads, not a default argument: `= {}` here would need
  // BencodeEntry complete already (clang 14 with libstdc++ 12), as the
  // constructor's definition does (below BencodeEntry).
  static BencodeValue List();
  static BencodeValue List(std::vector<BencodeValue> items);
  static BencodeValue Dictionary();

  Type type() const { return type_; }
  bool is_integer() const { return type_ == Type::kInteger; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dictionary() const { return type_ == Type::kDictionary; }

  int64_t integer() const { return integer_; }
  const std::string& string() const { return string_; }
  const std::vector<BencodeValue>& list() const { return list_; }
  std::vector<BencodeValue>& list() { return list_; }
  const std::vector<BencodeEntry>& entries() const { return entries_; }

  // Dictionary access; nullptr when absent (or not a dictionary).
  const BencodeValue* Find(absl::string_view key) const;
  // Sets `key` (replacing an existing value, else appending).
  BencodeValue& Set(absl::string_view key, BencodeValue value);

  friend bool operator==(const BencodeValue& a, const BencodeValue& b);

 private:
  Type type_;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<BencodeValue> list_;
  std::vector<BencodeEntry> entries_;
};

struct BencodeEntry {
  std::string key;
  BencodeValue value;
  friend bool operator==(const BencodeEntry&, const BencodeEntry&) = default;
};

inline BencodeValue::BencodeValue() : type_(Type::kDictionary) {}

// The one value `text` holds, all of it.
absl::StatusOr<BencodeValue> DecodeBencode(absl::string_view text);
std::string EncodeBencode(const BencodeValue& value);
void AppendBencode(const BencodeValue& value, std::string* out);

// Shorthands for building replies: bencode::Str("ok"), bencode::Int(3).
namespace bencode {
inline BencodeValue Str(absl::string_view s) { return BencodeValue::String(std::string(s)); }
inline BencodeValue Int(int64_t v) { return BencodeValue::Integer(v); }
}  // namespace bencode

}  // namespace rtplatch
