// The dataplane under EAL on in-process ring ports: requests go through
// the real control handler, frames through the real lcore poll loop, and
// what comes out is decoded here and by tshark.
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "dataplane/dpdk/dataplane.h"
#include "nlohmann/json.hpp"
#include "tests/dataplane/fastpath/frame_builder.h"

namespace rtplatch {
namespace {

using json = nlohmann::json;
using testing::BuildRtpFrame;
using testing::DecodeFrame;
using testing::RtpSpec;

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

struct RingPort {
  rte_ring* rx;  // we enqueue: frames arriving at the dataplane
  rte_ring* tx;  // we dequeue: frames the dataplane sent
  uint16_t port_id;
};

RingPort MakeRingPort(const std::string& name) {
  RingPort p;
  p.rx = rte_ring_create((name + "_rx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.tx = rte_ring_create((name + "_tx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  int id = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, 0);
  p.port_id = static_cast<uint16_t>(id);
  return p;
}

// A port with two queues (one per lcore): rx[q] / tx[q].
struct TwoQueuePort {
  rte_ring* rx[2];
  rte_ring* tx[2];
  uint16_t port_id;
};

TwoQueuePort MakeTwoQueuePort(const std::string& name) {
  TwoQueuePort p;
  for (int q = 0; q < 2; ++q) {
    std::string n = name + std::to_string(q);
    p.rx[q] = rte_ring_create((n + "_rx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    p.tx[q] = rte_ring_create((n + "_tx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  }
  p.port_id = static_cast<uint16_t>(rte_eth_from_rings(name.c_str(), p.rx, 2, p.tx, 2, 0));
  return p;
}

// Writes frames as a classic pcap for tshark.
void WritePcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames) {
  std::ofstream f(path, std::ios::binary);
  uint32_t header[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
  f.write(reinterpret_cast<char*>(header), sizeof(header));
  for (const auto& fr : frames) {
    uint32_t rec[4] = {0, 0, static_cast<uint32_t>(fr.size()), static_cast<uint32_t>(fr.size())};
    f.write(reinterpret_cast<char*>(rec), sizeof(rec));
    f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
  }
}

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class DataplaneDpdkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    media_ = MakeRingPort("media");
    exception_ = MakeRingPort("kernel");
    pool_ = rte_pktmbuf_pool_create("test_in", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(pool_, nullptr);
    DataplaneConfig config;
    config.media_port = media_.port_id;
    config.exception_port = exception_.port_id;
    config.relay_addresses = {Ip("203.0.113.10"), Ip("2001:db8::10")};
    config.port_min = 20000;
    config.port_max = 20199;
    config.latch = LatchConfig{3, 10'000'000'000ull, 10'000'000'000ull};
    config.mbufs_per_lcore = 2047;
    config.rx_descriptors = 256;
    config.tx_descriptors = 256;
    auto d = Dataplane::Create(config, {rte_get_main_lcore()});
    ASSERT_TRUE(d.ok()) << d.status();
    dataplane_ = d->release();
    // Peers' MACs, as the dataplane would learn them from ARP.
    const uint8_t mac[6] = {0x02, 0xaa, 0, 0, 0, 0x01};
    for (const char* ip : {"203.0.113.20", "203.0.113.30", "2001:db8::20"}) {
      dataplane_->neighbors().Learn(Ip(ip), mac);
    }
  }
  static void TearDownTestSuite() {
    delete dataplane_;
    dataplane_ = nullptr;
  }

  json Request(json r) {
    r["v"] = 1;
    json reply = json::parse(dataplane_->HandleRequest(r.dump()));
    Poll();  // the lcore applies the resulting commands
    return reply;
  }
  void Poll() { PollOnce(dataplane_->lcore(0)); }
  json Stats() { return Request({{"cmd", "stats"}})["result"]; }

  void Inject(RingPort& port, const std::vector<uint8_t>& frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
                frame.size());
    ASSERT_EQ(rte_ring_enqueue(port.rx, m), 0);
  }
  std::vector<std::vector<uint8_t>> Collect(RingPort& port) {
    std::vector<std::vector<uint8_t>> out;
    void* m;
    while (rte_ring_dequeue(port.tx, &m) == 0) {
      auto* mb = static_cast<rte_mbuf*>(m);
      std::vector<uint8_t> frame(rte_pktmbuf_pkt_len(mb));  // fragments are mbuf chains
      const void* data = rte_pktmbuf_read(mb, 0, static_cast<uint32_t>(frame.size()), frame.data());
      if (data != frame.data()) std::memcpy(frame.data(), data, frame.size());
      out.push_back(std::move(frame));
      rte_pktmbuf_free(mb);
    }
    return out;
  }
  std::vector<std::vector<uint8_t>> SendRtp(const char* src, uint16_t src_port,
                                            const std::string& relay, uint16_t relay_port,
                                            int count = 1, uint32_t ssrc = 7) {
    for (int i = 0; i < count; ++i) {
      RtpSpec s{Ip(src), Ip(relay.c_str()), src_port, relay_port};
      s.ssrc = ssrc;
      s.seq = static_cast<uint16_t>(i + 1);
      Inject(media_, BuildRtpFrame(s));
    }
    Poll();
    return Collect(media_);
  }

  static inline RingPort media_, exception_;
  static inline rte_mempool* pool_ = nullptr;
  static inline Dataplane* dataplane_ = nullptr;
};

std::pair<std::string, uint16_t> Relay(const json& stream) {
  auto ep = *Endpoint::Parse(stream["relay"].get<std::string>());
  return {ep.ip.ToString(), ep.port};
}

TEST_F(DataplaneDpdkTest, RelaysBothWaysWithValidChecksumsPerTshark) {
  json r = Request({{"cmd", "allocate"}, {"id", "call-1"},
                    {"a", {{"peer", "192.0.2.2:4000"}}}, {"b", {{"peer", "203.0.113.20:5000"}}}});
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  auto [a_ip, a_port] = Relay(r["result"]["a"]);
  auto [b_ip, b_port] = Relay(r["result"]["b"]);

  auto up = SendRtp("203.0.113.30", 31000, a_ip, a_port, 5);
  auto down = SendRtp("203.0.113.20", 5000, b_ip, b_port, 5);
  ASSERT_EQ(up.size(), 5u);
  ASSERT_EQ(down.size(), 5u);
  for (const auto& f : up) {
    auto d = DecodeFrame(f.data(), f.size());
    EXPECT_EQ(d.dst, Ip("203.0.113.20"));
    EXPECT_EQ(d.dst_port, 5000);
    EXPECT_EQ(d.src_port, b_port);
  }
  for (const auto& f : down) {
    auto d = DecodeFrame(f.data(), f.size());
    EXPECT_EQ(d.dst, Ip("203.0.113.30"));
    EXPECT_EQ(d.dst_port, 31000);
    EXPECT_EQ(d.src_port, a_port);
  }

  // A real decoder's opinion of the bytes.
  if (RunCommand("command -v tshark").empty()) GTEST_SKIP() << "tshark not installed";
  std::string pcap = "/tmp/rtplatch-dpdk-test-" + std::to_string(getpid()) + ".pcap";
  std::vector<std::vector<uint8_t>> all = up;
  all.insert(all.end(), down.begin(), down.end());
  WritePcap(pcap, all);
  std::string fields = RunCommand(
      "tshark -r " + pcap + " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
      "-T fields -E separator=, -e ip.src -e udp.srcport -e ip.dst -e udp.dstport "
      "-e ip.checksum.status -e udp.checksum.status 2>&1");
  std::remove(pcap.c_str());
  std::string expect_up = "203.0.113.10," + std::to_string(b_port) + ",203.0.113.20,5000,1,1";
  std::string expect_down = "203.0.113.10," + std::to_string(a_port) + ",203.0.113.30,31000,1,1";
  // tshark checksum status: 0 bad, 1 good, 2 unverified.
  size_t ups = 0, downs = 0;
  std::istringstream lines(fields);
  for (std::string line; std::getline(lines, line);) {
    ups += line == expect_up;
    downs += line == expect_down;
  }
  EXPECT_EQ(ups, 5u) << fields;
  EXPECT_EQ(downs, 5u) << fields;
}

TEST_F(DataplaneDpdkTest, RtpBleedSprayGetsNothingAndIsCounted) {
  json r = Request({{"cmd", "allocate"}, {"a", {{"peer", "192.0.2.2:4000"}}},
                    {"b", {{"peer", "203.0.113.20:5000"}}}});
  auto [a_ip, a_port] = Relay(r["result"]["a"]);
  ASSERT_EQ(SendRtp("203.0.113.30", 31000, a_ip, a_port, 3).size(), 3u);  // window: 3
  json before = Request({{"cmd", "stats"}});
  auto sprayed = SendRtp("203.0.113.66", 40000, a_ip, a_port, 20, 99);
  EXPECT_TRUE(sprayed.empty());
  json after = Request({{"cmd", "stats"}});
  EXPECT_EQ(after["result"]["total"]["drops"]["not_latched_peer"].get<uint64_t>() -
                before["result"]["total"]["drops"]["not_latched_peer"].get<uint64_t>(),
            20u);
  json q = Request({{"cmd", "query"}, {"stream", r["result"]["a"]["stream"]}});
  EXPECT_EQ(q["result"]["state"], "locked");
  EXPECT_EQ(q["result"]["learned_peer"], "203.0.113.30:31000");
  EXPECT_EQ(q["result"]["drops"].get<uint64_t>(), 20u);
}

TEST_F(DataplaneDpdkTest, ArpAndSipPassThroughTheExceptionPathUnchanged) {
  std::vector<uint8_t> arp(60, 0);
  std::memset(arp.data(), 0xff, 6);
  std::memcpy(arp.data() + 6, testing::kPeerMac, 6);
  arp[12] = 0x08;
  arp[13] = 0x06;
  arp[14 + 7] = 1;
  Inject(media_, arp);
  auto sip = BuildRtpFrame({Ip("203.0.113.20"), Ip("203.0.113.10"), 5060, 5060});
  Inject(media_, sip);
  Poll();
  auto to_kernel = Collect(exception_);
  ASSERT_EQ(to_kernel.size(), 2u);
  EXPECT_EQ(to_kernel[0], arp);
  EXPECT_EQ(to_kernel[1], sip);
  // And the kernel's reply goes out of the media port untouched.
  auto reply = BuildRtpFrame({Ip("203.0.113.10"), Ip("203.0.113.20"), 5060, 5060});
  Inject(exception_, reply);
  Poll();
  auto out = Collect(media_);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], reply);
}

// A datagram for the kernel longer than the exception port's frames (as
// af_packet hands over reassembled ones): IP fragments that fit, whose
// payloads put together are the datagram, each with a valid header.
TEST_F(DataplaneDpdkTest, LongDatagramsReachTheKernelAsFragments) {
  uint16_t mtu = 0;
  ASSERT_EQ(rte_eth_dev_get_mtu(exception_.port_id, &mtu), 0);
  for (const char* src : {"203.0.113.20", "2001:db8::20"}) {
    const bool v6 = std::string(src).find(':') != std::string::npos;
    RtpSpec spec{Ip(src), Ip(v6 ? "2001:db8::10" : "203.0.113.10"), 5060, 5060};
    spec.payload = 1800;  // a SIP INVITE with ICE candidates
    const std::vector<uint8_t> whole = BuildRtpFrame(spec);
    const size_t l3 = v6 ? 40 : 20;
    const std::vector<uint8_t> datagram(whole.begin() + 14 + l3, whole.end());
    const uint64_t before = Stats()["total"]["exception_fragments"].get<uint64_t>();
    Inject(media_, whole);
    Poll();
    auto fragments = Collect(exception_);
    ASSERT_EQ(fragments.size(), 2u) << src;
    std::vector<uint8_t> joined(datagram.size());
    size_t covered = 0;
    for (const auto& f : fragments) {
      ASSERT_LE(f.size(), 14u + mtu) << src;
      EXPECT_TRUE(std::equal(f.begin(), f.begin() + 14, whole.begin())) << "Ethernet header kept";
      const uint8_t* ip = f.data() + 14;
      size_t offset, header;
      if (v6) {
        ASSERT_EQ(ip[6], 44) << "IPv6 fragment header";
        const uint8_t* fh = ip + 40;
        EXPECT_EQ(fh[0], 17);
        offset = ((size_t{fh[2]} << 8 | fh[3]) & ~size_t{7});
        header = 48;
      } else {
        EXPECT_EQ(testing::Fold(testing::Sum16(ip, 20)), 0xffff) << "IPv4 header checksum";
        offset = ((size_t{ip[6]} << 8 | ip[7]) & 0x1fff) * 8;
        header = 20;
      }
      const size_t len = f.size() - 14 - header;
      ASSERT_LE(offset + len, joined.size());
      std::memcpy(joined.data() + offset, ip + header, len);
      covered += len;
    }
    EXPECT_EQ(covered, datagram.size()) << src;
    EXPECT_EQ(joined, datagram) << src;
    EXPECT_EQ(Stats()["total"]["exception_fragments"].get<uint64_t>() - before, 2u);
  }
}

TEST_F(DataplaneDpdkTest, UnknownNextHopIsSolicitedWithArp) {
  json r = Request({{"cmd", "allocate"}, {"a", json::object()},
                    {"b", {{"peer", "198.51.100.50:5000"}}}});
  auto [a_ip, a_port] = Relay(r["result"]["a"]);
  auto out = SendRtp("203.0.113.30", 31000, a_ip, a_port, 3);
  ASSERT_EQ(out.size(), 1u) << "one ARP request, rate-limited";
  const auto& f = out[0];
  EXPECT_EQ(f[12], 0x08);
  EXPECT_EQ(f[13], 0x06);
  EXPECT_EQ(Ip("198.51.100.50"), IpAddress::FromV4Bytes(f.data() + 14 + 24));
  EXPECT_EQ(Ip("203.0.113.10"), IpAddress::FromV4Bytes(f.data() + 14 + 14));
}

TEST_F(DataplaneDpdkTest, LatchEventReachesSubscribers) {
  dataplane_->DrainEventLines();  // earlier tests' events
  json r = Request({{"cmd", "allocate"}, {"a", {{"peer", "192.0.2.2:4000"}}},
                    {"b", {{"peer", "203.0.113.20:5000"}}}});
  auto [a_ip, a_port] = Relay(r["result"]["a"]);
  SendRtp("203.0.113.30", 31000, a_ip, a_port, 1);
  bool seen = false;
  for (const std::string& line : dataplane_->DrainEventLines()) {
    json e = json::parse(line);
    if (e["event"] == "latched" && e["stream"] == r["result"]["a"]["stream"]) {
      EXPECT_EQ(e["peer"], "203.0.113.30:31000");
      seen = true;
    }
  }
  EXPECT_TRUE(seen);
}

// Both phones behind NAT (no SDP peer to send to): a's first packets wait
// in the lcore until b speaks, then leave; nothing is lost. Unanswered,
// they are dropped after the hold time and counted.
TEST_F(DataplaneDpdkTest, FirstPacketsWaitForTheOtherNatPhone) {
  auto drops = [&] {
    return Request({{"cmd", "stats"}})["result"]["total"]["drops"]["no_peer_known"]
        .get<uint64_t>();
  };
  const uint64_t before = drops();
  json r = Request({{"cmd", "allocate"}, {"a", json::object()}, {"b", json::object()}});
  auto [a_ip, a_port] = Relay(r["result"]["a"]);
  auto [b_ip, b_port] = Relay(r["result"]["b"]);
  EXPECT_TRUE(SendRtp("203.0.113.30", 31000, a_ip, a_port, 3).empty());
  Poll();
  EXPECT_TRUE(Collect(media_).empty()) << "held until b has a destination";
  auto out = SendRtp("203.0.113.20", 5000, b_ip, b_port, 1);
  ASSERT_EQ(out.size(), 4u) << "b's packet and a's three held ones";
  size_t to_b = 0, to_a = 0;
  for (const auto& f : out) {
    auto d = DecodeFrame(f.data(), f.size());
    EXPECT_TRUE(d.udp_checksum_ok && d.ip_checksum_ok);
    to_b += d.dst == Ip("203.0.113.20") && d.dst_port == 5000 && d.src_port == b_port;
    to_a += d.dst == Ip("203.0.113.30") && d.dst_port == 31000 && d.src_port == a_port;
  }
  EXPECT_EQ(to_b, 3u);
  EXPECT_EQ(to_a, 1u);
  EXPECT_EQ(drops(), before);

  // Nobody answers: after the hold time the packets are dropped, counted.
  json lone = Request({{"cmd", "allocate"}, {"a", json::object()}, {"b", json::object()}});
  auto [l_ip, l_port] = Relay(lone["result"]["a"]);
  EXPECT_TRUE(SendRtp("203.0.113.30", 31002, l_ip, l_port, 2).empty());
  std::this_thread::sleep_for(std::chrono::nanoseconds(kHoldNs + 50'000'000));
  Poll();
  EXPECT_TRUE(Collect(media_).empty());
  EXPECT_EQ(drops(), before + 2);
}

TEST_F(DataplaneDpdkTest, Ipv6ToIpv4BridgeOverMbufs) {
  json r = Request({{"cmd", "allocate"}, {"a", {{"family", "ipv6"}, {"peer", "[2001:db8::20]:6000"}}},
                    {"b", {{"peer", "203.0.113.20:5000"}}}});
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  auto [a_ip, a_port] = Relay(r["result"]["a"]);
  auto [b_ip, b_port] = Relay(r["result"]["b"]);
  auto to_v6 = SendRtp("203.0.113.20", 5000, b_ip, b_port, 1);
  ASSERT_EQ(to_v6.size(), 1u);
  auto d6 = DecodeFrame(to_v6[0].data(), to_v6[0].size());
  EXPECT_TRUE(d6.v6);
  EXPECT_EQ(d6.dst, Ip("2001:db8::20"));
  EXPECT_TRUE(d6.udp_checksum_ok);
  auto to_v4 = SendRtp("2001:db8::20", 6000, a_ip, a_port, 1);
  ASSERT_EQ(to_v4.size(), 1u);
  auto d4 = DecodeFrame(to_v4[0].data(), to_v4[0].size());
  EXPECT_FALSE(d4.v6);
  EXPECT_EQ(d4.dst, Ip("203.0.113.20"));
  EXPECT_TRUE(d4.ip_checksum_ok && d4.udp_checksum_ok);
}

// Keepalives leave the media port as real UDP datagrams from the SIP
// socket's address, every interval, until removed.
TEST_F(DataplaneDpdkTest, KeepalivesAreEmittedEveryIntervalUntilRemoved) {
  Collect(media_);
  json add = Request({{"cmd", "keepalive_add"},
                      {"targets", {{{"target", "203.0.113.30:4000"}, {"source", "203.0.113.10:5060"},
                                    {"interval_ms", 100}},
                                   {{"target", "[2001:db8::20]:5062"},
                                    {"source", "[2001:db8::10]:5060"},
                                    {"payload", {{"text", "OPTIONS sip:x SIP/2.0\r\n\r\n"}}},
                                    {"interval_ms", 100}}}}});
  ASSERT_TRUE(add["ok"].get<bool>()) << add.dump();
  auto step_for = [&](int ms) {
    std::vector<std::vector<uint8_t>> frames;
    uint64_t end = dataplane_->clock().NowNs() + uint64_t(ms) * 1'000'000;
    while (dataplane_->clock().NowNs() < end) {
      Poll();
      for (auto& f : Collect(media_)) frames.push_back(std::move(f));
      usleep(200);
    }
    return frames;
  };
  auto frames = step_for(450);
  size_t v4 = 0, v6 = 0;
  for (const auto& f : frames) {
    auto d = DecodeFrame(f.data(), f.size());
    ASSERT_TRUE(d.ok);
    EXPECT_TRUE(d.ip_checksum_ok && d.udp_checksum_ok);
    EXPECT_EQ(d.src_port, 5060);
    if (!d.v6) {
      EXPECT_EQ(d.dst, Ip("203.0.113.30"));
      EXPECT_EQ(d.payload, std::vector<uint8_t>({'\r', '\n', '\r', '\n'}));
      ++v4;
    } else {
      EXPECT_EQ(d.dst, Ip("2001:db8::20"));
      EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), "OPTIONS sip:x SIP/2.0\r\n\r\n");
      ++v6;
    }
  }
  EXPECT_GE(v4, 4u);
  EXPECT_LE(v4, 5u);
  EXPECT_GE(v6, 4u);
  EXPECT_LE(v6, 5u);
  json q = Request({{"cmd", "keepalive_query"}, {"id", add["result"]["ids"][0]}});
  EXPECT_EQ(q["result"]["sent"].get<uint64_t>(), v4);
  // A real decoder's opinion of the emitted bytes.
  if (!RunCommand("command -v tshark").empty()) {
    std::string pcap = "/tmp/rtplatch-keepalive-test-" + std::to_string(getpid()) + ".pcap";
    WritePcap(pcap, frames);
    std::string fields = RunCommand(
        "tshark -r " + pcap + " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
        "-T fields -E separator=, -e ip.dst -e ipv6.dst -e udp.srcport -e udp.dstport "
        "-e udp.checksum.status -e udp.payload 2>&1");
    std::remove(pcap.c_str());
    size_t good_v4 = 0, good_v6 = 0;
    std::istringstream lines(fields);
    for (std::string line; std::getline(lines, line);) {
      // tshark checksum status: 1 good; payload as hex.
      good_v4 += line == "203.0.113.30,,5060,4000,1,0d0a0d0a";
      good_v6 += line.rfind(",2001:db8::20,5060,5062,1,", 0) == 0;
    }
    EXPECT_EQ(good_v4, v4) << fields;
    EXPECT_EQ(good_v6, v6) << fields;
  }
  json rm = Request({{"cmd", "keepalive_remove"}, {"ids", add["result"]["ids"]}});
  ASSERT_TRUE(rm["ok"].get<bool>()) << rm.dump();
  EXPECT_TRUE(step_for(250).empty()) << "removed targets must stay silent";
  json stats = Request({{"cmd", "stats"}});
  EXPECT_EQ(stats["result"]["total"]["keepalives"], 0);
  EXPECT_EQ(stats["result"]["total"]["keepalives_sent"].get<uint64_t>(), v4 + v6);
}

