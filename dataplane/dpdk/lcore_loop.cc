#include "dataplane/dpdk/lcore_loop.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/dpdk/exception_fragmenter.h"
#include "dataplane/fastpath/forward_locked.h"
#include "dataplane/fastpath/neighbor_solicit.h"
#include "dataplane/fastpath/packet_headers.h"

namespace rtplatch {
namespace {

// Commands applied per poll: bounds the pause a burst of control-plane
// work (say, a restart pushing a million streams) can cause to forwarding.
constexpr uint32_t kCommandsPerPoll = 64;
// Keepalives sent per poll at most: a million targets due in one tick are
// spread over the following polls instead of stalling media for a burst.
constexpr uint32_t kKeepalivesPerPoll = kBurstSize;
// The same next hop is solicited at most once per this interval.
constexpr uint64_t kSolicitIntervalNs = 100'000'000;

struct TxBatch {
  rte_mbuf* pkts[kBurstSize];
  uint16_t count = 0;
};

// Sends what the device takes, frees the rest: every mbuf has one owner.
// Returns how many were sent.
uint16_t SendBatch(LcoreContext& ctx, uint16_t port, TxBatch& batch, DropReason full_reason) {
  if (batch.count == 0) return 0;
  uint16_t sent = rte_eth_tx_burst(port, ctx.queue, batch.pkts, batch.count);
  if (sent < batch.count) {
    ctx.counters.Drop(full_reason, batch.count - sent);
    rte_pktmbuf_free_bulk(batch.pkts + sent, batch.count - sent);
  }
  batch.count = 0;
  return sent;
}

// Frames for the kernel: those longer than the exception port carries go
// as IP fragments (exception_fragmenter.h), the rest as they are.
void SendException(LcoreContext& ctx, TxBatch& batch) {
  const uint16_t port = static_cast<uint16_t>(ctx.exception_port);
  const uint32_t max_frame = uint32_t{kEtherHeaderLen} + ctx.exception_mtu;
  uint16_t kept = 0;
  for (uint16_t i = 0; i < batch.count; ++i) {
    rte_mbuf* m = batch.pkts[i];
    if (rte_pktmbuf_pkt_len(m) <= max_frame) {
      batch.pkts[kept++] = m;
      continue;
    }
    uint16_t lost = 0;
    const uint16_t sent = SendFragmented(port, ctx.queue, m, ctx.exception_mtu, ctx.pool, &lost);
    ctx.counters.Count(ctx.counters.exception_fragments, sent);
    if (lost > 0) ctx.counters.Drop(DropReason::kExceptionFull, lost);
  }
  batch.count = kept;
  SendBatch(ctx, port, batch, DropReason::kExceptionFull);
}

void ApplyCommands(LcoreContext& ctx) {
  FlowCommand command;
  for (uint32_t i = 0; i < kCommandsPerPoll && ctx.commands->Pop(&command); ++i) {
    ApplyFlowCommand(*ctx.fast.table, command, ctx.ice.get());
  }
}

// Turns the dropped packet's own mbuf into an ARP/NS for its next hop,
// unless that target was solicited recently. True if `m` was reused.
bool SolicitWith(LcoreContext& ctx, rte_mbuf* m, const IpAddress& target, uint64_t now_ns) {
  uint64_t a;
  std::memcpy(&a, target.bytes() + 8, 8);
  auto& recent = ctx.recent_solicits[(a * 0x9e3779b97f4a7c15ull >> 58) % kSolicitMemory];
  if (recent.target == target && now_ns - recent.ns < kSolicitIntervalNs) return false;
  const IpAddress& source = target.is_v4() ? ctx.solicit_source_v4 : ctx.solicit_source_v6;
  if (source.is_unspecified()) return false;
  recent = {target, now_ns};
  rte_pktmbuf_reset(m);
  uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kSolicitFrameMax));
  if (frame == nullptr) return false;
  uint32_t len = BuildSolicit(frame, ctx.fast.relay_mac, source, target);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(kSolicitFrameMax - len));
  ctx.counters.Count(ctx.counters.solicits);
  return true;
}

struct BurstOutput {
  TxBatch media;      // relayed packets
  TxBatch solicits;   // ARP/NS, kept apart so `relayed` counts only media
  TxBatch exception;  // to the kernel
};

