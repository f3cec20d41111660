#include "control/registrar/registrar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "control/registrar/users_file.h"
#include "tests/control/registrar/scratch_dir.h"

namespace rtplatch {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kUsers[] =
    "# test users\n"
    "alice@example.com:wonderland\n"
    "bob@example.com:builder\n";

Endpoint Ep(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : Endpoint{};
}

// One REGISTER as a phone behind a NAT sends it: its private address
// (192.0.2.10, inside in these tests) in Via and Contact.
struct Req {
  std::string user = "alice";     // To/From user (the AOR)
  std::string via = "192.0.2.10:5060";
  std::vector<std::string> contacts = {"<sip:alice@192.0.2.10:5060>"};
  std::optional<uint32_t> expires = 3600;
  std::string call_id = "843817637684230@192.0.2.10";
  uint32_t cseq = 1;
  std::string user_agent = "Yealink SIP-T46S 66.86.0.15";
  std::string authorization;  // the value; empty: none
  std::string supported;      // Supported: value; empty: none
  Binding::Transport transport = Binding::Transport::kUdp;

  std::string Text() const {
    std::string s = absl::StrCat(
        "REGISTER sip:example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP ", via, ";branch=z9hG4bK", cseq, "x", call_id.size(), ";rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: \"Alice\" <sip:", user, "@example.com>;tag=as1f2e\r\n"
        "To: \"Alice\" <sip:", user, "@example.com>\r\n"
        "Call-ID: ", call_id, "\r\n"
        "CSeq: ", cseq, " REGISTER\r\n");
    for (const std::string& c : contacts) absl::StrAppend(&s, "Contact: ", c, "\r\n");
    if (expires) absl::StrAppend(&s, "Expires: ", *expires, "\r\n");
    if (!user_agent.empty()) absl::StrAppend(&s, "User-Agent: ", user_agent, "\r\n");
    if (!authorization.empty()) absl::StrAppend(&s, "Authorization: ", authorization, "\r\n");
    if (!supported.empty()) absl::StrAppend(&s, "Supported: ", supported, "\r\n");
    absl::StrAppend(&s, "Content-Length: 0\r\n\r\n");
    return s;
  }
};

std::string Param(absl::string_view challenge, absl::string_view name) {
  std::string key = absl::StrCat(name, "=");
  size_t at = challenge.find(key);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = challenge.substr(at + key.size());
  if (absl::StartsWith(rest, "\"")) return std::string(rest.substr(1, rest.find('"', 1) - 1));
  return std::string(rest.substr(0, rest.find(',')));
}

// The Authorization a phone sends back for one WWW-Authenticate value.
std::string Answer(absl::string_view challenge, absl::string_view user,
                   absl::string_view password) {
  DigestAlgorithm algorithm = *ParseDigestAlgorithm(Param(challenge, "algorithm"));
  std::string realm = Param(challenge, "realm");
  std::string nonce = Param(challenge, "nonce");
  const std::string uri = "sip:example.com";
  std::string ha1 = ComputeHa1(algorithm, user, realm, password);
  std::string response =
      ComputeDigestResponse(algorithm, ha1, nonce, "00000001", "0a4f113b", "auth", "REGISTER", uri);
  return absl::StrCat("Digest username=\"", user, "\", realm=\"", realm, "\", nonce=\"", nonce,
                      "\", uri=\"", uri, "\", response=\"", response,
                      "\", algorithm=", DigestAlgorithmName(algorithm),
                      ", cnonce=\"0a4f113b\", opaque=\"", Param(challenge, "opaque"),
                      "\", qop=auth, nc=00000001");
}

std::vector<std::string> HeadersNamed(const RegisterResult& r, absl::string_view name) {
  std::vector<std::string> out;
  for (const std::string& h : r.headers) {
    if (absl::StartsWith(h, absl::StrCat(name, ": "))) out.push_back(h.substr(name.size() + 2));
  }
  return out;
}

class RegistrarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp failed";
    auto users = UsersFile::Parse(kUsers, "users");
    ASSERT_TRUE(users.ok()) << users.status();
    users_ = *std::move(users);
    inside_ = InsidePrefixes::Default();
    ASSERT_TRUE(inside_.Add("192.0.2.0/24").ok());
    auto store = BindingStore::Open(dir_ + "/bindings.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    config_.domain = "Example.COM";
    config_.nonce_secret = "0123456789abcdef0123456789abcdef";
    config_.min_expires = 60;
    config_.max_expires = 7200;
    config_.max_expires_natted = 600;
    // These tests follow bindings across re-REGISTERs minutes apart; the
    // shorter expiry while a NAT timeout is learned has a test of its own
    // (LearningBindingsReRegisterSoonUntilLearned) on the default.
    config_.max_expires_learning = 600;
    config_.keepalive_min_interval_ms = 5000;
    registrar_ = MakeRegistrar();
  }
  void TearDown() override {
    registrar_.reset();
    store_.reset();
  }

  // What the NAT timeout learner does once it decided (tests that follow
  // the halving on new mappings start from a learned binding).
  void MarkLearned(absl::string_view contact, uint32_t interval_ms = 25000) {
    ASSERT_TRUE(registrar_->SetKeepalive("alice@example.com", contact, interval_ms, false,
                                         "learned: NAT held a 25 s gap"));
  }

  std::unique_ptr<Registrar> MakeRegistrar(BindingStore* store = nullptr, bool memory = false) {
    auto r = Registrar::Create(config_, *users_, memory ? nullptr : (store ? store : store_.get()),
                               inside_, policies_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  }

  RegisterResult Send(const Req& req, const Endpoint& source, int64_t now = kNow,
                      Registrar* reg = nullptr) {
    auto msg = SipMessage::Parse(req.Text());
    EXPECT_TRUE(msg.ok()) << msg.status() << "\n" << req.Text();
    if (!msg.ok()) return {};
    return (reg ? reg : registrar_.get())
        ->HandleRegister(*msg, source, req.transport, local_, now);
  }

  // Challenge, then answer it (as `auth_user`/`password`): what a phone does.
  RegisterResult Register(Req req, const Endpoint& source, int64_t now = kNow,
                          absl::string_view auth_user = "", absl::string_view password = "",
                          Registrar* reg = nullptr) {
    Req first = req;
    first.authorization.clear();
    RegisterResult challenge = Send(first, source, now, reg);
    EXPECT_EQ(challenge.status_code, 401);
    std::vector<std::string> c = HeadersNamed(challenge, "WWW-Authenticate");
    EXPECT_FALSE(c.empty());
    if (c.empty()) return challenge;
    std::string user = auth_user.empty() ? req.user : std::string(auth_user);
    std::string pw = !password.empty() ? std::string(password)
                                       : (user == "alice" ? "wonderland" : "builder");
    req.authorization = Answer(c.front(), user, pw);
    return Send(req, source, now, reg);
  }

  ScratchDir scratch_{"registrar_test"};
  const std::string dir_ = scratch_.path();
  std::unique_ptr<UsersFile> users_;
  InsidePrefixes inside_;
  NatPolicyTable policies_;
  std::unique_ptr<BindingStore> store_;
  RegistrarConfig config_;
  std::unique_ptr<Registrar> registrar_;
  const Endpoint nat_source_ = Ep("203.0.113.30:31000");
  const Endpoint local_ = Ep("198.51.100.1:5060");
};

TEST_F(RegistrarTest, ChallengeThenAuthenticatedRegister) {
  Req req;
  RegisterResult c = Send(req, nat_source_);
  EXPECT_EQ(c.status_code, 401);
  std::vector<std::string> challenges = HeadersNamed(c, "WWW-Authenticate");
  ASSERT_THAT(challenges, SizeIs(2));
  EXPECT_THAT(challenges[0], HasSubstr("algorithm=SHA-256"));
  EXPECT_THAT(challenges[1], HasSubstr("algorithm=MD5"));
  EXPECT_THAT(challenges[0], HasSubstr("realm=\"example.com\""));
  EXPECT_THAT(challenges[0], Not(HasSubstr("stale")));
  EXPECT_TRUE(absl::StartsWith(c.response, "SIP/2.0 401 Unauthorized\r\n")) << c.response;
  EXPECT_THAT(c.response, HasSubstr("WWW-Authenticate: Digest"));
  EXPECT_THAT(c.changes, IsEmpty());
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());

