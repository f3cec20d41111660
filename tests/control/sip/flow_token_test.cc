// SIP Outbound flow tokens (control/sip/flow_token.h): a token reads back
// as the flow it was made from; one bit changed, a token of another key,
// garbage or a truncated token is not ours; random keys differ.
#include "control/sip/flow_token.h"

#include <gtest/gtest.h>

#include <string>

namespace rtplatch {
namespace {

SipFlow Flow(const char* remote, const char* local, SipTransportKind t) {
  return SipFlow{t, *Endpoint::Parse(remote), *Endpoint::Parse(local)};
}

FlowTokens::Key KeyOf(uint8_t fill) {
  FlowTokens::Key k;
  k.fill(fill);
  return k;
}

TEST(FlowToken, ReadsBackTheFlowItWasMadeFrom) {
  const FlowTokens tokens(KeyOf(7));
  for (const SipFlow& f : {Flow("203.0.113.30:40123", "203.0.113.10:5060", SipTransportKind::kUdp),
                           Flow("[2001:db8::41]:5061", "[2001:db8::10]:5061", SipTransportKind::kTls),
                           Flow("198.51.100.7:1", "203.0.113.10:5060", SipTransportKind::kTcp)}) {
    const std::string token = tokens.Encode(f);
    std::optional<SipFlow> back = tokens.Decode(token);
    ASSERT_TRUE(back.has_value()) << token;
    EXPECT_EQ(*back, f);
    // It goes into a URI's user part: unreserved characters only.
    EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_"),
              std::string::npos)
        << token;
  }
}

TEST(FlowToken, TamperedForeignAndGarbageTokensAreNotOurs) {
  const FlowTokens tokens(KeyOf(7));
  const SipFlow f = Flow("203.0.113.30:40123", "203.0.113.10:5060", SipTransportKind::kUdp);
  const std::string token = tokens.Encode(f);
  for (size_t i = 0; i < token.size(); ++i) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(tokens.Decode(t).has_value()) << "changed at " << i << ": " << t;
  }
  EXPECT_FALSE(FlowTokens(KeyOf(8)).Decode(token).has_value());
  EXPECT_FALSE(tokens.Decode("").has_value());
  EXPECT_FALSE(tokens.Decode(token.substr(1)).has_value());
  EXPECT_FALSE(tokens.Decode(token + "A").has_value());
  EXPECT_FALSE(tokens.Decode(std::string(token.size(), '%')).has_value());
  EXPECT_FALSE(tokens.Decode(std::string(100000, 'A')).has_value());
}

TEST(FlowToken, RandomKeysDiffer) {
  auto a = FlowTokens::WithRandomKey();
  auto b = FlowTokens::WithRandomKey();
  ASSERT_TRUE(a.ok() && b.ok());
  const SipFlow f = Flow("203.0.113.30:40123", "203.0.113.10:5060", SipTransportKind::kUdp);
  EXPECT_TRUE(a->Decode(a->Encode(f)).has_value());
  EXPECT_FALSE(b->Decode(a->Encode(f)).has_value());
}

}  // namespace
}  // namespace rtplatch
