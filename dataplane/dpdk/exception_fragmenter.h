// Frames for the kernel that are longer than the exception port carries:
// af_packet hands the dataplane IP datagrams it has already reassembled
// (its fanout defragments), and a NIC with a larger MTU than the exception
// port's does the same with whole frames. A SIP INVITE with ICE candidates
// is easily 1.6 kB over UDP. The kernel reassembles fragments, so such a
// frame is cut into IP fragments that fit (DPDK's ip_frag library, as its
// ip_fragmentation example does) instead of being refused by the port.
// The exception path only: never a relayed packet.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace rtplatch {

// Sends `frame` (Ethernet, longer than 14 + `mtu`) on `port`/`queue` as
// IPv4 or IPv6 fragments of at most `mtu` bytes each, fragment mbufs from
// `pool`. Takes `frame` in every case. Returns the number of fragments the
// port took and sets `*lost` to those it did not (0 fragments and
// `*lost` = 1: not IP, IPv4 with DF set, or no mbufs).
uint16_t SendFragmented(uint16_t port, uint16_t queue, rte_mbuf* frame, uint16_t mtu,
                        rte_mempool* pool, uint16_t* lost);

}  // namespace rtplatch
