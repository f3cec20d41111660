// SIP over TLS (control/sip/sip_tls.h) in a real SipTransport on
// loopback, driven by RunOnce() in the test thread against an OpenSSL
// client in the same thread: a phone's REGISTER arrives as TLS and the
// answer goes back over its connection; client certificates from our CA
// pass and others are refused when required; garbage, old protocol
// versions and silent clients are counted and closed; bad files are named
// at start.
#include "control/sip/sip_tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/socket_address.h"
#include "control/sip/sip_transport.h"
#include "tests/control/sip/sip_text.h"
#include "tests/control/sip/test_certificates.h"

namespace rtplatch {
namespace {

using ::testing::HasSubstr;
using testing::SipText;
using testing::TestCertificates;

const char kRegister[] =
    "REGISTER sip:example.test SIP/2.0\n"
    "Via: SIP/2.0/TLS 192.0.2.2:5061;branch=z9hG4bKtls1;rport\n"
    "From: <sip:erin@example.test>;tag=t1\n"
    "To: <sip:erin@example.test>\n"
    "Call-ID: tls-1\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sip:erin@192.0.2.2:5061;transport=tls>\n";

// A TLS client on a non-blocking socket, pumped together with the
// transport.
class TlsClient {
 public:
  TlsClient(const Endpoint& server, const TestCertificates& certs, const std::string& cert = "",
            int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, certs.ca_file().c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (max_version != 0) {
      SSL_CTX_set_min_proto_version(ctx_, max_version);
      SSL_CTX_set_max_proto_version(ctx_, max_version);
      SSL_CTX_set_security_level(ctx_, 0);
    }
    if (!cert.empty()) {
      SSL_CTX_use_certificate_file(ctx_, cert.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx_, certs.client_key_file().c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss;
    socklen_t len = ToSockaddr(server, &ss);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len), 0);
    int flags = SOCK_NONBLOCK;
    (void)flags;
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "edge.example.test");
    SSL_set1_host(ssl_, "edge.example.test");
    SSL_set_connect_state(ssl_);
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }

  // 1: done, 0: not yet, -1: failed.
  int Handshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) return 1;
    const int e = SSL_get_error(ssl_, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
  }
  bool Write(const std::string& bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  // What arrived (decrypted); "" if nothing yet. Sets closed_ at EOF.
  std::string Read() {
    char buf[4096];
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) return std::string(buf, static_cast<size_t>(n));
    const int e = SSL_get_error(ssl_, n);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) closed_ = true;
    return "";
  }
  bool closed() const { return closed_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool closed_ = false;
};

class SipTlsTest : public ::testing::Test {
 protected:
  void Start(bool require_client_certificate = false) {
    SipTlsConfig config;
    config.certificate = certs_.server_cert();
    config.private_key = certs_.server_key_file();
    config.ca_file = certs_.ca_file();
    config.require_client_certificate = require_client_certificate;
    auto tls = SipTls::Create(config);
    ASSERT_TRUE(tls.ok()) << tls.status();
    tls_ = *std::move(tls);
    // Port 0 is not a listen address we can learn back: pick one.
    for (uint16_t port = 25061; port < 25161; ++port) {
      auto t = SipTransport::Create(
          {}, [this](const SipInbound& in) { OnMessage(in); },
          {Endpoint{*IpAddress::Parse("127.0.0.1"), port}}, tls_.get());
      if (t.ok()) {
        transport_ = *std::move(t);
        server_ = Endpoint{*IpAddress::Parse("127.0.0.1"), port};
        return;
      }
    }
    FAIL() << "no free port for TLS";
  }

  void OnMessage(const SipInbound& in) {
    received_.push_back(std::string(in.bytes));
    transports_.push_back(in.transport);
    names_.push_back(in.tls_names != nullptr ? *in.tls_names : std::vector<std::string>{});
    if (answer_) {
      (void)transport_->Send(SipText("SIP/2.0 200 OK\nContent-Length: 0\n"), in.source,
                             in.transport, in.channel);
    }
  }

  // Runs both sides until `done` or 3 s.
  bool Pump(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline) {
      (void)transport_->RunOnce(5);
      if (done()) return true;
    }
    return false;
  }

  TestCertificates certs_;
  std::unique_ptr<SipTls> tls_;
  std::unique_ptr<SipTransport> transport_;
  Endpoint server_;
  std::vector<std::string> received_;
  std::vector<SipTransportKind> transports_;
  std::vector<std::vector<std::string>> names_;  // the client certificate's, per message
  bool answer_ = true;
};

