#include "dataplane/fastpath/fast_path.h"

#include <cstring>

#include "dataplane/fastpath/flow_command.h"
#include "dataplane/fastpath/packet_headers.h"
#include "dataplane/fastpath/packet_parse.h"
#include "dataplane/fastpath/packet_rewrite.h"
#include "dataplane/fastpath/stun_responder.h"

namespace rtplatch {
namespace {

constexpr uint32_t kRtpHeaderLen = 12;
constexpr uint32_t kRtcpHeaderLen = 8;

PacketVerdict Drop(FastPathContext& ctx, DropReason reason) {
  ctx.counters->Drop(reason);
  return {PacketAction::kDrop, reason, 0, 0, 0, {}};
}

PacketVerdict DropFlow(FastPathContext& ctx, Flow& flow, DropReason reason) {
  RelaxedStore(flow.drops, flow.drops + 1);
  return Drop(ctx, reason);
}

// RTP/RTCP version 2 and long enough; RTCP (its own port, or muxed per
// RFC 5761: second byte 192..223) carries the sender SSRC at offset 4.
bool ParseMedia(const Flow& flow, const uint8_t* payload, uint32_t len, uint32_t* ssrc) {
  bool rtcp = (flow.flags & kFlowRtcp) ||
              ((flow.flags & kFlowRtcpMux) && len >= 2 && payload[1] >= 192 &&
               payload[1] <= 223);
  if (len < (rtcp ? kRtcpHeaderLen : kRtpHeaderLen) || (payload[0] >> 6) != 2) {
    return false;
  }
  const uint8_t* p = payload + (rtcp ? 4 : 8);
  *ssrc = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  return true;
}

// A STUN message (RFC 5389): the top two bits zero and the magic cookie at
// offset 4: ICE connectivity checks, and phones probing before they send
// RTP. Answered on streams that do ICE (AnswerStun), else counted; never
// latched on.
bool IsStun(const uint8_t* payload, uint32_t len) {
  constexpr uint8_t kMagicCookie[4] = {0x21, 0x12, 0xA4, 0x42};
  return len >= 20 && (payload[0] >> 6) == 0 && payload[4] == kMagicCookie[0] &&
         payload[5] == kMagicCookie[1] && payload[6] == kMagicCookie[2] &&
         payload[7] == kMagicCookie[3];
}

void ReportLatch(FastPathContext& ctx, const Flow& flow, uint32_t slot,
                 LatchVerdict verdict) {
  DataplaneEvent e{};
  e.type = verdict == LatchVerdict::kLatch ? DataplaneEvent::Type::kLatched
                                           : DataplaneEvent::Type::kRelatched;
  e.generation = flow.generation;
  e.port = flow.peer_port;
  e.slot = slot;
  e.ip = flow.peer_ip;
  if (!ctx.events->Push(e)) ctx.counters->Count(ctx.counters->events_lost);
}

// The partner's relay port towards the partner's peer: next hop, rewrite,
// count.
PacketVerdict Egress(FastPathContext& ctx, Flow& flow, uint8_t* frame, uint16_t headroom,
                     const RelayPacket& pkt) {
  uint8_t dst_mac[6];
  IpAddress solicit;
  if (!NextHopMac(ctx, flow.egress_dst_ip, dst_mac, &solicit)) {
    RelaxedStore(flow.drops, flow.drops + 1);
    ctx.counters->Drop(DropReason::kNextHopUnknown);
    return {PacketAction::kSolicit, DropReason::kNextHopUnknown, 0, 0, 0, solicit};
  }
  EgressHeaders egress{ctx.relay_mac,
                       dst_mac,
                       ctx.table->addresses().at(flow.egress_addr_id),
                       flow.egress_dst_ip,
                       flow.egress_src_port,
                       flow.egress_dst_port};
  RewriteResult r = RewriteFrame(frame, headroom, pkt, egress);
  if (!r.ok) return DropFlow(ctx, flow, DropReason::kNoHeadroom);
  RelaxedStore(flow.packets, flow.packets + 1);
  RelaxedStore(flow.bytes, flow.bytes + (pkt.udp_length - kUdpHeaderLen));
  return {PacketAction::kTransmit, {}, 0, r.start_delta, r.length, {}};
}

// A STUN message on a relay port: an authentic ICE check for a stream
// with credentials is answered from the port it was sent to, back to its
// sender's MAC; anything else is counted and dropped. It never moves the
// latch: media latches on RTP as on every other stream.
PacketVerdict AnswerStun(FastPathContext& ctx, Flow& flow, uint8_t* frame, uint32_t len,
                         uint16_t headroom, const RelayPacket& pkt) {
  const IceCredentials* local = ctx.ice == nullptr ? nullptr : ctx.ice->Find(pkt.slot & ~1u);
  if (local == nullptr) return DropFlow(ctx, flow, DropReason::kStun);
  uint8_t reply[kStunReplyMaxLen];
  uint32_t reply_len = 0;
  switch (AnswerIceCheck(frame + pkt.udp_offset + kUdpHeaderLen, pkt.udp_length - kUdpHeaderLen,
                         *local, pkt.src_ip, pkt.src_port, reply, &reply_len)) {
    case IceCheck::kNotBindingRequest:
      return DropFlow(ctx, flow, DropReason::kStun);
    case IceCheck::kUnauthenticated:
      return DropFlow(ctx, flow, DropReason::kStunUnauthenticated);
    case IceCheck::kAnswered:
      break;
  }
  uint8_t sender_mac[6];
  std::memcpy(sender_mac, frame + 6, 6);
  const EgressHeaders back{ctx.relay_mac,
                           sender_mac,
                           ctx.table->addresses().at(ctx.table->AddressIdOf(pkt.slot)),
                           pkt.src_ip,
                           ctx.table->PortOf(pkt.slot),
                           pkt.src_port};
  const uint32_t out_len = kEtherHeaderLen + (pkt.is_v6 ? kIpv6HeaderLen : kIpv4HeaderLen) +
                           kUdpHeaderLen + reply_len;
  // A reply longer than the request grows into the headroom.
  const int32_t delta = out_len > len ? -static_cast<int32_t>(out_len - len) : 0;
  if (-delta > headroom) return DropFlow(ctx, flow, DropReason::kNoHeadroom);
  BuildUdpFrame(frame + delta, back, reply, static_cast<uint16_t>(reply_len));
  ctx.counters->Count(ctx.counters->ice_checks_answered);
  return {PacketAction::kTransmit, {}, 0, delta, out_len, {}};
}

PacketVerdict Hold(const Flow& flow, uint32_t slot) {
  PacketVerdict v{PacketAction::kHold, DropReason::kNoPeerKnown, 0, 0, 0, {}};
  v.slot = slot;
  v.generation = flow.generation;
  return v;
}

}  // namespace

const Flow* ClassifyForBurst(const FastPathContext& ctx, const uint8_t* frame, uint32_t len,
                             FrameClass* cls, RelayPacket* pkt) {
  *cls = ClassifyFrame(frame, len, *ctx.table, pkt);
  return *cls == FrameClass::kRelay ? &ctx.table->at(pkt->slot) : nullptr;
}

bool NextHopMac(const FastPathContext& ctx, const IpAddress& dst, uint8_t mac[6],
                IpAddress* solicit) {
  if (ctx.neighbors->Lookup(dst, mac)) return true;
  const IpAddress& gw = dst.is_v4() ? ctx.gateway_v4 : ctx.gateway_v6;
  if (gw.is_unspecified()) {
    *solicit = dst;
    return false;
  }
  if (ctx.neighbors->Lookup(gw, mac)) return true;
  *solicit = gw;
  return false;
}

void ObserveSender(FastPathContext& ctx, const uint8_t* frame, uint32_t len) {
  DataplaneEvent e{};
  if (!FrameSender(frame, len, &e.ip, e.mac)) return;
  if (ctx.neighbors->Matches(e.ip, e.mac)) return;
  e.type = DataplaneEvent::Type::kNeighbor;
  if (!ctx.events->Push(e)) ctx.counters->Count(ctx.counters->events_lost);
}

PacketVerdict ProcessFrame(FastPathContext& ctx, uint8_t* frame, uint32_t len,
                           uint16_t headroom, uint64_t now_ns) {
  RelayPacket pkt;
  FrameClass cls = ClassifyFrame(frame, len, *ctx.table, &pkt);
  return ProcessClassified(ctx, frame, len, headroom, now_ns, cls, pkt);
}

PacketVerdict ProcessClassified(FastPathContext& ctx, uint8_t* frame, uint32_t len,
                                uint16_t headroom, uint64_t now_ns, FrameClass cls,
                                const RelayPacket& pkt) {
  switch (cls) {
    case FrameClass::kException:
      ObserveSender(ctx, frame, len);
      return {PacketAction::kException, {}, 0, 0, 0, {}};
    case FrameClass::kMalformed:
      return Drop(ctx, DropReason::kMalformed);
    case FrameClass::kNotHeld:
      return Drop(ctx, DropReason::kAddressNotHeld);
    case FrameClass::kRelay:
      break;
  }
  if (ctx.lcore_count > 1) {
    uint32_t owner = OwnerIndexOf(pkt.slot, ctx.lcore_count);
    if (owner != ctx.lcore_index) return {PacketAction::kHandoff, {}, owner, 0, 0, {}};
  }
  Flow& flow = ctx.table->at(pkt.slot);
  if (flow.state == LatchState::kFree) return Drop(ctx, DropReason::kUnknownStream);

  PacketSource src{pkt.src_ip, pkt.src_port, 0};
  const uint8_t* payload = frame + pkt.udp_offset + kUdpHeaderLen;
  const uint32_t payload_len = pkt.udp_length - kUdpHeaderLen;
  if (!ParseMedia(flow, payload, payload_len, &src.ssrc)) {
    if (IsStun(payload, payload_len)) return AnswerStun(ctx, flow, frame, len, headroom, pkt);
    return DropFlow(ctx, flow, DropReason::kNotRtp);
  }
  // RTCP follows its RTP port: until that has latched, and from any address
  // but the one it latched to, RTCP is refused. A phone that sends no RTCP
  // would otherwise leave its RTCP port to the first sprayer (RTP Bleed on
  // the odd port). Both flows are on this lcore (slots 2k and 2k+1).
  if ((flow.flags & kFlowRtcp) && !(flow.flags & kFlowRtcpMux) &&
      flow.state != LatchState::kLocked) {
    const Flow& rtp = ctx.table->at(pkt.slot - 1);
    if (rtp.state != LatchState::kLearning && rtp.state != LatchState::kLocked) {
      return DropFlow(ctx, flow, DropReason::kRtcpNotFromRtpPeer);
    }
    if (!(rtp.peer_ip == src.ip)) return DropFlow(ctx, flow, DropReason::kRtcpNotFromRtpPeer);
  }
  LatchDecision decision = DecideLatch(flow, src, now_ns, ctx.latch);
  if (decision.verdict == LatchVerdict::kDrop) return DropFlow(ctx, flow, decision.reason);
  if (ApplyLatch(flow, decision, src, now_ns, ctx.latch)) {
    RefreshEgress(*ctx.table, flow.partner_slot);
    ReportLatch(ctx, flow, pkt.slot, decision.verdict);
    ObserveSender(ctx, frame, len);
  }
  RelaxedStore(flow.last_rx_ns, now_ns);
  if (!(flow.flags & kFlowEgressReady)) return Hold(flow, pkt.slot);
  return Egress(ctx, flow, frame, headroom, pkt);
}

PacketVerdict ForwardHeld(FastPathContext& ctx, uint8_t* frame, uint32_t len,
                          uint16_t headroom) {
  RelayPacket pkt;
  if (ClassifyFrame(frame, len, *ctx.table, &pkt) != FrameClass::kRelay) {
    return Drop(ctx, DropReason::kUnknownStream);
  }
  Flow& flow = ctx.table->at(pkt.slot);
  if (flow.state == LatchState::kFree) return Drop(ctx, DropReason::kUnknownStream);
  if (!(flow.flags & kFlowEgressReady)) return Hold(flow, pkt.slot);
  return Egress(ctx, flow, frame, headroom, pkt);
}

}  // namespace rtplatch
