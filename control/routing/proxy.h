// rtplatch-control's SIP application: a record-routing stateful proxy with
// a registrar, driving the dataplane (design.md, issue 5). It sits on the
// transaction layer (sip_transactions.h) as its Listener.
//
// Requests, in order of the checks:
//   REGISTER                 the registrar; binding changes go to the
//                            keepalive sync (dataplane targets) and the
//                            NAT timeout learner (OPTIONS probes)
//   OPTIONS to the server    200
//   CANCEL                   200, then CANCEL on the forwarded branch
//   To-tag present           in-dialog: loose routing (our Route entries
//                            popped), to the other phone of the call — its
//                            source address and socket when it is NAT'd,
//                            its Contact/Route otherwise
//   INVITE to a local user   every binding rings (parallel forking, RFC
//                            3261 16.7): the first 2xx wins, the other
//                            branches are CANCELled, a 6xx ends them all
//   INVITE / other           out-of-dialog: callers in our domain
//                            authenticate (407), a configured peer's
//                            requests (by source address) are trusted; a
//                            local user's binding is looked up (404/480)
//                            and the request goes to its source (NAT'd) or
//                            Contact; our callers' calls to anyone else
//                            follow the dial plan to a peer (set_edge),
//                            from target to target on 408, 503, a
//                            transport error or no answer in time
//                            (RFC 3263 4.3, RFC 3261 16.7); peers may only
//                            reach local users (403 otherwise)
//
// Media: SDP in INVITE/UPDATE/ACK and in 18x/2xx responses allocates (or
// updates) one dataplane stream pair per m= line and is rewritten so each
// phone sends to its relay leg (control/sdp/sdp.h). Latch policy per leg comes
// from the NAT decision. Hold keeps the streams. BYE, CANCEL, a failure
// response, a timed-out INVITE and a dataplane idle event on an answered
// call (BYE to both phones) delete them. A dataplane that cannot be
// reached answers the INVITE 503 with a Warning; after it comes back every
// live call's streams are allocated again at the same relay ports.
//
// Single-threaded: one owner (the event loop) calls everything.
#pragma once

#include <chrono>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "common/bucket_histogram.h"
#include "common/ip_address.h"
#include "control/media/call_replica.h"
#include "control/media/call_record.h"
#include "control/media/call_table.h"
#include "control/media/dataplane_link.h"
#include "control/nat/inside_prefixes.h"
#include "control/media/keepalive_learner.h"
#include "control/media/keepalive_sync.h"
#include "control/nat/nat_policy.h"
#include "control/registrar/registrar.h"
#include "control/routing/dial_plan.h"
#include "control/routing/forked_invite.h"
#include "control/routing/node_router.h"
#include "control/routing/peer_set.h"
#include "control/sip/flow_token.h"
#include "control/sip/sip_transactions.h"
#include "control/sip/sip_response.h"
#include "control/sip/sip_transport.h"
#include "control/sip/sip_uri.h"
#include "control/guard/sip_guard.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

struct ProxyConfig {
  std::string domain;  // served by the registrar
  // Addresses and ports that mean "this server" in a Request-URI or Route.
  std::vector<IpAddress> local_addresses;
  std::vector<uint16_t> local_ports;
  // What we put in Via and Record-Route, per family: the address phones
  // reach us at.
  std::optional<Endpoint> advertised_v4;
  std::optional<Endpoint> advertised_v6;
  // The same for TLS (its own port); unset: no TLS listener.
  std::optional<Endpoint> advertised_tls_v4;
  std::optional<Endpoint> advertised_tls_v6;
  // Callers in our domain must answer a 407 challenge.
  bool authenticate_calls = true;
  // Relay every call's media (true), or only where a leg is NAT'd or the
  // families differ (false).
  bool anchor_media_always = true;
  std::string server_header;
  // OPTIONS "qualify" of every NAT'd binding at this interval (0: off); a
  // binding whose phone does not answer is removed with its keepalive.
  // Bindings still learning their NAT timeout are left to the learner.
  uint32_t qualify_interval_s = 0;
  // RFC 3261 timer C: an INVITE branch still unanswered after this long is
  // CANCELled (the caller gets 487 and the call's streams go).
  uint32_t max_ringing_s = 180;
  // Our SIP Outbound flow tokens (their key); unset: the Proxy makes one.
  std::optional<FlowTokens> flow_tokens;
  // A cluster's VIPs (docs/cluster.md): a call signalled on one has its
  // relay ports there and is shared under it (set_call_replica); our Via
  // and Record-Route on a VIP's socket name the VIP, so the phones'
  // in-dialog requests reach whichever node holds it.
  std::vector<IpAddress> shared_addresses;
};

