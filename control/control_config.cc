#include "control/control_config.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json_protocol.h"
#include "nlohmann/json.hpp"

namespace rtplatch {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kWhere = "config: ";

absl::Status FieldError(absl::string_view field, absl::string_view why) {
  return rtplatch::FieldError(kWhere, field, why);
}

// A list of non-empty strings, e.g. sip_listen or inside_prefixes.
absl::StatusOr<std::vector<std::string>> ReadStringList(const json& value,
                                                        absl::string_view key) {
  return rtplatch::ReadStringList(value, kWhere, key);
}

// "interfaces": {"NAME": ["IPv4", "IPv6"], ...}: one address of each
// family at most, named for ng's "direction".
absl::StatusOr<std::map<std::string, NgInterface>> ParseNgInterfaces(const json& j) {
  if (!j.is_object()) return FieldError("ng.interfaces", "must be an object of name: [addresses]");
  std::map<std::string, NgInterface> out;
  for (const auto& [name, value] : j.items()) {
    const std::string key = absl::StrCat("ng.interfaces.", name);
    if (name.empty()) return FieldError("ng.interfaces", "an interface name is empty");
    absl::StatusOr<std::vector<std::string>> addresses = ReadStringList(value, key);
    if (!addresses.ok()) return addresses.status();
    if (addresses->empty()) return FieldError(key, "needs an address");
    NgInterface& interface = out[name];
    for (const std::string& text : *addresses) {
      absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
      if (!ip.ok()) return FieldError(key, absl::StrCat("'", text, "': ", ip.status().message()));
      std::optional<IpAddress>& slot = ip->is_v4() ? interface.ipv4 : interface.ipv6;
      if (slot) {
        return FieldError(key, absl::StrCat("two ", ip->is_v4() ? "IPv4" : "IPv6",
                                            " addresses (", slot->ToString(), ", ", text,
                                            "): one of each family"));
      }
      slot = *ip;
    }
  }
  return out;
}

absl::Status ParseNg(const json& j, NgCallsConfig& n) {
  if (!j.is_object()) return FieldError("ng", "must be an object");
  if (absl::Status s = CheckKnownFields(j, {"max_sessions", "delete_delay_s", "timeout_s",
                                            "silent_timeout_s", "final_timeout_s",
                                            "interfaces"},
                                        "config: ng.");
      !s.ok()) {
    return s;
  }
  if (auto it = j.find("interfaces"); it != j.end()) {
    absl::StatusOr<std::map<std::string, NgInterface>> interfaces = ParseNgInterfaces(*it);
    if (!interfaces.ok()) return interfaces.status();
    n.interfaces = *std::move(interfaces);
  }
  constexpr absl::string_view kNg = "config: ng.";
  for (absl::Status s : {
           ReadUnsignedInto(j, "max_sessions", 0, 100000000, kNg, &n.max_sessions),
           ReadUnsignedInto(j, "delete_delay_s", 0, 86400, kNg, &n.delete_delay_s),
           ReadUnsignedInto(j, "timeout_s", 1, 86400, kNg, &n.timeout_s),
           ReadUnsignedInto(j, "silent_timeout_s", 1, 604800, kNg, &n.silent_timeout_s),
           ReadUnsignedInto(j, "final_timeout_s", 0, 604800, kNg, &n.final_timeout_s),
       }) {
    if (!s.ok()) return s;
  }
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
      {"max_expires_learning", &r.max_expires_learning, 1, 604800},
      {"keepalive_initial_interval_ms", &r.keepalive_initial_interval_ms, 0, 86400000},
      {"keepalive_min_interval_ms", &r.keepalive_min_interval_ms, 100, 86400000},
  };
  for (const auto& item : j.items()) {
    // Not a structured binding: clang before 16 cannot capture one.
    const std::string& key = item.key();
    if (std::none_of(std::begin(fields), std::end(fields),
                     [&](const Field& f) { return key == f.name; })) {
      return FieldError(absl::StrCat("registrar.", key), "unknown field (typo?)");
    }
  }
  for (const Field& f : fields) {
    if (absl::Status s = ReadUnsignedInto(j, f.name, f.min, f.max, "config: registrar.", f.value);
        !s.ok()) {
      return s;
    }
  }
  if (r.min_expires > r.max_expires) {
    return FieldError("registrar.min_expires", "must not exceed max_expires");
  }
  return absl::OkStatus();
}

