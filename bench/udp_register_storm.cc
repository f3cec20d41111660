// The refresh storm of `scripts/bench registrar` (bench/registrar_bench.py):
// digest REGISTER transactions (register_flow.h) over UDP, started at
// --rate a second for --seconds, each for the next user of --users, from
// one socket, as many in flight as the server lets be. sipp, the bench's
// other generator, saturates a core at about 32 000 new registrations a
// second on this machine and then retransmits on its own lateness; this
// costs a fraction of that per registration.
//
//   udp_register_storm --server 127.0.0.1:25060 --users users.txt
//     --domain bench.example --rate 48000 --seconds 12
//     [--bind 127.0.0.1 --port 17060 --timeout-ms 5000 --user-agent UA]
//
// --bind and --port are the phones' address: the Via and Contact of every
// REGISTER, and --user-agent their User-Agent, so that the same port and
// name as the phones that registered first make each REGISTER a refresh
// of their binding (another User-Agent changes the binding: a row written
// anew, not a refresh).
//
// Each request is retransmitted as RFC 3261 §17.1.2.2 has it (T1 = 500 ms,
// doubling to T2 = 4 s) until a final answer; a transaction with no answer
// --timeout-ms after its last new request has timed out (as sipp's
// -recv_timeout). A 503 ends the transaction: a phone backs off. Prints a
// JSON line a second with the totals so far, then a final one:
//   {"t":S,"started":N,"completed":C,"refused":R,"failed":F,"timed_out":T,
//    "retransmissions":X,"in_flight":I}
//   {"done":true,...the same...,"wall_s":W,"cpu_s":U}
// --users: one "user password" per line.
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <queue>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/load_clock.h"
#include "bench/register_flow.h"
#include "bench/sip_stream_framer.h"

namespace rtplatch::bench {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kT1Ns = 500 * kNsPerMs;
constexpr int64_t kT2Ns = 4000 * kNsPerMs;
constexpr int kBatch = 64;
constexpr int kReceiveBufferBytes = 8 << 20;

struct Options {
  std::string server_host;
  int server_port = 0;
  std::string users;
  std::string domain;
  std::string bind = "127.0.0.1";
  int port = 0;  // 0: any
  double rate = 0;
  double seconds = 0;
  int64_t timeout_ms = 5000;
  std::string user_agent = "rtplatch-bench-register-load";
};

bool ParseOptions(int argc, char** argv, Options* o) {
  if (argc % 2 != 1) return false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    bool ok = true;
    if (k == "--server") {
      const size_t colon = v.rfind(':');
      o->server_host = v.substr(0, colon);
      ok = colon != std::string::npos && absl::SimpleAtoi(v.substr(colon + 1), &o->server_port);
    } else if (k == "--users") {
      o->users = v;
    } else if (k == "--domain") {
      o->domain = v;
    } else if (k == "--bind") {
      o->bind = v;
    } else if (k == "--port") {
      ok = absl::SimpleAtoi(v, &o->port);
    } else if (k == "--rate") {
      ok = absl::SimpleAtod(v, &o->rate);
    } else if (k == "--seconds") {
      ok = absl::SimpleAtod(v, &o->seconds);
    } else if (k == "--timeout-ms") {
      ok = absl::SimpleAtoi(v, &o->timeout_ms);
    } else if (k == "--user-agent") {
      o->user_agent = v;
    } else {
      ok = false;
    }
    if (!ok) return false;
  }
  return !o->server_host.empty() && !o->users.empty() && !o->domain.empty() && o->rate > 0 &&
         o->seconds > 0;
}

struct Counters {
  int64_t started = 0, completed = 0, refused = 0, failed = 0, timed_out = 0;
  int64_t retransmissions = 0;
};

// One transaction: its flow, the request last sent and its timers.
struct Transaction {
  RegisterFlow flow;
  std::string request;
  int64_t sent_ns = 0;      // the last new request (not a retransmission)
  int64_t interval_ns = 0;  // the next retransmission's wait
  uint32_t timer = 0;       // the live timer's number; older ones are void
  bool over = false;
};

