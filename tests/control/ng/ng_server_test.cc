#include "control/ng/ng_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/socket_address.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

Endpoint AnyPort(const char* ip) { return Endpoint{*IpAddress::Parse(ip), 0}; }

// The server's contract is with any handler: this one answers ping, and
// an error to everything else.
BencodeValue PingOnly(const NgRequest& r) {
  if (r.command != "ping") return NgErrorReply("Unrecognized command");
  BencodeValue pong = BencodeValue::Dictionary();
  pong.Set("result", BencodeValue::String("pong"));
  return pong;
}

// A client on loopback, like Kamailio's one socket per node.
class Client {
 public:
  explicit Client(bool v6) : fd_(::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0)) {}
  ~Client() { ::close(fd_); }
  void Send(const Endpoint& to, const std::string& bytes) {
    sockaddr_storage ss;
    const socklen_t len = ToSockaddr(to, &ss);
    ASSERT_EQ(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len),
              static_cast<ssize_t>(bytes.size()));
  }
  // The next datagram within `ms`, and where it came from; "" if none.
  std::string Receive(int ms = 500, Endpoint* from = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return "";
    char buf[65536];
    sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    const ssize_t n = ::recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) return "";
    if (from != nullptr) *from = FromSockaddr(ss);
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_;
};

class NgServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = NgServer::Create(
        {AnyPort("127.0.0.1"), AnyPort("::1")},
        [this](const NgRequest& r, const Endpoint&) {
          ++handled_;
          return PingOnly(r);
        });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  // Lets the server read what was sent, then returns the reply.
  std::string RoundTrip(Client& c, const Endpoint& to, const std::string& bytes,
                        Endpoint* from = nullptr) {
    c.Send(to, bytes);
    for (int i = 0; i < 50 && server_->Poll(now_ms_) == 0; ++i) ::usleep(2000);
    return c.Receive(500, from);
  }

  std::unique_ptr<NgServer> server_;
  int handled_ = 0;
  int64_t now_ms_ = 1000;
};

TEST_F(NgServerTest, PingIsAnsweredFromTheSocketQueriedOverBothFamilies) {
  for (size_t i = 0; i < 2; ++i) {
    Client c(/*v6=*/i == 1);
    Endpoint from;
    EXPECT_EQ(RoundTrip(c, server_->local()[i], "42_1 d7:command4:pinge", &from),
              "42_1 d6:result4:ponge");
    EXPECT_EQ(from, server_->local()[i]) << "Kamailio drops replies from elsewhere";
  }
}

TEST_F(NgServerTest, RetransmissionGetsTheFirstAnswerWithoutRunningAgain) {
  Client c(false);
  const std::string ask = "7_3 d7:command4:pinge";
  const std::string first = RoundTrip(c, server_->local()[0], ask);
  now_ms_ += 1000;  // Kamailio's resend, 1 s later
  EXPECT_EQ(RoundTrip(c, server_->local()[0], ask), first);
  EXPECT_EQ(handled_, 1);
  EXPECT_EQ(server_->cache().counters().hits, 1u);
}

TEST_F(NgServerTest, BadRequestsGetErrorRepliesAndUnanswerableOnesAreCounted) {
  Client c(false);
  EXPECT_THAT(RoundTrip(c, server_->local()[0], "c1 d7:command4:pin"),
              HasSubstr("c1 d6:result5:error12:error-reason"));
  EXPECT_EQ(RoundTrip(c, server_->local()[0], "c2 d7:command5:offere"),
            "c2 d6:result5:error12:error-reason20:Unrecognized commande");
  EXPECT_THAT(RoundTrip(c, server_->local()[0], "c3 d7:command6:danceee"),
              HasSubstr("Unrecognized command"));
  EXPECT_EQ(RoundTrip(c, server_->local()[0], "no-cookie-here"), "");
  EXPECT_EQ(server_->counters().dropped, 1u);
  EXPECT_EQ(server_->counters().error_replies, 3u);
}

TEST_F(NgServerTest, JsonRequestGetsJson) {
  Client c(false);
  EXPECT_EQ(RoundTrip(c, server_->local()[0], R"(j1 {"command":"ping"})"),
            R"(j1 {"result":"pong"})");
}

TEST(NgServerCreateTest, BindFailureNamesTheAddress) {
  auto first = NgServer::Create({AnyPort("127.0.0.1")},
                                [](const NgRequest& r, const Endpoint&) { return PingOnly(r); });
  ASSERT_TRUE(first.ok());
  auto second = NgServer::Create({(*first)->local()[0]},
                                 [](const NgRequest& r, const Endpoint&) { return PingOnly(r); });
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr((*first)->local()[0].ToString()));
}

}  // namespace
}  // namespace rtplatch