struct ProxyCounters {
  uint64_t requests = 0;
  uint64_t registers = 0;
  uint64_t invites = 0;
  uint64_t calls_connected = 0;
  uint64_t calls_failed = 0;
  uint64_t calls_cancelled = 0;
  uint64_t calls_ended_bye = 0;
  uint64_t calls_ended_idle = 0;
  uint64_t auth_challenges = 0;     // 401s and 407s
  uint64_t raw_challenges = 0;      // of those, REGISTERs challenged from their raw lines
  uint64_t request_challenges = 0;  // the 407s: requests other than REGISTER
  uint64_t bad_extensions = 0;      // 420: an option tag we do not understand
  uint64_t rejected_dataplane = 0;  // 503: dataplane unreachable or out of ports
  uint64_t forwarded_requests = 0;
  uint64_t forwarded_responses = 0;
  uint64_t stateless_forwards = 0;  // ACK for 2xx, 2xx retransmissions
  uint64_t dropped = 0;             // stray responses/ACKs nobody owns
  // Stray ACKs and 2xx retransmissions of a known call that could not be
  // forwarded (no route, rewrite or serialisation failed).
  uint64_t stray_unforwardable = 0;
  uint64_t in_dialog_unknown = 0;   // 481
  // RFC 5626 5.3: in-dialog requests routed by the flow token in our
  // Route entry; tokens refused (not ours: 403); flows gone (430).
  uint64_t flow_token_routed = 0;
  uint64_t flow_token_refused = 0;
  uint64_t flow_failed = 0;
  uint64_t pairs_allocated = 0;
  uint64_t pairs_deleted = 0;
  uint64_t pair_delete_failures = 0;  // the dataplane refused or did not answer
  uint64_t pairs_repushed = 0;
  uint64_t repush_failures = 0;
  uint64_t qualify_sent = 0;
  uint64_t qualify_answered = 0;
  uint64_t qualify_dead = 0;  // bindings removed: no answer
  uint64_t calls_ring_timeout = 0;  // timer C fired
  uint64_t calls_to_peers = 0;      // INVITEs routed by the dial plan
  uint64_t calls_from_peers = 0;    // INVITEs from a trusted peer
  uint64_t peer_failovers = 0;      // an INVITE went on to the next target
  uint64_t peer_no_answer = 0;      // a target did not answer in time
  uint64_t peer_probes_sent = 0;    // OPTIONS to down targets
  uint64_t peers_recovered = 0;     // down targets that answered a probe
  uint64_t peer_challenges_answered = 0;  // 401/407 from a peer, INVITE resent
  uint64_t peer_registers_sent = 0;
  uint64_t dns_lookups = 0;   // requests to host names that waited for DNS
  uint64_t dns_failures = 0;  // of which could not be routed (404/503)
  uint64_t calls_forked = 0;        // INVITEs that rang several bindings
  uint64_t fork_branches_cancelled = 0;
  uint64_t fork_answers_released = 0;  // a second 2xx: ACKed and BYEd
  // A cluster's shared calls: records written (one per call per loop
  // round that changed it), calls carried on from another node's record,
  // records that did not decode, calls given up with their VIP.
  uint64_t call_records_written = 0;
  uint64_t calls_adopted = 0;
  uint64_t call_records_bad = 0;
  uint64_t calls_given_up = 0;
  // Records not carried on: a call still ringing, or a Call-ID here already.
  uint64_t calls_not_adopted = 0;
  // Calls between a dead node and this one whose leg here took over the
  // dead node's side (SpliceDeadLeg).
  uint64_t calls_spliced = 0;
  // Requests to another node's phones sent through it, new calls handed
  // to another node while this one was busy, requests from other nodes.
  uint64_t via_node = 0;
  uint64_t calls_handed_off = 0;
  uint64_t from_nodes = 0;
  // Calls handed on that came back to one of this node's phones (their
  // second pass, Call::spiral).
  uint64_t calls_spiralled = 0;
};

class Proxy : public SipTransactions::Listener {
 public:
  struct Channels {
    // The UDP socket for a local address (or its family).
    std::function<std::optional<SipChannelId>(const Endpoint& local)> udp_socket_for;
    // The live TCP connection with a peer.
    std::function<std::optional<SipChannelId>(const Endpoint& peer)> tcp_connection_to;
    // The local address of a socket or connection (nullptr or nullopt:
    // unknown).
    std::function<std::optional<Endpoint>(SipChannelId channel)> local_of;
    // A TCP or TLS connection we open (or reuse) to a peer; nullptr: none.
    std::function<absl::StatusOr<SipChannelId>(const Endpoint& dest, SipTransportKind t,
                                               const std::string& host)>
        connect;
    // Sends bytes without a transaction (ACK for 2xx, 2xx retransmissions).
    std::function<absl::Status(absl::string_view bytes, const SipRoute& route)> send;
  };

