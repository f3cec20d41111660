// The traffic side of `scripts/bench overload` for rtplatch
// (bench/overload.py): a DPDK program on a net_memif port, the peer of the
// dataplane's media port, playing a NIC's wire. It offers RTP for N
// streams, interleaved (every stream once per round, the order shuffled
// each round as independent phones interleave), paced at a target rate;
// whatever the memif ring does not take is LOST and counted, never
// retried, as a NIC's full rx ring drops (imissed). Everything the
// dataplane relays back is counted per stream (by SSRC = stream index,
// only packets tagged with the current phase). Optionally it also sprays
// packets from random non-latched sources at relay ports.
//
// Meant to run as the memif client with zero-copy=yes (hugepage memory,
// --single-file-segments): its own mbufs are the shared buffers, so it
// copies nothing, and only the per-packet fields are written into them.
// The dataplane (the memif server) copies in and out as it always does.
//
//   overload_gen <EAL args> -- --targets FILE
//
// FILE: one line per stream, "stream SRC_IP SRC_PORT DST_IP DST_PORT",
// then one per spray target, "spray DST_IP DST_PORT". Commands on stdin,
// one per line, each answered by one JSON line on stdout:
//   phase ID RATE_PPS SECONDS [SPRAY_PPS]   (RATE_PPS 0: as fast as it can)
//   quit
// {"phase":ID,"seconds":S,"offered":[...per stream],"received":[...],
//  "accepted":A,"spray_offered":P,"spray_accepted":Q,"stray":R}
// The first line says {"ready":true,...,"zero_copy":Z}.
#include <arpa/inet.h>
#include <emmintrin.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/json_count_list.h"

namespace {

constexpr uint16_t kBurst = 32;
// Two rings of 1 024 in flight, a burst and the cache: a small pool keeps
// the buffers both cores touch few (the ring cycles through all of them).
constexpr uint32_t kPoolMbufs = 4095;
constexpr uint16_t kRingDescriptors = 1024;
constexpr uint32_t kDefaultPayloadBytes = 160;  // 20 ms of PCMA
uint32_t g_payload_bytes = kDefaultPayloadBytes;
constexpr uint32_t kHeaderBytes = 14 + 20 + 8 + 12;
constexpr uint32_t kPhaseTagOffset = kHeaderBytes;  // first payload byte
constexpr uint32_t kSsrcOffset = 14 + 20 + 8 + 8;
// After a phase's last send, relayed packets still in the rings arrive.
constexpr double kDrainSeconds = 0.2;
// Packets due but not yet sent beyond which the rest are deferred: what
// falls due in kCatchUpSeconds (at least 32 bursts). A shorter stall of
// the generator (an interrupt, a long receive) is caught up in whole
// bursts at once; what fell due in a lost CPU slice (milliseconds) is
// made up later at no more than kMakeUpShare of the rate on top, so the
// phase offers its rate on average and never more than 1.25 x of it: the
// generator shares core 0 with the dataplane's main lcore and the kernel,
// which took up to 13 % of it in a 3 x phase.
constexpr uint64_t kMinBacklog = 32 * kBurst;
constexpr double kCatchUpSeconds = 200e-6;
constexpr double kMakeUpShare = 0.25;
// Sprayers' SSRCs never equal a stream's (stream SSRCs are its index).
constexpr uint32_t kSpraySsrcBase = 0x80000000u;

// Ethernet + IPv4 + UDP (no checksum) + RTP, padded to one cache line so
// it is copied as four 16-byte moves (the payload bytes it covers are
// don't-care, the phase tag is written after it).
struct Stream {
  alignas(64) uint8_t header[64] = {};
  uint16_t seq = 0;
};

// Ask for the line for writing: the relay's core last held it.
inline void PrefetchForWrite(const void* p) {
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
}

inline void CopyLine(uint8_t* dst, const uint8_t* src) {
  for (int i = 0; i < 64; i += 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm_load_si128(reinterpret_cast<const __m128i*>(src + i)));
  }
}

// A sprayed packet's header with source 192.0.2.0, and its IPv4 header
// sum without the checksum: per packet only the source's last byte, port,
// SSRC and the checksum are written.
struct SprayTarget {
  uint8_t header[kHeaderBytes];
  uint32_t ip_sum;
};

