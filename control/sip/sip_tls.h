// SIP over TLS (RFC 3261 §26, RFC 5630's sips: guidance): the OpenSSL
// contexts the transport wraps its connections in. TLS 1.2 or later only;
// our certificate and key from files; peers' certificates verified
// against a CA file (clients' only when presented, unless every client
// must present one); as a client, SNI and host name verification.
//
// Every configuration error names the file and OpenSSL's reason, at
// start: a bad path never surfaces as a failed handshake later.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace rtplatch {

struct SipTlsConfig {
  std::string certificate;  // PEM, our chain (leaf first)
  std::string private_key;  // PEM
  // PEM bundle that peers' certificates must chain to; empty: the
  // system's default store (for phones that present none, nothing to do).
  std::string ca_file;
  // Refuse clients that present no certificate (peers, not phones).
  bool require_client_certificate = false;
  std::string min_version = "1.2";  // "1.2" or "1.3"
};

class SipTls {
 public:
  static absl::StatusOr<std::unique_ptr<SipTls>> Create(const SipTlsConfig& config);
  ~SipTls();
  SipTls(const SipTls&) = delete;
  SipTls& operator=(const SipTls&) = delete;

  // A server-side SSL on accepted socket `fd` (not owned); nullptr if
  // OpenSSL cannot make one (out of memory).
  SSL* NewServer(int fd) const;
  // A client-side SSL on connected socket `fd` for `host` (SNI, and the
  // name its certificate must carry).
  SSL* NewClient(int fd, const std::string& host) const;

  // The names of the certificate the other side presented, if it passed
  // verification: its subjectAltName DNS names, else its subject CN.
  static std::vector<std::string> VerifiedPeerNames(SSL* ssl);

  // The last OpenSSL error on this thread, as text ("" if none); clears
  // the queue.
  static std::string LastError();

 private:
  SipTls() = default;
  SSL_CTX* server_ = nullptr;
  SSL_CTX* client_ = nullptr;
};

}  // namespace rtplatch
