#include "control/sip/sip_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "common/monotonic_clock.h"
#include "control/sip/sip_message.h"

namespace rtplatch {

absl::string_view SipTransportName(SipTransportKind t) {
  switch (t) {
    case SipTransportKind::kUdp: return "UDP";
    case SipTransportKind::kTcp: return "TCP";
    case SipTransportKind::kTls: return "TLS";
  }
  return "?";
}

std::vector<std::pair<absl::string_view, uint64_t>> SipTransportCounters::Named() const {
  return {{"udp_datagrams", udp_datagrams},
          {"udp_queue_overflows", udp_queue_overflows},
          {"tcp_messages", tcp_messages},
          {"tcp_accepted", tcp_accepted},
          {"tcp_closed", tcp_closed},
          {"tcp_oversize", tcp_oversize},
          {"tcp_bad_framing", tcp_bad_framing},
          {"tcp_output_overflow", tcp_output_overflow},
          {"tcp_rejected_full", tcp_rejected_full},
          {"tcp_rejected_per_source", tcp_rejected_per_source},
          {"tls_accepted", tls_accepted},
          {"tls_handshakes", tls_handshakes},
          {"tls_handshake_failures", tls_handshake_failures},
          {"tls_handshake_timeouts", tls_handshake_timeouts},
          {"keepalive_pongs", keepalive_pongs},
          {"connects", connects},
          {"connect_failures", connect_failures},
          {"idle_closed", idle_closed},
          {"send_errors", send_errors}};
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

// Each datagram carries the time the kernel queued it (SO_TIMESTAMPNS):
// how long it waited is the control plane's load (overload_shedder.h).
// And the count of datagrams the kernel dropped on the socket because its
// queue was full (SO_RXQ_OVFL): the surest sign of overload, which a queue
// shorter than the shedder's delay threshold never shows as a delay.
void AskForReceiveTimestamps(int fd) {
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
}

int64_t RealtimeNs() {
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// The SOL_SOCKET control message of `type` that came with `h`, or null.
const cmsghdr* SocketControl(const msghdr& h, int type) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == type) return c;
  }
  return nullptr;
}

// How long the datagram of `h` waited in the socket's queue, in ms; -1
// without a timestamp.
int64_t QueuedMs(const msghdr& h, int64_t now_ns) {
  const cmsghdr* c = SocketControl(h, SCM_TIMESTAMPNS);
  if (c == nullptr) return -1;
  timespec ts;
  std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
  const int64_t queued_ns = now_ns - (int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
  return std::max<int64_t>(queued_ns, 0) / 1'000'000;
}

// The socket's drop count carried by `h` (SO_RXQ_OVFL); -1 without one.
int64_t SocketDrops(const msghdr& h) {
  const cmsghdr* c = SocketControl(h, SO_RXQ_OVFL);
  if (c == nullptr) return -1;
  uint32_t drops;
  std::memcpy(&drops, CMSG_DATA(c), sizeof(drops));
  return drops;
}

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
  enum class Kind : uint8_t { kUdp, kTcpListener, kTlsListener, kTcpConnection };

  Socket(SipChannelId id_in, Kind kind_in, int fd_in, Endpoint local_in)
      : id(id_in), kind(kind_in), fd(fd_in), local(local_in) {}
  ~Socket() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }

  const SipChannelId id;
  const Kind kind;
  const int fd;
  Endpoint local;         // connections we open: learnt once connected
  Endpoint peer;          // connections only
  std::string in;         // connections: bytes not yet framed
  std::string out;        // connections: bytes not yet written
  bool want_write = false;
  bool closing = false;
  int64_t last_activity_ms = 0;  // connections: the last byte read
  size_t crlf_run = 0;       // CR/LF bytes skipped in a row between messages
  uint32_t kernel_drops = 0;  // UDP: the kernel's SO_RXQ_OVFL count last read
  SSL* ssl = nullptr;        // TLS connections
  std::vector<std::string> tls_names;  // its verified certificate's names
  std::string tls_host;      // ours: the name the server's certificate was checked for
  bool handshaking = false;  // TLS: no message before the handshake is done
  bool connecting = false;   // ours, before the TCP connection is up
  int64_t accepted_ms = 0;

  SipTransportKind transport() const {
    return ssl != nullptr ? SipTransportKind::kTls : SipTransportKind::kTcp;
  }
};

