// The overload shedder's settings (overload_shedder.h) and their JSON
// form.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

// The "overload" object of rtplatch-control's config; every field
// optional, unknown fields refused:
//   "overload": {"enabled": true, "interval_ms": 500, "enter_delay_ms": 200,
//                "leave_delay_ms": 50, "retry_after_s": 5}
struct OverloadConfig {
  bool enabled = true;
  // Over this long, the shortest queueing delay of the datagrams decides.
  int64_t interval_ms = 500;
  // Well under SIP's T1 (500 ms): a request that waited this long is
  // close to being retransmitted, which adds load instead of service.
  int64_t enter_delay_ms = 200;
  int64_t leave_delay_ms = 50;
  uint32_t retry_after_s = 5;
  // Call-IDs of INVITEs and REGISTERs admitted before an overload,
  // remembered for 32 to 64 s (Timer F is 64 x T1 = 32 s), 8 bytes each
  // (admitted_calls.h): 2 097 152 holds 32 s of new requests at 32 000 a
  // second, more than one core serves.
  size_t max_admitted_calls = size_t{1} << 21;
};

// Errors name the field: "config: overload.enter_delay_ms: ...".
absl::StatusOr<OverloadConfig> ParseOverloadConfig(const nlohmann::json& j);

}  // namespace rtplatch