  req.cseq = 2;
  req.authorization = Answer(challenges[0], "alice", "wonderland");
  RegisterResult ok = Send(req, nat_source_);
  ASSERT_EQ(ok.status_code, 200) << ok.error << "\n" << ok.response;
  // NAT'd: Expires 3600 lowered to max_expires_natted.
  EXPECT_THAT(HeadersNamed(ok, "Contact"),
              ElementsAre("<sip:alice@192.0.2.10:5060>;expires=600"));
  EXPECT_THAT(HeadersNamed(ok, "Date"), ElementsAre("Tue, 14 Nov 2023 22:13:20 GMT"));
  EXPECT_TRUE(absl::StartsWith(ok.response, "SIP/2.0 200 OK\r\n")) << ok.response;
  EXPECT_THAT(ok.response, HasSubstr("received=203.0.113.30"));
  EXPECT_THAT(ok.response, HasSubstr("rport=31000"));
  EXPECT_THAT(ok.response, HasSubstr("Contact: <sip:alice@192.0.2.10:5060>;expires=600\r\n"));
  EXPECT_THAT(ok.response, HasSubstr(";tag=rl"));
  EXPECT_THAT(ok.response, HasSubstr("CSeq: 2 REGISTER"));

  ASSERT_THAT(ok.changes, SizeIs(1));
  const BindingChange& ch = ok.changes[0];
  EXPECT_EQ(ch.kind, BindingChange::Kind::kAdded);
  EXPECT_TRUE(ch.binding.behind_nat);
  EXPECT_THAT(ch.binding.nat_reasons, Contains("via_inside"));
  EXPECT_THAT(ch.binding.nat_reasons, Contains("contact_inside"));
  EXPECT_EQ(ch.binding.keepalive_interval_ms, 25000u);
  EXPECT_TRUE(ch.binding.keepalive_learning);
  EXPECT_THAT(ch.binding.keepalive_reason, HasSubstr("learning"));

  std::vector<Binding> b = registrar_->Lookup("alice@example.com", kNow);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_EQ(b[0].contact_uri, "sip:alice@192.0.2.10:5060");
  EXPECT_EQ(b[0].expires_at, kNow + 600);
  EXPECT_EQ(b[0].source, nat_source_);
  EXPECT_EQ(b[0].local_socket, local_);
  EXPECT_EQ(b[0].transport, Binding::Transport::kUdp);
  EXPECT_EQ(b[0].user_agent, "Yealink SIP-T46S 66.86.0.15");
  EXPECT_EQ(b[0].call_id, req.call_id);
  EXPECT_EQ(b[0].cseq, 2u);
  // Persisted too.
  auto stored = store_->LoadAll(kNow);
  ASSERT_TRUE(stored.ok());
  ASSERT_THAT(*stored, SizeIs(1));
  EXPECT_EQ((*stored)[0], b[0]);
}

// RFC 5626 6: a phone that registers an outbound flow (reg-id and
// +sip.instance, Supported: outbound) is told Require: outbound; over TCP
// or TLS also how often to ping (Flow-Timer); over UDP the dataplane's
// keepalives keep the mapping.
TEST_F(RegistrarTest, OutboundFlowsGetRequireAndFlowTimer) {
  Req req;
  req.contacts = {"<sip:alice@192.0.2.10:5060;transport=tcp>;reg-id=1;"
                  "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\""};
  req.supported = "path, outbound";
  req.transport = Binding::Transport::kTcp;
  RegisterResult r = Register(req, nat_source_);
  ASSERT_EQ(r.status_code, 200);
  EXPECT_THAT(HeadersNamed(r, "Require"), ElementsAre("outbound"));
  EXPECT_THAT(HeadersNamed(r, "Flow-Timer"), ElementsAre("120"));
  EXPECT_THAT(r.response, HasSubstr("Flow-Timer: 120\r\n"));

  req.transport = Binding::Transport::kUdp;
  req.call_id = "udp-flow";
  r = Register(req, nat_source_);
  ASSERT_EQ(r.status_code, 200);
  EXPECT_THAT(HeadersNamed(r, "Require"), ElementsAre("outbound"));
  EXPECT_THAT(HeadersNamed(r, "Flow-Timer"), IsEmpty());

  req.supported = "path";
  req.call_id = "no-outbound";
  r = Register(req, nat_source_);
  EXPECT_THAT(HeadersNamed(r, "Require"), IsEmpty()) << "the phone did not say it supports it";
  req.supported = "outbound";
  req.contacts = {"<sip:alice@192.0.2.10:5060>"};
  req.call_id = "no-flow";
  r = Register(req, nat_source_);
  EXPECT_THAT(HeadersNamed(r, "Require"), IsEmpty()) << "no reg-id: no flow";
}

TEST_F(RegistrarTest, WrongPasswordIsChallengedAgain) {
  RegisterResult r = Register(Req{}, nat_source_, kNow, "alice", "not-the-password");
  EXPECT_EQ(r.status_code, 401);
  EXPECT_THAT(HeadersNamed(r, "WWW-Authenticate"), SizeIs(2));
  EXPECT_THAT(r.changes, IsEmpty());
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());
}

TEST_F(RegistrarTest, UnknownUserIsChallengedWithBothAlgorithms) {
  Req req;
  req.user = "mallory";
  RegisterResult r = Send(req, nat_source_);
  EXPECT_EQ(r.status_code, 401);
  EXPECT_THAT(HeadersNamed(r, "WWW-Authenticate"), SizeIs(2));
}

