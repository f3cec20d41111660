// The control plane's operator socket end to end, as rtplatchctl uses it:
// OperatorCommands behind a real ControlServer on a Unix socket in a temp
// dir, asked by ControlClient. The server is polled on its own thread; the
// fake view is only touched from that thread while it runs.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/control_server.h"
#include "common/control_client.h"
#include "control/operator/operator_commands.h"
#include "tests/control/operator/view_slices.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using control::ControlClient;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'700'000'000;

class FakeView : public SlicedRegistrationsView {
 public:
  std::vector<Binding> Registrations(int64_t) const override { return bindings; }
  json Calls() const override { return calls; }
  json Stats() const override { return {{"requests", 5}}; }
  json Peers() const override { return json::array(); }
  int64_t Now() const override { return kNow; }
  absl::StatusOr<json> SetNgDraining(bool) override {
    return absl::NotFoundError("ng: not served");
  }
  absl::StatusOr<json> SetDraining(bool on) override { return json{{"draining", on}}; }
  absl::StatusOr<json> Reload() override { return json{{"users", 1}}; }
  json Bans() const override { return json::array(); }
  absl::StatusOr<json> Unban(const IpAddress&) override {
    return absl::NotFoundError("not banned");
  }

  std::vector<Binding> bindings;
  json calls = json::array();
};

class OperatorSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/operator_socket_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/control.sock";

    Binding b;
    b.aor = "alice@example.com";
    b.contact_uri = "sip:alice@192.0.2.10:5060;ob";
    b.expires_at = kNow + 300;
    b.source = *Endpoint::Parse("203.0.113.40:31000");
    b.local_socket = *Endpoint::Parse("203.0.113.10:5060");
    b.behind_nat = true;
    b.nat_reasons = {"via_inside"};
    b.keepalive_interval_ms = 25000;
    b.q_milli = 500;
    view_.bindings = {b};
    view_.calls = json::array({{{"call_id", "c1@example.com"}, {"state", "confirmed"}}});

    auto server = ControlServer::Listen(
        path_, [this](absl::string_view line, bool* subscribe) {
          return commands_.Handle(line, subscribe);
        });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    poller_ = std::thread([this] {
      while (!stop_) server_->Poll(/*timeout_ms=*/10);
    });
  }
  void TearDown() override {
    stop_ = true;
    if (poller_.joinable()) poller_.join();
    server_.reset();  // unlinks the socket
    ::rmdir(dir_.c_str());
  }

  FakeView view_;
  OperatorCommands commands_{view_};
  std::string dir_, path_;
  std::unique_ptr<ControlServer> server_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

TEST_F(OperatorSocketTest, RtplatchctlStyleRoundTrips) {
  ControlClient client(path_, 2000);
  ASSERT_TRUE(client.Connect().ok());

  auto regs = client.Call("registrations", {{"natted", true}});
  ASSERT_TRUE(regs.ok()) << regs.status();
  ASSERT_TRUE(regs->ok) << regs->raw;
  EXPECT_EQ(regs->result["total"], 1);
  EXPECT_EQ(regs->result["registrations"][0]["source"], "203.0.113.40:31000");
  EXPECT_EQ(regs->result["registrations"][0]["q"], 0.5);
  EXPECT_EQ(regs->result["registrations"][0]["expires_in"], 300);

  auto one = client.Call("registration", {{"aor", "sip:alice@example.com"}});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->result["bindings"].size(), 1u);

  auto call = client.Call("call", {{"call_id", "c1@example.com"}});
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->result["state"], "confirmed");

  auto stats = client.Call("stats");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->result["requests"], 5);
}

TEST_F(OperatorSocketTest, ErrorRepliesComeBackAsReplies) {
  ControlClient client(path_, 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto missing = client.Call("call", {{"call_id", "nope"}});
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->ok);
  EXPECT_EQ(missing->error_code, "not_found");
  auto bad = client.Call("registrations", {{"limit", -1}});
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->error_code, "invalid_argument");
  EXPECT_THAT(bad->error_message, HasSubstr("limit"));
  auto unknown = client.Call("allocate");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(unknown->error_code, "unknown_command");
  // The connection survives every error.
  auto version = client.Call("version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->result["protocol"], 1);
}

// Garbage on the wire costs nothing but an error line; the next request on
// the same connection is answered.
TEST_F(OperatorSocketTest, GarbageLineGetsParseErrorAndConnectionGoesOn) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string out = "not json\n{\"v\":1,\"id\":\"x\",\"cmd\":\"version\"}\n";
  ASSERT_EQ(::write(fd, out.data(), out.size()), static_cast<ssize_t>(out.size()));
  std::string in;
  char buf[4096];
  while (std::count(in.begin(), in.end(), '\n') < 2) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  std::string first = in.substr(0, in.find('\n'));
  std::string second = in.substr(in.find('\n') + 1);
  EXPECT_EQ(json::parse(first)["error"]["code"], "parse_error");
  json version = json::parse(second.substr(0, second.find('\n')));
  EXPECT_EQ(version["id"], "x");
  EXPECT_EQ(version["ok"], true);
}

}  // namespace
}  // namespace rtplatch
