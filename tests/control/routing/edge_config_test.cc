// Parsing the carrier edge's "peers" and "routes" (control/routing/edge_config.h):
// a complete example, the defaults, and an error naming the field for
// every kind of bad entry.
#include "control/routing/edge_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rtplatch {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::SizeIs;

json Parse(absl::string_view text) { return json::parse(text); }

const char kPeers[] = R"([
  {"name": "core",
   "targets": [{"uri": "sip:203.0.113.40:5070", "priority": 1, "weight": 10},
               {"uri": "sip:[2001:db8::41];transport=udp", "priority": 2}],
   "media": "nat", "answer_timeout_ms": 1500, "failures_to_down": 5,
   "probe_interval_s": 30},
  {"name": "backup", "targets": [{"uri": "sip:198.51.100.50"}],
   "auth": {"username": "edge", "password": "trunk secret"},
   "register": {"aor": "sip:edge@carrier.example", "expires": 300},
   "trusted_sources": ["198.51.100.0/24", "2001:db8:5::1"]}
])";
const char kRoutes[] = R"([
  {"prefix": "+44", "peers": ["core"]},
  {"prefix": "112", "peers": ["core", "backup"]},
  {"domain": "Carrier.Example", "peers": ["backup"]},
  {"default": true, "peers": ["core"]}
])";

TEST(EdgeConfigTest, ACompleteExample) {
  absl::StatusOr<EdgeConfig> edge = ParseEdgeConfig(Parse(kPeers), Parse(kRoutes));
  ASSERT_TRUE(edge.ok()) << edge.status();
  ASSERT_THAT(edge->peers, SizeIs(2));
  const PeerConfig& core = edge->peers[0];
  EXPECT_EQ(core.name, "core");
  ASSERT_THAT(core.targets, SizeIs(2));
  EXPECT_EQ(core.targets[0].parts.port, 5070);
  EXPECT_EQ(core.targets[0].weight, 10);
  EXPECT_EQ(core.targets[1].ip->ToString(), "2001:db8::41");
  EXPECT_EQ(core.targets[1].parts.port, 5060);
  EXPECT_EQ(core.targets[1].priority, 2);
  EXPECT_EQ(core.media, PeerMedia::kNat);
  EXPECT_EQ(core.answer_timeout_ms, 1500u);
  EXPECT_EQ(core.failures_to_down, 5u);
  EXPECT_EQ(core.probe_interval_s, 30u);
  // Trusted by default: exactly the targets' addresses.
  ASSERT_THAT(core.trusted_sources, SizeIs(2));
  EXPECT_TRUE(core.trusted_sources[0].Contains(*IpAddress::Parse("203.0.113.40")));
  EXPECT_FALSE(core.trusted_sources[0].Contains(*IpAddress::Parse("203.0.113.41")));
  const PeerConfig& backup = edge->peers[1];
  EXPECT_EQ(backup.media, PeerMedia::kAlways);
  EXPECT_EQ(backup.auth_username, "edge");
  EXPECT_EQ(backup.auth_password, "trunk secret");
  EXPECT_TRUE(core.auth_username.empty());
  EXPECT_EQ(backup.registration.aor, "sip:edge@carrier.example");
  EXPECT_EQ(backup.registration.contact_user, "edge") << "the AOR's user by default";
  EXPECT_EQ(backup.registration.expires_s, 300u);
  EXPECT_TRUE(core.registration.aor.empty());
  EXPECT_EQ(backup.answer_timeout_ms, 3000u);
  EXPECT_TRUE(backup.trusted_sources[0].Contains(*IpAddress::Parse("198.51.100.99")));
  ASSERT_THAT(edge->routes, SizeIs(4));
  EXPECT_EQ(edge->routes[1].peers, (std::vector<std::string>{"core", "backup"}));
  EXPECT_EQ(edge->routes[2].domain, "carrier.example");
  EXPECT_TRUE(edge->routes[3].is_default);
}

TEST(EdgeConfigTest, AHostNameTargetIsLocatedByDnsAndNeedsTrustedSources) {
  absl::StatusOr<EdgeConfig> edge = ParseEdgeConfig(
      Parse(R"([{"name": "core", "targets": [{"uri": "sip:Carrier.Example"}],
                 "trusted_sources": ["203.0.113.40/31"]}])"),
      json());
  ASSERT_TRUE(edge.ok()) << edge.status();
  EXPECT_FALSE(edge->peers[0].targets[0].ip.has_value());
  EXPECT_EQ(edge->peers[0].targets[0].parts.host, "Carrier.Example");
  EXPECT_FALSE(edge->peers[0].targets[0].parts.port_given) << "RFC 3263: NAPTR and SRV apply";
}

