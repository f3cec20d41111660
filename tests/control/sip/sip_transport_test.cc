// A real SipTransport on loopback, driven by RunOnce() in the test thread,
// against plain UDP and TCP client sockets: what reaches the handler (bytes,
// source, local, transport, channel), what reaches the client from Send(),
// Content-Length framing over TCP, counted closes of bad TCP peers, and
// IPv6 loopback.
#include "control/sip/sip_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/socket_address.h"
#include "absl/strings/str_cat.h"
#include "tests/control/sip/sip_text.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using testing::SipText;

Endpoint Ep(absl::string_view text) { return *Endpoint::Parse(text); }

// What the handler saw, copied (SipInbound::bytes dies with the call).
struct Received {
  std::string bytes;
  Endpoint source;
  Endpoint local;
  SipTransportKind transport;
  SipChannelId channel;
  int64_t queued_ms;
};

// Whether this machine lets a socket bind `ip` (::1 may be disabled).
bool CanBind(const char* ip) {
  const Endpoint ep{*IpAddress::Parse(ip), 0};
  int fd = ::socket(ep.ip.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(ep, &ss);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  ::close(fd);
  return ok;
}

// A client socket bound to `ip` on a kernel-chosen port; TCP ones connect
// to `server` (the listener's backlog completes the handshake before the
// transport accepts).
class Client {
 public:
  static Client Udp(const IpAddress& ip) { return Client(ip, SOCK_DGRAM, std::nullopt); }
  static Client Tcp(const IpAddress& ip, const Endpoint& server) {
    return Client(ip, SOCK_STREAM, server);
  }
  Client(Client&& o) noexcept : fd_(o.fd_), local_(o.local_) { o.fd_ = -1; }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  const Endpoint& local() const { return local_; }

  void SendTo(absl::string_view bytes, const Endpoint& dest) {
    sockaddr_storage ss;
    socklen_t len = ToSockaddr(dest, &ss);
    ASSERT_EQ(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len),
              static_cast<ssize_t>(bytes.size()))
        << std::strerror(errno);
  }
  // One write(2) per call, so the test decides where the stream is cut.
  void Write(absl::string_view bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()))
        << std::strerror(errno);
  }

  // The next datagram, waiting up to 2 s; nullopt on timeout. `from` gets
  // the datagram's source.
  std::optional<std::string> RecvDatagram(Endpoint* from = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return std::nullopt;
    char buf[65536];
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ssize_t n = ::recvfrom(fd_, buf, sizeof(buf), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) return std::nullopt;
    if (from) *from = FromSockaddr(ss);
    return std::string(buf, static_cast<size_t>(n));
  }
  // Up to `want` bytes of the stream, waiting up to `timeout_ms`.
  std::string RecvStream(size_t want, int timeout_ms = 2000) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  // True when the peer has closed the stream (EOF or reset), within 2 s.
  bool SeesClose() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return true;  // ECONNRESET
    }
    return false;
  }

 private:
  Client(const IpAddress& ip, int type, std::optional<Endpoint> server) {
    fd_ = ::socket(ip.is_v4() ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    sockaddr_storage ss;
    socklen_t len = ToSockaddr(Endpoint{ip, 0}, &ss);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
    if (server) {
      sockaddr_storage to;
      socklen_t to_len = ToSockaddr(*server, &to);
      EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&to), to_len), 0) << std::strerror(errno);
    }
    sockaddr_storage me{};
    socklen_t me_len = sizeof(me);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&me), &me_len);
    local_ = FromSockaddr(me);
  }
  int fd_ = -1;
  Endpoint local_;
};

class SipTransportTest : public ::testing::Test {
 protected:
  // SipInbound::local is the listen endpoint as configured (the transport
  // has no getsockname), so port 0 would leave the test not knowing where
  // to send: try random high ports until one is free for UDP and TCP on
  // every address.
  void Start(const std::vector<const char*>& ips) {
    std::mt19937 rng(std::random_device{}());
    // Below the ephemeral range, and clear of the fixed ports the other
    // tests and the testbed use (5060, 20000-20999, 30000 and up).
    std::uniform_int_distribution<int> port_dist(22000, 29999);
    std::string last_error;
    for (int attempt = 0; attempt < 50; ++attempt) {
      const uint16_t port = static_cast<uint16_t>(port_dist(rng));
      std::vector<Endpoint> listen;
      for (const char* ip : ips) listen.push_back(Endpoint{*IpAddress::Parse(ip), port});
      auto t = SipTransport::Create(listen, [this](const SipInbound& in) { OnMessage(in); });
      if (t.ok()) {
        transport_ = std::move(*t);
        listen_ = listen;
        return;
      }
      last_error = t.status().ToString();
    }
    FAIL() << "no free loopback port after 50 tries: " << last_error;
  }