struct PhaseCounts {
  std::vector<uint64_t> offered, received;
  uint64_t accepted = 0, spray_offered = 0, spray_accepted = 0, stray = 0;
  uint64_t deferred = 0;  // due while the generator was off the CPU: offered later
};

uint64_t XorShift(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// Unbiased enough and without a division: x's high half scaled to [0, n).
uint32_t Below(uint64_t x, uint32_t n) {
  return static_cast<uint32_t>(((x >> 32) * n) >> 32);
}

uint32_t Ipv4Sum(const uint8_t* ip) {
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t{ip[i]} << 8) | ip[i + 1];
  return sum;
}

uint16_t FoldChecksum(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint16_t Ipv4Checksum(const uint8_t* ip) { return FoldChecksum(Ipv4Sum(ip)); }

// Ethernet + IPv4 + UDP + RTP header from src to dst with this SSRC.
void BuildHeader(uint8_t* h, uint32_t src_ip, uint16_t src_port, uint32_t dst_ip,
                 uint16_t dst_port, uint32_t ssrc) {
  static const uint8_t kMacs[12] = {2, 0, 0, 0, 0, 0x10, 2, 0, 0, 0, 0, 1};
  std::memset(h, 0, kHeaderBytes);
  std::memcpy(h, kMacs, 12);
  h[12] = 0x08;
  uint8_t* ip = h + 14;
  ip[0] = 0x45;
  ip[1] = 0xb8;
  const uint16_t total = htons(static_cast<uint16_t>(20 + 8 + 12 + g_payload_bytes));
  std::memcpy(ip + 2, &total, 2);
  ip[8] = 64;
  ip[9] = 17;
  std::memcpy(ip + 12, &src_ip, 4);
  std::memcpy(ip + 16, &dst_ip, 4);
  const uint16_t check = htons(Ipv4Checksum(ip));
  std::memcpy(ip + 10, &check, 2);
  uint8_t* udp = ip + 20;
  const uint16_t ports[3] = {htons(src_port), htons(dst_port), htons(static_cast<uint16_t>(8 + 12 + g_payload_bytes))};
  std::memcpy(udp, ports, 6);
  uint8_t* rtp = udp + 8;
  rtp[0] = 0x80;
  rtp[1] = 8;  // PCMA
  const uint32_t be_ssrc = htonl(ssrc);
  std::memcpy(rtp + 8, &be_ssrc, 4);
}

bool ParseIp(const std::string& text, uint32_t* ip) {
  in_addr a;
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return false;
  *ip = a.s_addr;
  return true;
}

bool LoadTargets(const std::string& path, std::vector<Stream>* streams,
                 std::vector<SprayTarget>* sprays) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string kind, a, b;
    uint32_t pa = 0, pb = 0, ia = 0, ib = 0;
    f >> kind;
    if (kind == "stream" && f >> a >> pa >> b >> pb && ParseIp(a, &ia) && ParseIp(b, &ib)) {
      Stream s;
      BuildHeader(s.header, ia, static_cast<uint16_t>(pa), ib, static_cast<uint16_t>(pb),
                  static_cast<uint32_t>(streams->size()));
      streams->push_back(s);
    } else if (kind == "spray" && f >> b >> pb && ParseIp(b, &ib)) {
      SprayTarget t;
      BuildHeader(t.header, htonl(0xc0000200u), 0, ib, static_cast<uint16_t>(pb), 0);
      t.header[14 + 10] = t.header[14 + 11] = 0;
      t.ip_sum = Ipv4Sum(t.header + 14);
      sprays->push_back(t);
    } else if (!kind.empty()) {
      std::fprintf(stderr, "overload_gen: bad line in %s: %s\n", path.c_str(), line.c_str());
      return false;
    }
  }
  return !streams->empty();
}

// One port, one queue each way, one lcore: sends and counts.
class Generator {
 public:
  Generator(uint16_t port, rte_mempool* pool, std::vector<Stream> streams,
            std::vector<SprayTarget> sprays)
      : port_(port), pool_(pool), streams_(std::move(streams)), sprays_(std::move(sprays)) {
    for (uint32_t i = 0; i < streams_.size(); ++i) order_.push_back(i);
  }

  PhaseCounts RunPhase(uint8_t id, double rate_pps, double seconds, double spray_pps);