// A list of distinct ip:port, e.g. sip_listen, ng_listen or cluster.sentinels.
absl::Status ParseListenList(const json& value, absl::string_view name, bool required,
                             std::vector<Endpoint>& out) {
  auto list = ReadStringList(value, name);
  if (!list.ok()) return list.status();
  if (required && list->empty()) return FieldError(name, "must name at least one ip:port");
  out.clear();
  for (size_t i = 0; i < list->size(); ++i) {
    std::string field = absl::StrCat(name, "[", i, "]");
    auto ep = Endpoint::Parse((*list)[i]);
    if (!ep.ok()) return FieldError(field, ep.status().message());
    for (const Endpoint& seen : out) {
      if (seen == *ep) return FieldError(field, absl::StrCat("duplicate ", ep->ToString()));
    }
    out.push_back(*ep);
  }
  return absl::OkStatus();
}

absl::Status ParseDns(const json& j, DnsResolverConfig& d) {
  if (!j.is_object()) return FieldError("dns", "must be an object");
  constexpr absl::string_view kDns = "config: dns.";
  if (absl::Status s = CheckKnownFields(j, {"servers", "timeout_ms", "tries", "max_cache_entries"},
                                        kDns);
      !s.ok()) {
    return s;
  }
  if (auto it = j.find("servers"); it != j.end()) {
    auto list = ReadStringList(*it, "dns.servers");
    if (!list.ok()) return list.status();
    for (size_t i = 0; i < list->size(); ++i) {
      // A bare address means port 53.
      absl::StatusOr<Endpoint> ep = Endpoint::Parse((*list)[i]);
      if (!ep.ok()) {
        absl::StatusOr<IpAddress> ip = IpAddress::Parse((*list)[i]);
        if (ip.ok()) ep = Endpoint{*ip, 53};
      }
      if (!ep.ok() || ep->ip.is_unspecified()) {
        return FieldError(absl::StrCat("dns.servers[", i, "]"),
                          absl::StrCat("'", (*list)[i], "' is not an address or ip:port"));
      }
      d.servers.push_back(*ep);
    }
  }
  for (absl::Status s : {ReadUnsignedInto(j, "timeout_ms", 100, 60000, kDns, &d.timeout_ms),
                         ReadUnsignedInto(j, "tries", 1, 10, kDns, &d.tries),
                         ReadUnsignedInto(j, "max_cache_entries", 0, 10000000, kDns,
                                          &d.max_cache_entries)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// A node name or key prefix: what Redis keys and the cluster's messages
// can carry as they are.
bool IsPlainName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return absl::ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
  });
}

// cluster.vips: distinct addresses (no port).
absl::Status ParseVips(const json& j, std::vector<IpAddress>& out) {
  if (!j.is_array()) return FieldError("cluster.vips", "must be a list of addresses");
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string field = absl::StrCat("cluster.vips[", i, "]");
    if (!j[i].is_string()) return FieldError(field, "must be an address string");
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(j[i].get<std::string>());
    if (!ip.ok() || ip->is_unspecified()) {
      return FieldError(field, absl::StrCat("'", j[i].get<std::string>(), "' is not an address"));
    }
    if (std::find(out.begin(), out.end(), *ip) != out.end()) {
      return FieldError(field, absl::StrCat(ip->ToString(), " listed twice"));
    }
    out.push_back(*ip);
  }
  return absl::OkStatus();
}

absl::Status ParseCluster(const json& j, ControlConfig::Cluster& c) {
  if (!j.is_object()) return FieldError("cluster", "must be an object");
  constexpr absl::string_view kCluster = "config: cluster.";
  if (absl::Status s =
          CheckKnownFields(j, {"node", "redis", "prefix", "sentinels", "master", "vips"}, kCluster);
      !s.ok()) {
    return s;
  }
  std::string redis;
  for (absl::Status s : {ReadStringInto(j, "node", kCluster, &c.node),
                         ReadStringInto(j, "redis", kCluster, &redis),
                         ReadStringInto(j, "prefix", kCluster, &c.prefix),
                         ReadStringInto(j, "master", kCluster, &c.master)}) {
    if (!s.ok()) return s;
  }
  if (auto it = j.find("sentinels"); it != j.end()) {
    if (absl::Status s = ParseListenList(*it, "cluster.sentinels", false, c.sentinels); !s.ok()) {
      return s;
    }
  }
  for (auto [field, value] : {std::pair{"cluster.node", &c.node},
                              std::pair{"cluster.prefix", &c.prefix},
                              std::pair{"cluster.master", &c.master}}) {
    if (!IsPlainName(*value)) {
      return FieldError(field, absl::StrCat("'", *value,
                                            "' is not 1-64 of letters, digits, '-', '_', '.'"));
    }
  }
  if (auto it = j.find("vips"); it != j.end()) {
    if (absl::Status s = ParseVips(*it, c.vips); !s.ok()) return s;
  }
  if (!redis.empty()) {
    absl::StatusOr<Endpoint> ep = Endpoint::Parse(redis);
    if (!ep.ok() || ep->ip.is_unspecified()) {
      return FieldError("cluster.redis", absl::StrCat("'", redis, "' is not ip:port"));
    }
    c.redis = *ep;
  }
  return absl::OkStatus();
}

