// The registrar's decision logic (design.md rules 2 and 5, docs/
// control-plane.md slice 2): one REGISTER in, one response and a list of
// binding changes out. No sockets and no clock: the caller passes `now`
// (unix seconds), the source address and the socket the request arrived
// on, sends the response and installs/removes the dataplane keepalive
// targets the changes name.
//
// What HandleRegister does, in RFC 3261 §10.3 order:
//   1. The To domain must be ours (the digest realm): else 404.
//   2. Digest authentication (digest_auth.h) bound to the To AOR:
//        no (matching-realm) Authorization   401 + challenges (SHA-256, MD5)
//        malformed Authorization             400
//        wrong credentials / replay          401 + fresh challenges
//        right response, expired nonce       401 + challenges with stale=true
//        authenticated as someone else       403
//   3. Contacts: none = a query (200 with the current bindings). `*` must
//      be the only Contact and needs Expires: 0, else 400.
//   4. Expires per Contact: its ;expires, else the Expires header, else
//      config.default_expires; a non-zero value below min_expires refuses
//      the whole request with 423 + Min-Expires; above the maximum it is
//      lowered to max_expires (max_expires_natted for a NAT'd request).
//   5. Call-ID/CSeq ordering against each existing binding (§10.3 step 6
//      for `*`, step 7 otherwise): same Call-ID with a CSeq not higher
//      aborts the whole update with 500.
//   6. NAT: DetectNat + the policy table's Decide for the User-Agent; the
//      binding records the verdict, its reasons and the keepalive decision.
//      Adaptive keepalive (design.md failure mode "NAT UDP timeout shorter
//      than the keepalive interval", keepalive_interval.h): a new NAT'd UDP
//      binding starts learning its NAT's timeout (its expiry is capped at
//      config.max_expires_learning meanwhile); a NAT'd binding
//      re-registering from a new source while its previous binding is
//      still live gets half its previous interval, down to
//      config.keepalive_min_interval_ms.
//   7. The changes land in the BindingStore (one transaction) and then in
//      memory; a store failure answers 500 and changes nothing.
//   8. 200 lists every current binding of the AOR with its expires, and a
//      Date header.
//
// Not thread-safe: one owner (the control plane's event loop).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/registrar/binding_replica.h"
#include "control/registrar/binding_store.h"
#include "control/registrar/binding_table.h"
#include "control/registrar/digest_auth.h"
#include "control/nat/inside_prefixes.h"
#include "control/nat/nat_policy.h"
#include "control/sip/sip_message.h"

