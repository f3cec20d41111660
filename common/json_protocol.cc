#include "common/json_protocol.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

#ifndef RTPLATCH_VERSION
#error "RTPLATCH_VERSION comes from meson's project version (common/meson.build)"
#endif

namespace rtplatch {

using json = nlohmann::json;

absl::string_view SoftwareVersion() { return RTPLATCH_VERSION; }

std::string DumpJson(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

absl::string_view WireErrorCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument: return "invalid_argument";
    case absl::StatusCode::kNotFound: return "not_found";
    case absl::StatusCode::kResourceExhausted: return "resource_exhausted";
    case absl::StatusCode::kAlreadyExists: return "already_in_use";
    case absl::StatusCode::kUnimplemented: return "unknown_command";
    case absl::StatusCode::kFailedPrecondition: return "bad_version";
    default: return "internal";
  }
}

json ErrorReply(const json& id, absl::string_view code, absl::string_view message) {
  return json{{"v", kJsonProtocolVersion},
              {"id", id},
              {"ok", false},
              {"error", {{"code", std::string(code)}, {"message", std::string(message)}}}};
}

json OkReply(const json& id, json result) {
  return json{{"v", kJsonProtocolVersion}, {"id", id}, {"ok", true}, {"result", std::move(result)}};
}

json ReplyFor(const json& id, absl::StatusOr<json> result) {
  if (result.ok()) return OkReply(id, *std::move(result));
  return ErrorReply(id, WireErrorCode(result.status().code()), result.status().message());
}

std::variant<JsonRequest, json> ParseRequest(absl::string_view line, absl::string_view speaker) {
  json body = json::parse(std::string_view(line.data(), line.size()), nullptr,
                          /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return ErrorReply(nullptr, "parse_error", "request is not a JSON object");
  }
  auto id_it = body.find("id");
  json id = id_it == body.end() ? json(nullptr) : *id_it;
  if (!id.is_null() && !id.is_string() && !id.is_number_integer()) {
    return ErrorReply(nullptr, "invalid_argument", "id: must be a string or integer");
  }
  auto v = body.find("v");
  if (v == body.end() || !v->is_number_integer() || v->get<int64_t>() != kJsonProtocolVersion) {
    return ErrorReply(id, "bad_version",
                      absl::StrCat("v: ", speaker, " speaks version ", kJsonProtocolVersion));
  }
  auto cmd = body.find("cmd");
  if (cmd == body.end() || !cmd->is_string()) {
    return ErrorReply(id, "invalid_argument", "cmd: required string");
  }
  std::string name = cmd->get<std::string>();
  return JsonRequest{std::move(body), std::move(id), std::move(name)};
}

absl::Status FieldError(absl::string_view where, absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(where, field, ": ", why));
}

