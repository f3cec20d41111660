#include "control/control_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ControlConfigTest, DefaultsWhenEmpty) {
  auto c = ParseControlConfig("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->sip_listen.size(), 1u);
  EXPECT_EQ(c->sip_listen[0].ToString(), "0.0.0.0:5060");
  EXPECT_EQ(c->inside_prefixes.prefixes().size(), InsidePrefixes::Default().prefixes().size());
  EXPECT_EQ(c->server_header, "rtplatch");
  EXPECT_FALSE(c->dataplane_socket.empty());
  EXPECT_FALSE(c->control_socket.empty());
  EXPECT_TRUE(c->ng_listen.empty()) << "the ng protocol is served only when asked for";
}

TEST(ControlConfigTest, MetricsListenIsAnAddressOrAClearError) {
  auto off = ParseControlConfig("{}");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->metrics_listen.has_value()) << "served only when asked for";
  auto on = ParseControlConfig(R"({"metrics_listen": "127.0.0.1:9470"})");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(on->metrics_listen->ToString(), "127.0.0.1:9470");
  for (const char* bad : {R"({"metrics_listen": "127.0.0.1"})", R"({"metrics_listen": 9470})",
                          R"({"metrics_listen": "localhost:9470"})"}) {
    auto c = ParseControlConfig(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_TRUE(absl::StrContains(c.status().message(), "metrics_listen")) << c.status();
  }
}