// Phase 3's last step: where one frame goes, by its verdict.
inline void RouteFrame(LcoreContext& ctx, rte_mbuf* m, const PacketVerdict& v, uint64_t now_ns,
                       BurstOutput& out) {
  switch (v.action) {
    case PacketAction::kTransmit:
      m->data_off = static_cast<uint16_t>(m->data_off + v.start_delta);
      m->data_len = static_cast<uint16_t>(v.length);
      m->pkt_len = v.length;
      out.media.pkts[out.media.count++] = m;
      break;
    case PacketAction::kException:
      if (ctx.exception_port < 0) {
        ctx.counters.Drop(DropReason::kNoExceptionPort);
        rte_pktmbuf_free(m);
      } else {
        ctx.counters.Count(ctx.counters.exception_in);
        out.exception.pkts[out.exception.count++] = m;
      }
      break;
    case PacketAction::kHandoff: {
      ctx.counters.Count(ctx.counters.handoff);
      if (v.owner < ctx.handoff_out.size() &&
          rte_ring_enqueue(ctx.handoff_out[v.owner], m) == 0) {
        break;
      }
      ctx.counters.Drop(DropReason::kHandoffFull);
      rte_pktmbuf_free(m);
      break;
    }
    case PacketAction::kSolicit:
      if (SolicitWith(ctx, m, v.next_hop, now_ns)) {
        out.solicits.pkts[out.solicits.count++] = m;
      } else {
        rte_pktmbuf_free(m);
      }
      break;
    case PacketAction::kHold:
      if (ctx.held.Push(m, v.slot, v.generation, now_ns)) {
        ctx.counters.Count(ctx.counters.held);
      } else {
        ctx.counters.Drop(DropReason::kNoPeerKnown);
        rte_pktmbuf_free(m);
      }
      break;
    case PacketAction::kDrop:
      rte_pktmbuf_free(m);
      break;
  }
}

void ProcessBurst(LcoreContext& ctx, rte_mbuf** pkts, uint16_t n, uint64_t now_ns,
                  BurstOutput& out) {
  TxBatch& media = out.media;
  // Phase 1: frame headers into cache. Phase 2: classify each frame and
  // prefetch its flow's lines, so a burst's table misses overlap instead of
  // queueing behind each other (a million streams cost about what a
  // thousand do). Phase 3: latch, rewrite, route.
  for (uint16_t i = 0; i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  FrameClass classes[kBurstSize];
  RelayPacket relay[kBurstSize];
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < n; ++i) {
    bytes += rte_pktmbuf_data_len(pkts[i]);
    const Flow* f = ClassifyForBurst(ctx.fast, rte_pktmbuf_mtod(pkts[i], const uint8_t*),
                                     rte_pktmbuf_data_len(pkts[i]), &classes[i], &relay[i]);
    if (f != nullptr) {
      rte_prefetch0(f);
      rte_prefetch0(reinterpret_cast<const uint8_t*>(f) + 64);  // `bytes`: written per packet
    }
  }
  ctx.counters.Count(ctx.counters.rx_bytes, bytes);
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    uint32_t length;
    if (classes[i] == FrameClass::kRelay &&
        ForwardLockedV4(ctx.fast, frame, relay[i], now_ns, &length)) {
      m->data_len = static_cast<uint16_t>(length);
      m->pkt_len = length;
      media.pkts[media.count++] = m;
      continue;
    }
    DropReason sprayed;
    if (classes[i] == FrameClass::kRelay &&
        DropNotLatchedPeer(ctx.fast, frame, relay[i], now_ns, &sprayed)) {
      rte_pktmbuf_free(m);
      continue;
    }
    const PacketVerdict v = ProcessClassified(ctx.fast, frame, rte_pktmbuf_data_len(m),
                                              rte_pktmbuf_headroom(m), now_ns, classes[i],
                                              relay[i]);
    RouteFrame(ctx, m, v, now_ns, out);
  }
}

// Held packets whose partner now has a destination go out (in arrival
// order); those past kHoldNs, or whose stream was deleted, are dropped.
void ReleaseHeld(LcoreContext& ctx, uint64_t now_ns, TxBatch& media, TxBatch& solicits) {
  using Held = HeldPackets<rte_mbuf*, kHeldCapacity>;
  const uint32_t room = kBurstSize - media.count;
  ctx.held.Sweep(
      room,
      [&](const Held::Entry& e) {
        const Flow& f = ctx.fast.table->at(e.slot);
        if (f.state == LatchState::kFree || f.generation != e.generation) {
          return Held::Decision::kExpire;
        }
        if (f.flags & kFlowEgressReady) return Held::Decision::kRelease;
        return now_ns - e.held_ns > kHoldNs ? Held::Decision::kExpire : Held::Decision::kKeep;
      },
      [&](Held::Entry& e) {
        rte_mbuf* m = e.packet;
        PacketVerdict v = ForwardHeld(ctx.fast, rte_pktmbuf_mtod(m, uint8_t*),
                                      rte_pktmbuf_data_len(m), rte_pktmbuf_headroom(m));
        if (v.action == PacketAction::kTransmit) {
          m->data_off = static_cast<uint16_t>(m->data_off + v.start_delta);
          m->data_len = static_cast<uint16_t>(v.length);
          m->pkt_len = v.length;
          media.pkts[media.count++] = m;
        } else if (v.action == PacketAction::kSolicit && solicits.count < kBurstSize &&
                   SolicitWith(ctx, m, v.next_hop, now_ns)) {
          solicits.pkts[solicits.count++] = m;
        } else {
          rte_pktmbuf_free(m);
        }
      },
      [&](Held::Entry& e) {
        Flow& f = ctx.fast.table->at(e.slot);
        const bool same = f.state != LatchState::kFree && f.generation == e.generation;
        if (same) RelaxedStore(f.drops, f.drops + 1);
        ctx.counters.Drop(same ? DropReason::kNoPeerKnown : DropReason::kUnknownStream);
        rte_pktmbuf_free(e.packet);
      });
}