SipTransport::SipTransport(int epoll_fd, Handler handler)
    : epoll_fd_(epoll_fd), handler_(std::move(handler)) {}

SipTransport::~SipTransport() {
  sockets_.clear();
  ::close(epoll_fd_);
}

absl::StatusOr<std::unique_ptr<SipTransport>> SipTransport::Create(
    const std::vector<Endpoint>& listen, Handler handler, const std::vector<Endpoint>& tls_listen,
    const SipTls* tls, const std::vector<IpAddress>& not_yet_local) {
  if (!tls_listen.empty() && tls == nullptr) {
    return absl::InvalidArgumentError("config: tls_listen: needs the \"tls\" certificate and key");
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    return absl::UnavailableError(absl::StrCat("SIP transport: epoll_create1: ", std::strerror(errno)));
  }
  std::unique_ptr<SipTransport> t(new SipTransport(ep, std::move(handler)));
  t->tls_ = tls;
  t->not_yet_local_ = not_yet_local;
  for (const Endpoint& e : listen) {
    if (auto s = t->AddListen(e); !s.ok()) return s;
  }
  for (const Endpoint& e : tls_listen) {
    if (auto s = t->AddTlsListen(e); !s.ok()) return s;
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
  const int family = ep.ip.is_v4() ? AF_INET : AF_INET6;
  const int one = 1;

  int u = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u < 0) return ErrnoError("UDP socket for", ep);
  auto udp = std::make_unique<Socket>(next_id_++, Socket::Kind::kUdp, u, ep);
  if (family == AF_INET6) ::setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  EnlargeReceiveBuffer(u);
  AskForReceiveTimestamps(u);
  if (Bind(u, ep) != 0) return ErrnoError("UDP bind", ep);
  if (auto s = Register(std::move(udp), EPOLLIN); !s.ok()) return s;

  absl::StatusOr<int> t = StreamListener(ep);
  if (!t.ok()) return t.status();
  return Register(std::make_unique<Socket>(next_id_++, Socket::Kind::kTcpListener, *t, ep), EPOLLIN);
}

absl::Status SipTransport::AddTlsListen(const Endpoint& ep) {
  absl::StatusOr<int> t = StreamListener(ep);
  if (!t.ok()) return t.status();
  return Register(std::make_unique<Socket>(next_id_++, Socket::Kind::kTlsListener, *t, ep), EPOLLIN);
}

