#include "control/ng/bencode.h"

#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {

BencodeValue BencodeValue::Integer(int64_t v) {
  BencodeValue b;
  b.type_ = Type::kInteger;
  b.integer_ = v;
  return b;
}

BencodeValue BencodeValue::String(std::string v) {
  BencodeValue b;
  b.type_ = Type::kString;
  b.string_ = std::move(v);
  return b;
}

BencodeValue BencodeValue::List() { return List({}); }

BencodeValue BencodeValue::List(std::vector<BencodeValue> items) {
  BencodeValue b;
  b.type_ = Type::kList;
  b.list_ = std::move(items);
  return b;
}

BencodeValue BencodeValue::Dictionary() { return BencodeValue(); }

const BencodeValue* BencodeValue::Find(absl::string_view key) const {
  if (type_ != Type::kDictionary) return nullptr;
  for (const BencodeEntry& e : entries_) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

BencodeValue& BencodeValue::Set(absl::string_view key, BencodeValue value) {
  type_ = Type::kDictionary;
  for (BencodeEntry& e : entries_) {
    if (e.key == key) {
      e.value = std::move(value);
      return e.value;
    }
  }
  entries_.push_back(BencodeEntry{std::string(key), std::move(value)});
  return entries_.back().value;
}

bool operator==(const BencodeValue& a, const BencodeValue& b) {
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case BencodeValue::Type::kInteger: return a.integer_ == b.integer_;
    case BencodeValue::Type::kString: return a.string_ == b.string_;
    case BencodeValue::Type::kList: return a.list_ == b.list_;
    case BencodeValue::Type::kDictionary: return a.entries_ == b.entries_;
  }
  return false;
}

namespace {

// A recursive-descent reader over the whole input; depth and the item
// count bound both the recursion and the memory a message can ask for.
class Decoder {
 public:
  explicit Decoder(absl::string_view text) : text_(text) {}

  absl::StatusOr<BencodeValue> Value(int depth) {
    if (depth > kMaxBencodeDepth) return Error("nested deeper than 16 levels");
    if (++items_ > kMaxBencodeItems) return Error("more than 16384 values");
    if (pos_ >= text_.size()) return Error("input ends where a value should start");
    const char c = text_[pos_];
    if (c == 'i') return IntegerValue();
    if (c >= '0' && c <= '9') {
      absl::StatusOr<std::string> s = ByteString();
      if (!s.ok()) return s.status();
      return BencodeValue::String(*std::move(s));
    }
    if (c == 'l') return ListValue(depth);
    if (c == 'd') return DictionaryValue(depth);
    return Error(absl::StrCat("unexpected byte 0x", absl::Hex(static_cast<uint8_t>(c))));
  }

