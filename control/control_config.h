// rtplatch-control's configuration: a JSON file (like the dataplane's).
// Unknown fields are rejected and every error names the field and the bad
// value ("config: sip_listen[1]: ...").
//
//   {
//     "sip_listen": ["192.0.2.1:5060", "[2001:db8::1]:5060"],
//     "inside_prefixes": ["10.0.0.0/8", "192.168.0.0/16"],
//     "dataplane_socket": "/run/rtplatch/dataplane.sock",
//     "control_socket": "/run/rtplatch/control.sock",
//     "server_header": "rtplatch"
//   }
//
// Each sip_listen entry is bound for both UDP and TCP.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/inside_prefixes.h"

namespace rtplatch {

struct ControlConfig {
  std::vector<Endpoint> sip_listen = {Endpoint{IpAddress::FromV4(0), 5060}};
  InsidePrefixes inside_prefixes = InsidePrefixes::Default();
  std::string dataplane_socket = "/run/rtplatch/dataplane.sock";
  // The control plane's own operator socket (a later slice serves it).
  std::string control_socket = "/run/rtplatch/control.sock";
  // Server header on every response; empty: none.
  std::string server_header = "rtplatch";
};

absl::StatusOr<ControlConfig> ParseControlConfig(absl::string_view json_text);
absl::StatusOr<ControlConfig> LoadControlConfig(const std::string& path);

}  // namespace rtplatch