// Two forwarding lcores (stepped here on the main thread): a packet that
// arrives on the wrong lcore's queue is handed to the stream's owner, which
// relays it on its own tx queue.
TEST(DataplaneTwoLcoreTest, PacketOnForeignQueueIsHandedToOwner) {
  TwoQueuePort media = MakeTwoQueuePort("media2q");
  TwoQueuePort kernel = MakeTwoQueuePort("kernel2q");
  rte_mempool* pool = rte_pktmbuf_pool_create("test_in2", 511, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(pool, nullptr);
  DataplaneConfig config;
  config.media_port = media.port_id;
  config.exception_port = kernel.port_id;
  config.relay_addresses = {Ip("203.0.113.10")};
  config.port_min = 20000;
  config.port_max = 20099;
  config.mbufs_per_lcore = 1023;
  config.rx_descriptors = 256;
  config.tx_descriptors = 256;
  unsigned main_lcore = rte_get_main_lcore();
  auto made = Dataplane::Create(config, {main_lcore, main_lcore});
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<Dataplane> dp = std::move(*made);
  const uint8_t mac[6] = {0x02, 0xaa, 0, 0, 0, 0x01};
  dp->neighbors().Learn(Ip("203.0.113.20"), mac);
  dp->neighbors().Learn(Ip("203.0.113.30"), mac);
  auto step = [&] {
    for (int round = 0; round < 2; ++round) {
      PollOnce(dp->lcore(0));
      PollOnce(dp->lcore(1));
    }
  };
  // Allocations alternate lcores: the second pair lives on lcore index 1.
  json first = json::parse(dp->HandleRequest(
      R"({"v":1,"cmd":"allocate","a":{"peer":"203.0.113.30:31000"},"b":{"peer":"203.0.113.20:5000"}})"));
  json second = json::parse(dp->HandleRequest(
      R"({"v":1,"cmd":"allocate","a":{"peer":"203.0.113.30:31000"},"b":{"peer":"203.0.113.20:5000"}})"));
  ASSERT_EQ(first["result"]["a"]["lcore"], 0);
  ASSERT_EQ(second["result"]["a"]["lcore"], 1);
  step();
  auto relay = *Endpoint::Parse(second["result"]["a"]["relay"].get<std::string>());
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  auto frame = BuildRtpFrame({Ip("203.0.113.30"), relay.ip, 31000, relay.port});
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
  ASSERT_EQ(rte_ring_enqueue(media.rx[0], m), 0);  // RSS put it on lcore 0's queue
  step();
  void* out = nullptr;
  EXPECT_NE(rte_ring_dequeue(media.tx[0], &out), 0) << "lcore 0 must not send it itself";
  ASSERT_EQ(rte_ring_dequeue(media.tx[1], &out), 0) << "the owner (lcore 1) relays it";
  auto* mb = static_cast<rte_mbuf*>(out);
  auto d = DecodeFrame(rte_pktmbuf_mtod(mb, uint8_t*), rte_pktmbuf_data_len(mb));
  EXPECT_EQ(d.dst, Ip("203.0.113.20"));
  EXPECT_EQ(d.dst_port, 5000);
  rte_pktmbuf_free(mb);
  json stats = json::parse(dp->HandleRequest(R"({"v":1,"cmd":"stats"})"));
  EXPECT_EQ(stats["result"]["total"]["handoff"], 1);
  EXPECT_EQ(stats["result"]["total"]["relayed"], 1);
}

}  // namespace
}  // namespace rtplatch

int main(int argc, char** argv) {
  std::string prefix = "rtplatch-test-" + std::to_string(getpid());
  const char* eal[] = {"dataplane_dpdk_test", "-l", "0", "--no-huge", "-m", "256",
                       "--no-pci", "--no-shconf", "--file-prefix", prefix.c_str(),
                       "--log-level", "lib.eal:error"};
  if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "EAL init failed (needs root or hugepage-less permissions)\n");
    return 77;  // meson: skipped
  }
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  rte_eal_cleanup();
  return rc;
}
