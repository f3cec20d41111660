#include "control/cluster/binding_codec.h"

#include <algorithm>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;

// The string field `name` of `j`, or an error naming it.
absl::StatusOr<std::string> StringField(const json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("shared binding: '", name, "' is not a string"));
  }
  return it->get<std::string>();
}

// The integer field `name` of `j` within [lo, hi], or an error naming it.
absl::StatusOr<int64_t> IntField(const json& j, const char* name, int64_t lo, int64_t hi) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("shared binding: '", name, "' is not an integer"));
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared binding: '", name, "' ", v, " is outside [", lo, ", ", hi, "]"));
  }
  return v;
}

absl::StatusOr<Endpoint> EndpointField(const json& j, const char* name) {
  absl::StatusOr<std::string> text = StringField(j, name);
  if (!text.ok()) return text.status();
  absl::StatusOr<Endpoint> ep = Endpoint::Parse(*text);
  if (!ep.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared binding: '", name, "': ", ep.status().message()));
  }
  return ep;
}

// `s` as a JSON string. Printable ASCII without quotes or backslashes
// (nearly every SIP value) goes as it is; anything else through
// nlohmann's escaping, invalid UTF-8 as U+FFFD rather than thrown.
void AppendJsonString(std::string& out, absl::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    absl::StrAppend(&out, "\"", s, "\"");
    return;
  }
  out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string EncodeBinding(const Binding& b, absl::string_view node) {
  // Written straight out, not through a json tree: every refresh of a
  // shared binding is encoded on the event loop.
  std::string out;
  out.reserve(512);
  auto text = [&out](absl::string_view name, absl::string_view value) {
    absl::StrAppend(&out, out.empty() ? "{\"" : ",\"", name, "\":");
    AppendJsonString(out, value);
  };
  auto number = [&out](absl::string_view name, int64_t value) {
    absl::StrAppend(&out, ",\"", name, "\":", value);
  };
  auto boolean = [&out](absl::string_view name, bool value) {
    absl::StrAppend(&out, ",\"", name, "\":", value ? "true" : "false");
  };
  text("node", node);
  text("aor", b.aor);
  text("contact", b.contact_uri);
  number("expires_at", b.expires_at);
  text("call_id", b.call_id);
  number("cseq", b.cseq);
  text("user_agent", b.user_agent);
  text("source", b.source.ToString());
  text("transport", TransportName(b.transport));
  text("local_socket", b.local_socket.ToString());
  boolean("behind_nat", b.behind_nat);
  out += ",\"nat_reasons\":[";
  for (size_t i = 0; i < b.nat_reasons.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, b.nat_reasons[i]);
  }
  out += ']';
  number("keepalive_interval_ms", b.keepalive_interval_ms);
  text("keepalive_reason", b.keepalive_reason);
  boolean("keepalive_learning", b.keepalive_learning);
  number("q_milli", b.q_milli);
  out += '}';
  return out;
}

std::optional<std::string> EncodeRefresh(const Binding& b) {
  if (b.call_id.empty() || b.call_id.find_first_of(" \r\n") != std::string::npos) return std::nullopt;
  return absl::StrCat(b.expires_at, " ", b.cseq, " ", b.call_id);
}

absl::StatusOr<BindingRefresh> DecodeRefresh(absl::string_view text) {
  const std::vector<absl::string_view> v = absl::StrSplit(text, absl::MaxSplits(' ', 2));
  BindingRefresh r;
  if (v.size() != 3 || v[2].empty() || !absl::SimpleAtoi(v[0], &r.expires_at) ||
      !absl::SimpleAtoi(v[1], &r.cseq)) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared refresh: not '<expires_at> <cseq> <call_id>': ", text.substr(0, 64)));
  }
  r.call_id = std::string(v[2]);
  return r;
}

absl::StatusOr<Binding> DecodeBinding(absl::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("shared binding: not a JSON object");
  Binding b;
  for (auto [name, field] : {std::pair{"node", &b.node}, std::pair{"aor", &b.aor},
                             std::pair{"contact", &b.contact_uri},
                             std::pair{"call_id", &b.call_id},
                             std::pair{"user_agent", &b.user_agent},
                             std::pair{"keepalive_reason", &b.keepalive_reason}}) {
    absl::StatusOr<std::string> v = StringField(j, name);
    if (!v.ok()) return v.status();
    *field = *std::move(v);
  }
  if (b.node.empty() || b.aor.empty() || b.contact_uri.empty()) {
    return absl::InvalidArgumentError("shared binding: empty node, aor or contact");
  }
  constexpr int64_t kU32 = std::numeric_limits<uint32_t>::max();
  absl::StatusOr<int64_t> expires_at = IntField(j, "expires_at", 0, kU32);
  absl::StatusOr<int64_t> cseq = IntField(j, "cseq", 0, kU32);
  absl::StatusOr<int64_t> interval = IntField(j, "keepalive_interval_ms", 0, kU32);
  absl::StatusOr<int64_t> q = IntField(j, "q_milli", 0, 1000);
  for (const auto* v : {&expires_at, &cseq, &interval, &q}) {
    if (!v->ok()) return v->status();
  }
  b.expires_at = *expires_at;
  b.cseq = static_cast<uint32_t>(*cseq);
  b.keepalive_interval_ms = static_cast<uint32_t>(*interval);
  b.q_milli = static_cast<uint16_t>(*q);
  absl::StatusOr<Endpoint> source = EndpointField(j, "source");
  if (!source.ok()) return source.status();
  b.source = *source;
  absl::StatusOr<Endpoint> local = EndpointField(j, "local_socket");
  if (!local.ok()) return local.status();
  b.local_socket = *local;
  absl::StatusOr<std::string> transport = StringField(j, "transport");
  if (!transport.ok()) return transport.status();
  absl::StatusOr<Binding::Transport> t = ParseTransport(*transport);
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("shared binding: ", t.status().message()));
  b.transport = *t;
  for (auto [name, field] : {std::pair{"behind_nat", &b.behind_nat},
                             std::pair{"keepalive_learning", &b.keepalive_learning}}) {
    const auto it = j.find(name);
    if (it == j.end() || !it->is_boolean()) {
      return absl::InvalidArgumentError(absl::StrCat("shared binding: '", name, "' is not a boolean"));
    }
    *field = it->get<bool>();
  }
  const auto reasons = j.find("nat_reasons");
  if (reasons == j.end() || !reasons->is_array()) {
    return absl::InvalidArgumentError("shared binding: 'nat_reasons' is not an array");
  }
  for (const json& r : *reasons) {
    if (!r.is_string()) return absl::InvalidArgumentError("shared binding: a NAT reason is not a string");
    b.nat_reasons.push_back(r.get<std::string>());
  }
  return b;
}

}  // namespace rtplatch
