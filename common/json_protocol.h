// The JSON-lines request/reply protocol both control sockets speak
// (docs/control-protocol.md): the envelope, the one table of error codes,
// replies, the version, paging, and the field readers that command
// handlers and both config files (dataplane, control plane) use. One copy,
// so the dataplane's and the control plane's sockets and configs answer a
// bad field, a null or a page the same way.
//
// Field readers: a field that is absent or null is "not given"; every
// error is an InvalidArgumentError "<where><field>: <why>", where `where`
// is "config: " for config files, "a." inside a nested object, or "".
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "common/logger.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

// The envelope's "v" on both sockets.
inline constexpr int kJsonProtocolVersion = 1;

// rtplatch's version, from meson's project(): every `version` reply and
// `rtplatchctl version` say the same.
absl::string_view SoftwareVersion();

// Serialised on one line; invalid UTF-8 in strings is replaced, never thrown.
std::string DumpJson(const nlohmann::json& j);

// The wire's error code for a handler's status ("invalid_argument",
// "not_found", "resource_exhausted", "already_in_use", "unknown_command",
// "bad_version", else "internal").
absl::string_view WireErrorCode(absl::StatusCode code);
nlohmann::json ErrorReply(const nlohmann::json& id, absl::string_view code,
                          absl::string_view message);
nlohmann::json OkReply(const nlohmann::json& id, nlohmann::json result);
// A handler's outcome as a reply.
nlohmann::json ReplyFor(const nlohmann::json& id, absl::StatusOr<nlohmann::json> result);

// A request line that passed the envelope's checks.
struct JsonRequest {
  nlohmann::json body;  // the whole object
  nlohmann::json id;    // null, a string or an integer
  std::string cmd;
};
// The request, or the error reply to send: not an object (parse_error), a
// bad id, a "v" other than kJsonProtocolVersion (bad_version, naming
// `speaker`, e.g. "this dataplane"), no "cmd".
std::variant<JsonRequest, nlohmann::json> ParseRequest(absl::string_view line,
                                                       absl::string_view speaker);

// "<where><field>: <why>".
absl::Status FieldError(absl::string_view where, absl::string_view field, absl::string_view why);
// A command argument's error: "<field>: <why>".
inline absl::Status ArgError(absl::string_view field, absl::string_view why) {
  return FieldError("", field, why);
}

absl::StatusOr<std::optional<std::string>> OptionalString(const nlohmann::json& r,
                                                          absl::string_view field,
                                                          absl::string_view where = "");
// Given and non-empty.
absl::StatusOr<std::string> RequiredString(const nlohmann::json& r, absl::string_view field,
                                           absl::string_view where = "");
// Given, and an address (no port): "<where><field>: '<text>' is not an address".
absl::StatusOr<IpAddress> RequiredAddress(const nlohmann::json& r, absl::string_view field,
                                          absl::string_view where = "");
absl::StatusOr<std::optional<bool>> OptionalBool(const nlohmann::json& r, absl::string_view field,
                                                 absl::string_view where = "");
// An integer in [min, max].
absl::StatusOr<std::optional<uint64_t>> OptionalUnsigned(const nlohmann::json& r,
                                                         absl::string_view field, uint64_t min,
                                                         uint64_t max,
                                                         absl::string_view where = "");

// Config files: every field of `j` must be one of `known`, else
// "<where><field>: unknown field (typo?)".
absl::Status CheckKnownFields(const nlohmann::json& j, std::initializer_list<absl::string_view> known,
                              absl::string_view where);
// Given: `*out` set; not given: `*out` kept (its default). Errors as above.
template <typename T>
absl::Status ReadUnsignedInto(const nlohmann::json& j, absl::string_view field, uint64_t min,
                              uint64_t max, absl::string_view where, T* out) {
  absl::StatusOr<std::optional<uint64_t>> v = OptionalUnsigned(j, field, min, max, where);
  if (!v.ok()) return v.status();
  if (v->has_value()) *out = static_cast<T>(**v);
  return absl::OkStatus();
}
absl::Status ReadBoolInto(const nlohmann::json& j, absl::string_view field, absl::string_view where,
                          bool* out);
// A string, or with `non_empty` a non-empty one ("must be <non_empty>").
absl::Status ReadStringInto(const nlohmann::json& j, absl::string_view field,
                            absl::string_view where, std::string* out,
                            absl::string_view non_empty = "");
// An "ip:port" string with a port (metrics_listen, ...), else "must be an
// ip:port (e.g. <example>)"; absent leaves `out` as it is.
absl::Status ReadEndpointInto(const nlohmann::json& j, absl::string_view field,
                              absl::string_view where, absl::string_view example,
                              std::optional<Endpoint>* out);
// "log_level": one of common/logger.h's level names; absent leaves `out`.
absl::Status ReadLogLevelInto(const nlohmann::json& j, absl::string_view where, LogLevel* out);
// The `log_level` command both control sockets answer: {"level": NAME}
// sets the process's threshold (and `also` hears it: the dataplane's
// DPDK log), without it tells it: {"level": NAME}.
absl::StatusOr<nlohmann::json> LogLevelCommand(const nlohmann::json& body, Logger& logger,
                                               void (*also)(LogLevel) = nullptr);
// A list of non-empty strings (sip_listen, exempt, ...); errors
// "<where><field>: must be a list of strings" or "<where><field>[i]: ...".
absl::StatusOr<std::vector<std::string>> ReadStringList(const nlohmann::json& value,
                                                        absl::string_view where,
                                                        absl::string_view field);
// One of `choices`, else "must be \"a\" or \"b\"".
absl::Status ReadChoiceInto(const nlohmann::json& j, absl::string_view field,
                            std::initializer_list<absl::string_view> choices,
                            absl::string_view where, std::string* out);

// A config file's text as a JSON object (comments allowed); errors start
// "config: ".
absl::StatusOr<nlohmann::json> ParseJsonConfig(absl::string_view text);
// The whole file at `path`: NotFound or InvalidArgument naming it.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path);
// Reads `path` and parses its text with `parse` (text -> StatusOr<T>); a
// parse error names the file.
template <typename Parse>
auto LoadJsonConfig(const std::string& path, Parse parse) -> decltype(parse(absl::string_view())) {
  absl::StatusOr<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  auto config = parse(*text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.status().message(), " (in ", path, ")"));
  }
  return config;
}

// Bigger offsets or limits are typos, not pages: refused by name.
inline constexpr uint64_t kMaxPageValue = 1'000'000'000;
inline constexpr size_t kDefaultPageLimit = 1000;
struct Page {
  size_t offset = 0;
  size_t limit = kDefaultPageLimit;
};
// `offset` and `limit` of a list command.
absl::StatusOr<Page> ParsePage(const nlohmann::json& r);
// The slice [begin, end) of `n` items a page shows.
std::pair<size_t, size_t> PageSlice(const Page& page, size_t n);

}  // namespace rtplatch
