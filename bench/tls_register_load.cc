// The TLS load generator of `scripts/bench sip`, scenario register_tls
// (bench/sip_bench.py): Debian's sipp is built without OpenSSL, so this
// plays the phones. It opens --connections persistent TLS connections
// (spread over --sources local addresses from --bind, as phones come from
// many addresses), each the connection of its own phones (users
// c, c+N, c+2N... of --users), and reuses them for every REGISTER, as a
// phone keeps its connection. Then it starts --count digest REGISTER
// transactions (register_flow.h) at --rate per second, each on the next
// idle connection, one transaction per connection at a time. The same
// binary drives rtplatch and Kamailio.
//
//   tls_register_load --server 127.0.0.1:25061 --server-name bench.example
//     --ca ca.pem --users users.txt --domain bench.example --rate 4000
//     --count 20000 [--connections 256 --sources 8 --bind 127.0.1.1
//     --timeout-ms 5000 --connect-timeout-ms 10000]
//
// --users: one "user password" per line. Prints one JSON line:
//   {"connections":N,"started":S,"completed":C,"failed":F,"timed_out":T,
//    "not_started":U,"connections_lost":L,"wall_s":W,"cpu_s":X,
//    "first_error":"..."}
// wall_s and cpu_s cover the transactions only (handshakes are before).
// A transaction not answered --timeout-ms after its last request is timed
// out (TLS has no retransmissions); the run ends when every transaction is
// over, or at count/rate + 3 timeouts + 5 s (the rest: not started).
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/load_clock.h"
#include "bench/register_flow.h"
#include "bench/tls_client_connection.h"

namespace rtplatch::bench {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;
constexpr int kMaxEvents = 256;
// Timeouts are looked for this often: far below --timeout-ms.
constexpr int64_t kTimeoutScanNs = 50 * kNsPerMs;

struct Options {
  std::string server;
  std::string server_name;
  std::string ca;
  std::string users;
  std::string domain;
  std::string bind = "127.0.1.1";
  double rate = 0;
  int64_t count = 0;
  int connections = 256;
  int sources = 8;
  int64_t timeout_ms = 5000;
  int64_t connect_timeout_ms = 10000;
};

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    bool ok = true;
    if (k == "--server") o->server = v;
    else if (k == "--server-name") o->server_name = v;
    else if (k == "--ca") o->ca = v;
    else if (k == "--users") o->users = v;
    else if (k == "--domain") o->domain = v;
    else if (k == "--bind") o->bind = v;
    else if (k == "--rate") ok = absl::SimpleAtod(v, &o->rate);
    else if (k == "--count") ok = absl::SimpleAtoi(v, &o->count);
    else if (k == "--connections") ok = absl::SimpleAtoi(v, &o->connections);
    else if (k == "--sources") ok = absl::SimpleAtoi(v, &o->sources);
    else if (k == "--timeout-ms") ok = absl::SimpleAtoi(v, &o->timeout_ms);
    else if (k == "--connect-timeout-ms") ok = absl::SimpleAtoi(v, &o->connect_timeout_ms);
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "tls_register_load: bad option %s %s\n", k.c_str(), v.c_str());
      return false;
    }
  }
  return !o->server.empty() && !o->ca.empty() && !o->users.empty() && !o->domain.empty() &&
         o->rate > 0 && o->count > 0 && o->connections > 0 && o->sources > 0 &&
         (argc % 2) == 1;
}

absl::StatusOr<sockaddr_in> ParseIpv4(const std::string& host, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: '", host, "'"));
  }
  return address;
}

// One connection and the phones behind it.
struct Line {
  std::unique_ptr<TlsClientConnection> connection;
  std::unique_ptr<RegisterFlow> flow;
  size_t next_user = 0;  // this connection's users: next_user, +stride, ...
  int64_t deadline_ns = 0;
};