 private:
  void Receive(uint8_t phase, PhaseCounts& c);
  void SendBurst(uint8_t phase, uint16_t legit, uint16_t spray, PhaseCounts& c);
  void FillStream(rte_mbuf* m, uint8_t phase, PhaseCounts& c, int32_t* tag);
  void FillSpray(rte_mbuf* m);
  uint32_t NextStream();

  const uint16_t port_;
  rte_mempool* const pool_;
  std::vector<Stream> streams_;
  std::vector<SprayTarget> sprays_;
  std::vector<uint32_t> order_;  // this round's order of streams
  size_t next_in_round_ = 0;
  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
  bool TopUp(uint16_t want);

  // The next burst's mbufs: refused ones (written again) and fresh ones
  // allocated a burst ahead, their first line already asked for.
  rte_mbuf* spare_[kBurst];
  uint16_t spare_count_ = 0;
};

uint32_t Generator::NextStream() {
  if (next_in_round_ == order_.size()) {
    next_in_round_ = 0;
    for (size_t i = order_.size() - 1; i > 0; --i) {
      std::swap(order_[i], order_[Below(XorShift(rng_), static_cast<uint32_t>(i + 1))]);
    }
  }
  return order_[next_in_round_++];
}

// The stream's prebuilt header, its sequence number and the phase tag:
// the first cache line of the buffer, nothing else.
void Generator::FillStream(rte_mbuf* m, uint8_t phase, PhaseCounts& c, int32_t* tag) {
  const uint32_t i = NextStream();
  Stream& s = streams_[i];
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  CopyLine(f, s.header);
  const uint16_t seq = htons(s.seq++);
  std::memcpy(f + 14 + 20 + 8 + 2, &seq, 2);
  f[kPhaseTagOffset] = phase;
  ++c.offered[i];
  *tag = static_cast<int32_t>(i);
}

// From 192.0.2.0/24 (the streams' peers are elsewhere), a random port and
// SSRC, to a random spray target.
void Generator::FillSpray(rte_mbuf* m) {
  const uint64_t r = XorShift(rng_);
  const SprayTarget& t = sprays_[Below(r, static_cast<uint32_t>(sprays_.size()))];
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  std::memcpy(f, t.header, kHeaderBytes);
  const uint8_t src_last = static_cast<uint8_t>(1 + (r >> 8) % 254);
  f[14 + 15] = src_last;
  const uint16_t check = htons(FoldChecksum(t.ip_sum + src_last));
  std::memcpy(f + 14 + 10, &check, 2);
  const uint16_t sport = htons(static_cast<uint16_t>(1024 + (r >> 16) % 60000));
  std::memcpy(f + 14 + 20, &sport, 2);
  const uint32_t ssrc = htonl(kSpraySsrcBase | static_cast<uint32_t>(r >> 40));
  std::memcpy(f + kSsrcOffset, &ssrc, 4);
}

// At least `want` mbufs ready in spare_; false if the pool is empty.
bool Generator::TopUp(uint16_t want) {
  if (spare_count_ >= want) return true;
  if (rte_pktmbuf_alloc_bulk(pool_, spare_ + spare_count_, want - spare_count_) != 0) {
    return false;
  }
  for (uint16_t i = spare_count_; i < want; ++i) {
    PrefetchForWrite(rte_pktmbuf_mtod(spare_[i], void*));
  }
  spare_count_ = want;
  return true;
}

// `legit` stream packets and `spray` sprayed ones, interleaved; what the
// ring refuses is lost (its mbufs kept for the next burst).
void Generator::SendBurst(uint8_t phase, uint16_t legit, uint16_t spray, PhaseCounts& c) {
  const uint16_t n = legit + spray;
  if (!TopUp(n)) return;  // pool empty for now: nothing offered
  rte_mbuf** pkts = spare_;
  int32_t tags[kBurst];  // stream index, or -1 for a sprayed packet
  uint16_t sprayed = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    m->data_len = m->pkt_len = kHeaderBytes + g_payload_bytes;
    // Spread the spray evenly through the burst.
    if (sprayed * n < spray * (i + 1u)) {
      FillSpray(m);
      tags[i] = -1;
      ++sprayed;
    } else {
      FillStream(m, phase, c, &tags[i]);
    }
  }
  const uint16_t sent = rte_eth_tx_burst(port_, 0, pkts, n);
  for (uint16_t i = 0; i < sent; ++i) tags[i] < 0 ? ++c.spray_accepted : ++c.accepted;
  c.spray_offered += spray;
  // The refused and the unused stay, in front; the next burst's are
  // allocated now so their lines arrive while we receive.
  spare_count_ -= sent;
  std::memmove(spare_, spare_ + sent, sizeof(rte_mbuf*) * spare_count_);
  TopUp(kBurst);
}

