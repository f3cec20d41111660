#include "control/media/call_record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "nlohmann/json.hpp"
#include "tests/common/endpoint_literal.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// An answered call between two NAT'd phones on VIP 203.0.113.70, one
// audio line latched both ways, as the node that holds the VIP has it.
Call Sample() {
  Call c;
  c.call_id = "a84b4c76e66710@192.0.2.2";
  c.state = Call::State::kConfirmed;
  c.vip = *IpAddress::Parse("203.0.113.70");
  c.caller.aor = "alice@example.com";
  c.caller.tag = "1928301774";
  c.caller.contact = "sip:alice@192.0.2.2:5060";
  c.caller.user_agent = "sipp \"3.6\"";
  c.caller.route = SipRoute{Ep("203.0.113.30:5060"), SipTransportKind::kUdp, 7};
  c.caller.natted = true;
  c.caller.nat_reasons = {"via differs"};
  c.caller.policy = LatchPolicy::kLearn;
  c.caller.cseq = 3;
  c.callee.aor = "bob@example.com";
  c.callee.tag = "a6c85cf";
  c.callee.contact = "sip:bob@198.51.100.2:5060";
  c.callee.route = SipRoute{Ep("203.0.113.31:5070"), SipTransportKind::kTcp, 9};
  c.callee.media_ipv6 = false;
  c.callee.policy = LatchPolicy::kLearn;
  c.callee.flow_token = "tok";
  c.from_header = "<sip:alice@example.com>;tag=1928301774";
  c.to_header = "<sip:bob@example.com>";
  c.anchored = true;
  c.created_at = 1'700'000'000;
  c.answered_at = 1'700'000'004;
  c.server_invite = 11;
  c.client_invite = 12;
  MediaLine m;
  m.pair = 5;
  m.stream_a = 9;
  m.stream_b = 10;
  m.relay_a = Ep("203.0.113.70:30000");
  m.rtcp_a = Ep("203.0.113.70:30001");
  m.relay_b = Ep("203.0.113.70:30002");
  m.rtcp_b = Ep("203.0.113.70:30003");
  m.peer_a = Ep("192.0.2.2:6000");
  m.latched_a = Ep("203.0.113.30:6000");
  m.latched_b = Ep("203.0.113.31:6000");
  m.rtcp_mux_b = true;
  c.media.push_back(m);
  return c;
}

const CallRecordLocals kLocals{Ep("203.0.113.70:5060"), Ep("203.0.113.70:5060")};

TEST(CallRecordTest, KeepsASpiralsSecondPassApartFromItsFirst) {
  Call c = Sample();
  c.spiral = true;
  absl::StatusOr<DecodedCallRecord> back = DecodeCallRecord(EncodeCallRecord(c, kLocals));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->call.spiral);
  EXPECT_EQ(back->call.Key(), c.Key());
  EXPECT_NE(back->call.Key(), Sample().Key()) << "the two passes of one Call-ID share no key";
}