uint16_t PollMedia(LcoreContext& ctx, uint64_t now_ns) {
  rte_mbuf* pkts[kBurstSize];
  uint16_t n = rte_eth_rx_burst(ctx.media_rx_port, ctx.queue, pkts, kBurstSize);
  uint16_t m = 0;
  if (ctx.handoff_in != nullptr) {
    m = static_cast<uint16_t>(rte_ring_dequeue_burst(
        ctx.handoff_in, reinterpret_cast<void**>(pkts + n), kBurstSize - n, nullptr));
  }
  if (n + m == 0) {
    // Nothing arrived, but held packets may have expired (or been freed by
    // a delete): sweep them so their mbufs go back to the pool.
    if (!ctx.held.empty()) {
      BurstOutput out;
      ReleaseHeld(ctx, now_ns, out.media, out.solicits);
      ctx.counters.Count(ctx.counters.relayed,
                         SendBatch(ctx, ctx.media_tx_port, out.media, DropReason::kTxFull));
      SendBatch(ctx, ctx.media_tx_port, out.solicits, DropReason::kTxFull);
    }
    return 0;
  }
  ctx.counters.Count(ctx.counters.rx, n);
  BurstOutput out;
  ProcessBurst(ctx, pkts, static_cast<uint16_t>(n + m), now_ns, out);
  if (!ctx.held.empty()) ReleaseHeld(ctx, now_ns, out.media, out.solicits);
  ctx.counters.Count(ctx.counters.relayed,
                     SendBatch(ctx, ctx.media_tx_port, out.media, DropReason::kTxFull));
  SendBatch(ctx, ctx.media_tx_port, out.solicits, DropReason::kTxFull);
  if (ctx.exception_port >= 0) {
    SendException(ctx, out.exception);
  }
  return static_cast<uint16_t>(n + m);
}

// Kernel -> NIC: the exception path's other direction, frames unchanged.
uint16_t PollException(LcoreContext& ctx) {
  if (ctx.exception_port < 0) return 0;
  TxBatch out;
  out.count = rte_eth_rx_burst(static_cast<uint16_t>(ctx.exception_port), ctx.queue,
                               out.pkts, kBurstSize);
  const uint16_t n = out.count;
  if (n == 0) return 0;
  // The kernel speaks from a VIP only while this node holds it.
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = out.pkts[i];
    if (FromAddressNotHeld(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m),
                           *ctx.addresses)) {
      ctx.counters.Drop(DropReason::kExceptionNotHeld);
      rte_pktmbuf_free(m);
      continue;
    }
    out.pkts[kept++] = m;
  }
  out.count = kept;
  ctx.counters.Count(ctx.counters.exception_out, kept);
  SendBatch(ctx, ctx.media_tx_port, out, DropReason::kTxFull);
  return n;
}

void ApplyKeepaliveCommands(LcoreContext& ctx, uint64_t now_ns) {
  if (ctx.keepalives == nullptr) return;
  if (ctx.has_stalled_keepalive_command) {
    if (!ctx.keepalives->Apply(ctx.stalled_keepalive_command, now_ns, ctx.events)) return;
    ctx.has_stalled_keepalive_command = false;
  }
  KeepaliveCommand c;
  for (uint32_t i = 0; i < kCommandsPerPoll && ctx.keepalive_commands->Pop(&c); ++i) {
    if (!ctx.keepalives->Apply(c, now_ns, ctx.events)) {
      ctx.stalled_keepalive_command = c;
      ctx.has_stalled_keepalive_command = true;
      return;
    }
  }
}

// Builds one keepalive into `m`; false (and `m` reused or freed by the
// caller) when the next hop is unknown.
bool BuildKeepalive(LcoreContext& ctx, const KeepaliveTarget& t, rte_mbuf* m,
                    IpAddress* solicit) {
  uint8_t dst_mac[6];
  if (!NextHopMac(ctx.fast, t.dst_ip, dst_mac, solicit)) return false;
  const KeepalivePayload& payload = ctx.payloads->at(t.payload_id);
  const uint16_t room = kEtherHeaderLen + kIpv6HeaderLen + kUdpHeaderLen + payload.length;
  uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, room));
  if (frame == nullptr) return false;
  EgressHeaders e{ctx.fast.relay_mac, dst_mac, ctx.addresses->at(t.src_addr_id), t.dst_ip,
                  t.src_port, t.dst_port};
  uint32_t len = BuildUdpFrame(frame, e, payload.bytes, payload.length, payload.sum);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(room - len));
  return true;
}

