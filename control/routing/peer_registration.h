// Our registration with a peer that wants one (a trunk that sends us calls
// only while we are registered): when to send the next REGISTER, what the
// peer last said, and how long the binding holds. The proxy sends the
// messages; this is the bookkeeping, driven by time and answers.
//
//   not registered  REGISTER now, then after each failure every kRetryMs
//   200             registered for the expiry the peer granted; refreshed
//                   at half of it (at least kMinRefreshMs apart)
//   401/407         answered once with the peer's credentials (the
//                   proxy's part); a second one is a failure
//   other answer    a failure (last_code / last_error), retried
//   withdrawn       (the peer left the config at a reload) one REGISTER
//                   with Expires: 0 if we were registered, then nothing
#pragma once

#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"

namespace rtplatch {

struct PeerRegistrationConfig {
  std::string aor;           // "sip:edge@carrier.example"; empty: no registration
  std::string contact_user;  // the user part of our Contact (default: the AOR's)
  uint32_t expires_s = 600;
  friend bool operator==(const PeerRegistrationConfig&, const PeerRegistrationConfig&) = default;
};

class PeerRegistration {
 public:
  static constexpr int64_t kRetryMs = 30'000;
  static constexpr int64_t kMinRefreshMs = 10'000;

  explicit PeerRegistration(PeerRegistrationConfig config);

  // A REGISTER should go now: its time has come (a REGISTER in flight
  // without an answer for kRetryMs counts as lost).
  bool Due(int64_t now_ms) const { return !withdrawn_ && now_ms >= next_ms_; }
  // Ends the registration: an un-REGISTER is due at once when we are (or
  // may be) registered; withdrawn() once it is answered or not needed.
  // A REGISTER in flight is answered first (it may register us, which
  // the un-REGISTER then undoes).
  void Withdraw(int64_t now_ms);
  bool withdrawing() const { return withdrawing_ && !withdrawn_; }
  bool withdrawn() const { return withdrawn_; }
  // The REGISTER in flight is the un-REGISTER.
  bool unregister_in_flight() const { return in_flight_ && unregistering_; }
  // Unique per object: an answer to a REGISTER that an object replaced
  // (reload) sent is not this one's.
  uint64_t id() const { return id_; }
  // The Expires of the next REGISTER: 0 while withdrawing.
  uint32_t expires_to_send() const { return withdrawing_ ? 0 : config_.expires_s; }
  // A REGISTER went out (CSeq increments per request).
  uint32_t Sent(int64_t now_ms);
  // Its final answer: `code` (0: no answer), and the expiry granted by a 200.
  void Answered(int code, uint32_t granted_s, const std::string& error, int64_t now_ms);
  // A challenge is being answered: the next REGISTER goes at once.
  void Challenged() { in_flight_ = false; }

  bool registered(int64_t now_ms) const { return registered_until_ms_ > now_ms; }
  const PeerRegistrationConfig& config() const { return config_; }
  const std::string& call_id() const { return call_id_; }
  void set_call_id(std::string id) { call_id_ = std::move(id); }
  nlohmann::json ToJson(int64_t now_ms) const;

 private:
  void RecordAnswer(int code, uint32_t granted_s, const std::string& error, int64_t now_ms);

  PeerRegistrationConfig config_;
  std::string call_id_;
  uint32_t cseq_ = 0;
  bool in_flight_ = false;
  int64_t next_ms_ = 0;
  int64_t registered_until_ms_ = 0;
  int last_code_ = 0;
  std::string last_error_;
  uint64_t sent_ = 0;
  uint64_t failures_ = 0;
  bool withdrawing_ = false;
  bool withdrawn_ = false;
  bool unregistering_ = false;  // the last REGISTER sent had Expires: 0
  uint64_t id_ = 0;
};

}  // namespace rtplatch
