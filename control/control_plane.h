// rtplatch-control's parts wired together, built from its config: the SIP
// transport feeds oSIP2's transactions, whose listener is the proxy +
// registrar; the proxy drives the dataplane over its control socket;
// operators ask the control socket. main.cc parses flags and calls
// RunOnce() until a signal; tests can build one on loopback and step it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics_http_server.h"
#include "common/control_server.h"
#include "control/cluster/redis_link.h"
#include "control/cluster/shared_bindings.h"
#include "control/cluster/shared_calls.h"
#include "control/cluster/node_routing.h"
#include "control/cluster/vip_ownership.h"
#include "control/control_config.h"
#include "control/guard/overload_shedder.h"
#include "control/guard/sip_guard.h"
#include "control/media/dataplane_link.h"
#include "control/media/keepalive_sync.h"
#include "control/nat/nat_policy.h"
#include "control/ng/ng_calls.h"
#include "control/ng/ng_server.h"
#include "control/operator/operator_commands.h"
#include "control/registrar/binding_store.h"
#include "control/registrar/binding_writer.h"
#include "control/registrar/registrar.h"
#include "control/registrar/reloadable_users.h"
#include "control/routing/proxy.h"
#include "control/sip/sip_transactions.h"
#include "control/sip/sip_transport.h"
#include "control/sip/stateless_core.h"

namespace rtplatch {

class ControlPlane : private SipTransactions::Listener, private OperatorView {
 public:
  // Opens the users file, the binding store, the SIP sockets and the
  // operator socket; the dataplane is tried once here and then from the
  // loop until it answers. Every error names the config field or file.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Create(ControlConfig config);
  ~ControlPlane() override;

  // One round of the event loop: waits up to kPollTimeoutMs for SIP input
  // and handles it, then whatever timers are due. An error is fatal.
  absl::Status RunOnce();
  // Re-reads the config file it was started from (SIGHUP, `rtplatchctl
  // reload`): the users file and the NAT policies are taken at once,
  // calls and registrations go on; a file that does not load is refused
  // with its error and the running config stays (config_reload.h).
  absl::StatusOr<nlohmann::json> ReloadConfig() { return Reload(); }

  // The startup line: listen addresses, domain, bindings, dataplane state.
  std::string StartupSummary() const;
  // Counters for the log when the process ends.
  std::string ShutdownSummary() const;

 private:
  explicit ControlPlane(ControlConfig config);
  absl::Status OpenRegistrar();
  absl::Status OpenSip();
  // The carrier edge: DNS (on the SIP loop), the locator, peers, dial plan.
  absl::Status OpenEdge();
  // The front door's defences, exempting the carrier's trusted peers.
  void OpenGuard();
  // False: the message was shed (dropped, or refused with 503).
  bool AdmitUnderLoad(const SipInbound& in, int64_t now_ms);
  void LogOverloadChange(bool was_overloaded) const;
  absl::Status OpenOperatorSocket();
  // /metrics (config_.metrics_listen): served from the timer round.
  absl::Status OpenMetrics();
  std::string RenderMetrics() const;
  absl::Status OpenCluster();
  void OnInbound(const SipInbound& in);
  void CommitBindingsIfDue(int64_t now_ms, bool round_was_idle);
  // What the store's writer refused since the last tick, in one line.
  void LogStoreFailures();

  // SipTransactions::Listener: the proxy, which is built after the
  // transactions it uses, so they reach it through here.
  void OnRequest(SipTxnId txn, SipMessage& request, const SipInbound& in) override;
  void OnStrayAck(SipMessage& ack, const SipInbound& in) override;
  void OnStrayResponse(SipMessage& response, const SipInbound& in) override;
  void OnResponse(SipTxnId txn, SipMessage& response) override;
  void OnClientFailure(SipTxnId txn, bool timeout) override;
  void OnTransactionEnd(SipTxnId txn) override;

