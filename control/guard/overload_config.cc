#include "control/guard/overload_config.h"

#include "common/json_protocol.h"

namespace rtplatch {
namespace {

constexpr absl::string_view kWhere = "config: overload.";

}  // namespace

absl::StatusOr<OverloadConfig> ParseOverloadConfig(const nlohmann::json& j) {
  OverloadConfig c;
  if (!j.is_object()) return absl::InvalidArgumentError("config: overload: must be an object");
  if (absl::Status s = CheckKnownFields(j,
                                        {"enabled", "interval_ms", "enter_delay_ms", "leave_delay_ms",
                                         "retry_after_s", "max_admitted_calls"},
                                        kWhere);
      !s.ok()) {
    return s;
  }
  for (absl::Status s : {
           ReadBoolInto(j, "enabled", kWhere, &c.enabled),
           ReadUnsignedInto(j, "interval_ms", 10, 60'000, kWhere, &c.interval_ms),
           ReadUnsignedInto(j, "enter_delay_ms", 10, 30'000, kWhere, &c.enter_delay_ms),
           ReadUnsignedInto(j, "leave_delay_ms", 0, 30'000, kWhere, &c.leave_delay_ms),
           ReadUnsignedInto(j, "retry_after_s", 1, 3600, kWhere, &c.retry_after_s),
           ReadUnsignedInto(j, "max_admitted_calls", 0, 100'000'000, kWhere,
                            &c.max_admitted_calls),
       }) {
    if (!s.ok()) return s;
  }
  if (c.leave_delay_ms >= c.enter_delay_ms) {
    return FieldError(kWhere, "leave_delay_ms",
                      "must be below enter_delay_ms (else the shedder never settles)");
  }
  return c;
}

}  // namespace rtplatch
