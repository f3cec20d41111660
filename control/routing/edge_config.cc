#include "control/routing/edge_config.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json_protocol.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kWhere = "config: ";

absl::Status Error(absl::string_view field, absl::string_view why) {
  return FieldError(kWhere, field, why);
}

absl::StatusOr<PeerTargetConfig> ParseTarget(const json& j, const std::string& where) {
  if (!j.is_object()) return Error(where, "must be an object with a \"uri\"");
  const std::string prefix = absl::StrCat(kWhere, where, ".");
  if (absl::Status s = CheckKnownFields(j, {"uri", "priority", "weight"}, prefix); !s.ok()) {
    return s;
  }
  PeerTargetConfig t;
  if (absl::Status s = ReadStringInto(j, "uri", prefix, &t.uri, "a SIP URI"); !s.ok()) return s;
  if (t.uri.empty()) return Error(absl::StrCat(where, ".uri"), "must be a SIP URI");
  const std::string field = absl::StrCat(where, ".uri");
  if (!absl::StartsWithIgnoreCase(t.uri, "sip:")) {
    return Error(field, absl::StrCat("'", t.uri, "' is not a sip: URI"));
  }
  std::optional<UriParts> parts = ParseUri(t.uri);
  if (!parts) return Error(field, absl::StrCat("'", t.uri, "' is not a valid SIP URI"));
  if (!parts->supported_transport()) {
    return Error(field, absl::StrCat("transport '", parts->transport,
                                     "': peers are reached over UDP, TCP or TLS"));
  }
  if (absl::StatusOr<IpAddress> ip = IpAddress::Parse(parts->host); ip.ok()) t.ip = *ip;
  t.parts = *std::move(parts);
  for (absl::Status s : {ReadUnsignedInto(j, "priority", 0, 65535, prefix, &t.priority),
                         ReadUnsignedInto(j, "weight", 0, 65535, prefix, &t.weight)}) {
    if (!s.ok()) return s;
  }
  return t;
}

absl::Status ParseTrusted(const json& j, const std::string& where, PeerConfig& p) {
  if (!j.is_array()) return Error(where, "must be a list of addresses or prefixes");
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string field = absl::StrCat(where, "[", i, "]");
    if (!j[i].is_string()) return Error(field, "must be an address or prefix");
    absl::StatusOr<IpPrefix> prefix = IpPrefix::Parse(j[i].get<std::string>());
    if (!prefix.ok()) return Error(field, prefix.status().message());
    p.trusted_sources.push_back(*prefix);
  }
  return absl::OkStatus();
}

absl::Status ParseRegistration(const json& j, const std::string& field, PeerConfig& p) {
  const std::string prefix = absl::StrCat(kWhere, field, ".");
  if (!j.is_object()) return Error(field, "must be {\"aor\": \"sip:user@domain\", ...}");
  PeerRegistrationConfig& r = p.registration;
  for (absl::Status s :
       {CheckKnownFields(j, {"aor", "expires", "contact_user"}, prefix),
        ReadStringInto(j, "aor", prefix, &r.aor, "a sip: URI"),
        ReadStringInto(j, "contact_user", prefix, &r.contact_user),
        ReadUnsignedInto(j, "expires", 60, 86400, prefix, &r.expires_s)}) {
    if (!s.ok()) return s;
  }
  std::optional<UriParts> aor = ParseUri(r.aor);
  if (!absl::StartsWithIgnoreCase(r.aor, "sip:") || !aor || aor->user.empty()) {
    return Error(absl::StrCat(field, ".aor"),
                 absl::StrCat("'", r.aor, "' is not a sip: URI with a user"));
  }
  if (r.contact_user.empty()) r.contact_user = aor->user;
  return absl::OkStatus();
}