  void OnMessage(const SipInbound& in) {
    received_.push_back(
        Received{std::string(in.bytes), in.source, in.local, in.transport, in.channel,
                 in.queued_ms});
    if (on_message_) on_message_(in);
  }

  // RunOnce until `done` holds (2 s at most); false on timeout.
  bool PumpUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      absl::Status s = transport_->RunOnce(20);
      if (!s.ok()) {
        ADD_FAILURE() << s;
        return false;
      }
    }
    return true;
  }
  bool PumpUntilReceived(size_t n) {
    return PumpUntil([&] { return received_.size() >= n; });
  }
  // A few rounds with nothing expected to complete.
  void PumpIdle() {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(transport_->RunOnce(20).ok());
  }

  std::unique_ptr<SipTransport> transport_;
  std::vector<Endpoint> listen_;
  std::vector<Received> received_;
  std::function<void(const SipInbound&)> on_message_;
};

const IpAddress kLoopback4 = *IpAddress::Parse("127.0.0.1");
const IpAddress kLoopback6 = *IpAddress::Parse("::1");

std::string Options(int cseq = 1) {
  return SipText(absl::StrCat(R"(
OPTIONS sip:203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-opt)", cseq, R"(
From: <sip:alice@192.0.2.20>;tag=a1
To: <sip:203.0.113.10>
Call-ID: opt-)", cseq, R"(@192.0.2.20
CSeq: )", cseq, R"( OPTIONS
Max-Forwards: 70
)"));
}

std::string Ok(int cseq = 1) {
  return SipText(absl::StrCat(R"(
SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-opt)", cseq, R"(
From: <sip:alice@192.0.2.20>;tag=a1
To: <sip:203.0.113.10>;tag=r1
Call-ID: opt-)", cseq, R"(@192.0.2.20
CSeq: )", cseq, R"( OPTIONS
)"));
}

std::string MessageWithBody(absl::string_view body) {
  return SipText(R"(
MESSAGE sip:bob@203.0.113.10 SIP/2.0
Via: SIP/2.0/TCP 192.0.2.20:5060;branch=z9hG4bK-msg
From: <sip:alice@192.0.2.20>;tag=a1
To: <sip:bob@203.0.113.10>
Call-ID: msg-1@192.0.2.20
CSeq: 1 MESSAGE
Max-Forwards: 70
Content-Type: text/plain
)", body);
}

// Create's errors name the address and the failing call; a busy port is
// an error, not a crash or a half-open transport.
TEST_F(SipTransportTest, NoAddressIsAWaitAndABusyAddressIsNamed) {
  auto none = SipTransport::Create({}, [](const SipInbound&) {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE((*none)->RunOnce(0).ok());

  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  auto again = SipTransport::Create(listen_, [](const SipInbound&) {});
  ASSERT_FALSE(again.ok()) << "the port is already bound by the first transport";
  EXPECT_THAT(std::string(again.status().message()), HasSubstr(listen_[0].ToString()));
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("bind"));
}

TEST_F(SipTransportTest, UdpDatagramReachesHandlerWithSourceLocalAndChannel) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  Client phone = Client::Udp(kLoopback4);
  phone.SendTo(Options(), listen_[0]);
  ASSERT_TRUE(PumpUntilReceived(1));

  ASSERT_EQ(received_.size(), 1u);
  const Received& r = received_[0];
  EXPECT_EQ(r.bytes, Options()) << "a datagram is delivered byte for byte";
  EXPECT_EQ(r.source, phone.local()) << "source is the phone's address and port";
  EXPECT_EQ(r.local, listen_[0]) << "local is the address the socket is bound to";
  EXPECT_EQ(r.transport, SipTransportKind::kUdp);
  EXPECT_EQ(SipTransportName(r.transport), "UDP");
  EXPECT_EQ(std::optional<SipChannelId>(r.channel), transport_->UdpSocketFor(listen_[0]))
      << "the channel is the UDP socket of the listen address";
  EXPECT_EQ(transport_->counters().udp_datagrams, 1u);
  EXPECT_EQ(transport_->counters().tcp_messages, 0u);
}

// The time a datagram waited in the socket's queue is the control plane's
// load (overload_shedder.h): measured from the kernel's receive timestamp.
TEST_F(SipTransportTest, UdpDatagramCarriesHowLongItWaitedInTheQueue) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  Client phone = Client::Udp(kLoopback4);
  // The datagram waits in the queue, unread. On a loaded machine loopback
  // delivery can be deferred to ksoftirqd, so the datagram may reach the
  // queue late and truly wait less: up to three tries, each must stay
  // under 10 s, one must show the wait.
  int64_t longest = -1;
  for (size_t i = 1; i <= 3 && longest < 120; ++i) {
    phone.SendTo(Options(), listen_[0]);
    ::usleep(120'000);
    ASSERT_TRUE(PumpUntilReceived(i));
    ASSERT_EQ(received_.size(), i);
    EXPECT_LT(received_.back().queued_ms, 10'000);
    longest = std::max<int64_t>(longest, received_.back().queued_ms);
  }
  EXPECT_GE(longest, 120);
  // Read at once: (almost) no wait.
  const size_t before = received_.size();
  phone.SendTo(Options(), listen_[0]);
  ASSERT_TRUE(PumpUntilReceived(before + 1));
  EXPECT_GE(received_.back().queued_ms, 0);
  EXPECT_LT(received_.back().queued_ms, 100);
}

// A response sent from the handler waits for the round's batch; a request
// sent outside RunOnce goes at once. Both leave from the listen socket
// (the phone sees the server's port as the source, RFC 3581).
TEST_F(SipTransportTest, UdpSendReachesTheClientFromTheListenPort) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  on_message_ = [this](const SipInbound& in) {
    EXPECT_TRUE(transport_->Send(Ok(), in.source, in.transport, in.channel).ok());
  };
  Client phone = Client::Udp(kLoopback4);
  phone.SendTo(Options(), listen_[0]);
  ASSERT_TRUE(PumpUntilReceived(1));

  Endpoint from;
  std::optional<std::string> reply = phone.RecvDatagram(&from);
  ASSERT_TRUE(reply.has_value()) << "the batched response never left";
  EXPECT_EQ(*reply, Ok());
  EXPECT_EQ(from, listen_[0]);

  const std::string request = Options(2);
  ASSERT_TRUE(transport_->Send(request, phone.local(), SipTransportKind::kUdp,
                               received_[0].channel).ok());
  std::optional<std::string> got = phone.RecvDatagram(&from);
  ASSERT_TRUE(got.has_value()) << "a request sent outside RunOnce must go at once";
  EXPECT_EQ(*got, request);
  EXPECT_EQ(from, listen_[0]);
  EXPECT_EQ(transport_->counters().send_errors, 0u);
}

// More datagrams than one recvmmsg takes are all read, in order, in one
// round; twice as many responses as a send batch holds all leave, in order.
TEST_F(SipTransportTest, UdpBurstIsReadAndAnsweredInOrder) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  on_message_ = [this](const SipInbound& in) {
    const std::string n(in.bytes.substr(in.bytes.find(' ') + 1));
    EXPECT_TRUE(transport_->Send(absl::StrCat("SIP/2.0 100 a ", n), in.source, in.transport,
                                 in.channel).ok());
    EXPECT_TRUE(transport_->Send(absl::StrCat("SIP/2.0 200 b ", n), in.source, in.transport,
                                 in.channel).ok());
  };
  constexpr int kBurst = 40;  // > 16 per recvmmsg; 80 replies > 64 per batch
  Client phone = Client::Udp(kLoopback4);
  for (int i = 0; i < kBurst; ++i) phone.SendTo(absl::StrCat("PING ", i), listen_[0]);
  ASSERT_TRUE(PumpUntilReceived(kBurst));
  ASSERT_EQ(received_.size(), static_cast<size_t>(kBurst));
  for (int i = 0; i < kBurst; ++i) {
    EXPECT_EQ(received_[i].bytes, absl::StrCat("PING ", i));
  }
  EXPECT_EQ(transport_->counters().udp_datagrams, static_cast<uint64_t>(kBurst));
  for (int i = 0; i < kBurst; ++i) {
    std::optional<std::string> a = phone.RecvDatagram();
    std::optional<std::string> b = phone.RecvDatagram();
    ASSERT_TRUE(a.has_value() && b.has_value()) << "reply pair " << i << " missing";
    EXPECT_EQ(*a, absl::StrCat("SIP/2.0 100 a ", i));
    EXPECT_EQ(*b, absl::StrCat("SIP/2.0 200 b ", i));
  }
  EXPECT_EQ(transport_->counters().send_errors, 0u);
}

// RFC 3261 18.3: two messages in one segment are two messages, each cut at
// its Content-Length (full and compact "l" form), with the body intact.
TEST_F(SipTransportTest, TcpTwoMessagesInOneWriteAreDeliveredSeparately) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  const std::string first = MessageWithBody("hello\r\n\r\nnot a new message");
  const std::string second =
      "OPTIONS sip:203.0.113.10 SIP/2.0\r\nCall-ID: c2\r\nl: 3\r\n\r\nabc";
  Client phone = Client::Tcp(kLoopback4, listen_[0]);
  phone.Write(first + second);
  ASSERT_TRUE(PumpUntilReceived(2));
  PumpIdle();

  ASSERT_EQ(received_.size(), 2u);
  EXPECT_EQ(received_[0].bytes, first) << "a body holding a blank line stays in its message";
  EXPECT_EQ(received_[1].bytes, second);
  for (const Received& r : received_) {
    EXPECT_EQ(r.transport, SipTransportKind::kTcp);
    EXPECT_EQ(r.source, phone.local());
    EXPECT_EQ(r.local, listen_[0]);
    EXPECT_EQ(std::optional<SipChannelId>(r.channel), transport_->TcpConnectionTo(phone.local()))
        << "the channel is the phone's connection";
  }
  EXPECT_NE(received_[0].channel, transport_->UdpSocketFor(listen_[0]).value_or(0));
  EXPECT_EQ(transport_->counters().tcp_accepted, 1u);
  EXPECT_EQ(transport_->counters().tcp_messages, 2u);
  EXPECT_EQ(transport_->tcp_connection_count(), 1u);
}

