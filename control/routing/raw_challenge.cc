#include "control/routing/raw_challenge.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace rtplatch {
namespace {

// RFC 3261's unreserved characters: a user with none other needs no
// unescaping, so the raw text is what the parse would read.
bool PlainUserChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("-_.!~*'()+").find(c) != absl::string_view::npos;
}

bool PlainHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

// "sip:<host>[:port][;params]" with host == domain.
bool UriHostIs(absl::string_view uri, absl::string_view domain) {
  if (!absl::ConsumePrefix(&uri, "sip:")) return false;
  size_t end = 0;
  while (end < uri.size() && PlainHostChar(uri[end])) ++end;
  if (end < uri.size() && uri[end] != ':' && uri[end] != ';' && uri[end] != '>') return false;
  return absl::EqualsIgnoreCase(uri.substr(0, end), domain);
}

}  // namespace

std::optional<std::string> ChallengeableRegisterUser(const RawSipHead& head,
                                                     absl::string_view domain) {
  if (head.is_response || head.method != "REGISTER" || head.credentials || head.extensions ||
      head.to_tag || head.to_headers != 1 || head.call_id.empty()) {
    return std::nullopt;
  }
  if (!UriHostIs(head.request_uri, domain) || head.request_uri.find('@') != absl::string_view::npos) {
    return std::nullopt;
  }
  // "<sip:user@host...>..." or "sip:user@host...": no display name (a
  // quoted one may hold anything; the parse reads those).
  absl::string_view to = head.to;
  const bool angle = absl::ConsumePrefix(&to, "<");
  if (!absl::ConsumePrefix(&to, "sip:")) return std::nullopt;
  size_t at = 0;
  while (at < to.size() && PlainUserChar(to[at])) ++at;
  if (at == 0 || at >= to.size() || to[at] != '@') return std::nullopt;
  const absl::string_view user = to.substr(0, at);
  absl::string_view host = to.substr(at + 1);
  size_t end = 0;
  while (end < host.size() && PlainHostChar(host[end])) ++end;
  const char after = end < host.size() ? host[end] : '\0';
  if (angle ? (after != '>' && after != ';' && after != ':')
            : (after != ';' && after != ':' && after != '\0')) {
    return std::nullopt;
  }
  if (!absl::EqualsIgnoreCase(host.substr(0, end), domain)) return std::nullopt;
  return std::string(user);
}

}  // namespace rtplatch
