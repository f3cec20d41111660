// One ng datagram (control/ng/ng_message.h): cookie, then a bencoded or
// JSON dictionary, then the command's options (control/ng/ng_options.h),
// as the ng server reads them before any call is touched. The reply to a
// request that parsed must be formattable in its encoding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/ng/bencode.h"
#include "control/ng/ng_message.h"
#include "control/ng/ng_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string cookie;
  absl::StatusOr<rtplatch::NgRequest> request = rtplatch::ParseNgRequest(
      absl::string_view(reinterpret_cast<const char*>(data), size), &cookie);
  if (!request.ok()) {
    if (!cookie.empty()) {
      (void)rtplatch::FormatNgReply(cookie, rtplatch::NgErrorReply("fuzz"),
                                    rtplatch::NgEncoding::kBencode);
    }
    return 0;
  }
  (void)rtplatch::ParseNgOptions(*request);
  (void)rtplatch::FormatNgReply(request->cookie, request->dictionary, request->encoding);
  return 0;
}