TEST(ControlConfigTest, PeersAndRoutesMakeTheEdge) {
  auto c = ParseControlConfig(R"({
    "peers": [{"name": "core", "targets": [{"uri": "sip:203.0.113.40"}]}],
    "routes": [{"prefix": "+1", "peers": ["core"]}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->edge.peers.size(), 1u);
  EXPECT_EQ(c->edge.routes[0].prefix, "+1");
  auto none = ParseControlConfig("{}");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->edge.peers.empty()) << "no peers unless configured";
  auto bad = ParseControlConfig(R"({"routes": [{"prefix": "+1", "peers": ["core"]}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Message(bad.status()), HasSubstr("config: routes[0].peers[0]: no peer named"));
}

TEST(ControlConfigTest, OverloadSheddingIsOnByDefaultAndConfigurable) {
  auto defaults = ParseControlConfig("{}");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_TRUE(defaults->overload.enabled);
  auto c = ParseControlConfig(R"({"overload": {"retry_after_s": 20}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->overload.retry_after_s, 20u);
  auto bad = ParseControlConfig(R"({"overload": {"leave_delay_ms": 500}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Message(bad.status()), HasSubstr("config: overload.leave_delay_ms"));
}

TEST(ControlConfigTest, DnsServersAndLimits) {
  auto c = ParseControlConfig(
      R"({"dns": {"servers": ["203.0.113.53", "[2001:db8::53]:5353"], "timeout_ms": 500}})");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->dns.servers.size(), 2u);
  EXPECT_EQ(c->dns.servers[0].ToString(), "203.0.113.53:53");
  EXPECT_EQ(c->dns.servers[1].ToString(), "[2001:db8::53]:5353");
  EXPECT_EQ(c->dns.timeout_ms, 500u);
  EXPECT_EQ(c->dns.tries, 2u);
  auto defaults = ParseControlConfig("{}");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->dns.servers.empty()) << "the system's resolvers";
  for (const char* bad : {R"({"dns": {"servers": ["dns.example"]}})",
                          R"({"dns": {"servers": ["0.0.0.0"]}})",
                          R"({"dns": {"timeout_ms": 1}})", R"({"dns": {"color": 1}})",
                          R"({"dns": []})"}) {
    auto r = ParseControlConfig(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(Message(r.status()), HasSubstr("config: dns")) << bad;
  }
}

TEST(ControlConfigTest, TlsListenNeedsItsFiles) {
  auto c = ParseControlConfig(R"({"tls_listen": ["203.0.113.10:5061"],
    "tls": {"certificate": "/etc/rtplatch/tls/cert.pem", "private_key": "/etc/rtplatch/tls/key.pem",
            "ca_file": "/etc/rtplatch/tls/ca.pem", "require_client_certificate": true}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls_listen[0].ToString(), "203.0.113.10:5061");
  EXPECT_TRUE(c->tls.require_client_certificate);
  EXPECT_EQ(c->tls.min_version, "1.2");
  for (const char* bad :
       {R"({"tls_listen": ["203.0.113.10:5061"]})",
        R"({"tls": {"certificate": "c.pem"}})",
        R"({"tls": {"certificate": "c.pem", "private_key": "k.pem", "min_version": "1.0"}})",
        R"({"tls": {"certificate": "c.pem", "private_key": "k.pem", "ciphers": "x"}})"}) {
    auto r = ParseControlConfig(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(Message(r.status()), HasSubstr("config: tls")) << bad;
  }
}

TEST(ControlConfigTest, NgListenBothFamilies) {
  auto c = ParseControlConfig(R"({"ng_listen": ["127.0.0.1:2223", "[::1]:2223"]})");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->ng_listen.size(), 2u);
  EXPECT_EQ(c->ng_listen[1].ToString(), "[::1]:2223");
}

TEST(ControlConfigTest, NgOnlyModeHasNoSipListen) {
  auto c = ParseControlConfig(R"({"sip_listen": [], "ng_listen": ["127.0.0.1:2223"]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->sip_listen.empty());
}

TEST(ControlConfigTest, NgInterfacesNameTheRelayAddressesForDirection) {
  auto c = ParseControlConfig(R"({"ng_listen": ["127.0.0.1:2223"],
    "ng": {"interfaces": {"pub": ["203.0.113.10", "2001:db8::10"], "lan": ["198.51.100.10"]}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->ng.interfaces.size(), 2u);
  const NgInterface& pub = c->ng.interfaces.at("pub");
  EXPECT_EQ(pub.ipv4->ToString(), "203.0.113.10");
  EXPECT_EQ(pub.ipv6->ToString(), "2001:db8::10");
  EXPECT_FALSE(c->ng.interfaces.at("lan").ipv6.has_value());
}

TEST(ControlConfigTest, FullConfigIPv4AndIPv6) {
  auto c = ParseControlConfig(R"({
    "sip_listen": ["127.0.0.1:15060", "[::1]:15060"],
    "inside_prefixes": ["10.0.0.0/8", "192.0.2.0/24", "fd00::/8"],
    "dataplane_socket": "/tmp/dp.sock",
    "control_socket": "/tmp/cp.sock",
    "server_header": "rtplatch-test"
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->sip_listen.size(), 2u);
  EXPECT_EQ(c->sip_listen[0].ToString(), "127.0.0.1:15060");
  EXPECT_FALSE(c->sip_listen[1].ip.is_v4());
  EXPECT_EQ(c->sip_listen[1].port, 15060);
  EXPECT_EQ(c->inside_prefixes.prefixes().size(), 3u);
  EXPECT_TRUE(c->inside_prefixes.Contains(*IpAddress::Parse("192.0.2.7")));
  EXPECT_FALSE(c->inside_prefixes.Contains(*IpAddress::Parse("192.168.1.1")));
  EXPECT_EQ(c->dataplane_socket, "/tmp/dp.sock");
  EXPECT_EQ(c->control_socket, "/tmp/cp.sock");
  EXPECT_EQ(c->server_header, "rtplatch-test");
}

TEST(ControlConfigTest, EmptyServerHeaderMeansNone) {
  auto c = ParseControlConfig(R"({"server_header": ""})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->server_header.empty());
}

struct BadCase {
  const char* json;
  const char* expected;  // substring of the error
};

class ControlConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ControlConfigErrorTest, NamesTheField) {
  auto c = ParseControlConfig(GetParam().json);
  ASSERT_FALSE(c.ok()) << GetParam().json;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c.status()), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ControlConfigErrorTest,
    ::testing::Values(
        BadCase{"not json", "not valid JSON"},
        BadCase{"[1]", "top level must be an object"},
        BadCase{R"({"sip_lisen": []})", "config: sip_lisen: unknown field"},
        BadCase{R"({"sip_listen": "127.0.0.1:5060"})", "config: sip_listen: must be a list"},
        BadCase{R"({"sip_listen": []})", "config: sip_listen: must name at least one ip:port (or set ng_listen)"},
        BadCase{R"({"sip_listen": ["127.0.0.1:5060", 7]})", "config: sip_listen[1]: must be a non-empty string"},
        BadCase{R"({"sip_listen": ["127.0.0.1"]})", "config: sip_listen[0]: endpoint"},
        BadCase{R"({"sip_listen": ["127.0.0.1:0"]})", "config: sip_listen[0]: endpoint: bad port"},
        BadCase{R"({"sip_listen": ["::1:5060"]})", "config: sip_listen[0]"},
        BadCase{R"({"ng_listen": ["127.0.0.1:2223", "127.0.0.1:2223"]})",
                "config: ng_listen[1]: duplicate 127.0.0.1:2223"},
        BadCase{R"({"ng_listen": "127.0.0.1:2223"})", "config: ng_listen: must be a list"},
        BadCase{R"({"ng": {"interfaces": ["203.0.113.10"]}})", "config: ng.interfaces: must be an object"},
        BadCase{R"({"ng": {"interfaces": {"pub": []}}})", "config: ng.interfaces.pub: needs an address"},
        BadCase{R"({"ng": {"interfaces": {"pub": ["203.0.113.300"]}}})", "config: ng.interfaces.pub: '203.0.113.300'"},
        BadCase{R"({"ng": {"interfaces": {"pub": ["203.0.113.10", "203.0.113.11"]}}})",
                "config: ng.interfaces.pub: two IPv4 addresses"},
        BadCase{R"({"sip_listen": ["300.0.0.1:5060"]})", "config: sip_listen[0]"},
        BadCase{R"({"sip_listen": ["127.0.0.1:5060", "127.0.0.1:5060"]})",
                "config: sip_listen[1]: duplicate 127.0.0.1:5060"},
        BadCase{R"({"inside_prefixes": "10.0.0.0/8"})", "config: inside_prefixes: must be a list"},
        BadCase{R"({"inside_prefixes": ["10.0.0.1/8"]})", "config: inside_prefixes:"},
        BadCase{R"({"dataplane_socket": ""})", "config: dataplane_socket: must be a non-empty path"},
        BadCase{R"({"control_socket": 3})", "config: control_socket: must be a non-empty path"},
        BadCase{R"({"server_header": 3})", "config: server_header: must be a string"},
        BadCase{"{\"server_header\": \"a\\r\\nX-Evil: 1\"}",
                "config: server_header: must not contain control characters"},
        BadCase{R"({"cluster": []})", "config: cluster: must be an object"},
        BadCase{R"({"cluster": {"redis": "127.0.0.1:6379"}})", "config: cluster.node: ''"},
        BadCase{R"({"cluster": {"node": "a b"}})", "config: cluster.node: 'a b' is not"},
        BadCase{R"({"cluster": {"node": "a", "vips": "203.0.113.70"}})",
                "config: cluster.vips: must be a list"},
        BadCase{R"({"cluster": {"node": "a", "vips": ["203.0.113.70:5060"]}})",
                "config: cluster.vips[0]: '203.0.113.70:5060' is not an address"},
        BadCase{R"({"cluster": {"node": "a", "vips": ["203.0.113.70", "203.0.113.70"]}})",
                "config: cluster.vips[1]: 203.0.113.70 listed twice"},
        BadCase{R"({"cluster": {"node": "a", "prefix": "x:y"}})", "config: cluster.prefix: 'x:y'"},
        BadCase{R"({"cluster": {"node": "a", "redis": "redis.example"}})",
                "config: cluster.redis: 'redis.example' is not ip:port"},
        BadCase{R"({"cluster": {"node": "a", "sentinel": []}})", "config: cluster.sentinel: unknown field"}));

TEST(ControlConfigTest, ClusterNamesTheNodeAndItsRedis) {
  auto none = ParseControlConfig("{}");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->cluster.node, "") << "a single node by default";
  auto c = ParseControlConfig(
      R"({"sip_listen": ["203.0.113.61:5060"], "cluster": {"node": "edge-a", "redis": "[2001:db8::60]:6380", "prefix": "carrier1"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cluster.node, "edge-a");
  EXPECT_EQ(c->cluster.redis.ToString(), "[2001:db8::60]:6380");
  EXPECT_EQ(c->cluster.prefix, "carrier1");
  EXPECT_TRUE(c->cluster.vips.empty());
  auto vips = ParseControlConfig(
      R"({"sip_listen": ["203.0.113.61:5060"], "cluster": {"node": "edge-a", "vips": ["203.0.113.70", "2001:db8::70"]}})");
  ASSERT_TRUE(vips.ok()) << vips.status();
  ASSERT_EQ(vips->cluster.vips.size(), 2u);
  EXPECT_EQ(vips->cluster.vips[1].ToString(), "2001:db8::70");
  auto sentinels = ParseControlConfig(
      R"({"sip_listen": ["203.0.113.61:5060"], "cluster": {"node": "edge-a", "sentinels": ["203.0.113.60:26379", "203.0.113.60:26380"], "master": "carrier"}})");
  ASSERT_TRUE(sentinels.ok()) << sentinels.status();
  ASSERT_EQ(sentinels->cluster.sentinels.size(), 2u);
  EXPECT_EQ(sentinels->cluster.sentinels[1].ToString(), "203.0.113.60:26380");
  EXPECT_EQ(sentinels->cluster.master, "carrier");
  auto bad = ParseControlConfig(R"({"sip_listen": ["203.0.113.61:5060"], "cluster": {"node": "a", "sentinels": ["x"]}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Message(bad.status()), HasSubstr("cluster.sentinels[0]"));
  auto default_redis = ParseControlConfig(R"({"sip_listen": ["203.0.113.61:5060"], "cluster": {"node": "edge-b"}})");
  ASSERT_TRUE(default_redis.ok());
  EXPECT_EQ(default_redis->cluster.redis.ToString(), "127.0.0.1:6379");
  // The other nodes reach a node at its first SIP address: its own.
  for (const char* listen : {R"(["0.0.0.0:5060"])", R"(["203.0.113.70:5060", "203.0.113.61:5060"])"}) {
    auto shared = ParseControlConfig(absl::StrCat(R"({"sip_listen": )", listen,
                                                  R"(, "cluster": {"node": "a", "vips": ["203.0.113.70"]}})"));
    ASSERT_FALSE(shared.ok()) << listen;
    EXPECT_THAT(Message(shared.status()), HasSubstr("sip_listen[0]"));
  }
}

TEST(ControlConfigTest, LoadNamesTheFile) {
  std::string path = ::testing::TempDir() + "/control_config_test.json";
  {
    std::ofstream out(path);
    out << R"({"sip_listen": ["127.0.0.1:5"], "bogus": 1})";
  }
  auto c = LoadControlConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(Message(c.status()), HasSubstr("bogus"));
  EXPECT_THAT(Message(c.status()), HasSubstr(path));
  std::remove(path.c_str());

  auto missing = LoadControlConfig(path);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rtplatch
