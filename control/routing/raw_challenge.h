// A REGISTER the registrar would only challenge, told from its raw lines:
// no credentials, no option tags to check, addressed to our domain, a To
// user plainly written. Its 401 is then built from the raw lines too
// (control/guard/raw_response.h), statelessly as Kamailio's www_challenge
// does, at a small part of a parse's cost: half of a digest registration's
// requests are this one. Anything less plain returns nullopt and takes
// the parse, which answers it as before (400, 403, 404, 420 or 401).
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "control/guard/raw_sip_head.h"

namespace rtplatch {

// The To user to challenge, or nullopt. `domain`: the registrar's, in
// lowercase; the Request-URI's host and the To URI's host must be it.
std::optional<std::string> ChallengeableRegisterUser(const RawSipHead& head,
                                                     absl::string_view domain);

}  // namespace rtplatch