struct Timer {
  int64_t at_ns;
  size_t index;
  uint32_t number;
  bool operator>(const Timer& o) const { return at_ns > o.at_ns; }
};

class Storm {
 public:
  Storm(const Options& o, std::vector<Phone> users, int fd, sockaddr_in server, std::string via)
      : options_(o), users_(std::move(users)), fd_(fd), server_(server), via_(std::move(via)) {}

  void Run();
  void Print(bool done) const;

 private:
  void Start(int64_t now);
  void Send(size_t index, int64_t now, bool retransmission);
  void Receive(int64_t now);
  void OnMessage(absl::string_view message, int64_t now);
  void Expire(int64_t now);
  void End(size_t index) {
    transactions_[index].over = true;
    transactions_[index].request = std::string();  // memory back as they end
    --in_flight_;
  }

  const Options& options_;
  const std::vector<Phone> users_;
  const int fd_;
  const sockaddr_in server_;
  const std::string via_;
  std::vector<Transaction> transactions_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  Counters counters_;
  int64_t in_flight_ = 0;
  int64_t start_ns_ = 0;
  int64_t now_ns_ = 0;
  double cpu_start_ = 0;
};

void Storm::Send(size_t index, int64_t now, bool retransmission) {
  Transaction& t = transactions_[index];
  (void)sendto(fd_, t.request.data(), t.request.size(), 0,
               reinterpret_cast<const sockaddr*>(&server_), sizeof(server_));
  if (retransmission) {
    ++counters_.retransmissions;
    t.interval_ns = std::min(2 * t.interval_ns, kT2Ns);
  } else {
    t.sent_ns = now;
    t.interval_ns = kT1Ns;
  }
  timers_.push(Timer{now + t.interval_ns, index, ++t.timer});
}

void Storm::Start(int64_t now) {
  const size_t index = transactions_.size();
  transactions_.push_back(Transaction{
      RegisterFlow(options_.domain, via_, absl::StrCat("st", getpid()), "UDP",
                   options_.user_agent),
      "", 0, 0, 0,
      false});
  const Phone& phone = users_[index % users_.size()];
  transactions_[index].request = transactions_[index].flow.Start(phone, index);
  ++counters_.started;
  ++in_flight_;
  Send(index, now, false);
}

void Storm::OnMessage(absl::string_view message, int64_t now) {
  // The Call-ID is "st<pid>-<index>@...": its index names the transaction.
  const std::vector<absl::string_view> ids = HeaderValues(message, "Call-ID", 'i');
  if (ids.empty()) return;
  const size_t dash = ids[0].find('-'), at = ids[0].find('@');
  size_t index = 0;
  if (dash == absl::string_view::npos || at == absl::string_view::npos ||
      !absl::SimpleAtoi(ids[0].substr(dash + 1, at - dash - 1), &index) ||
      index >= transactions_.size() || transactions_[index].over) {
    return;
  }
  Transaction& t = transactions_[index];
  if (StatusCode(message) == 503) {
    ++counters_.refused;
    t.flow.Abandon();
    End(index);
    return;
  }
  const FlowStep step = t.flow.OnMessage(message);
  if (step.outcome == FlowOutcome::kCompleted) {
    ++counters_.completed;
    End(index);
  } else if (step.outcome == FlowOutcome::kFailed) {
    ++counters_.failed;
    End(index);
  } else if (!step.send.empty()) {
    t.request = step.send;
    Send(index, now, false);
  }
}

void Storm::Receive(int64_t now) {
  static char bufs[kBatch][4096];
  static iovec iovs[kBatch];
  static mmsghdr msgs[kBatch];
  for (;;) {
    for (int i = 0; i < kBatch; ++i) {
      iovs[i] = iovec{bufs[i], sizeof(bufs[i])};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) OnMessage(absl::string_view(bufs[i], msgs[i].msg_len), now);
    if (n < kBatch) return;
  }
}