absl::StatusOr<PeerConfig> ParsePeer(const json& j, const std::string& where) {
  if (!j.is_object()) return Error(where, "must be an object");
  const std::string prefix = absl::StrCat(kWhere, where, ".");
  if (absl::Status s = CheckKnownFields(j, {"name", "targets", "trusted_sources", "media",
                                            "answer_timeout_ms", "failures_to_down",
                                            "probe_interval_s", "auth", "register",
                                            "trusted_tls_names"},
                                        prefix);
      !s.ok()) {
    return s;
  }
  PeerConfig p;
  if (absl::Status s = ReadStringInto(j, "name", prefix, &p.name, "a name"); !s.ok()) return s;
  if (p.name.empty()) return Error(absl::StrCat(where, ".name"), "must be a name");
  auto targets = j.find("targets");
  if (targets == j.end() || !targets->is_array() || targets->empty()) {
    return Error(absl::StrCat(where, ".targets"), "must list at least one {\"uri\": ...}");
  }
  for (size_t i = 0; i < targets->size(); ++i) {
    absl::StatusOr<PeerTargetConfig> t =
        ParseTarget((*targets)[i], absl::StrCat(where, ".targets[", i, "]"));
    if (!t.ok()) return t.status();
    p.targets.push_back(*std::move(t));
  }
  if (auto it = j.find("trusted_tls_names"); it != j.end()) {
    const std::string field = absl::StrCat(where, ".trusted_tls_names");
    if (!it->is_array()) return Error(field, "must be a list of certificate names");
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string() || (*it)[i].get<std::string>().empty()) {
        return Error(absl::StrCat(field, "[", i, "]"), "must be a certificate's name");
      }
      p.trusted_tls_names.push_back(absl::AsciiStrToLower((*it)[i].get<std::string>()));
    }
  }
  if (auto it = j.find("trusted_sources"); it != j.end()) {
    if (absl::Status s = ParseTrusted(*it, absl::StrCat(where, ".trusted_sources"), p); !s.ok()) {
      return s;
    }
  } else {
    for (size_t i = 0; i < p.targets.size(); ++i) {
      if (p.targets[i].ip) {
        p.trusted_sources.push_back(IpPrefix{*p.targets[i].ip, 128});
      } else if (p.trusted_tls_names.empty()) {
        // A peer known by its certificate needs no address for its name.
        return Error(absl::StrCat(where, ".trusted_sources"),
                     absl::StrCat("required: targets[", i, "] is a host name, so the addresses "
                                  "the peer's requests come from must be listed (or its "
                                  "trusted_tls_names)"));
      }
    }
  }
  std::string media = "always";
  for (absl::Status s :
       {ReadChoiceInto(j, "media", {"always", "nat"}, prefix, &media),
        ReadUnsignedInto(j, "answer_timeout_ms", 100, 600000, prefix, &p.answer_timeout_ms),
        ReadUnsignedInto(j, "failures_to_down", 1, 1000, prefix, &p.failures_to_down),
        ReadUnsignedInto(j, "probe_interval_s", 1, 86400, prefix, &p.probe_interval_s)}) {
    if (!s.ok()) return s;
  }
  p.media = media == "nat" ? PeerMedia::kNat : PeerMedia::kAlways;
  if (auto it = j.find("auth"); it != j.end()) {
    const std::string field = absl::StrCat(where, ".auth");
    const std::string auth_prefix = absl::StrCat(kWhere, field, ".");
    if (!it->is_object()) return Error(field, "must be {\"username\": .., \"password\": ..}");
    for (absl::Status s :
         {CheckKnownFields(*it, {"username", "password"}, auth_prefix),
          ReadStringInto(*it, "username", auth_prefix, &p.auth_username, "a user name"),
          ReadStringInto(*it, "password", auth_prefix, &p.auth_password, "a password")}) {
      if (!s.ok()) return s;
    }
    if (p.auth_username.empty() || p.auth_password.empty()) {
      return Error(field, "needs a username and a password");
    }
  }
  if (auto it = j.find("register"); it != j.end()) {
    if (absl::Status s = ParseRegistration(*it, absl::StrCat(where, ".register"), p); !s.ok()) {
      return s;
    }
  }
  return p;
}

