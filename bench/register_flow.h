// A phone's digest REGISTER, as the bench's load generators play it:
// REGISTER, 401 with an MD5 challenge, REGISTER with Authorization (same
// Call-ID, next CSeq), 200. Over TLS one transaction at a time per
// connection, as a phone registers (tls_register_load); over UDP one flow
// per transaction (udp_register_storm). Answers that belong to an
// earlier, abandoned transaction (another Call-ID or CSeq) are ignored.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rtplatch::bench {

struct Phone {
  std::string user;
  std::string password;
};

// The phones of a "user password" per line file (--users of the load
// generators); an error names the path.
absl::StatusOr<std::vector<Phone>> LoadPhones(const std::string& path);

enum class FlowOutcome { kPending, kCompleted, kFailed };

struct FlowStep {
  FlowOutcome outcome = FlowOutcome::kPending;
  std::string send;   // the next request, when there is one
  std::string error;  // why it failed
};

class RegisterFlow {
 public:
  // `via_host_port`: the connection's local address (Via sent-by and
  // Contact: neither server sees NAT); `tag`: unique per connection.
  // `transport`: "TLS" or "UDP" (the Via's, and the Contact's parameter
  // for TLS). `user_agent`: the phones' User-Agent; a refresh with
  // another than the binding's is a change of the binding, not a refresh.
  RegisterFlow(std::string domain, std::string via_host_port, std::string tag,
               std::string transport = "TLS",
               std::string user_agent = "rtplatch-bench-register-load")
      : domain_(std::move(domain)), via_host_port_(std::move(via_host_port)),
        tag_(std::move(tag)), transport_(std::move(transport)),
        user_agent_(std::move(user_agent)) {}

  bool busy() const { return state_ != State::kIdle; }
  // Starts a transaction for `phone` (which must outlive it): the first
  // REGISTER, to be sent.
  std::string Start(const Phone& phone, uint64_t transaction);
  // A message read from the connection.
  FlowStep OnMessage(absl::string_view message);
  // Gives up on the running transaction (timed out).
  void Abandon() { state_ = State::kIdle; }
  const std::string& call_id() const { return call_id_; }

 private:
  enum class State { kIdle, kAwaitChallenge, kAwaitOk };
  std::string Request(int cseq, absl::string_view authorization) const;
  FlowStep Fail(std::string error);

  const std::string domain_;
  const std::string via_host_port_;
  const std::string tag_;
  const std::string transport_;
  const std::string user_agent_;
  State state_ = State::kIdle;
  const Phone* phone_ = nullptr;
  std::string call_id_;
  uint64_t transaction_ = 0;
};

}  // namespace rtplatch::bench
