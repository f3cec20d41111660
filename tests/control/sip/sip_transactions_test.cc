#include "control/sip/sip_transactions.h"

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/sip/sip_response.h"
#include "tests/control/sip/sip_text.h"
#include "gtest/gtest.h"

namespace rtplatch {
namespace {

const Endpoint kPhone{*IpAddress::Parse("192.0.2.10"), 5062};
const Endpoint kUs{*IpAddress::Parse("203.0.113.1"), 5060};

struct Sent {
  std::string bytes;
  SipRoute route;
};

class Recorder : public SipTransactions::Listener {
 public:
  void OnRequest(SipTxnId txn, SipMessage& request, const SipInbound&) override {
    requests.push_back({txn, request.method()});
  }
  void OnStrayAck(SipMessage&, const SipInbound&) override { ++stray_acks; }
  void OnStrayResponse(SipMessage& r, const SipInbound&) override {
    stray_responses.push_back(r.status_code());
  }
  void OnResponse(SipTxnId txn, SipMessage& r) override {
    responses.push_back({txn, r.status_code()});
  }
  void OnClientFailure(SipTxnId txn, bool timeout) override {
    failures.push_back({txn, timeout});
  }
  void OnTransactionEnd(SipTxnId txn) override { ended.push_back(txn); }

  std::vector<std::pair<SipTxnId, std::string>> requests;
  std::vector<std::pair<SipTxnId, int>> responses;
  std::vector<int> stray_responses;
  std::vector<std::pair<SipTxnId, bool>> failures;
  std::vector<SipTxnId> ended;
  int stray_acks = 0;
};

std::string Request(absl::string_view method, absl::string_view branch, int cseq,
                    absl::string_view cseq_method = "", absl::string_view transport = "UDP") {
  return absl::StrCat(method, " sip:bob@example.org SIP/2.0\r\n", "Via: SIP/2.0/", transport,
                      " 192.0.2.10:5062;branch=", branch, ";rport\r\n",
                      "From: <sip:alice@example.org>;tag=a1\r\n", "To: <sip:bob@example.org>\r\n",
                      "Call-ID: call-1@192.0.2.10\r\n", "CSeq: ", cseq, " ",
                      cseq_method.empty() ? method : cseq_method, "\r\n",
                      "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
}

std::string Response(int code, absl::string_view reason, absl::string_view branch, int cseq,
                     absl::string_view method) {
  return absl::StrCat("SIP/2.0 ", code, " ", reason, "\r\n", "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=",
                      branch, "\r\n", "From: <sip:alice@example.org>;tag=a1\r\n",
                      "To: <sip:bob@example.org>;tag=b1\r\n", "Call-ID: call-1@192.0.2.10\r\n",
                      "CSeq: ", cseq, " ", method, "\r\nContent-Length: 0\r\n\r\n");
}

// A listener that answers inside OnRequest, as the registrar does.
class AnsweringListener : public Recorder {
 public:
  void OnRequest(SipTxnId txn, SipMessage& request, const SipInbound& in) override {
    Recorder::OnRequest(txn, request, in);
    if (answer) answer(txn, request);
  }
  std::function<void(SipTxnId, const SipMessage&)> answer;
};

class SipTransactionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = SipTransactions::Create(recorder_, [this](absl::string_view bytes, const SipRoute& r) {
      sent_.push_back({std::string(bytes), r});
      return absl::OkStatus();
    });
    ASSERT_TRUE(t.ok()) << t.status();
    txns_ = *std::move(t);
  }

  void Deliver(const std::string& text, SipTransportKind transport = SipTransportKind::kUdp) {
    auto m = SipMessage::Parse(text);
    ASSERT_TRUE(m.ok()) << m.status();
    SipInbound in;
    in.bytes = text;
    in.source = kPhone;
    in.local = kUs;
    in.transport = transport;
    in.channel = 7;
    txns_->Receive(*std::move(m), in);
  }

  SipMessage ResponseTo(SipTxnId txn, int code, absl::string_view reason) {
    const SipMessage* req = txns_->ServerRequest(txn);
    EXPECT_NE(req, nullptr);
    auto text = BuildResponse(*req, code, reason, "", {});
    EXPECT_TRUE(text.ok());
    auto m = SipMessage::Parse(*text);
    EXPECT_TRUE(m.ok());
    return *std::move(m);
  }