int SipTransport::Bind(int fd, const Endpoint& ep) const {
  if (std::find(not_yet_local_.begin(), not_yet_local_.end(), ep.ip) != not_yet_local_.end()) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
  }
  sockaddr_storage ss;
  const socklen_t len = ToSockaddr(ep, &ss);
  return ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<int> SipTransport::StreamListener(const Endpoint& ep) {
  const int family = ep.ip.is_v4() ? AF_INET : AF_INET6;
  const int one = 1;
  int t = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (t < 0) return ErrnoError("TCP socket for", ep);
  ::setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) ::setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (Bind(t, ep) != 0 || ::listen(t, SOMAXCONN) != 0) {
    absl::Status s = ErrnoError("TCP bind/listen", ep);
    ::close(t);
    return s;
  }
  return t;
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
      case Socket::Kind::kTlsListener:
        OnAccept(s);
        break;
      case Socket::Kind::kTcpConnection:
        if (s.connecting) {
          if (!FinishConnect(s) || s.connecting) break;
        }
        if (s.handshaking) {
          if (!ContinueHandshake(s)) break;
          if (s.handshaking) break;
        }
        if (ev & EPOLLOUT) OnTcpWritable(s);
        if (!s.closing && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) OnTcpReadable(s);
        break;
    }
  }
  batching_ = false;
  if (handshaking_ > 0 || connecting_ > 0) ExpireHandshakes();
  if (tcp_connections_ > 0) {
    const int64_t now = MonotonicMs();
    // Once a second is fine for a time-out of minutes.
    if (now - last_idle_scan_ms_ >= 1000) {
      last_idle_scan_ms_ = now;
      ExpireIdle(now);
    }
  }
  FlushUdpBatch();
  for (SipChannelId id : to_close_) {
    auto it = sockets_.find(id);
    if (it == sockets_.end()) continue;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
    if (it->second->kind == Socket::Kind::kTcpConnection) {
      --tcp_connections_;
      ++counters_.tcp_closed;
      if (it->second->handshaking) --handshaking_;
      if (it->second->connecting) --connecting_;
      if (auto src = connections_by_source_.find(it->second->peer.ip);
          src != connections_by_source_.end() && --src->second == 0) {
        connections_by_source_.erase(src);
      }
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
  alignas(cmsghdr) static char
      controls[kUdpBatch][CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t))];
  for (int reads = 0; reads < kUdpReadsPerRound;) {
    for (int i = 0; i < kUdpBatch; ++i) {
      iovs[i] = iovec{bufs[i], sizeof(bufs[i])};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_name = &froms[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(froms[i]);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = controls[i];
      msgs[i].msg_hdr.msg_controllen = sizeof(controls[i]);
    }
    const int n = ::recvmmsg(s.fd, msgs, kUdpBatch, MSG_DONTWAIT, nullptr);
    udp_drained_ = n < kUdpBatch;
    if (n <= 0) return;  // EAGAIN, or an ICMP error reported on the socket
    const int64_t now_ns = RealtimeNs();
    for (int i = 0; i < n; ++i) {
      ++counters_.udp_datagrams;
      SipInbound in;
      in.bytes = absl::string_view(bufs[i], msgs[i].msg_len);
      in.queued_ms = QueuedMs(msgs[i].msg_hdr, now_ns);
      // The kernel's count wraps at 2^32 and is only sent once non-zero.
      if (const int64_t drops = SocketDrops(msgs[i].msg_hdr); drops >= 0) {
        in.dropped_before = static_cast<uint32_t>(drops - s.kernel_drops);
        counters_.udp_queue_overflows += in.dropped_before;
        s.kernel_drops = static_cast<uint32_t>(drops);
      }
      in.source = FromSockaddr(froms[i]);
      in.local = s.local;
      in.transport = SipTransportKind::kUdp;
      in.channel = s.id;
      messages_.Count(SipMessageCounts::Direction::kReceived, in.bytes);
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
    const Endpoint peer = FromSockaddr(from);
    auto counted = connections_by_source_.find(peer.ip);
    if (counted != connections_by_source_.end() && counted->second >= kMaxConnectionsPerSource) {
      ++counters_.tcp_rejected_per_source;
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto conn = std::make_unique<Socket>(next_id_++, Socket::Kind::kTcpConnection, fd, s.local);
    conn->peer = peer;
    conn->accepted_ms = MonotonicMs();
    conn->last_activity_ms = conn->accepted_ms;
    if (s.kind == Socket::Kind::kTlsListener) {
      conn->ssl = tls_->NewServer(fd);
      if (conn->ssl == nullptr) {
        ++counters_.tls_handshake_failures;
        continue;  // conn closes the socket
      }
      conn->handshaking = true;
    }
    const SipChannelId conn_id = conn->id;
    const bool tls = conn->ssl != nullptr;
    if (Register(std::move(conn), EPOLLIN | EPOLLRDHUP).ok()) {
      tcp_by_peer_[peer] = conn_id;
      ++tcp_connections_;
      ++connections_by_source_[peer.ip];
      if (tls) {
        ++counters_.tls_accepted;
        ++handshaking_;
      } else {
        ++counters_.tcp_accepted;
      }
    }
  }
}

void SipTransport::OnTcpReadable(Socket& s) {
  for (;;) {
    const size_t before = s.in.size();
    if (!ReadStream(s)) {
      Close(s.id);  // EOF, reset, or a TLS error
      return;
    }
    if (s.in.size() == before) return;  // nothing more for now
    s.last_activity_ms = MonotonicMs();
    if (!DrainTcpInput(s)) {
      Close(s.id);
      return;
    }
    if (s.closing) return;
  }
}

bool SipTransport::ReadStream(Socket& s) {
  char buf[kTcpReadChunk];
  for (;;) {
    if (s.ssl != nullptr) {
      ERR_clear_error();
      const int n = SSL_read(s.ssl, buf, sizeof(buf));
      if (n > 0) {
        s.in.append(buf, static_cast<size_t>(n));
        return true;
      }
      const int e = SSL_get_error(s.ssl, n);
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
    ssize_t n = ::read(s.fd, buf, sizeof(buf));
    if (n > 0) {
      s.in.append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

absl::StatusOr<SipChannelId> SipTransport::Connect(const Endpoint& dest,
                                                   SipTransportKind transport,
                                                   const std::string& host) {
  if (transport == SipTransportKind::kUdp) {
    return absl::InvalidArgumentError("SIP transport: Connect is for TCP and TLS");
  }
  if (auto it = tcp_by_peer_.find(dest); it != tcp_by_peer_.end()) {
    auto s = sockets_.find(it->second);
    // TLS: only a connection we opened and checked for this very name
    // (RFC 5923 wants the alias authenticated); TCP: any live one.
    if (s != sockets_.end() && !s->second->closing && s->second->transport() == transport &&
        (transport == SipTransportKind::kTcp || s->second->tls_host == host)) {
      return it->second;
    }
  }
  if (transport == SipTransportKind::kTls && tls_ == nullptr) {
    return absl::FailedPreconditionError("SIP transport: no TLS configured (\"tls\")");
  }
  if (tcp_connections_ >= kMaxTcpConnections) {
    ++counters_.tcp_rejected_full;
    return absl::ResourceExhaustedError("SIP transport: too many connections");
  }
  const int fd =
      ::socket(dest.ip.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("TCP socket to", dest);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_storage ss;
  const socklen_t len = ToSockaddr(dest, &ss);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    absl::Status s = ErrnoError("TCP connect to", dest);
    ::close(fd);
    ++counters_.connect_failures;
    return s;
  }
  auto conn = std::make_unique<Socket>(next_id_++, Socket::Kind::kTcpConnection, fd, Endpoint{});
  conn->peer = dest;
  conn->connecting = true;
  conn->want_write = true;
  conn->accepted_ms = MonotonicMs();
  conn->last_activity_ms = conn->accepted_ms;
  if (transport == SipTransportKind::kTls) {
    conn->tls_host = host;
    conn->ssl = tls_->NewClient(fd, host);
    if (conn->ssl == nullptr) return absl::ResourceExhaustedError("SIP transport: no TLS session");
    conn->handshaking = true;
  }
  const SipChannelId id = conn->id;
  const bool tls = conn->ssl != nullptr;
  if (absl::Status s = Register(std::move(conn), EPOLLIN | EPOLLOUT | EPOLLRDHUP); !s.ok()) return s;
  tcp_by_peer_[dest] = id;
  ++tcp_connections_;
  ++connections_by_source_[dest.ip];
  ++counters_.connects;
  ++connecting_;
  if (tls) ++handshaking_;
  return id;
}

bool SipTransport::FinishConnect(Socket& s) {
  int error = 0;
  socklen_t len = sizeof(error);
  if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error == EINPROGRESS || error == EALREADY) return true;
  if (error != 0) {
    ++counters_.connect_failures;
    Close(s.id);
    return false;
  }
  s.connecting = false;
  --connecting_;
  // Where messages on it "arrived" (the registrar and logs read it).
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
    s.local = FromSockaddr(local);
  }
  if (s.ssl == nullptr) return FlushTcp(s).ok() && !s.closing;
  return true;  // the TLS handshake goes next
}

bool SipTransport::ContinueHandshake(Socket& s) {
  ERR_clear_error();
  const int r = SSL_do_handshake(s.ssl);
  if (r == 1) {
    s.handshaking = false;
    --handshaking_;
    ++counters_.tls_handshakes;
    s.tls_names = SipTls::VerifiedPeerNames(s.ssl);
    // What waited for the handshake (a connection we opened) goes now.
    return FlushTcp(s).ok() && !s.closing;
  }
  const int e = SSL_get_error(s.ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    WantWrite(s, e == SSL_ERROR_WANT_WRITE);
    return true;
  }
  // Not TLS, a certificate we do not trust, a protocol we refuse, or the
  // client went away mid-handshake.
  ++counters_.tls_handshake_failures;
  ERR_clear_error();
  Close(s.id);
  return false;
}

void SipTransport::ExpireIdle(int64_t now_ms) {
  for (auto& [id, s] : sockets_) {
    if (s->kind == Socket::Kind::kTcpConnection && !s->closing &&
        now_ms - s->last_activity_ms >= idle_timeout_ms_) {
      ++counters_.idle_closed;
      Close(id);
    }
  }
}

void SipTransport::ExpireHandshakes() {
  const int64_t now = MonotonicMs();
  for (auto& [id, s] : sockets_) {
    if (s->closing || now - s->accepted_ms < tls_handshake_timeout_ms_) continue;
    if (s->connecting) {
      ++counters_.connect_failures;  // no answer to our SYN in time
      Close(id);
    } else if (s->handshaking) {
      ++counters_.tls_handshake_timeouts;
      Close(id);
    }
  }
}

bool SipTransport::DrainTcpInput(Socket& s) {
  size_t consumed = 0;
  for (;;) {
    // Keepalive CRLFs (RFC 5626 3.5.1) between messages are skipped; each
    // CRLFCRLF ping gets its CRLF pong.
    bool pong = false;
    while (consumed < s.in.size() && (s.in[consumed] == '\r' || s.in[consumed] == '\n')) {
      ++consumed;
      if (++s.crlf_run == 4) {
        s.crlf_run = 0;
        // A peer that pings and never reads gets no more than Send's
        // limit of our output.
        if (s.out.size() + 2 > kMaxTcpOutputBytes) {
          ++counters_.tcp_output_overflow;
          return false;
        }
        ++counters_.keepalive_pongs;
        s.out.append("\r\n");
        pong = true;
      }
    }
    if (pong) {
      (void)FlushTcp(s);
      if (s.closing) return true;
    }
    if (consumed < s.in.size()) s.crlf_run = 0;
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
    in.transport = s.transport();
    in.channel = s.id;
    if (!s.tls_names.empty()) in.tls_names = &s.tls_names;
    messages_.Count(SipMessageCounts::Direction::kReceived, in.bytes);
    handler_(in);  // may Send() on this connection; never erases it
    consumed += f.length;
    if (s.closing) return true;
  }
  s.in.erase(0, consumed);
  return true;
}

absl::Status SipTransport::Send(absl::string_view bytes, const Endpoint& dest,
                                SipTransportKind transport, SipChannelId channel) {
  // Counted as handed to the transport; send_errors counts the failures.
  messages_.Count(SipMessageCounts::Direction::kSent, bytes);
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
  if (s.kind != Socket::Kind::kTcpConnection || s.transport() != transport) {
    ++counters_.send_errors;
    return absl::InvalidArgumentError(absl::StrCat("SIP transport: channel ", channel,
                                                   " is not a ", SipTransportName(transport),
                                                   " connection"));
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
  while (!s.out.empty() && !s.handshaking && !s.connecting) {
    if (s.ssl != nullptr) {
      ERR_clear_error();
      const int n = SSL_write(s.ssl, s.out.data(), static_cast<int>(s.out.size()));
      if (n > 0) {
        s.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      const int e = SSL_get_error(s.ssl, n);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
      ++counters_.send_errors;
      Close(s.id);
      return absl::UnavailableError(
          absl::StrCat("SIP transport: TLS write to ", s.peer.ToString(), " failed"));
    }
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
  WantWrite(s, !s.out.empty());
  return absl::OkStatus();
}

void SipTransport::WantWrite(Socket& s, bool want) {
  if (want == s.want_write) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = s.id;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, s.fd, &ev);
  s.want_write = want;
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

std::optional<Endpoint> SipTransport::LocalOf(SipChannelId channel) const {
  auto it = sockets_.find(channel);
  if (it == sockets_.end()) return std::nullopt;
  return it->second->local;
}

std::optional<SipChannelId> SipTransport::TcpConnectionTo(const Endpoint& peer) const {
  auto it = tcp_by_peer_.find(peer);
  if (it == tcp_by_peer_.end()) return std::nullopt;
  return it->second;
}

}  // namespace rtplatch