struct Counters {
  int64_t started = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t timed_out = 0;
  int64_t not_started = 0;
  int64_t connections_lost = 0;
  std::string first_error;

  void Error(const std::string& error) {
    if (first_error.empty()) first_error = error;
  }
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  return out + "\"";
}

// The run: connections set up first, then the paced transactions.
class LoadRun {
 public:
  LoadRun(const Options& options, std::vector<Phone> users, SSL_CTX* context)
      : options_(options), users_(std::move(users)), context_(context),
        epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {}
  ~LoadRun() { close(epoll_fd_); }

  // Opens every connection and waits for the handshakes; the run goes on
  // with those that made it (an error only if none did).
  absl::Status Connect(const sockaddr_in& server);
  void Run();
  void Report() const;

 private:
  absl::Status OpenLine(size_t index, const sockaddr_in& server);
  void StartTransaction(size_t index, int64_t now);
  void OnReady(size_t index, int64_t now);
  void Finish(size_t index, FlowOutcome outcome, const std::string& error, int64_t now);
  void Drop(size_t index, const std::string& error, int64_t now);
  void ScanTimeouts(int64_t now);
  int WaitTimeoutMs(int64_t now) const;
  int Wait(int timeout_ms, int64_t* now);

  const Options& options_;
  const std::vector<Phone> users_;
  SSL_CTX* const context_;
  const int epoll_fd_;
  std::vector<Line> lines_;
  std::deque<size_t> idle_;  // established lines without a transaction, FIFO
  size_t in_flight_ = 0;
  size_t established_ = 0;
  Counters counters_;
  int64_t start_ns_ = 0;
  int64_t wall_end_ns_ = 0;  // the last transaction's end
  double cpu_s_ = 0;
};

absl::Status LoadRun::OpenLine(size_t index, const sockaddr_in& server) {
  absl::StatusOr<sockaddr_in> local = ParseIpv4(options_.bind, 0);
  if (!local.ok()) return local.status();
  // Consecutive addresses from --bind: 127.0.1.1, 127.0.1.2, ...
  local->sin_addr.s_addr =
      htonl(ntohl(local->sin_addr.s_addr) + static_cast<uint32_t>(index % options_.sources));
  absl::StatusOr<std::unique_ptr<TlsClientConnection>> connection = TlsClientConnection::Open(
      context_, *local, server, options_.server_name.empty() ? options_.domain
                                                             : options_.server_name);
  if (!connection.ok()) return connection.status();
  Line& line = lines_[index];
  line.connection = *std::move(connection);
  char host[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &line.connection->local().sin_addr, host, sizeof host);
  line.flow = std::make_unique<RegisterFlow>(
      options_.domain, absl::StrCat(host, ":", ntohs(line.connection->local().sin_port)),
      absl::StrCat(getpid(), "l", index));
  line.next_user = index % users_.size();
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = index;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, line.connection->fd(), &event);
  return absl::OkStatus();
}

absl::Status LoadRun::Connect(const sockaddr_in& server) {
  lines_.resize(static_cast<size_t>(options_.connections));
  int64_t now = NowNs();
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (absl::Status s = OpenLine(i, server); !s.ok()) {
      ++counters_.connections_lost;
      counters_.Error(s.ToString());
    }
  }
  const int64_t deadline = now + options_.connect_timeout_ms * kNsPerMs;
  size_t pending = lines_.size() - counters_.connections_lost;
  while (pending > 0 && now < deadline) {
    Wait(10, &now);
    pending = 0;
    for (const Line& line : lines_) {
      pending += line.connection != nullptr && !line.connection->established();
    }
  }
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (lines_[i].connection == nullptr) continue;
    if (!lines_[i].connection->established()) {
      Drop(i, "TLS handshake not done in --connect-timeout-ms", now);
      continue;
    }
    ++established_;
    idle_.push_back(i);
  }
  if (established_ == 0) {
    counters_.not_started = options_.count;
    return absl::UnavailableError("no connection: " + counters_.first_error);
  }
  return absl::OkStatus();
}