namespace rtplatch {

struct RegistrarConfig {
  std::string domain;        // the SIP domain we serve; also the digest realm
  std::string nonce_secret;  // empty: a random one (GenerateNonceSecret)
  int64_t nonce_lifetime_s = 300;
  uint32_t default_expires = 3600;
  uint32_t min_expires = 60;
  uint32_t max_expires = 7200;
  // NAT'd bindings re-register more often: each REGISTER refreshes the
  // mapping and lets the adaptive interval see a mapping that died.
  uint32_t max_expires_natted = 600;
  // While a NAT'd UDP binding's NAT timeout is being learned, its phone
  // re-registers this often: a probe that finds the mapping dead has
  // closed it, and only the phone's next REGISTER opens it again. Raised
  // to min_expires when below it.
  uint32_t max_expires_learning = 60;
  // 0: the NAT policy's keepalive_interval_s. The NAT timeout learning's
  // ceiling (keepalive_interval.h).
  uint32_t keepalive_initial_interval_ms = 0;
  uint32_t keepalive_min_interval_ms = 5000;  // the adaptive interval's floor
  std::string server_header;                  // empty: none
  // false: REGISTER is not challenged (a closed network, or a benchmark
  // comparing like with like); the 403 rule for someone else's AOR then
  // cannot apply.
  bool require_auth = true;
};

struct BindingChange {
  enum class Kind : uint8_t { kAdded, kRefreshed, kRemoved };
  Kind kind = Kind::kAdded;
  // The binding as stored now (kRemoved: as it was). behind_nat,
  // nat_reasons, keepalive_interval_ms (0: no keepalive) and
  // keepalive_reason say what the dataplane should do.
  Binding binding;
  // kRefreshed: the keepalive target changed (source, socket or interval),
  // so the old one must be removed and the new one installed.
  bool keepalive_changed = false;
  Binding previous;  // kRefreshed: the binding before this REGISTER
};
absl::string_view BindingChangeKindName(BindingChange::Kind kind);

// What a successful REGISTER writes: bindings added or refreshed, and the
// Contact URIs it removes.
struct RegisterPlan {
  std::vector<Binding> upserts;
  std::vector<std::string> removed;
};

// What `plan` does to an AOR whose bindings were `current`: one change per
// binding added, refreshed (saying whether its keepalive target changed) or
// removed. Bindings expired at `now` count as absent.
std::vector<BindingChange> DiffBindings(const std::vector<Binding>& current,
                                        const RegisterPlan& plan, int64_t now);

struct RegisterResult {
  int status_code = 500;
  std::string reason;
  // Header lines to add to the response ("WWW-Authenticate: ...",
  // "Contact: <...>;expires=N", "Min-Expires: 60", "Date: ...", ...).
  std::vector<std::string> headers;
  // The complete response (Via with received/rport, From, To with a tag,
  // Call-ID, CSeq, the headers above, Content-Length: 0); empty if the
  // request lacked what a response needs.
  std::string response;
  std::vector<BindingChange> changes;
  // Why the request was refused (for logs and the Warning header).
  std::string error;
  // Credentials were given and were wrong (a wrong password or an unknown
  // user): what a password guesser's attempts look like (control/guard/).
  bool auth_failed = false;
};

// The verdict on a request that acts for one of our users (INVITE and
// other out-of-dialog requests whose From is in our domain): RFC 3261
// §22.3 proxy authentication, bound to the From AOR.
struct AuthCheck {
  bool authorized = false;
  int status_code = 407;  // when not authorized: 407, 400 or 403
  std::string reason;
  std::vector<std::string> headers;  // Proxy-Authenticate lines
  std::string error;                 // why (logs, Warning)
  bool auth_failed = false;          // as RegisterResult's
};

class Registrar {
 public:
  // The CRLFCRLF ping interval a TCP/TLS outbound flow is asked for: well
  // inside the transport's idle time-out and common NATs' TCP timeouts.
  static constexpr int kFlowTimerS = 120;

  // `users`, `store` (nullptr: memory only), `inside` and `policies` are
  // borrowed and must outlive the registrar. Loads the store's bindings.
  static absl::StatusOr<std::unique_ptr<Registrar>> Create(
      RegistrarConfig config, const CredentialSource& users, BindingStore* store,
      const InsidePrefixes& inside, const NatPolicyTable& policies);

  RegisterResult HandleRegister(const SipMessage& request, const Endpoint& source,
                                Binding::Transport transport,
                                const Endpoint& local_socket, int64_t now);

  // Cluster: this node's binding changes go to `replica` (borrowed;
  // nullptr: none) once they are stored.
  void set_replica(BindingReplica* replica) { replica_ = replica; }
  // Another node's binding (binding.node names it), as its owner wrote it:
  // held in memory only (its owner stores it), never given keepalives
  // here. If this node held the same contact itself, the phone has moved
  // to the other node: this node's binding is dropped, and the change
  // (kRemoved) says so for the keepalive sync. nullopt otherwise.
  std::optional<BindingChange> ApplyRemote(const Binding& binding);
  // Another node's binding on an address this node took over (a VIP whose
  // holder died): this node's from now on, stored here, replicated as
  // this node's, given keepalives here. The change (kAdded) for the
  // keepalive sync; nullopt if (aor, contact_uri) is not another node's
  // live binding or the store refused it.
  std::optional<BindingChange> Adopt(absl::string_view aor, absl::string_view contact_uri,
                                     int64_t now);
  // Drops another node's binding (aor, contact_uri) if `node` still owns
  // it; false if it did not.
  bool RemoveRemote(absl::string_view aor, absl::string_view contact_uri,
                    absl::string_view node);
  // Another node's binding held here refreshed by its phone: its new
  // expiry, CSeq and Call-ID. `node` must still own it (empty: whichever
  // node does); false if it did not.
  bool RefreshRemote(absl::string_view aor, absl::string_view contact_uri,
                     absl::string_view node, int64_t expires_at, uint32_t cseq,
                     absl::string_view call_id);

