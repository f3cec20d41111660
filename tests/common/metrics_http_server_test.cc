#include "common/metrics_http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A raw HTTP/1.0 exchange with the server (the test polls it meanwhile,
// as its owner's loop would): the whole response.
std::string Exchange(MetricsHttpServer& server, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.bound().port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    server.Poll();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;  // the server closed: HTTP/1.0 ends there
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

std::unique_ptr<MetricsHttpServer> StartOnLoopback(MetricsHttpServer::Render render) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> s =
      MetricsHttpServer::Start(Endpoint{IpAddress::FromV4(0x7f000001), 0}, std::move(render));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(MetricsHttpServerTest, ServesTheRenderedPage) {
  int renders = 0;
  auto server = StartOnLoopback([&] {
    ++renders;
    return std::string("rtplatch_up 1\n");
  });
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->bound().port, 0);
  const std::string r = Exchange(*server, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200")) << r;
  EXPECT_THAT(r, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(r, HasSubstr("\r\n\r\nrtplatch_up 1\n"));
  EXPECT_EQ(renders, 1);
  EXPECT_EQ(server->scrapes(), 1u);
}

TEST(MetricsHttpServerTest, OtherPathsAndMethodsAreRefused) {
  auto server = StartOnLoopback([] { return std::string("x 1\n"); });
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(Exchange(*server, "GET / HTTP/1.0\r\n\r\n"), StartsWith("HTTP/1.1 404"));
  const std::string post =
      Exchange(*server, "POST /metrics HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD"));
  // Garbage gets an HTTP error or a closed connection, and the server
  // still answers the next scrape.
  (void)Exchange(*server, std::string("\x01\x02 nonsense\r\n\r\n"));
  EXPECT_THAT(Exchange(*server, "GET /metrics HTTP/1.0\r\n\r\n"), StartsWith("HTTP/1.1 200"));
  EXPECT_EQ(server->scrapes(), 1u);
}

TEST(MetricsHttpServerTest, BusyAddressIsAClearError) {
  auto first = StartOnLoopback([] { return std::string(); });
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second = MetricsHttpServer::Start(
      *Endpoint::Parse(absl::StrCat("127.0.0.1:", first->bound().port)),
      [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("metrics: bind 127.0.0.1:"));
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
}

}  // namespace
}  // namespace rtplatch
