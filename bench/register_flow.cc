#include "bench/register_flow.h"

#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/sip_digest_md5.h"
#include "bench/sip_stream_framer.h"

namespace rtplatch::bench {
namespace {

// Granted by both servers (their maximum is 3600): the bindings outlive
// the run, so every REGISTER after a user's first is a refresh.
constexpr int kExpiresS = 3600;

}  // namespace

absl::StatusOr<std::vector<Phone>> LoadPhones(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--users '", path, "': cannot open"));
  std::vector<Phone> users;
  Phone phone;
  while (in >> phone.user >> phone.password) users.push_back(phone);
  if (users.empty()) return absl::InvalidArgumentError(absl::StrCat("--users '", path, "': empty"));
  return users;
}

std::string RegisterFlow::Start(const Phone& phone, uint64_t transaction) {
  phone_ = &phone;
  transaction_ = transaction;
  call_id_ = absl::StrCat(tag_, "-", transaction, "@bench-load");
  state_ = State::kAwaitChallenge;
  return Request(1, "");
}

std::string RegisterFlow::Request(int cseq, absl::string_view authorization) const {
  std::string request = absl::StrCat(
      "REGISTER sip:", domain_, " SIP/2.0\r\n",
      "Via: SIP/2.0/", transport_, " ", via_host_port_, ";branch=z9hG4bK-", tag_, "-", transaction_,
      "-", cseq,
      ";rport\r\n",
      "Max-Forwards: 70\r\n",
      "From: <sip:", phone_->user, "@", domain_, ">;tag=", tag_, "t", transaction_, "\r\n",
      "To: <sip:", phone_->user, "@", domain_, ">\r\n",
      "Call-ID: ", call_id_, "\r\n",
      "CSeq: ", cseq, " REGISTER\r\n",
      "Contact: <sip:", phone_->user, "@", via_host_port_,
      transport_ == "TLS" ? ";transport=tls" : "", ">\r\n",
      "Expires: ", kExpiresS, "\r\n",
      "User-Agent: ", user_agent_, "\r\n");
  if (!authorization.empty()) absl::StrAppend(&request, "Authorization: ", authorization, "\r\n");
  absl::StrAppend(&request, "Content-Length: 0\r\n\r\n");
  return request;
}

FlowStep RegisterFlow::Fail(std::string error) {
  state_ = State::kIdle;
  return FlowStep{FlowOutcome::kFailed, "", std::move(error)};
}

FlowStep RegisterFlow::OnMessage(absl::string_view message) {
  const int code = StatusCode(message);
  if (state_ == State::kIdle || code == 0) return {};
  const std::vector<absl::string_view> call_ids = HeaderValues(message, "Call-ID", 'i');
  const std::vector<absl::string_view> cseqs = HeaderValues(message, "CSeq");
  const int cseq = state_ == State::kAwaitChallenge ? 1 : 2;
  if (call_ids.empty() || call_ids[0] != call_id_ || cseqs.empty() ||
      !absl::StartsWith(cseqs[0], absl::StrCat(cseq, " "))) {
    return {};  // an abandoned transaction's late answer
  }
  if (code < 200) return {};
  if (state_ == State::kAwaitChallenge && code == 401) {
    const std::optional<DigestChallenge> challenge =
        FindMd5Challenge(HeaderValues(message, "WWW-Authenticate"));
    if (!challenge) return Fail("401 without an MD5 digest challenge");
    const std::string uri = absl::StrCat("sip:", domain_);
    const std::string authorization =
        AnswerMd5(*challenge, DigestCredentials{phone_->user, phone_->password}, "REGISTER", uri,
                  absl::StrCat(tag_, "c", transaction_), 1);
    state_ = State::kAwaitOk;
    return FlowStep{FlowOutcome::kPending, Request(2, authorization), ""};
  }
  if (state_ == State::kAwaitOk && code == 200) {
    state_ = State::kIdle;
    return FlowStep{FlowOutcome::kCompleted, "", ""};
  }
  // 200 to the first REGISTER: the server did not challenge, which this
  // scenario is not about; anything else is the server's refusal.
  const size_t line_end = message.find("\r\n");
  return Fail(absl::StrCat("CSeq ", cseq, " answered '", message.substr(0, line_end), "'"));
}

}  // namespace rtplatch::bench