absl::Status ParseTls(const json& j, SipTlsConfig& t) {
  if (!j.is_object()) return FieldError("tls", "must be an object");
  constexpr absl::string_view kTls = "config: tls.";
  if (absl::Status s = CheckKnownFields(j, {"certificate", "private_key", "ca_file",
                                            "require_client_certificate", "min_version"},
                                        kTls);
      !s.ok()) {
    return s;
  }
  for (absl::Status s :
       {ReadStringInto(j, "certificate", kTls, &t.certificate, "a PEM file's path"),
        ReadStringInto(j, "private_key", kTls, &t.private_key, "a PEM file's path"),
        ReadStringInto(j, "ca_file", kTls, &t.ca_file),
        ReadBoolInto(j, "require_client_certificate", kTls, &t.require_client_certificate),
        ReadChoiceInto(j, "min_version", {"1.2", "1.3"}, kTls, &t.min_version)}) {
    if (!s.ok()) return s;
  }
  if (t.certificate.empty() || t.private_key.empty()) {
    return FieldError("tls", "needs \"certificate\" and \"private_key\" (PEM files)");
  }
  return absl::OkStatus();
}

absl::Status ParseLists(const json& j, ControlConfig& c) {
  if (auto it = j.find("sip_listen"); it != j.end()) {
    if (auto s = ParseListenList(*it, "sip_listen", false, c.sip_listen); !s.ok()) return s;
  }
  if (auto it = j.find("ng_listen"); it != j.end()) {
    if (auto s = ParseListenList(*it, "ng_listen", false, c.ng_listen); !s.ok()) return s;
  }
  if (auto it = j.find("tls_listen"); it != j.end()) {
    if (auto s = ParseListenList(*it, "tls_listen", false, c.tls_listen); !s.ok()) return s;
    if (!c.tls_listen.empty() && !j.contains("tls")) {
      return FieldError("tls", "required with tls_listen (certificate and private_key)");
    }
  }
  if (auto s = ReadEndpointInto(j, "metrics_listen", kWhere, "127.0.0.1:9470", &c.metrics_listen);
      !s.ok()) {
    return s;
  }
  if (auto s = ReadLogLevelInto(j, kWhere, &c.log_level); !s.ok()) return s;
  // No SIP is the ng-only mode (a media relay for Kamailio or OpenSIPS);
  // neither is nothing to serve.
  if (c.sip_listen.empty() && c.ng_listen.empty()) {
    return FieldError("sip_listen", "must name at least one ip:port (or set ng_listen)");
  }
  if (auto it = j.find("inside_prefixes"); it != j.end()) {
    auto list = ReadStringList(*it, "inside_prefixes");
    if (!list.ok()) return list.status();
    auto prefixes = InsidePrefixes::Parse(*list);
    if (!prefixes.ok()) return FieldError("inside_prefixes", prefixes.status().message());
    c.inside_prefixes = *std::move(prefixes);
  }
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
  return absl::OkStatus();
}

// The other nodes reach a cluster node (and know its requests) at its
// first SIP address, which its heartbeat names: its own, for good.
absl::Status CheckClusterListen(const ControlConfig& c) {
  const std::vector<IpAddress>& vips = c.cluster.vips;
  if (!c.sip_listen.empty() &&
      (c.sip_listen.front().ip.is_unspecified() ||
       std::find(vips.begin(), vips.end(), c.sip_listen.front().ip) != vips.end())) {
    return FieldError("sip_listen[0]",
                      "in a cluster, must be this node's own address (not a wildcard or one "
                      "of cluster.vips): the other nodes reach it there");
  }
  return absl::OkStatus();
}