// A TLS peer known by its client certificate's name may be reached by
// name without listing addresses: the certificate is its trust, from any
// address. Address targets are still trusted by default.
TEST(EdgeConfigTest, AHostNameTargetOfAPeerKnownByCertificateNeedsNoTrustedSources) {
  absl::StatusOr<EdgeConfig> edge = ParseEdgeConfig(
      Parse(R"([{"name": "core",
                 "targets": [{"uri": "sip:core.carrier.example:5061;transport=tls"},
                             {"uri": "sip:198.51.100.50:5061;transport=tls"}],
                 "trusted_tls_names": ["Core.Carrier.Example"]}])"),
      json());
  ASSERT_TRUE(edge.ok()) << edge.status();
  const PeerConfig& core = edge->peers[0];
  EXPECT_EQ(core.trusted_tls_names, (std::vector<std::string>{"core.carrier.example"}));
  ASSERT_THAT(core.trusted_sources, SizeIs(1));
  EXPECT_TRUE(core.trusted_sources[0].Contains(*IpAddress::Parse("198.51.100.50")));
  EXPECT_FALSE(core.trusted_sources[0].Contains(*IpAddress::Parse("198.51.100.51")));
}

TEST(EdgeConfigTest, NothingGivenIsNoEdge) {
  absl::StatusOr<EdgeConfig> edge = ParseEdgeConfig(json(), json());
  ASSERT_TRUE(edge.ok());
  EXPECT_TRUE(edge->peers.empty());
  EXPECT_TRUE(edge->routes.empty());
}

struct BadCase {
  const char* peers;
  const char* routes;
  const char* error;
};

TEST(EdgeConfigTest, EveryBadEntryNamesItsField) {
  const BadCase kCases[] = {
      {R"({"name": "x"})", "[]", "config: peers: must be a list"},
      {R"([{"targets": [{"uri": "sip:192.0.2.1"}]}])", "[]", "peers[0].name"},
      {R"([{"name": "x", "targets": []}])", "[]", "peers[0].targets: must list"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}], "colour": 1}])", "[]",
       "peers[0].colour: unknown field"},
      {R"([{"name": "x", "targets": [{"uri": "tel:+441234"}]}])", "[]",
       "peers[0].targets[0].uri: 'tel:+441234' is not a sip: URI"},
      {R"([{"name": "x", "targets": [{"uri": "sip:core.carrier.example"}]}])", "[]",
       "peers[0].trusted_sources: required: targets[0] is a host name"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1;transport=sctp"}]}])", "[]",
       "peers[0].targets[0].uri: transport 'sctp'"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1:99999"}]}])", "[]",
       "peers[0].targets[0].uri: 'sip:192.0.2.1:99999' is not a valid SIP URI"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1", "priority": -1}]}])", "[]",
       "peers[0].targets[0].priority"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}], "media": "never"}])", "[]",
       "peers[0].media"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}],
            "trusted_sources": ["192.0.2.1/24"]}])",
       "[]", "peers[0].trusted_sources[0]"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}], "answer_timeout_ms": 5}])",
       "[]", "peers[0].answer_timeout_ms"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}]},
           {"name": "x", "targets": [{"uri": "sip:192.0.2.2"}]}])",
       "[]", "peers[1].name: 'x' is used twice"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}], "auth": {"username": "u"}}])",
       "[]", "peers[0].auth: needs a username and a password"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}], "auth": {"user": "u"}}])", "[]",
       "peers[0].auth.user: unknown field"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}], "register": {"aor": "sip:carrier.example"}}])",
       "[]", "peers[0].register.aor: 'sip:carrier.example' is not a sip: URI with a user"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}], "register": {"aor": "sip:e@c.example", "expires": 5}}])",
       "[]", "peers[0].register.expires"},
      {"[]", R"([{"prefix": "+44", "peers": ["nobody"]}])",
       "routes[0].peers[0]: no peer named 'nobody'"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}]}])",
       R"([{"prefix": "+44", "domain": "a.example", "peers": ["x"]}])",
       "routes[0]: needs exactly one of"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}]}])", R"([{"peers": ["x"]}])",
       "routes[0]: needs exactly one of"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}]}])",
       R"([{"prefix": "+4 4", "peers": ["x"]}])", "routes[0].prefix: '+4 4' is not a dial prefix"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}]}])",
       R"([{"prefix": "+44", "peers": []}])", "routes[0].peers: must name at least one peer"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}]}])",
       R"([{"prefix": "+44", "peers": ["x"]}, {"prefix": "+44", "peers": ["x"]}])",
       "routes[1]: prefix '+44' is routed twice"},
      {R"([{"name": "x", "targets": [{"uri": "sip:192.0.2.1"}]}])",
       R"([{"default": true, "peers": ["x"]}, {"default": true, "peers": ["x"]}])",
       "routes[1]: the default route is routed twice"},
  };
  for (const BadCase& c : kCases) {
    absl::StatusOr<EdgeConfig> edge = ParseEdgeConfig(Parse(c.peers), Parse(c.routes));
    ASSERT_FALSE(edge.ok()) << c.peers << " " << c.routes;
    EXPECT_THAT(edge.status().message(), HasSubstr(c.error)) << c.peers << " " << c.routes;
    EXPECT_THAT(edge.status().message(), HasSubstr("config: "));
  }
}

}  // namespace
}  // namespace rtplatch
