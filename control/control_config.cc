#include "control/control_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace rtplatch {
namespace {

using json = nlohmann::json;

absl::Status FieldError(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", field, ": ", why));
}

// A list of non-empty strings, e.g. sip_listen or inside_prefixes.
absl::StatusOr<std::vector<std::string>> ReadStringList(const json& value,
                                                        absl::string_view key) {
  if (!value.is_array()) return FieldError(key, "must be a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string() || value[i].get<std::string>().empty()) {
      return FieldError(absl::StrCat(key, "[", i, "]"), "must be a non-empty string");
    }
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

absl::Status ReadString(const json& j, absl::string_view key, bool allow_empty,
                        std::string* out) {
  auto it = j.find(std::string(key));
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_string() || (!allow_empty && it->get<std::string>().empty())) {
    return FieldError(key, allow_empty ? "must be a string" : "must be a non-empty path");
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status ParseSipListen(const json& value, ControlConfig& c) {
  auto list = ReadStringList(value, "sip_listen");
  if (!list.ok()) return list.status();
  if (list->empty()) return FieldError("sip_listen", "must name at least one ip:port");
  c.sip_listen.clear();
  for (size_t i = 0; i < list->size(); ++i) {
    std::string field = absl::StrCat("sip_listen[", i, "]");
    auto ep = Endpoint::Parse((*list)[i]);
    if (!ep.ok()) return FieldError(field, ep.status().message());
    for (const Endpoint& seen : c.sip_listen) {
      if (seen == *ep) return FieldError(field, absl::StrCat("duplicate ", ep->ToString()));
    }
    c.sip_listen.push_back(*ep);
  }
  return absl::OkStatus();
}

absl::Status ParseInto(const json& j, ControlConfig& c) {
  static constexpr absl::string_view kKnown[] = {
      "sip_listen", "inside_prefixes", "dataplane_socket", "control_socket",
      "server_header"};
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (absl::string_view k : kKnown) known = known || key == k;
    if (!known) return FieldError(key, "unknown field (typo?)");
  }
  if (auto it = j.find("sip_listen"); it != j.end()) {
    if (auto s = ParseSipListen(*it, c); !s.ok()) return s;
  }
  if (auto it = j.find("inside_prefixes"); it != j.end()) {
    auto list = ReadStringList(*it, "inside_prefixes");
    if (!list.ok()) return list.status();
    auto prefixes = InsidePrefixes::Parse(*list);
    if (!prefixes.ok()) return FieldError("inside_prefixes", prefixes.status().message());
    c.inside_prefixes = *std::move(prefixes);
  }
  if (auto s = ReadString(j, "dataplane_socket", false, &c.dataplane_socket); !s.ok()) return s;
  if (auto s = ReadString(j, "control_socket", false, &c.control_socket); !s.ok()) return s;
  if (auto s = ReadString(j, "server_header", true, &c.server_header); !s.ok()) return s;
  // The value goes verbatim into a header line: no CR/LF/control bytes.
  for (char ch : c.server_header) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      return FieldError("server_header", "must not contain control characters");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ControlConfig> ParseControlConfig(absl::string_view json_text) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false,
                       /*ignore_comments=*/true);
  if (j.is_discarded()) return absl::InvalidArgumentError("config: not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("config: top level must be an object");
  ControlConfig c;
  if (auto s = ParseInto(j, c); !s.ok()) return s;
  return c;
}

absl::StatusOr<ControlConfig> LoadControlConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config: cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("config: cannot read ", path));
  auto config = ParseControlConfig(ss.str());
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.status().message(), " (in ", path, ")"));
  }
  return config;
}

}  // namespace rtplatch
