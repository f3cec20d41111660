// The proxy and the guard (control/guard/sip_guard.h): every failed digest
// is told to the guard, and at its limit the request gets 403 and the
// source is banned (issue 16: password guessers).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "control/guard/sip_guard.h"
#include "tests/control/routing/proxy_fixture.h"

namespace rtplatch {
namespace proxy_fixture {
namespace {

class ProxyGuardTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(RequireAuth());

    SipGuardConfig gc;
    gc.auth.per_source = 3;
    guard_ = std::make_unique<SipGuard>(gc, nullptr);
    proxy_->set_guard(guard_.get());
  }

  // A REGISTER of `p` with a guessed digest (the server's nonce and opaque
  // not even right: a failure all the same).
  std::string GuessedRegister(const Phone& p, int cseq) {
    return absl::StrReplaceAll(
        RegisterText(p, cseq),
        {{"User-Agent:",
          absl::StrCat("Authorization: Digest username=\"", p.user,
                       "\", realm=\"example.com\", nonce=\"guess\", uri=\"sip:example.com\", "
                       "response=\"00112233445566778899aabbccddeeff\", opaque=\"guess\", "
                       "qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n"
                       "User-Agent:")}});
  }

  std::unique_ptr<SipGuard> guard_;
};

TEST_F(ProxyGuardTest, AGuesserIsChallengedUntilTheLimitThenRefusedAndBanned) {
  const size_t mark = sent_.size();
  for (int cseq = 1; cseq <= 3; ++cseq) Receive(GuessedRegister(kBob, cseq), kBob.source);
  EXPECT_THAT(CodesTo(kBob.source, mark), ElementsAre(401, 401, 403));
  EXPECT_EQ(guard_->counters().auth_failures, 3u);
  std::vector<SourceBan> bans = guard_->bans().Live(now_ms_);
  ASSERT_THAT(bans, SizeIs(1));
  EXPECT_EQ(bans[0].source, kBob.source.ip);
  EXPECT_EQ(guard_->Inspect(RegisterText(kBob, 4), kBob.source.ip, now_ms_),
            GuardVerdict::kBanned);
}

TEST_F(ProxyGuardTest, ARegisterWithoutCredentialsIsNoFailure) {
  const size_t mark = sent_.size();
  for (int cseq = 1; cseq <= 5; ++cseq) Receive(RegisterText(kBob, cseq), kBob.source);
  EXPECT_THAT(CodesTo(kBob.source, mark), ElementsAre(401, 401, 401, 401, 401));
  EXPECT_EQ(guard_->counters().auth_failures, 0u);
  EXPECT_THAT(guard_->bans().Live(now_ms_), IsEmpty());
}

}  // namespace
}  // namespace proxy_fixture
}  // namespace rtplatch
