#include "common/latch_policy.h"

namespace rtplatch {

std::string_view LatchPolicyName(LatchPolicy p) {
  switch (p) {
    case LatchPolicy::kLearn: return "learn";
    case LatchPolicy::kStrict: return "strict";
    case LatchPolicy::kAsymmetric: return "asymmetric";
  }
  return "?";
}

bool ParseLatchPolicy(std::string_view text, LatchPolicy* out) {
  for (LatchPolicy p : {LatchPolicy::kLearn, LatchPolicy::kStrict, LatchPolicy::kAsymmetric}) {
    if (text == LatchPolicyName(p)) {
      *out = p;
      return true;
    }
  }
  return false;
}

}  // namespace rtplatch
