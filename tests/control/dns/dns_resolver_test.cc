// The resolver (control/dns/dns_resolver.h) against a DNS server in the
// test: a UDP socket on 127.0.0.1 answering from a handler, served in the
// same loop that polls the resolver. Answers are cached for their TTL,
// negative ones for their negative TTL; askers of one name share one
// query; silence and malformed answers are failures, counted, not cached.
#include "control/dns/dns_resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "tests/control/dns/dns_message.h"

namespace rtplatch {
namespace {

using ::testing::SizeIs;
using testing::DnsMessage;

constexpr uint8_t kCore1[4] = {203, 0, 113, 40};

// A one-socket DNS server: the handler gets each question (name, type) and
// returns the answer's bytes, or nullopt to stay silent.
class FakeDnsServer {
 public:
  using Handler = std::function<std::optional<std::vector<uint8_t>>(
      uint16_t id, const std::string& name, uint16_t type)>;

  FakeDnsServer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~FakeDnsServer() { ::close(fd_); }

  uint16_t port() const { return port_; }
  int questions() const { return questions_; }
  void set_handler(Handler h) { handler_ = std::move(h); }

  void Serve() {
    uint8_t buf[1500];
    sockaddr_storage from{};
    socklen_t len = sizeof(from);
    for (;;) {
      const ssize_t n = ::recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 17) return;
      ++questions_;
      const uint16_t id = static_cast<uint16_t>(buf[0] << 8 | buf[1]);
      std::string name;
      size_t at = 12;
      while (at < static_cast<size_t>(n) && buf[at] != 0) {
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<const char*>(buf + at + 1), buf[at]);
        at += buf[at] + 1;
      }
      const uint16_t type = static_cast<uint16_t>(buf[at + 1] << 8 | buf[at + 2]);
      std::optional<std::vector<uint8_t>> answer = handler_(id, name, type);
      if (answer) {
        ::sendto(fd_, answer->data(), answer->size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    }
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  int questions_ = 0;
  Handler handler_;
};

class DnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeResolver(); }

  void MakeResolver(uint32_t timeout_ms = 300, size_t max_cache = 100) {
    DnsResolverConfig config;
    config.servers = {*Endpoint::Parse(absl::StrCat("127.0.0.1:", server_.port()))};
    config.timeout_ms = timeout_ms;
    config.tries = 1;
    config.max_cache_entries = max_cache;
    auto r = DnsResolver::Create(config, [this] { return now_ms_; },
                                 [this](int, bool read, bool write) {
                                   if (read || write) ++watched_;
                                 });
    ASSERT_TRUE(r.ok()) << r.status();
    resolver_ = *std::move(r);
  }

  // Serves and polls until `results` has `n` entries (or 3 s pass).
  void RunUntil(const std::vector<absl::StatusOr<DnsRecords>>& results, size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (results.size() < n && std::chrono::steady_clock::now() < deadline) {
      server_.Serve();
      resolver_->Poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(results.size(), n) << "no answer in 3 s";
  }

  DnsQuerier::Callback Collect(std::vector<absl::StatusOr<DnsRecords>>& into) {
    return [&into](const absl::StatusOr<DnsRecords>& r) { into.push_back(r); };
  }

  FakeDnsServer server_;
  int64_t now_ms_ = 1'000'000;
  int watched_ = 0;  // sockets c-ares asked the loop to wait on
  std::unique_ptr<DnsResolver> resolver_;
};

TEST_F(DnsResolverTest, AnAnswerIsCachedForItsTtl) {
  server_.set_handler([](uint16_t id, const std::string& name, uint16_t type) {
    DnsMessage m(id, name, type);
    m.A(name, 60, kCore1);
    return std::optional(m.bytes());
  });
  std::vector<absl::StatusOr<DnsRecords>> results;
  resolver_->Query("core1.carrier.example", DnsType::kA, Collect(results));
  EXPECT_TRUE(results.empty()) << "never answered from inside Query";
  RunUntil(results, 1);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[0]->addresses[0].ToString(), "203.0.113.40");
  EXPECT_GT(watched_, 0) << "its socket joined the loop's wait set";

