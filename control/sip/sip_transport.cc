#include "control/sip/sip_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "control/sip/sip_message.h"

namespace rtplatch {

absl::string_view SipTransportName(SipTransportKind t) {
  return t == SipTransportKind::kUdp ? "UDP" : "TCP";
}

namespace {

// Events handled per epoll_wait, and datagrams read per ready UDP socket
// per round: enough to drain bursts, small enough that one flooded socket
// cannot starve the others.
constexpr int kMaxEvents = 64;
constexpr int kUdpReadsPerRound = 64;
constexpr int kUdpBatch = 16;  // datagrams per recvmmsg
constexpr size_t kTcpReadChunk = 16 * 1024;
// Kernel receive buffer of a UDP SIP socket. The event loop is single
// threaded and waits for the dataplane's replies; the default (~200 KiB,
// about a hundred small datagrams once skb overhead is counted) overflows
// in tens of milliseconds at a few thousand messages a second, and every
// drop costs a 500 ms retransmission. SO_RCVBUFFORCE (root or
// CAP_NET_ADMIN) goes past net.core.rmem_max; otherwise rmem_max caps it.
constexpr int kUdpReceiveBufferBytes = 8 * 1024 * 1024;

void EnlargeReceiveBuffer(int fd) {
  const int bytes = kUdpReceiveBufferBytes;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
}

absl::Status ErrnoError(absl::string_view what, const Endpoint& ep) {
  return absl::UnavailableError(
      absl::StrCat("SIP transport: ", what, " ", ep.ToString(), ": ", std::strerror(errno)));
}

// Result of looking for one complete message at the front of a TCP stream.
struct Frame {
  enum Kind { kNeedMore, kComplete, kOversize, kBadLength } kind = kNeedMore;
  size_t length = 0;  // kComplete: header block + body
  std::string why;
};

// RFC 3261 18.3: the header block ends at the first empty line; the body
// is exactly Content-Length (or compact "l") bytes. A missing
// Content-Length means no body (the parser then judges the message).
Frame FindFrame(absl::string_view buf) {
  Frame f;
  size_t end = buf.find("\r\n\r\n");
  if (end == absl::string_view::npos) {
    if (buf.size() > kMaxSipMessageBytes) f.kind = Frame::kOversize;
    return f;
  }
  const size_t head_len = end + 4;
  absl::string_view head = buf.substr(0, end + 2);
  uint64_t body_len = 0;
  size_t pos = head.find("\r\n");  // skip the start line
  while (pos != absl::string_view::npos && pos + 2 < head.size()) {
    size_t line_start = pos + 2;
    size_t line_end = head.find("\r\n", line_start);
    absl::string_view line = head.substr(line_start, line_end - line_start);
    pos = line_end;
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    if (!absl::EqualsIgnoreCase(name, "Content-Length") && !absl::EqualsIgnoreCase(name, "l")) {
      continue;
    }
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (!absl::SimpleAtoi(value, &body_len)) {
      f.kind = Frame::kBadLength;
      f.why = std::string(value.substr(0, 32));
      return f;
    }
    break;
  }
  if (body_len > kMaxSipMessageBytes || head_len + body_len > kMaxSipMessageBytes) {
    f.kind = Frame::kOversize;
    return f;
  }
  if (buf.size() < head_len + body_len) return f;
  f.kind = Frame::kComplete;
  f.length = head_len + body_len;
  return f;
}

}  // namespace

struct SipTransport::Socket {
  enum class Kind : uint8_t { kUdp, kTcpListener, kTcpConnection };

  Socket(SipChannelId id_in, Kind kind_in, int fd_in, Endpoint local_in)
      : id(id_in), kind(kind_in), fd(fd_in), local(local_in) {}
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }

  const SipChannelId id;
  const Kind kind;
  const int fd;
  const Endpoint local;
  Endpoint peer;          // connections only
  std::string in;         // connections: bytes not yet framed
  std::string out;        // connections: bytes not yet written
  bool want_write = false;
  bool closing = false;
};