TEST_F(RegistrarTest, RegisteringSomeoneElsesAorIsForbidden) {
  Req req;
  req.user = "bob";  // To: bob, credentials: alice's (right password)
  RegisterResult r = Register(req, nat_source_, kNow, "alice", "wonderland");
  EXPECT_EQ(r.status_code, 403) << r.error;
  EXPECT_THAT(r.changes, IsEmpty());
  EXPECT_THAT(registrar_->Lookup("bob@example.com", kNow), IsEmpty());
}

TEST_F(RegistrarTest, MalformedAuthorizationIs400) {
  Req req;
  // oSIP2 itself drops an Authorization it cannot parse (a parameter
  // without a value), so the request reaches us without one: challenged.
  req.authorization = "Digest username=\"alice\", realm=\"example.com\", nonce=";
  RegisterResult r = Send(req, nat_source_);
  EXPECT_EQ(r.status_code, 401) << r.response;

  // oSIP2 keeps this one; DigestAuthenticator refuses it (a qop it does
  // not take): 400 with the reason in a Warning.
  req.authorization =
      "Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", "
      "uri=\"sip:example.com\", response=\"00\", qop=auth-int, nc=00000001, "
      "cnonce=\"x\"";
  r = Send(req, nat_source_);
  EXPECT_EQ(r.status_code, 400) << r.response;
  EXPECT_THAT(r.response, HasSubstr("Warning: 399 rtplatch"));
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());
}

TEST_F(RegistrarTest, ForeignDomainIs404) {
  Req req;
  std::string text = req.Text();
  absl::StrReplaceAll({{"alice@example.com", "alice@example.org"}}, &text);
  auto msg = SipMessage::Parse(text);
  ASSERT_TRUE(msg.ok());
  RegisterResult r =
      registrar_->HandleRegister(*msg, nat_source_, Binding::Transport::kUdp, local_, kNow);
  EXPECT_EQ(r.status_code, 404);
}

TEST_F(RegistrarTest, StaleNonceIsChallengedWithStaleTrue) {
  Req req;
  RegisterResult c = Send(req, nat_source_);
  req.authorization = Answer(HeadersNamed(c, "WWW-Authenticate").front(), "alice", "wonderland");
  RegisterResult r = Send(req, nat_source_, kNow + 3600);  // nonce lifetime 300 s
  EXPECT_EQ(r.status_code, 401);
  std::vector<std::string> again = HeadersNamed(r, "WWW-Authenticate");
  ASSERT_FALSE(again.empty());
  EXPECT_THAT(again[0], HasSubstr("stale=true"));
}

TEST_F(RegistrarTest, MultipleContactsPerAor) {
  Req req;
  req.contacts = {"<sip:alice@192.0.2.10:5060>;expires=300", "<sip:alice@192.0.2.10:5062>"};
  RegisterResult r = Register(req, nat_source_);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(r.changes, SizeIs(2));
  EXPECT_THAT(HeadersNamed(r, "Contact"),
              ElementsAre("<sip:alice@192.0.2.10:5062>;expires=600",
                          "<sip:alice@192.0.2.10:5060>;expires=300"));
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), SizeIs(2));

  // A second REGISTER with one of them: both stay (bindings are per contact).
  req.contacts = {"<sip:alice@192.0.2.10:5060>"};
  req.cseq = 5;
  r = Register(req, nat_source_);
  ASSERT_EQ(r.status_code, 200) << r.error;
  ASSERT_THAT(r.changes, SizeIs(1));
  EXPECT_EQ(r.changes[0].kind, BindingChange::Kind::kRefreshed);
  EXPECT_FALSE(r.changes[0].keepalive_changed);
  EXPECT_THAT(HeadersNamed(r, "Contact"), SizeIs(2));

  // A query (no Contact) lists them and changes nothing.
  req.contacts.clear();
  req.cseq = 6;
  r = Register(req, nat_source_);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(r.changes, IsEmpty());
  EXPECT_THAT(HeadersNamed(r, "Contact"), SizeIs(2));
}

TEST_F(RegistrarTest, StarRemovesAllBindings) {
  Req req;
  req.contacts = {"<sip:alice@192.0.2.10:5060>", "<sip:alice@192.0.2.10:5062>"};
  ASSERT_EQ(Register(req, nat_source_).status_code, 200);

  Req star;
  star.contacts = {"*"};
  star.expires = 0;
  star.cseq = 2;
  RegisterResult r = Register(star, nat_source_);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(HeadersNamed(r, "Contact"), IsEmpty());
  ASSERT_THAT(r.changes, SizeIs(2));
  for (const BindingChange& c : r.changes) {
    EXPECT_EQ(c.kind, BindingChange::Kind::kRemoved);
    EXPECT_EQ(c.binding.keepalive_interval_ms, 25000u);  // the target to remove
  }
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());
  auto stored = store_->LoadAll(kNow);
  ASSERT_TRUE(stored.ok());
  EXPECT_THAT(*stored, IsEmpty());
}

TEST_F(RegistrarTest, StarMustBeAloneAndHaveExpiresZero) {
  Req req;
  req.contacts = {"*", "<sip:alice@192.0.2.10:5060>"};
  req.expires = 0;
  EXPECT_EQ(Register(req, nat_source_).status_code, 400);
  req.contacts = {"*"};
  req.expires = 3600;
  EXPECT_EQ(Register(req, nat_source_).status_code, 400);
  req.expires.reset();
  EXPECT_EQ(Register(req, nat_source_).status_code, 400);
}

TEST_F(RegistrarTest, ExpiresBelowMinimumIs423WithMinExpires) {
  Req req;
  req.expires = 30;
  RegisterResult r = Register(req, nat_source_);
  EXPECT_EQ(r.status_code, 423);
  EXPECT_EQ(r.reason, "Interval Too Brief");
  EXPECT_THAT(HeadersNamed(r, "Min-Expires"), ElementsAre("60"));
  EXPECT_THAT(r.response, HasSubstr("Min-Expires: 60\r\n"));
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());

  // The contact parameter wins over the header.
  req.expires = 3600;
  req.contacts = {"<sip:alice@192.0.2.10:5060>;expires=10"};
  EXPECT_EQ(Register(req, nat_source_).status_code, 423);
}