  SipMessage Outgoing(absl::string_view method, const std::string& branch) {
    std::string text = absl::StrCat(method, " sip:bob@192.0.2.20:5070 SIP/2.0\r\n",
                                    "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=", branch, "\r\n",
                                    "From: <sip:alice@example.org>;tag=a1\r\n",
                                    "To: <sip:bob@example.org>\r\n", "Call-ID: call-1@192.0.2.10\r\n",
                                    "CSeq: 1 ", method, "\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n");
    auto m = SipMessage::Parse(text);
    EXPECT_TRUE(m.ok()) << m.status();
    return *std::move(m);
  }

  static int Code(const std::string& bytes) {
    auto m = SipMessage::Parse(bytes);
    return m.ok() ? m->status_code() : -1;
  }
  static std::string Method(const std::string& bytes) {
    auto m = SipMessage::Parse(bytes);
    return m.ok() ? m->method() : "";
  }

  AnsweringListener recorder_;  // answers nothing unless a test sets `answer`
  std::vector<Sent> sent_;
  std::unique_ptr<SipTransactions> txns_;
};

TEST_F(SipTransactionsTest, InviteRetransmissionIsAbsorbedAndAnsweredAgain) {
  Deliver(Request("INVITE", "z9hG4bKinv1", 1));
  ASSERT_EQ(recorder_.requests.size(), 1u);
  const SipTxnId txn = recorder_.requests[0].first;
  ASSERT_TRUE(txns_->Respond(txn, ResponseTo(txn, 180, "Ringing")).ok());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(Code(sent_[0].bytes), 180);
  EXPECT_EQ(sent_[0].route.dest, kPhone);  // symmetric: the source, not the Via
  EXPECT_EQ(sent_[0].route.channel, 7u);

  Deliver(Request("INVITE", "z9hG4bKinv1", 1));  // retransmission
  EXPECT_EQ(recorder_.requests.size(), 1u);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(Code(sent_[1].bytes), 180);  // the last response, again
  EXPECT_EQ(txns_->counters().retransmissions_absorbed, 1u);

  ASSERT_TRUE(txns_->Respond(txn, ResponseTo(txn, 486, "Busy Here")).ok());
  EXPECT_EQ(Code(sent_.back().bytes), 486);
  EXPECT_FALSE(txns_->Respond(txn, ResponseTo(txn, 500, "Again")).ok());

  // The ACK for the 486 carries the INVITE's branch: absorbed, not routed.
  Deliver(Request("ACK", "z9hG4bKinv1", 1));
  EXPECT_EQ(recorder_.stray_acks, 0);
  EXPECT_EQ(recorder_.requests.size(), 1u);
}

TEST_F(SipTransactionsTest, AckForA2xxHasItsOwnBranchAndGoesToTheProxy) {
  Deliver(Request("INVITE", "z9hG4bKinv2", 1));
  const SipTxnId txn = recorder_.requests.at(0).first;
  ASSERT_TRUE(txns_->Respond(txn, ResponseTo(txn, 200, "OK")).ok());
  Deliver(Request("ACK", "z9hG4bKack2", 1));
  EXPECT_EQ(recorder_.stray_acks, 1);
}

// Memory is bounded: past the cap the oldest completed transaction is
// forgotten (counted), so its retransmission is a new request, while the
// newest are still absorbed.
TEST_F(SipTransactionsTest, CompletedTransactionsBeyondTheCapAreForgottenOldestFirst) {
  auto capped = SipTransactions::Create(
      recorder_,
      [this](absl::string_view bytes, const SipRoute& r) {
        sent_.push_back({std::string(bytes), r});
        return absl::OkStatus();
      },
      /*max_completed=*/3);
  ASSERT_TRUE(capped.ok()) << capped.status();
  txns_ = *std::move(capped);
  for (int i = 1; i <= 5; ++i) {
    Deliver(Request("REGISTER", absl::StrCat("z9hG4bKcap", i), i));
    const SipTxnId txn = recorder_.requests.back().first;
    ASSERT_TRUE(txns_->Respond(txn, ResponseTo(txn, 200, "OK")).ok());
  }
  ASSERT_EQ(recorder_.requests.size(), 5u);
  EXPECT_EQ(txns_->counters().completed_evicted, 2u);
  Deliver(Request("REGISTER", "z9hG4bKcap5", 5));  // newest: absorbed
  Deliver(Request("REGISTER", "z9hG4bKcap3", 3));  // oldest kept: absorbed
  EXPECT_EQ(recorder_.requests.size(), 5u);
  EXPECT_EQ(txns_->counters().retransmissions_absorbed, 2u);
  Deliver(Request("REGISTER", "z9hG4bKcap1", 1));  // forgotten: handled anew
  EXPECT_EQ(recorder_.requests.size(), 6u);
}

TEST_F(SipTransactionsTest, InviteRetransmittedAfterIts2xxIsAbsorbed) {
  // RFC 6026 "Accepted": the caller retransmits its INVITE while our 200
  // is on the way; that copy must not become a second call.
  Deliver(Request("INVITE", "z9hG4bKinv6026", 1));
  ASSERT_EQ(recorder_.requests.size(), 1u);
  const SipTxnId txn = recorder_.requests[0].first;
  ASSERT_TRUE(txns_->Respond(txn, ResponseTo(txn, 200, "OK")).ok());
  const size_t sent = sent_.size();
  Deliver(Request("INVITE", "z9hG4bKinv6026", 1));
  EXPECT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(sent_.size(), sent);  // absorbed: the callee retransmits 2xx itself
  EXPECT_EQ(txns_->counters().retransmissions_absorbed, 1u);
}

TEST_F(SipTransactionsTest, RegisterRetransmissionNeverReachesTheRegistrarTwice) {
  Deliver(Request("REGISTER", "z9hG4bKreg1", 5));
  ASSERT_EQ(recorder_.requests.size(), 1u);
  const SipTxnId txn = recorder_.requests[0].first;
  ASSERT_TRUE(txns_->Respond(txn, ResponseTo(txn, 200, "OK")).ok());
  Deliver(Request("REGISTER", "z9hG4bKreg1", 5));
  Deliver(Request("REGISTER", "z9hG4bKreg1", 5));
  EXPECT_EQ(recorder_.requests.size(), 1u);
  ASSERT_EQ(sent_.size(), 3u);
  for (const Sent& s : sent_) EXPECT_EQ(Code(s.bytes), 200);
  // A new branch is a new request.
  Deliver(Request("REGISTER", "z9hG4bKreg2", 6));
  EXPECT_EQ(recorder_.requests.size(), 2u);
}

TEST_F(SipTransactionsTest, SameBranchFromAnotherSentByIsAnotherTransaction) {
  Deliver(Request("OPTIONS", "z9hG4bKsame", 1));
  std::string other = Request("OPTIONS", "z9hG4bKsame", 1);
  other.replace(other.find("192.0.2.10:5062"), 15, "192.0.2.11:5062");
  Deliver(other);
  EXPECT_EQ(recorder_.requests.size(), 2u);
}

TEST_F(SipTransactionsTest, CancelFindsItsInvite) {
  Deliver(Request("INVITE", "z9hG4bKinv3", 1));
  const SipTxnId invite = recorder_.requests.at(0).first;
  Deliver(Request("CANCEL", "z9hG4bKinv3", 1));
  ASSERT_EQ(recorder_.requests.size(), 2u);
  EXPECT_EQ(recorder_.requests[1].second, "CANCEL");
  const SipMessage* cancel = txns_->ServerRequest(recorder_.requests[1].first);
  ASSERT_NE(cancel, nullptr);
  EXPECT_EQ(txns_->FindServerInvite(*cancel), invite);
}

TEST_F(SipTransactionsTest, ClientInviteDeliversResponsesAndAcksFailures) {
  const std::string branch = txns_->NewBranch();
  SipRoute route{Endpoint{*IpAddress::Parse("192.0.2.20"), 5070}, SipTransportKind::kUdp, 3};
  auto txn = txns_->SendRequest(Outgoing("INVITE", branch), route);
  ASSERT_TRUE(txn.ok()) << txn.status();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(Method(sent_[0].bytes), "INVITE");
  EXPECT_EQ(sent_[0].route.dest, route.dest);

  Deliver(Response(180, "Ringing", branch, 1, "INVITE"));
  Deliver(Response(486, "Busy Here", branch, 1, "INVITE"));
  ASSERT_EQ(recorder_.responses.size(), 2u);
  EXPECT_EQ(recorder_.responses[0], std::make_pair(*txn, 180));
  EXPECT_EQ(recorder_.responses[1], std::make_pair(*txn, 486));
  // oSIP2's ICT acknowledged the 486 itself (RFC 3261 17.1.1.3).
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(Method(sent_[1].bytes), "ACK");
  EXPECT_TRUE(absl::StrContains(sent_[1].bytes, branch));
  // A retransmitted 486 is absorbed (ACK again), not delivered.
  Deliver(Response(486, "Busy Here", branch, 1, "INVITE"));
  EXPECT_EQ(recorder_.responses.size(), 2u);
}

// What oSIP2's transaction sends (OnOsipSend) carries the body exactly:
// an S/MIME signature (sip_text.h) would not verify otherwise.
TEST_F(SipTransactionsTest, ARequestGoesOutWithItsBinaryBodyByteForByte) {
  const std::string branch = txns_->NewBranch();
  const std::string body = testing::SignedBody();
  auto m = SipMessage::Parse(testing::SipText(
      absl::StrCat("MESSAGE sip:bob@192.0.2.20:5070 SIP/2.0\n",
                   "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=", branch, "\n",
                   "From: <sip:alice@example.org>;tag=a1\nTo: <sip:bob@example.org>\n",
                   "Call-ID: smime@192.0.2.10\nCSeq: 1 MESSAGE\nMax-Forwards: 69\n",
                   "MIME-Version: 1.0\nContent-Type: ", testing::kSignedContentType, "\n"),
      body));
  ASSERT_TRUE(m.ok()) << m.status();
  SipRoute route{Endpoint{*IpAddress::Parse("192.0.2.20"), 5070}, SipTransportKind::kUdp, 3};
  ASSERT_TRUE(txns_->SendRequest(*std::move(m), route).ok());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(
      sent_[0].bytes, absl::StrCat("\r\nContent-Length: ", body.size(), "\r\n\r\n", body)))
      << absl::CEscape(sent_[0].bytes);
}