// A message cut across writes (in the header block, then in the body) is
// delivered once, whole, only when its last byte arrives; keepalive CRLFs
// before it (RFC 5626) are skipped.
TEST_F(SipTransportTest, TcpMessageSplitAcrossWritesIsDeliveredOnceWhole) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  const std::string msg = MessageWithBody("0123456789");
  Client phone = Client::Tcp(kLoopback4, listen_[0]);
  phone.Write("\r\n\r\n");  // keepalive
  const size_t in_head = msg.find("Call-ID");
  const size_t in_body = msg.size() - 4;
  phone.Write(msg.substr(0, in_head));
  PumpIdle();
  EXPECT_TRUE(received_.empty()) << "half a header block is not a message";
  phone.Write(msg.substr(in_head, in_body - in_head));
  PumpIdle();
  EXPECT_TRUE(received_.empty()) << "a message short of its Content-Length is not delivered";
  phone.Write(msg.substr(in_body));
  ASSERT_TRUE(PumpUntilReceived(1));
  PumpIdle();
  ASSERT_EQ(received_.size(), 1u);
  EXPECT_EQ(received_[0].bytes, msg);
  EXPECT_EQ(transport_->counters().tcp_messages, 1u);
  EXPECT_EQ(transport_->counters().tcp_bad_framing, 0u);
}