TEST_F(RegistrarTest, ExpiresClampedToMaxAndShorterMaxWhenNatted) {
  const Endpoint direct = Ep("198.51.100.7:5060");
  Req req;
  req.via = "198.51.100.7:5060";
  req.contacts = {"<sip:alice@198.51.100.7:5060>"};
  req.expires = 100000;
  RegisterResult r = Register(req, direct);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(HeadersNamed(r, "Contact"),
              ElementsAre("<sip:alice@198.51.100.7:5060>;expires=7200"));

  // NAT'd: the same request from behind a NAT gets max_expires_natted.
  Req natted;
  natted.user = "bob";
  natted.contacts = {"<sip:bob@192.0.2.11:5060>"};
  natted.via = "192.0.2.11:5060";
  natted.expires = 100000;
  r = Register(natted, nat_source_);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(HeadersNamed(r, "Contact"), ElementsAre("<sip:bob@192.0.2.11:5060>;expires=600"));

  // No Expires anywhere: the default (3600), then the NAT'd cap.
  natted.expires.reset();
  natted.cseq = 2;
  r = Register(natted, nat_source_);
  EXPECT_THAT(HeadersNamed(r, "Contact"), ElementsAre("<sip:bob@192.0.2.11:5060>;expires=600"));
  req.expires.reset();
  req.cseq = 2;
  r = Register(req, direct);
  EXPECT_THAT(HeadersNamed(r, "Contact"),
              ElementsAre("<sip:alice@198.51.100.7:5060>;expires=3600"));

  // Expires: 0 on one contact removes just that binding.
  req.expires = 0;
  req.cseq = 3;
  r = Register(req, direct);
  ASSERT_EQ(r.status_code, 200);
  ASSERT_THAT(r.changes, SizeIs(1));
  EXPECT_EQ(r.changes[0].kind, BindingChange::Kind::kRemoved);
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());
}

TEST_F(RegistrarTest, CSeqMustIncreaseWithinACallId) {
  Req req;
  req.cseq = 10;
  ASSERT_EQ(Register(req, nat_source_).status_code, 200);
  req.cseq = 10;  // a replay of the same CSeq
  RegisterResult r = Register(req, nat_source_);
  EXPECT_EQ(r.status_code, 500);
  EXPECT_THAT(r.error, HasSubstr("CSeq 10 is not higher than 10"));
  req.cseq = 9;  // an old request arriving late
  EXPECT_EQ(Register(req, nat_source_).status_code, 500);
  req.contacts = {"*"};
  req.expires = 0;
  EXPECT_EQ(Register(req, nat_source_).status_code, 500);
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), SizeIs(1));

  req.contacts = {"<sip:alice@192.0.2.10:5060>"};
  req.expires = 3600;
  req.cseq = 11;
  EXPECT_EQ(Register(req, nat_source_).status_code, 200);
  EXPECT_EQ(registrar_->Lookup("alice@example.com", kNow)[0].cseq, 11u);
  // Another Call-ID (the phone rebooted): any CSeq updates the binding.
  req.call_id = "rebooted-1@192.0.2.10";
  req.cseq = 1;
  EXPECT_EQ(Register(req, nat_source_).status_code, 200);
  EXPECT_EQ(registrar_->Lookup("alice@example.com", kNow)[0].call_id, req.call_id);
}

// design.md failure mode: "REGISTER Contact legitimately differs from the
// source (no NAT)": the Contact is used as given.
TEST_F(RegistrarTest, RegisterContactLegitimatelyDiffersFromTheSource) {
  const Endpoint source = Ep("198.51.100.7:5060");
  Req req;
  req.via = "198.51.100.7:5060";
  req.contacts = {"<sip:alice@198.51.100.99:5070;transport=udp>"};
  RegisterResult r = Register(req, source);
  ASSERT_EQ(r.status_code, 200) << r.error;
  ASSERT_THAT(r.changes, SizeIs(1));
  const Binding& b = r.changes[0].binding;
  EXPECT_FALSE(b.behind_nat);
  EXPECT_THAT(b.nat_reasons, Contains("contact_differs_from_source"));
  EXPECT_EQ(b.keepalive_interval_ms, 0u);
  EXPECT_EQ(b.keepalive_reason, "not NAT'd");
  EXPECT_EQ(b.contact_uri, "sip:alice@198.51.100.99:5070;transport=udp");
  EXPECT_EQ(b.expires_at, kNow + 3600);  // not the NAT'd cap
}

// design.md failure mode: "NAT UDP timeout shorter than the keepalive
// interval": each re-REGISTER from a new source port while the binding is
// live halves the interval, down to the floor.
TEST_F(RegistrarTest, NatUdpTimeoutShorterThanTheKeepaliveInterval) {
  Req req;
  req.cseq = 1;
  RegisterResult r = Register(req, Ep("203.0.113.30:31000"));
  ASSERT_EQ(r.status_code, 200);
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 25000u);
  ASSERT_NO_FATAL_FAILURE(MarkLearned("sip:alice@192.0.2.10:5060"));

  // Same port, a refresh: unchanged, no new keepalive target.
  req.cseq = 2;
  r = Register(req, Ep("203.0.113.30:31000"), kNow + 100);
  ASSERT_EQ(r.status_code, 200);
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 25000u);
  EXPECT_FALSE(r.changes[0].keepalive_changed);

  const uint32_t expected[] = {12500, 6250, 5000, 5000};
  uint16_t port = 31000;
  int64_t t = kNow + 100;
  for (uint32_t want : expected) {
    const uint16_t from = port;
    port += 2;
    t += 200;  // within the NAT'd expiry (600 s): still live
    req.cseq++;
    r = Register(req, Ep(absl::StrCat("203.0.113.30:", port)), t);
    ASSERT_EQ(r.status_code, 200) << r.error;
    ASSERT_THAT(r.changes, SizeIs(1));
    const BindingChange& c = r.changes[0];
    EXPECT_EQ(c.kind, BindingChange::Kind::kRefreshed);
    EXPECT_TRUE(c.keepalive_changed);
    EXPECT_EQ(c.previous.source.port, from);
    EXPECT_EQ(c.binding.source.port, port);
    EXPECT_EQ(c.binding.keepalive_interval_ms, want);
    EXPECT_THAT(c.binding.keepalive_reason,
                HasSubstr(absl::StrCat("mapping changed: source port ", from, " -> ", port)));
  }
  // At the floor; a refresh from the same port keeps the learnt interval.
  req.cseq++;
  r = Register(req, Ep(absl::StrCat("203.0.113.30:", port)), t + 10);
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 5000u);
  EXPECT_THAT(r.changes[0].binding.keepalive_reason, HasSubstr("(floor)"));

  // After the binding expired a new port is no evidence: start over.
  req.cseq++;
  r = Register(req, Ep("203.0.113.30:40000"), t + 10 + 601);
  ASSERT_EQ(r.status_code, 200);
  EXPECT_EQ(r.changes[0].kind, BindingChange::Kind::kAdded);
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 25000u);
}

TEST_F(RegistrarTest, NewTcpConnectionIsNotAMappingChange) {
  Req req;
  auto register_over_tcp = [&](uint32_t cseq, const Endpoint& source, int64_t now) {
    Req r = req;
    r.cseq = cseq;
    RegisterResult c = Send(r, source, now);
    r.authorization = Answer(HeadersNamed(c, "WWW-Authenticate").front(), "alice", "wonderland");
    std::string t = r.Text();
    absl::StrReplaceAll({{"SIP/2.0/UDP", "SIP/2.0/TCP"}}, &t);
    auto msg = SipMessage::Parse(t);
    EXPECT_TRUE(msg.ok());
    return registrar_->HandleRegister(*msg, source, Binding::Transport::kTcp, local_, now);
  };
  RegisterResult r = register_over_tcp(1, Ep("203.0.113.30:41000"), kNow);
  ASSERT_EQ(r.status_code, 200) << r.error;
  ASSERT_TRUE(r.changes[0].binding.behind_nat);
  r = register_over_tcp(2, Ep("203.0.113.30:41007"), kNow + 60);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 25000u);
  EXPECT_EQ(r.changes[0].binding.transport, Binding::Transport::kTcp);
}

