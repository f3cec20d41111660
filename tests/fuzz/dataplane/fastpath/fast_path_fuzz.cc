// The fast path (dataplane/fastpath/fast_path.h) on a flow table whose
// streams the control thread's registry allocated, in every latch state
// (unlatched, learning, locked; learn, strict, asymmetric; IPv4, IPv6 and
// bridged; RTP, RTCP and rtcp-mux; ICE credentials): one frame per input,
// handled as the lcore's burst loop handles it (ClassifyForBurst, the
// locked-peer pass ForwardLockedV4, then ProcessClassified); a handoff is
// processed again on its owner lcore, a held frame offered again.
//
// Input: four control bytes, then the Ethernet frame.
//   [0] flags, below (kRetarget, kFixLengths, ...; kThenPartner: the
//       partner's phone answers next, to wherever the frame latched)
//   [1] with kRetarget: the relay port the frame is sent to (kTargets)
//   [2] where it comes from (Source): its own source, the target flow's
//       peer, that peer's IP on another port, the signalled address, a
//       spoofer
//   [3] when: kTimeStepNs steps after the setup
// Every input starts from the same table (the flows are copied back), so
// a reproducer replays on its own.
//
// Checked beyond ASan/UBSan: the verdict is a known one; the frame is
// counted once (a drop under its reason; a relay in its flow's packets or
// in ice_checks_answered; nothing for exception, hold, handoff); a sent
// frame's IP and UDP lengths match its length, its checksums verify when
// the received ones did (an IPv4 UDP checksum may stay zero), it leaves
// from a relay address and port with the relay's MAC, carries the payload
// it came with (or an authentic STUN answer to its sender); the
// locked-peer pass sends exactly the bytes ProcessClassified would.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <openssl/hmac.h>
#include <zlib.h>

#include "common/ip_address.h"
#include "dataplane/control/stream_registry.h"
#include "dataplane/fastpath/fast_path.h"
#include "dataplane/fastpath/forward_locked.h"
#include "dataplane/fastpath/next_hop_cache.h"
#include "dataplane/fastpath/stun_responder.h"
#include "tests/dataplane/fastpath/frame_builder.h"

namespace rtplatch {
namespace {

using testing::Fold;
using testing::Sum16;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSetupNs = 1'000 * kMs;         // the setup's packets, 1 ms apart
constexpr uint64_t kFirstInputNs = kSetupNs + 100 * kMs;
constexpr uint64_t kTimeStepNs = 20 * kMs;         // 255 steps: past window and silence
constexpr LatchConfig kLatch{3, 1000 * kMs, 500 * kMs};
constexpr uint16_t kHeadroom = 128;      // RTE_PKTMBUF_HEADROOM
constexpr uint16_t kSmallHeadroom = 16;  // less than IPv4 -> IPv6 grows (20)
constexpr uint32_t kLcores = 2;
constexpr uint16_t kPortMin = 20000;
constexpr uint16_t kPortMax = 20063;
constexpr size_t kControlBytes = 4;
constexpr uint32_t kMaxFrame = 65535;  // an mbuf's data_len

// Control byte 0.
constexpr uint8_t kIngressLcore1 = 1 << 0;  // received on lcore 1's queue
constexpr uint8_t kRetarget = 1 << 1;       // to the relay port byte 1 names
constexpr uint8_t kFixLengths = 1 << 2;     // IP and UDP lengths from the frame's
constexpr uint8_t kFixChecksums = 1 << 3;   // IPv4 header and UDP checksums made right
constexpr uint8_t kSignStun = 1 << 4;       // STUN signed with the target's ICE password
constexpr uint8_t kNoUdpChecksum = 1 << 5;  // IPv4 UDP checksum 0 (after kFixChecksums)
constexpr uint8_t kLowHeadroom = 1 << 6;    // kSmallHeadroom before the frame
constexpr uint8_t kThenPartner = 1 << 7;    // then the partner's phone answers (PartnerReply)

IpAddress Ip(const char* t) { return *IpAddress::Parse(t); }
Endpoint Ep(const char* t) { return *Endpoint::Parse(t); }

// The pairs, at fixed relay ports (so make_corpus.py can address them):
// both legs of a pair on one lcore (slot / 2 of the same parity).
LegRequest Leg(const char* relay, std::optional<Endpoint> peer = std::nullopt,
               std::optional<LatchPolicy> policy = std::nullopt) {
  LegRequest leg;
  leg.relay = Ep(relay);
  leg.ipv6 = !leg.relay->ip.is_v4();
  leg.peer = peer;
  leg.policy = policy;
  return leg;
}
LegRequest WithIce(LegRequest leg, const char* ufrag, const char* pwd) {
  leg.ice = MakeIceCredentials(ufrag, pwd);
  return leg;
}
LegRequest WithMux(LegRequest leg) {
  leg.rtcp_mux = true;
  return leg;
}

struct SetupPacket {
  const char* from;
  const char* to;
  int count;
};

// Packets that bring the flows into their states (kLatch: 3 packets lock).
const SetupPacket kSetupPackets[] = {
    {"203.0.113.30:31000", "203.0.113.10:20000", 3},  // pair 0 a: locked (NAT'd phone)
    {"203.0.113.30:31001", "203.0.113.10:20001", 3},  // its RTCP: locked
    {"203.0.113.31:32000", "203.0.113.10:20002", 1},  // pair 1 a: learning
    {"203.0.113.21:6002", "203.0.113.10:20008", 3},   // pair 2 a (strict): locked
    {"[2001:db8::30]:33000", "[2001:db8::10]:20010", 3},  // pair 3 a (mux, ICE): locked
    {"[2001:db8::20]:5002", "[2001:db8::10]:20014", 1},   // pair 3 b (ICE): learning
};

// One lcore's side: its rings, ICE table, next-hop cache and counters.
struct Lcore {
  SpscRing<FlowCommand> commands{256};
  SpscRing<DataplaneEvent> events{256};
  IceCredentialTable ice{16};
  NextHopCache next_hops;
  LcoreCounters counters;
  FastPathContext ctx{};
};

struct Target {
  Endpoint relay;
  uint32_t slot;
};

class World {
 public:
  World();
  // Back to the state the setup left: flows, counters, rings, caches.
  void Restore();
  Lcore& lcore(uint32_t i) { return lcores_[i]; }
  FlowTable& table() { return *table_; }
  const FlowTable& table() const { return *table_; }
  const std::vector<Target>& targets() const { return targets_; }
  // The ICE password of `slot`'s stream (nullptr: none).
  const IceCredentials* IceOf(uint32_t slot) const;

