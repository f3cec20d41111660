// The parts of a SIP URI that routing needs (user, host, port, transport),
// read from oSIP2's parsed form or from text (a Contact, a config entry).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <osipparser2/osip_uri.h>

#include "absl/strings/string_view.h"
#include "control/sip/sip_message.h"  // kSipDefaultPort

namespace rtplatch {

struct UriParts {
  std::string user;
  std::string host;  // IPv6 without brackets
  uint16_t port = kSipDefaultPort;
  bool port_given = false;  // the URI named a port (RFC 3263: no SRV lookup)
  std::string transport;    // ;transport=, lower case; "" if absent
  bool sips = false;        // a sips: URI (RFC 3261 26.2: TLS on every hop)

  bool tcp() const { return transport == "tcp" && !sips; }
  bool tls() const { return sips || transport == "tls"; }
  bool supported_transport() const {
    return transport.empty() || transport == "udp" || transport == "tcp" || tls();
  }
  friend bool operator==(const UriParts&, const UriParts&) = default;
};

// nullopt when the URI has no host or a port that is not 1..65535.
std::optional<UriParts> PartsOf(const osip_uri_t* uri);
// "sip:user@host:port;params", optionally in angle brackets.
std::optional<UriParts> ParseUri(absl::string_view text);

}  // namespace rtplatch