TEST_F(RegistrarTest, RefusedRequestLeavesNoTrace) {
  Req req;
  req.expires = 10;
  EXPECT_EQ(Register(req, nat_source_).status_code, 423);
  EXPECT_THAT(registrar_->All(kNow), IsEmpty());
  EXPECT_EQ(registrar_->PruneExpired(kNow), 0u);
}

TEST_F(RegistrarTest, AdaptiveIntervalFollowsTheCallIdWhenTheContactChanges) {
  // A phone whose Contact carries its mapped port (a STUN phone): the new
  // binding continues the old one through the Call-ID.
  Req req;
  req.contacts = {"<sip:alice@192.0.2.10:31000>"};
  ASSERT_EQ(Register(req, Ep("203.0.113.30:31000")).status_code, 200);
  ASSERT_NO_FATAL_FAILURE(MarkLearned("sip:alice@192.0.2.10:31000"));
  req.contacts = {"<sip:alice@192.0.2.10:31002>"};
  req.cseq = 2;
  RegisterResult r = Register(req, Ep("203.0.113.30:31002"), kNow + 60);
  ASSERT_EQ(r.status_code, 200);
  ASSERT_THAT(r.changes, SizeIs(1));
  EXPECT_EQ(r.changes[0].kind, BindingChange::Kind::kAdded);
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 12500u);
}

// A new NAT'd UDP binding's NAT timeout is not known yet: until the learner
// decides, its phone is asked back within max_expires_learning (60 s by
// default), so a mapping a probe found dead is re-opened soon. Once
// learned, refreshes get the NAT'd maximum again; TCP never learns.
TEST_F(RegistrarTest, LearningBindingsReRegisterSoonUntilLearned) {
  config_.max_expires_learning = RegistrarConfig{}.max_expires_learning;
  ASSERT_EQ(config_.max_expires_learning, 60u);
  registrar_ = MakeRegistrar();
  Req req;
  RegisterResult r = Register(req, nat_source_);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(HeadersNamed(r, "Contact"), ElementsAre("<sip:alice@192.0.2.10:5060>;expires=60"));
  ASSERT_THAT(r.changes, SizeIs(1));
  EXPECT_TRUE(r.changes[0].binding.keepalive_learning);

  // The learner's verdict lands in the binding (memory and store).
  std::optional<BindingChange> set = registrar_->SetKeepalive(
      "alice@example.com", "sip:alice@192.0.2.10:5060", 5000, /*learning=*/false,
      "learned: NAT held 5 s, dropped the mapping within 10 s; interval 5 s (floor)");
  ASSERT_TRUE(set.has_value());
  EXPECT_TRUE(set->keepalive_changed);
  EXPECT_EQ(set->kind, BindingChange::Kind::kRefreshed);
  EXPECT_TRUE(set->previous.keepalive_learning);
  EXPECT_FALSE(set->binding.keepalive_learning);
  auto stored = store_->LoadAll(kNow);
  ASSERT_TRUE(stored.ok());
  ASSERT_THAT(*stored, SizeIs(1));
  EXPECT_EQ((*stored)[0].keepalive_interval_ms, 5000u);
  EXPECT_FALSE((*stored)[0].keepalive_learning);

  req.cseq = 2;
  r = Register(req, nat_source_, kNow + 30);
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(HeadersNamed(r, "Contact"), ElementsAre("<sip:alice@192.0.2.10:5060>;expires=600"));
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 5000u);
  EXPECT_FALSE(r.changes[0].keepalive_changed);
  EXPECT_THAT(r.changes[0].binding.keepalive_reason, HasSubstr("learned: NAT held 5 s"));

  EXPECT_FALSE(registrar_->SetKeepalive("alice@example.com", "sip:nobody@192.0.2.10", 5000,
                                        false, "x"));
}

TEST_F(RegistrarTest, RestartReloadsBindingsFromTheStore) {
  Req req;
  req.contacts = {"<sip:alice@192.0.2.10:5060>", "<sip:alice@192.0.2.10:5062>"};
  ASSERT_EQ(Register(req, Ep("203.0.113.30:31000")).status_code, 200);
  ASSERT_NO_FATAL_FAILURE(MarkLearned("sip:alice@192.0.2.10:5060"));
  ASSERT_NO_FATAL_FAILURE(MarkLearned("sip:alice@192.0.2.10:5062"));
  req.cseq = 2;
  req.contacts = {"<sip:alice@192.0.2.10:5060>"};
  ASSERT_EQ(Register(req, Ep("203.0.113.30:31002"), kNow + 10).status_code, 200);
  const std::vector<Binding> before = registrar_->Lookup("alice@example.com", kNow + 20);
  ASSERT_THAT(before, SizeIs(2));

  // The process restarts: a new store handle and a new registrar.
  registrar_.reset();
  store_.reset();
  auto store = BindingStore::Open(dir_ + "/bindings.db");
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
  registrar_ = MakeRegistrar();
  EXPECT_EQ(registrar_->Lookup("alice@example.com", kNow + 20), before);
  EXPECT_THAT(registrar_->All(kNow + 20), SizeIs(2));

  // The learnt state carries over: CSeq ordering and the adaptive interval.
  req.cseq = 2;
  EXPECT_EQ(Register(req, Ep("203.0.113.30:31002"), kNow + 30).status_code, 500);
  req.cseq = 3;
  RegisterResult r = Register(req, Ep("203.0.113.30:31004"), kNow + 30);
  ASSERT_EQ(r.status_code, 200);
  EXPECT_EQ(r.changes[0].binding.keepalive_interval_ms, 6250u);
  // The refresh rewrote the reloaded binding's row, not a second one.
  auto stored = store_->LoadAll(0);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_THAT(*stored, SizeIs(2));
}

// The registrar never stores a key twice, but a file edited by hand may
// hold one twice: the later row wins and the earlier is deleted.
TEST_F(RegistrarTest, RestartDropsAKeyStoredTwice) {
  Req req;
  ASSERT_EQ(Register(req, nat_source_).status_code, 200);
  std::vector<Binding> held = registrar_->Lookup("alice@example.com", kNow);
  ASSERT_THAT(held, SizeIs(1));
  Binding later = held[0];
  later.cseq = 9;
  ASSERT_TRUE(store_->Insert(later).ok());
  ASSERT_THAT(*store_->LoadAll(kNow), SizeIs(2));

  registrar_ = MakeRegistrar();
  const std::vector<Binding> loaded = registrar_->Lookup("alice@example.com", kNow);
  ASSERT_THAT(loaded, SizeIs(1));
  EXPECT_EQ(loaded[0].cseq, 9u);
  auto stored = store_->LoadAll(kNow);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_THAT(*stored, SizeIs(1));
  EXPECT_EQ((*stored)[0].cseq, 9u);
}