TEST(CallRecordTest, RoundTripsWhatAnotherNodeNeedsAndDropsTheWritersIds) {
  const Call c = Sample();
  absl::StatusOr<DecodedCallRecord> back = DecodeCallRecord(EncodeCallRecord(c, kLocals));
  ASSERT_TRUE(back.ok()) << back.status();
  const Call& d = back->call;
  EXPECT_EQ(d.call_id, c.call_id);
  EXPECT_EQ(d.state, Call::State::kConfirmed);
  EXPECT_EQ(d.vip, c.vip);
  for (auto [got, want] : {std::pair{&d.caller, &c.caller}, std::pair{&d.callee, &c.callee}}) {
    EXPECT_EQ(got->aor, want->aor);
    EXPECT_EQ(got->tag, want->tag);
    EXPECT_EQ(got->contact, want->contact);
    EXPECT_EQ(got->user_agent, want->user_agent);
    EXPECT_EQ(got->route.dest, want->route.dest);
    EXPECT_EQ(got->route.transport, want->route.transport);
    EXPECT_EQ(got->route.channel, 0u) << "a channel id is the writer's";
    EXPECT_EQ(got->natted, want->natted);
    EXPECT_EQ(got->nat_reasons, want->nat_reasons);
    EXPECT_EQ(got->policy, want->policy);
    EXPECT_EQ(got->media_ipv6, want->media_ipv6);
    EXPECT_EQ(got->cseq, want->cseq);
    EXPECT_EQ(got->flow_token, want->flow_token);
  }
  EXPECT_EQ(back->locals.caller, kLocals.caller);
  EXPECT_EQ(back->locals.callee, kLocals.callee);
  EXPECT_EQ(d.from_header, c.from_header);
  EXPECT_EQ(d.to_header, c.to_header);
  EXPECT_TRUE(d.anchored);
  EXPECT_FALSE(d.spiral);
  EXPECT_EQ(d.created_at, c.created_at);
  EXPECT_EQ(d.answered_at, c.answered_at);
  EXPECT_EQ(d.server_invite, 0u);
  EXPECT_EQ(d.client_invite, 0u);
  ASSERT_EQ(d.media.size(), 1u);
  const MediaLine& m = d.media[0];
  const MediaLine& w = c.media[0];
  EXPECT_EQ(m.pair, 0u) << "pair and stream ids are the writer's dataplane's";
  EXPECT_EQ(m.stream_a, 0u);
  EXPECT_EQ(m.relay_a, w.relay_a);
  EXPECT_EQ(m.rtcp_a, w.rtcp_a);
  EXPECT_EQ(m.relay_b, w.relay_b);
  EXPECT_EQ(m.rtcp_b, w.rtcp_b);
  EXPECT_EQ(m.peer_a, w.peer_a);
  EXPECT_EQ(m.peer_b, std::nullopt) << "not in the SDP yet stays unknown";
  EXPECT_EQ(m.latched_a, w.latched_a);
  EXPECT_EQ(m.latched_b, w.latched_b);
  EXPECT_FALSE(m.rtcp_mux_a);
  EXPECT_TRUE(m.rtcp_mux_b);
}

TEST(CallRecordTest, AnUnknownLocalSocketStaysUnset) {
  absl::StatusOr<DecodedCallRecord> back = DecodeCallRecord(EncodeCallRecord(Sample(), {}));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->locals.caller.is_set());
}

TEST(CallRecordTest, BadRecordsAreErrorsNamingTheField) {
  const std::string good = EncodeCallRecord(Sample(), kLocals);
  EXPECT_FALSE(DecodeCallRecord("").ok());
  EXPECT_FALSE(DecodeCallRecord("[]").ok());
  EXPECT_FALSE(DecodeCallRecord(good.substr(0, good.size() / 2)).ok()) << "truncated";
  struct Case {
    json::json_pointer where;
    json value;
    const char* named;
  } cases[] = {
      {json::json_pointer("/call_id"), "", "call_id"},
      {json::json_pointer("/state"), "ringing", "state"},
      {json::json_pointer("/vip"), "not an address", "vip"},
      {json::json_pointer("/caller"), 3, "caller"},
      {json::json_pointer("/caller/aor"), "", "caller.aor"},
      {json::json_pointer("/caller/dest"), "203.0.113.30", "caller.dest"},
      {json::json_pointer("/callee/transport"), "SCTP", "callee.transport"},
      {json::json_pointer("/callee/policy"), "sometimes", "callee.policy"},
      {json::json_pointer("/callee/cseq"), -1, "callee.cseq"},
      {json::json_pointer("/callee/natted"), "yes", "callee.natted"},
      {json::json_pointer("/answered_at"), 1.5, "answered_at"},
      {json::json_pointer("/media"), json::object(), "media"},
      {json::json_pointer("/media/0/relay_b"), nullptr, "media[0].relay_b"},
      {json::json_pointer("/media/0/latched_a"), "x:y", "media[0].latched_a"},
      {json::json_pointer("/media/0/rtcp_mux_a"), 1, "media[0].rtcp_mux_a"},
  };
  for (const Case& c : cases) {
    json j = json::parse(good);
    j[c.where] = c.value;
    absl::StatusOr<DecodedCallRecord> d = DecodeCallRecord(j.dump());
    ASSERT_FALSE(d.ok()) << c.named;
    EXPECT_THAT(std::string(d.status().message()), HasSubstr(c.named));
    EXPECT_THAT(std::string(d.status().message()), HasSubstr("call record: "));
  }
}

}  // namespace
}  // namespace rtplatch