// Waits up to timeout_ms for readiness and handles it; the number of events.
int LoadRun::Wait(int timeout_ms, int64_t* now) {
  epoll_event events[kMaxEvents];
  const int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  *now = NowNs();
  for (int i = 0; i < n; ++i) OnReady(static_cast<size_t>(events[i].data.u64), *now);
  return n;
}

void LoadRun::StartTransaction(size_t index, int64_t now) {
  Line& line = lines_[index];
  const Phone& phone = users_[line.next_user];
  line.next_user = (line.next_user + lines_.size()) % users_.size();
  const std::string request = line.flow->Start(phone, static_cast<uint64_t>(counters_.started));
  ++counters_.started;
  ++in_flight_;
  line.deadline_ns = now + options_.timeout_ms * kNsPerMs;
  if (absl::Status s = line.connection->Send(request); !s.ok()) Drop(index, s.ToString(), now);
}

void LoadRun::OnReady(size_t index, int64_t now) {
  Line& line = lines_[index];
  if (line.connection == nullptr) return;
  if (absl::Status s = line.connection->OnReady(); !s.ok()) return Drop(index, s.ToString(), now);
  if (!line.connection->established()) return;
  while (std::optional<absl::string_view> message = line.connection->framer().Next()) {
    FlowStep step = line.flow->OnMessage(*message);
    if (!step.send.empty()) {
      line.deadline_ns = now + options_.timeout_ms * kNsPerMs;
      if (absl::Status s = line.connection->Send(step.send); !s.ok()) {
        return Drop(index, s.ToString(), now);
      }
    }
    if (step.outcome != FlowOutcome::kPending) Finish(index, step.outcome, step.error, now);
  }
  if (line.connection->framer().broken()) Drop(index, "the server's stream cannot be framed", now);
}

void LoadRun::Finish(size_t index, FlowOutcome outcome, const std::string& error, int64_t now) {
  --in_flight_;
  if (outcome == FlowOutcome::kCompleted) {
    ++counters_.completed;
  } else {
    ++counters_.failed;
    counters_.Error(error);
  }
  wall_end_ns_ = now;
  idle_.push_back(index);
}

// A dead connection: its transaction failed, its phones stay silent.
void LoadRun::Drop(size_t index, const std::string& error, int64_t now) {
  Line& line = lines_[index];
  if (line.connection == nullptr) return;
  ++counters_.connections_lost;
  counters_.Error(error);
  if (line.flow != nullptr && line.flow->busy()) {
    line.flow->Abandon();
    --in_flight_;
    ++counters_.failed;
    wall_end_ns_ = now;
  }
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, line.connection->fd(), nullptr);
  line.connection.reset();
}

void LoadRun::ScanTimeouts(int64_t now) {
  for (size_t i = 0; i < lines_.size(); ++i) {
    Line& line = lines_[i];
    if (line.connection == nullptr || !line.flow->busy() || now < line.deadline_ns) continue;
    line.flow->Abandon();
    --in_flight_;
    ++counters_.timed_out;
    counters_.Error("no answer in --timeout-ms");
    wall_end_ns_ = now;
    idle_.push_back(i);
  }
}

// How long the loop may sleep: until the next transaction is due when a
// line is idle, else until an answer wakes it (bounded for time-outs).
int LoadRun::WaitTimeoutMs(int64_t now) const {
  constexpr int kIdleWaitMs = 10;
  if (counters_.started >= options_.count || idle_.empty()) return kIdleWaitMs;
  const int64_t next_due =
      start_ns_ + static_cast<int64_t>(static_cast<double>(counters_.started) / options_.rate * 1e9);
  if (next_due <= now) return 0;
  return static_cast<int>(std::min<int64_t>(kIdleWaitMs, (next_due - now + kNsPerMs - 1) / kNsPerMs));
}

