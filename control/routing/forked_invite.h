// The response context of an INVITE forked to several branches (RFC 3261
// 16.7): which branch's answer goes to the caller and which branches get
// a CANCEL. Pure bookkeeping over branch indexes and status codes; the
// proxy sends the messages.
//
//   1xx          forwarded (early dialogs and early media from any branch)
//   first 2xx    forwarded; the branch wins; every open branch is CANCELled
//   later 2xx    not forwarded: the proxy releases that dialog (ACK + BYE)
//   6xx          forwarded at once; every open branch is CANCELled
//   other final  kept; when every branch is final and none answered, the
//                best one goes to the caller: the lowest class (4xx before
//                5xx), the first to arrive within a class
//   no response  (time-out or transport error) counts as a 408
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace rtplatch {

class ForkedInvite {
 public:
  struct Verdict {
    bool forward = false;         // this response goes to the caller
    bool release = false;         // a 2xx nobody wants: ACK and BYE it
    std::vector<size_t> cancel;   // open branches to CANCEL now
    // Every branch is final and none answered: forward best()'s response.
    bool forward_best = false;
  };

  explicit ForkedInvite(size_t branches) : final_(branches, 0) {}

  // `code` from branch `b` (0: no response at all).
  Verdict OnResponse(size_t b, int code);
  // The caller gave up (CANCEL, timer C): the branches to CANCEL.
  std::vector<size_t> OnCallerCancel();

  std::optional<size_t> winner() const { return winner_; }
  // The branch whose final answer is the best so far (see above).
  std::optional<size_t> best() const { return best_; }
  bool finished() const;
  size_t size() const { return final_.size(); }
  bool open(size_t b) const { return final_[b] == 0; }

 private:
  std::vector<size_t> OpenBranches(size_t except) const;

  std::vector<int> final_;  // per branch: its final code, 0 while open
  std::optional<size_t> winner_;
  std::optional<size_t> best_;
  bool ended_ = false;  // a 2xx or 6xx went to the caller
};

}  // namespace rtplatch