// Without Content-Length the transport takes the message as bodiless (the
// header's documented rule; the parser then judges it): it is delivered up
// to its blank line and framing goes on with the next message.
TEST_F(SipTransportTest, TcpMessageWithoutContentLengthIsTakenAsBodiless) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  const std::string bare = "OPTIONS sip:203.0.113.10 SIP/2.0\r\nCall-ID: c1\r\n\r\n";
  const std::string next = MessageWithBody("xyz");
  Client phone = Client::Tcp(kLoopback4, listen_[0]);
  phone.Write(bare + next);
  ASSERT_TRUE(PumpUntilReceived(2));
  EXPECT_EQ(received_[0].bytes, bare);
  EXPECT_EQ(received_[1].bytes, next);
  EXPECT_EQ(transport_->counters().tcp_bad_framing, 0u);
  EXPECT_EQ(transport_->tcp_connection_count(), 1u);
}

struct BadTcpCase {
  const char* name;
  std::string bytes;
  bool oversize;  // else bad framing
};

class SipTransportBadTcpTest : public SipTransportTest,
                               public ::testing::WithParamInterface<BadTcpCase> {};

// A peer whose framing cannot be trusted is counted and closed, nothing
// reaches the handler, and the transport goes on serving other peers.
TEST_P(SipTransportBadTcpTest, IsCountedAndClosedAndOthersAreStillServed) {
  const BadTcpCase& c = GetParam();
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  Client bad = Client::Tcp(kLoopback4, listen_[0]);
  ASSERT_TRUE(PumpUntil([&] { return transport_->tcp_connection_count() == 1; }));
  // Written while the transport reads, as the kernel buffers may not hold
  // all of an oversize header block at once.
  ASSERT_EQ(::fcntl(bad.fd(), F_SETFL, ::fcntl(bad.fd(), F_GETFL) | O_NONBLOCK), 0);
  size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sent < c.bytes.size() && std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::send(bad.fd(), c.bytes.data() + sent, c.bytes.size() - sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      break;  // closed on us mid-write: that is the point
    }
    ASSERT_TRUE(transport_->RunOnce(5).ok());
  }
  const SipTransportCounters& k = transport_->counters();
  ASSERT_TRUE(PumpUntil([&] { return k.tcp_closed == 1; })) << "the bad peer was never closed";
  EXPECT_EQ(k.tcp_oversize, c.oversize ? 1u : 0u);
  EXPECT_EQ(k.tcp_bad_framing, c.oversize ? 0u : 1u);
  EXPECT_EQ(k.tcp_messages, 0u);
  EXPECT_TRUE(received_.empty()) << "nothing of a bad frame reaches the handler";
  EXPECT_EQ(transport_->tcp_connection_count(), 0u);
  EXPECT_EQ(transport_->TcpConnectionTo(bad.local()), std::nullopt);
  EXPECT_TRUE(bad.SeesClose());

  Client good = Client::Tcp(kLoopback4, listen_[0]);
  good.Write(MessageWithBody("ok"));
  ASSERT_TRUE(PumpUntilReceived(1));
  EXPECT_EQ(received_[0].bytes, MessageWithBody("ok"));
  EXPECT_EQ(received_[0].source, good.local());
}