  // Everything is borrowed and must outlive the proxy; `transactions` must
  // deliver its events to this proxy. `now` returns unix seconds, `now_ms`
  // milliseconds on any steady clock (nullptr: now() * 1000), for the NAT
  // timeout learning's gaps.
  Proxy(ProxyConfig config, Registrar& registrar, DataplaneLink& link, KeepaliveSync& keepalives,
        const InsidePrefixes& inside, const NatPolicyTable& policies,
        SipTransactions& transactions, Channels channels, std::function<int64_t()> now,
        std::function<int64_t()> now_ms = nullptr);

  // Every SIP message received (parsed or not), after it was handled (so a
  // probe's answer counts before it voids the probe as traffic): the
  // sender's NAT mapping was just used (the NAT timeout learning's gaps).
  void OnTraffic(const Endpoint& source);
  // A REGISTER the registrar would only challenge (raw_challenge.h): its
  // 401 from the raw lines, counted as the parsed one's would be; nullopt
  // when it takes the parse.
  std::optional<std::string> RawChallenge(const SipInbound& in);

  // SipTransactions::Listener
  void OnRequest(SipTxnId txn, SipMessage& request, const SipInbound& in) override;
  void OnStrayAck(SipMessage& ack, const SipInbound& in) override;
  void OnStrayResponse(SipMessage& response, const SipInbound& in) override;
  void OnResponse(SipTxnId txn, SipMessage& response) override;
  void OnClientFailure(SipTxnId txn, bool timeout) override;
  void OnTransactionEnd(SipTxnId txn) override;

  // Periodic work: prune expired bindings (a slice), dataplane events.
  // Call every few hundred ms.
  void Tick();
  // Drops up to `budget` expired bindings and their keepalive targets;
  // true if more are due. The event loop calls it every round while it
  // says so: a mass expiry is worked off between SIP reads, a slice at a
  // time, never in one stall.
  bool PruneExpired(size_t budget);
  // Binding changes made outside a REGISTER here (a cluster's other node
  // took a phone's binding, or this node adopted another's): its keepalive
  // target and NAT learning follow; new targets fire first within
  // `first_keepalive_within_ms` (0: anywhere in their first interval).
  void ApplyBindingChanges(const std::vector<BindingChange>& changes,
                           uint32_t first_keepalive_within_ms = 0);
  static constexpr size_t kPruneSlice = 256;
  // A slice also ends after this long, looked at after every binding
  // (Registrar::PruneExpired): where memory has gone cold (a VM's host
  // took it back) one removal took 2.5 ms, and looking every 16 bindings
  // held SIP for 40 ms.
  static constexpr std::chrono::microseconds kPruneSliceTime{2000};
  // After a (re)connection, installs the keepalive targets of up to
  // `budget` more bindings (one dataplane request); true while bindings
  // are left, and the event loop calls it every round until it says no.
  bool ReinstallKeepalives(size_t budget);
  static constexpr size_t kReinstallSlice = 2000;
  // Removes every keepalive target and installs the live set again, in
  // slices (ReinstallKeepalives): who may send from a VIP changed.
  void RestartKeepaliveReinstall();
  // The dataplane (re)connected: reconcile its streams and keepalive
  // targets with ours.
  // Dataplane events `filter` returns true for belong to another owner
  // of pairs (the ng server's calls) and are not the proxy's to act on.
  void set_event_filter(std::function<bool(const DataplaneEvent&)> filter) {
    event_filter_ = std::move(filter);
  }
  void OnDataplaneConnected();
  // The carrier edge: peers (trusted sources, targets, health), the dial
  // plan to them and the locator of named targets (RFC 3263); borrowed,
  // nullptr: none (no locator: named targets stay without hops).
  void set_edge(PeerSet* peers, const DialPlan* dial_plan, SipLocator* locator = nullptr) {
    peers_ = peers;
    dial_plan_ = dial_plan;
    locator_ = locator;
  }
  // The front door's defences (borrowed; nullptr: none): told of every
  // failed digest, it may turn the challenge into 403 and ban the source.
  void set_guard(SipGuard* guard) { guard_ = guard; }

