#include "dataplane/fastpath/flow.h"

namespace rtplatch {

std::string_view LatchStateName(LatchState s) {
  switch (s) {
    case LatchState::kFree: return "free";
    case LatchState::kUnlatched: return "unlatched";
    case LatchState::kLearning: return "learning";
    case LatchState::kLocked: return "locked";
  }
  return "?";
}

}  // namespace rtplatch
