// Certificates for the TLS tests, made with OpenSSL at test time (nothing
// checked in, nothing downloaded): a CA, a server certificate it signs
// for `host`, and a client certificate signed by it or by a second,
// untrusted CA. PEM files in a temporary directory removed at the end.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace rtplatch::testing {

class TestCertificates {
 public:
  // The server's certificate names `host` (a DNS name, and an IP SAN when
  // it is an address).
  explicit TestCertificates(const std::string& host = "edge.example.test") {
    char tmpl[] = "/tmp/rtplatch_tls_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    EVP_PKEY* ca_key = EVP_EC_gen("P-256");
    X509* ca = Make("rtplatch test CA", ca_key, nullptr, ca_key, true, "");
    EVP_PKEY* other_key = EVP_EC_gen("P-256");
    X509* other = Make("untrusted CA", other_key, nullptr, other_key, true, "");
    EVP_PKEY* server_key = EVP_EC_gen("P-256");
    X509* server = Make(host, server_key, ca, ca_key, false, host);
    EVP_PKEY* client_key = EVP_EC_gen("P-256");
    X509* client = Make("phone", client_key, ca, ca_key, false, "");
    X509* stranger = Make("stranger", client_key, other, other_key, false, "");
    Write(ca_file(), ca, nullptr);
    Write(server_cert(), server, nullptr);
    Write(server_key_file(), nullptr, server_key);
    Write(client_cert(), client, nullptr);
    Write(stranger_cert(), stranger, nullptr);
    Write(client_key_file(), nullptr, client_key);
    for (X509* x : {ca, other, server, client, stranger}) X509_free(x);
    for (EVP_PKEY* k : {ca_key, other_key, server_key, client_key}) EVP_PKEY_free(k);
  }
  ~TestCertificates() { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string ca_file() const { return dir_ + "/ca.pem"; }
  std::string server_cert() const { return dir_ + "/server.pem"; }
  std::string server_key_file() const { return dir_ + "/server.key"; }
  std::string client_cert() const { return dir_ + "/client.pem"; }
  std::string stranger_cert() const { return dir_ + "/stranger.pem"; }  // untrusted CA
  std::string client_key_file() const { return dir_ + "/client.key"; }
  const std::string& dir() const { return dir_; }

 private:
  static X509* Make(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                    bool ca, const std::string& san_host) {
    static long serial = 1;  // NOLINT(runtime/int): OpenSSL's type
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
      X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
    if (!san_host.empty()) {
      const bool address = san_host.find_first_not_of("0123456789.") == std::string::npos ||
                           san_host.find(':') != std::string::npos;
      add(NID_subject_alt_name, (address ? "IP:" : "DNS:") + san_host);
    }
    X509_sign(x, issuer_key, EVP_sha256());
    return x;
  }
  static void Write(const std::string& path, X509* cert, EVP_PKEY* key) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (cert != nullptr) PEM_write_X509(f, cert);
    if (key != nullptr) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
  }

  std::string dir_;
};

}  // namespace rtplatch::testing