  AuthCheck AuthorizeRequest(const SipMessage& request, int64_t now);

  // Live bindings of `aor` ("user@domain", domain lowercase), highest q
  // first, then latest expiry.
  std::vector<Binding> Lookup(absl::string_view aor, int64_t now) const;
  // Whether `user` is in the users file (registered or not).
  bool HasUser(absl::string_view user) const { return users_.Find(user, config_.domain).has_value(); }
  // Every live binding by (AOR, Contact): a copy of the whole table, for
  // tests and small sets; the control plane walks with ForEachLive.
  std::vector<Binding> All(int64_t now) const;
  // This node's live bindings still learning their NAT timeout (a restart
  // resumes them); costs a walk of memory, not of the ordered index.
  std::vector<Binding> Learning(int64_t now) const;
  // Calls `fn` for every live binding, in (AOR, Contact) order.
  void ForEachLive(int64_t now, absl::FunctionRef<void(const Binding&)> fn) const;
  // Live bindings in the operator's order (by AOR, then as Lookup ranks
  // them), `limit` of them after the first `offset`: what it costs is the
  // AORs walked, not every binding.
  std::vector<Binding> Page(size_t offset, size_t limit, int64_t now) const;
  // Live bindings of the AORs after `after` (from the first when empty),
  // AOR by AOR in Page's order, until about `budget` bindings have been
  // looked at or kScanSliceTime has passed (an AOR is never split, and at
  // least one is looked at). Returns the last AOR looked at, to go on
  // from, or "" when the walk reached the end: a filter across AORs costs
  // a slice, not the table.
  std::string ScanLive(absl::string_view after, size_t budget, int64_t now,
                       absl::FunctionRef<void(const Binding&)> fn) const;
  // A count alone does not bound the time: at a million bindings the AORs
  // of one slice lie all over memory, and where that memory has gone cold
  // (a VM's host took it back) an AOR took 28 us: 4 096 of them, one
  // operator filter, held SIP for 116 ms. The clock is read at every AOR
  // (tens of nanoseconds against a microsecond's lookup).
  static constexpr std::chrono::microseconds kScanSliceTime{2000};
  // Bindings held, counting those expired but not yet pruned (at most a
  // second's worth).
  size_t binding_count() const { return table_.size(); }
  size_t natted_binding_count() const { return table_.natted(); }
  // What this node's store wrote (none: no store).
  std::optional<BindingStoreCounters> store_counters() const {
    if (store_ == nullptr) return std::nullopt;
    return store_->counters();
  }
  // From now on binding changes go to `sink` (borrowed; e.g. a
  // BindingWriter that took over the store Create loaded from).
  void set_sink(BindingSink* sink) { store_ = sink; }
  // Records a keepalive decision taken after the REGISTER (the NAT
  // timeout learner's): the binding's interval, learning state and reason,
  // in memory and the store. The change (kRefreshed, keepalive_changed
  // when the interval or state moved) is for the keepalive sync; nullopt
  // when the binding is gone or the store refused.
  std::optional<BindingChange> SetKeepalive(absl::string_view aor, absl::string_view contact_uri,
                                            uint32_t interval_ms, bool learning,
                                            std::string reason);
  // Removes one binding (a qualify found it dead); the removed binding goes
  // to `removed`. False if there was none.
  bool RemoveBinding(absl::string_view aor, absl::string_view contact_uri, Binding* removed);
  // Drops bindings with expires_at <= now (memory and store), at most
  // `budget` of them, earliest first, and none more once `deadline` has
  // passed (the clock read after every binding: where memory has gone
  // cold one removal took 2.5 ms, its AOR compared down the ordered
  // index); the dropped ones go to `expired` when given, so their
  // keepalives can be removed. What it costs is the bindings dropped: the
  // event loop calls it with a small budget and deadline every round while
  // HasExpired, so a mass expiry never stalls SIP.
  size_t PruneExpired(
      int64_t now, std::vector<Binding>* expired = nullptr, size_t budget = SIZE_MAX,
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  bool HasExpired(int64_t now) const { return table_.HasExpired(now); }

  const RegistrarConfig& config() const { return config_; }
  // "<header>: Digest ..." lines, one per algorithm the user can answer
  // (a REGISTER challenged from its raw lines gets the same).
  std::vector<std::string> ChallengeHeaders(absl::string_view header, absl::string_view user,
                                            bool stale, int64_t now);

 private:
  Registrar(RegistrarConfig config, std::unique_ptr<DigestAuthenticator> auth,
            const CredentialSource& users, BindingStore* store,
            const InsidePrefixes& inside, const NatPolicyTable& policies);

  RegisterResult Finish(const SipMessage& request, const Endpoint& source,
                        RegisterResult result) const;
  RegisterResult Refuse(const SipMessage& request, const Endpoint& source,
                        int code, absl::string_view reason, std::string error,
                        std::vector<std::string> headers = {}) const;
  // The digest check shared by REGISTER (Authorization, 401) and requests
  // proxied for our users (Proxy-Authorization, 407).
  struct DigestVerdict {
    enum Kind : uint8_t { kOk, kBadRequest, kForbidden, kChallenge } kind;
    bool stale = false;  // kChallenge: the nonce expired, the rest was right
    std::string error;
    bool failed = false;  // kChallenge: credentials given, and wrong
  };
  DigestVerdict CheckDigest(const SipMessage& request, bool proxy, absl::string_view user,
                            absl::string_view domain, int64_t now);
  RegisterResult Challenge(const SipMessage& request, const Endpoint& source,
                           absl::string_view user, bool stale, std::string error,
                           int64_t now);

  // HandleRegister's steps. A refusal is built into a response by Refuse.
  struct Refusal {
    int code;
    std::string reason;
    std::string error;
    std::vector<std::string> headers;
  };
  struct RegisterContext;
  // nullopt: the REGISTER's credentials are good; else the 400/401/403.
  std::optional<RegisterResult> Authenticate(const SipMessage& request, const Endpoint& source,
                                             absl::string_view user, absl::string_view domain,
                                             int64_t now);
  // `Contact: *`: every live binding goes.
  // Require: outbound and Flow-Timer for a REGISTER of an RFC 5626 flow.
  static void OutboundHeaders(const SipMessage& request, const std::vector<SipContact>& contacts,
                              Binding::Transport transport, std::vector<std::string>& headers);
  std::optional<Refusal> PlanRemoveAll(const RegisterContext& ctx,
                                       const std::vector<SipContact>& contacts,
                                       RegisterPlan& plan) const;
  // Contacts with their expires: added, refreshed or (expires 0) removed.
  std::optional<Refusal> PlanContacts(const RegisterContext& ctx,
                                      const std::vector<SipContact>& contacts,
                                      RegisterPlan& plan) const;
  Binding NewBinding(const RegisterContext& ctx, const std::string& contact_uri,
                     uint32_t expires, const Binding* existing) const;
  // The store first (one transaction), then memory; a store error changes
  // nothing.
  // `changes`: DiffBindings' of the plan (a plain refresh is logged).
  absl::Status Commit(const std::string& aor, RegisterPlan plan,
                      const std::vector<BindingChange>& changes);
  // A committed REGISTER's changes, told to the replica.
  void Replicate(const std::vector<BindingChange>& changes) const;
  const std::string& DateHeader(int64_t now);

  RegistrarConfig config_;
  std::unique_ptr<DigestAuthenticator> auth_;
  const CredentialSource& users_;
  BindingSink* store_;  // where changes go (null: memory only)
  BindingReplica* replica_ = nullptr;
  const InsidePrefixes& inside_;
  const NatPolicyTable& policies_;

  BindingTable table_;
  int64_t date_second_ = -1;  // the second date_header_ shows
  std::string date_header_;
};

}  // namespace rtplatch