absl::StatusOr<std::vector<std::string>> ReadStringList(const nlohmann::json& value,
                                                        absl::string_view where,
                                                        absl::string_view field) {
  if (!value.is_array()) return FieldError(where, field, "must be a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string() || value[i].get<std::string>().empty()) {
      return FieldError(where, absl::StrCat(field, "[", i, "]"), "must be a non-empty string");
    }
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

namespace {

// A JSON integer as unsigned; nullopt for a negative one. (Numbers parsed
// from text are unsigned when positive; ones built in C++ may be signed.)
std::optional<uint64_t> AsUnsigned(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.get<int64_t>() < 0) return std::nullopt;
  return static_cast<uint64_t>(v.get<int64_t>());
}

// The field's value, or nullptr when absent or null (not given).
const json* Given(const json& r, absl::string_view field) {
  if (!r.is_object()) return nullptr;
  auto it = r.find(std::string(field));
  return it == r.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> OptionalString(const json& r, absl::string_view field,
                                                          absl::string_view where) {
  const json* v = Given(r, field);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return FieldError(where, field, "must be a string");
  return std::optional<std::string>(v->get<std::string>());
}

absl::StatusOr<std::string> RequiredString(const json& r, absl::string_view field,
                                           absl::string_view where) {
  auto text = OptionalString(r, field, where);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return FieldError(where, field, "required");
  if ((*text)->empty()) return FieldError(where, field, "must not be empty");
  return **std::move(text);
}

absl::StatusOr<IpAddress> RequiredAddress(const json& r, absl::string_view field,
                                          absl::string_view where) {
  absl::StatusOr<std::string> text = RequiredString(r, field, where);
  if (!text.ok()) return text.status();
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(*text);
  if (!ip.ok()) return FieldError(where, field, absl::StrCat("'", *text, "' is not an address"));
  return *ip;
}

absl::StatusOr<std::optional<bool>> OptionalBool(const json& r, absl::string_view field,
                                                 absl::string_view where) {
  const json* v = Given(r, field);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return FieldError(where, field, "must be true or false");
  return std::optional<bool>(v->get<bool>());
}

absl::StatusOr<std::optional<uint64_t>> OptionalUnsigned(const json& r, absl::string_view field,
                                                         uint64_t min, uint64_t max,
                                                         absl::string_view where) {
  const json* v = Given(r, field);
  if (v == nullptr) return std::optional<uint64_t>();
  if (!v->is_number_integer()) return FieldError(where, field, "must be an integer");
  const std::optional<uint64_t> n = AsUnsigned(*v);
  if (!n || *n < min || *n > max) {
    return FieldError(where, field, absl::StrCat(v->dump(), " is outside ", min, "..", max));
  }
  return n;
}

absl::StatusOr<json> ParseJsonConfig(absl::string_view text) {
  json j = json::parse(std::string_view(text.data(), text.size()), nullptr,
                       /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (j.is_discarded()) return absl::InvalidArgumentError("config: not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("config: top level must be an object");
  return j;
}

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config: cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("config: cannot read ", path));
  return ss.str();
}

absl::Status CheckKnownFields(const json& j, std::initializer_list<absl::string_view> known,
                              absl::string_view where) {
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return FieldError(where, key, "unknown field (typo?)");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadBoolInto(const json& j, absl::string_view field, absl::string_view where,
                          bool* out) {
  absl::StatusOr<std::optional<bool>> v = OptionalBool(j, field, where);
  if (!v.ok()) return v.status();
  if (v->has_value()) *out = **v;
  return absl::OkStatus();
}

absl::Status ReadStringInto(const json& j, absl::string_view field, absl::string_view where,
                            std::string* out, absl::string_view non_empty) {
  absl::StatusOr<std::optional<std::string>> v = OptionalString(j, field, where);
  const bool empty = v.ok() && v->has_value() && (*v)->empty();
  if (!non_empty.empty() && (!v.ok() || empty)) {
    return FieldError(where, field, absl::StrCat("must be ", non_empty));
  }
  if (!v.ok()) return v.status();
  if (v->has_value()) *out = **std::move(v);
  return absl::OkStatus();
}

absl::Status ReadEndpointInto(const json& j, absl::string_view field, absl::string_view where,
                              absl::string_view example, std::optional<Endpoint>* out) {
  auto it = j.find(field);
  if (it == j.end()) return absl::OkStatus();
  absl::StatusOr<Endpoint> ep = it->is_string() ? Endpoint::Parse(it->get<std::string>())
                                                : absl::InvalidArgumentError("not a string");
  if (!ep.ok() || ep->port == 0) {
    return FieldError(where, field, absl::StrCat("must be an ip:port (e.g. \"", example, "\")"));
  }
  *out = *ep;
  return absl::OkStatus();
}

absl::Status ReadLogLevelInto(const json& j, absl::string_view where, LogLevel* out) {
  auto it = j.find("log_level");
  if (it == j.end()) return absl::OkStatus();
  absl::StatusOr<LogLevel> level = it->is_string() ? ParseLogLevel(it->get<std::string>())
                                                   : absl::InvalidArgumentError("not a string");
  if (!level.ok()) {
    return FieldError(where, "log_level",
                      "must be one of \"error\", \"warning\", \"notice\", \"info\", \"debug\"");
  }
  *out = *level;
  return absl::OkStatus();
}

absl::StatusOr<json> LogLevelCommand(const json& body, Logger& logger, void (*also)(LogLevel)) {
  if (auto it = body.find("level"); it != body.end()) {
    absl::StatusOr<LogLevel> level = it->is_string()
                                         ? ParseLogLevel(it->get<std::string>())
                                         : absl::InvalidArgumentError("level: not a string");
    if (!level.ok()) return level.status();
    const LogLevel before = logger.level();
    // Told at the level that shows it: before a change that hides
    // notices, after one that shows them.
    static const char place = 0;
    auto tell = [&] {
      if (!logger.Enabled(LogLevel::kNotice)) return;
      LogTo(logger, &place, LogLevel::kNotice, "", "log level %s (was %s), set by the operator",
            std::string(LogLevelName(*level)).c_str(), std::string(LogLevelName(before)).c_str());
    };
    const bool told_before = logger.Enabled(LogLevel::kNotice);
    if (told_before) tell();
    logger.set_level(*level);
    if (also != nullptr) also(*level);
    if (!told_before) tell();
  }
  return json{{"level", std::string(LogLevelName(logger.level()))}};
}

absl::Status ReadChoiceInto(const json& j, absl::string_view field,
                            std::initializer_list<absl::string_view> choices,
                            absl::string_view where, std::string* out) {
  absl::StatusOr<std::optional<std::string>> v = OptionalString(j, field, where);
  if (v.ok() && !v->has_value()) return absl::OkStatus();
  if (v.ok() && std::find(choices.begin(), choices.end(), **v) != choices.end()) {
    *out = **std::move(v);
    return absl::OkStatus();
  }
  std::string list;
  for (absl::string_view c : choices) {
    absl::StrAppend(&list, list.empty() ? "" : " or ", "\"", c, "\"");
  }
  return FieldError(where, field, absl::StrCat("must be ", list));
}

absl::StatusOr<Page> ParsePage(const json& r) {
  Page page;
  for (auto [field, out] : {std::pair{"offset", &page.offset}, std::pair{"limit", &page.limit}}) {
    const json* v = Given(r, field);
    if (v == nullptr) continue;
    const std::optional<uint64_t> n = v->is_number_integer() ? AsUnsigned(*v) : std::nullopt;
    if (!n || *n > kMaxPageValue) {
      return FieldError("", field, absl::StrCat("must be an integer 0..", kMaxPageValue));
    }
    *out = static_cast<size_t>(*n);
  }
  return page;
}

std::pair<size_t, size_t> PageSlice(const Page& page, size_t n) {
  const size_t begin = std::min(page.offset, n);
  return {begin, begin + std::min(page.limit, n - begin)};
}

}  // namespace rtplatch
