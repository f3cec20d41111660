#include "control/ng/ng_commands.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace rtplatch {

BencodeValue HandleNgCommand(const NgRequest& request) {
  if (request.command == "ping") {
    BencodeValue pong = BencodeValue::Dictionary();
    pong.Set("result", BencodeValue::String("pong"));
    return pong;
  }
  for (const char* pending : {"offer", "answer", "delete", "query", "list", "statistics"}) {
    if (request.command == pending) {
      return NgErrorReply(
          absl::StrCat("'", request.command, "' is not served by this rtplatch yet"));
    }
  }
  return NgErrorReply("Unrecognized command");
}

}  // namespace rtplatch