TEST_F(RegistrarTest, MemoryOnlyAndPruneExpired) {
  std::unique_ptr<Registrar> mem = MakeRegistrar(nullptr, /*memory=*/true);
  ASSERT_NE(mem, nullptr);
  Req req;
  req.contacts = {"<sip:alice@192.0.2.10:5060>;expires=120", "<sip:alice@192.0.2.10:5062>"};
  RegisterResult r = Register(req, nat_source_, kNow, "", "", mem.get());
  ASSERT_EQ(r.status_code, 200) << r.error;
  EXPECT_THAT(mem->Lookup("alice@example.com", kNow + 119), SizeIs(2));
  EXPECT_THAT(mem->Lookup("alice@example.com", kNow + 120), SizeIs(1));
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());  // no shared store

  std::vector<Binding> expired;
  EXPECT_EQ(mem->PruneExpired(kNow + 120, &expired), 1u);
  ASSERT_THAT(expired, SizeIs(1));
  EXPECT_EQ(expired[0].contact_uri, "sip:alice@192.0.2.10:5060");
  EXPECT_EQ(mem->PruneExpired(kNow + 600), 1u);
  EXPECT_THAT(mem->All(kNow), IsEmpty());
}

TEST_F(RegistrarTest, PruneExpiredAlsoPrunesTheStore) {
  ASSERT_EQ(Register(Req{}, nat_source_).status_code, 200);
  EXPECT_EQ(registrar_->PruneExpired(kNow + 600), 1u);
  auto all = store_->LoadAll(0);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, IsEmpty());
}

std::vector<std::string> ContactsOf(const std::vector<Binding>& bindings) {
  std::vector<std::string> out;
  for (const Binding& b : bindings) out.push_back(b.contact_uri);
  return out;
}

// Issue 17: the operator's pages walk the AORs in order (no copy and sort
// of the table), and the count follows every change, a restart included.
TEST_F(RegistrarTest, PagesWalkAorsInOrderAndTheCountFollowsChanges) {
  Req bob;
  bob.user = "bob";
  bob.contacts = {"<sip:bob@192.0.2.20:5060>"};
  bob.call_id = "bob-1@192.0.2.20";
  ASSERT_EQ(Register(bob, Ep("203.0.113.31:31000")).status_code, 200);
  Req alice;
  alice.contacts = {"<sip:alice@192.0.2.10:5062>", "<sip:alice@192.0.2.10:5060>"};
  ASSERT_EQ(Register(alice, nat_source_).status_code, 200);
  EXPECT_EQ(registrar_->binding_count(), 3u);
  EXPECT_THAT(ContactsOf(registrar_->Page(0, 10, kNow)),
              ElementsAre("sip:alice@192.0.2.10:5060", "sip:alice@192.0.2.10:5062",
                          "sip:bob@192.0.2.20:5060"));  // as Lookup ranks, then by AOR
  EXPECT_THAT(ContactsOf(registrar_->Page(1, 1, kNow)), ElementsAre("sip:alice@192.0.2.10:5062"));
  EXPECT_THAT(registrar_->Page(3, 10, kNow), IsEmpty());
  EXPECT_THAT(registrar_->Page(0, 0, kNow), IsEmpty());

  // A refresh changes nothing; a removal does.
  alice.cseq = 2;
  ASSERT_EQ(Register(alice, nat_source_).status_code, 200);
  EXPECT_EQ(registrar_->binding_count(), 3u);
  Binding removed;
  ASSERT_TRUE(registrar_->RemoveBinding("bob@example.com", "sip:bob@192.0.2.20:5060", &removed));
  EXPECT_EQ(registrar_->binding_count(), 2u);

  // Reloaded after a restart, then pruned.
  registrar_.reset();
  registrar_ = MakeRegistrar();
  EXPECT_EQ(registrar_->binding_count(), 2u);
  EXPECT_THAT(registrar_->Page(0, 10, kNow), SizeIs(2));
  EXPECT_EQ(registrar_->PruneExpired(kNow + 7200), 2u);
  EXPECT_EQ(registrar_->binding_count(), 0u);
  EXPECT_THAT(registrar_->Page(0, 10, kNow), IsEmpty());
}

TEST_F(RegistrarTest, CreateRejectsBadConfig) {
  RegistrarConfig bad = config_;
  bad.domain = "";
  EXPECT_FALSE(Registrar::Create(bad, *users_, nullptr, inside_, policies_).ok());
  bad = config_;
  bad.min_expires = 8000;
  EXPECT_FALSE(Registrar::Create(bad, *users_, nullptr, inside_, policies_).ok());
  bad = config_;
  bad.max_expires_natted = 9000;
  EXPECT_FALSE(Registrar::Create(bad, *users_, nullptr, inside_, policies_).ok());
}

Binding Stored(absl::string_view uri, int64_t expires_at, const char* source,
               uint32_t keepalive_ms) {
  Binding b;
  b.aor = "alice@example.com";
  b.contact_uri = std::string(uri);
  b.expires_at = expires_at;
  b.source = Ep(source);
  b.behind_nat = keepalive_ms != 0;
  b.keepalive_interval_ms = keepalive_ms;
  return b;
}

TEST(DiffBindingsTest, AddedRefreshedAndRemoved) {
  const std::vector<Binding> current = {
      Stored("sip:a@192.0.2.10", kNow + 60, "203.0.113.5:40000", 60000),
      Stored("sip:b@192.0.2.11", kNow + 60, "203.0.113.5:40001", 60000),
  };
  RegisterPlan plan;
  plan.upserts.push_back(Stored("sip:a@192.0.2.10", kNow + 600, "203.0.113.5:40000", 60000));
  plan.upserts.push_back(Stored("sip:c@192.0.2.12", kNow + 600, "203.0.113.5:40002", 60000));
  plan.removed.push_back("sip:b@192.0.2.11");
  std::vector<BindingChange> changes = DiffBindings(current, plan, kNow);
  ASSERT_THAT(changes, SizeIs(3));
  EXPECT_EQ(changes[0].kind, BindingChange::Kind::kRefreshed);
  EXPECT_FALSE(changes[0].keepalive_changed);  // same source, socket, interval
  EXPECT_EQ(changes[0].previous.expires_at, kNow + 60);
  EXPECT_EQ(changes[1].kind, BindingChange::Kind::kAdded);
  EXPECT_EQ(changes[1].binding.contact_uri, "sip:c@192.0.2.12");
  EXPECT_EQ(changes[2].kind, BindingChange::Kind::kRemoved);
  EXPECT_EQ(changes[2].binding.contact_uri, "sip:b@192.0.2.11");
}

