#include "control/sip/udp_send_batch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rtplatch {
namespace {

// A UDP socket bound to 127.0.0.1 on a kernel-chosen port.
class LoopbackSocket {
 public:
  LoopbackSocket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
    std::memcpy(&addr_, &sin, sizeof(sin));
  }
  ~LoopbackSocket() { ::close(fd_); }
  int fd() const { return fd_; }
  const sockaddr_storage& addr() const { return addr_; }

  // Every datagram waiting (up to 1 s for the first).
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) return out;
    char buf[2048];
    ssize_t n;
    while ((n = ::recv(fd_, buf, sizeof(buf), 0)) >= 0) out.emplace_back(buf, n);
    return out;
  }

 private:
  int fd_ = -1;
  sockaddr_storage addr_{};
};

TEST(UdpSendBatch, SendsInOrderPerSocketAndDestination) {
  LoopbackSocket sender1, sender2, a, b;
  UdpSendBatch batch;
  ASSERT_TRUE(batch.Add(sender1.fd(), a.addr(), sizeof(sockaddr_in), "1"));
  ASSERT_TRUE(batch.Add(sender1.fd(), a.addr(), sizeof(sockaddr_in), "2"));
  ASSERT_TRUE(batch.Add(sender2.fd(), b.addr(), sizeof(sockaddr_in), "3"));
  ASSERT_TRUE(batch.Add(sender1.fd(), b.addr(), sizeof(sockaddr_in), std::string(1200, 'x')));
  EXPECT_EQ(batch.size(), 4u);
  EXPECT_EQ(batch.Flush(), 0u);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(a.Drain(), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(b.Drain(), (std::vector<std::string>{"3", std::string(1200, 'x')}));
  EXPECT_EQ(batch.Flush(), 0u) << "an empty batch sends nothing";
}

TEST(UdpSendBatch, RefusesToGrowPastItsSize) {
  LoopbackSocket sender, a;
  UdpSendBatch batch;
  for (size_t i = 0; i < UdpSendBatch::kMaxDatagrams; ++i) {
    ASSERT_TRUE(batch.Add(sender.fd(), a.addr(), sizeof(sockaddr_in), std::to_string(i)));
  }
  EXPECT_FALSE(batch.Add(sender.fd(), a.addr(), sizeof(sockaddr_in), "one too many"));
  EXPECT_EQ(batch.Flush(), 0u);
  std::vector<std::string> got = a.Drain();
  ASSERT_EQ(got.size(), UdpSendBatch::kMaxDatagrams);
  EXPECT_EQ(got.front(), "0");
  EXPECT_EQ(got.back(), std::to_string(UdpSendBatch::kMaxDatagrams - 1));
}

// A datagram the kernel refuses (an IPv6 destination on an IPv4 socket) is
// counted; the ones around it still go out.
TEST(UdpSendBatch, CountsARefusedDatagramAndSendsTheRest) {
  LoopbackSocket sender, a;
  sockaddr_storage v6{};
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&v6);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(5060);
  ASSERT_EQ(::inet_pton(AF_INET6, "2001:db8::1", &sin6->sin6_addr), 1);
  UdpSendBatch batch;
  ASSERT_TRUE(batch.Add(sender.fd(), a.addr(), sizeof(sockaddr_in), "before"));
  ASSERT_TRUE(batch.Add(sender.fd(), v6, sizeof(sockaddr_in6), "refused"));
  ASSERT_TRUE(batch.Add(sender.fd(), a.addr(), sizeof(sockaddr_in), "after"));
  EXPECT_EQ(batch.Flush(), 1u);
  EXPECT_EQ(a.Drain(), (std::vector<std::string>{"before", "after"}));
}

}  // namespace
}  // namespace rtplatch