TEST_F(SipTransactionsTest, A2xxRetransmissionAfterTheInviteEndedIsStray) {
  const std::string branch = txns_->NewBranch();
  SipRoute route{Endpoint{*IpAddress::Parse("192.0.2.20"), 5070}, SipTransportKind::kUdp, 3};
  auto txn = txns_->SendRequest(Outgoing("INVITE", branch), route);
  ASSERT_TRUE(txn.ok());
  Deliver(Response(200, "OK", branch, 1, "INVITE"));
  ASSERT_EQ(recorder_.responses.size(), 1u);
  Deliver(Response(200, "OK", branch, 1, "INVITE"));
  EXPECT_EQ(recorder_.responses.size(), 1u);
  EXPECT_EQ(recorder_.stray_responses, std::vector<int>{200});
  EXPECT_EQ(txns_->size(), 0u);
}

TEST_F(SipTransactionsTest, CancelWaitsForAProvisionalResponse) {
  const std::string branch = txns_->NewBranch();
  SipRoute route{Endpoint{*IpAddress::Parse("192.0.2.20"), 5070}, SipTransportKind::kUdp, 3};
  auto txn = txns_->SendRequest(Outgoing("INVITE", branch), route);
  ASSERT_TRUE(txn.ok());
  txns_->Cancel(*txn);
  ASSERT_EQ(sent_.size(), 1u);  // RFC 3261 9.1: not before a 1xx
  Deliver(Response(180, "Ringing", branch, 1, "INVITE"));
  ASSERT_EQ(sent_.size(), 2u);
  auto cancel = SipMessage::Parse(sent_[1].bytes);
  ASSERT_TRUE(cancel.ok()) << sent_[1].bytes;
  EXPECT_EQ(cancel->method(), "CANCEL");
  EXPECT_EQ(cancel->top_via().branch, branch);
  EXPECT_EQ(cancel->cseq_method(), "CANCEL");
  EXPECT_EQ(cancel->request_uri(), "sip:bob@192.0.2.20:5070");
  // The CANCEL's own 200 is absorbed; the INVITE's 487 is delivered.
  Deliver(Response(200, "OK", branch, 1, "CANCEL"));
  Deliver(Response(487, "Request Terminated", branch, 1, "INVITE"));
  ASSERT_EQ(recorder_.responses.size(), 2u);
  EXPECT_EQ(recorder_.responses[1].second, 487);
}

