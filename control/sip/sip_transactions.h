// RFC 3261 §17 transactions for rtplatch-control, on oSIP2's four state
// machines (osip_t: ICT, IST, NICT, NIST). oSIP2 owns retransmissions and
// timers (A/B/D/E/F/K/G/H/I/J); this class owns everything around them:
//
//   - matching (RFC 3261 §17.1.3 / §17.2.3) through hash maps keyed by
//     branch, sent-by and method, instead of oSIP2's linear list search, so
//     a message costs O(1) however many transactions are alive;
//   - where each transaction's messages go: a server transaction answers to
//     the request's source address:port over the socket or TCP connection
//     it arrived on (symmetric response, RFC 3581); a client transaction
//     sends to the route the proxy chose;
//   - turning oSIP2's callbacks into Listener calls made *after* oSIP2 has
//     finished the event, so the listener may respond or send at once
//     (oSIP2 moves an IST to Proceeding only after its "INVITE received"
//     callback returns);
//   - CANCEL of a client INVITE (RFC 3261 §9.1), deferred until the branch
//     has sent a provisional response.
//
// A retransmitted request never reaches the listener: its transaction
// answers it (last response again) or absorbs it. That is what keeps digest
// nonce counts and registrar CSeq checks away from retransmissions.
//
// Single-threaded: one owner (the control plane's event loop) calls every
// method, including RunTimers() every few milliseconds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/sip/completed_responses.h"
#include "control/sip/sip_message.h"
#include "control/sip/sip_transport.h"

struct osip;
struct osip_transaction;
struct osip_message;

namespace rtplatch {

// Where a message goes: the peer, and the socket (UDP) or connection (TCP)
// to send it on.
struct SipRoute {
  Endpoint dest;
  SipTransportKind transport = SipTransportKind::kUdp;
  SipChannelId channel = 0;
};

using SipTxnId = uint64_t;

struct SipTransactionCounters {
  uint64_t server_created = 0;
  uint64_t client_created = 0;
  uint64_t retransmissions_absorbed = 0;  // requests answered by their txn
  // Completed transactions forgotten before Timer J to bound memory.
  uint64_t completed_evicted = 0;
  uint64_t responses_matched = 0;
  uint64_t stray_responses = 0;
  uint64_t stray_acks = 0;               // ACKs for 2xx: forwarded by the proxy
  uint64_t timeouts = 0;                 // timer B / F
  uint64_t transport_errors = 0;
  uint64_t send_errors = 0;
};

class SipTransactions {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A new request with its new server transaction (never ACK). The
    // listener must answer it (Respond) now or later.
    virtual void OnRequest(SipTxnId txn, SipMessage& request, const SipInbound& in) = 0;
    // An ACK that matches no INVITE server transaction: the ACK for a 2xx,
    // which the proxy routes like any in-dialog request (RFC 3261 §16.7).
    virtual void OnStrayAck(SipMessage& ack, const SipInbound& in) = 0;
    // A response that matches no client transaction, e.g. a 2xx
    // retransmission after its INVITE transaction ended (§16.7: forwarded
    // statelessly).
    virtual void OnStrayResponse(SipMessage& response, const SipInbound& in) = 0;
    // A response on client transaction `txn` (not retransmissions). For a
    // non-2xx final response to an INVITE oSIP2 has already sent the ACK.
    virtual void OnResponse(SipTxnId txn, SipMessage& response) = 0;
    // No final response in time (timer B/F) or the request could not be
    // sent: the listener treats it as a 408 or 503 from that branch.
    virtual void OnClientFailure(SipTxnId txn, bool timeout) = 0;
    // The transaction is gone (its id will not be seen again).
    virtual void OnTransactionEnd(SipTxnId /*txn*/) {}
  };
  // Sends bytes; a failure is the peer's problem (counted), not fatal.
  using Sender = std::function<absl::Status(absl::string_view bytes, const SipRoute& route)>;

  // Completed transactions remembered for retransmissions, at most. 32 s
  // (Timer J) of REGISTERs at 40 000/s would hold over a million responses,
  // a gigabyte; past this cap the oldest go first, so under such load a
  // request retransmitted more than a few seconds after its answer is
  // handled anew (Kamailio's tm keeps a completed transaction 5 s). Below
  // 4 000 requests/s every one lives its full Timer J.
  static constexpr size_t kDefaultMaxCompleted = 131072;

  static absl::StatusOr<std::unique_ptr<SipTransactions>> Create(
      Listener& listener, Sender sender, size_t max_completed = kDefaultMaxCompleted);
  ~SipTransactions();
  SipTransactions(const SipTransactions&) = delete;
  SipTransactions& operator=(const SipTransactions&) = delete;

  // Dispatches one parsed message (Parse, not ParseLenient) that arrived
  // as `in`.
  void Receive(SipMessage message, const SipInbound& in);

  // Sends `response` on server transaction `txn`. NotFound if the
  // transaction ended; FailedPrecondition if it has already sent a final
  // response.
  absl::Status Respond(SipTxnId txn, SipMessage response);