TEST_F(SipTlsTest, APhonesRegisterArrivesOverTlsAndTheAnswerGoesBack) {
  ASSERT_NO_FATAL_FAILURE(Start());
  TlsClient phone(server_, certs_);
  int state = 0;
  ASSERT_TRUE(Pump([&] { return (state = phone.Handshake()) != 0; }));
  ASSERT_EQ(state, 1) << "the phone verified our certificate against the CA";
  ASSERT_TRUE(phone.Write(SipText(kRegister)));
  ASSERT_TRUE(Pump([&] { return !received_.empty(); }));
  EXPECT_THAT(received_[0], HasSubstr("REGISTER sip:example.test"));
  EXPECT_EQ(transports_[0], SipTransportKind::kTls);
  EXPECT_TRUE(names_[0].empty()) << "no client certificate, no name";
  std::string reply;
  ASSERT_TRUE(Pump([&] { return !(reply += phone.Read()).empty(); }));
  EXPECT_THAT(reply, HasSubstr("SIP/2.0 200 OK"));
  EXPECT_EQ(transport_->counters().tls_handshakes, 1u);
  EXPECT_EQ(transport_->counters().tls_accepted, 1u);
}

TEST_F(SipTlsTest, ClientCertificatesMustComeFromOurCaWhenRequired) {
  ASSERT_NO_FATAL_FAILURE(Start(/*require_client_certificate=*/true));
  {
    TlsClient peer(server_, certs_, certs_.client_cert());
    int state = 0;
    ASSERT_TRUE(Pump([&] { return (state = peer.Handshake()) != 0; }));
    ASSERT_EQ(state, 1);
    ASSERT_TRUE(peer.Write(SipText(kRegister)));
    EXPECT_TRUE(Pump([&] { return !received_.empty(); })) << "a trusted certificate gets in";
    ASSERT_FALSE(names_.empty());
    EXPECT_EQ(names_[0], std::vector<std::string>{"phone"}) << "its verified name reaches SIP";
  }
  for (const std::string& cert : {certs_.stranger_cert(), std::string()}) {
    const uint64_t failures = transport_->counters().tls_handshake_failures;
    TlsClient stranger(server_, certs_, cert);
    const size_t before = received_.size();
    Pump([&] {
      stranger.Handshake();
      stranger.Write(SipText(kRegister));
      stranger.Read();
      return transport_->counters().tls_handshake_failures > failures;
    });
    EXPECT_EQ(transport_->counters().tls_handshake_failures, failures + 1)
        << (cert.empty() ? "no certificate" : "a certificate from another CA");
    EXPECT_EQ(received_.size(), before) << "nothing from it reached SIP";
  }
}

TEST_F(SipTlsTest, GarbageAndOldVersionsAreCountedAndClosed) {
  ASSERT_NO_FATAL_FAILURE(Start());
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss;
    socklen_t len = ToSockaddr(server_, &ss);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
    const std::string plain = SipText(kRegister);  // SIP where TLS belongs
    ASSERT_GT(::write(fd, plain.data(), plain.size()), 0);
    EXPECT_TRUE(Pump([&] { return transport_->counters().tls_handshake_failures == 1; }));
    ::close(fd);
  }
  TlsClient old(server_, certs_, "", TLS1_1_VERSION);
  Pump([&] { return old.Handshake() != 0 && transport_->counters().tls_handshake_failures == 2; });
  EXPECT_EQ(transport_->counters().tls_handshake_failures, 2u) << "TLS 1.1 is refused";
  EXPECT_TRUE(received_.empty());
  EXPECT_TRUE(Pump([&] { return transport_->tcp_connection_count() == 0; }));
}

TEST_F(SipTlsTest, AClientThatNeverHandshakesIsClosedAfterTheTimeout) {
  ASSERT_NO_FATAL_FAILURE(Start());
  transport_->set_tls_handshake_timeout_ms(200);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(server_, &ss);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
  EXPECT_TRUE(Pump([&] { return transport_->counters().tls_handshake_timeouts == 1; }));
  EXPECT_TRUE(Pump([&] { return transport_->tcp_connection_count() == 0; }));
  char byte;
  EXPECT_EQ(::read(fd, &byte, 1), 0) << "we closed it";
  ::close(fd);
}

