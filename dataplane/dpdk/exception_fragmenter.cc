#include "dataplane/dpdk/exception_fragmenter.h"

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>

#include <cstring>

namespace rtplatch {
namespace {

// 64 kB datagrams in 1280-byte fragments (the IPv6 minimum MTU) fit.
constexpr uint16_t kMaxFragments = 64;
constexpr uint16_t kEtherLen = 14;

}  // namespace

uint16_t SendFragmented(uint16_t port, uint16_t queue, rte_mbuf* frame, uint16_t mtu,
                        rte_mempool* pool, uint16_t* lost) {
  uint8_t ether[kEtherLen];
  std::memcpy(ether, rte_pktmbuf_mtod(frame, const uint8_t*), kEtherLen);
  const uint16_t type = static_cast<uint16_t>((ether[12] << 8) | ether[13]);
  rte_pktmbuf_adj(frame, kEtherLen);  // the ip_frag functions start at the IP header
  rte_mbuf* fragments[kMaxFragments];
  int32_t n = -EINVAL;
  if (type == RTE_ETHER_TYPE_IPV4) {
    n = rte_ipv4_fragment_packet(frame, fragments, kMaxFragments, mtu, pool, pool);
  } else if (type == RTE_ETHER_TYPE_IPV6) {
    n = rte_ipv6_fragment_packet(frame, fragments, kMaxFragments, mtu, pool, pool);
  }
  // The fragments refer to the frame's data (indirect mbufs), not to it.
  rte_pktmbuf_free(frame);
  if (n <= 0) {
    *lost = 1;
    return 0;
  }
  uint16_t ready = 0;
  for (int32_t i = 0; i < n; ++i) {
    char* head = rte_pktmbuf_prepend(fragments[i], kEtherLen);
    if (head == nullptr) {
      rte_pktmbuf_free(fragments[i]);
      continue;
    }
    std::memcpy(head, ether, kEtherLen);
    if (type == RTE_ETHER_TYPE_IPV4) {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(head + kEtherLen);
      ip->hdr_checksum = 0;
      ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
    fragments[ready++] = fragments[i];
  }
  const uint16_t sent = rte_eth_tx_burst(port, queue, fragments, ready);
  if (sent < ready) rte_pktmbuf_free_bulk(fragments + sent, ready - sent);
  *lost = static_cast<uint16_t>(n - sent);
  return sent;
}

}  // namespace rtplatch