INSTANTIATE_TEST_SUITE_P(
    Framing, SipTransportBadTcpTest,
    ::testing::Values(
        BadTcpCase{"ContentLengthAboveTheCap",
                   "MESSAGE sip:bob@203.0.113.10 SIP/2.0\r\nCall-ID: x\r\n"
                   "Content-Length: 70000\r\n\r\nshort",
                   true},
        BadTcpCase{"HeaderPlusBodyAboveTheCap",
                   absl::StrCat("MESSAGE sip:bob@203.0.113.10 SIP/2.0\r\nX-Pad: ",
                                std::string(40000, 'p'), "\r\nContent-Length: 30000\r\n\r\n"),
                   true},
        BadTcpCase{"HeaderBlockWithoutEndAboveTheCap",
                   absl::StrCat("MESSAGE sip:bob@203.0.113.10 SIP/2.0\r\nX-Pad: ",
                                std::string(70 * 1024, 'p')),
                   true},
        BadTcpCase{"ContentLengthNotANumber",
                   "MESSAGE sip:bob@203.0.113.10 SIP/2.0\r\nContent-Length: abc\r\n\r\nabc", false},
        BadTcpCase{"ContentLengthNegative",
                   "MESSAGE sip:bob@203.0.113.10 SIP/2.0\r\nContent-Length: -1\r\n\r\n", false},
        BadTcpCase{"CompactLengthEmpty",
                   "MESSAGE sip:bob@203.0.113.10 SIP/2.0\r\nl:\r\n\r\n", false},
        BadTcpCase{"ContentLengthOverflowsUint64",
                   "MESSAGE sip:bob@203.0.113.10 SIP/2.0\r\n"
                   "Content-Length: 99999999999999999999999\r\n\r\n",
                   false}),
    [](const auto& info) { return std::string(info.param.name); });