// A connection we open (to a peer): over TLS, the request waits for the
// handshake, which checks the server's name; the answer comes back over
// the same connection, which a second Connect reuses (RFC 5923). A server
// whose certificate does not name the host we asked for is refused; a
// port nobody listens on is a counted connect failure.
TEST_F(SipTlsTest, ConnectionsWeOpenCarryRequestsAndAnswers) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::vector<std::string> answers;
  auto client = SipTransport::Create(
      {}, [&](const SipInbound& in) { answers.push_back(std::string(in.bytes)); }, {},
      tls_.get());
  ASSERT_TRUE(client.ok()) << client.status();
  auto pump = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline) {
      (void)transport_->RunOnce(2);
      (void)(*client)->RunOnce(2);
      if (done()) return true;
    }
    return false;
  };
  absl::StatusOr<SipChannelId> conn =
      (*client)->Connect(server_, SipTransportKind::kTls, "edge.example.test");
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*client)->Send(SipText(kRegister), server_, SipTransportKind::kTls, *conn).ok());
  ASSERT_TRUE(pump([&] { return !received_.empty() && !answers.empty(); }));
  EXPECT_EQ(transports_[0], SipTransportKind::kTls);
  EXPECT_THAT(answers[0], HasSubstr("SIP/2.0 200 OK"));
  absl::StatusOr<SipChannelId> again =
      (*client)->Connect(server_, SipTransportKind::kTls, "edge.example.test");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *conn) << "the live connection is reused";
  EXPECT_EQ((*client)->counters().connects, 1u);

  // The wrong name: the handshake fails at our end, nothing is delivered.
  auto other = SipTransport::Create({}, [](const SipInbound&) {}, {}, tls_.get());
  ASSERT_TRUE(other.ok());
  absl::StatusOr<SipChannelId> wrong =
      (*other)->Connect(server_, SipTransportKind::kTls, "someone-else.example");
  ASSERT_TRUE(wrong.ok());
  (void)(*other)->Send(SipText(kRegister), server_, SipTransportKind::kTls, *wrong);
  const size_t before = received_.size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while ((*other)->counters().tls_handshake_failures == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    (void)transport_->RunOnce(2);
    (void)(*other)->RunOnce(2);
  }
  EXPECT_EQ((*other)->counters().tls_handshake_failures, 1u);
  EXPECT_EQ(received_.size(), before);

  // Nobody listens: a counted connect failure.
  const Endpoint closed{*IpAddress::Parse("127.0.0.1"), 9};
  absl::StatusOr<SipChannelId> refused = (*other)->Connect(closed, SipTransportKind::kTcp, "");
  if (refused.ok()) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while ((*other)->counters().connect_failures == 0 && std::chrono::steady_clock::now() < until) {
      (void)(*other)->RunOnce(5);
    }
  }
  EXPECT_EQ((*other)->counters().connect_failures, 1u);
}

TEST_F(SipTlsTest, BadFilesAreNamedAtStart) {
  SipTlsConfig config;
  config.certificate = certs_.dir() + "/missing.pem";
  config.private_key = certs_.server_key_file();
  auto tls = SipTls::Create(config);
  ASSERT_FALSE(tls.ok());
  EXPECT_THAT(tls.status().message(), HasSubstr("config: tls.certificate: '"));
  EXPECT_THAT(tls.status().message(), HasSubstr("missing.pem"));

  config.certificate = certs_.server_cert();
  config.private_key = certs_.client_key_file();  // another key
  tls = SipTls::Create(config);
  ASSERT_FALSE(tls.ok());
  EXPECT_THAT(tls.status().message(), HasSubstr("does not belong to the certificate"));

  config.private_key = certs_.server_key_file();
  config.ca_file = certs_.dir() + "/no-ca.pem";
  tls = SipTls::Create(config);
  ASSERT_FALSE(tls.ok());
  EXPECT_THAT(tls.status().message(), HasSubstr("config: tls.ca_file"));

  auto transport = SipTransport::Create({}, [](const SipInbound&) {},
                                        {*Endpoint::Parse("127.0.0.1:25999")}, nullptr);
  ASSERT_FALSE(transport.ok());
  EXPECT_THAT(transport.status().message(), HasSubstr("tls_listen"));
}

}  // namespace
}  // namespace rtplatch