SipTransport::SipTransport(int epoll_fd, Handler handler)
    : epoll_fd_(epoll_fd), handler_(std::move(handler)) {}

SipTransport::~SipTransport() {
  sockets_.clear();
  ::close(epoll_fd_);
}

absl::StatusOr<std::unique_ptr<SipTransport>> SipTransport::Create(
    const std::vector<Endpoint>& listen, Handler handler) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    return absl::UnavailableError(absl::StrCat("SIP transport: epoll_create1: ", std::strerror(errno)));
  }
  std::unique_ptr<SipTransport> t(new SipTransport(ep, std::move(handler)));
  for (const Endpoint& e : listen) {
    if (auto s = t->AddListen(e); !s.ok()) return s;
  }
  return t;
}

absl::Status SipTransport::Register(std::unique_ptr<Socket> s, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = s->id;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
    return ErrnoError("epoll_ctl", s->local);
  }
  SipChannelId id = s->id;
  sockets_[id] = std::move(s);
  return absl::OkStatus();
}

absl::Status SipTransport::WakeOnReadable(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // no channel has id 0: RunOnce only wakes for it
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return absl::InternalError(absl::StrCat("SIP transport: epoll_ctl for fd ", fd, ": ",
                                            std::strerror(errno)));
  }
  return absl::OkStatus();
}

void SipTransport::StopWaking(int fd) { (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

absl::Status SipTransport::AddListen(const Endpoint& ep) {
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(ep, &ss);
  const int family = ep.ip.is_v4() ? AF_INET : AF_INET6;
  const int one = 1;

  int u = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u < 0) return ErrnoError("UDP socket for", ep);
  auto udp = std::make_unique<Socket>(next_id_++, Socket::Kind::kUdp, u, ep);
  if (family == AF_INET6) ::setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  EnlargeReceiveBuffer(u);
  if (::bind(u, reinterpret_cast<sockaddr*>(&ss), len) != 0) return ErrnoError("UDP bind", ep);
  if (auto s = Register(std::move(udp), EPOLLIN); !s.ok()) return s;

  int t = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (t < 0) return ErrnoError("TCP socket for", ep);
  auto tcp = std::make_unique<Socket>(next_id_++, Socket::Kind::kTcpListener, t, ep);
  ::setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) ::setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (::bind(t, reinterpret_cast<sockaddr*>(&ss), len) != 0) return ErrnoError("TCP bind", ep);
  if (::listen(t, SOMAXCONN) != 0) return ErrnoError("TCP listen", ep);
  return Register(std::move(tcp), EPOLLIN);
}

absl::Status SipTransport::RunOnce(int timeout_ms) {
  epoll_event events[kMaxEvents];
  int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("SIP transport: epoll_wait: ", std::strerror(errno)));
  }
  batching_ = true;
  for (int i = 0; i < n; ++i) {
    auto it = sockets_.find(events[i].data.u64);
    if (it == sockets_.end() || it->second->closing) continue;
    Socket& s = *it->second;
    const uint32_t ev = events[i].events;
    switch (s.kind) {
      case Socket::Kind::kUdp:
        OnUdpReadable(s);
        break;
      case Socket::Kind::kTcpListener:
        OnAccept(s);
        break;
      case Socket::Kind::kTcpConnection:
        if (ev & EPOLLOUT) OnTcpWritable(s);
        if (!s.closing && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) OnTcpReadable(s);
        break;
    }
  }
  batching_ = false;
  FlushUdpBatch();
  for (SipChannelId id : to_close_) {
    auto it = sockets_.find(id);
    if (it == sockets_.end()) continue;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
    if (it->second->kind == Socket::Kind::kTcpConnection) {
      --tcp_connections_;
      ++counters_.tcp_closed;
      if (auto p = tcp_by_peer_.find(it->second->peer); p != tcp_by_peer_.end() && p->second == id) {
        tcp_by_peer_.erase(p);
      }
    }
    sockets_.erase(it);
  }
  to_close_.clear();
  return absl::OkStatus();
}