void EmitKeepalives(LcoreContext& ctx, uint64_t now_ns) {
  if (ctx.keepalives == nullptr || ctx.keepalives->armed() == 0) return;
  const uint64_t start = rte_get_tsc_cycles();
  TxBatch out, solicits;
  uint32_t due = ctx.keepalives->Run(now_ns, kKeepalivesPerPoll,
                                     [&](uint32_t, KeepaliveTarget& t) {
    // The other node holding the address sends it: one sender a binding.
    if (!ctx.addresses->held(t.src_addr_id)) {
      ctx.counters.Drop(DropReason::kKeepaliveNotHeld);
      return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(ctx.pool);
    if (m == nullptr) {
      ctx.counters.Drop(DropReason::kKeepaliveNoMbuf);
      return;
    }
    IpAddress solicit;
    if (!BuildKeepalive(ctx, t, m, &solicit)) {
      ctx.counters.Drop(DropReason::kKeepaliveNextHopUnknown);
      if (!solicit.is_unspecified() && SolicitWith(ctx, m, solicit, now_ns)) {
        solicits.pkts[solicits.count++] = m;
      } else {
        rte_pktmbuf_free(m);
      }
      return;
    }
    out.pkts[out.count++] = m;
    RelaxedStore(t.sent, t.sent + 1);
    RelaxedStore(t.last_sent_ns, now_ns);
  });
  if (due > 0) {
    ctx.counters.Count(ctx.counters.keepalives_sent,
                       SendBatch(ctx, ctx.media_tx_port, out, DropReason::kTxFull));
    SendBatch(ctx, ctx.media_tx_port, solicits, DropReason::kTxFull);
    // Only polls that sent count: the empty check is a compare or two and
    // would otherwise make an idle lcore look busy with keepalives.
    ctx.counters.Count(ctx.counters.keepalive_cycles, rte_get_tsc_cycles() - start);
  }
}

// Lcore 0: the announcements due for standby addresses just taken, from
// the NIC, so the segment sends their traffic here (address_holding.h).
void AnnounceTakenAddresses(LcoreContext& ctx, uint64_t now_ns) {
  AddressHolding& holding = ctx.addresses->holding();
  if (ctx.fast.lcore_index != 0 || !holding.announcing()) return;
  TxBatch out;
  for (uint8_t id = 0; id < ctx.addresses->size() && out.count < kBurstSize; ++id) {
    if (holding.announcements_left(id) == 0 || now_ns < ctx.next_announce_ns[id]) continue;
    rte_mbuf* m = rte_pktmbuf_alloc(ctx.pool);
    if (m == nullptr) return;  // the pool is short now: the next poll tries again
    if (!holding.TakeAnnouncement(id)) {
      rte_pktmbuf_free(m);
      continue;  // released meanwhile
    }
    uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kSolicitFrameMax));
    const uint32_t len = BuildAnnouncement(frame, ctx.fast.relay_mac, ctx.addresses->at(id));
    rte_pktmbuf_trim(m, static_cast<uint16_t>(kSolicitFrameMax - len));
    ctx.next_announce_ns[id] = now_ns + AddressHolding::kAnnounceIntervalNs;
    out.pkts[out.count++] = m;
  }
  ctx.counters.Count(ctx.counters.announcements,
                     SendBatch(ctx, ctx.media_tx_port, out, DropReason::kTxFull));
}

}  // namespace

uint32_t PollOnce(LcoreContext& ctx) {
  ApplyCommands(ctx);
  uint64_t now_ns = ctx.clock->NowNs();
  ApplyKeepaliveCommands(ctx, now_ns);
  uint32_t handled = PollMedia(ctx, now_ns) + PollException(ctx);
  EmitKeepalives(ctx, now_ns);
  AnnounceTakenAddresses(ctx, now_ns);
  return handled;
}

int RunLcore(LcoreContext& ctx) {
  uint64_t last = rte_get_tsc_cycles();
  while (!ctx.quit->load(std::memory_order_relaxed)) {
    uint32_t handled = PollOnce(ctx);
    uint64_t now = rte_get_tsc_cycles();
    if (handled) {
      ctx.counters.Count(ctx.counters.busy_cycles, now - last);
    } else {
      ctx.counters.Count(ctx.counters.idle_cycles, now - last);
    }
    last = now;
  }
  ctx.held.Clear([](auto& e) { rte_pktmbuf_free(e.packet); });
  return 0;
}

}  // namespace rtplatch