// Counted by SSRC (the stream's index) and the phase tag, both in the
// first line of the buffer, which the relay's core just wrote: all of a
// burst's lines are requested before any is read.
void Generator::Receive(uint8_t phase, PhaseCounts& c) {
  rte_mbuf* pkts[kBurst];
  uint16_t n;
  do {
    n = rte_eth_rx_burst(port_, 0, pkts, kBurst);
    for (uint16_t i = 0; i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (uint16_t i = 0; i < n; ++i) {
      const uint8_t* f = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
      uint32_t ssrc = UINT32_MAX;
      if (rte_pktmbuf_data_len(pkts[i]) > kHeaderBytes && f[kPhaseTagOffset] == phase) {
        std::memcpy(&ssrc, f + kSsrcOffset, 4);
        ssrc = ntohl(ssrc);
      }
      if (ssrc < streams_.size()) {
        ++c.received[ssrc];
      } else {
        ++c.stray;
      }
    }
    rte_pktmbuf_free_bulk(pkts, n);
  } while (n == kBurst);
}

PhaseCounts Generator::RunPhase(uint8_t id, double rate_pps, double seconds, double spray_pps) {
  PhaseCounts c;
  c.offered.assign(streams_.size(), 0);
  c.received.assign(streams_.size(), 0);
  if (sprays_.empty()) spray_pps = 0;
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const uint64_t start = rte_get_tsc_cycles();
  const uint64_t end = start + static_cast<uint64_t>(seconds * hz);
  uint64_t legit_sent = 0, spray_sent = 0;
  const uint64_t max_backlog =
      std::max(kMinBacklog, static_cast<uint64_t>((rate_pps + spray_pps) * kCatchUpSeconds));
  // What the wire may have carried by now: the schedule, or after a
  // stall, the schedule's pace plus kMakeUpShare until it is back on it.
  double legit_limit = 0, last_t = 0;
  for (uint64_t now = start; now < end; now = rte_get_tsc_cycles()) {
    Receive(id, c);
    const double t = static_cast<double>(now - start) / hz;
    legit_limit = std::min(rate_pps * t, legit_limit + (1 + kMakeUpShare) * rate_pps * (t - last_t));
    last_t = t;
    // Due so far on the wire; flat out (rate 0) always has a burst due.
    uint64_t legit_due = rate_pps > 0 ? static_cast<uint64_t>(legit_limit) - legit_sent : kBurst;
    uint64_t spray_due = static_cast<uint64_t>(spray_pps * t) - spray_sent;
    // A wire does not catch up at once: after the generator lost the CPU
    // for a while, what fell due meanwhile is deferred (made up at the
    // pace above), not blasted at the relay faster than the target rate.
    if (rate_pps > 0 && legit_due > max_backlog) {
      c.deferred += legit_due - max_backlog;
      legit_limit = static_cast<double>(legit_sent + max_backlog);
      legit_due = max_backlog;
    }
    if (spray_due > max_backlog) {
      spray_sent += spray_due - max_backlog;
      spray_due = max_backlog;
    }
    // Whole bursts only (a few microseconds of the wire at these rates):
    // a burst's fixed cost spread over a handful of packets would keep a
    // paced generator below its flat-out rate.
    if (legit_due + spray_due < kBurst && rate_pps * seconds >= kBurst) continue;
    while (legit_due + spray_due > 0) {
      const uint64_t total = legit_due + spray_due;
      const uint64_t n = total < kBurst ? total : kBurst;
      const uint16_t spray = static_cast<uint16_t>(n * spray_due / total);
      const uint16_t legit = static_cast<uint16_t>(n - spray);
      SendBurst(id, legit, spray, c);
      legit_sent += legit;
      spray_sent += spray;
      legit_due -= legit;
      spray_due -= spray;
      if (rate_pps <= 0) break;
      Receive(id, c);
    }
  }
  const uint64_t drain_end = rte_get_tsc_cycles() + static_cast<uint64_t>(kDrainSeconds * hz);
  while (rte_get_tsc_cycles() < drain_end) Receive(id, c);
  return c;
}

void PrintCounts(uint8_t id, double seconds, const PhaseCounts& c) {
  std::printf("{\"phase\":%u,\"seconds\":%.3f,\"accepted\":%llu,\"spray_offered\":%llu,"
              "\"spray_accepted\":%llu,\"stray\":%llu,\"deferred\":%llu,\"offered\":%s,"
              "\"received\":%s}\n",
              id, seconds, static_cast<unsigned long long>(c.accepted),
              static_cast<unsigned long long>(c.spray_offered),
              static_cast<unsigned long long>(c.spray_accepted),
              static_cast<unsigned long long>(c.stray),
              static_cast<unsigned long long>(c.deferred),
              rtplatch::JsonCountList(c.offered).c_str(),
              rtplatch::JsonCountList(c.received).c_str());
  std::fflush(stdout);
}

bool StartPort(uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  uint16_t rxd = kRingDescriptors, txd = kRingDescriptors;
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
      rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd) != 0 ||
      rte_eth_rx_queue_setup(port, 0, rxd, rte_eth_dev_socket_id(port), nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, txd, rte_eth_dev_socket_id(port), nullptr) != 0 ||
      rte_eth_dev_start(port) != 0) {
    return false;
  }
  // The memif peer (the dataplane) must be connected before a phase.
  for (int i = 0; i < 300; ++i) {
    rte_eth_link link{};
    rte_eth_link_get_nowait(port, &link);
    if (link.link_status == RTE_ETH_LINK_UP) return true;
    rte_delay_ms(100);
  }
  std::fprintf(stderr, "overload_gen: memif link not up after 30 s\n");
  return false;
}

