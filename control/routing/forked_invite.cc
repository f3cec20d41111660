#include "control/routing/forked_invite.h"

namespace rtplatch {

std::vector<size_t> ForkedInvite::OpenBranches(size_t except) const {
  std::vector<size_t> out;
  for (size_t b = 0; b < final_.size(); ++b) {
    if (b != except && final_[b] == 0) out.push_back(b);
  }
  return out;
}

bool ForkedInvite::finished() const {
  for (int code : final_) {
    if (code == 0) return false;
  }
  return true;
}

ForkedInvite::Verdict ForkedInvite::OnResponse(size_t b, int code) {
  Verdict v;
  if (b >= final_.size() || final_[b] != 0) return v;  // a branch answers once
  if (code >= 100 && code < 200) {
    v.forward = !ended_;
    return v;
  }
  final_[b] = code == 0 ? 408 : code;
  const int c = final_[b];
  if (c < 300) {
    if (ended_) {
      v.release = true;
      return v;
    }
    ended_ = true;
    winner_ = b;
    v.forward = true;
    v.cancel = OpenBranches(b);
    return v;
  }
  if (ended_) return v;
  if (c >= 600) {
    ended_ = true;
    best_ = b;
    v.forward = true;
    v.cancel = OpenBranches(b);
    return v;
  }
  if (!best_ || c / 100 < final_[*best_] / 100) best_ = b;
  if (finished()) {
    ended_ = true;
    v.forward_best = true;
  }
  return v;
}

std::vector<size_t> ForkedInvite::OnCallerCancel() {
  if (ended_) return {};
  return OpenBranches(final_.size());
}

}  // namespace rtplatch
