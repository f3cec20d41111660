#include "control/sip/sip_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

absl::Status TlsError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config: tls.", what, ": ", SipTls::LastError()));
}

// Both contexts: TLS 1.2+ (1.3 with min_version "1.3"), no renegotiation,
// no compression, OpenSSL's default ciphers (its secure level).
absl::StatusOr<SSL_CTX*> NewContext(const SSL_METHOD* method, const SipTlsConfig& config) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) return TlsError("context");
  const int min = config.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  const bool loaded = config.ca_file.empty()
                          ? SSL_CTX_set_default_verify_paths(ctx) == 1
                          : SSL_CTX_load_verify_locations(ctx, config.ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    SSL_CTX_free(ctx);
    return TlsError(absl::StrCat("ca_file: '", config.ca_file, "'"));
  }
  return ctx;
}

}  // namespace

std::string SipTls::LastError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {  // NOLINT(runtime/int): OpenSSL's type
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "no OpenSSL error" : out;
}

absl::StatusOr<std::unique_ptr<SipTls>> SipTls::Create(const SipTlsConfig& config) {
  if (config.min_version != "1.2" && config.min_version != "1.3") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: tls.min_version: '", config.min_version, "' (must be \"1.2\" or \"1.3\")"));
  }
  if (config.certificate.empty() || config.private_key.empty()) {
    return absl::InvalidArgumentError(
        "config: tls: needs \"certificate\" and \"private_key\" (PEM files)");
  }
  std::unique_ptr<SipTls> tls(new SipTls());
  absl::StatusOr<SSL_CTX*> server = NewContext(TLS_server_method(), config);
  if (!server.ok()) return server.status();
  tls->server_ = *server;
  if (SSL_CTX_use_certificate_chain_file(tls->server_, config.certificate.c_str()) != 1) {
    return TlsError(absl::StrCat("certificate: '", config.certificate, "'"));
  }
  FILE* key_file = std::fopen(config.private_key.c_str(), "r");
  EVP_PKEY* key =
      key_file == nullptr ? nullptr : PEM_read_PrivateKey(key_file, nullptr, nullptr, nullptr);
  if (key_file != nullptr) std::fclose(key_file);
  if (key == nullptr) {
    return TlsError(absl::StrCat("private_key: '", config.private_key, "' (",
                                 key_file == nullptr ? std::strerror(errno) : "not a PEM key",
                                 ")"));
  }
  const bool matches = SSL_CTX_use_PrivateKey(tls->server_, key) == 1 &&
                       SSL_CTX_check_private_key(tls->server_) == 1;
  EVP_PKEY_free(key);
  if (!matches) {
    return TlsError(absl::StrCat("private_key: '", config.private_key,
                                 "' does not belong to the certificate"));
  }
  // A client's certificate, when presented, must chain to the CA; phones
  // usually present none.
  // Resumed sessions need an id context once peers are verified, or
  // OpenSSL refuses a returning client's handshake.
  static constexpr unsigned char kSessionContext[] = "rtplatch-sip";
  SSL_CTX_set_session_id_context(tls->server_, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_verify(tls->server_,
                     SSL_VERIFY_PEER | (config.require_client_certificate
                                            ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                            : 0),
                     nullptr);
  absl::StatusOr<SSL_CTX*> client = NewContext(TLS_client_method(), config);
  if (!client.ok()) return client.status();
  tls->client_ = *client;
  SSL_CTX_set_verify(tls->client_, SSL_VERIFY_PEER, nullptr);
  // Our certificate for peers that ask for one (mutual TLS).
  SSL_CTX_use_certificate_chain_file(tls->client_, config.certificate.c_str());
  SSL_CTX_use_PrivateKey_file(tls->client_, config.private_key.c_str(), SSL_FILETYPE_PEM);
  ERR_clear_error();
  return tls;
}

SipTls::~SipTls() {
  SSL_CTX_free(server_);
  SSL_CTX_free(client_);
}

std::vector<std::string> SipTls::VerifiedPeerNames(SSL* ssl) {
  std::vector<std::string> names;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return names;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    auto* sans = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = n->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                         static_cast<size_t>(ASN1_STRING_length(dns)));
    }
    GENERAL_NAMES_free(sans);
    if (names.empty()) {
      char cn[256];
      if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                    sizeof(cn)) > 0) {
        names.emplace_back(cn);
      }
    }
  }
  X509_free(cert);
  return names;
}

SSL* SipTls::NewServer(int fd) const {
  SSL* ssl = SSL_new(server_);
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_accept_state(ssl);
  return ssl;
}

SSL* SipTls::NewClient(int fd, const std::string& host) const {
  SSL* ssl = SSL_new(client_);
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, host.c_str());
  SSL_set1_host(ssl, host.c_str());
  SSL_set_connect_state(ssl);
  return ssl;
}

}  // namespace rtplatch
