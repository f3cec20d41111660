#include "control/sip/sip_transactions.h"

#include <osip2/osip.h>
#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include <time.h>

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/monotonic_clock.h"
#include "control/sip/sip_response.h"
#include "control/sip/sip_serialize.h"

namespace rtplatch {

struct SipTransactions::Txn {
  SipTxnId id = 0;
  osip_transaction_t* tr = nullptr;
  bool server = false;
  bool invite = false;
  SipRoute route;
  std::string key;
  // Server: the request, for building local responses. Client INVITE: the
  // request as sent, for building its CANCEL.
  std::optional<SipMessage> request;
  bool deliver_request = false;   // set by oSIP2's "received" callback
  bool deliver_response = false;  // set by oSIP2's "status received" callback
  bool final_sent = false;
  bool got_provisional = false;
  bool got_final = false;
  bool cancel_pending = false;
  bool cancel_sent = false;
  bool absorb_responses = false;  // our own CANCEL: nobody to tell
  std::string last_sent;          // NIST: the final response as sent
};

namespace {

constexpr absl::string_view kMagicCookie = "z9hG4bK";
// Timer J for UDP: 64 * T1 (RFC 3261 17.2.2).
constexpr int64_t kTimerJMs = 64 * 500;

// RFC 3261 §17.2.3: branch + sent-by + method (ACK matches its INVITE).
// Pre-RFC 3261 peers (no magic cookie) fall back to §17.2.3's older rule,
// reduced to what identifies a request: Call-ID, CSeq, From tag, Request-URI.
std::string ServerKey(const SipMessage& m, absl::string_view method) {
  const SipVia via = m.top_via();
  if (absl::StartsWith(via.branch, kMagicCookie)) {
    return absl::StrCat(via.branch, "|", absl::AsciiStrToLower(via.host), ":", via.port, "|",
                        method);
  }
  return absl::StrCat("2543|", m.call_id(), "|", m.cseq_number(), "|", m.from().tag, "|",
                      m.request_uri(), "|", method);
}

// §17.1.3: branch of the top Via + CSeq method.
std::string ClientKey(absl::string_view branch, absl::string_view cseq_method) {
  return absl::StrCat(branch, "|", cseq_method);
}

SipTransactions* Self(osip_transaction_t* tr) {
  return static_cast<SipTransactions*>(static_cast<osip_t*>(tr->config)->application_context);
}

osip_event_t* NewEvent(type_t type, osip_transaction_t* tr, osip_message_t* msg) {
  auto* evt = static_cast<osip_event_t*>(osip_malloc(sizeof(osip_event_t)));
  evt->type = type;
  evt->transactionid = tr->transactionid;
  evt->sip = msg;
  return evt;
}

type_t ReceiveType(const SipMessage& m) {
  if (!m.is_request()) {
    const int code = m.status_code();
    if (code < 200) return RCV_STATUS_1XX;
    if (code < 300) return RCV_STATUS_2XX;
    return RCV_STATUS_3456XX;
  }
  const std::string method = m.method();
  if (method == "INVITE") return RCV_REQINVITE;
  if (method == "ACK") return RCV_REQACK;
  return RCV_REQUEST;
}

// oSIP2 takes ownership of the messages in its events; the listener keeps
// ours, so oSIP2 gets a deep copy.
osip_message_t* CloneForOsip(const SipMessage& m) {
  osip_message_t* copy = nullptr;
  if (osip_message_clone(&m.osip(), &copy) != OSIP_SUCCESS) return nullptr;
  return copy;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SipTransactions>> SipTransactions::Create(Listener& listener,
                                                                        Sender sender,
                                                                        size_t max_completed) {
  osip_t* o = nullptr;
  if (osip_init(&o) != OSIP_SUCCESS || o == nullptr) {
    return absl::InternalError("SIP: oSIP2 transaction layer failed to initialise");
  }
  std::unique_ptr<SipTransactions> t(
      new SipTransactions(o, listener, std::move(sender), max_completed));
  o->application_context = t.get();
  osip_set_cb_send_message(o, &SipTransactions::OnOsipSend);
  for (int type = 0; type < OSIP_MESSAGE_CALLBACK_COUNT; ++type) {
    osip_set_message_callback(o, type, &SipTransactions::OnOsipMessage);
  }
  for (int type = 0; type < OSIP_KILL_CALLBACK_COUNT; ++type) {
    osip_set_kill_transaction_callback(o, type, &SipTransactions::OnOsipKill);
  }
  for (int type = 0; type < OSIP_TRANSPORT_ERROR_CALLBACK_COUNT; ++type) {
    osip_set_transport_error_callback(o, type, &SipTransactions::OnOsipTransportError);
  }
  return t;
}

SipTransactions::SipTransactions(osip* o, Listener& listener, Sender sender,
                                 size_t max_completed)
    : osip_(o), listener_(listener), sender_(std::move(sender)), completed_(max_completed) {
  std::random_device rd;
  branch_seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

SipTransactions::~SipTransactions() {
  for (auto& [id, txn] : txns_) {
    if (txn->tr != nullptr) osip_transaction_free(txn->tr);
  }
  txns_.clear();
  osip_release(osip_);
}

std::string SipTransactions::NewBranch() {
  // A counter mixed with a per-process random seed: unique within the
  // process, unpredictable across restarts (splitmix64 finaliser).
  uint64_t x = branch_seed_ + (++branch_counter_) * 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return absl::StrFormat("%s%016x", kMagicCookie, x);
}

SipTransactions::Txn* SipTransactions::Find(SipTxnId id) const {
  auto it = txns_.find(id);
  return it == txns_.end() ? nullptr : it->second.get();
}

// Listener calls may re-enter (respond from OnRequest, send from
// OnResponse); transactions are freed, and timeouts reported, only when the
// outermost call ends, so no caller holds a freed transaction.
SipTransactions::Batch::Batch(SipTransactions& t) : t_(t) { ++t_.depth_; }
SipTransactions::Batch::~Batch() {
  if (t_.depth_ == 1) {
    t_.FlushPending();
    t_.Reap();
  }
  --t_.depth_;
}

SipTransactions::Scope::Scope(SipTransactions& t) : t_(t) { ++t_.depth_; }
SipTransactions::Scope::~Scope() {
  if (t_.depth_ == 1) {
    t_.FlushPending();
    t_.Reap();
  }
  --t_.depth_;
}

void SipTransactions::Execute(Txn& txn, int event_type, osip_message* msg) {
  osip_transaction_execute(txn.tr, NewEvent(static_cast<type_t>(event_type), txn.tr, msg));
}

void SipTransactions::Receive(SipMessage message, const SipInbound& in) {
  Scope scope(*this);
  if (message.is_request()) {
    ReceiveRequest(std::move(message), in);
  } else {
    ReceiveResponse(message, in);
  }
}

void SipTransactions::ReceiveResponse(SipMessage& message, const SipInbound& in) {
  auto it = client_keys_.find(
      ClientKey(message.top_via_param("branch").value_or(""), message.cseq_method()));
  Txn* txn = it == client_keys_.end() ? nullptr : Find(it->second);
  if (txn == nullptr) {
    ++counters_.stray_responses;
    listener_.OnStrayResponse(message, in);
    return;
  }
  osip_message_t* copy = CloneForOsip(message);
  if (copy == nullptr) return;
  const SipTxnId id = txn->id;
  Execute(*txn, ReceiveType(message), copy);
  txn = Find(id);  // still in txns_ until Reap
  if (txn == nullptr || !txn->deliver_response) return;
  txn->deliver_response = false;
  ++counters_.responses_matched;
  const int code = message.status_code();
  if (code < 200) txn->got_provisional = true;
  if (code >= 200) {
    txn->got_final = true;
    // A non-INVITE client transaction is done with its final response.
    // oSIP2 would keep it T4 (5 s) to swallow retransmitted responses;
    // those now arrive as stray responses, which the proxy drops once the
    // request's purpose is gone, and the live set (which oSIP2 walks on
    // every timer run and every insert) stays small.
    if (!txn->invite) dead_.push_back(id);
  }
  if (!txn->absorb_responses) listener_.OnResponse(id, message);
  txn = Find(id);
  if (txn != nullptr && txn->cancel_pending && txn->got_provisional && !txn->got_final) {
    SendDeferredCancel(*txn);
  }
}

void SipTransactions::ReceiveRequest(SipMessage message, const SipInbound& in) {
  const std::string method = message.method();
  const bool ack = method == "ACK";
  const std::string key = ServerKey(message, ack ? "INVITE" : method);
  if (AbsorbRetransmission(message, key, in)) return;
  if (ack) {
    ++counters_.stray_acks;
    listener_.OnStrayAck(message, in);
    return;
  }
  const bool invite = method == "INVITE";
  auto txn = std::make_unique<Txn>();
  txn->id = next_id_++;
  txn->server = true;
  txn->invite = invite;
  txn->route = SipRoute{in.source, in.transport, in.channel};
  txn->key = key;
  txn->request.emplace(std::move(message));
  const SipTxnId id = txn->id;
  Txn& ref = *txn;
  txns_.emplace(id, std::move(txn));
  server_keys_[key] = id;
  ++counters_.server_created;
  if (invite) {
    if (!StartOsipServer(ref)) return;
    Txn* now = Find(id);
    if (now != nullptr && now->deliver_request) {
      now->deliver_request = false;
      listener_.OnRequest(id, *now->request, in);
    }
    return;
  }
  // A non-INVITE request is offered to the listener first: most (REGISTER,
  // OPTIONS to us) are answered at once, and then the completed-response
  // cache is all the state RFC 3261 17.2.2 needs (as a stateless reply
  // with retransmission memory). Only a request still unanswered when
  // the listener returns (forwarded downstream) gets an oSIP2 NIST.
  listener_.OnRequest(id, *ref.request, in);
  Txn* now = Find(id);
  if (now != nullptr && !now->final_sent && now->tr == nullptr) StartOsipServer(*now);
}

bool SipTransactions::AbsorbRetransmission(SipMessage& message, const std::string& key,
                                           const SipInbound& in) {
  if (auto it = server_keys_.find(key); it != server_keys_.end()) {
    if (Txn* txn = Find(it->second); txn != nullptr) {
      // A retransmission, or the ACK of a non-2xx final response: the
      // transaction resends its last response or absorbs it.
      ++counters_.retransmissions_absorbed;
      if (txn->tr == nullptr) return true;  // being answered right now
      const type_t type = ReceiveType(message);
      Execute(*txn, type, std::move(message).ReleaseOsip());
      return true;
    }
  }
  const CompletedResponses::Entry* c = completed_.Find(key);
  // Only from where the first copy came: retransmissions are UDP from the
  // same socket; the same branch from elsewhere is a new request.
  if (c == nullptr || !(c->dest == in.source) || c->transport != in.transport) return false;
  // A retransmission of a request already answered: the same answer. An
  // INVITE whose 2xx went out is only absorbed (RFC 6026 "Accepted": the
  // 2xx is retransmitted end to end by the callee, not by us).
  ++counters_.retransmissions_absorbed;
  if (!c->response.empty() &&
      !sender_(c->response, SipRoute{c->dest, c->transport, c->channel}).ok()) {
    ++counters_.send_errors;
  }
  return true;
}

bool SipTransactions::StartOsipServer(Txn& txn) {
  osip_message_t* copy = CloneForOsip(*txn.request);
  if (copy == nullptr) return false;
  osip_transaction_t* tr = nullptr;
  if (osip_transaction_init(&tr, txn.invite ? IST : NIST, osip_, copy) != OSIP_SUCCESS) {
    osip_message_free(copy);
    dead_.push_back(txn.id);
    return false;
  }
  txn.tr = tr;
  osip_transaction_set_your_instance(tr, &txn);
  Execute(txn, txn.invite ? RCV_REQINVITE : RCV_REQUEST, copy);
  if (!txn.invite) txn.deliver_request = false;  // the listener has it already
  return true;
}

void SipTransactions::Remember(const std::string& key, absl::string_view response,
                               const SipRoute& route) {
  if (completed_.Remember(key, response, route.dest, route.transport, route.channel,
                          MonotonicMs() + kTimerJMs)) {
    ++counters_.completed_evicted;
  }
}

void SipTransactions::Complete(Txn& txn) {
  // Completed: keep only what a retransmission needs (UDP; over TCP timer
  // J is zero) and let the transaction go now.
  if (txn.route.transport == SipTransportKind::kUdp && !txn.last_sent.empty()) {
    Remember(txn.key, txn.last_sent, txn.route);
  }
  dead_.push_back(txn.id);
}

absl::Status SipTransactions::RespondRaw(SipTxnId id, int status_code, std::string bytes) {
  Scope scope(*this);
  Txn* txn = Find(id);
  if (txn == nullptr || !txn->server) {
    return absl::NotFoundError(absl::StrCat("SIP: no server transaction ", id));
  }
  if (txn->tr != nullptr) {
    auto response = SipMessage::Parse(bytes);
    if (!response.ok()) return response.status();
    return Respond(id, *std::move(response));
  }
  if (txn->final_sent) {
    return absl::FailedPreconditionError(
        absl::StrCat("SIP: transaction ", id, " already sent a final response"));
  }
  if (status_code >= 200) txn->final_sent = true;
  if (!sender_(bytes, txn->route).ok()) ++counters_.send_errors;
  txn->last_sent = std::move(bytes);
  if (txn->final_sent) Complete(*txn);
  return absl::OkStatus();
}

absl::Status SipTransactions::Respond(SipTxnId id, SipMessage response) {
  Scope scope(*this);
  Txn* txn = Find(id);
  if (txn == nullptr || !txn->server) {
    return absl::NotFoundError(absl::StrCat("SIP: no server transaction ", id));
  }
  if (txn->final_sent) {
    return absl::FailedPreconditionError(
        absl::StrCat("SIP: transaction ", id, " already sent a final response"));
  }
  if (txn->tr == nullptr) {
    // Not handed to oSIP2 (answered from OnRequest): serialise and send.
    const int code = response.status_code();
    auto bytes = response.Serialize();
    if (!bytes.ok()) return bytes.status();
    return RespondRaw(id, code, *std::move(bytes));
  }
  const int code = response.status_code();
  if (code >= 200) txn->final_sent = true;
  osip_event_t* evt = osip_new_outgoing_sipmessage(std::move(response).ReleaseOsip());
  if (evt == nullptr) return absl::InternalError("SIP: could not queue the response");
  evt->transactionid = txn->tr->transactionid;
  osip_transaction_execute(txn->tr, evt);
  if (!txn->invite && txn->final_sent) Complete(*txn);
  if (txn->invite && code >= 200 && code < 300) {
    // RFC 6026: oSIP2 ends an INVITE server transaction with its 2xx (RFC
    // 3261 as first published). A retransmitted INVITE still on its way
    // (the caller had no answer yet) must not start a new call: remember
    // the transaction for 64*T1, absorbing, from its source.
    Remember(txn->key, "", txn->route);
  }
  return absl::OkStatus();
}

absl::StatusOr<SipTxnId> SipTransactions::SendRequest(SipMessage request, const SipRoute& route) {
  Scope scope(*this);
  const std::string method = request.method();
  if (method == "ACK" || method.empty()) {
    return absl::InvalidArgumentError("SIP: ACK and responses are not sent in transactions");
  }
  const SipVia via = request.top_via();
  if (!absl::StartsWith(via.branch, kMagicCookie)) {
    return absl::InvalidArgumentError("SIP: a client transaction needs an RFC 3261 branch");
  }
  const bool invite = method == "INVITE";
  osip_transaction_t* tr = nullptr;
  if (osip_transaction_init(&tr, invite ? ICT : NICT, osip_,
                            const_cast<osip_message_t*>(&request.osip())) != OSIP_SUCCESS) {
    return absl::InternalError(absl::StrCat("SIP: could not create a transaction for ", method));
  }
  auto txn = std::make_unique<Txn>();
  txn->id = next_id_++;
  txn->tr = tr;
  txn->invite = invite;
  txn->route = route;
  txn->key = ClientKey(via.branch, request.cseq_method());
  osip_transaction_set_your_instance(tr, txn.get());
  osip_message_t* copy = CloneForOsip(request);
  if (copy == nullptr) {
    osip_transaction_free(tr);
    return absl::InternalError("SIP: out of memory");
  }
  if (invite) txn->request.emplace(std::move(request));
  const SipTxnId id = txn->id;
  Txn& ref = *txn;
  client_keys_[txn->key] = id;
  txns_.emplace(id, std::move(txn));
  ++counters_.client_created;
  osip_event_t* evt = osip_new_outgoing_sipmessage(copy);
  evt->transactionid = tr->transactionid;
  osip_transaction_execute(ref.tr, evt);
  return id;
}

void SipTransactions::Cancel(SipTxnId id) {
  Scope scope(*this);
  Txn* txn = Find(id);
  if (txn == nullptr || txn->server || !txn->invite || txn->got_final || txn->cancel_sent) return;
  if (!txn->got_provisional) {
    txn->cancel_pending = true;  // §9.1: wait for a provisional response
    return;
  }
  SendDeferredCancel(*txn);
}

void SipTransactions::Abandon(SipTxnId id) {
  Scope scope(*this);
  Txn* txn = Find(id);
  if (txn == nullptr || txn->server) return;
  txn->absorb_responses = true;
  dead_.push_back(id);
}

void SipTransactions::SendDeferredCancel(Txn& invite) {
  invite.cancel_pending = false;
  invite.cancel_sent = true;
  if (!invite.request) return;
  const osip_message_t& o = invite.request->osip();
  // §9.1: same Request-URI, Call-ID, To, From, CSeq number and the one
  // Via of the request; its Route headers too.
  auto via = OsipToString(osip_via_to_str,
                          static_cast<const osip_via_t*>(osip_list_get(&o.vias, 0)));
  auto from = OsipToString(osip_from_to_str, o.from);
  auto to = OsipToString(osip_to_to_str, o.to);
  if (!via || !from || !to) return;
  std::string text = absl::StrCat("CANCEL ", invite.request->request_uri(), " SIP/2.0\r\nVia: ",
                                  *via, "\r\n");
  for (const std::string& r : invite.request->routes()) absl::StrAppend(&text, "Route: ", r, "\r\n");
  absl::StrAppend(&text, "From: ", *from, "\r\nTo: ", *to, "\r\nCall-ID: ",
                  invite.request->call_id(), "\r\nCSeq: ", invite.request->cseq_number(),
                  " CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
  auto cancel = SipMessage::Parse(text);
  if (!cancel.ok()) return;
  auto sent = SendRequest(*std::move(cancel), invite.route);
  if (sent.ok()) {
    if (Txn* c = Find(*sent)) c->absorb_responses = true;
  }
}

std::optional<SipTxnId> SipTransactions::FindServerInvite(const SipMessage& cancel) const {
  auto it = server_keys_.find(ServerKey(cancel, "INVITE"));
  if (it == server_keys_.end()) return std::nullopt;
  return it->second;
}

const SipMessage* SipTransactions::ServerRequest(SipTxnId id) const {
  Txn* txn = Find(id);
  if (txn == nullptr || !txn->server || !txn->request) return nullptr;
  return &*txn->request;
}

std::optional<SipRoute> SipTransactions::RouteOf(SipTxnId id) const {
  Txn* txn = Find(id);
  if (txn == nullptr) return std::nullopt;
  return txn->route;
}

bool SipTransactions::HasFinalResponse(SipTxnId id) const {
  Txn* txn = Find(id);
  return txn == nullptr || txn->final_sent;
}

void SipTransactions::RunTimers() {
  Scope scope(*this);
  const int64_t now = MonotonicMs();
  completed_.Expire(now);
  osip_timers_ict_execute(osip_);
  osip_timers_ist_execute(osip_);
  osip_timers_nict_execute(osip_);
  osip_timers_nist_execute(osip_);
  osip_ict_execute(osip_);
  osip_ist_execute(osip_);
  osip_nict_execute(osip_);
  osip_nist_execute(osip_);
}

void SipTransactions::FlushPending() {
  while (!pending_.empty()) {
    std::vector<PendingCall> calls;
    calls.swap(pending_);
    for (const PendingCall& p : calls) {
      Txn* txn = Find(p.txn);
      if (txn == nullptr || txn->absorb_responses) continue;
      if (p.kind == Pending::kFailureTimeout || p.kind == Pending::kFailureTransport) {
        txn->got_final = true;
        listener_.OnClientFailure(p.txn, p.kind == Pending::kFailureTimeout);
      }
    }
  }
}

void SipTransactions::Reap() {
  while (!dead_.empty()) {
    std::vector<SipTxnId> dead;
    dead.swap(dead_);
    for (SipTxnId id : dead) {
      auto it = txns_.find(id);
      if (it == txns_.end()) continue;
      Txn& txn = *it->second;
      auto& keys = txn.server ? server_keys_ : client_keys_;
      if (auto k = keys.find(txn.key); k != keys.end() && k->second == id) keys.erase(k);
      if (txn.tr != nullptr) osip_transaction_free(txn.tr);
      txns_.erase(it);
      listener_.OnTransactionEnd(id);
    }
  }
}

void SipTransactions::OnOsipMessage(int type, osip_transaction_t* tr, osip_message_t*) {
  auto* txn = static_cast<Txn*>(osip_transaction_get_your_instance(tr));
  if (txn == nullptr) return;
  SipTransactions* self = Self(tr);
  switch (type) {
    case OSIP_IST_INVITE_RECEIVED:
    case OSIP_NIST_REGISTER_RECEIVED:
    case OSIP_NIST_BYE_RECEIVED:
    case OSIP_NIST_OPTIONS_RECEIVED:
    case OSIP_NIST_INFO_RECEIVED:
    case OSIP_NIST_CANCEL_RECEIVED:
    case OSIP_NIST_NOTIFY_RECEIVED:
    case OSIP_NIST_SUBSCRIBE_RECEIVED:
    case OSIP_NIST_UNKNOWN_REQUEST_RECEIVED:
      txn->deliver_request = true;
      break;
    case OSIP_ICT_STATUS_1XX_RECEIVED:
    case OSIP_ICT_STATUS_2XX_RECEIVED:
    case OSIP_ICT_STATUS_3XX_RECEIVED:
    case OSIP_ICT_STATUS_4XX_RECEIVED:
    case OSIP_ICT_STATUS_5XX_RECEIVED:
    case OSIP_ICT_STATUS_6XX_RECEIVED:
    case OSIP_NICT_STATUS_1XX_RECEIVED:
    case OSIP_NICT_STATUS_2XX_RECEIVED:
    case OSIP_NICT_STATUS_3XX_RECEIVED:
    case OSIP_NICT_STATUS_4XX_RECEIVED:
    case OSIP_NICT_STATUS_5XX_RECEIVED:
    case OSIP_NICT_STATUS_6XX_RECEIVED:
      txn->deliver_response = true;
      break;
    case OSIP_ICT_STATUS_TIMEOUT:
    case OSIP_NICT_STATUS_TIMEOUT:
      ++self->counters_.timeouts;
      self->pending_.push_back({Pending::kFailureTimeout, txn->id});
      break;
    default:
      break;  // sends and retransmissions: nothing to tell
  }
}

void SipTransactions::OnOsipKill(int, osip_transaction_t* tr) {
  auto* txn = static_cast<Txn*>(osip_transaction_get_your_instance(tr));
  if (txn != nullptr) Self(tr)->dead_.push_back(txn->id);
}

void SipTransactions::OnOsipTransportError(int type, osip_transaction_t* tr, int) {
  auto* txn = static_cast<Txn*>(osip_transaction_get_your_instance(tr));
  if (txn == nullptr) return;
  SipTransactions* self = Self(tr);
  ++self->counters_.transport_errors;
  if (type == OSIP_ICT_TRANSPORT_ERROR || type == OSIP_NICT_TRANSPORT_ERROR) {
    self->pending_.push_back({Pending::kFailureTransport, txn->id});
  }
}

int SipTransactions::OnOsipSend(osip_transaction_t* tr, osip_message_t* msg, char*, int, int) {
  auto* txn = static_cast<Txn*>(osip_transaction_get_your_instance(tr));
  if (txn == nullptr || msg == nullptr) return -1;
  SipTransactions* self = Self(tr);
  // Not osip_message_to_str: it would re-frame a multipart body.
  absl::StatusOr<std::string> bytes = SerializeSipMessage(msg);
  if (!bytes.ok()) {
    ++self->counters_.send_errors;
    return -1;
  }
  if (txn->server && !txn->invite) txn->last_sent = *bytes;
  const absl::Status s = self->sender_(*bytes, txn->route);
  if (!s.ok()) {
    ++self->counters_.send_errors;
    return -1;
  }
  return 0;
}

}  // namespace rtplatch
