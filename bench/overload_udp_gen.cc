// The traffic side of `scripts/bench overload` for rtpengine
// (bench/overload_rtpengine.py): the same pattern as bench/overload_gen,
// on kernel UDP sockets. N streams, each from a fixed source (one socket
// per distinct source address), interleaved (every stream once per round,
// the order shuffled each round), paced, sent with sendmmsg; the relayed
// packets come back to the same sockets and are counted per stream by
// SSRC (= stream index), only those tagged with the current phase. What
// the relay's sockets cannot queue the kernel drops: the relay's
// counterpart of a full rx ring.
//
//   overload_udp_gen --targets FILE
//
// FILE and the stdin commands are overload_gen's ("stream SRC_IP SRC_PORT
// DST_IP DST_PORT" lines; "phase ID RATE_PPS SECONDS", RATE_PPS 0 = as
// fast as it can; "quit"), and so is the JSON line each phase prints.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bench/json_count_list.h"

namespace {

constexpr int kBurst = 64;
constexpr uint32_t kPayloadBytes = 160;  // 20 ms of PCMA
constexpr uint32_t kRtpBytes = 12 + kPayloadBytes;
constexpr double kDrainSeconds = 0.3;
constexpr uint64_t kMaxBacklog = 4 * kBurst;  // as overload_gen: a wire never catches up
constexpr int kSocketBufferBytes = 64 << 20;

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

uint64_t XorShift(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

struct Stream {
  int socket_index;
  sockaddr_in to;
  uint16_t seq = 0;
};

struct PhaseCounts {
  std::vector<uint64_t> offered, received;
  uint64_t skipped = 0, stray = 0;
};

sockaddr_in Address(const std::string& ip, uint32_t port, bool* ok) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  *ok = inet_pton(AF_INET, ip.c_str(), &a.sin_addr) == 1 && port > 0 && port < 65536;
  return a;
}

// A non-blocking UDP socket bound to the stream source, big buffers.
int BoundSocket(const sockaddr_in& at) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBufferBytes, sizeof(int));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBufferBytes, sizeof(int));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof(at)) != 0) {
    std::perror("overload_udp_gen: bind");
    close(fd);
    return -1;
  }
  return fd;
}

bool LoadStreams(const std::string& path, std::vector<Stream>* streams, std::vector<int>* fds) {
  std::ifstream in(path);
  std::map<std::pair<std::string, uint32_t>, int> socket_of;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string kind, src, dst;
    uint32_t sport = 0, dport = 0;
    bool ok_src = false, ok_dst = false;
    if (!(f >> kind) || kind != "stream") continue;  // spray targets: not here
    if (!(f >> src >> sport >> dst >> dport)) return false;
    const sockaddr_in from = Address(src, sport, &ok_src);
    Stream s{0, Address(dst, dport, &ok_dst)};
    if (!ok_src || !ok_dst) return false;
    auto [it, fresh] = socket_of.emplace(std::make_pair(src, sport), static_cast<int>(fds->size()));
    if (fresh) {
      const int fd = BoundSocket(from);
      if (fd < 0) return false;
      fds->push_back(fd);
    }
    s.socket_index = it->second;
    streams->push_back(s);
  }
  return !streams->empty();
}

class UdpGenerator {
 public:
  UdpGenerator(std::vector<Stream> streams, std::vector<int> fds)
      : streams_(std::move(streams)), fds_(std::move(fds)) {
    for (uint32_t i = 0; i < streams_.size(); ++i) order_.push_back(i);
  }
  PhaseCounts RunPhase(uint8_t id, double rate_pps, double seconds);

 private:
  uint32_t NextStream();
  void SendBurst(uint8_t phase, int n, PhaseCounts& c);
  void Receive(uint8_t phase, PhaseCounts& c);

  std::vector<Stream> streams_;
  std::vector<int> fds_;
  std::vector<uint32_t> order_;
  size_t next_in_round_ = 0;
  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
  uint8_t tx_[kBurst][kRtpBytes] = {};
  uint8_t rx_[kBurst][2048] = {};
};

uint32_t UdpGenerator::NextStream() {
  if (next_in_round_ == order_.size()) {
    next_in_round_ = 0;
    for (size_t i = order_.size() - 1; i > 0; --i) {
      std::swap(order_[i], order_[XorShift(rng_) % (i + 1)]);
    }
  }
  return order_[next_in_round_++];
}

