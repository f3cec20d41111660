// REGISTERs challenged from their raw lines (control/routing/
// raw_challenge.h), from any bytes: whenever the raw path would answer
// (a user to challenge and a 401 built from the lines), the 401 must
// parse, and if the request parses too, the parser must read the same
// thing: a REGISTER without credentials, for that To user of our domain.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/guard/raw_response.h"
#include "control/guard/raw_sip_head.h"
#include "control/routing/raw_challenge.h"
#include "control/sip/sip_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtplatch;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string> user = ChallengeableRegisterUser(SniffSipHead(bytes), "example.test");
  if (!user) return 0;
  const std::optional<std::string> challenge = RawStatelessResponse(
      bytes, *Endpoint::Parse("203.0.113.30:40001"), 401, "Unauthorized", "rtplatch-fuzz",
      {"WWW-Authenticate: Digest realm=\"example.test\", nonce=\"n\", algorithm=MD5"});
  if (!challenge) return 0;
  if (!SipMessage::Parse(*challenge).ok()) __builtin_trap();
  absl::StatusOr<SipMessage> request = SipMessage::Parse(bytes);
  if (!request.ok()) return 0;  // the parse says 400 later, when credentials come
  if (request->method() != "REGISTER" || request->to().user != *user ||
      absl::AsciiStrToLower(request->to().host) != "example.test" ||
      !request->header_values("Authorization").empty()) {
    __builtin_trap();
  }
  return 0;
}
