// An endpoint written in a test ("203.0.113.7:5060"): a test that
// mistypes one fails there, not later on an unset endpoint.
#pragma once

#include <gtest/gtest.h>

#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace rtplatch {

inline Endpoint Ep(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << text;
  return e.ok() ? *e : Endpoint{};
}

}  // namespace rtplatch