TEST(DiffBindingsTest, ARefreshFromANewSourceChangesTheKeepaliveTarget) {
  const std::vector<Binding> current = {
      Stored("sip:a@192.0.2.10", kNow + 60, "203.0.113.5:40000", 60000)};
  RegisterPlan plan;
  plan.upserts.push_back(Stored("sip:a@192.0.2.10", kNow + 600, "203.0.113.5:40007", 30000));
  std::vector<BindingChange> changes = DiffBindings(current, plan, kNow);
  ASSERT_THAT(changes, SizeIs(1));
  EXPECT_EQ(changes[0].kind, BindingChange::Kind::kRefreshed);
  EXPECT_TRUE(changes[0].keepalive_changed);
}

TEST(DiffBindingsTest, ExpiredBindingsCountAsAbsent) {
  const std::vector<Binding> current = {
      Stored("sip:a@192.0.2.10", kNow - 1, "203.0.113.5:40000", 60000),
      Stored("sip:b@192.0.2.11", kNow, "203.0.113.5:40001", 60000)};
  RegisterPlan plan;
  plan.upserts.push_back(Stored("sip:a@192.0.2.10", kNow + 600, "203.0.113.5:40000", 60000));
  plan.removed.push_back("sip:b@192.0.2.11");
  std::vector<BindingChange> changes = DiffBindings(current, plan, kNow);
  ASSERT_THAT(changes, SizeIs(1));  // b expired at kNow: nothing to remove
  EXPECT_EQ(changes[0].kind, BindingChange::Kind::kAdded);
}

// ---- cluster: the replica and other nodes' bindings ----------------------

// What the registrar tells the cluster: each change once, after it is stored.
class RecordingReplica : public BindingReplica {
 public:
  void Put(const Binding& binding, bool urgent) override {
    events.push_back(absl::StrCat(urgent ? "put! " : "put ", binding.contact_uri));
  }
  void Refresh(const Binding& binding) override {
    events.push_back(absl::StrCat("refresh ", binding.contact_uri, " ", binding.expires_at));
  }
  void Remove(const Binding& binding) override {
    events.push_back(absl::StrCat("remove ", binding.aor, " ", binding.contact_uri));
  }
  std::vector<std::string> events;
};

TEST_F(RegistrarTest, ReplicaHearsNewContactsAtOnceAndRefreshesCoalesced) {
  RecordingReplica replica;
  registrar_->set_replica(&replica);
  Req req;
  ASSERT_EQ(Register(req, nat_source_).status_code, 200);
  req.cseq = 2;
  ASSERT_EQ(Register(req, nat_source_, kNow + 30).status_code, 200);  // only the expiry moves
  req.call_id = "restarted@192.0.2.10";  // the phone restarted: a new Call-ID, still a refresh
  req.cseq = 1;
  ASSERT_EQ(Register(req, nat_source_, kNow + 35).status_code, 200);
  req.cseq = 3;
  req.user_agent = "Yealink SIP-T46S 66.86.0.20";  // upgraded: the whole binding, coalesced
  ASSERT_EQ(Register(req, nat_source_, kNow + 40).status_code, 200);
  req.cseq = 4;
  ASSERT_EQ(Register(req, Ep("203.0.113.30:31002"), kNow + 60).status_code, 200);  // NAT moved
  req.cseq = 5;
  req.contacts = {"<sip:alice@192.0.2.10:5060>;expires=0"};
  ASSERT_EQ(Register(req, Ep("203.0.113.30:31002"), kNow + 90).status_code, 200);
  EXPECT_THAT(replica.events,
              ElementsAre("put! sip:alice@192.0.2.10:5060",
                          absl::StrCat("refresh sip:alice@192.0.2.10:5060 ", kNow + 30 + 600),
                          absl::StrCat("refresh sip:alice@192.0.2.10:5060 ", kNow + 35 + 600),
                          "put sip:alice@192.0.2.10:5060",
                          "put! sip:alice@192.0.2.10:5060",
                          "remove alice@example.com sip:alice@192.0.2.10:5060"));
}

Binding RemoteBinding(absl::string_view node, int64_t expires_at = kNow + 600) {
  Binding b;
  b.aor = "alice@example.com";
  b.contact_uri = "sip:alice@192.0.2.10:5060";
  b.expires_at = expires_at;
  b.call_id = "remote-call";
  b.cseq = 7;
  b.source = Ep("203.0.113.30:32000");
  b.local_socket = Ep("198.51.100.2:5060");
  b.node = std::string(node);
  return b;
}

TEST_F(RegistrarTest, AnotherNodesRefreshMovesOnlyTheBindingItOwns) {
  EXPECT_FALSE(registrar_->RefreshRemote("alice@example.com", "sip:alice@192.0.2.10:5060",
                                         "node-b", kNow + 900, 8, "c2"))
      << "a refresh does not make a binding";
  ASSERT_EQ(registrar_->ApplyRemote(RemoteBinding("node-b")), std::nullopt);
  EXPECT_FALSE(registrar_->RefreshRemote("alice@example.com", "sip:alice@192.0.2.10:5060",
                                         "node-c", kNow + 900, 8, "c2"));
  EXPECT_TRUE(registrar_->RefreshRemote("alice@example.com", "sip:alice@192.0.2.10:5060",
                                        "node-b", kNow + 900, 8, "c2"));
  std::vector<Binding> held = registrar_->Lookup("alice@example.com", kNow);
  ASSERT_THAT(held, SizeIs(1));
  EXPECT_EQ(held[0].expires_at, kNow + 900);
  EXPECT_EQ(held[0].cseq, 8u);
  EXPECT_EQ(held[0].call_id, "c2");
  EXPECT_EQ(held[0].source, Ep("203.0.113.30:32000")) << "the rest as its owner wrote it";

  Req req;  // this node's own binding is its store's, not a refresh's
  req.contacts = {"<sip:alice@192.0.2.99:5060>"};
  ASSERT_EQ(Register(req, nat_source_).status_code, 200);
  EXPECT_FALSE(registrar_->RefreshRemote("alice@example.com", "sip:alice@192.0.2.99:5060", "",
                                         kNow + 900, 9, "c3"));
}

TEST_F(RegistrarTest, AnotherNodesBindingIsHeldInMemoryOnly) {
  RecordingReplica replica;
  registrar_->set_replica(&replica);
  EXPECT_EQ(registrar_->ApplyRemote(RemoteBinding("node-b")), std::nullopt);
  std::vector<Binding> held = registrar_->Lookup("alice@example.com", kNow);
  ASSERT_THAT(held, SizeIs(1));
  EXPECT_EQ(held[0].node, "node-b");
  EXPECT_EQ(held[0].local_socket, Ep("198.51.100.2:5060"));
  EXPECT_THAT(*store_->LoadAll(kNow), IsEmpty()) << "its owner stores it";

  EXPECT_FALSE(registrar_->RemoveRemote("alice@example.com", "sip:alice@192.0.2.10:5060", "node-c"))
      << "only its owner removes it";
  std::vector<Binding> expired;
  EXPECT_EQ(registrar_->PruneExpired(kNow + 600, &expired), 1u);
  EXPECT_THAT(expired, IsEmpty()) << "it had no keepalive here";
  EXPECT_THAT(replica.events, IsEmpty()) << "nothing of another node's goes back out";

  registrar_->ApplyRemote(RemoteBinding("node-b"));
  EXPECT_TRUE(registrar_->RemoveRemote("alice@example.com", "sip:alice@192.0.2.10:5060", "node-b"));
  EXPECT_THAT(registrar_->Lookup("alice@example.com", kNow), IsEmpty());
}

