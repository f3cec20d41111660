// Our registration with a peer (control/routing/peer_registration.h):
// the withdrawal a reload asks for, also while a REGISTER is in flight.
#include "control/routing/peer_registration.h"

#include <gtest/gtest.h>

namespace rtplatch {
namespace {

PeerRegistration Trunk() {
  return PeerRegistration(PeerRegistrationConfig{.aor = "sip:edge@carrier.example",
                                                 .contact_user = "edge",
                                                 .expires_s = 600});
}

TEST(PeerRegistrationTest, ARegisteredOneIsWithdrawnByExpiresZero) {
  PeerRegistration r = Trunk();
  r.Sent(0);
  r.Answered(200, 600, "", 100);
  r.Withdraw(1000);
  EXPECT_TRUE(r.Due(1000));
  EXPECT_EQ(r.expires_to_send(), 0u);
  r.Sent(1000);
  EXPECT_TRUE(r.unregister_in_flight());
  r.Answered(200, 0, "", 1100);
  EXPECT_TRUE(r.withdrawn());
  EXPECT_FALSE(r.registered(1100));
  EXPECT_FALSE(r.Due(1'000'000));
}

TEST(PeerRegistrationTest, AWithdrawalWaitsForTheRegisterInFlight) {
  PeerRegistration r = Trunk();
  r.Sent(0);
  r.Withdraw(100);
  EXPECT_FALSE(r.Due(100)) << "not alongside the REGISTER in flight";
  EXPECT_FALSE(r.unregister_in_flight());
  r.Answered(200, 600, "", 200);  // it registered us
  EXPECT_FALSE(r.withdrawn());
  EXPECT_TRUE(r.Due(200)) << "so the un-REGISTER goes now";
  EXPECT_EQ(r.expires_to_send(), 0u);
  r.Sent(200);
  r.Answered(200, 0, "", 300);
  EXPECT_TRUE(r.withdrawn());
}

TEST(PeerRegistrationTest, AFailedRegisterInFlightLeavesNothingToWithdraw) {
  PeerRegistration r = Trunk();
  r.Sent(0);
  r.Withdraw(100);
  r.Answered(403, 0, "answered 403", 200);
  EXPECT_TRUE(r.withdrawn());
  EXPECT_FALSE(r.Due(1'000'000));
}

TEST(PeerRegistrationTest, NeverRegisteredIsWithdrawnAtOnce) {
  PeerRegistration r = Trunk();
  r.Withdraw(0);
  EXPECT_TRUE(r.withdrawn());
  EXPECT_FALSE(r.Due(0));
}

TEST(PeerRegistrationTest, EachOneHasItsOwnId) {
  EXPECT_NE(Trunk().id(), Trunk().id());
}

}  // namespace
}  // namespace rtplatch
