#include "dataplane/fastpath/flow.h"

namespace rtplatch {

std::string_view LatchPolicyName(LatchPolicy p) {
  switch (p) {
    case LatchPolicy::kLearn: return "learn";
    case LatchPolicy::kStrict: return "strict";
    case LatchPolicy::kAsymmetric: return "asymmetric";
  }
  return "?";
}

std::string_view LatchStateName(LatchState s) {
  switch (s) {
    case LatchState::kFree: return "free";
    case LatchState::kUnlatched: return "unlatched";
    case LatchState::kLearning: return "learning";
    case LatchState::kLocked: return "locked";
  }
  return "?";
}

bool ParseLatchPolicy(std::string_view text, LatchPolicy* out) {
  for (LatchPolicy p : {LatchPolicy::kLearn, LatchPolicy::kStrict,
                        LatchPolicy::kAsymmetric}) {
    if (text == LatchPolicyName(p)) {
      *out = p;
      return true;
    }
  }
  return false;
}

}  // namespace rtplatch
