#include "control/operator/control_metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/prometheus_text.h"

namespace rtplatch {
namespace {

using Direction = SipMessageCounts::Direction;

void SipMessages(PrometheusText& t, const SipMessageCounts& m) {
  for (const auto& [direction, verb] :
       {std::pair{Direction::kReceived, "received"}, std::pair{Direction::kSent, "sent"}}) {
    t.Family(absl::StrCat("rtplatch_sip_requests_", verb, "_total"), MetricType::kCounter,
             absl::StrCat("SIP requests ", verb, ", by method (other: any method not named)."));
    m.ForEachRequest(direction, [&](absl::string_view method, uint64_t n) {
      t.Sample(static_cast<double>(n), {{"method", method}});
    });
    t.Family(absl::StrCat("rtplatch_sip_responses_", verb, "_total"), MetricType::kCounter,
             absl::StrCat("SIP responses ", verb, ", by status code."));
    m.ForEachResponse(direction, [&](int code, uint64_t n) {
      const std::string text = absl::StrCat(code);
      t.Sample(static_cast<double>(n), {{"code", text}});
    });
  }
  t.Family("rtplatch_sip_unreadable_messages_total", MetricType::kCounter,
           "Messages received whose first line is neither a request nor a status line.");
  t.Sample(static_cast<double>(m.unreadable(Direction::kReceived)));
}

void Transport(PrometheusText& t, const SipTransportCounters& c) {
  t.Counter("rtplatch_sip_udp_queue_overflows_total",
            "SIP datagrams the kernel dropped because the socket's queue was full.",
            c.udp_queue_overflows);
  t.Counter("rtplatch_sip_tcp_accepted_total", "TCP and TLS connections accepted.",
            c.tcp_accepted);
  t.Counter("rtplatch_sip_tls_handshake_failures_total", "TLS handshakes that failed.",
            c.tls_handshake_failures);
  t.Counter("rtplatch_sip_send_errors_total", "SIP messages the transport could not send.",
            c.send_errors);
}

void Transactions(PrometheusText& t, const SipTransactionCounters& c) {
  t.Family("rtplatch_sip_transactions_total", MetricType::kCounter,
           "SIP transactions created, by side.");
  t.Sample(static_cast<double>(c.server_created), {{"side", "server"}});
  t.Sample(static_cast<double>(c.client_created), {{"side", "client"}});
  t.Counter("rtplatch_sip_transaction_timeouts_total",
            "Client transactions that got no final response (timer B or F).", c.timeouts);
  t.Counter("rtplatch_sip_retransmissions_absorbed_total",
            "Request retransmissions answered by their transaction.",
            c.retransmissions_absorbed);
}

void Calls(PrometheusText& t, const ProxyCounters& c, size_t active) {
  t.Gauge("rtplatch_calls", "Calls in progress (ringing or answered).",
          static_cast<double>(active));
  t.Family("rtplatch_calls_total", MetricType::kCounter, "Calls set up, by outcome.");
  t.Sample(static_cast<double>(c.calls_connected), {{"outcome", "connected"}});
  t.Sample(static_cast<double>(c.calls_failed), {{"outcome", "failed"}});
  t.Sample(static_cast<double>(c.calls_cancelled), {{"outcome", "cancelled"}});
  t.Sample(static_cast<double>(c.calls_ring_timeout), {{"outcome", "ring_timeout"}});
  t.Family("rtplatch_calls_ended_total", MetricType::kCounter,
           "Answered calls that ended, by how.");
  t.Sample(static_cast<double>(c.calls_ended_bye), {{"reason", "bye"}});
  t.Sample(static_cast<double>(c.calls_ended_idle), {{"reason", "media_idle"}});
  t.Counter("rtplatch_calls_rejected_dataplane_total",
            "New calls refused because the dataplane was unreachable or out of ports.",
            c.rejected_dataplane);
  t.Counter("rtplatch_auth_challenges_total", "401 and 407 challenges sent.", c.auth_challenges);
}

void Registrations(PrometheusText& t, const ControlMetricsSources& s) {
  t.Family("rtplatch_registrations", MetricType::kGauge,
           "Bindings held (expired ones not yet pruned included), by NAT verdict.");
  t.Sample(static_cast<double>(s.bindings_natted), {{"nat", "behind_nat"}});
  t.Sample(static_cast<double>(s.bindings - s.bindings_natted), {{"nat", "direct"}});
  if (s.store != nullptr) {
    t.Family("rtplatch_binding_store_writes_total", MetricType::kCounter,
             "Changes written to the binding store, by kind.");
    t.Sample(static_cast<double>(s.store->writes), {{"kind", "binding"}});
    t.Sample(static_cast<double>(s.store->removals), {{"kind", "removal"}});
    t.Gauge("rtplatch_binding_store_backlog",
            "Binding changes handed to the store's writer and not yet committed.",
            static_cast<double>(s.store->backlog));
    t.Counter("rtplatch_binding_store_failures_total",
              "Binding changes the store refused (logged; memory still holds them).",
              s.store->failed);
  }
}

void Dataplane(PrometheusText& t, const ControlMetricsSources& s) {
  t.Gauge("rtplatch_dataplane_link_up", "1 when the control plane is connected to the dataplane.",
          s.link_connected ? 1 : 0);
  if (s.link != nullptr) {
    t.Counter("rtplatch_dataplane_requests_total", "Requests sent to the dataplane.",
              s.link->calls + s.link->posted);
    t.Counter("rtplatch_dataplane_request_failures_total",
              "Dataplane requests that failed (no answer, or refused).",
              s.link->call_failures + s.link->posted_failures);
    t.Counter("rtplatch_dataplane_reconnects_total", "Connections made to the dataplane.",
              s.link->reconnects);
  }
  t.Gauge("rtplatch_keepalive_targets", "NAT keepalive targets installed in the dataplane.",
          static_cast<double>(s.keepalive_targets));
  if (s.keepalives != nullptr) {
    t.Counter("rtplatch_keepalive_target_failures_total",
              "Keepalive target changes the dataplane did not take.", s.keepalives->failures);
  }
}

void Guard(PrometheusText& t, const ControlMetricsSources& s) {
  if (s.guard != nullptr) {
    const SipGuardCounters& g = *s.guard;
    t.Counter("rtplatch_auth_failures_total", "Digest credentials that did not verify.",
              g.auth_failures);
    t.Family("rtplatch_sip_bans_total", MetricType::kCounter, "Sources banned, by cause.");
    t.Sample(static_cast<double>(g.flood_bans), {{"reason", "flood"}});
    t.Sample(static_cast<double>(g.auth_bans), {{"reason", "auth_failures"}});
    t.Family("rtplatch_sip_guard_dropped_total", MetricType::kCounter,
             "SIP requests the guard dropped, by cause.");
    t.Sample(static_cast<double>(g.dropped_banned), {{"reason", "banned"}});
    t.Sample(static_cast<double>(g.dropped_flood), {{"reason", "flood"}});
    t.Sample(static_cast<double>(g.dropped_scanner), {{"reason", "scanner"}});
  }
  if (s.overload != nullptr) {
    t.Gauge("rtplatch_overloaded", "1 while the overload shedder refuses new work.",
            s.overloaded ? 1 : 0);
    t.Family("rtplatch_overload_refused_total", MetricType::kCounter,
             "New requests refused with 503 while overloaded, by method.");
    t.Sample(static_cast<double>(s.overload->refused_invites), {{"method", "INVITE"}});
    t.Sample(static_cast<double>(s.overload->refused_registers), {{"method", "REGISTER"}});
    t.Counter("rtplatch_overload_episodes_total", "Times the overload shedder turned on.",
              s.overload->overloads);
  }
}

}  // namespace

std::string RenderControlMetrics(const ControlMetricsSources& s) {
  PrometheusText t;
  if (s.messages != nullptr) SipMessages(t, *s.messages);
  if (s.transport != nullptr) Transport(t, *s.transport);
  if (s.transactions != nullptr) Transactions(t, *s.transactions);
  if (s.proxy != nullptr) Calls(t, *s.proxy, s.calls_active);
  if (s.setup_seconds != nullptr) {
    t.Histogram("rtplatch_call_setup_seconds",
                "From a new INVITE to its 2xx, for the calls that connected.",
                s.setup_seconds->upper_bounds(), s.setup_seconds->counts(),
                s.setup_seconds->sum());
  }
  Registrations(t, s);
  Dataplane(t, s);
  Guard(t, s);
  t.Counter("rtplatch_log_messages_held_back_total",
            "Log messages the per-source rate limit held back (told in a summary line).",
            s.log_held_back);
  return t.Take();
}

}  // namespace rtplatch
