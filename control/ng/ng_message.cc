#include "control/ng/ng_message.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace rtplatch {
namespace {

using Json = nlohmann::ordered_json;

// JSON requests get the same bounds as bencoded ones.
absl::StatusOr<BencodeValue> FromJson(const Json& j, int depth, size_t* items) {
  if (depth > kMaxBencodeDepth) return absl::InvalidArgumentError("JSON nested deeper than 16 levels");
  if (++*items > kMaxBencodeItems) return absl::InvalidArgumentError("JSON with more than 16384 values");
  switch (j.type()) {
    case Json::value_t::string:
      return BencodeValue::String(j.get<std::string>());
    case Json::value_t::number_integer:
      return BencodeValue::Integer(j.get<int64_t>());
    case Json::value_t::number_unsigned: {
      const uint64_t v = j.get<uint64_t>();
      if (v > static_cast<uint64_t>(INT64_MAX)) return absl::InvalidArgumentError("JSON integer out of range");
      return BencodeValue::Integer(static_cast<int64_t>(v));
    }
    case Json::value_t::boolean:
      return BencodeValue::Integer(j.get<bool>() ? 1 : 0);
    case Json::value_t::array: {
      BencodeValue list = BencodeValue::List();
      for (const Json& item : j) {
        absl::StatusOr<BencodeValue> v = FromJson(item, depth + 1, items);
        if (!v.ok()) return v.status();
        list.list().push_back(*std::move(v));
      }
      return list;
    }
    case Json::value_t::object: {
      if (j.size() > kMaxBencodeDictionaryKeys) {
        return absl::InvalidArgumentError("JSON object with more than 256 keys");
      }
      BencodeValue dict = BencodeValue::Dictionary();
      for (const auto& [key, value] : j.items()) {
        absl::StatusOr<BencodeValue> v = FromJson(value, depth + 1, items);
        if (!v.ok()) return v.status();
        dict.Set(key, *std::move(v));
      }
      return dict;
    }
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("JSON ", j.type_name(), " has no bencode equivalent"));
}

Json ToJson(const BencodeValue& v) {
  switch (v.type()) {
    case BencodeValue::Type::kInteger: return v.integer();
    case BencodeValue::Type::kString: return v.string();
    case BencodeValue::Type::kList: {
      Json a = Json::array();
      for (const BencodeValue& item : v.list()) a.push_back(ToJson(item));
      return a;
    }
    case BencodeValue::Type::kDictionary: {
      Json o = Json::object();
      for (const BencodeEntry& e : v.entries()) o[e.key] = ToJson(e.value);
      return o;
    }
  }
  return nullptr;
}

bool CookieByte(char c) { return c > ' ' && c < 0x7f; }

}  // namespace

absl::StatusOr<NgRequest> ParseNgRequest(absl::string_view datagram, std::string* cookie_out) {
  if (datagram.size() > kMaxNgDatagram) {
    return absl::InvalidArgumentError(
        absl::StrCat("ng datagram of ", datagram.size(), " bytes (at most ", kMaxNgDatagram, ")"));
  }
  const size_t space = datagram.find(' ');
  if (space == absl::string_view::npos) {
    return absl::InvalidArgumentError("ng datagram without a space after its cookie");
  }
  const absl::string_view cookie = datagram.substr(0, space);
  if (cookie.empty() || cookie.size() > kMaxNgCookie) {
    return absl::InvalidArgumentError(
        absl::StrCat("ng cookie of ", cookie.size(), " bytes (1..", kMaxNgCookie, ")"));
  }
  for (char c : cookie) {
    if (!CookieByte(c)) return absl::InvalidArgumentError("ng cookie with a non-printable byte");
  }
  if (cookie_out != nullptr) *cookie_out = std::string(cookie);

  NgRequest request;
  request.cookie = std::string(cookie);
  const absl::string_view body = datagram.substr(space + 1);
  if (!body.empty() && body.front() == '{') {
    request.encoding = NgEncoding::kJson;
    Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return absl::InvalidArgumentError("ng request: malformed JSON");
    size_t items = 0;
    absl::StatusOr<BencodeValue> v = FromJson(j, 1, &items);
    if (!v.ok()) return v.status();
    request.dictionary = *std::move(v);
  } else {
    absl::StatusOr<BencodeValue> v = DecodeBencode(body);
    if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("ng request: ", v.status().message()));
    request.dictionary = *std::move(v);
  }
  if (!request.dictionary.is_dictionary()) {
    return absl::InvalidArgumentError("ng request is not a dictionary");
  }
  const BencodeValue* command = request.dictionary.Find("command");
  if (command == nullptr || !command->is_string() || command->string().empty()) {
    return absl::InvalidArgumentError("ng request without a command");
  }
  request.command = absl::AsciiStrToLower(command->string());
  return request;
}

std::string FormatNgReply(absl::string_view cookie, const BencodeValue& reply,
                          NgEncoding encoding) {
  std::string out = absl::StrCat(cookie, " ");
  if (encoding == NgEncoding::kJson) {
    // Strings are bytes in ng; invalid UTF-8 becomes U+FFFD rather than
    // an exception.
    absl::StrAppend(&out, ToJson(reply).dump(-1, ' ', false, Json::error_handler_t::replace));
  } else {
    AppendBencode(reply, &out);
  }
  return out;
}

BencodeValue NgErrorReply(absl::string_view reason) {
  BencodeValue r = BencodeValue::Dictionary();
  r.Set("result", BencodeValue::String("error"));
  r.Set("error-reason", BencodeValue::String(std::string(reason)));
  return r;
}

}  // namespace rtplatch
