#include "bench/tls_client_connection.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rtplatch::bench {
namespace {

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  if (code == 0) return "no OpenSSL error queued";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

}  // namespace

absl::StatusOr<SSL_CTX*> MakeClientContext(const std::string& ca_file) {
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  if (context == nullptr) return absl::InternalError("SSL_CTX_new: " + OpenSslError());
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(context, ca_file.c_str(), nullptr) != 1) {
    SSL_CTX_free(context);
    return absl::InvalidArgumentError(absl::StrCat("--ca '", ca_file, "': ", OpenSslError()));
  }
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
  // A retried SSL_write may come from a grown outbound_ buffer.
  SSL_CTX_set_mode(context, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  return context;
}

absl::StatusOr<std::unique_ptr<TlsClientConnection>> TlsClientConnection::Open(
    SSL_CTX* context, const sockaddr_in& local, const sockaddr_in& server,
    const std::string& server_name) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  SSL* ssl = SSL_new(context);
  if (ssl == nullptr) {
    close(fd);
    return absl::InternalError("SSL_new: " + OpenSslError());
  }
  std::unique_ptr<TlsClientConnection> connection(new TlsClientConnection(fd, ssl));
  // SIP messages are small and answered at once: no Nagle delay (both
  // servers set TCP_NODELAY on their side too).
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    return absl::InternalError(absl::StrCat("bind: ", std::strerror(errno)));
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0 &&
      errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  socklen_t length = sizeof connection->local_;
  getsockname(fd, reinterpret_cast<sockaddr*>(&connection->local_), &length);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, server_name.c_str());
  SSL_set1_host(ssl, server_name.c_str());
  SSL_set_connect_state(ssl);
  return connection;
}

TlsClientConnection::~TlsClientConnection() {
  SSL_free(ssl_);
  close(fd_);
}

absl::Status TlsClientConnection::OnReady() {
  if (!established_) {
    if (absl::Status s = Handshake(); !s.ok() || !established_) return s;
  }
  if (absl::Status s = Flush(); !s.ok()) return s;
  return Read();
}

absl::Status TlsClientConnection::Send(absl::string_view bytes) {
  outbound_.append(bytes.data(), bytes.size());
  return established_ ? Flush() : absl::OkStatus();
}

absl::Status TlsClientConnection::Handshake() {
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    return absl::OkStatus();
  }
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return absl::OkStatus();
  const long verify = SSL_get_verify_result(ssl_);
  return absl::UnavailableError(
      absl::StrCat("TLS handshake: ", OpenSslError(),
                   verify != X509_V_OK ? absl::StrCat(" (certificate: ",
                                                      X509_verify_cert_error_string(verify), ")")
                                       : ""));
}

absl::Status TlsClientConnection::Flush() {
  size_t written_total = 0;
  while (written_total < outbound_.size()) {
    size_t written = 0;
    const int rc = SSL_write_ex(ssl_, outbound_.data() + written_total,
                                outbound_.size() - written_total, &written);
    if (rc == 1) {
      written_total += written;
      continue;
    }
    const int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) break;
    return absl::UnavailableError("TLS write: " + OpenSslError());
  }
  outbound_.erase(0, written_total);
  return absl::OkStatus();
}

absl::Status TlsClientConnection::Read() {
  char buffer[16384];
  for (;;) {
    size_t got = 0;
    const int rc = SSL_read_ex(ssl_, buffer, sizeof buffer, &got);
    if (rc == 1) {
      framer_.Append(buffer, got);
      continue;
    }
    const int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return absl::OkStatus();
    if (error == SSL_ERROR_ZERO_RETURN) return absl::UnavailableError("closed by the server");
    if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      return absl::UnavailableError(
          absl::StrCat("connection lost: ", errno != 0 ? std::strerror(errno) : "EOF"));
    }
    return absl::UnavailableError("TLS read: " + OpenSslError());
  }
}

}  // namespace rtplatch::bench