TEST_F(SipTransactionsTest, RejectsAckAndBranchlessClientRequests) {
  EXPECT_FALSE(txns_->SendRequest(Outgoing("ACK", txns_->NewBranch()),
                                  SipRoute{kPhone, SipTransportKind::kUdp, 1})
                   .ok());
  EXPECT_FALSE(txns_->SendRequest(Outgoing("BYE", "oldbranch"),
                                  SipRoute{kPhone, SipTransportKind::kUdp, 1})
                   .ok());
}

TEST_F(SipTransactionsTest, BranchesAreUniqueAndCarryTheMagicCookie) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string b = txns_->NewBranch();
    ASSERT_TRUE(absl::StartsWith(b, "z9hG4bK"));
    ASSERT_TRUE(seen.insert(b).second);
  }
}


// ---- requests answered at once, from OnRequest -------------------------------

class AnsweredAtOnceTest : public SipTransactionsTest {
 protected:
  static std::string Build(const SipMessage& request, int code, absl::string_view reason,
                           std::vector<std::string> headers = {}) {
    auto bytes = BuildResponse(request, code, reason, "rtplatch", headers);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : std::string();
  }
  AnsweringListener& listener_ = recorder_;
};

TEST_F(AnsweredAtOnceTest, RegisterAnsweredRawInOnRequestKeepsNoTransaction) {
  std::vector<absl::Status> results;
  listener_.answer = [&](SipTxnId txn, const SipMessage& request) {
    results.push_back(txns_->RespondRaw(
        txn, 200, Build(request, 200, "OK", {"Contact: <sip:alice@192.0.2.10:5062>;expires=300"})));
  };
  const std::string reg = Request("REGISTER", "z9hG4bKreg-now", 7);
  Deliver(reg);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0];
  ASSERT_EQ(sent_.size(), 1u) << "exactly one response";
  EXPECT_EQ(Code(sent_[0].bytes), 200);
  EXPECT_TRUE(absl::StrContains(sent_[0].bytes, ";expires=300"));
  EXPECT_EQ(sent_[0].route.dest, kPhone);
  EXPECT_EQ(sent_[0].route.channel, 7u);
  EXPECT_EQ(txns_->size(), 0u) << "no oSIP2 transaction kept";
  ASSERT_EQ(listener_.ended.size(), 1u);
  EXPECT_EQ(listener_.ended[0], listener_.requests[0].first);

  // Retransmissions: the same bytes from the completed cache, no listener.
  Deliver(reg);
  Deliver(reg);
  EXPECT_EQ(listener_.requests.size(), 1u);
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sent_[1].bytes, sent_[0].bytes);
  EXPECT_EQ(sent_[2].bytes, sent_[0].bytes);
  EXPECT_EQ(sent_[2].route.dest, kPhone);
  EXPECT_EQ(txns_->counters().retransmissions_absorbed, 2u);
  EXPECT_EQ(txns_->size(), 0u);
  txns_->RunTimers();
  EXPECT_EQ(txns_->size(), 0u);
}