// Whether the memif runs zero-copy: only then does its receive ring hold
// the generator's own mbufs (refilled on the first rx call), while a
// copying memif takes none until a packet arrives.
bool ZeroCopy(uint16_t port, rte_mempool* pool) {
  rte_mbuf* pkts[kBurst];
  const uint16_t n = rte_eth_rx_burst(port, 0, pkts, kBurst);
  rte_pktmbuf_free_bulk(pkts, n);
  return rte_mempool_in_use_count(pool) >= kBurst;
}

// Commands from stdin until "quit" or end of input.
void Serve(Generator& gen) {
  char line[256];
  while (std::fgets(line, sizeof(line), stdin) != nullptr) {
    unsigned id = 0;
    double rate = 0, seconds = 0, spray = 0;
    if (std::strncmp(line, "quit", 4) == 0) break;
    if (std::sscanf(line, "phase %u %lf %lf %lf", &id, &rate, &seconds, &spray) < 3 || id > 255) {
      std::fprintf(stderr, "overload_gen: bad command: %s", line);
      std::printf("{\"error\":\"bad command\"}\n");
      std::fflush(stdout);
      continue;
    }
    PrintCounts(static_cast<uint8_t>(id), seconds,
                gen.RunPhase(static_cast<uint8_t>(id), rate, seconds, spray));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int eal = rte_eal_init(argc, argv);
  if (eal < 0) {
    std::fprintf(stderr, "overload_gen: EAL init failed\n");
    return 1;
  }
  std::string targets;
  for (int i = eal + 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--targets") == 0) targets = argv[i + 1];
    if (std::strcmp(argv[i], "--payload") == 0) g_payload_bytes = std::atoi(argv[i + 1]);
  }
  std::vector<Stream> streams;
  std::vector<SprayTarget> sprays;
  if (targets.empty() || !LoadTargets(targets, &streams, &sprays)) {
    std::fprintf(stderr, "usage: overload_gen <EAL args> -- --targets FILE (with streams)\n");
    return 2;
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("overload_gen", kPoolMbufs, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool == nullptr || rte_eth_dev_count_avail() < 1 || !StartPort(0, pool)) {
    std::fprintf(stderr, "overload_gen: port 0 (net_memif) did not start\n");
    return 1;
  }
  std::printf("{\"ready\":true,\"streams\":%zu,\"spray_targets\":%zu,\"zero_copy\":%s}\n",
              streams.size(), sprays.size(), ZeroCopy(0, pool) ? "true" : "false");
  std::fflush(stdout);
  Generator gen(0, pool, std::move(streams), std::move(sprays));
  Serve(gen);
  rte_eth_dev_stop(0);
  rte_eth_dev_close(0);
  rte_eal_cleanup();
  return 0;
}