  // A cluster's other nodes (borrowed; nullptr: none): another node's
  // phones are reached through it, a busy node hands new calls on, and
  // the nodes' requests are trusted (their callers were authenticated).
  void set_node_router(const NodeRouter* router) { node_router_ = router; }
  // A cluster's copy of the calls on its VIPs (borrowed; nullptr: none).
  void set_call_replica(CallReplica* replica) { replica_ = replica; }
  // The calls on a VIP that changed since the last call go to the replica,
  // each once: call at the end of every loop round.
  void ShareChangedCalls();
  // Records of calls on `vip`, which this node just took over: carried on
  // (their streams allocated at the same relay ports) in slices by
  // AdoptCallsSlice, `budget` calls a round; true while more wait.
  void QueueAdoptedCalls(const IpAddress& vip, std::vector<std::string> records);
  bool AdoptCallsSlice(size_t budget);
  static constexpr size_t kAdoptSlice = 64;
  // On an INVITE between two nodes of a cluster: "relayed" (the sending
  // node relays the call's media), "open" (the receiving node should) or
  // "handed-off" (the receiving node relays it and routes the call from
  // the start, as HandOff says).
  static constexpr absl::string_view kNodeMediaHeader = "X-Rtplatch-Media";
  // A spiral's second pass (Call::spiral): our Record-Route entries carry
  // this URI parameter and its INVITE's branches this suffix, so in-dialog
  // requests (by their top Route) and stray responses (by their top Via)
  // find the pass they belong to.
  static constexpr absl::string_view kSpiralParam = "spiral";
  static constexpr absl::string_view kSpiralBranchSuffix = ".spiral";
  // This node gave `vip` up: its calls are forgotten here without a BYE
  // or a write (the new holder carries them on), their pairs deleted.
  void GiveUpCalls(const IpAddress& vip);

  nlohmann::json CallsJson() const;
  nlohmann::json StatsJson() const;
  const ProxyCounters& counters() const { return counters_; }
  // From a new INVITE to its 2xx, for the calls that connected (seconds).
  const BucketHistogram& setup_seconds() const { return setup_seconds_; }
  const CallTable& calls() const { return calls_; }
  const KeepaliveLearner& learner() const { return learner_; }

 private:
  struct Fork;
  // What a client transaction forwards for.
  struct ClientContext {
    SipTxnId server = 0;     // 0: our own request (BYE on idle)
    std::string call_key;    // Call::Key(); empty: no call (REGISTER-less forwards)
    bool invite = false;
    bool initial = false;    // the dialog-creating INVITE
    bool to_callee = true;   // the request goes from caller to callee
    // A qualify OPTIONS: the binding it checks ("aor\ncontact").
    std::string qualify_binding;
    // A NAT timeout probe (KeepaliveLearner): the binding it tests.
    std::string probe_binding;
    uint64_t probe_id = 0;
    // The initial INVITE's branch to a peer target (PeerBranch).
    bool peer_branch = false;
    // The initial INVITE's branch `fork_branch` of a forked call.
    std::shared_ptr<Fork> fork;
    size_t fork_branch = 0;
    // An OPTIONS probe of a down peer target.
    std::optional<PeerTargetRef> peer_probe;
    // Our REGISTER to peer `peer_register` (at hop register_hop), and
    // whether it carried our answer to a challenge already.
    std::optional<uint32_t> peer_register;
    uint64_t register_id = 0;  // PeerRegistration::id of the one that sent it
    PeerTargetRef register_hop;
    bool register_authenticated = false;
  };

  // A call to a local user with several bindings: each branch's binding
  // and transaction, and the best final answer so far.
  struct Fork {
    explicit Fork(size_t n) : context(n), txns(n, 0) {}
    ForkedInvite context;
    std::vector<CallSide> sides;
    std::vector<SipTxnId> txns;  // 0: not sent
    std::optional<SipMessage> best;
  };

  // A call routed to a peer: the INVITE as every target gets it (SDP
  // rewritten, without our Via) and the targets left to try.
  struct PeerBranch {
    std::optional<SipMessage> invite;
    std::vector<PeerTargetRef> candidates;
    size_t next = 0;
    PeerTargetRef current;
    SipTransportKind in_transport = SipTransportKind::kUdp;
    bool in_ipv6 = false;
    int64_t sent_ms = 0;
    bool answered = false;  // the current target sent a response
    bool authenticated = false;  // our credentials went to the current hop
  };

