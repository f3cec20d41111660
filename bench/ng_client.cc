// The ng client of `scripts/bench ng` (bench/ng_bench.py): offer + answer +
// delete cycles against one ng server over UDP, as fast as it answers,
// with up to --window cycles in flight (each cycle's three requests in
// order, as a SIP proxy sends them for one call). The same binary drives
// rtplatch and rtpengine, so the client's own cost is the same for both.
//
//   ng_client --server 127.0.0.1:2223 --seconds 10 --window 64 --prefix r1
//
// Prints one JSON line: {"cycles":N,"seconds":S,"errors":E,"timeouts":T,
// "per_s":X,"first_error":"..."}. A cycle counts when its delete is
// answered "ok"; an error or a reply not seen within 2 s ends the cycle
// unfinished (a timed-out request is not resent: the figure is the
// server's, not a retransmission's).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string Str(const std::string& s) { return std::to_string(s.size()) + ":" + s; }

std::string Sdp(int port) {
  return "v=0\r\no=bench 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
         "m=audio " + std::to_string(port) + " RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
}

// Kamailio's dictionary for each step (keys in its order, bencoded).
std::string Request(int step, const std::string& call_id) {
  std::string d = "d";
  d += Str("supports") + "l" + Str("load limit") + "e";
  if (step < 2) d += Str("sdp") + Str(Sdp(step == 0 ? 4000 : 5000));
  if (step < 2) {
    d += Str("replace") + "l" + Str("origin") + Str("session-connection") + "e";
    d += Str("received-from") + "l" + Str("IP4") + Str("192.0.2.10") + "e";
  }
  d += Str("call-id") + Str(call_id);
  d += Str("from-tag") + Str("ftag");
  if (step == 1) d += Str("to-tag") + Str("ttag");
  if (step == 2) d += Str("delete delay") + "i0e";
  static const char* kCommands[] = {"offer", "answer", "delete"};
  d += Str("command") + Str(kCommands[step]);
  d += "e";
  return d;
}

struct Cycle {
  std::string call_id;
  int step = 0;
  int64_t sent_ns = 0;
};

struct Options {
  std::string server = "127.0.0.1:2223";
  std::string prefix = "c";
  double seconds = 10;
  int window = 64;
};

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") o->server = v;
    else if (k == "--seconds") o->seconds = std::atof(v.c_str());
    else if (k == "--window") o->window = std::atoi(v.c_str());
    else if (k == "--prefix") o->prefix = v;
    else { std::fprintf(stderr, "ng_client: unknown option %s\n", k.c_str()); return false; }
  }
  return true;
}

// A non-blocking UDP socket connected to "IPv4:port"; -1 on error.
int Connect(const std::string& server) {
  const size_t colon = server.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, server.substr(0, colon).c_str(), &to.sin_addr) != 1) {
    std::fprintf(stderr, "ng_client: --server must be IPv4:port\n");
    return -1;
  }
  to.sin_port = htons(static_cast<uint16_t>(std::atoi(server.c_str() + colon + 1)));
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    std::perror("ng_client: socket");
    return -1;
  }
  const int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!ParseOptions(argc, argv, &opt)) return 2;
  const int fd = Connect(opt.server);
  if (fd < 0) return 1;
  const std::string& prefix = opt.prefix;
  const double seconds = opt.seconds;
  const int window = opt.window;

  std::unordered_map<std::string, Cycle> in_flight;  // cookie -> cycle
  std::deque<std::pair<int64_t, std::string>> deadlines;
  uint64_t next = 0, cycles = 0, errors = 0, timeouts = 0, cookie_n = 0;
  std::string first_error;
  const int64_t start = NowNs();
  const int64_t end = start + static_cast<int64_t>(seconds * 1e9);
  auto send_step = [&](Cycle c) {
    const std::string cookie = std::to_string(++cookie_n);
    const std::string msg = cookie + " " + Request(c.step, c.call_id);
    c.sent_ns = NowNs();
    if (send(fd, msg.data(), msg.size(), 0) < 0) {
      ++errors;
      return;
    }
    deadlines.emplace_back(c.sent_ns + 2'000'000'000, cookie);
    in_flight.emplace(cookie, std::move(c));
  };
  char rx[65536];
  while (true) {
    const int64_t now = NowNs();
    if (now < end) {
      while (in_flight.size() < static_cast<size_t>(window)) {
        send_step(Cycle{prefix + "-" + std::to_string(next++) + "@bench", 0, 0});
      }
    } else if (in_flight.empty()) {
      break;
    }
    while (!deadlines.empty() && deadlines.front().first < now) {
      if (in_flight.erase(deadlines.front().second) > 0) ++timeouts;
      deadlines.pop_front();
    }
    if (now > end + 3'000'000'000LL) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    while (true) {
      const ssize_t n = recv(fd, rx, sizeof(rx), 0);
      if (n <= 0) break;
      const std::string reply(rx, static_cast<size_t>(n));
      const size_t space = reply.find(' ');
      if (space == std::string::npos) continue;
      auto it = in_flight.find(reply.substr(0, space));
      if (it == in_flight.end()) continue;
      Cycle c = std::move(it->second);
      in_flight.erase(it);
      if (reply.find("6:result2:ok") == std::string::npos) {
        ++errors;
        if (first_error.empty()) first_error = reply.substr(0, 200);
        continue;
      }
      if (++c.step == 3) {
        if (NowNs() <= end) ++cycles;
        continue;
      }
      if (NowNs() <= end || c.step > 0) send_step(std::move(c));
    }
  }
  for (char& ch : first_error) {
    if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) ch = ' ';
  }
  std::printf("{\"cycles\":%llu,\"seconds\":%.3f,\"errors\":%llu,\"timeouts\":%llu,"
              "\"per_s\":%.1f,\"first_error\":\"%s\"}\n",
              static_cast<unsigned long long>(cycles), seconds,
              static_cast<unsigned long long>(errors), static_cast<unsigned long long>(timeouts),
              cycles / seconds, first_error.c_str());
  close(fd);
  return 0;
}