void SipTransport::Close(SipChannelId id) {
  auto it = sockets_.find(id);
  if (it == sockets_.end() || it->second->closing) return;
  it->second->closing = true;
  to_close_.push_back(id);
}

void SipTransport::OnUdpReadable(Socket& s) {
  // Larger than any UDP payload, so nothing is ever silently truncated;
  // the parser refuses what exceeds kMaxSipMessageBytes. One recvmmsg
  // fills a batch; each message is handled before the next batch reuses
  // the buffers.
  static char bufs[kUdpBatch][65536];
  static sockaddr_storage froms[kUdpBatch];
  static iovec iovs[kUdpBatch];
  static mmsghdr msgs[kUdpBatch];
  for (int reads = 0; reads < kUdpReadsPerRound;) {
    for (int i = 0; i < kUdpBatch; ++i) {
      iovs[i] = iovec{bufs[i], sizeof(bufs[i])};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_name = &froms[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(froms[i]);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(s.fd, msgs, kUdpBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;  // EAGAIN, or an ICMP error reported on the socket
    for (int i = 0; i < n; ++i) {
      ++counters_.udp_datagrams;
      SipInbound in;
      in.bytes = absl::string_view(bufs[i], msgs[i].msg_len);
      in.source = FromSockaddr(froms[i]);
      in.local = s.local;
      in.transport = SipTransportKind::kUdp;
      in.channel = s.id;
      handler_(in);
    }
    reads += n;
    if (n < kUdpBatch) return;  // drained
  }
}

void SipTransport::OnAccept(Socket& s) {
  for (;;) {
    sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    int fd = ::accept4(s.fd, reinterpret_cast<sockaddr*>(&from), &from_len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or the peer already gave up
    if (tcp_connections_ >= kMaxTcpConnections) {
      ++counters_.tcp_rejected_full;
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto conn = std::make_unique<Socket>(next_id_++, Socket::Kind::kTcpConnection, fd, s.local);
    conn->peer = FromSockaddr(from);
    const SipChannelId conn_id = conn->id;
    const Endpoint peer = conn->peer;
    if (Register(std::move(conn), EPOLLIN | EPOLLRDHUP).ok()) {
      tcp_by_peer_[peer] = conn_id;
      ++tcp_connections_;
      ++counters_.tcp_accepted;
    }
  }
}

void SipTransport::OnTcpReadable(Socket& s) {
  char buf[kTcpReadChunk];
  for (;;) {
    ssize_t n = ::read(s.fd, buf, sizeof(buf));
    if (n > 0) {
      s.in.append(buf, static_cast<size_t>(n));
      if (!DrainTcpInput(s)) {
        Close(s.id);
        return;
      }
      if (s.closing) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    Close(s.id);  // EOF or reset
    return;
  }
}

bool SipTransport::DrainTcpInput(Socket& s) {
  size_t consumed = 0;
  for (;;) {
    // Keepalive CRLFs (RFC 5626 3.5.1) between messages are skipped.
    while (consumed < s.in.size() && (s.in[consumed] == '\r' || s.in[consumed] == '\n')) {
      ++consumed;
    }
    absl::string_view rest = absl::string_view(s.in).substr(consumed);
    if (rest.empty()) break;
    Frame f = FindFrame(rest);
    if (f.kind == Frame::kNeedMore) break;
    if (f.kind == Frame::kOversize) {
      ++counters_.tcp_oversize;
      return false;
    }
    if (f.kind == Frame::kBadLength) {
      ++counters_.tcp_bad_framing;
      return false;
    }
    ++counters_.tcp_messages;
    SipInbound in;
    in.bytes = rest.substr(0, f.length);
    in.source = s.peer;
    in.local = s.local;
    in.transport = SipTransportKind::kTcp;
    in.channel = s.id;
    handler_(in);  // may Send() on this connection; never erases it
    consumed += f.length;
    if (s.closing) return true;
  }
  s.in.erase(0, consumed);
  return true;
}

absl::Status SipTransport::Send(absl::string_view bytes, const Endpoint& dest,
                                SipTransportKind transport, SipChannelId channel) {
  auto it = sockets_.find(channel);
  if (it == sockets_.end() || it->second->closing) {
    ++counters_.send_errors;
    return absl::NotFoundError(absl::StrCat("SIP transport: channel ", channel, " is gone"));
  }
  Socket& s = *it->second;
  if (transport == SipTransportKind::kUdp) {
    if (s.kind != Socket::Kind::kUdp) {
      ++counters_.send_errors;
      return absl::InvalidArgumentError(absl::StrCat("SIP transport: channel ", channel, " is not UDP"));
    }
    sockaddr_storage ss;
    socklen_t len = ToSockaddr(dest, &ss);
    // Only responses wait for the batch: a request's send error must
    // reach its client transaction now (a transport error, then 503).
    if (batching_ && absl::StartsWith(bytes, "SIP/2.0 ")) {
      if (!udp_batch_.Add(s.fd, ss, len, bytes)) {
        FlushUdpBatch();
        (void)udp_batch_.Add(s.fd, ss, len, bytes);
      }
      return absl::OkStatus();
    }
    if (::sendto(s.fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
      ++counters_.send_errors;
      return ErrnoError("UDP sendto", dest);
    }
    return absl::OkStatus();
  }
  if (s.kind != Socket::Kind::kTcpConnection) {
    ++counters_.send_errors;
    return absl::InvalidArgumentError(
        absl::StrCat("SIP transport: channel ", channel, " is not a TCP connection"));
  }
  if (!(dest == s.peer)) {
    ++counters_.send_errors;
    return absl::InvalidArgumentError(absl::StrCat("SIP transport: connection ", channel, " goes to ",
                                                   s.peer.ToString(), ", not ", dest.ToString()));
  }
  if (s.out.size() + bytes.size() > kMaxTcpOutputBytes) {
    ++counters_.tcp_output_overflow;
    Close(s.id);
    return absl::ResourceExhaustedError(
        absl::StrCat("SIP transport: ", s.peer.ToString(), " is not reading; connection closed"));
  }
  s.out.append(bytes.data(), bytes.size());
  return FlushTcp(s);
}

void SipTransport::FlushUdpBatch() {
  if (udp_batch_.empty()) return;
  counters_.send_errors += udp_batch_.Flush();
}

absl::Status SipTransport::FlushTcp(Socket& s) {
  while (!s.out.empty()) {
    ssize_t n = ::send(s.fd, s.out.data(), s.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      s.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    ++counters_.send_errors;
    absl::Status err = ErrnoError("TCP send to", s.peer);
    Close(s.id);
    return err;
  }
  const bool want = !s.out.empty();
  if (want != s.want_write) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    ev.data.u64 = s.id;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, s.fd, &ev);
    s.want_write = want;
  }
  return absl::OkStatus();
}

void SipTransport::OnTcpWritable(Socket& s) { (void)FlushTcp(s); }

size_t SipTransport::tcp_connection_count() const { return tcp_connections_; }

std::optional<SipChannelId> SipTransport::UdpSocketFor(const Endpoint& local) const {
  std::optional<SipChannelId> same_family;
  for (const auto& [id, s] : sockets_) {
    if (s->kind != Socket::Kind::kUdp) continue;
    if (s->local == local) return id;
    if (s->local.ip.is_v4() == local.ip.is_v4() && (!same_family || id < *same_family)) {
      same_family = id;
    }
  }
  return same_family;
}

std::optional<SipChannelId> SipTransport::TcpConnectionTo(const Endpoint& peer) const {
  auto it = tcp_by_peer_.find(peer);
  if (it == tcp_by_peer_.end()) return std::nullopt;
  return it->second;
}

}  // namespace rtplatch
