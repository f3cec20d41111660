// SIP transport for rtplatch-control: UDP sockets, TCP and TLS listeners
// plus their accepted connections, all on one epoll set, driven by one
// thread. A TLS connection (sip_tls.h) is a TCP one with OpenSSL between
// the socket and the framing: non-blocking handshake first (closed, and
// counted, when it fails or takes longer than the handshake time-out),
// then the same Content-Length framing and limits.
//
// Each listen address gets a UDP socket and a TCP listener. Every complete
// message is handed to the handler with where it came from and the channel
// it arrived on (the UDP socket's id or the TCP connection's id); Send()
// takes that channel back, so a response leaves from the UDP socket the
// request came in on and over the TCP connection that carried it (RFC 3261
// 18.2.2, RFC 3581).
//
// TCP is framed by Content-Length (RFC 3261 18.3). CRLFs between messages
// are skipped; a double CRLF there is an RFC 5626 keepalive ping, answered
// with a single CRLF (pong). A connection that carries nothing, not even
// a ping, for the idle time-out is closed (counted). A connection is closed, and counted,
// when a message would exceed kMaxSipMessageBytes, when its framing cannot
// be recovered (bad Content-Length), or when its unsent output exceeds
// kMaxTcpOutputBytes. A bad peer never takes the process down: every error
// is a counted close or an absl::Status.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/sip/sip_message_counts.h"
#include "control/sip/sip_tls.h"
#include "control/sip/udp_send_batch.h"

namespace rtplatch {

enum class SipTransportKind : uint8_t { kUdp, kTcp, kTls };
absl::string_view SipTransportName(SipTransportKind t);  // "UDP", "TCP", "TLS"
// TCP and TLS: a connection carries the request and its responses.
inline bool IsStream(SipTransportKind t) { return t != SipTransportKind::kUdp; }

// A UDP socket id or a TCP connection id; ids are never reused.
using SipChannelId = uint64_t;

struct SipInbound {
  absl::string_view bytes;  // valid during the handler call only
  Endpoint source;
  Endpoint local;           // the address the socket is bound to
  SipTransportKind transport = SipTransportKind::kUdp;
  SipChannelId channel = 0;
  // UDP: how long the datagram waited in the kernel's socket queue before
  // we read it (the control plane's load); -1 when unknown (TCP, TLS).
  int64_t queued_ms = -1;
  // UDP: datagrams the kernel dropped on this socket (its queue full)
  // since the one read before this.
  uint32_t dropped_before = 0;
  // TLS: the names (subjectAltName DNS entries, else the CN) of the
  // certificate the client presented and we verified; null otherwise.
  const std::vector<std::string>* tls_names = nullptr;
};

struct SipTransportCounters {
  uint64_t udp_datagrams = 0;
  uint64_t udp_queue_overflows = 0;  // dropped by the kernel: the socket's queue was full
  uint64_t tcp_messages = 0;
  uint64_t tcp_accepted = 0;
  uint64_t tcp_closed = 0;            // by the peer or by us, any reason
  uint64_t tcp_oversize = 0;          // closed: message > kMaxSipMessageBytes
  uint64_t tcp_bad_framing = 0;       // closed: Content-Length unusable
  uint64_t tcp_output_overflow = 0;   // closed: peer does not read
  uint64_t tcp_rejected_full = 0;     // accept refused: kMaxTcpConnections
  uint64_t tcp_rejected_per_source = 0;  // accept refused: kMaxConnectionsPerSource
  uint64_t tls_accepted = 0;
  uint64_t tls_handshakes = 0;        // completed
  uint64_t tls_handshake_failures = 0;  // closed: not TLS, bad certificate, ...
  uint64_t tls_handshake_timeouts = 0;  // closed: no handshake in time
  uint64_t keepalive_pongs = 0;       // CRLF answers to CRLFCRLF pings
  uint64_t connects = 0;              // connections we opened (TCP or TLS)
  uint64_t connect_failures = 0;      // closed: the connect failed
  uint64_t idle_closed = 0;           // closed: nothing for the idle time-out
  uint64_t send_errors = 0;

  // Every counter above with the name `rtplatchctl sip-stats` shows it
  // under (its "transport" object), in declaration order: one list, so a
  // counter cannot be kept but never shown.
  std::vector<std::pair<absl::string_view, uint64_t>> Named() const;
};

class SipTransport {
 public:
  using Handler = std::function<void(const SipInbound&)>;

  // A slow reader may leave this much unsent before we give up on it.
  static constexpr size_t kMaxTcpOutputBytes = 1 << 20;
  // Bounds file descriptors a flood of connects can take, in total and
  // from one address (a NAT may hide many phones: generous, but bounded).
  static constexpr size_t kMaxTcpConnections = 4096;
  static constexpr size_t kMaxConnectionsPerSource = 64;
  // A TLS client that has not finished its handshake by then is closed.
  static constexpr int64_t kDefaultTlsHandshakeTimeoutMs = 10'000;
  // Longer than a NAT'd binding's longest expiry (600 s by default): a
  // phone that re-registers keeps its connection without keepalives.
  static constexpr int64_t kDefaultIdleTimeoutMs = 900'000;

  // Binds UDP and TCP on every address (IPv6 sockets are V6ONLY, so
  // 0.0.0.0:5060 and [::]:5060 can both be listed). Errors name the
  // address and the failing call. No address at all is the ng-only
  // control plane: the loop's wait, for the sockets WakeOnReadable adds.
  // `tls_listen`: TLS listeners (no UDP), with `tls` (borrowed; required
  // when tls_listen is not empty).
  static absl::StatusOr<std::unique_ptr<SipTransport>> Create(
      const std::vector<Endpoint>& listen, Handler handler,
      const std::vector<Endpoint>& tls_listen = {}, const SipTls* tls = nullptr,
      const std::vector<IpAddress>& not_yet_local = {});
  ~SipTransport();
  SipTransport(const SipTransport&) = delete;
  SipTransport& operator=(const SipTransport&) = delete;

