// The relay's two common cases, each in one pass. First, an IPv4 RTP (or
// RTCP) packet from the locked peer of a flow this lcore owns, relayed to
// an IPv4 peer whose next hop is known. Inlined into the burst loop; everything else (learning,
// latching, drops, IPv6, IP options, bytes after the UDP datagram, holds,
// solicits) goes through ProcessClassified, whose verdict for these
// packets is the same: a locked flow's peer is forwarded (DecideLatch),
// ApplyLatch changes nothing, and a packet of 12 bytes or more with
// version 2 passes ParseMedia whether RTP or RTCP.
//
// The rewrite is RewriteFrame's IPv4 in-place case with the address
// change summed once for both checksums (the UDP pseudo-header holds the
// same addresses as the IP header), in registers.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

#include "dataplane/fastpath/checksum.h"
#include "dataplane/fastpath/fast_path.h"
#include "dataplane/fastpath/flow.h"
#include "dataplane/fastpath/packet_parse.h"
#include "dataplane/fastpath/packet_rewrite.h"

namespace rtplatch {

namespace forward_locked_detail {
// NextHopMac through the lcore's cache of IPv4 next hops.
inline bool CachedNextHopV4(FastPathContext& ctx, const IpAddress& dst, uint8_t mac[6]) {
  IpAddress unused;
  if (ctx.next_hops == nullptr) return NextHopMac(ctx, dst, mac, &unused);
  // The version before the lookup: a Learn in between makes this entry
  // stale at once, never a stale MAC fresh.
  const uint32_t version = ctx.neighbors->version();
  uint32_t dst4;
  std::memcpy(&dst4, dst.v4_bytes(), 4);
  if (ctx.next_hops->Find(dst4, version, mac)) return true;
  if (!NextHopMac(ctx, dst, mac, &unused)) return false;
  ctx.next_hops->Remember(dst4, version, mac);
  return true;
}
}  // namespace forward_locked_detail

// True: `frame` was rewritten in place (same start) to `*out_len` bytes and
// the flow counted the packet. False: nothing was touched.
inline bool ForwardLockedV4(FastPathContext& ctx, uint8_t* frame, const RelayPacket& pkt,
                            uint64_t now_ns, uint32_t* out_len) {
  constexpr uint16_t kPlainUdpOffset = kEtherHeaderLen + kIpv4HeaderLen;
  constexpr uint32_t kMinMedia = 12;  // an RTP header; covers RTCP's 8
  if (pkt.is_v6 || pkt.udp_offset != kPlainUdpOffset ||
      pkt.udp_length < kUdpHeaderLen + kMinMedia) {
    return false;
  }
  // Bytes after the UDP datagram: only the full path rewrites the total
  // length (to the datagram, which is all that is sent).
  uint16_t total;
  std::memcpy(&total, frame + kEtherHeaderLen + 2, 2);
  if (ntohs(total) != kIpv4HeaderLen + pkt.udp_length) return false;
  if (ctx.lcore_count > 1 && OwnerIndexOf(pkt.slot, ctx.lcore_count) != ctx.lcore_index) {
    return false;
  }
  Flow& flow = ctx.table->at(pkt.slot);
  if (flow.state != LatchState::kLocked || flow.policy == LatchPolicy::kAsymmetric ||
      !(flow.flags & kFlowEgressReady) || flow.peer_port != pkt.src_port ||
      !(flow.peer_ip == pkt.src_ip) || !flow.egress_dst_ip.is_v4()) {
    return false;
  }
  uint8_t* udp = frame + kPlainUdpOffset;
  if ((udp[kUdpHeaderLen] >> 6) != 2) return false;
  uint8_t dst_mac[6];
  if (!forward_locked_detail::CachedNextHopV4(ctx, flow.egress_dst_ip, dst_mac)) return false;

  uint8_t* ip = frame + kEtherHeaderLen;
  uint32_t old_src, old_dst, new_src, new_dst, old_ports;
  uint16_t old_ttl_proto, ip_stored, udp_stored;
  std::memcpy(&old_ttl_proto, ip + 8, 2);
  std::memcpy(&ip_stored, ip + 10, 2);
  std::memcpy(&old_src, ip + 12, 4);
  std::memcpy(&old_dst, ip + 16, 4);
  std::memcpy(&old_ports, udp, 4);
  std::memcpy(&udp_stored, udp + 6, 2);
  std::memcpy(&new_src, ctx.table->addresses().at(flow.egress_addr_id).v4_bytes(), 4);
  std::memcpy(&new_dst, flow.egress_dst_ip.v4_bytes(), 4);
  const uint32_t new_ports =
      uint32_t{htons(flow.egress_src_port)} | (uint32_t{htons(flow.egress_dst_port)} << 16);
  const uint16_t new_ttl_proto = htons(static_cast<uint16_t>((kRelayTtl << 8) | kIpProtoUdp));

  // RFC 1624: HC' = ~(~HC + ~m + m') over the words that change.
  const uint32_t addresses = ChecksumAdd32(
      ChecksumAdd32(ChecksumSub32(ChecksumSub32(0, old_src), old_dst), new_src), new_dst);
  const uint32_t ip_sum = static_cast<uint16_t>(~ip_stored) +
                          static_cast<uint16_t>(~old_ttl_proto) + new_ttl_proto + addresses;
  const uint16_t ip_check = ChecksumFinish(ip_sum);
  std::memcpy(ip + 8, &new_ttl_proto, 2);
  std::memcpy(ip + 10, &ip_check, 2);
  std::memcpy(ip + 12, &new_src, 4);
  std::memcpy(ip + 16, &new_dst, 4);
  std::memcpy(udp, &new_ports, 4);
  if (udp_stored != 0) {  // IPv4 without a UDP checksum keeps it off
    const uint32_t udp_sum = ChecksumAdd32(
        ChecksumSub32(static_cast<uint16_t>(~udp_stored) + addresses, old_ports), new_ports);
    uint16_t udp_check = ChecksumFinish(udp_sum);
    if (udp_check == 0) udp_check = 0xffff;
    std::memcpy(udp + 6, &udp_check, 2);
  }
  std::memcpy(frame, dst_mac, 6);
  std::memcpy(frame + 6, ctx.relay_mac, 6);

  RelaxedStore(flow.last_rx_ns, now_ns);
  RelaxedStore(flow.packets, flow.packets + 1);
  RelaxedStore(flow.bytes, flow.bytes + (pkt.udp_length - kUdpHeaderLen));
  *out_len = kPlainUdpOffset + pkt.udp_length;
  return true;
}

// The common case of a flood at relay ports (RTP Bleed spraying, issue
// 16): an RTP or RTCP packet (version 2, 12 bytes or more) at a locked
// flow this lcore owns, from a source that is not its peer, while the peer
// is not silent. ProcessClassified drops it too (DecideLatch: nothing
// moves a locked flow before the relatch silence) with the same reason;
// this reaches that verdict without the full decision. True: dropped and
// counted under `*reason`. False: nothing counted; take the full path.
inline bool DropNotLatchedPeer(FastPathContext& ctx, const uint8_t* frame, const RelayPacket& pkt,
                               uint64_t now_ns, DropReason* reason) {
  constexpr uint32_t kMinMedia = 12;  // an RTP header; covers RTCP's 8
  if (pkt.udp_length < kUdpHeaderLen + kMinMedia) return false;
  if (ctx.lcore_count > 1 && OwnerIndexOf(pkt.slot, ctx.lcore_count) != ctx.lcore_index) {
    return false;
  }
  Flow& flow = ctx.table->at(pkt.slot);
  if (flow.state != LatchState::kLocked || flow.policy == LatchPolicy::kAsymmetric ||
      (flow.peer_port == pkt.src_port && flow.peer_ip == pkt.src_ip) ||
      now_ns - flow.last_rx_ns >= ctx.latch.relatch_silence_ns ||
      (frame[pkt.udp_offset + kUdpHeaderLen] >> 6) != 2) {
    return false;
  }
  const bool from_signalled_ip =
      !flow.expected_ip.is_unspecified() && flow.expected_ip == pkt.src_ip;
  *reason = from_signalled_ip ? DropReason::kLearningWindowClosed : DropReason::kNotLatchedPeer;
  RelaxedStore(flow.drops, flow.drops + 1);
  ctx.counters->Drop(*reason);
  return true;
}

}  // namespace rtplatch