// A response to a TCP phone goes back over its own connection (RFC 3261
// 18.2.2), found by TcpConnectionTo; Send refuses a destination that is not
// the connection's peer, and a connection the phone closed.
TEST_F(SipTransportTest, TcpResponseGoesBackOverThePhonesConnection) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  Client phone = Client::Tcp(kLoopback4, listen_[0]);
  Client other = Client::Tcp(kLoopback4, listen_[0]);
  phone.Write(Options());
  ASSERT_TRUE(PumpUntilReceived(1));
  ASSERT_TRUE(PumpUntil([&] { return transport_->tcp_connection_count() == 2; }));

  std::optional<SipChannelId> conn = transport_->TcpConnectionTo(phone.local());
  ASSERT_TRUE(conn.has_value());
  EXPECT_EQ(*conn, received_[0].channel);
  std::optional<SipChannelId> other_conn = transport_->TcpConnectionTo(other.local());
  ASSERT_TRUE(other_conn.has_value());
  EXPECT_NE(*conn, *other_conn) << "each phone has its own connection";

  const std::string reply = Ok();
  ASSERT_TRUE(transport_->Send(reply, phone.local(), SipTransportKind::kTcp, *conn).ok());
  EXPECT_EQ(phone.RecvStream(reply.size()), reply);

  // A request to the phone (the server's side of RFC 5626) reuses it too.
  const std::string request = Options(7);
  ASSERT_TRUE(transport_->Send(request, phone.local(), SipTransportKind::kTcp, *conn).ok());
  EXPECT_EQ(phone.RecvStream(request.size()), request);

  EXPECT_EQ(transport_->Send(reply, other.local(), SipTransportKind::kTcp, *conn).code(),
            absl::StatusCode::kInvalidArgument)
      << "a connection only carries bytes to its own peer";
  EXPECT_EQ(transport_->Send(reply, phone.local(), SipTransportKind::kUdp, *conn).code(),
            absl::StatusCode::kInvalidArgument)
      << "a TCP connection is not a UDP socket";
  EXPECT_EQ(transport_->counters().send_errors, 2u);
  EXPECT_EQ(other.RecvStream(1, /*timeout_ms=*/200), "") << "nothing leaked to the other phone";

  ::shutdown(phone.fd(), SHUT_RDWR);
  ASSERT_TRUE(PumpUntil([&] { return !transport_->TcpConnectionTo(phone.local()); }))
      << "a closed connection is forgotten";
  EXPECT_EQ(transport_->Send(reply, phone.local(), SipTransportKind::kTcp, *conn).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(transport_->counters().tcp_closed, 1u);
  EXPECT_EQ(transport_->tcp_connection_count(), 1u);
  EXPECT_EQ(transport_->TcpConnectionTo(other.local()), other_conn);
}

// RFC 5626 3.5.1: a CRLFCRLF ping between messages gets a CRLF pong; a
// single CRLF (a pong, or RFC 3261's keepalive) gets nothing; a ping split
// across writes is still one ping; messages around them are untouched.
TEST_F(SipTransportTest, TcpKeepalivePingGetsAPong) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  Client phone = Client::Tcp(kLoopback4, listen_[0]);
  phone.Write("\r\n\r\n");
  PumpIdle();
  EXPECT_EQ(phone.RecvStream(2), "\r\n");
  phone.Write("\r\n");
  PumpIdle();
  EXPECT_EQ(phone.RecvStream(1, /*timeout_ms=*/200), "") << "a lone CRLF is no ping";
  phone.Write("\r\n");  // completes a ping with the one before
  PumpIdle();
  EXPECT_EQ(phone.RecvStream(2), "\r\n");
  phone.Write(Options() + "\r\n\r\n" + Options(2));
  ASSERT_TRUE(PumpUntilReceived(2));
  EXPECT_EQ(received_[0].bytes, Options());
  EXPECT_EQ(received_[1].bytes, Options(2));
  EXPECT_EQ(phone.RecvStream(2), "\r\n");
  EXPECT_EQ(transport_->counters().keepalive_pongs, 3u);
}

// A connection that carries nothing for the idle time-out is closed and
// counted; one that keeps pinging stays.
TEST_F(SipTransportTest, IdleConnectionsAreClosed) {
  Start({"127.0.0.1"});
  ASSERT_TRUE(transport_);
  transport_->set_idle_timeout_ms(1500);
  Client quiet = Client::Tcp(kLoopback4, listen_[0]);
  Client pinging = Client::Tcp(kLoopback4, listen_[0]);
  ASSERT_TRUE(PumpUntil([&] { return transport_->tcp_connection_count() == 2; }));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2800);
  while (std::chrono::steady_clock::now() < deadline) {
    pinging.Write("\r\n\r\n");
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(transport_->RunOnce(20).ok());
  }
  EXPECT_EQ(transport_->counters().idle_closed, 1u);
  EXPECT_EQ(transport_->tcp_connection_count(), 1u);
  EXPECT_FALSE(transport_->TcpConnectionTo(quiet.local()).has_value());
  EXPECT_TRUE(transport_->TcpConnectionTo(pinging.local()).has_value());
}

