#include "control/registrar/digest_auth.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace rtplatch {
namespace {

constexpr char kRealm[] = "example.com";
constexpr char kSecret[] = "0123456789abcdef-test-secret";
constexpr char kRegisterUri[] = "sip:example.com";
const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

class FakeUsers : public CredentialSource {
 public:
  void Add(UserCredential cred) {
    std::string key = absl::StrCat(cred.user, "@", cred.domain);
    users_[key] = std::move(cred);
  }
  std::optional<UserCredential> Find(absl::string_view user,
                                     absl::string_view domain) const override {
    auto it = users_.find(absl::StrCat(user, "@", absl::AsciiStrToLower(domain)));
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }

 private:
  absl::flat_hash_map<std::string, UserCredential> users_;
};

// Value of `name` in a challenge: name="value" or name=token.
std::string ChallengeParam(absl::string_view challenge, absl::string_view name) {
  std::string key = absl::StrCat(name, "=");
  size_t at = challenge.find(key);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = challenge.substr(at + key.size());
  if (absl::StartsWith(rest, "\"")) {
    return std::string(rest.substr(1, rest.find('"', 1) - 1));
  }
  return std::string(rest.substr(0, rest.find(',')));
}

struct Answer {
  std::string user = "alice";
  std::string password = "wonderland";
  std::string realm;  // empty: the challenge's
  std::string method = "REGISTER";
  std::string uri = kRegisterUri;
  std::string nc = "00000001";
  std::string cnonce = "0a4f113b";
};

// What a phone sends back for `challenge`.
std::string Respond(absl::string_view challenge, const Answer& a) {
  DigestAlgorithm algorithm =
      *ParseDigestAlgorithm(ChallengeParam(challenge, "algorithm"));
  std::string realm = a.realm.empty() ? ChallengeParam(challenge, "realm") : a.realm;
  std::string nonce = ChallengeParam(challenge, "nonce");
  std::string ha1 = ComputeHa1(algorithm, a.user, realm, a.password);
  std::string response = ComputeDigestResponse(algorithm, ha1, nonce, a.nc,
                                               a.cnonce, "auth", a.method, a.uri);
  return absl::StrCat(
      "Digest username=\"", a.user, "\", realm=\"", realm, "\", nonce=\"", nonce,
      "\", uri=\"", a.uri, "\", response=\"", response, "\", algorithm=",
      DigestAlgorithmName(algorithm), ", cnonce=\"", a.cnonce, "\", opaque=\"",
      ChallengeParam(challenge, "opaque"), "\", qop=auth, nc=", a.nc);
}

// ---- RFC vectors -------------------------------------------------------

TEST(DigestHashTest, KnownDigests) {
  EXPECT_EQ(DigestHash(DigestAlgorithm::kMd5, ""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(DigestHash(DigestAlgorithm::kMd5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(DigestHash(DigestAlgorithm::kSha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// RFC 2617 §3.5.
TEST(DigestVectorsTest, Rfc2617Md5Example) {
  auto c = ParseDigestCredentials(
      "Digest username=\"Mufasa\",\n"
      "                 realm=\"testrealm@host.com\",\n"
      "                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\n"
      "                 uri=\"/dir/index.html\",\n"
      "                 qop=auth,\n"
      "                 nc=00000001,\n"
      "                 cnonce=\"0a4f113b\",\n"
      "                 response=\"6629fae49393a05397450978507c4ef1\",\n"
      "                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->algorithm, DigestAlgorithm::kMd5);
  EXPECT_EQ(c->nc_value, 1u);
  std::string ha1 = ComputeHa1(DigestAlgorithm::kMd5, c->username, c->realm,
                               "Circle Of Life");
  EXPECT_EQ(ha1, "939e7578ed9e3c518a452acee763bce9");
  EXPECT_EQ(ComputeDigestResponse(DigestAlgorithm::kMd5, ha1, c->nonce, c->nc,
                                  c->cnonce, c->qop, "GET", c->uri),
            c->response);
  EXPECT_EQ(c->response, "6629fae49393a05397450978507c4ef1");
}

// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
TEST(DigestVectorsTest, Rfc7616Sha256AndMd5Example) {
  constexpr char kNonce[] = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  constexpr char kCnonce[] = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  auto c = ParseDigestCredentials(absl::StrCat(
      "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
      "uri=\"/dir/index.html\", algorithm=SHA-256, nonce=\"", kNonce,
      "\", nc=00000001, cnonce=\"", kCnonce,
      "\", qop=auth, "
      "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->algorithm, DigestAlgorithm::kSha256);
  std::string ha1 = ComputeHa1(DigestAlgorithm::kSha256, "Mufasa",
                               "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(ComputeDigestResponse(DigestAlgorithm::kSha256, ha1, kNonce,
                                  "00000001", kCnonce, "auth", "GET",
                                  "/dir/index.html"),
            c->response);

  std::string md5_ha1 = ComputeHa1(DigestAlgorithm::kMd5, "Mufasa",
                                   "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(ComputeDigestResponse(DigestAlgorithm::kMd5, md5_ha1, kNonce,
                                  "00000001", kCnonce, "auth", "GET",
                                  "/dir/index.html"),
            "8ca523f5e9506fed4657c9700eebdbec");
}

// ---- the authenticator --------------------------------------------------

class DigestAuthTest : public ::testing::TestWithParam<DigestAlgorithm> {
 protected:
  void SetUp() override {
    users_.Add({.user = "alice", .domain = kRealm, .password = "wonderland"});
    users_.Add({.user = "bob", .domain = kRealm, .password = "builder"});
    auth_ = MakeAuth({});
  }

  std::unique_ptr<DigestAuthenticator> MakeAuth(DigestAuthOptions options) {
    if (options.realm.empty()) options.realm = kRealm;
    if (options.secret.empty()) options.secret = kSecret;
    auto auth = DigestAuthenticator::Create(std::move(options), users_);
    EXPECT_TRUE(auth.ok()) << auth.status();
    return auth.ok() ? *std::move(auth) : nullptr;
  }

  absl::StatusOr<AuthenticatedUser> Verify(absl::string_view header,
                                           absl::Time now = kT0,
                                           absl::string_view aor_user = "alice") {
    return auth_->VerifyFor(aor_user, kRealm, header, "REGISTER", kRegisterUri, now);
  }

  DigestAlgorithm algorithm() const { return GetParam(); }
  std::string Challenge(absl::Time now = kT0) {
    return auth_->Challenge(algorithm(), now);
  }

  FakeUsers users_;
  std::unique_ptr<DigestAuthenticator> auth_;
};

// Our client side (AnswerDigestChallenge, for peers that challenge us)
// against our server side: the challenge goes through a 401 as a peer
// would send it, is parsed by oSIP2 and answered; the authenticator takes
// the answer, and refuses it for a wrong password or another URI.
TEST_P(DigestAuthTest, OurAnswerToAChallengeVerifies) {
  const std::string challenge = Challenge();
  auto response = SipMessage::Parse(absl::StrCat(
      "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc\r\n"
      "From: <sip:alice@", kRealm, ">;tag=1\r\nTo: <sip:alice@", kRealm, ">;tag=2\r\n"
      "Call-ID: c\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: ", challenge,
      "\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(response.ok()) << response.status();
  std::vector<SipChallenge> parsed = response->challenges(/*proxy=*/false);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].realm, kRealm);
  absl::StatusOr<std::string> answer = AnswerDigestChallenge(
      parsed[0], "alice", "wonderland", "REGISTER", kRegisterUri, "0a4f113b");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_TRUE(Verify(*answer).ok()) << Verify(*answer).status() << "\n" << *answer;
  answer = AnswerDigestChallenge(parsed[0], "alice", "wrong", "REGISTER", kRegisterUri, "x");
  EXPECT_FALSE(Verify(*answer).ok());
  answer = AnswerDigestChallenge(parsed[0], "alice", "wonderland", "REGISTER", "sip:other", "x");
  EXPECT_FALSE(Verify(*answer).ok());
  SipChallenge odd = parsed[0];
  odd.algorithm = "AKAv1-MD5";
  EXPECT_FALSE(AnswerDigestChallenge(odd, "alice", "wonderland", "REGISTER", kRegisterUri, "x").ok());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, DigestAuthTest,
                         ::testing::Values(DigestAlgorithm::kMd5,
                                           DigestAlgorithm::kSha256),
                         [](const auto& info) {
                           return info.param == DigestAlgorithm::kMd5 ? "Md5"
                                                                      : "Sha256";
                         });

TEST_P(DigestAuthTest, ChallengeCarriesRealmNonceOpaqueAlgorithmQop) {
  std::string c = Challenge();
  EXPECT_TRUE(absl::StartsWith(c, "Digest ")) << c;
  EXPECT_EQ(ChallengeParam(c, "realm"), kRealm);
  EXPECT_EQ(ChallengeParam(c, "qop"), "auth");
  EXPECT_EQ(ChallengeParam(c, "algorithm"), DigestAlgorithmName(algorithm()));
  EXPECT_EQ(ChallengeParam(c, "opaque"), auth_->opaque());
  EXPECT_EQ(ChallengeParam(c, "nonce").size(), 64u);
  EXPECT_FALSE(absl::StrContains(c, "stale"));
  EXPECT_TRUE(absl::EndsWith(auth_->Challenge(algorithm(), kT0, true), ", stale=true"));
  // Two challenges in the same second still get different nonces.
  EXPECT_NE(ChallengeParam(Challenge(), "nonce"), ChallengeParam(Challenge(), "nonce"));
}

TEST_P(DigestAuthTest, RoundTripWithPlaintextPassword) {
  auto user = Verify(Respond(Challenge(), {}));
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->user, "alice");
  EXPECT_EQ(user->domain, kRealm);
  EXPECT_EQ(user->algorithm, algorithm());
}

TEST_P(DigestAuthTest, RoundTripWithStoredHa1) {
  UserCredential carol{.user = "carol", .domain = kRealm};
  (algorithm() == DigestAlgorithm::kMd5 ? carol.ha1_md5 : carol.ha1_sha256) =
      ComputeHa1(algorithm(), "carol", kRealm, "s3cret");
  users_.Add(carol);
  auto user = Verify(Respond(Challenge(), {.user = "carol", .password = "s3cret"}),
                     kT0, "carol");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->user, "carol");
}

TEST_P(DigestAuthTest, Ha1OnlyUserCannotAnswerTheOtherAlgorithm) {
  DigestAlgorithm other = algorithm() == DigestAlgorithm::kMd5
                              ? DigestAlgorithm::kSha256
                              : DigestAlgorithm::kMd5;
  UserCredential carol{.user = "carol", .domain = kRealm};
  (other == DigestAlgorithm::kMd5 ? carol.ha1_md5 : carol.ha1_sha256) =
      ComputeHa1(other, "carol", kRealm, "s3cret");
  EXPECT_FALSE(carol.Supports(algorithm()));
  EXPECT_TRUE(carol.Supports(other));
  users_.Add(carol);
  auto user = Verify(Respond(Challenge(), {.user = "carol", .password = "s3cret"}),
                     kT0, "carol");
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  // The same answer as a wrong password: which secrets a user has is not
  // for a guesser to learn.
  EXPECT_TRUE(absl::StrContains(user.status().message(), "wrong response")) << user.status();
}

TEST_P(DigestAuthTest, WrongPasswordRejected) {
  auto user = Verify(Respond(Challenge(), {.password = "looking-glass"}));
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(user.status().message(), "wrong response"))
      << user.status();
}

TEST_P(DigestAuthTest, WrongRealmRejected) {
  auto user = Verify(Respond(Challenge(), {.realm = "evil.example"}));
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(user.status().message(), "evil.example"))
      << user.status();
}

TEST_P(DigestAuthTest, UnknownUserRejected) {
  auto user = Verify(Respond(Challenge(), {.user = "mallory"}), kT0, "mallory");
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(user.status().message(), "mallory"));
}

// A guesser must not learn which user names exist (issue 16): an unknown
// user's attempt is answered exactly as a known user's wrong password.
TEST_P(DigestAuthTest, UnknownUserGetsTheAnswerOfAWrongPassword) {
  auto unknown = Verify(Respond(Challenge(), {.user = "mallory"}), kT0, "mallory");
  auto wrong = Verify(Respond(Challenge(), {.password = "guess"}));
  EXPECT_EQ(unknown.status().code(), wrong.status().code());
  EXPECT_EQ(absl::StrReplaceAll(unknown.status().message(), {{"mallory", "USER"}}),
            absl::StrReplaceAll(wrong.status().message(), {{"alice", "USER"}}));
}

TEST_P(DigestAuthTest, WrongMethodOrUriRejected) {
  std::string c = Challenge();
  // Response computed for INVITE, presented on a REGISTER.
  EXPECT_EQ(Verify(Respond(c, {.method = "INVITE"})).status().code(),
            absl::StatusCode::kUnauthenticated);
  // uri parameter that is not the Request-URI.
  auto user = Verify(Respond(c, {.uri = "sip:other.example", .nc = "00000002"}));
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(user.status().message(), "Request-URI"));
}

TEST_P(DigestAuthTest, ExpiredNonceWithRightPasswordIsStale) {
  std::string c = Challenge(kT0);
  const absl::Time later = kT0 + absl::Minutes(5) + absl::Seconds(1);
  auto user = Verify(Respond(c, {}), later);
  EXPECT_TRUE(IsStaleNonce(user.status())) << user.status();
  // Still inside the lifetime: fine.
  EXPECT_TRUE(Verify(Respond(c, {}), kT0 + absl::Minutes(5)).ok());
}

TEST_P(DigestAuthTest, ExpiredNonceWithWrongPasswordIsNotStale) {
  auto user = Verify(Respond(Challenge(kT0), {.password = "guess"}),
                     kT0 + absl::Hours(1));
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(IsStaleNonce(user.status()));
}

TEST_P(DigestAuthTest, NonceLifetimeIsConfigurable) {
  auth_ = MakeAuth({.nonce_lifetime = absl::Seconds(10)});
  std::string c = Challenge(kT0);
  EXPECT_TRUE(Verify(Respond(c, {}), kT0 + absl::Seconds(10)).ok());
  EXPECT_TRUE(IsStaleNonce(
      Verify(Respond(c, {.nc = "00000002"}), kT0 + absl::Seconds(11)).status()));
}

TEST_P(DigestAuthTest, ReplayedNonceCountRejected) {
  std::string c = Challenge();
  ASSERT_TRUE(Verify(Respond(c, {.nc = "00000001"})).ok());
  auto replay = Verify(Respond(c, {.nc = "00000001"}));
  EXPECT_EQ(replay.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(replay.status().message(), "replayed"));
  EXPECT_TRUE(Verify(Respond(c, {.nc = "00000003"})).ok());
  // Going backwards is a replay too.
  EXPECT_FALSE(Verify(Respond(c, {.nc = "00000002"})).ok());
  EXPECT_TRUE(Verify(Respond(c, {.nc = "00000004"})).ok());
}

TEST_P(DigestAuthTest, FailedAttemptDoesNotBurnTheNonceCount) {
  std::string c = Challenge();
  EXPECT_FALSE(Verify(Respond(c, {.password = "guess", .nc = "00000009"})).ok());
  EXPECT_TRUE(Verify(Respond(c, {.nc = "00000001"})).ok());
}

TEST_P(DigestAuthTest, TamperedNonceRejected) {
  std::string c = Challenge();
  const std::string nonce = ChallengeParam(c, "nonce");
  auto tampered_with = [&](std::string forged) {
    std::string changed = c;
    changed.replace(changed.find(nonce), nonce.size(), forged);
    return Verify(Respond(changed, {}));
  };
  // A flipped MAC digit.
  std::string flipped = nonce;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  // A timestamp moved forward to extend the nonce's life.
  std::string younger = nonce;
  younger[15] = younger[15] == 'f' ? 'e' : 'f';
  for (const std::string& forged :
       {flipped, younger, nonce.substr(0, 63), nonce + "0", std::string("abc"),
        absl::AsciiStrToUpper(nonce)}) {
    auto user = tampered_with(forged);
    EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated) << forged;
    EXPECT_TRUE(absl::StrContains(user.status().message(), "not issued"))
        << user.status();
  }
}

TEST_P(DigestAuthTest, NonceFromAnotherSecretRejected) {
  auto other = MakeAuth({.secret = "another-secret-of-16+bytes"});
  std::string c = other->Challenge(algorithm(), kT0);
  // Same realm, and same opaque would be needed too: borrow ours.
  std::string nonce = ChallengeParam(c, "nonce");
  std::string ours = Challenge();
  ours.replace(ours.find(ChallengeParam(ours, "nonce")), 64, nonce);
  EXPECT_EQ(Verify(Respond(ours, {})).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_P(DigestAuthTest, MissingOrWrongOpaqueRejected) {
  std::string header = Respond(Challenge(), {});
  std::string opaque = absl::StrCat(", opaque=\"", auth_->opaque(), "\"");
  std::string without = header;
  without.erase(without.find(opaque), opaque.size());
  EXPECT_EQ(Verify(without).status().code(), absl::StatusCode::kUnauthenticated);
  std::string wrong = header;
  wrong.replace(wrong.find(auth_->opaque()), 4, "zzzz");
  EXPECT_EQ(Verify(wrong).status().code(), absl::StatusCode::kUnauthenticated);
}

// "No one registers or calls as someone else."
TEST_P(DigestAuthTest, UserAorMismatchRefused) {
  std::string c = Challenge();
  auto as_bob = auth_->VerifyFor("bob", kRealm, Respond(c, {}), "REGISTER",
                                 kRegisterUri, kT0);
  EXPECT_EQ(as_bob.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(as_bob.status().message(), "alice@example.com"));
  EXPECT_TRUE(absl::StrContains(as_bob.status().message(), "bob@example.com"));

  // INVITE with From: bob, authenticated (Proxy-Authorization) as alice.
  auto invite = auth_->VerifyFor(
      "bob", kRealm,
      Respond(c, {.method = "INVITE", .uri = "sip:carol@example.com", .nc = "00000002"}),
      "INVITE", "sip:carol@example.com", kT0);
  EXPECT_EQ(invite.status().code(), absl::StatusCode::kPermissionDenied);

  // Same user in another domain is someone else too.
  auto other_domain = auth_->VerifyFor("alice", "other.example",
                                       Respond(c, {.nc = "00000003"}), "REGISTER",
                                       kRegisterUri, kT0);
  EXPECT_EQ(other_domain.status().code(), absl::StatusCode::kPermissionDenied);

  // User parts are case-sensitive; domains are not.
  EXPECT_EQ(auth_->VerifyFor("Alice", kRealm, Respond(c, {.nc = "00000004"}),
                             "REGISTER", kRegisterUri, kT0)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(auth_->VerifyFor("alice", "EXAMPLE.com", Respond(c, {.nc = "00000005"}),
                               "REGISTER", kRegisterUri, kT0)
                  .ok());
}

TEST_P(DigestAuthTest, EmptyRequestUriSkipsTheUriCheck) {
  auto user = auth_->VerifyFor("alice", kRealm,
                               Respond(Challenge(), {.uri = "sip:elsewhere"}),
                               "REGISTER", "", kT0);
  EXPECT_TRUE(user.ok()) << user.status();
}

TEST_P(DigestAuthTest, RealmIsLowercasedLikeTheUsersDomains) {
  auth_ = MakeAuth({.realm = "Example.COM"});
  EXPECT_EQ(auth_->realm(), kRealm);
  std::string c = Challenge();
  EXPECT_EQ(ChallengeParam(c, "realm"), kRealm);
  EXPECT_TRUE(Verify(Respond(c, {})).ok());
}

TEST_P(DigestAuthTest, UppercaseResponseHexAccepted) {
  std::string header = Respond(Challenge(), {});
  size_t at = header.find("response=\"") + 10;
  size_t end = header.find('"', at);
  for (size_t i = at; i < end; ++i) {
    header[i] = absl::ascii_toupper(static_cast<unsigned char>(header[i]));
  }
  EXPECT_TRUE(Verify(header).ok());
}

TEST(DigestAuthNonceTableTest, ForgottenNonceIsAnsweredStaleNotReplayable) {
  FakeUsers users;
  users.Add({.user = "alice", .domain = kRealm, .password = "wonderland"});
  // The smallest ring: one page of nonces.
  auto auth = DigestAuthenticator::Create(
      {.realm = kRealm, .secret = kSecret, .max_tracked_nonces = 1}, users);
  ASSERT_TRUE(auth.ok());
  auto verify = [&](const std::string& challenge, const char* nc) {
    return (*auth)->VerifyFor("alice", kRealm, Respond(challenge, {.nc = nc}),
                              "REGISTER", kRegisterUri, kT0 + absl::Seconds(2));
  };
  std::string a = (*auth)->Challenge(DigestAlgorithm::kMd5, kT0);
  ASSERT_TRUE(verify(a, "00000001").ok());
  std::string c;
  for (size_t i = 0; i < NonceCountWindow::kPageSize; ++i) {
    c = (*auth)->Challenge(DigestAlgorithm::kMd5, kT0);  // the ring is full: a is forgotten
  }
  ASSERT_TRUE(verify(c, "00000001").ok());
  // Replaying a's first response cannot succeed once a is forgotten.
  EXPECT_TRUE(IsStaleNonce(verify(a, "00000001").status()));
  EXPECT_TRUE(IsStaleNonce(verify(a, "00000002").status()));
  // Tracked ones still count; a nonce issued later is fine.
  EXPECT_TRUE(verify(c, "00000002").ok());
  EXPECT_FALSE(verify(c, "00000002").ok());
  std::string d = (*auth)->Challenge(DigestAlgorithm::kMd5, kT0 + absl::Seconds(1));
  EXPECT_TRUE(verify(d, "00000001").ok());
}

// Issue 17: a storm of challenges within one nonce lifetime. With the
// shipped maximum every nonce stays tracked, so none is answered stale.
TEST(DigestAuthNonceTableTest, StormOfChallengesIsNeverAnsweredStale) {
  FakeUsers users;
  users.Add({.user = "alice", .domain = kRealm, .password = "wonderland"});
  auto auth = DigestAuthenticator::Create({.realm = kRealm, .secret = kSecret}, users);
  ASSERT_TRUE(auth.ok());
  const std::string first = (*auth)->Challenge(DigestAlgorithm::kMd5, kT0);
  for (int i = 0; i < 100000; ++i) (void)(*auth)->Challenge(DigestAlgorithm::kMd5, kT0);
  EXPECT_TRUE((*auth)
                  ->VerifyFor("alice", kRealm, Respond(first, {.nc = "00000001"}), "REGISTER",
                              kRegisterUri, kT0 + absl::Seconds(2))
                  .ok());
}

TEST(DigestAuthChallengesTest, StrongestFirstSharingOneNonce) {
  FakeUsers users;
  auto auth = DigestAuthenticator::Create({.realm = kRealm, .secret = kSecret}, users);
  ASSERT_TRUE(auth.ok());
  std::vector<std::string> both = (*auth)->Challenges(kT0);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(ChallengeParam(both[0], "algorithm"), "SHA-256");
  EXPECT_EQ(ChallengeParam(both[1], "algorithm"), "MD5");
  EXPECT_EQ(ChallengeParam(both[0], "nonce"), ChallengeParam(both[1], "nonce"));
  std::vector<std::string> md5_only =
      (*auth)->Challenges(kT0, /*stale=*/true, {DigestAlgorithm::kMd5});
  ASSERT_EQ(md5_only.size(), 1u);
  EXPECT_TRUE(absl::StrContains(md5_only[0], "stale=true"));
}

TEST(DigestAuthCreateTest, RejectsBadOptionsNamingThem) {
  FakeUsers users;
  struct Case {
    DigestAuthOptions options;
    const char* expect;
  } cases[] = {
      {{.realm = "", .secret = kSecret}, "realm"},
      {{.realm = "ex\"ample", .secret = kSecret}, "realm"},
      {{.realm = kRealm, .secret = "short"}, "secret"},
      {{.realm = kRealm, .secret = kSecret, .nonce_lifetime = absl::ZeroDuration()},
       "lifetime"},
      {{.realm = kRealm, .secret = kSecret, .max_tracked_nonces = 0},
       "max_tracked_nonces"},
  };
  for (auto& c : cases) {
    auto auth = DigestAuthenticator::Create(c.options, users);
    ASSERT_FALSE(auth.ok()) << c.expect;
    EXPECT_TRUE(absl::StrContains(auth.status().message(), c.expect))
        << auth.status();
  }
}

TEST(DigestAuthSecretTest, GeneratedSecretsAreLongAndDiffer) {
  auto a = GenerateNonceSecret();
  auto b = GenerateNonceSecret();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GE(a->size(), 16u);
  EXPECT_NE(*a, *b);
}

// ---- parsing -------------------------------------------------------------

constexpr char kGood[] =
    "Digest username=\"alice\", realm=\"example.com\", "
    "nonce=\"abc\", uri=\"sip:example.com\", "
    "response=\"0123456789abcdef0123456789abcdef\", cnonce=\"xyz\", "
    "qop=auth, nc=00000001, opaque=\"op\"";

TEST(ParseDigestCredentialsTest, ParsesTokensQuotedStringsAndEscapes) {
  auto c = ParseDigestCredentials(
      "  digest  USERNAME=\"a\\\"l\\\\ice\" ,realm=\"example.com\",, "
      "nonce=\"n\", uri=\"sip:example.com;transport=udp\", "
      "response=\"0123456789ABCDEF0123456789abcdef\", algorithm=md5, "
      "cnonce=\"c, with comma\", qop=\"auth\", nc=0000000A, unknown=ignored");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->username, "a\"l\\ice");
  EXPECT_EQ(c->uri, "sip:example.com;transport=udp");
  EXPECT_EQ(c->cnonce, "c, with comma");
  EXPECT_EQ(c->response, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(c->nc, "0000000A");
  EXPECT_EQ(c->nc_value, 10u);
  EXPECT_FALSE(c->opaque.has_value());
}

struct Malformed {
  std::string header;
  const char* expect;  // in the message
};

TEST(ParseDigestCredentialsTest, MalformedHeadersGiveClearErrors) {
  const std::string kResp = "response=\"0123456789abcdef0123456789abcdef\"";
  const std::string kRest =
      "realm=\"r\", nonce=\"n\", uri=\"u\", cnonce=\"c\", qop=auth, nc=00000001";
  const std::vector<Malformed> cases = {
      {"", "no auth scheme"},
      {"   ", "no auth scheme"},
      {"Basic YWxpY2U6cGFzcw==", "not Digest"},
      {"Digest", "expected whitespace"},
      {"Digestusername=\"a\"", "not Digest"},
      {"Digest username", "has no '=value'"},
      {"Digest username=", "empty value"},
      {"Digest =\"a\"", "expected a parameter name"},
      {"Digest username=\"alice", "unterminated"},
      {"Digest username=\"alice\\", "unterminated"},
      {"Digest username=\"al\x01ice\"", "control character"},
      {"Digest username=\"a\" realm=\"r\"", "unexpected 'r'"},
      {"Digest username=\"a\"x, realm=\"r\"", "unexpected 'x'"},
      {"Digest username=\"a\", username=\"b\"", "duplicate parameter 'username'"},
      {absl::StrCat("Digest ", kResp, ", ", kRest), "missing parameter 'username'"},
      {absl::StrCat("Digest username=\"\", ", kResp, ", ", kRest),
       "'username' is empty"},
      {absl::StrCat("Digest username=\"a\", realm=\"r\", nonce=\"n\", ", kResp,
                    ", cnonce=\"c\", qop=auth, nc=00000001"),
       "missing parameter 'uri'"},
      {absl::StrCat("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", ",
                    kResp),
       "qop"},
      {absl::StrCat("Digest username=\"a\", ", kResp,
                    ", realm=\"r\", nonce=\"n\", uri=\"u\", cnonce=\"c\", "
                    "qop=auth-int, nc=00000001"),
       "auth-int"},
      {absl::StrCat("Digest username=\"a\", ", kResp,
                    ", realm=\"r\", nonce=\"n\", uri=\"u\", qop=auth, nc=00000001"),
       "missing parameter 'cnonce'"},
      {absl::StrCat("Digest username=\"a\", ", kResp,
                    ", realm=\"r\", nonce=\"n\", uri=\"u\", cnonce=\"c\", qop=auth"),
       "missing parameter 'nc'"},
      {absl::StrCat("Digest username=\"a\", ", kResp,
                    ", realm=\"r\", nonce=\"n\", uri=\"u\", cnonce=\"c\", "
                    "qop=auth, nc=1"),
       "nc '1'"},
      {absl::StrCat("Digest username=\"a\", ", kResp,
                    ", realm=\"r\", nonce=\"n\", uri=\"u\", cnonce=\"c\", "
                    "qop=auth, nc=0000000g"),
       "nc '0000000g'"},
      {absl::StrCat("Digest username=\"a\", ", kResp,
                    ", realm=\"r\", nonce=\"n\", uri=\"u\", cnonce=\"c\", "
                    "qop=auth, nc=00000000"),
       "above zero"},
      {absl::StrCat("Digest username=\"a\", ", kResp, ", ", kRest,
                    ", algorithm=MD5-sess"),
       "session variants"},
      {absl::StrCat("Digest username=\"a\", ", kResp, ", ", kRest,
                    ", algorithm=SHA-512-256"),
       "SHA-512-256"},
      {absl::StrCat("Digest username=\"a\", ", kResp, ", ", kRest,
                    ", algorithm=SHA-256"),
       "64 hex digits"},
      {absl::StrCat("Digest username=\"a\", response=\"xyz\", ", kRest),
       "32 hex digits"},
      {absl::StrCat("Digest username*=UTF-8''a, ", kResp, ", ", kRest),
       "'username*' is not supported"},
      {absl::StrCat("Digest username=\"a\", userhash=true, ", kResp, ", ", kRest),
       "'userhash' is not supported"},
      {absl::StrCat("Digest username=\"", std::string(9000, 'a'), "\""),
       "longer than the limit"},
  };
  for (const Malformed& m : cases) {
    auto c = ParseDigestCredentials(m.header);
    ASSERT_FALSE(c.ok()) << m.header;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << m.header;
    EXPECT_TRUE(absl::StrContains(c.status().message(), m.expect))
        << "header: " << m.header.substr(0, 200) << "\nstatus: " << c.status();
    EXPECT_LT(c.status().message().size(), 300u) << "echoed input is bounded";
  }
}

TEST(ParseDigestCredentialsTest, TruncationsAndMutationsNeverCrash) {
  const std::string good = kGood;
  ASSERT_TRUE(ParseDigestCredentials(good).ok());
  for (size_t len = 0; len < good.size(); ++len) {
    (void)ParseDigestCredentials(good.substr(0, len));
  }
  std::mt19937 rng(5);
  std::string alphabet = "\"\\,= \t\r\nabcdef0";
  alphabet.push_back('\0');
  alphabet.push_back('\xff');
  for (int i = 0; i < 20000; ++i) {
    std::string mutated = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % mutated.size();
      mutated[at] = alphabet[rng() % alphabet.size()];
    }
    auto c = ParseDigestCredentials(mutated);
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(ParseDigestCredentialsTest, GarbageThroughTheAuthenticatorNeverCrashes) {
  FakeUsers users;
  users.Add({.user = "alice", .domain = kRealm, .password = "wonderland"});
  auto auth = DigestAuthenticator::Create({.realm = kRealm, .secret = kSecret}, users);
  ASSERT_TRUE(auth.ok());
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    for (const std::string& header : {junk, absl::StrCat("Digest ", junk)}) {
      auto user = (*auth)->VerifyFor("alice", kRealm, header, "REGISTER",
                                     kRegisterUri, kT0);
      EXPECT_FALSE(user.ok());
    }
  }
}

TEST(DigestAlgorithmTest, NamesRoundTrip) {
  for (DigestAlgorithm a : {DigestAlgorithm::kMd5, DigestAlgorithm::kSha256}) {
    auto parsed = ParseDigestAlgorithm(DigestAlgorithmName(a));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, a);
  }
  EXPECT_EQ(*ParseDigestAlgorithm("sha-256"), DigestAlgorithm::kSha256);
}

}  // namespace
}  // namespace rtplatch