TEST_F(AnsweredAtOnceTest, RegisterAnsweredWithRespondInOnRequest) {
  listener_.answer = [&](SipTxnId txn, const SipMessage& request) {
    auto response = SipMessage::Parse(Build(request, 401, "Unauthorized",
                                            {"WWW-Authenticate: Digest realm=\"example.org\", "
                                             "nonce=\"f84f1cec41e6cbe5aea9c8e88d359\""}));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_TRUE(txns_->Respond(txn, *std::move(response)).ok());
  };
  const std::string reg = Request("REGISTER", "z9hG4bKreg-401", 1);
  Deliver(reg);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(Code(sent_[0].bytes), 401);
  EXPECT_TRUE(absl::StrContains(sent_[0].bytes, "WWW-Authenticate"));
  EXPECT_EQ(txns_->size(), 0u);
  Deliver(reg);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].bytes, sent_[0].bytes);
  EXPECT_EQ(listener_.requests.size(), 1u);
  // The authenticated retry is a new transaction (new branch, CSeq + 1).
  Deliver(Request("REGISTER", "z9hG4bKreg-401b", 2));
  EXPECT_EQ(listener_.requests.size(), 2u);
  EXPECT_EQ(sent_.size(), 3u);
}

TEST_F(AnsweredAtOnceTest, SecondFinalResponseIsRefused) {
  std::vector<absl::Status> results;
  listener_.answer = [&](SipTxnId txn, const SipMessage& request) {
    results.push_back(txns_->RespondRaw(txn, 100, Build(request, 100, "Trying")));
    results.push_back(txns_->RespondRaw(txn, 200, Build(request, 200, "OK")));
    results.push_back(txns_->RespondRaw(txn, 500, Build(request, 500, "Server Internal Error")));
  };
  Deliver(Request("REGISTER", "z9hG4bKreg-twice", 3));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_TRUE(results[1].ok()) << results[1];
  EXPECT_EQ(results[2].code(), absl::StatusCode::kFailedPrecondition) << results[2];
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(Code(sent_[0].bytes), 100);
  EXPECT_EQ(Code(sent_[1].bytes), 200);
  EXPECT_EQ(txns_->size(), 0u);
  // A retransmission gets the final response, not the provisional one.
  Deliver(Request("REGISTER", "z9hG4bKreg-twice", 3));
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sent_[2].bytes, sent_[1].bytes);
  // Gone once OnRequest returned: NotFound, not a third send.
  const SipTxnId txn = listener_.requests.at(0).first;
  EXPECT_EQ(txns_->RespondRaw(txn, 200, sent_[1].bytes).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(sent_.size(), 3u);
}