  // OperatorView
  std::string ScanRegistrations(absl::string_view after, size_t budget, int64_t now,
                                absl::FunctionRef<void(const Binding&)> fn) const override;
  std::vector<Binding> RegistrationsOf(absl::string_view aor, int64_t now) const override;
  std::vector<Binding> RegistrationsPage(size_t offset, size_t limit, int64_t now) const override;
  size_t RegistrationCount() const override;
  nlohmann::json Calls() const override;
  nlohmann::json Stats() const override;
  nlohmann::json Peers() const override;
  // The SIP transport's counters (sip-stats and the shutdown line).
  nlohmann::json TransportJson() const;
  int64_t Now() const override;
  absl::StatusOr<nlohmann::json> SetNgDraining(bool on) override;
  absl::StatusOr<nlohmann::json> SetDraining(bool on) override;
  absl::StatusOr<nlohmann::json> Reload() override;
  nlohmann::json Bans() const override;
  absl::StatusOr<nlohmann::json> Unban(const IpAddress& source) override;
  absl::StatusOr<nlohmann::json> SetVipHeld(const IpAddress& vip, bool take) override;
  absl::StatusOr<nlohmann::json> CheckVip(const IpAddress& vip) const override;
  nlohmann::json VipsJson() const;
  nlohmann::json GuardJson() const;
  nlohmann::json OverloadJson() const;
  nlohmann::json ClusterJson() const;
  nlohmann::json Cluster() const override;
  std::string RedisWhere() const;
  // What this node's heartbeat says now (its SIP, calls, drained).
  void SetHeartbeat();

  const ControlConfig config_;
  std::unique_ptr<ReloadableUsers> users_;
  // The binding store, written off the event loop; null without `database`.
  std::unique_ptr<BindingWriter> writer_;
  std::unique_ptr<NatPolicyTable> policies_;
  std::unique_ptr<Registrar> registrar_;
  std::unique_ptr<DataplaneLink> link_;
  std::unique_ptr<KeepaliveSync> keepalives_;
  std::unique_ptr<StatelessCore> stateless_;
  std::unique_ptr<SipTls> tls_;  // null without tls_listen
  std::unique_ptr<SipTransport> transport_;
  std::unique_ptr<SipTransactions> transactions_;
  std::unique_ptr<DnsResolver> dns_;
  std::unique_ptr<SipLocator> locator_;
  std::unique_ptr<PeerSet> peers_;
  std::unique_ptr<DialPlan> dial_plan_;
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<SipGuard> guard_;  // null when the config turns it off
  std::unique_ptr<OverloadShedder> shedder_;  // likewise
  // What a refusal adds to its 503 (Retry-After), built once: a storm
  // refuses tens of thousands a second.
  std::vector<std::string> refusal_headers_;
  std::unique_ptr<OperatorCommands> operator_commands_;
  std::unique_ptr<ControlServer> operator_socket_;
  std::unique_ptr<MetricsHttpServer> metrics_;  // null without metrics_listen
  std::unique_ptr<NgCalls> ng_calls_;
  std::unique_ptr<NgServer> ng_;  // null without ng_listen
  // A cluster's shared bindings; null for a single node.
  std::unique_ptr<RedisLink> redis_;
  ClusterNodes nodes_;
  std::unique_ptr<SharedBindings> shared_;
  std::unique_ptr<VipOwnership> vips_;  // null for a single node
  std::unique_ptr<SharedCalls> shared_calls_;  // null for a single node
  std::unique_ptr<NodeRouting> node_routing_;  // null for a single node
  bool draining_ = false;  // rtplatchctl drain: the node takes no new calls
  // The config file's members as last loaded (reload compares with them).
  nlohmann::json loaded_json_;

  int64_t last_timers_ms_ = 0;
  int64_t last_tick_ms_ = 0;
  // Expired bindings to prune or keepalive targets to reinstall wait for
  // the next round.
  bool slices_pending_ = false;
  int64_t last_commit_ms_ = 0;
};

}  // namespace rtplatch