  // The answer to a qualify or a NAT timeout probe, counted or handed to
  // the learner: true when `ctx` was one of those (nothing to forward).
  bool OwnOptionsAnswered(const ClientContext& ctx, int code);
  void HandleRegister(SipTxnId txn, SipMessage& request, const SipInbound& in);
  // RFC 3261 16.3 step 5 and 8.2.2.3: the 420 for option tags in
  // Proxy-Require (any request) or Require (one we answer ourselves) that
  // we do not understand; nullopt to go on.
  std::optional<SipReply> CheckExtensions(const SipMessage& request, absl::string_view method);
  void HandleCancel(SipTxnId txn, SipMessage& request);
  void HandleInDialog(SipTxnId txn, SipMessage& request, const SipInbound& in);
  void HandleOutOfDialog(SipTxnId txn, SipMessage& request, const SipInbound& in);
  // Who sends an out-of-dialog request: a configured peer, another node of
  // the cluster (and whether it relays the media: its header is removed
  // from `fwd`), or one of our users.
  struct Origin {
    std::optional<uint32_t> peer;
    bool node = false;
    bool media_relayed = false;
    // The node handed the call on whole (HandOff): route it from the start,
    // to any node's phone, the one it came from too.
    bool handed_off = false;
    bool local = false;  // our domain's (or a node's, which checked it)
  };
  Origin OriginOf(const SipMessage& request, SipMessage& fwd, const SipInbound& in);
  // HandleOutOfDialog's steps; each returns the reply that refuses the
  // request, or nullopt to go on.
  std::optional<SipReply> AuthorizeCaller(const SipMessage& request, const IpAddress& source);
  // A failed digest of `user` from `source`, told to the guard; true when
  // the guard banned the source and the request gets 403.
  bool GuardRefuses(bool auth_failed, const IpAddress& source, absl::string_view user);
  // A call from a trunk we register with, to our Contact: the target user
  // becomes the To header's (the number it calls).
  void TrunkTarget(const SipMessage& request, const SipInbound& in, UriParts& target) const;
  // The callee is a registered AOR of ours: its first binding, the
  // Request-URI set to its Contact.
  // `forks` (nullptr: ring the first binding only) gets the other
  // bindings that can be reached, of the first one's address family.
  // `own_only`: this node's own bindings only (a request from a node).
  std::optional<SipReply> FindLocalCallee(absl::string_view user, SipMessage& fwd,
                                          CallSide& callee,
                                          std::vector<CallSide>* forks = nullptr,
                                          bool own_only = false);
  // The callee side a binding of `aor` makes; an error says why it cannot
  // be reached now.
  absl::StatusOr<CallSide> SideOf(const Binding& b, const std::string& aor) const;
  // The callee is elsewhere: only our own users may call out, to an address.
  std::optional<SipReply> FindRemoteCallee(const UriParts& target, bool from_local,
                                           const SipMessage& request, CallSide& callee);
  // The callee is a number or domain the dial plan routes to a peer: the
  // route's first reachable target (the rest wait in `branch`).
  std::optional<SipReply> FindPeerCallee(const RouteConfig& route, const UriParts& target,
                                         CallSide& callee, PeerBranch& branch);
  // A local user: in the users file or registered now.
  bool IsLocalUser(absl::string_view user) const;
  CallSide CallerSide(const SipMessage& request, const SipInbound& in) const;
  // How a request came in, as its forwarding needs it.
  struct Arrival {
    SipTransportKind transport;
    bool ipv6;
  };
  // HandleOutOfDialog's second half, once the callee is known: forks,
  // peer branches or one forward; the call starts for an INVITE.
  void Forward(SipTxnId txn, const SipMessage& request, SipMessage fwd, Call call,
               const Arrival& arrival, PeerBranch* branch, std::vector<CallSide> forks);
  // Drained or overloaded (the node router says where): the call goes to
  // another node whole, its media relayed there; false to go on here.
  // A call to one of this node's own phones goes too: the node it goes to
  // routes it back here (the spiral, Call::spiral).
  bool HandOff(SipTxnId txn, const SipMessage& request, SipMessage& fwd, Call& call,
               const Arrival& arrival, const UriParts& target, bool to_us);
  // An INVITE from a node with the Call-ID of a call this node handed on
  // to a node: the call's second pass, to one of this node's phones.
  bool SpiralsBack(const SipMessage& request, bool from_node);
  // The key of the call an in-dialog request (arrived as `in`), or a
  // response that outlived its transaction, belongs to (Call::Key()).
  std::string InDialogKey(const SipMessage& request, const SipInbound& in);
  std::string StrayResponseKey(const SipMessage& response) const;
  // A client transaction's branch: a spiral's second pass marked.
  std::string NewBranch(const Call& call);
  // Our caller's request to a host name: located by DNS (RFC 3263), then
  // forwarded to its first reachable hop; 404 when the name has no SIP
  // server, 503 when DNS failed.
  void LocateRemote(SipTxnId txn, const SipMessage& request, SipMessage fwd, Call call,
                    const Arrival& arrival, const UriParts& target);
  // Sends the call's INVITE to the branch's next target that can be
  // reached; false when none is left.
  bool SendToNextPeer(Call& call, PeerBranch& branch);
  // A peer target's final answer `code` to the call's INVITE (or 0: its
  // transaction failed): true when the INVITE went on to another target
  // and the answer is not the caller's.
  bool PeerBranchAnswered(const ClientContext& ctx, int code, const SipMessage* response);
  // The branch's INVITE to hop `t`, with an Authorization-type header when
  // `auth_header` is not empty; false when it could not be sent.
  bool SendToHop(Call& call, PeerBranch& branch, const PeerTargetRef& t,
                 absl::string_view auth_header, absl::string_view auth_value);
  // A 401/407 from the branch's peer answered with its credentials: true
  // when the INVITE went again.
  bool AnswerPeerChallenge(Call& call, PeerBranch& branch, const SipMessage& response);
  // Targets that did not answer in time (no 100 even) lose the call to
  // the next one; down targets are probed.
  void PeerTimers();
  void SendPeerProbe(const PeerTargetRef& target);
  // Our REGISTER to peer `p` (at `hop`, or its first hop that is up), with
  // an Authorization-type header when answering a challenge.
  void SendPeerRegister(uint32_t p, std::optional<PeerTargetRef> hop,
                        absl::string_view auth_header = "", absl::string_view auth_value = "");
  // The peer's answer to our REGISTER (nullptr: none came).
  void PeerRegisterAnswered(const ClientContext& ctx, const SipMessage* response);
  absl::StatusOr<SipRoute> RouteToPeer(const PeerTargetRef& target) const;
  // A located hop: over UDP from our socket of its family, over TCP/TLS a
  // connection we open or reuse.
  absl::StatusOr<SipRoute> RouteToHop(const SipHop& hop) const;
  // What a request to a peer's hop carries as its Request-URI.
  std::string PeerRequestUri(const PeerTargetRef& target, absl::string_view user) const;
  // Stores the call, anchors its media and forwards the INVITE.
  // `branch`: the call goes to a peer (the INVITE is sent by
  // SendToNextPeer).
  // Where a forked call's INVITE came in (for each branch's Via).
  struct ForkContext {
    std::shared_ptr<Fork> fork;
    SipTransportKind in_transport;
    bool in_ipv6;
  };
  void StartCall(SipTxnId txn, Call call, const SipMessage& request, SipMessage fwd,
                 PeerBranch* branch = nullptr, const ForkContext* fork = nullptr);
  // A response on its way back (not a 100): the call's state and media,
  // then the caller.
  void RelayResponse(const ClientContext& ctx, SipMessage& response, int code);
  // CANCEL for the call's INVITE: every open branch of a forked call.
  void CancelBranches(const Call& call);
  // Rings every side of `fork` (the INVITE `fwd` without our Via); false
  // when no branch could be sent.
  bool SendForks(Call& call, const std::shared_ptr<Fork>& fork, const SipMessage& fwd,
                 SipTransportKind in_transport, bool in_ipv6);
  // A fork branch's answer: true when it is consumed here (not the
  // caller's, or forwarded from here as the best of all branches).
  bool ForkBranchAnswered(const ClientContext& ctx, SipMessage& response, int code);
  // ACK and BYE for a 2xx nobody wants (a fork's second answer).
  void ReleaseAnswer(const CallSide& side, const SipMessage& response);
  // Whether the call's media is relayed: its peer's media policy (or the
  // proxy's), NAT on either leg, or two address families.
  bool Anchored(const Call& call) const;
  // A stray ACK for a 2xx, or a 2xx retransmission, of a known call:
  // false when it could not be forwarded.
  bool ForwardStrayAck(Call& call, SipMessage& ack, const SipInbound& in);
  bool ForwardStrayResponse(Call& call, SipMessage& response);
  // The branch of a call its caller CANCELled answered `code`: a final
  // answer ends the call (a 2xx with a BYE to the callee).
  void FinishCancelledBranch(Call& call, int code);