TEST_F(AnsweredAtOnceTest, RegisterNotAnsweredInOnRequestCanBeAnsweredLater) {
  const std::string reg = Request("REGISTER", "z9hG4bKreg-later", 9);
  Deliver(reg);
  ASSERT_EQ(listener_.requests.size(), 1u);
  const SipTxnId txn = listener_.requests[0].first;
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(txns_->size(), 1u) << "an oSIP2 NIST holds it";
  EXPECT_FALSE(txns_->HasFinalResponse(txn));

  Deliver(reg);  // retransmitted while unanswered: absorbed, nothing to resend
  EXPECT_EQ(listener_.requests.size(), 1u);
  EXPECT_TRUE(sent_.empty());

  const SipMessage* request = txns_->ServerRequest(txn);
  ASSERT_NE(request, nullptr);
  const std::string bytes = Build(*request, 200, "OK");
  ASSERT_TRUE(txns_->RespondRaw(txn, 200, bytes).ok());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(Code(sent_[0].bytes), 200);
  EXPECT_EQ(txns_->size(), 0u);

  Deliver(reg);
  EXPECT_EQ(listener_.requests.size(), 1u);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].bytes, sent_[0].bytes);
}

TEST_F(AnsweredAtOnceTest, OptionsAnsweredAtOnceOverTcpIsNotCached) {
  listener_.answer = [&](SipTxnId txn, const SipMessage& request) {
    EXPECT_TRUE(txns_->RespondRaw(txn, 200, Build(request, 200, "OK")).ok());
  };
  const std::string options = Request("OPTIONS", "z9hG4bKopt-tcp", 1, "", "TCP");
  auto m = SipMessage::Parse(options);
  ASSERT_TRUE(m.ok());
  SipInbound in;
  in.bytes = options;
  in.source = kPhone;
  in.local = kUs;
  in.transport = SipTransportKind::kTcp;
  in.channel = 12;
  txns_->Receive(*std::move(m), in);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].route.transport, SipTransportKind::kTcp);
  EXPECT_EQ(sent_[0].route.channel, 12u);
  EXPECT_EQ(txns_->size(), 0u);
}

}  // namespace
}  // namespace rtplatch
