#include "control/media/keepalive_learner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/registrar/users_file.h"
#include "nlohmann/json.hpp"
#include "tests/control/media/fake_dataplane.h"
#include "tests/control/sip/sip_text.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using testing::Answer;
using testing::FakeDataplane;
using testing::Ok;
using testing::SipText;

constexpr int64_t kNow = 1'700'000'000;
const Endpoint kLocal = *Endpoint::Parse("198.51.100.1:5060");
const Endpoint kPhone = *Endpoint::Parse("203.0.113.20:41000");

// The learner between a real registrar (memory only) and a keepalive sync
// on a fake dataplane; probes are recorded, and `reachable` says whether
// one can be sent.
class KeepaliveLearnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dataplane_.set_responder([this](const json& r) -> Answer {
      if (r.value("cmd", "") == "keepalive_add") return Ok({{"ids", json::array({++ids_})}});
      if (r.value("cmd", "") == "keepalive_list") return Ok({{"keepalives", json::array()}});
      return Ok(json::object());
    });
    dataplane_.Start();
    ASSERT_TRUE(inside_.Add("192.0.2.0/24").ok());
    auto users = UsersFile::Parse("# nobody\n", "(test users)");
    ASSERT_TRUE(users.ok());
    users_ = *std::move(users);
    RegistrarConfig rc;
    rc.domain = "example.com";
    rc.nonce_secret = "0123456789abcdef0123456789abcdef";
    rc.require_auth = false;
    auto registrar = Registrar::Create(rc, *users_, nullptr, inside_, policies_);
    ASSERT_TRUE(registrar.ok()) << registrar.status();
    registrar_ = *std::move(registrar);
    link_ = std::make_unique<DataplaneLink>(
        DataplaneLink::Options{.socket_path = dataplane_.path(), .timeout_ms = 1000});
    KeepaliveSync::Options ko;
    sync_ = std::make_unique<KeepaliveSync>(*link_, ko);
    learner_ = MakeLearner();
  }

  std::unique_ptr<KeepaliveLearner> MakeLearner() {
    return std::make_unique<KeepaliveLearner>(
        KeepaliveLearningConfig{}, *registrar_, *sync_, [this](const Binding& b, uint64_t id) {
          if (!reachable_) return false;
          probes_.push_back(b.source);
          probe_ids_.push_back(id);
          return true;
        });
  }

  // A NAT'd phone's REGISTER (private Via/Contact, public source).
  std::vector<BindingChange> Register(int cseq = 1) {
    auto m = SipMessage::Parse(SipText(absl::StrCat(
        "REGISTER sip:example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKr", cseq, ";rport\n"
        "From: <sip:bob@example.com>;tag=r\nTo: <sip:bob@example.com>\n"
        "Call-ID: reg-bob\nCSeq: ", cseq, " REGISTER\n"
        "Contact: <sip:bob@192.0.2.20:5060>\nExpires: 3600\n")));
    EXPECT_TRUE(m.ok());
    RegisterResult r =
        registrar_->HandleRegister(*m, kPhone, Binding::Transport::kUdp, kLocal, kNow);
    EXPECT_EQ(r.status_code, 200) << r.error;
    sync_->Apply(r.changes);
    return r.changes;
  }
  void Run(int64_t from_ms, int64_t to_ms) {
    for (int64_t t = from_ms; t <= to_ms; t += 100) learner_->Tick(t);
  }
  const std::string kKey = "bob@example.com\nsip:bob@192.0.2.20:5060";

  std::atomic<uint64_t> ids_{0};
  FakeDataplane dataplane_;
  InsidePrefixes inside_ = InsidePrefixes::Default();
  NatPolicyTable policies_;
  std::unique_ptr<UsersFile> users_;
  std::unique_ptr<Registrar> registrar_;
  std::unique_ptr<DataplaneLink> link_;
  std::unique_ptr<KeepaliveSync> sync_;
  std::unique_ptr<KeepaliveLearner> learner_;
  std::vector<Endpoint> probes_;
  std::vector<uint64_t> probe_ids_;
  bool reachable_ = true;
};

TEST_F(KeepaliveLearnerTest, LearningBindingHasNoTargetUntilLearned) {
  learner_->Apply(Register(), 0);
  EXPECT_THAT(dataplane_.Requests("keepalive_add"), IsEmpty());
  EXPECT_EQ(sync_->size(), 0u);
  Run(0, 5000);
  ASSERT_THAT(probes_, SizeIs(1));
  EXPECT_EQ(probes_[0], kPhone);
  // Nothing answers: lost 4 s later; the floor, and now a target.
  Run(5100, 9000);
  EXPECT_EQ(learner_->size(), 0u);
  EXPECT_EQ(sync_->size(), 1u);
  std::vector<Binding> b = registrar_->Lookup("bob@example.com", kNow);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_FALSE(b[0].keepalive_learning);
  EXPECT_EQ(b[0].keepalive_interval_ms, 5000u);
  EXPECT_EQ(learner_->counters().probes_lost, 1u);
}

TEST_F(KeepaliveLearnerTest, RefreshAndTrafficRestartTheGap) {
  learner_->Apply(Register(1), 0);
  Run(0, 4000);
  learner_->Apply(Register(2), 4000);  // the REGISTER used the mapping
  Run(4100, 8900);
  EXPECT_THAT(probes_, IsEmpty());
  learner_->HeardFrom(kPhone, 8900);  // e.g. its INVITE
  learner_->HeardFrom(*Endpoint::Parse("203.0.113.99:41000"), 9000);  // someone else
  Run(9000, 13800);
  EXPECT_THAT(probes_, IsEmpty());
  Run(13900, 13900);
  EXPECT_THAT(probes_, SizeIs(1));
}