  now_ms_ += 59'000;
  resolver_->Query("core1.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 2);
  EXPECT_EQ(server_.questions(), 1) << "from the cache";
  EXPECT_EQ(resolver_->counters().cache_hits, 1u);

  now_ms_ += 2'000;  // past the TTL
  resolver_->Query("core1.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 3);
  EXPECT_EQ(server_.questions(), 2);
}

TEST_F(DnsResolverTest, ANegativeAnswerIsCachedForItsNegativeTtl) {
  server_.set_handler([](uint16_t id, const std::string& name, uint16_t type) {
    DnsMessage m(id, name, type, /*rcode=*/3);
    m.Soa("carrier.example", 300, 20);
    return std::optional(m.bytes());
  });
  std::vector<absl::StatusOr<DnsRecords>> results;
  resolver_->Query("nobody.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 1);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_TRUE(results[0]->negative);
  now_ms_ += 19'000;
  resolver_->Query("nobody.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 2);
  EXPECT_EQ(server_.questions(), 1);
  now_ms_ += 2'000;
  resolver_->Query("nobody.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 3);
  EXPECT_EQ(server_.questions(), 2);
  EXPECT_EQ(resolver_->counters().negative, 2u);
}

TEST_F(DnsResolverTest, AskersOfOneNameShareOneQuery) {
  server_.set_handler([](uint16_t id, const std::string& name, uint16_t type) {
    DnsMessage m(id, name, type);
    m.A(name, 60, kCore1);
    return std::optional(m.bytes());
  });
  std::vector<absl::StatusOr<DnsRecords>> results;
  for (int i = 0; i < 5; ++i) resolver_->Query("core1.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 5);
  EXPECT_EQ(server_.questions(), 1);
  EXPECT_EQ(resolver_->counters().joined, 4u);
  for (const auto& r : results) EXPECT_TRUE(r.ok());
}

TEST_F(DnsResolverTest, SilenceIsAFailureAndNotCached) {
  server_.set_handler([](uint16_t, const std::string&, uint16_t) {
    return std::optional<std::vector<uint8_t>>();
  });
  std::vector<absl::StatusOr<DnsRecords>> results;
  resolver_->Query("core1.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 1);
  EXPECT_TRUE(absl::IsUnavailable(results[0].status())) << results[0].status();
  EXPECT_EQ(resolver_->counters().failures, 1u);
  EXPECT_EQ(resolver_->cache_size(), 0u);
  EXPECT_EQ(resolver_->in_flight(), 0u);
}

TEST_F(DnsResolverTest, MalformedAnswersAreCountedAndNotCached) {
  server_.set_handler([](uint16_t id, const std::string& name, uint16_t type) {
    // The header promises three answers; one follows.
    DnsMessage m(id, name, type);
    m.A(name, 60, kCore1);
    std::vector<uint8_t> bytes = m.bytes();
    bytes[7] = 3;
    return std::optional(bytes);
  });
  MakeResolver(/*timeout_ms=*/300);
  std::vector<absl::StatusOr<DnsRecords>> results;
  resolver_->Query("huge.carrier.example", DnsType::kA, Collect(results));
  RunUntil(results, 1);
  EXPECT_FALSE(results[0].ok());
  EXPECT_EQ(resolver_->counters().malformed, 1u);
  EXPECT_EQ(resolver_->cache_size(), 0u);
}

TEST_F(DnsResolverTest, TheCacheStaysWithinItsBound) {
  server_.set_handler([](uint16_t id, const std::string& name, uint16_t type) {
    DnsMessage m(id, name, type);
    m.A(name, 600, kCore1);
    return std::optional(m.bytes());
  });
  MakeResolver(300, /*max_cache=*/4);
  std::vector<absl::StatusOr<DnsRecords>> results;
  for (int i = 0; i < 10; ++i) {
    resolver_->Query(absl::StrCat("h", i, ".carrier.example"), DnsType::kA, Collect(results));
  }
  RunUntil(results, 10);
  EXPECT_LE(resolver_->cache_size(), 4u);
  EXPECT_EQ(resolver_->counters().evictions, 6u);
}

}  // namespace
}  // namespace rtplatch