// n packets in wire order, one sendmmsg per source socket; what a socket
// does not take is not offered (skipped), as the wire never saw it.
void UdpGenerator::SendBurst(uint8_t phase, int n, PhaseCounts& c) {
  std::vector<std::vector<mmsghdr>> per_socket(fds_.size());
  std::vector<std::vector<uint32_t>> stream_of(fds_.size());
  iovec iov[kBurst];
  for (int i = 0; i < n; ++i) {
    const uint32_t k = NextStream();
    Stream& s = streams_[k];
    uint8_t* rtp = tx_[i];
    rtp[0] = 0x80;
    rtp[1] = 8;  // PCMA
    const uint16_t seq = htons(s.seq++);
    const uint32_t ssrc = htonl(k);
    std::memcpy(rtp + 2, &seq, 2);
    std::memcpy(rtp + 8, &ssrc, 4);
    rtp[12] = phase;
    iov[i] = {rtp, kRtpBytes};
    mmsghdr m{};
    m.msg_hdr.msg_name = &s.to;
    m.msg_hdr.msg_namelen = sizeof(s.to);
    m.msg_hdr.msg_iov = &iov[i];
    m.msg_hdr.msg_iovlen = 1;
    per_socket[s.socket_index].push_back(m);
    stream_of[s.socket_index].push_back(k);
  }
  for (size_t f = 0; f < fds_.size(); ++f) {
    if (per_socket[f].empty()) continue;
    const int sent = sendmmsg(fds_[f], per_socket[f].data(),
                              static_cast<unsigned>(per_socket[f].size()), 0);
    const size_t ok = sent < 0 ? 0 : static_cast<size_t>(sent);
    for (size_t j = 0; j < stream_of[f].size(); ++j) {
      if (j < ok) ++c.offered[stream_of[f][j]];
      else ++c.skipped;
    }
  }
}

void UdpGenerator::Receive(uint8_t phase, PhaseCounts& c) {
  mmsghdr msgs[kBurst];
  iovec iov[kBurst];
  for (int fd : fds_) {
    int n;
    do {
      for (int i = 0; i < kBurst; ++i) {
        iov[i] = {rx_[i], sizeof(rx_[i])};
        msgs[i] = mmsghdr{};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      n = recvmmsg(fd, msgs, kBurst, MSG_DONTWAIT, nullptr);
      for (int i = 0; i < n; ++i) {
        uint32_t ssrc = 0;
        if (msgs[i].msg_len > 12) std::memcpy(&ssrc, rx_[i] + 8, 4);
        ssrc = ntohl(ssrc);
        if (msgs[i].msg_len > 12 && ssrc < streams_.size() && rx_[i][12] == phase) {
          ++c.received[ssrc];
        } else {
          ++c.stray;
        }
      }
    } while (n == kBurst);
  }
}

PhaseCounts UdpGenerator::RunPhase(uint8_t id, double rate_pps, double seconds) {
  PhaseCounts c;
  c.offered.assign(streams_.size(), 0);
  c.received.assign(streams_.size(), 0);
  const double start = Now();
  uint64_t sent = 0;
  for (double now = start; now < start + seconds; now = Now()) {
    Receive(id, c);
    uint64_t due = rate_pps > 0 ? static_cast<uint64_t>(rate_pps * (now - start)) - sent : kBurst;
    if (due > kMaxBacklog) {
      c.skipped += due - kMaxBacklog;
      sent += due - kMaxBacklog;
      due = kMaxBacklog;
    }
    if (due < kBurst && rate_pps * seconds >= kBurst) continue;  // whole bursts, as overload_gen
    while (due > 0) {
      const int n = static_cast<int>(due < kBurst ? due : kBurst);
      SendBurst(id, n, c);
      sent += static_cast<uint64_t>(n);
      due -= static_cast<uint64_t>(n);
    }
  }
  for (const double end = Now() + kDrainSeconds; Now() < end;) Receive(id, c);
  return c;
}

void PrintCounts(unsigned id, double seconds, const PhaseCounts& c) {
  std::printf("{\"phase\":%u,\"seconds\":%.3f,\"accepted\":0,\"spray_offered\":0,"
              "\"spray_accepted\":0,\"stray\":%llu,\"skipped\":%llu,\"offered\":%s,"
              "\"received\":%s}\n",
              id, seconds, static_cast<unsigned long long>(c.stray),
              static_cast<unsigned long long>(c.skipped),
              rtplatch::JsonCountList(c.offered).c_str(),
              rtplatch::JsonCountList(c.received).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string targets;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--targets") == 0) targets = argv[i + 1];
  }
  std::vector<Stream> streams;
  std::vector<int> fds;
  if (targets.empty() || !LoadStreams(targets, &streams, &fds)) {
    std::fprintf(stderr, "usage: overload_udp_gen --targets FILE (stream lines)\n");
    return 2;
  }
  std::printf("{\"ready\":true,\"streams\":%zu,\"sockets\":%zu}\n", streams.size(), fds.size());
  std::fflush(stdout);
  auto gen = std::make_unique<UdpGenerator>(std::move(streams), std::move(fds));
  char line[256];
  while (std::fgets(line, sizeof(line), stdin) != nullptr) {
    unsigned id = 0;
    double rate = 0, seconds = 0;
    if (std::strncmp(line, "quit", 4) == 0) break;
    if (std::sscanf(line, "phase %u %lf %lf", &id, &rate, &seconds) != 3 || id > 255) {
      std::printf("{\"error\":\"bad command\"}\n");
      std::fflush(stdout);
      continue;
    }
    PrintCounts(id, seconds, gen->RunPhase(static_cast<uint8_t>(id), rate, seconds));
  }
  return 0;
}