// A VIP taken over: another node's binding on it becomes this node's,
// stored, replicated at once as this node's; what is not another node's
// live binding is left alone.
TEST_F(RegistrarTest, AdoptMakesAnotherNodesBindingThisNodes) {
  RecordingReplica replica;
  registrar_->set_replica(&replica);
  registrar_->ApplyRemote(RemoteBinding("node-b"));
  std::optional<BindingChange> adopted =
      registrar_->Adopt("alice@example.com", "sip:alice@192.0.2.10:5060", kNow);
  ASSERT_TRUE(adopted.has_value());
  EXPECT_EQ(adopted->kind, BindingChange::Kind::kAdded);
  EXPECT_EQ(adopted->binding.node, "");
  EXPECT_EQ(adopted->binding.source, Ep("203.0.113.30:32000")) << "the phone's NAT, as registered";
  EXPECT_EQ(registrar_->Lookup("alice@example.com", kNow)[0].node, "");
  std::vector<Binding> stored = *store_->LoadAll(kNow);
  ASSERT_THAT(stored, SizeIs(1));
  EXPECT_EQ(stored[0].local_socket, Ep("198.51.100.2:5060"));
  EXPECT_THAT(replica.events, ElementsAre("put! sip:alice@192.0.2.10:5060"));

  EXPECT_EQ(registrar_->Adopt("alice@example.com", "sip:alice@192.0.2.10:5060", kNow),
            std::nullopt)
      << "already this node's";
  EXPECT_EQ(registrar_->Adopt("nobody@example.com", "sip:x@192.0.2.1", kNow), std::nullopt);
  registrar_->ApplyRemote([] {
    Binding b = RemoteBinding("node-b", kNow + 5);
    b.contact_uri = "sip:alice@192.0.2.11:5060";
    return b;
  }());
  EXPECT_EQ(registrar_->Adopt("alice@example.com", "sip:alice@192.0.2.11:5060", kNow + 5),
            std::nullopt)
      << "expired: nothing to take over";
}

TEST_F(RegistrarTest, APhoneMovingToAnotherNodeTakesItsBindingThere) {
  Req req;
  ASSERT_EQ(Register(req, nat_source_).status_code, 200);
  ASSERT_THAT(*store_->LoadAll(kNow), SizeIs(1));
  std::optional<BindingChange> displaced = registrar_->ApplyRemote(RemoteBinding("node-b"));
  ASSERT_TRUE(displaced.has_value());
  EXPECT_EQ(displaced->kind, BindingChange::Kind::kRemoved);
  EXPECT_EQ(displaced->binding.source, nat_source_) << "this node's keepalive target goes";
  EXPECT_THAT(*store_->LoadAll(kNow), IsEmpty());

  // And back: a REGISTER here makes it this node's again, a new binding
  // (its keepalive installed here) stored and told to the cluster at once.
  RecordingReplica replica;
  registrar_->set_replica(&replica);
  req.cseq = 2;
  RegisterResult r = Register(req, nat_source_, kNow + 10);
  ASSERT_EQ(r.status_code, 200);
  ASSERT_THAT(r.changes, SizeIs(1));
  EXPECT_EQ(r.changes[0].kind, BindingChange::Kind::kAdded);
  EXPECT_THAT(replica.events, ElementsAre("put! sip:alice@192.0.2.10:5060"));
  EXPECT_EQ(registrar_->Lookup("alice@example.com", kNow + 10)[0].node, "");
  EXPECT_THAT(*store_->LoadAll(kNow), SizeIs(1));
}

}  // namespace
// A scan ends on time as well as on its count, and the walk it leaves off
// goes on from its cursor losing and repeating nothing.
TEST_F(RegistrarTest, ScanEndsOnTimeAndItsCursorLosesNothing) {
  constexpr int kAors = 100;
  for (int i = 0; i < kAors; ++i) {
    Binding b = RemoteBinding("node-b");
    b.aor = absl::StrCat("user", 1000 + i, "@example.com");
    b.contact_uri = absl::StrCat("sip:user", 1000 + i, "@192.0.2.10:5060");
    ASSERT_EQ(registrar_->ApplyRemote(b), std::nullopt);
  }
  std::vector<std::string> seen;
  // Each binding takes a fifth of the slice's time: the count (all of
  // them) would not stop the scan, the clock does.
  const auto slow = [&](const Binding& b) {
    seen.push_back(b.aor);
    std::this_thread::sleep_for(Registrar::kScanSliceTime / 5);
  };
  std::string next = registrar_->ScanLive("", kAors * 2, kNow, slow);
  EXPECT_EQ(next, seen.back()) << "stopped where it was";
  EXPECT_LE(seen.size(), 6u) << "the clock is read at every AOR";
  int calls = 1;
  while (!next.empty() && calls < kAors + 1) {
    next = registrar_->ScanLive(next, kAors * 2, kNow, slow);
    ++calls;
  }
  EXPECT_TRUE(next.empty());
  EXPECT_GE(calls, kAors / 6);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kAors));
  for (int i = 0; i < kAors; ++i) EXPECT_EQ(seen[i], absl::StrCat("user", 1000 + i, "@example.com"));

  // Fast enough, the count alone ends it.
  seen.clear();
  next = registrar_->ScanLive("", 10, kNow, [&](const Binding& b) { seen.push_back(b.aor); });
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(next, "user1009@example.com");
}

// An expiry slice looks at the clock after every binding: one past its
// deadline takes one binding, and without one it takes its whole budget.
TEST_F(RegistrarTest, PruneEndsOnTheClockAfterEveryBinding) {
  for (int i = 0; i < 40; ++i) {
    Binding b = RemoteBinding("node-b", kNow + 10);
    b.aor = absl::StrCat("user", 1000 + i, "@example.com");
    ASSERT_EQ(registrar_->ApplyRemote(b), std::nullopt);
  }
  const auto past = std::chrono::steady_clock::now();
  EXPECT_EQ(registrar_->PruneExpired(kNow + 60, nullptr, 32, past), 1u);
  EXPECT_EQ(registrar_->PruneExpired(kNow + 60, nullptr, 32), 32u);
  EXPECT_EQ(registrar_->PruneExpired(kNow + 60), 7u);
  EXPECT_FALSE(registrar_->HasExpired(kNow + 60));
}

}  // namespace rtplatch
