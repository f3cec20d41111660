// rtplatch-control's configuration: a JSON file (like the dataplane's).
// Unknown fields are rejected and every error names the field and the bad
// value ("config: sip_listen[1]: ...").
//
//   {
//     "sip_listen": ["192.0.2.1:5060", "[2001:db8::1]:5060"],
//     "inside_prefixes": ["10.0.0.0/8", "192.168.0.0/16"],
//     "dataplane_socket": "/run/rtplatch/dataplane.sock",
//     "control_socket": "/run/rtplatch/control.sock",
//     "server_header": "rtplatch",
//     "domain": "example.org",
//     "users_file": "/etc/rtplatch/users",
//     "database": "/var/lib/rtplatch/bindings.sqlite",
//     "authenticate": true,
//     "advertised": ["203.0.113.10:5060"],
//     "anchor_media": "always" | "nat",
//     "keepalive_payload": "crlf" | "zero4",
//     "dataplane_timeout_ms": 1000,
//     "qualify_interval_s": 0,
//     "max_ringing_s": 180,
//     "ng_listen": ["127.0.0.1:2223"]   (rtpengine's ng protocol; none by default)
//     "tls_listen": ["203.0.113.10:5061"]   (SIP over TLS; none by default)
//     "tls": {"certificate": PEM, "private_key": PEM, "ca_file": PEM,
//             "require_client_certificate": false, "min_version": "1.2"}
//     "ng": {"max_sessions": 0 (none), "delete_delay_s": 30, "timeout_s": 60,
//            "silent_timeout_s": 3600, "final_timeout_s": 0 (none),
//            "interfaces": {"NAME": ["IPv4", "IPv6"]} (none)}   (ng_calls.h)
//     "registrar": {"default_expires": 3600, "min_expires": 60, "max_expires": 7200,
//                   "max_expires_natted": 600, "max_expires_learning": 60,
//                   "keepalive_initial_interval_ms": 0 (0: the NAT policy's; the
//                   learning's ceiling), "keepalive_min_interval_ms": 5000},
//     "nat_policy": {"default": "default", "by_user_agent": [...]}   (nat_policy.h)
//     "peers": [...], "routes": [...]   (the carrier edge: routing/edge_config.h)
//     "dns": {"servers": ["192.0.2.53:53"] (default: /etc/resolv.conf's),
//             "timeout_ms": 2000, "tries": 2, "max_cache_entries": 100000}
//     "guard": {...}   (rate limits, bans, scanners: guard/sip_guard_config.h)
//     "overload": {...}   (load shedding of the control plane itself:
//                   guard/overload_config.h)
//     "cluster": {"node": "edge-a" (required: this node's name),
//                 "redis": "127.0.0.1:6379", "prefix": "rtplatch",
//                 "sentinels": [] (["ip:port", ...]: Redis found through
//                 Sentinel, "redis" unused), "master": "rtplatch",
//                 "vips": [] (addresses this node may take over, each a
//                 standby_address of its dataplane; a sip_listen entry on
//                 one is bound before the address is here)}
//                 (bindings shared with the other nodes: docs/cluster.md;
//                 none by default: a single node)
//   }
//
// Each sip_listen entry is bound for both UDP and TCP. "sip_listen": [] with
// ng_listen set is the ng-only mode: a media relay for a SIP proxy that
// speaks rtpengine's protocol, with no SIP of its own.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "common/logger.h"
#include "control/dns/dns_resolver.h"
#include "control/guard/overload_config.h"
#include "control/guard/sip_guard_config.h"
#include "control/nat/inside_prefixes.h"
#include "control/nat/nat_policy.h"
#include "control/ng/ng_calls.h"
#include "control/registrar/registrar.h"
#include "control/routing/edge_config.h"
#include "control/sip/sip_tls.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

struct ControlConfig {
  std::vector<Endpoint> sip_listen = {Endpoint{IpAddress::FromV4(0), 5060}};
  InsidePrefixes inside_prefixes = InsidePrefixes::Default();
  std::string dataplane_socket = "/run/rtplatch/dataplane.sock";
  // The control plane's own operator socket (a later slice serves it).
  std::string control_socket = "/run/rtplatch/control.sock";
  // Server header on every response; empty: none.
  std::string server_header = "rtplatch";

  // The SIP domain served (registrar, digest realm). Required by
  // rtplatch-control; the parser leaves it empty so partial configs parse.
  std::string domain;
  // docs/users-file.md; empty: no users (every challenge fails).
  std::string users_file;
  // The registrar's SQLite file; bindings survive a restart. "" keeps them
  // in memory only (tests).
  std::string database = "/var/lib/rtplatch/bindings.sqlite";
  // Digest authentication of REGISTER and of calls from our users.
  bool authenticate = true;
  // What goes in Via / Record-Route when a listen address is a wildcard:
  // the addresses phones reach us at (one per family).
  std::vector<Endpoint> advertised;
  // Relay every call's media, or only where NAT or v4/v6 needs it.
  bool anchor_media_always = true;
  // Keepalive payload for NAT'd bindings: "crlf" (RFC 5626) or "zero4".
  std::string keepalive_payload = "crlf";
  int dataplane_timeout_ms = 1000;
  // OPTIONS qualify of NAT'd bindings every N seconds (0: off); a phone
  // that does not answer loses its binding and keepalive.
  uint32_t qualify_interval_s = 0;
  // RFC 3261 timer C: an unanswered INVITE branch is CANCELled after this.
  uint32_t max_ringing_s = 180;
  // rtpengine's ng protocol (control/ng/) on these UDP addresses; empty:
  // not served. `ng`: its limits and timeouts, rtpengine's defaults.
  std::vector<Endpoint> ng_listen;
  NgCallsConfig ng;
  // Prometheus's /metrics over HTTP on this address (docs/operations.md);
  // unset: not served.
  std::optional<Endpoint> metrics_listen;
  // The log's threshold (common/logger.h); a reload takes a new one.
  LogLevel log_level = Logger::kDefaultLevel;
  // Where the config came from (LoadControlConfig; empty when parsed from
  // text) and its members as written: a reload compares them with the
  // file's new ones to say what changed.
  std::string source_path;
  nlohmann::json source_json = nlohmann::json::object();
  // SIP over TLS on these addresses (TCP, no UDP), with `tls`'s files.
  std::vector<Endpoint> tls_listen;
  SipTlsConfig tls;
  RegistrarConfig registrar;        // expires bounds, keepalive interval floor
  nlohmann::json nat_policy = nlohmann::json::object();  // NatPolicyTable::FromJson
  // SIP peers and the dial plan to them; none by default (calls reach only
  // registered phones and address literals).
  EdgeConfig edge;
  // The DNS servers and limits for named peers (c-ares, control/dns/).
  DnsResolverConfig dns;
  // Flood, password-guessing and scanner defences (control/guard/).
  SipGuardConfig guard;
  // Shedding when the control plane itself is over capacity (control/guard/).
  OverloadConfig overload;
  // Several nodes sharing their bindings in Redis (control/cluster/).
  struct Cluster {
    std::string node;  // empty: no cluster
    Endpoint redis{IpAddress::FromV4(0x7f000001), 6379};
    std::string prefix = "rtplatch";
    std::vector<Endpoint> sentinels;
    std::string master = "rtplatch";  // the name Sentinel monitors it by
    std::vector<IpAddress> vips;      // taken and released at runtime (vip_ownership.h)
  } cluster;
};

absl::StatusOr<ControlConfig> ParseControlConfig(absl::string_view json_text);
absl::StatusOr<ControlConfig> LoadControlConfig(const std::string& path);

}  // namespace rtplatch