absl::Status ParseInto(const json& j, ControlConfig& c) {
  if (absl::Status s = CheckKnownFields(
          j, {"sip_listen", "inside_prefixes", "dataplane_socket", "control_socket",
              "server_header", "domain", "users_file", "database", "authenticate", "advertised",
              "anchor_media", "keepalive_payload", "dataplane_timeout_ms", "registrar",
              "nat_policy", "qualify_interval_s", "max_ringing_s", "ng_listen", "ng",
              "peers", "routes", "dns", "tls_listen", "tls", "guard", "overload", "cluster",
              "metrics_listen", "log_level"},
          kWhere);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseLists(j, c); !s.ok()) return s;
  std::string anchor_media = c.anchor_media_always ? "always" : "nat";
  for (absl::Status s : {
           ReadStringInto(j, "dataplane_socket", kWhere, &c.dataplane_socket, "a non-empty path"),
           ReadStringInto(j, "control_socket", kWhere, &c.control_socket, "a non-empty path"),
           ReadStringInto(j, "server_header", kWhere, &c.server_header),
           ReadStringInto(j, "domain", kWhere, &c.domain),
           ReadStringInto(j, "users_file", kWhere, &c.users_file),
           ReadStringInto(j, "database", kWhere, &c.database),
           ReadBoolInto(j, "authenticate", kWhere, &c.authenticate),
           ReadChoiceInto(j, "anchor_media", {"always", "nat"}, kWhere, &anchor_media),
           ReadChoiceInto(j, "keepalive_payload", {"crlf", "zero4"}, kWhere, &c.keepalive_payload),
           ReadUnsignedInto(j, "dataplane_timeout_ms", 10, 60000, kWhere, &c.dataplane_timeout_ms),
           ReadUnsignedInto(j, "qualify_interval_s", 0, 86400, kWhere, &c.qualify_interval_s),
           ReadUnsignedInto(j, "max_ringing_s", 1, 86400, kWhere, &c.max_ringing_s),
       }) {
    if (!s.ok()) return s;
  }
  c.anchor_media_always = anchor_media == "always";
  if (auto it = j.find("registrar"); it != j.end()) {
    if (auto s = ParseRegistrar(*it, c.registrar); !s.ok()) return s;
  }
  if (auto it = j.find("ng"); it != j.end()) {
    if (auto s = ParseNg(*it, c.ng); !s.ok()) return s;
  }
  if (auto it = j.find("dns"); it != j.end()) {
    if (auto s = ParseDns(*it, c.dns); !s.ok()) return s;
  }
  if (auto it = j.find("tls"); it != j.end()) {
    if (auto s = ParseTls(*it, c.tls); !s.ok()) return s;
  }
  if (auto it = j.find("cluster"); it != j.end()) {
    if (auto s = ParseCluster(*it, c.cluster); !s.ok()) return s;
    if (auto s = CheckClusterListen(c); !s.ok()) return s;
  }
  if (auto it = j.find("guard"); it != j.end()) {
    absl::StatusOr<SipGuardConfig> guard = ParseSipGuardConfig(*it);
    if (!guard.ok()) return guard.status();
    c.guard = *std::move(guard);
  }
  if (auto it = j.find("overload"); it != j.end()) {
    absl::StatusOr<OverloadConfig> overload = ParseOverloadConfig(*it);
    if (!overload.ok()) return overload.status();
    c.overload = *overload;
  }
  const json none;
  auto peers = j.find("peers");
  auto routes = j.find("routes");
  absl::StatusOr<EdgeConfig> edge =
      ParseEdgeConfig(peers == j.end() ? none : *peers, routes == j.end() ? none : *routes);
  if (!edge.ok()) return edge.status();
  c.edge = *std::move(edge);
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
  absl::StatusOr<json> j = ParseJsonConfig(json_text);
  if (!j.ok()) return j.status();
  ControlConfig c;
  if (auto s = ParseInto(*j, c); !s.ok()) return s;
  c.source_json = *std::move(j);
  return c;
}

absl::StatusOr<ControlConfig> LoadControlConfig(const std::string& path) {
  absl::StatusOr<ControlConfig> c = LoadJsonConfig(path, ParseControlConfig);
  if (c.ok()) c->source_path = path;
  return c;
}

}  // namespace rtplatch