 private:
  void AllocatePairs();
  void Latch();
  void Drain();

  std::unique_ptr<FlowTable> table_;
  NeighborTable neighbors_{8};
  Lcore lcores_[kLcores];
  std::unique_ptr<StreamRegistry> registry_;
  std::vector<Target> targets_;
  std::vector<unsigned char> pristine_;
};

World::World() {
  auto addrs = RelayAddresses::Create({Ip("203.0.113.10"), Ip("2001:db8::10")});
  table_ = std::move(*FlowTable::Create(std::move(*addrs), kPortMin, kPortMax));
  std::vector<SpscRing<FlowCommand>*> rings;
  for (uint32_t i = 0; i < kLcores; ++i) {
    Lcore& l = lcores_[i];
    rings.push_back(&l.commands);
    l.ctx.table = table_.get();
    l.ctx.neighbors = &neighbors_;
    l.ctx.next_hops = &l.next_hops;
    l.ctx.counters = &l.counters;
    l.ctx.events = &l.events;
    l.ctx.latch = kLatch;
    std::memcpy(l.ctx.relay_mac, testing::kRelayMac, 6);
    l.ctx.gateway_v6 = Ip("2001:db8::1");  // IPv4 peers are on-link: unknown ones get solicited
    l.ctx.lcore_index = i;
    l.ctx.lcore_count = kLcores;
    l.ctx.ice = &l.ice;
  }
  for (const char* ip : {"203.0.113.20", "203.0.113.21", "203.0.113.22", "203.0.113.30",
                         "203.0.113.31", "2001:db8::1", "2001:db8::20", "2001:db8::30"}) {
    neighbors_.Learn(Ip(ip), testing::kPeerMac);
  }
  registry_ = std::make_unique<StreamRegistry>(*table_, rings, LatchPolicy::kLearn,
                                               [this] { Drain(); });
  AllocatePairs();
  Latch();
  pristine_.resize(table_->bytes());
  std::memcpy(pristine_.data(), static_cast<const void*>(table_->data()), pristine_.size());
  Restore();
}

void World::AllocatePairs() {
  const char* kPwdA = "fuzzpasswordfuzzpassword";
  const char* kPwdB = "anotherpasswordanotherpw";
  const LegRequest pairs[][2] = {
      // 0 (lcore 0): NAT'd phone (SDP private) <-> public phone.
      {Leg("203.0.113.10:20000", Ep("192.0.2.2:4000")),
       Leg("203.0.113.10:20004", Ep("203.0.113.20:5000"))},
      // 1 (lcore 1): IPv4 <-> IPv6 bridge.
      {Leg("203.0.113.10:20002"), Leg("[2001:db8::10]:20006", Ep("[2001:db8::20]:5000"))},
      // 2 (lcore 0): strict <-> asymmetric.
      {Leg("203.0.113.10:20008", Ep("203.0.113.21:6000"), LatchPolicy::kStrict),
       Leg("203.0.113.10:20012", Ep("203.0.113.22:7000"), LatchPolicy::kAsymmetric)},
      // 3 (lcore 1): IPv6 with ICE on both legs, a muxes RTCP.
      {WithMux(WithIce(Leg("[2001:db8::10]:20010"), "FzAaUfrg", kPwdA)),
       WithIce(Leg("[2001:db8::10]:20014", Ep("[2001:db8::20]:5002")), "FzBbUfrg", kPwdB)},
      // 4 (lcore 0): ICE, and a partner with no address yet (frames held).
      {WithIce(Leg("203.0.113.10:20016"), "FzCcUfrg", kPwdA), Leg("203.0.113.10:20020")},
      // 5 (lcore 1): the partner's next hop is unknown (solicited).
      {Leg("203.0.113.10:20018"), Leg("203.0.113.10:20022", Ep("198.51.100.99:8000"))},
      // 6: deleted again (its ports are free slots in range).
      {Leg("203.0.113.10:20024"), Leg("203.0.113.10:20028")},
  };
  for (const auto& pair : pairs) {
    absl::StatusOr<PairView> p = registry_->Allocate(pair[0], pair[1], "fuzz", kSetupNs);
    if (!p.ok()) __builtin_trap();
    for (const StreamView* s : {&p->a, &p->b}) {
      for (const Endpoint& e : {s->relay, s->rtcp_relay}) {
        const uint8_t id = e.ip.is_v4() ? 0 : 1;
        targets_.push_back({e, table_->SlotOf(id, e.port)});
      }
    }
    if (&pair == &pairs[6] && !registry_->Delete(p->pair).ok()) __builtin_trap();
  }
  targets_.push_back({Ep("203.0.113.10:20040"), table_->SlotOf(0, 20040)});  // never allocated
  targets_.push_back({Ep("203.0.113.10:5060"), kNoSlot});                    // SIP: the kernel's
  Drain();
}

// Sends kSetupPackets through the fast path of each flow's owner.
void World::Latch() {
  uint64_t now = kSetupNs;
  for (const SetupPacket& s : kSetupPackets) {
    const Endpoint from = Ep(s.from), to = Ep(s.to);
    for (int i = 0; i < s.count; ++i) {
      testing::RtpSpec spec{from.ip, to.ip, from.port, to.port};
      spec.seq = static_cast<uint16_t>(i + 1);
      std::vector<uint8_t> buf = testing::BuildRtpFrame(spec, kHeadroom);
      const uint32_t len = static_cast<uint32_t>(buf.size() - kHeadroom);
      RelayPacket pkt;
      if (ClassifyFrame(buf.data() + kHeadroom, len, *table_, &pkt) != FrameClass::kRelay) {
        __builtin_trap();
      }
      Lcore& owner = lcores_[OwnerIndexOf(pkt.slot, kLcores)];
      PacketVerdict v = ProcessFrame(owner.ctx, buf.data() + kHeadroom, len, kHeadroom, now);
      if (v.action == PacketAction::kDrop) __builtin_trap();
      now += kMs;
    }
  }
}

void World::Drain() {
  for (Lcore& l : lcores_) {
    FlowCommand c;
    while (l.commands.Pop(&c)) ApplyFlowCommand(*table_, c, &l.ice);
  }
}

void World::Restore() {
  std::memcpy(static_cast<void*>(&table_->at(0)), pristine_.data(), pristine_.size());
  for (Lcore& l : lcores_) {
    DataplaneEvent e;
    while (l.events.Pop(&e)) {
    }
    l.counters = LcoreCounters{};
    l.next_hops = NextHopCache{};
  }
}

const IceCredentials* World::IceOf(uint32_t slot) const {
  if (slot == kNoSlot) return nullptr;
  return lcores_[OwnerIndexOf(slot, kLcores)].ice.Find(slot & ~1u);
}

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void Store16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Where the harness's edits go in a frame: l3 at 14, UDP at `udp`.
struct Layout {
  bool ok = false;
  bool v6 = false;
  uint32_t udp = 0;  // offset of the UDP header
};

Layout LayoutOf(const uint8_t* f, uint32_t len) {
  Layout l;
  if (len < kEtherHeaderLen) return l;
  const uint16_t type = Load16(f + 12);
  if (type == kEtherTypeIpv6) {
    l.v6 = true;
    l.udp = kEtherHeaderLen + kIpv6HeaderLen;
  } else if (type == kEtherTypeIpv4 && len > kEtherHeaderLen) {
    l.udp = kEtherHeaderLen + (f[kEtherHeaderLen] & 0x0f) * 4u;
    if (l.udp < kEtherHeaderLen + kIpv4HeaderLen) return l;
  } else {
    return l;
  }
  l.ok = len >= l.udp + kUdpHeaderLen;
  return l;
}

// The UDP datagram's length as its header says, if the frame holds it.
uint32_t UdpLengthIn(const uint8_t* f, uint32_t len, const Layout& l) {
  const uint32_t udp_len = Load16(f + l.udp + 4);
  return udp_len >= kUdpHeaderLen && l.udp + udp_len <= len ? udp_len : 0;
}

bool Ipv4HeaderChecksumOk(const uint8_t* f, const Layout& l) {
  return Fold(Sum16(f + kEtherHeaderLen, l.udp - kEtherHeaderLen)) == 0xffff;
}

uint32_t UdpSum(const uint8_t* f, const Layout& l, uint32_t udp_len) {
  const uint8_t* ip = f + kEtherHeaderLen;
  uint32_t sum = l.v6 ? Sum16(ip + 8, 32) : Sum16(ip + 12, 8);
  return Sum16(f + l.udp, udp_len, sum + kIpProtoUdp + udp_len);
}

// True if the UDP checksum verifies (or is absent, on IPv4).
bool UdpChecksumOk(const uint8_t* f, uint32_t len, const Layout& l) {
  const uint32_t udp_len = UdpLengthIn(f, len, l);
  if (udp_len == 0) return false;
  const bool zero = Load16(f + l.udp + 6) == 0;
  if (zero) return !l.v6;
  return Fold(UdpSum(f, l, udp_len)) == 0xffff;
}

void FixLengths(uint8_t* f, uint32_t len, const Layout& l) {
  const uint32_t l3 = std::min<uint32_t>(len - kEtherHeaderLen, 0xffff);
  if (l.v6) {
    const uint32_t payload = std::min<uint32_t>(len - l.udp, 0xffff);
    Store16(f + kEtherHeaderLen + 4, payload);
    Store16(f + l.udp + 4, payload);
  } else {
    Store16(f + kEtherHeaderLen + 2, l3);
    Store16(f + l.udp + 4, std::min<uint32_t>(len - l.udp, 0xffff));
  }
}

void FixChecksums(uint8_t* f, uint32_t len, const Layout& l, bool no_udp_checksum) {
  if (!l.v6) {
    uint8_t* ip = f + kEtherHeaderLen;
    Store16(ip + 10, 0);
    Store16(ip + 10, static_cast<uint16_t>(~Fold(Sum16(ip, l.udp - kEtherHeaderLen))));
  }
  const uint32_t udp_len = UdpLengthIn(f, len, l);
  if (udp_len == 0) return;
  Store16(f + l.udp + 6, 0);
  if (no_udp_checksum && !l.v6) return;
  uint16_t c = static_cast<uint16_t>(~Fold(UdpSum(f, l, udp_len)));
  Store16(f + l.udp + 6, c == 0 ? 0xffff : c);
}

// Signs a STUN message as an ICE agent holding `pwd` would: the first
// MESSAGE-INTEGRITY (over what precedes it, the length as if it ended
// the message) and a final FINGERPRINT, where the message has them.
void SignStun(uint8_t* m, uint32_t len, std::string_view pwd) {
  if (len < 20 || Load16(m + 2) != len - 20) return;
  for (uint32_t off = 20; off + 4 <= len;) {
    const uint16_t type = Load16(m + off);
    const uint32_t value_len = Load16(m + off + 2);
    if (off + 4 + value_len > len) return;
    if (type == 0x0008 && value_len == 20) {
      const uint16_t length = Load16(m + 2);
      Store16(m + 2, off + 24 - 20);
      unsigned int mac_len = 0;
      HMAC(EVP_sha1(), pwd.data(), static_cast<int>(pwd.size()), m, off, m + off + 4, &mac_len);
      Store16(m + 2, length);
      break;
    }
    off += 4 + ((value_len + 3) & ~3u);
  }
  if (len >= 28 && Load16(m + len - 8) == 0x8028 && Load16(m + len - 6) == 4) {
    const uint32_t crc = static_cast<uint32_t>(crc32(0, m, len - 8)) ^ 0x5354554eu;
    Store16(m + len - 4, crc >> 16);
    Store16(m + len - 2, crc & 0xffff);
  }
}


// Byte 2: who sends the frame. Written only where the family fits (an
// IPv4 peer into an IPv6 frame becomes ::ffff:a.b.c.d, as a spoofer would
// write it).
enum class Source : uint8_t { kOwn, kPeer, kPeerOtherPort, kSignalled, kSpoofer, kCount };

Endpoint SourceFor(Source s, const Flow* flow, bool v6) {
  switch (s) {
    case Source::kPeer:
      return flow ? Endpoint{flow->peer_ip, flow->peer_port} : Endpoint{};
    case Source::kPeerOtherPort:
      return flow ? Endpoint{flow->peer_ip, static_cast<uint16_t>(flow->peer_port + 1)}
                  : Endpoint{};
    case Source::kSignalled:
      return flow ? Endpoint{flow->expected_ip, flow->expected_port} : Endpoint{};
    case Source::kSpoofer:
      return v6 ? Ep("[2001:db8::66]:40000") : Ep("203.0.113.66:40000");
    case Source::kOwn:
    case Source::kCount:
      break;
  }
  return {};
}

void WriteEndpoint(uint8_t* f, const Layout& l, const Endpoint& e, bool destination) {
  uint8_t* ip = f + kEtherHeaderLen;
  if (l.v6) {
    std::memcpy(ip + (destination ? 24 : 8), e.ip.bytes(), 16);
  } else if (e.ip.is_v4()) {
    std::memcpy(ip + (destination ? 16 : 12), e.ip.v4_bytes(), 4);
  } else {
    return;
  }
  Store16(f + l.udp + (destination ? 2 : 0), e.port);
}

// The frame as received, and what the checks need to know of it.
struct Prepared {
  std::vector<uint8_t> received;  // headroom, then the frame
  std::vector<uint8_t> buf;       // the same, processed in place
  uint16_t headroom = kHeadroom;
  uint32_t len = 0;
  uint32_t ingress = 0;
  uint64_t now = 0;
  bool ip_ok = false;   // IPv4 header checksum verified (IPv6: true)
  bool udp_ok = false;  // UDP checksum verified (or absent on IPv4)
};

// The control bytes' edits, in the order a sender would make them.
void Edit(const World& w, const uint8_t control[kControlBytes], uint8_t* f, uint32_t len) {
  const Layout l = LayoutOf(f, len);
  if (!l.ok) return;
  const std::vector<Target>& targets = w.targets();
  if (control[0] & kRetarget) {
    const Endpoint& to = targets[control[1] % targets.size()].relay;
    if (to.ip.is_v4() != l.v6) WriteEndpoint(f, l, to, /*destination=*/true);
  }
  RelayPacket pkt;
  const bool relay = ClassifyFrame(f, len, w.table(), &pkt) == FrameClass::kRelay;
  const Flow* flow = relay ? &w.table().at(pkt.slot) : nullptr;
  const auto source = static_cast<Source>(control[2] % static_cast<uint8_t>(Source::kCount));
  const Endpoint from = SourceFor(source, flow, l.v6);
  if (from.port != 0) WriteEndpoint(f, l, from, /*destination=*/false);
  if (control[0] & kFixLengths) FixLengths(f, len, l);
  const uint32_t udp_len = UdpLengthIn(f, len, l);
  const IceCredentials* ice = relay ? w.IceOf(pkt.slot) : nullptr;
  if ((control[0] & kSignStun) && ice != nullptr && udp_len > 0) {
    SignStun(f + l.udp + kUdpHeaderLen, udp_len - kUdpHeaderLen, ice->pwd_view());
  }
  if (control[0] & kFixChecksums) FixChecksums(f, len, l, control[0] & kNoUdpChecksum);
}

Prepared Prepare(const World& w, const uint8_t* data, size_t size) {
  Prepared p;
  const uint8_t* control = data;
  p.headroom = (control[0] & kLowHeadroom) ? kSmallHeadroom : kHeadroom;
  p.len = static_cast<uint32_t>(size - kControlBytes);
  p.ingress = (control[0] & kIngressLcore1) ? 1 : 0;
  p.now = kFirstInputNs + control[3] * kTimeStepNs;
  p.received.assign(p.headroom, 0);
  p.received.insert(p.received.end(), data + kControlBytes, data + size);
  uint8_t* f = p.received.data() + p.headroom;
  Edit(w, control, f, p.len);
  const Layout l = LayoutOf(f, p.len);
  p.ip_ok = l.ok && (l.v6 || Ipv4HeaderChecksumOk(f, l));
  p.udp_ok = l.ok && UdpChecksumOk(f, p.len, l);
  p.buf = p.received;
  return p;
}

struct Run {
  PacketVerdict verdict;
  uint32_t lcore;     // the one that decided
  bool locked_pass;   // ForwardLockedV4 sent it
};

// ProcessBurst's steps for one frame on lcore `i`.
Run OnLcore(World& w, uint32_t i, Prepared& p) {
  FastPathContext& ctx = w.lcore(i).ctx;
  uint8_t* frame = p.buf.data() + p.headroom;
  FrameClass cls;
  RelayPacket pkt;
  ClassifyForBurst(ctx, frame, p.len, &cls, &pkt);
  uint32_t length = 0;
  if (cls == FrameClass::kRelay && ForwardLockedV4(ctx, frame, pkt, p.now, &length)) {
    return {{PacketAction::kTransmit, {}, 0, 0, length, {}}, i, true};
  }
  return {ProcessClassified(ctx, frame, p.len, p.headroom, p.now, cls, pkt), i, false};
}

// The lcore that received the frame, then its owner if handed off; a held
// frame is offered again at once (its partner still has no address).
Run Handle(World& w, Prepared& p) {
  Run r = OnLcore(w, p.ingress, p);
  if (r.verdict.action == PacketAction::kHandoff) {
    if (r.verdict.owner >= kLcores || r.verdict.owner == r.lcore) __builtin_trap();
    r = OnLcore(w, r.verdict.owner, p);
    if (r.verdict.action == PacketAction::kHandoff) __builtin_trap();
  }
  if (r.verdict.action == PacketAction::kHold) {
    PacketVerdict again =
        ForwardHeld(w.lcore(r.lcore).ctx, p.buf.data() + p.headroom, p.len, p.headroom);
    if (again.action != PacketAction::kHold || again.slot != r.verdict.slot) __builtin_trap();
  }
  return r;
}

struct Tally {
  std::array<uint64_t, kDropReasonCount> by_reason{};
  uint64_t drops = 0;
  uint64_t relayed = 0;   // flows' packets
  uint64_t answered = 0;  // ICE checks
};

Tally TallyOf(World& w) {
  Tally t;
  for (uint32_t i = 0; i < kLcores; ++i) {
    const LcoreCounters& c = w.lcore(i).counters;
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      t.by_reason[r] += c.drops[r];
      t.drops += c.drops[r];
    }
    t.answered += c.ice_checks_answered;
  }
  for (uint32_t s = 0; s < w.table().size(); ++s) t.relayed += w.table().at(s).packets;
  return t;
}

// Every frame counted once: a drop under its reason, a relay in its
// flow's packets or in ice_checks_answered, and nothing else for what the
// lcore loop counts itself (exception, hold).
void CheckCounted(const Run& r, const Tally& before, const Tally& after) {
  const uint64_t drops = after.drops - before.drops;
  const uint64_t sent = (after.relayed - before.relayed) + (after.answered - before.answered);
  switch (r.verdict.action) {
    case PacketAction::kDrop:
    case PacketAction::kSolicit: {
      const auto reason = static_cast<size_t>(r.verdict.reason);
      if (reason >= kDropReasonCount || drops != 1 || sent != 0) __builtin_trap();
      if (after.by_reason[reason] - before.by_reason[reason] != 1) __builtin_trap();
      return;
    }
    case PacketAction::kTransmit:
      if (drops != 0 || sent != 1) __builtin_trap();
      return;
    case PacketAction::kException:
    case PacketAction::kHold:
      if (drops != 0 || sent != 0) __builtin_trap();
      return;
    case PacketAction::kHandoff:
      break;
  }
  __builtin_trap();  // an action Handle does not expect
}

bool IsRelayAddress(const World& w, const IpAddress& ip, bool v6) {
  const std::vector<IpAddress>& all = w.table().addresses().all();
  return ip.is_v4() != v6 && std::find(all.begin(), all.end(), ip) != all.end();
}

// A sent frame's headers: lengths match the frame, checksums verify where
// the received ones did, it leaves from a relay address and port with the
// relay's MAC. Returns the sent frame's layout.
Layout CheckHeaders(const World& w, const Prepared& p, const uint8_t* out, uint32_t len) {
  const Layout l = LayoutOf(out, len);
  if (!l.ok || std::memcmp(out + 6, testing::kRelayMac, 6) != 0) __builtin_trap();
  const uint8_t* ip = out + kEtherHeaderLen;
  IpAddress src;
  if (l.v6) {
    if ((ip[0] >> 4) != 6 || ip[6] != kIpProtoUdp || Load16(ip + 4) != len - l.udp) {
      __builtin_trap();
    }
    src = IpAddress::FromV6Bytes(ip + 8);
  } else {
    if (ip[0] != 0x45 || ip[9] != kIpProtoUdp || Load16(ip + 2) != len - kEtherHeaderLen) {
      __builtin_trap();
    }
    if (p.ip_ok && !Ipv4HeaderChecksumOk(out, l)) __builtin_trap();
    src = IpAddress::FromV4Bytes(ip + 12);
  }
  if (Load16(out + l.udp + 4) != len - l.udp) __builtin_trap();
  if (p.udp_ok && !UdpChecksumOk(out, len, l)) __builtin_trap();
  const uint16_t src_port = Load16(out + l.udp);
  if (!IsRelayAddress(w, src, l.v6) || src_port < kPortMin || src_port > kPortMax) {
    __builtin_trap();
  }
  return l;
}

IpAddress DestinationOf(const uint8_t* out, const Layout& l) {
  const uint8_t* ip = out + kEtherHeaderLen;
  return l.v6 ? IpAddress::FromV6Bytes(ip + 24) : IpAddress::FromV4Bytes(ip + 16);
}

// A relayed packet goes where its flow sends, from its partner's port,
// with the payload it came with; an ICE check's answer goes back to its
// sender from the port it asked, signed with the stream's password.
void CheckSent(const World& w, const Prepared& p, const Run& r, bool ice_answer) {
  const int32_t delta = r.verdict.start_delta;
  const uint32_t len = r.verdict.length;
  if (delta < -static_cast<int32_t>(p.headroom) ||
      static_cast<int64_t>(delta) + len > static_cast<int64_t>(p.len)) {
    __builtin_trap();
  }
  const uint8_t* out = p.buf.data() + p.headroom + delta;
  const Layout l = CheckHeaders(w, p, out, len);
  RelayPacket in;
  if (ClassifyFrame(p.received.data() + p.headroom, p.len, w.table(), &in) != FrameClass::kRelay) {
    __builtin_trap();
  }
  const Endpoint to{DestinationOf(out, l), Load16(out + l.udp + 2)};
  const uint16_t from_port = Load16(out + l.udp);
  const uint8_t* payload = out + l.udp + kUdpHeaderLen;
  const uint32_t payload_len = len - l.udp - kUdpHeaderLen;
  if (ice_answer) {
    const IceCredentials* ice = w.IceOf(in.slot);
    if (ice == nullptr || !(to == Endpoint{in.src_ip, in.src_port}) ||
        from_port != w.table().PortOf(in.slot) ||
        !StunMessageAuthentic(payload, payload_len, ice->pwd_view())) {
      __builtin_trap();
    }
    return;
  }
  const Flow& flow = w.table().at(in.slot);
  if (!(to == Endpoint{flow.egress_dst_ip, flow.egress_dst_port}) ||
      from_port != w.table().PortOf(flow.partner_slot)) {
    __builtin_trap();
  }
  const uint8_t* sent = p.received.data() + p.headroom + in.udp_offset + kUdpHeaderLen;
  if (payload_len != in.udp_length - kUdpHeaderLen ||
      std::memcmp(payload, sent, payload_len) != 0) {
    __builtin_trap();
  }
}

// A flow's bytes, to put back (Flow's seqlock counter is atomic, so no
// copy assignment; ApplyFlowCommand memsets flows the same way).
using FlowBytes = std::array<unsigned char, sizeof(Flow)>;

FlowBytes BytesOf(const Flow& f) {
  FlowBytes b;
  std::memcpy(b.data(), static_cast<const void*>(&f), b.size());
  return b;
}

// ForwardLockedV4 promises ProcessClassified's verdict, bytes and flow
// state for the packets it takes: replay the frame on the flow as it was,
// without it. `before`: the flow at `slot` before the frame.
void CheckLockedPassMatches(World& w, Prepared& p, const Run& r, uint32_t slot,
                            const FlowBytes& before) {
  const std::vector<uint8_t> sent = p.buf;
  Flow& flow = w.table().at(slot);
  const FlowBytes after = BytesOf(flow);
  std::memcpy(static_cast<void*>(&flow), before.data(), before.size());
  p.buf = p.received;
  uint8_t* frame = p.buf.data() + p.headroom;
  const PacketVerdict v = ProcessFrame(w.lcore(r.lcore).ctx, frame, p.len, p.headroom, p.now);
  if (v.action != PacketAction::kTransmit || v.start_delta != 0 ||
      v.length != r.verdict.length || p.buf != sent || BytesOf(flow) != after) {
    __builtin_trap();
  }
}

// After the frame: an RTP packet from the partner flow's phone (its peer,
// else its signalled address) to its relay port, as the other side
// answers; it goes where the frame latched. Empty if the frame reached no
// allocated flow or the partner has no address.
std::optional<Prepared> PartnerReply(const World& w, const Prepared& first) {
  RelayPacket in;
  const uint8_t* frame = first.received.data() + first.headroom;
  if (ClassifyFrame(frame, first.len, w.table(), &in) != FrameClass::kRelay) return std::nullopt;
  const Flow& flow = w.table().at(in.slot);
  if (flow.state == LatchState::kFree || flow.partner_slot == kNoSlot) return std::nullopt;
  const Flow& partner = w.table().at(flow.partner_slot);
  const bool latched =
      partner.state == LatchState::kLearning || partner.state == LatchState::kLocked;
  const Endpoint from = latched ? Endpoint{partner.peer_ip, partner.peer_port}
                                : Endpoint{partner.expected_ip, partner.expected_port};
  if (!from.is_set()) return std::nullopt;
  const IpAddress& relay = w.table().addresses().at(w.table().AddressIdOf(flow.partner_slot));
  if (from.ip.is_v4() != relay.is_v4()) return std::nullopt;
  testing::RtpSpec spec{from.ip, relay, from.port, w.table().PortOf(flow.partner_slot)};
  Prepared p;
  p.received = testing::BuildRtpFrame(spec, kHeadroom);
  p.len = static_cast<uint32_t>(p.received.size() - kHeadroom);
  p.ingress = OwnerIndexOf(flow.partner_slot, kLcores);
  p.now = first.now + kMs;
  p.ip_ok = p.udp_ok = true;
  p.buf = p.received;
  return p;
}

// One frame through the lcores, and every check on what came out.
void HandleAndCheck(World& w, Prepared& p) {
  RelayPacket in;
  const bool relay =
      ClassifyFrame(p.received.data() + p.headroom, p.len, w.table(), &in) == FrameClass::kRelay;
  const FlowBytes flow_before = relay ? BytesOf(w.table().at(in.slot)) : FlowBytes{};
  const Tally before = TallyOf(w);
  const Run r = Handle(w, p);
  const Tally after = TallyOf(w);
  CheckCounted(r, before, after);
  if (r.verdict.action == PacketAction::kTransmit) {
    CheckSent(w, p, r, after.answered != before.answered);
  }
  if (r.locked_pass) CheckLockedPassMatches(w, p, r, in.slot, flow_before);
}

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtplatch;
  static World world;
  if (size < kControlBytes || size - kControlBytes > kMaxFrame) return 0;
  world.Restore();
  Prepared p = Prepare(world, data, size);
  HandleAndCheck(world, p);
  if (data[0] & kThenPartner) {
    std::optional<Prepared> reply = PartnerReply(world, p);
    if (reply) HandleAndCheck(world, *reply);
  }
  return 0;
}