  void RespondLocal(SipTxnId txn, int code, absl::string_view reason,
                    std::vector<std::string> headers = {});
  void Respond(SipTxnId txn, const SipReply& reply);
  // An internal error as the caller sees it (SipReplyForError), counted.
  void RespondToError(SipTxnId txn, const absl::Status& error);
  bool IsLocalHost(absl::string_view host, uint16_t port) const;
  bool IsOurDomain(absl::string_view host) const;
  // The URI names this server: our domain or one of our addresses.
  bool IsUs(const UriParts& uri) const {
    return IsOurDomain(uri.host) || IsLocalHost(uri.host, uri.port);
  }
  std::optional<Endpoint> Advertised(bool ipv6,
                                     SipTransportKind transport = SipTransportKind::kUdp) const;
  // The flow tokens of our Record-Route entries (RFC 5626 5.3): facing
  // the side the request came from (in) and the side it goes to (out);
  // empty: that side is not on an outbound flow.
  struct RecordRouteFlows {
    std::string in;
    std::string out;
    bool spiral = false;  // the entries carry kSpiralParam
    // The VIP the request came in on: the entry facing its sender names
    // it (not the address facing the next hop), so the sender's in-dialog
    // requests reach whichever node holds the VIP then.
    std::optional<Endpoint> in_vip;
  };
  // Via, and Record-Route unless `record_route` is null, for a request
  // leaving over `out` that came in over `in_transport`/`in_ipv6`.
  absl::Status PrepareForward(SipMessage& fwd, const SipRoute& out, SipTransportKind in_transport,
                              bool in_ipv6, const RecordRouteFlows* record_route,
                              std::string branch);
  // A Route entry names us: an address we listen on, but not a VIP that
  // another node holds now.
  bool IsOwnRoute(const SipContact& route) const;
  // Our own Route entries at the top of an in-dialog request, removed;
  // returns their user parts (flow tokens, where we wrote one).
  std::vector<std::string> PopOwnRoutes(SipMessage& request) const;
  // Where an in-dialog request from `sender` goes next: over the flow a
  // token in our Route names (unless it is the sender's own: its token, or
  // the flow the request came in over), else to the call's `target`.
  // Errors: PermissionDenied (a token not ours: 403), Unavailable (its
  // flow is gone: 430), NotFound (no route: 480).
  absl::StatusOr<SipRoute> InDialogRoute(const CallSide& sender, const CallSide& target,
                                         SipMessage& fwd, const SipInbound& in);
  // The flow `in` arrived over, as a token.
  std::string FlowTokenOf(const SipInbound& in) const;
  // The route to a phone of a call right now (TCP: its live connection).
  std::optional<SipRoute> RouteToSide(const CallSide& side, const SipMessage& fwd) const;
  // Where a binding registered from: its source, over the socket it used
  // (UDP) or its live connection (TCP); nullopt when that is gone.
  absl::StatusOr<SipRoute> RouteToSource(const Binding& b) const;
  // A binding: NAT'd or TCP at its source, otherwise at its Contact.
  absl::StatusOr<SipRoute> RouteToBinding(const Binding& b) const;
  // An address URI over UDP or an existing TCP connection; an error says
  // why not (a host name, an unsupported transport, no connection).
  absl::StatusOr<SipRoute> RouteToUri(const UriParts& uri) const;