  // One epoll_wait of at most timeout_ms, then everything ready is handled.
  // A signal interrupting the wait is not an error (the caller checks its
  // stop flag).
  absl::Status RunOnce(int timeout_ms);

  // UDP: sends from socket `channel` to `dest`; a response sent while
  // RunOnce handles its events waits in a batch sent when the round ends
  // (udp_send_batch.h), so the kernel's refusal of it is counted in
  // send_errors, not returned (requests go at once). TCP: queues on connection
  // `channel` (dest is only checked against the peer); NotFound if that
  // connection is gone. Opening new TCP connections is a later slice.
  absl::Status Send(absl::string_view bytes, const Endpoint& dest,
                    SipTransportKind transport, SipChannelId channel);

  // A TCP or TLS connection to `dest`: the live one if there is one (RFC
  // 5923: either side's connection carries requests both ways), else a new
  // one, opened without blocking; what is sent on it waits until it (and
  // its TLS handshake, checking `host` with SNI) is up. A connection that
  // fails closes (counted), and what waited on it is lost: the client
  // transaction above times out.
  absl::StatusOr<SipChannelId> Connect(const Endpoint& dest, SipTransportKind transport,
                                       const std::string& host);

  // False when the last read of a UDP socket stopped at the per-round cap
  // with datagrams left in its queue.
  bool udp_drained() const { return udp_drained_; }

  // The UDP socket bound to `local`, else the first UDP socket of its
  // family (a wildcard bind); nullopt when there is none.
  std::optional<SipChannelId> UdpSocketFor(const Endpoint& local) const;
  // The live TCP connection with `peer` (the phone's connection, reused for
  // requests to it, RFC 5626 §5); nullopt when it is gone.
  std::optional<SipChannelId> TcpConnectionTo(const Endpoint& peer) const;
  // The local address of socket or connection `channel`; nullopt when it
  // is gone.
  std::optional<Endpoint> LocalOf(SipChannelId channel) const;

  // Makes RunOnce's wait end when `fd` (not ours: never read or closed
  // here) is readable, so another socket of the loop (the ng server's)
  // is served at once instead of after the wait's timeout.
  absl::Status WakeOnReadable(int fd);
  // Undoes WakeOnReadable (the socket is about to close).
  void StopWaking(int fd);

  const SipTransportCounters& counters() const { return counters_; }
  // Requests by method and responses by code, received and sent.
  const SipMessageCounts& messages() const { return messages_; }
  size_t tcp_connection_count() const;
  void set_tls_handshake_timeout_ms(int64_t ms) { tls_handshake_timeout_ms_ = ms; }
  void set_idle_timeout_ms(int64_t ms) { idle_timeout_ms_ = ms; }

 private:
  struct Socket;
  SipTransport(int epoll_fd, Handler handler);
  absl::Status AddListen(const Endpoint& ep);
  // Binds a socket to `ep`; one of not_yet_local_ (a VIP another node may
  // hold now) with IP_FREEBIND, so the socket is ready when it comes.
  int Bind(int fd, const Endpoint& ep) const;
  absl::Status AddTlsListen(const Endpoint& ep);
  absl::StatusOr<int> StreamListener(const Endpoint& ep);
  std::vector<IpAddress> not_yet_local_;
  // TLS: the handshake's next step; false when the connection closed.
  bool ContinueHandshake(Socket& s);
  // A connection we opened finished connecting (or failed): false when it
  // closed.
  bool FinishConnect(Socket& s);
  // Reads what the connection has into s.in: false at EOF or an error.
  bool ReadStream(Socket& s);
  void ExpireHandshakes();
  void ExpireIdle(int64_t now_ms);
  void OnUdpReadable(Socket& s);
  void OnAccept(Socket& s);
  void OnTcpReadable(Socket& s);
  void OnTcpWritable(Socket& s);
  // Delivers every complete message in s.in; false: framing lost, close.
  bool DrainTcpInput(Socket& s);
  absl::Status FlushTcp(Socket& s);
  // Writable events wanted on connection `s` or not (epoll interest).
  void WantWrite(Socket& s, bool want);
  void FlushUdpBatch();
  void Close(SipChannelId id);
  absl::Status Register(std::unique_ptr<Socket> s, uint32_t events);

  const int epoll_fd_;
  Handler handler_;
  SipChannelId next_id_ = 1;
  absl::flat_hash_map<SipChannelId, std::unique_ptr<Socket>> sockets_;
  absl::flat_hash_map<Endpoint, SipChannelId> tcp_by_peer_;
  std::vector<SipChannelId> to_close_;
  size_t tcp_connections_ = 0;
  absl::flat_hash_map<IpAddress, size_t> connections_by_source_;
  const SipTls* tls_ = nullptr;
  size_t handshaking_ = 0;
  size_t connecting_ = 0;  // connections we opened, not up yet
  int64_t tls_handshake_timeout_ms_ = kDefaultTlsHandshakeTimeoutMs;
  int64_t idle_timeout_ms_ = kDefaultIdleTimeoutMs;
  int64_t last_idle_scan_ms_ = 0;
  SipTransportCounters counters_;
  SipMessageCounts messages_;
  bool udp_drained_ = true;
  bool batching_ = false;  // inside RunOnce's event handling
  UdpSendBatch udp_batch_;
};

}  // namespace rtplatch