void LoadRun::Run() {
  const double cpu_at_start = CpuSeconds();
  start_ns_ = NowNs();
  wall_end_ns_ = start_ns_;
  const int64_t count = options_.count;
  // As sipp's -timeout in the harness: the nominal duration, three
  // time-outs and 5 s.
  const int64_t hard_end = start_ns_ + static_cast<int64_t>((count / options_.rate + 5) * 1e9) +
                           3 * options_.timeout_ms * kNsPerMs;
  int64_t now = start_ns_;
  int64_t last_scan = start_ns_;
  while (now < hard_end) {
    const int64_t due = std::min<int64_t>(
        count, static_cast<int64_t>(static_cast<double>(now - start_ns_) * 1e-9 * options_.rate) + 1);
    while (counters_.started < due && !idle_.empty()) {
      const size_t index = idle_.front();
      idle_.pop_front();
      if (lines_[index].connection != nullptr) StartTransaction(index, now);
    }
    if (counters_.started == count && in_flight_ == 0) break;
    if (counters_.connections_lost >= static_cast<int64_t>(lines_.size())) break;
    if (now - last_scan >= kTimeoutScanNs) {
      ScanTimeouts(now);
      last_scan = now;
    }
    Wait(WaitTimeoutMs(now), &now);
  }
  if (counters_.started < count || in_flight_ > 0) wall_end_ns_ = now;
  counters_.timed_out += static_cast<int64_t>(in_flight_);
  counters_.not_started = count - counters_.started;
  cpu_s_ = CpuSeconds() - cpu_at_start;
}

void LoadRun::Report() const {
  std::printf(
      "{\"connections\":%zu,\"started\":%lld,\"completed\":%lld,\"failed\":%lld,"
      "\"timed_out\":%lld,\"not_started\":%lld,\"connections_lost\":%lld,"
      "\"wall_s\":%.3f,\"cpu_s\":%.3f,\"first_error\":%s}\n",
      established_, static_cast<long long>(counters_.started),
      static_cast<long long>(counters_.completed), static_cast<long long>(counters_.failed),
      static_cast<long long>(counters_.timed_out), static_cast<long long>(counters_.not_started),
      static_cast<long long>(counters_.connections_lost), (wall_end_ns_ - start_ns_) / 1e9,
      cpu_s_, JsonString(counters_.first_error).c_str());
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: tls_register_load --server IP:PORT --ca FILE --users FILE --domain D "
                 "--rate R --count N [--server-name NAME --connections N --sources K "
                 "--bind IP --timeout-ms T --connect-timeout-ms T]\n");
    return 2;
  }
  // A server that closes a connection must not kill us in SSL_write.
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<std::vector<Phone>> users = LoadPhones(options.users);
  const size_t colon = options.server.rfind(':');
  int port = 0;
  absl::StatusOr<sockaddr_in> server =
      colon == std::string::npos || !absl::SimpleAtoi(options.server.substr(colon + 1), &port)
          ? absl::InvalidArgumentError("--server: want IP:PORT")
          : ParseIpv4(options.server.substr(0, colon), port);
  absl::StatusOr<SSL_CTX*> context =
      server.ok() && users.ok() ? MakeClientContext(options.ca) : server.status();
  for (const absl::Status& s : {users.status(), server.status(), context.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "tls_register_load: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  int rc = 0;
  {
    LoadRun run(options, *std::move(users), *context);
    if (absl::Status s = run.Connect(*server); s.ok()) {
      run.Run();
    } else {
      std::fprintf(stderr, "tls_register_load: %s\n", s.ToString().c_str());
      rc = 1;
    }
    run.Report();
  }
  SSL_CTX_free(*context);
  return rc;
}

}  // namespace
}  // namespace rtplatch::bench

int main(int argc, char** argv) { return rtplatch::bench::Main(argc, argv); }
