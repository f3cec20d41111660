// Per-packet cost of each fast-path step, without EAL: classify + lookup,
// the latch decision, the header rewrite, the whole ProcessFrame, and the
// locked-peer path the lcore takes first (ForwardLockedV4), at
// small and large table sizes (random streams, so a large table misses
// cache as it would in production); and what a sprayed packet costs (a
// non-latched source at a locked stream, or an unallocated relay port).
//
//   build/bench/fast_path_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <string>

#include "dataplane/fastpath/fast_path.h"
#include "dataplane/fastpath/forward_locked.h"
#include "dataplane/fastpath/packet_rewrite.h"
#include "dataplane/control/stream_registry.h"
#include "tests/dataplane/fastpath/frame_builder.h"

namespace rtplatch {
namespace {

constexpr size_t kHeadroom = 128;
constexpr size_t kFrames = 4096;  // distinct frames cycled through

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }

// A table with `streams` allocated streams (pairs of them), latched, and
// frames from each stream's locked peer addressed to random streams.
class Fixture {
 public:
  explicit Fixture(size_t streams) {
    std::vector<IpAddress> addrs;
    size_t per_address = 60000;  // ports 2000..61999 -> 30000 streams/address
    for (size_t i = 0; i * (per_address / 2) < streams; ++i) {
      addrs.push_back(IpAddress::FromV4(0xcb007100u + static_cast<uint32_t>(i) + 1));
    }
    table_ = std::move(*FlowTable::Create(std::move(*RelayAddresses::Create(addrs)), 2000,
                                          static_cast<uint16_t>(2000 + per_address - 1)));
    registry_ = std::make_unique<StreamRegistry>(*table_, std::vector{&commands_},
                                                 LatchPolicy::kLearn, [this] { Drain(); });
    ctx_.table = table_.get();
    ctx_.neighbors = &neighbors_;
    ctx_.counters = &counters_;
    ctx_.events = &events_;
    ctx_.latch = LatchConfig{1, 1, 1'000'000'000};
    ctx_.lcore_count = 1;
    const uint8_t mac[6] = {2, 0, 0, 0, 0, 9};
    neighbors_.Learn(Ip("198.51.100.1"), mac);
    std::vector<Endpoint> relays;
    for (size_t i = 0; i < streams / 2; ++i) {
      uint16_t port = static_cast<uint16_t>(1024 + (i % 60000));
      LegRequest a{false, Endpoint{Ip("198.51.100.1"), port}};
      LegRequest b{false, Endpoint{Ip("198.51.100.1"), static_cast<uint16_t>(port + 1)}};
      auto pair = registry_->Allocate(a, b, "", 0);
      relays.push_back(pair->a.relay);
      relays.push_back(pair->b.relay);
    }
    Drain();
    std::mt19937 rng(42);
    for (size_t i = 0; i < kFrames; ++i) {
      const Endpoint& to = relays[rng() % relays.size()];
      testing::RtpSpec s{Ip("198.51.100.1"), to.ip, static_cast<uint16_t>(40000 + to.port % 1000),
                         to.port};
      frames_.push_back(testing::BuildRtpFrame(s, kHeadroom));
    }
    // First pass (on copies) latches every stream a frame addresses.
    for (auto f : frames_) Process(f);
  }

  PacketVerdict Process(std::vector<uint8_t>& f) {
    return ProcessFrame(ctx_, f.data() + kHeadroom, static_cast<uint32_t>(f.size() - kHeadroom),
                        kHeadroom, 1'000'000);
  }
  std::vector<std::vector<uint8_t>>& frames() { return frames_; }
  const FlowTable& table() const { return *table_; }
  FastPathContext& ctx() { return ctx_; }

 private:
  void Drain() {
    FlowCommand c;
    while (commands_.Pop(&c)) ApplyFlowCommand(*table_, c);
  }

  std::unique_ptr<FlowTable> table_;
  SpscRing<FlowCommand> commands_{1 << 16};
  SpscRing<DataplaneEvent> events_{1 << 20};
  std::unique_ptr<StreamRegistry> registry_;
  NeighborTable neighbors_{8};
  LcoreCounters counters_;
  FastPathContext ctx_{};
  std::vector<std::vector<uint8_t>> frames_;
};

Fixture& FixtureFor(size_t streams) {
  static std::map<size_t, std::unique_ptr<Fixture>> fixtures;
  auto& f = fixtures[streams];
  if (!f) f = std::make_unique<Fixture>(streams);
  return *f;
}

void BM_ClassifyAndLookup(benchmark::State& state) {
  Fixture& fx = FixtureFor(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  uint64_t sum = 0;
  for (auto _ : state) {
    auto& f = fx.frames()[i++ % kFrames];
    RelayPacket pkt;
    ClassifyFrame(f.data() + kHeadroom, static_cast<uint32_t>(f.size() - kHeadroom),
                  fx.table(), &pkt);
    sum += static_cast<uint8_t>(fx.table().at(pkt.slot).state);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ClassifyAndLookup)->Arg(1000)->Arg(100000)->Arg(1000000);

void BM_LatchDecisionForward(benchmark::State& state) {
  Flow flow{};
  flow.state = LatchState::kLocked;
  flow.peer_ip = Ip("198.51.100.1");
  flow.peer_port = 40000;
  PacketSource src{flow.peer_ip, 40000, 7};
  LatchConfig config;
  uint64_t now = 0;
  for (auto _ : state) {
    LatchDecision d = DecideLatch(flow, src, ++now, config);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LatchDecisionForward);

void BM_Rewrite(benchmark::State& state) {
  const bool to_v6 = state.range(0) != 0;
  auto addrs = RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")});
  auto table = std::move(*FlowTable::Create(std::move(*addrs), 20000, 20099));
  auto tmpl = testing::BuildRtpFrame({Ip("198.51.100.7"), Ip("203.0.113.10"), 31000, 20000},
                                     kHeadroom);
  auto work = tmpl;
  RelayPacket pkt;
  ClassifyFrame(tmpl.data() + kHeadroom, static_cast<uint32_t>(tmpl.size() - kHeadroom), *table,
                &pkt);
  EgressHeaders e{testing::kRelayMac, testing::kPeerMac,
                  to_v6 ? Ip("2001:db8::10") : Ip("203.0.113.10"),
                  to_v6 ? Ip("2001:db8::99") : Ip("192.0.2.2"), 20002, 5004};
  for (auto _ : state) {
    // Restore the headers the previous iteration rewrote (not the payload).
    std::memcpy(work.data(), tmpl.data(), kHeadroom + 14 + 20 + 8);
    RewriteResult r = RewriteFrame(work.data() + kHeadroom, kHeadroom, pkt, e);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(to_v6 ? "ipv4->ipv6" : "ipv4->ipv4");
}
BENCHMARK(BM_Rewrite)->Arg(0)->Arg(1);

// The whole step; includes restoring the frame's headers each time.
void BM_ProcessFrame(benchmark::State& state) {
  Fixture& fx = FixtureFor(static_cast<size_t>(state.range(0)));
  std::vector<std::vector<uint8_t>> work = fx.frames();
  size_t i = 0;
  for (auto _ : state) {
    size_t k = i++ % kFrames;
    std::memcpy(work[k].data() + kHeadroom, fx.frames()[k].data() + kHeadroom, 14 + 20 + 8);
    PacketVerdict v = ProcessFrame(fx.ctx(), work[k].data() + kHeadroom,
                                   static_cast<uint32_t>(work[k].size() - kHeadroom), kHeadroom,
                                   2'000'000);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["bytes_per_stream"] =
      static_cast<double>(fx.table().bytes()) / static_cast<double>(fx.table().size() / 2);
}
BENCHMARK(BM_ProcessFrame)->Arg(1000)->Arg(100000)->Arg(1000000);

// What the lcore does for a packet from a locked peer since issue 14:
// classify, then the inlined IPv4 fast path (forward_locked.h) with the
// lcore's next-hop cache, instead of ProcessFrame's full decision.
void BM_ForwardLocked(benchmark::State& state) {
  Fixture& fx = FixtureFor(static_cast<size_t>(state.range(0)));
  NextHopCache next_hops;
  FastPathContext ctx = fx.ctx();
  ctx.next_hops = &next_hops;
  std::vector<std::vector<uint8_t>> work = fx.frames();
  size_t i = 0;
  uint64_t forwarded = 0;
  for (auto _ : state) {
    size_t k = i++ % kFrames;
    std::memcpy(work[k].data() + kHeadroom, fx.frames()[k].data() + kHeadroom, 14 + 20 + 8);
    uint8_t* frame = work[k].data() + kHeadroom;
    RelayPacket pkt;
    uint32_t len = 0;
    if (ClassifyFrame(frame, static_cast<uint32_t>(work[k].size() - kHeadroom), fx.table(),
                      &pkt) == FrameClass::kRelay &&
        ForwardLockedV4(ctx, frame, pkt, 2'000'000, &len)) {
      ++forwarded;
    }
  }
  benchmark::DoNotOptimize(forwarded);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  // Frames to a stream whose partner never got one have nowhere to go yet.
  state.SetLabel("forwarded " + std::to_string(forwarded) + " of " +
                 std::to_string(state.iterations()));
}
BENCHMARK(BM_ForwardLocked)->Arg(1000)->Arg(100000)->Arg(1000000);

// A flood at relay ports from non-latched sources (RTP Bleed spraying,
// issue 16): what the lcore spends on each such packet, the same steps as
// for a relayed one (classify, the locked-peer check, the sprayer check
// of forward_locked.h, and for an unallocated port the full decision,
// which drops it). Arg 0: the packet goes to a latched stream's
// port from a source that is not its peer (not_latched_peer); arg 1: to a
// relay port with no stream (unknown_stream). Frames from random sources
// in 192.0.2.0/24, random ports and SSRCs; headers restored each time as
// in BM_ForwardLocked, so the two compare like for like.
void BM_SprayedPacket(benchmark::State& state) {
  const bool unallocated = state.range(0) != 0;
  Fixture& fx = FixtureFor(static_cast<size_t>(state.range(1)));
  const FlowTable& table = fx.table();
  const IpAddress last_address = table.addresses().at(
      static_cast<uint8_t>(table.addresses().size() - 1));
  std::mt19937 rng(7);
  std::vector<std::vector<uint8_t>> frames;
  for (size_t i = 0; i < kFrames; ++i) {
    const auto& f = fx.frames()[i];
    IpAddress dst = IpAddress::FromV4Bytes(f.data() + kHeadroom + 14 + 16);
    uint16_t port = static_cast<uint16_t>((f[kHeadroom + 36] << 8) | f[kHeadroom + 37]);
    if (unallocated) {
      dst = last_address;
      port = static_cast<uint16_t>(61998 - 2 * (i % 1000));  // above every allocation
    }
    testing::RtpSpec s{IpAddress::FromV4(0xc0000200u | (1 + rng() % 254)), dst,
                       static_cast<uint16_t>(1024 + rng() % 60000), port};
    s.ssrc = static_cast<uint32_t>(rng());
    frames.push_back(testing::BuildRtpFrame(s, kHeadroom));
  }
  NextHopCache next_hops;
  FastPathContext ctx = fx.ctx();
  ctx.next_hops = &next_hops;
  std::vector<std::vector<uint8_t>> work = frames;
  const uint64_t drops_before = ctx.counters->drops[static_cast<size_t>(
      unallocated ? DropReason::kUnknownStream : DropReason::kNotLatchedPeer)];
  size_t i = 0;
  for (auto _ : state) {
    size_t k = i++ % kFrames;
    std::memcpy(work[k].data() + kHeadroom, frames[k].data() + kHeadroom, 14 + 20 + 8);
    uint8_t* frame = work[k].data() + kHeadroom;
    const uint32_t len = static_cast<uint32_t>(work[k].size() - kHeadroom);
    RelayPacket pkt;
    const FrameClass cls = ClassifyFrame(frame, len, table, &pkt);
    uint32_t out_len = 0;
    if (cls == FrameClass::kRelay && ForwardLockedV4(ctx, frame, pkt, 2'000'000, &out_len)) {
      state.SkipWithError("a sprayed packet was forwarded");
      break;
    }
    DropReason reason;
    if (cls == FrameClass::kRelay && DropNotLatchedPeer(ctx, frame, pkt, 2'000'000, &reason)) {
      benchmark::DoNotOptimize(reason);
      continue;
    }
    PacketVerdict v = ProcessClassified(ctx, frame, len, kHeadroom, 2'000'000, cls, pkt);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  const uint64_t drops = ctx.counters->drops[static_cast<size_t>(
      unallocated ? DropReason::kUnknownStream : DropReason::kNotLatchedPeer)] - drops_before;
  state.SetLabel(std::string(unallocated ? "unallocated port" : "locked stream, not its peer") +
                 ", dropped " + std::to_string(drops) + " of " +
                 std::to_string(state.iterations()));
}
BENCHMARK(BM_SprayedPacket)->ArgsProduct({{0, 1}, {1000, 1000000}});

}  // namespace
}  // namespace rtplatch

BENCHMARK_MAIN();