  // The same for a response the caller already has as bytes (e.g. the
  // registrar's): no parse when the transaction is not in oSIP2's hands.
  absl::Status RespondRaw(SipTxnId txn, int status_code, std::string bytes);

  // Sends `request` (INVITE: ICT, other methods: NICT; never ACK) to
  // `route`. The request must already carry our top Via with a unique
  // branch.
  absl::StatusOr<SipTxnId> SendRequest(SipMessage request, const SipRoute& route);

  // CANCEL for client INVITE transaction `txn` (§9.1): sent now if it has
  // seen a provisional response, else as soon as one arrives; nothing if it
  // has completed. Its responses are absorbed here.
  void Cancel(SipTxnId txn);
  // Ends a client transaction now: no more retransmissions, no listener
  // call but OnTransactionEnd. For requests whose answer no longer matters
  // (a NAT-timeout probe already counted as lost, whose late
  // retransmissions would reach the phone mid-call; an INVITE a peer did
  // not answer at all, which goes to the next peer instead).
  void Abandon(SipTxnId txn);

  // The INVITE server transaction a CANCEL (or a non-2xx ACK) belongs to.
  std::optional<SipTxnId> FindServerInvite(const SipMessage& cancel) const;
  // The request a server transaction was created for; nullptr if gone.
  const SipMessage* ServerRequest(SipTxnId txn) const;
  // The route a transaction answers to (server) or sends to (client).
  std::optional<SipRoute> RouteOf(SipTxnId txn) const;
  // Whether a server transaction has sent a final response.
  bool HasFinalResponse(SipTxnId txn) const;

  // While one lives, listener calls (a send that failed at once, a
  // response) wait until it ends: code that sends requests outside a
  // listener call (timers, DNS answers) records its transactions first.
  class Batch {
   public:
    explicit Batch(SipTransactions& t);
    ~Batch();

   private:
    SipTransactions& t_;
  };

  // Runs oSIP2's timers and the events they produce; call every few ms.
  void RunTimers();

  size_t size() const { return txns_.size(); }
  const SipTransactionCounters& counters() const { return counters_; }

  // A fresh RFC 3261 branch ("z9hG4bK" + 64 random bits, hex).
  std::string NewBranch();

 private:
  struct Txn;
  enum class Pending : uint8_t { kRequest, kResponse, kFailureTimeout, kFailureTransport };
  struct PendingCall {
    Pending kind;
    SipTxnId txn;
  };

  class Scope {
   public:
    explicit Scope(SipTransactions& t);
    ~Scope();

   private:
    SipTransactions& t_;
  };

  SipTransactions(osip* o, Listener& listener, Sender sender, size_t max_completed);
  static void OnOsipMessage(int type, osip_transaction* tr, osip_message* msg);
  static void OnOsipKill(int type, osip_transaction* tr);
  static void OnOsipTransportError(int type, osip_transaction* tr, int error);
  static int OnOsipSend(osip_transaction* tr, osip_message* msg, char* host, int port, int sock);

  Txn* Find(SipTxnId id) const;
  // Hands a server transaction to oSIP2 (IST, or a NIST the listener did
  // not answer at once); false if oSIP2 refused it (the txn is reaped).
  void ReceiveRequest(SipMessage message, const SipInbound& in);
  void ReceiveResponse(SipMessage& message, const SipInbound& in);
  // A request that repeats one with a live or completed server transaction
  // (retransmission, or the ACK of a non-2xx): answered or absorbed here.
  bool AbsorbRetransmission(SipMessage& message, const std::string& key,
                            const SipInbound& in);
  bool StartOsipServer(Txn& txn);
  void Complete(Txn& txn);
  // Runs `evt` on txn and then the listener calls it produced.
  void Execute(Txn& txn, int event_type, osip_message* msg);
  void FlushPending();
  void Reap();
  void SendDeferredCancel(Txn& invite);

  osip* osip_;
  Listener& listener_;
  Sender sender_;
  SipTxnId next_id_ = 1;
  uint64_t branch_counter_ = 0;
  uint64_t branch_seed_ = 0;
  absl::flat_hash_map<SipTxnId, std::unique_ptr<Txn>> txns_;
  // Completed non-INVITE server transactions (RFC 3261 17.2.2, timer J):
  // their final response, resent for a retransmitted request, instead of
  // a live oSIP2 transaction. oSIP2 visits every live transaction on each
  // timer run, and a registrar at thousands of REGISTERs a second would
  // otherwise keep 64*T1 = 32 s of them alive.
  void Remember(const std::string& key, absl::string_view response, const SipRoute& route);
  CompletedResponses completed_;
  absl::flat_hash_map<std::string, SipTxnId> server_keys_;
  absl::flat_hash_map<std::string, SipTxnId> client_keys_;
  std::vector<PendingCall> pending_;
  std::vector<SipTxnId> dead_;
  int depth_ = 0;
  SipTransactionCounters counters_;
};

}  // namespace rtplatch