// A dial string prefix: what phones dial ("+44", "00", "112"), so the
// characters of a telephone-subscriber (RFC 3966) and nothing that would
// need escaping in a URI.
bool ValidPrefix(absl::string_view prefix) {
  if (prefix.empty()) return false;
  for (char c : prefix) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '*' &&
        c != '#' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<RouteConfig> ParseRoute(const json& j, const std::string& where,
                                       const std::set<std::string>& peer_names) {
  if (!j.is_object()) return Error(where, "must be an object");
  const std::string prefix = absl::StrCat(kWhere, where, ".");
  if (absl::Status s = CheckKnownFields(j, {"prefix", "domain", "default", "peers"}, prefix);
      !s.ok()) {
    return s;
  }
  RouteConfig r;
  for (absl::Status s : {ReadStringInto(j, "prefix", prefix, &r.prefix),
                         ReadStringInto(j, "domain", prefix, &r.domain),
                         ReadBoolInto(j, "default", prefix, &r.is_default)}) {
    if (!s.ok()) return s;
  }
  r.domain = absl::AsciiStrToLower(r.domain);
  const int kinds = j.contains("prefix") + j.contains("domain") + r.is_default;
  if (kinds != 1) {
    return Error(where, "needs exactly one of \"prefix\", \"domain\" or \"default\": true");
  }
  if (j.contains("prefix") && !ValidPrefix(r.prefix)) {
    return Error(absl::StrCat(where, ".prefix"),
                 absl::StrCat("'", r.prefix, "' is not a dial prefix (digits, letters, + * # - .)"));
  }
  if (j.contains("domain") && r.domain.empty()) {
    return Error(absl::StrCat(where, ".domain"), "must be a domain");
  }
  auto peers = j.find("peers");
  if (peers == j.end() || !peers->is_array() || peers->empty()) {
    return Error(absl::StrCat(where, ".peers"), "must name at least one peer");
  }
  for (size_t i = 0; i < peers->size(); ++i) {
    const std::string field = absl::StrCat(where, ".peers[", i, "]");
    if (!(*peers)[i].is_string()) return Error(field, "must be a peer's name");
    const std::string name = (*peers)[i].get<std::string>();
    if (!peer_names.contains(name)) return Error(field, absl::StrCat("no peer named '", name, "'"));
    r.peers.push_back(name);
  }
  return r;
}

absl::Status ParseRoutes(const json& routes, EdgeConfig& edge) {
  if (!routes.is_array()) return Error("routes", "must be a list of routes");
  std::set<std::string> names;
  for (const PeerConfig& p : edge.peers) names.insert(p.name);
  std::set<std::string> keys;  // "p:+44", "d:example.net", "default"
  for (size_t i = 0; i < routes.size(); ++i) {
    const std::string where = absl::StrCat("routes[", i, "]");
    absl::StatusOr<RouteConfig> r = ParseRoute(routes[i], where, names);
    if (!r.ok()) return r.status();
    const std::string key = r->is_default       ? "the default route"
                            : !r->prefix.empty() ? absl::StrCat("prefix '", r->prefix, "'")
                                                 : absl::StrCat("domain '", r->domain, "'");
    if (!keys.insert(key).second) return Error(where, absl::StrCat(key, " is routed twice"));
    edge.routes.push_back(*std::move(r));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EdgeConfig> ParseEdgeConfig(const json& peers, const json& routes) {
  EdgeConfig edge;
  if (!peers.is_null()) {
    if (!peers.is_array()) return Error("peers", "must be a list of peers");
    std::set<std::string> names;
    for (size_t i = 0; i < peers.size(); ++i) {
      const std::string where = absl::StrCat("peers[", i, "]");
      absl::StatusOr<PeerConfig> p = ParsePeer(peers[i], where);
      if (!p.ok()) return p.status();
      if (!names.insert(p->name).second) {
        return Error(absl::StrCat(where, ".name"), absl::StrCat("'", p->name, "' is used twice"));
      }
      edge.peers.push_back(*std::move(p));
    }
  }
  if (!routes.is_null()) {
    if (absl::Status s = ParseRoutes(routes, edge); !s.ok()) return s;
  }
  return edge;
}

}  // namespace rtplatch
