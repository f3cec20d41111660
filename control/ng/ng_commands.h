// The ng commands rtplatch answers (issue 14, in progress): `ping` ->
// `pong`. The call commands (offer, answer, delete, query, list,
// statistics) are not served yet: they get an error reply that says so,
// so a client falls back to its next node rather than believing a call
// was anchored. Unknown commands get rtpengine's "Unrecognized command".
#pragma once

#include "control/ng/bencode.h"
#include "control/ng/ng_message.h"

namespace rtplatch {

BencodeValue HandleNgCommand(const NgRequest& request);

}  // namespace rtplatch