// IPv6 loopback: UDP in and out with v6 endpoints; listening on 127.0.0.1
// and ::1 on one port (V6ONLY) gives each family its own socket.
TEST_F(SipTransportTest, Ipv6LoopbackUdpAndTcp) {
  if (!CanBind("::1")) GTEST_SKIP() << "::1 cannot be bound on this machine (IPv6 disabled?)";
  Start({"127.0.0.1", "::1"});
  ASSERT_TRUE(transport_);
  ASSERT_EQ(listen_.size(), 2u);
  const Endpoint v4 = listen_[0], v6 = listen_[1];
  std::optional<SipChannelId> v4_socket = transport_->UdpSocketFor(v4);
  std::optional<SipChannelId> v6_socket = transport_->UdpSocketFor(v6);
  ASSERT_TRUE(v4_socket && v6_socket);
  EXPECT_NE(*v4_socket, *v6_socket);
  EXPECT_EQ(transport_->UdpSocketFor(Ep("[2001:db8::1]:5060")), v6_socket)
      << "an unbound address falls back to the first socket of its family";

  on_message_ = [this](const SipInbound& in) {
    EXPECT_TRUE(transport_->Send(Ok(), in.source, in.transport, in.channel).ok());
  };
  Client phone = Client::Udp(kLoopback6);
  phone.SendTo(Options(), v6);
  ASSERT_TRUE(PumpUntilReceived(1));
  EXPECT_EQ(received_[0].source, phone.local());
  EXPECT_FALSE(received_[0].source.ip.is_v4());
  EXPECT_EQ(received_[0].local, v6);
  EXPECT_EQ(received_[0].channel, *v6_socket);
  EXPECT_EQ(received_[0].bytes, Options());
  Endpoint from;
  std::optional<std::string> reply = phone.RecvDatagram(&from);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(*reply, Ok());
  EXPECT_EQ(from, v6);

  Client tcp_phone = Client::Tcp(kLoopback6, v6);
  tcp_phone.Write(MessageWithBody("v6"));
  ASSERT_TRUE(PumpUntilReceived(2));
  EXPECT_EQ(received_[1].transport, SipTransportKind::kTcp);
  EXPECT_EQ(received_[1].source, tcp_phone.local());
  EXPECT_EQ(received_[1].local, v6);
  EXPECT_EQ(std::optional<SipChannelId>(received_[1].channel),
            transport_->TcpConnectionTo(tcp_phone.local()));
}

// sip-stats shows the transport counters by Named(): every counter is
// there exactly once (the connects and connect_failures of connections we
// open to peers were counted but not shown), each under its own name.
TEST(SipTransportCountersTest, EveryCounterIsNamedOnce) {
  static_assert(std::is_trivially_copyable_v<SipTransportCounters>);
  static_assert(sizeof(SipTransportCounters) % sizeof(uint64_t) == 0);
  std::array<uint64_t, sizeof(SipTransportCounters) / sizeof(uint64_t)> distinct;
  std::iota(distinct.begin(), distinct.end(), 1);
  SipTransportCounters counters;
  std::memcpy(&counters, distinct.data(), sizeof counters);

  const std::vector<std::pair<absl::string_view, uint64_t>> named = counters.Named();
  std::set<uint64_t> values;
  std::set<absl::string_view> names;
  for (const auto& [name, value] : named) {
    values.insert(value);
    names.insert(name);
  }
  EXPECT_EQ(values, std::set<uint64_t>(distinct.begin(), distinct.end()));
  EXPECT_EQ(names.size(), distinct.size());
  EXPECT_THAT(named, ::testing::Contains(::testing::Pair("connects", counters.connects)));
  EXPECT_THAT(named,
              ::testing::Contains(::testing::Pair("connect_failures", counters.connect_failures)));
  EXPECT_THAT(named, ::testing::Contains(::testing::Pair("tls_handshake_failures",
                                                         counters.tls_handshake_failures)));
}

}  // namespace
}  // namespace rtplatch