  bool AtEnd() const { return pos_ == text_.size(); }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("bencode at byte ", pos_, ": ", what));
  }

 private:
  // Digits [pos_, end) as a non-negative number without leading zeros.
  absl::StatusOr<uint64_t> Digits(size_t end, uint64_t max) {
    if (end == pos_) return Error("number without digits");
    if (text_[pos_] == '0' && end - pos_ > 1) return Error("number with a leading zero");
    uint64_t v = 0;
    for (size_t i = pos_; i < end; ++i) {
      const char d = text_[i];
      if (d < '0' || d > '9') return Error("non-digit in a number");
      if (v > (max - static_cast<uint64_t>(d - '0')) / 10) return Error("number out of range");
      v = v * 10 + static_cast<uint64_t>(d - '0');
    }
    pos_ = end;
    return v;
  }

  absl::StatusOr<BencodeValue> IntegerValue() {
    ++pos_;  // 'i'
    const size_t end = text_.find('e', pos_);
    if (end == absl::string_view::npos) return Error("integer without its 'e'");
    const bool negative = pos_ < end && text_[pos_] == '-';
    if (negative) ++pos_;
    const uint64_t max = negative ? uint64_t{1} << 63 : std::numeric_limits<int64_t>::max();
    absl::StatusOr<uint64_t> v = Digits(end, max);
    if (!v.ok()) return v.status();
    if (negative && *v == 0) return Error("-0");
    ++pos_;  // 'e'
    const int64_t value = negative ? static_cast<int64_t>(0 - *v) : static_cast<int64_t>(*v);
    return BencodeValue::Integer(value);
  }

  absl::StatusOr<std::string> ByteString() {
    const size_t colon = text_.find(':', pos_);
    if (colon == absl::string_view::npos) return Error("string length without ':'");
    absl::StatusOr<uint64_t> len = Digits(colon, text_.size());
    if (!len.ok()) return len.status();
    ++pos_;  // ':'
    if (*len > text_.size() - pos_) return Error("string longer than the input");
    std::string s(text_.substr(pos_, *len));
    pos_ += *len;
    return s;
  }

  absl::StatusOr<BencodeValue> ListValue(int depth) {
    ++pos_;  // 'l'
    BencodeValue list = BencodeValue::List();
    while (pos_ < text_.size() && text_[pos_] != 'e') {
      absl::StatusOr<BencodeValue> item = Value(depth + 1);
      if (!item.ok()) return item.status();
      list.list().push_back(*std::move(item));
    }
    if (pos_ >= text_.size()) return Error("list without its 'e'");
    ++pos_;
    return list;
  }

  absl::StatusOr<BencodeValue> DictionaryValue(int depth) {
    ++pos_;  // 'd'
    BencodeValue dict = BencodeValue::Dictionary();
    while (pos_ < text_.size() && text_[pos_] != 'e') {
      if (text_[pos_] < '0' || text_[pos_] > '9') return Error("dictionary key is not a string");
      if (++items_ > kMaxBencodeItems) return Error("more than 16384 values");
      const size_t key_at = pos_;
      absl::StatusOr<std::string> key = ByteString();
      if (!key.ok()) return key.status();
      if (dict.entries().size() >= kMaxBencodeDictionaryKeys) {
        pos_ = key_at;
        return Error("more than 256 keys in a dictionary");
      }
      if (dict.Find(*key) != nullptr) {
        pos_ = key_at;
        return Error(absl::StrCat("duplicate key '", *key, "'"));
      }
      absl::StatusOr<BencodeValue> value = Value(depth + 1);
      if (!value.ok()) return value.status();
      dict.Set(*key, *std::move(value));
    }
    if (pos_ >= text_.size()) return Error("dictionary without its 'e'");
    ++pos_;
    return dict;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  size_t items_ = 0;
};

}  // namespace

absl::StatusOr<BencodeValue> DecodeBencode(absl::string_view text) {
  Decoder d(text);
  absl::StatusOr<BencodeValue> v = d.Value(1);
  if (!v.ok()) return v.status();
  if (!d.AtEnd()) return d.Error("bytes after the value");
  return v;
}

void AppendBencode(const BencodeValue& value, std::string* out) {
  switch (value.type()) {
    case BencodeValue::Type::kInteger:
      absl::StrAppend(out, "i", value.integer(), "e");
      return;
    case BencodeValue::Type::kString:
      absl::StrAppend(out, value.string().size(), ":", value.string());
      return;
    case BencodeValue::Type::kList:
      out->push_back('l');
      for (const BencodeValue& item : value.list()) AppendBencode(item, out);
      out->push_back('e');
      return;
    case BencodeValue::Type::kDictionary:
      out->push_back('d');
      for (const BencodeEntry& e : value.entries()) {
        absl::StrAppend(out, e.key.size(), ":", e.key);
        AppendBencode(e.value, out);
      }
      out->push_back('e');
      return;
  }
}

std::string EncodeBencode(const BencodeValue& value) {
  std::string out;
  AppendBencode(value, &out);
  return out;
}

}  // namespace rtplatch
