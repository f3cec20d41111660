// One non-blocking TLS client connection of the bench's load generator:
// TCP connect from a chosen local address, the handshake (the server's
// certificate checked against the bench's CA and name), then SIP bytes
// both ways. Driven by an edge-triggered epoll owned by the caller: every
// readiness event goes to OnReady, which advances whatever is pending.
#pragma once

#include <netinet/in.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/sip_stream_framer.h"

namespace rtplatch::bench {

// An SSL_CTX for clients: TLS 1.2 or later, peers verified against
// `ca_file` (the same floor both servers of the bench enforce).
absl::StatusOr<SSL_CTX*> MakeClientContext(const std::string& ca_file);

class TlsClientConnection {
 public:
  // Starts connecting `local` (port 0: any) to `server`; the server's
  // certificate must name `server_name` (also sent as SNI).
  static absl::StatusOr<std::unique_ptr<TlsClientConnection>> Open(SSL_CTX* context,
                                                                  const sockaddr_in& local,
                                                                  const sockaddr_in& server,
                                                                  const std::string& server_name);
  ~TlsClientConnection();
  TlsClientConnection(const TlsClientConnection&) = delete;
  TlsClientConnection& operator=(const TlsClientConnection&) = delete;

  int fd() const { return fd_; }
  bool established() const { return established_; }
  // Our end's address as the server sees it (for Via and Contact).
  const sockaddr_in& local() const { return local_; }

  // Advances the handshake, flushes queued bytes and reads what arrived
  // into framer(). An error means the connection is dead.
  absl::Status OnReady();
  // Queues `bytes` and writes as much as the socket takes now.
  absl::Status Send(absl::string_view bytes);
  SipStreamFramer& framer() { return framer_; }

 private:
  TlsClientConnection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  absl::Status Handshake();
  absl::Status Flush();
  absl::Status Read();

  const int fd_;
  SSL* const ssl_;
  sockaddr_in local_{};
  bool established_ = false;
  std::string outbound_;  // queued; written from the front
  SipStreamFramer framer_;
};

}  // namespace rtplatch::bench
