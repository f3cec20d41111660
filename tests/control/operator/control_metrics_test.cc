#include "control/operator/control_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ControlMetricsTest, CountsBecomeNamedSeries) {
  SipMessageCounts messages;
  messages.Count(SipMessageCounts::Direction::kReceived, "INVITE sip:bob@example.test SIP/2.0\r\n");
  messages.Count(SipMessageCounts::Direction::kReceived, "REGISTER sip:example.test SIP/2.0\r\n");
  messages.Count(SipMessageCounts::Direction::kReceived, "REGISTER sip:example.test SIP/2.0\r\n");
  messages.Count(SipMessageCounts::Direction::kReceived, "FOO sip:x SIP/2.0\r\n");
  messages.Count(SipMessageCounts::Direction::kReceived, "\r\n\r\n");  // a keepalive
  messages.Count(SipMessageCounts::Direction::kReceived, "\x01garbage");
  messages.Count(SipMessageCounts::Direction::kSent, "SIP/2.0 401 Unauthorized\r\n");
  messages.Count(SipMessageCounts::Direction::kSent, "SIP/2.0 200 OK\r\n");
  messages.Count(SipMessageCounts::Direction::kSent, "SIP/2.0 999 Nonsense\r\n");
  ProxyCounters proxy;
  proxy.calls_connected = 3;
  proxy.calls_failed = 1;
  BucketHistogram setup({0.1, 1});
  setup.Observe(0.05);
  setup.Observe(0.5);
  setup.Observe(3);
  BindingStoreCounters store;
  store.writes = 7;
  store.backlog = 3;
  store.failed = 2;
  const std::string page = RenderControlMetrics({
      .messages = &messages,
      .proxy = &proxy,
      .setup_seconds = &setup,
      .calls_active = 2,
      .bindings = 5,
      .bindings_natted = 2,
      .store = &store,
      .link_connected = true,
  });
  EXPECT_THAT(page, HasSubstr("rtplatch_sip_requests_received_total{method=\"INVITE\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_sip_requests_received_total{method=\"REGISTER\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_sip_requests_received_total{method=\"other\"} 1\n"));
  EXPECT_THAT(page, Not(HasSubstr("method=\"ACK\"")));  // zeros left out
  EXPECT_THAT(page, HasSubstr("rtplatch_sip_responses_sent_total{code=\"401\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_sip_responses_sent_total{code=\"200\"} 1\n"));
  EXPECT_THAT(page, Not(HasSubstr("code=\"999\"")));
  EXPECT_THAT(page, HasSubstr("rtplatch_sip_unreadable_messages_total 1\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_calls 2\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_calls_total{outcome=\"connected\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_call_setup_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_call_setup_seconds_count 3\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_registrations{nat=\"behind_nat\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_registrations{nat=\"direct\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_binding_store_writes_total{kind=\"binding\"} 7\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_binding_store_backlog 3\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_binding_store_failures_total 2\n"));
  EXPECT_THAT(page, HasSubstr("rtplatch_dataplane_link_up 1\n"));
  // Parts that are off leave their families out.
  EXPECT_THAT(page, Not(HasSubstr("rtplatch_overloaded")));
  EXPECT_THAT(page, Not(HasSubstr("rtplatch_sip_bans_total")));
}

// Every family is declared once, with HELP and TYPE, and every counter
// ends in _total (Prometheus's conventions; promtool checks the live page
// in tests/integration/sip_proxy_test.sh).
TEST(ControlMetricsTest, FamiliesFollowTheConventions) {
  SipMessageCounts messages;
  ProxyCounters proxy;
  BucketHistogram setup({1});
  SipTransportCounters transport;
  SipTransactionCounters transactions;
  BindingStoreCounters store;
  DataplaneLinkCounters link;
  KeepaliveSyncCounters keepalives;
  SipGuardCounters guard;
  OverloadCounters overload;
  const std::string page = RenderControlMetrics({
      .messages = &messages, .transport = &transport, .transactions = &transactions,
      .proxy = &proxy, .setup_seconds = &setup, .store = &store, .link = &link,
      .keepalives = &keepalives, .guard = &guard, .overload = &overload});
  std::istringstream lines(page);
  std::string line;
  std::set<std::string> typed;
  const std::regex type_line("# TYPE (rtplatch_[a-z_]+) (counter|gauge|histogram)");
  std::smatch m;
  while (std::getline(lines, line)) {
    if (!std::regex_match(line, m, type_line)) continue;
    EXPECT_TRUE(typed.insert(m[1]).second) << m[1] << " declared twice";
    if (m[2] == "counter") {
      EXPECT_THAT(std::string(m[1]), ::testing::EndsWith("_total"));
    }
  }
  EXPECT_GE(typed.size(), 25u);
}

}  // namespace
}  // namespace rtplatch
