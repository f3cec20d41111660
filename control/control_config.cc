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

absl::Status ReadBool(const json& j, absl::string_view key, bool* out) {
  auto it = j.find(std::string(key));
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_boolean()) return FieldError(key, "must be true or false");
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status ParseRegistrar(const json& j, RegistrarConfig& r) {
  if (!j.is_object()) return FieldError("registrar", "must be an object");
  struct Field {
    const char* name;
    uint32_t* value;
    uint32_t min;
    uint32_t max;
  };
  const Field fields[] = {
      {"default_expires", &r.default_expires, 1, 604800},
      {"min_expires", &r.min_expires, 1, 604800},
      {"max_expires", &r.max_expires, 1, 604800},
      {"max_expires_natted", &r.max_expires_natted, 1, 604800},
      {"keepalive_initial_interval_ms", &r.keepalive_initial_interval_ms, 0, 86400000},
      {"keepalive_min_interval_ms", &r.keepalive_min_interval_ms, 100, 86400000},
  };
  for (const auto& [key, value] : j.items()) {
    const Field* f = nullptr;
    for (const Field& candidate : fields) {
      if (key == candidate.name) f = &candidate;
    }
    const std::string field = absl::StrCat("registrar.", key);
    if (f == nullptr) return FieldError(field, "unknown field (typo?)");
    if (!value.is_number_unsigned() || value.get<uint64_t>() < f->min ||
        value.get<uint64_t>() > f->max) {
      return FieldError(field, absl::StrCat("must be an integer ", f->min, "..", f->max));
    }
    *f->value = static_cast<uint32_t>(value.get<uint64_t>());
  }
  if (r.min_expires > r.max_expires) {
    return FieldError("registrar.min_expires", "must not exceed max_expires");
  }
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
      "server_header", "domain", "users_file", "database", "authenticate", "advertised",
      "anchor_media", "keepalive_payload", "dataplane_timeout_ms", "registrar", "nat_policy",
      "qualify_interval_s", "max_ringing_s"};
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
  if (auto s = ReadString(j, "domain", true, &c.domain); !s.ok()) return s;
  if (auto s = ReadString(j, "users_file", true, &c.users_file); !s.ok()) return s;
  if (auto s = ReadString(j, "database", true, &c.database); !s.ok()) return s;
  if (auto s = ReadBool(j, "authenticate", &c.authenticate); !s.ok()) return s;
  if (auto it = j.find("advertised"); it != j.end()) {
    auto list = ReadStringList(*it, "advertised");
    if (!list.ok()) return list.status();
    for (size_t i = 0; i < list->size(); ++i) {
      auto ep = Endpoint::Parse((*list)[i]);
      if (!ep.ok() || ep->ip.is_unspecified()) {
        return FieldError(absl::StrCat("advertised[", i, "]"), "must be a specific ip:port");
      }
      c.advertised.push_back(*ep);
    }
  }
  if (auto it = j.find("anchor_media"); it != j.end()) {
    if (!it->is_string() || (*it != "always" && *it != "nat")) {
      return FieldError("anchor_media", "must be \"always\" or \"nat\"");
    }
    c.anchor_media_always = *it == "always";
  }
  if (auto it = j.find("keepalive_payload"); it != j.end()) {
    if (!it->is_string() || (*it != "crlf" && *it != "zero4")) {
      return FieldError("keepalive_payload", "must be \"crlf\" or \"zero4\"");
    }
    c.keepalive_payload = it->get<std::string>();
  }
  if (auto it = j.find("dataplane_timeout_ms"); it != j.end()) {
    if (!it->is_number_integer() || *it < 10 || *it > 60000) {
      return FieldError("dataplane_timeout_ms", "must be an integer 10..60000");
    }
    c.dataplane_timeout_ms = it->get<int>();
  }
  if (auto it = j.find("qualify_interval_s"); it != j.end()) {
    if (!it->is_number_unsigned() || *it > 86400) {
      return FieldError("qualify_interval_s", "must be an integer 0..86400 (0: off)");
    }
    c.qualify_interval_s = it->get<uint32_t>();
  }
  if (auto it = j.find("max_ringing_s"); it != j.end()) {
    if (!it->is_number_unsigned() || *it < 1 || *it > 86400) {
      return FieldError("max_ringing_s", "must be an integer 1..86400");
    }
    c.max_ringing_s = it->get<uint32_t>();
  }
  if (auto it = j.find("registrar"); it != j.end()) {
    if (auto s = ParseRegistrar(*it, c.registrar); !s.ok()) return s;
  }
  if (auto it = j.find("nat_policy"); it != j.end()) {
    auto table = NatPolicyTable::FromJson(*it);
    if (!table.ok()) return FieldError("nat_policy", table.status().message());
    c.nat_policy = *it;
  }
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