  // Allocates/updates the call's media for SDP sent by one side and
  // rewrites `out`'s body for the other side.
  absl::Status ApplySdp(Call& call, bool from_caller, const SipMessage& in, SipMessage& out);
  void DeleteMedia(Call& call);
  // StatsJson's parts: all but the cluster's counters, and those (merged
  // into its "proxy" section).
  nlohmann::json CountersJson() const;
  nlohmann::json ClusterCountersJson() const;
  // Cluster (proxy_cluster.cc). The side a binding makes: SideOf, or
  // through the node that owns it (not with `own_only`: a request that
  // came from a node goes to this node's own phones only).
  absl::StatusOr<CallSide> ClusterSideOf(const Binding& b, const std::string& aor,
                                         bool own_only) const;
  // The side a request to `aor` through node `node` makes: to its SIP
  // address, the AOR as Request-URI.
  CallSide NodeSide(const Endpoint& node, const std::string& aor) const;
  // The local address of a route's socket or connection (nullopt: unknown).
  std::optional<Endpoint> LocalOf(const SipRoute& route) const;
  // The local address of a route's
  // socket when it is one of shared_addresses.
  std::optional<Endpoint> SharedLocalOf(const SipRoute& route) const;
  // The VIP a new call is shared under: its caller's socket's, else its
  // callee's; unspecified when neither is a VIP.
  IpAddress CallVip(const Call& call) const;
  // The relay address a leg of `ipv6` takes: the call's VIP when the
  // family matches, else the dataplane's choice.
  std::optional<IpAddress> LegAddress(const Call& call, bool ipv6) const;
  // The call goes to the replica at the end of the round.
  void MarkShared(const Call& call);
  // A latched or relatched event: where the leg's phone is, remembered.
  void RecordLatch(const DataplaneEvent& e);
  void AdoptCall(const IpAddress& vip, absl::string_view record);
  // A call between the node that held `vip` and this one has a leg on each
  // under one Call-ID: this node's (`here`, whose other side was that
  // node) takes over the dead leg's phone, and its media if that node
  // relayed it. False if the two are not such a pair.
  bool SpliceDeadLeg(Call& here, Call& dead, const IpAddress& vip,
                     const CallRecordLocals& locals);
  // The call's media lines allocated again at their recorded relay ports.
  void RepushMedia(Call& call);
  // A side's route on this node, from its local socket address.
  void ResolveRoute(CallSide& side, const Endpoint& local) const;
  // Deletes one pair (waiting for the reply, or posted), counted either way.
  void DeletePair(uint64_t pair, bool wait);
  void EndCall(const std::string& key);  // by Call::Key()
  // A request the proxy itself originates (BYE on idle, qualify OPTIONS):
  // the start line and header lines (CRLF-ended; no Via, Max-Forwards or
  // Content-Length), parsed; then sent with our Via in a client transaction.
  absl::StatusOr<SipMessage> OwnRequest(absl::string_view start_line, absl::string_view headers);
  absl::StatusOr<SipTxnId> SendOwnRequest(SipMessage request, const SipRoute& route);
  void SendBye(Call& call, bool to_caller);
  void Qualify(int64_t now);
  void SendQualify(const Binding& b);
  // An OPTIONS to a binding's phone from the socket it registered on, as
  // `from_user`@our domain; the client transaction, or nullopt.
  std::optional<SipTxnId> SendOptions(const Binding& b, absl::string_view from_user);
  void AbandonSettledProbes();
  bool SendProbe(const Binding& b, uint64_t probe_id);
  int64_t NowMs() const { return now_ms_ ? now_ms_() : now_() * 1000; }