TEST_F(KeepaliveLearnerTest, UnsendableProbeIsRetriedNotCountedLost) {
  learner_->Apply(Register(), 0);
  reachable_ = false;
  Run(0, 9000);
  EXPECT_EQ(learner_->counters().probes_unsendable, 1u);
  EXPECT_EQ(learner_->counters().probes_lost, 0u);
  ASSERT_NE(learner_->Find(kKey), nullptr);
  reachable_ = true;
  Run(9100, 10000);
  EXPECT_THAT(probes_, SizeIs(1));
}

TEST_F(KeepaliveLearnerTest, GoneBindingIsAbandonedAndALateAnswerChangesNothing) {
  learner_->Apply(Register(), 0);
  Run(0, 5000);
  ASSERT_THAT(probes_, SizeIs(1));
  Binding removed;
  ASSERT_TRUE(registrar_->RemoveBinding("bob@example.com", "sip:bob@192.0.2.20:5060", &removed));
  learner_->Removed({removed});
  EXPECT_EQ(learner_->size(), 0u);
  EXPECT_EQ(learner_->counters().abandoned, 1u);
  learner_->OnProbeAnswered(kKey, probe_ids_.back(), 5200);
  Run(5100, 20000);
  EXPECT_THAT(probes_, SizeIs(1));
  EXPECT_EQ(sync_->size(), 0u);
}

// The phone answers the 5 s and 10 s probes; the 20 s one is lost: 8 s,
// installed in the dataplane.
TEST_F(KeepaliveLearnerTest, AnsweredProbesThenALossGiveTheLongestGapLessAFifth) {
  learner_->Apply(Register(), 0);
  int64_t t = 0;
  for (int answered = 0; answered < 2; ++answered) {
    const size_t before = probes_.size();
    while (probes_.size() == before && t < 60000) learner_->Tick(t += 100);
    ASSERT_EQ(probes_.size(), before + 1);
    // A stale id (an earlier, void probe's answer) counts for nothing.
    learner_->OnProbeAnswered(kKey, probe_ids_.back() + 7, t + 10);
    learner_->OnProbeAnswered(kKey, probe_ids_.back(), t + 20);
  }
  Run(t + 100, t + 30000);
  EXPECT_EQ(learner_->size(), 0u);
  std::vector<Binding> b = registrar_->Lookup("bob@example.com", kNow);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_EQ(b[0].keepalive_interval_ms, 8000u);
  EXPECT_EQ(b[0].keepalive_reason,
            "learned: NAT held 10 s, dropped the mapping within 20 s; interval 8 s");
  EXPECT_EQ(sync_->size(), 1u);
}

// Two lines registered from one port share its mapping: the phone's
// traffic restarts the gap of both.
TEST_F(KeepaliveLearnerTest, TrafficReachesEveryBindingOnTheSource) {
  learner_->Apply(Register(), 0);
  auto m = SipMessage::Parse(SipText(
      "REGISTER sip:example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKl2;rport\n"
      "From: <sip:bob@example.com>;tag=r\nTo: <sip:bob@example.com>\n"
      "Call-ID: reg-bob-line2\nCSeq: 1 REGISTER\n"
      "Contact: <sip:bob-2@192.0.2.20:5060>\nExpires: 3600\n"));
  ASSERT_TRUE(m.ok());
  RegisterResult r = registrar_->HandleRegister(*m, kPhone, Binding::Transport::kUdp, kLocal, kNow);
  ASSERT_EQ(r.status_code, 200);
  learner_->Apply(r.changes, 0);
  ASSERT_EQ(learner_->size(), 2u);
  learner_->HeardFrom(kPhone, 4000);
  Run(0, 8900);
  EXPECT_THAT(probes_, IsEmpty()) << "both gaps restarted at 4 s";
  Run(9000, 9000);
  EXPECT_THAT(probes_, SizeIs(2));
}

// A store row that has nothing to learn (TCP, or a ceiling at the floor)
// is settled, not probed (and never loops a tick).
TEST_F(KeepaliveLearnerTest, NothingToLearnIsSettled) {
  Register();
  std::vector<Binding> live = registrar_->All(kNow);
  ASSERT_THAT(live, SizeIs(1));
  ASSERT_TRUE(registrar_->SetKeepalive(live[0].aor, live[0].contact_uri, 0, true, "odd row"));
  learner_ = MakeLearner();
  learner_->Resume(registrar_->All(kNow), 0);
  EXPECT_EQ(learner_->size(), 0u);
  EXPECT_FALSE(registrar_->All(kNow)[0].keepalive_learning);
  Run(0, 10000);
  EXPECT_THAT(probes_, IsEmpty());
}

// A control plane restarted mid-learning: the binding comes back from the
// store still learning, and the new process starts over.
TEST_F(KeepaliveLearnerTest, ResumeStartsOverForBindingsStillLearning) {
  Register();
  ASSERT_TRUE(registrar_->All(kNow)[0].keepalive_learning);
  learner_ = MakeLearner();
  learner_->Resume(registrar_->All(kNow), 100000);
  ASSERT_NE(learner_->Find(kKey), nullptr);
  Run(100000, 105000);
  EXPECT_THAT(probes_, SizeIs(1));
}

}  // namespace
}  // namespace rtplatch
