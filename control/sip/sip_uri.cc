#include "control/sip/sip_uri.h"

#include <osipparser2/osip_list.h>
#include <osipparser2/osip_port.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace rtplatch {

std::optional<UriParts> PartsOf(const osip_uri_t* u) {
  if (u == nullptr || u->host == nullptr || u->host[0] == '\0') return std::nullopt;
  UriParts p;
  p.sips = u->scheme != nullptr && absl::EqualsIgnoreCase(u->scheme, "sips");
  if (p.sips) p.port = kSipsDefaultPort;
  if (u->username != nullptr) p.user = u->username;
  p.host = u->host;
  if (u->port != nullptr) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(u->port, &port) || port == 0 || port > 65535) return std::nullopt;
    p.port = static_cast<uint16_t>(port);
    p.port_given = true;
  }
  for (int i = 0; i < osip_list_size(&u->url_params); ++i) {
    auto* param = static_cast<osip_uri_param_t*>(osip_list_get(&u->url_params, i));
    if (param != nullptr && param->gname != nullptr && param->gvalue != nullptr &&
        absl::EqualsIgnoreCase(param->gname, "transport")) {
      p.transport = absl::AsciiStrToLower(param->gvalue);
    }
  }
  return p;
}

std::optional<UriParts> ParseUri(absl::string_view text) {
  std::string s(text);
  if (!s.empty() && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  osip_uri_t* u = nullptr;
  if (osip_uri_init(&u) != OSIP_SUCCESS) return std::nullopt;
  std::optional<UriParts> out;
  if (osip_uri_parse(u, s.c_str()) == OSIP_SUCCESS) out = PartsOf(u);
  osip_uri_free(u);
  return out;
}

}  // namespace rtplatch