  ProxyConfig config_;
  FlowTokens flow_tokens_;
  Registrar& registrar_;
  DataplaneLink& link_;
  KeepaliveSync& keepalives_;
  const InsidePrefixes& inside_;
  const NatPolicyTable& policies_;
  SipTransactions& txns_;
  Channels channels_;
  std::function<int64_t()> now_;
  std::function<int64_t()> now_ms_;

  CallTable calls_;
  CallReplica* replica_ = nullptr;
  const NodeRouter* node_router_ = nullptr;
  absl::flat_hash_set<std::string> calls_changed_;  // call keys to share
  std::deque<std::pair<IpAddress, std::string>> calls_to_adopt_;
  absl::flat_hash_map<SipTxnId, ClientContext> clients_;
  absl::flat_hash_map<SipTxnId, std::string> invite_servers_;  // IST -> call key
  int64_t last_ring_check_ = 0;
  // Qualify rounds: a walk of the bindings in AOR order, a slice per tick
  // from the last AOR qualified, so a million bindings never stall the
  // loop nor get copied.
  bool qualify_in_round_ = false;
  std::string qualify_after_;
  // A keepalive reinstall after a (re)connection: the same kind of walk,
  // a slice a loop round, from the last AOR installed.
  bool reinstall_pending_ = false;
  std::string reinstall_after_;
  int64_t qualify_round_started_ = 0;
  uint64_t qualify_counter_ = 0;
  absl::flat_hash_map<std::string, bool> qualify_pending_;
  KeepaliveLearner learner_;
  std::function<bool(const DataplaneEvent&)> event_filter_;
  PeerSet* peers_ = nullptr;
  SipGuard* guard_ = nullptr;
  const DialPlan* dial_plan_ = nullptr;
  SipLocator* locator_ = nullptr;
  absl::flat_hash_map<std::string, PeerBranch> peer_branches_;  // by call key
  absl::flat_hash_map<std::string, std::shared_ptr<Fork>> forks_;  // by call key
  // Requests waiting for DNS (LocateRemote), by lookup id.
  struct PendingLookup {
    SipTxnId txn;
    SipMessage request;
    SipMessage fwd;
    Call call;
    Arrival arrival;
    UriParts target;
  };
  absl::flat_hash_map<uint64_t, PendingLookup> lookups_;
  uint64_t lookup_counter_ = 0;
  // Outstanding NAT-timeout probes: transaction -> (binding key, probe id).
  absl::flat_hash_map<SipTxnId, std::pair<std::string, uint64_t>> probe_txns_;
  ProxyCounters counters_;
  // Set-up times from a fraction of a ring to a minute's (timer C: 180 s).
  BucketHistogram setup_seconds_{{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120}};
};

}  // namespace rtplatch