// Retransmissions that fell due, and transactions past their timeout.
void Storm::Expire(int64_t now) {
  const int64_t timeout_ns = options_.timeout_ms * kNsPerMs;
  while (!timers_.empty() && timers_.top().at_ns <= now) {
    const Timer timer = timers_.top();
    timers_.pop();
    Transaction& t = transactions_[timer.index];
    if (t.over || timer.number != t.timer) continue;
    if (now - t.sent_ns >= timeout_ns) {
      ++counters_.timed_out;
      t.flow.Abandon();
      End(timer.index);
    } else {
      Send(timer.index, now, true);
    }
  }
}

void Storm::Run() {
  start_ns_ = NowNs();
  cpu_start_ = CpuSeconds();
  const int64_t send_end = start_ns_ + static_cast<int64_t>(options_.seconds * 1e9);
  const int64_t total = static_cast<int64_t>(options_.rate * options_.seconds);
  transactions_.reserve(static_cast<size_t>(total));
  int64_t next_report = start_ns_ + 1'000'000'000;
  for (;;) {
    const int64_t now = NowNs();
    now_ns_ = now;
    if (now < send_end) {
      const int64_t due = std::min<int64_t>(
          total, static_cast<int64_t>(options_.rate * static_cast<double>(now - start_ns_) / 1e9));
      for (int n = 0; counters_.started < due && n < kBatch; ++n) Start(now);
    }
    Receive(now);
    Expire(now);
    if (now >= next_report) {
      Print(false);
      next_report += 1'000'000'000;
    }
    if (now >= send_end && in_flight_ == 0) break;
    if (counters_.started >= total && in_flight_ > 0) usleep(200);
  }
  now_ns_ = NowNs();
}

void Storm::Print(bool done) const {
  const Counters& c = counters_;
  std::printf("{%s\"t\":%.3f,\"started\":%lld,\"completed\":%lld,\"refused\":%lld,\"failed\":%lld,"
              "\"timed_out\":%lld,\"retransmissions\":%lld,\"in_flight\":%lld",
              done ? "\"done\":true," : "", (now_ns_ - start_ns_) / 1e9,
              static_cast<long long>(c.started), static_cast<long long>(c.completed),
              static_cast<long long>(c.refused), static_cast<long long>(c.failed),
              static_cast<long long>(c.timed_out), static_cast<long long>(c.retransmissions),
              static_cast<long long>(in_flight_));
  if (done) {
    std::printf(",\"wall_s\":%.3f,\"cpu_s\":%.3f", (now_ns_ - start_ns_) / 1e9,
                CpuSeconds() - cpu_start_);
  }
  std::printf("}\n");
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: udp_register_storm --server IP:PORT --users FILE --domain D --rate R "
                 "--seconds S [--bind IP] [--port P] [--timeout-ms MS] [--user-agent UA]\n");
    return 2;
  }
  absl::StatusOr<std::vector<Phone>> users = LoadPhones(o.users);
  if (!users.ok()) {
    std::fprintf(stderr, "udp_register_storm: %s\n", std::string(users.status().message()).c_str());
    return 2;
  }
  sockaddr_in server{}, local{};
  server.sin_family = local.sin_family = AF_INET;
  server.sin_port = htons(static_cast<uint16_t>(o.server_port));
  local.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.server_host.c_str(), &server.sin_addr) != 1 ||
      inet_pton(AF_INET, o.bind.c_str(), &local.sin_addr) != 1) {
    std::fprintf(stderr, "udp_register_storm: --server and --bind want IPv4 addresses\n");
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int bytes = kReceiveBufferBytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  socklen_t len = sizeof(local);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    std::perror("udp_register_storm: socket");
    return 1;
  }
  Storm storm(o, *std::move(users), fd, server, absl::StrCat(o.bind, ":", ntohs(local.sin_port)));
  storm.Run();
  storm.Print(true);
  close(fd);
  return 0;
}

}  // namespace
}  // namespace rtplatch::bench

int main(int argc, char** argv) { return rtplatch::bench::Main(argc, argv); }
