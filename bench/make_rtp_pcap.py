#!/usr/bin/env python3
"""Write a pcap of RTP/UDP/IPv4 frames addressed to rtplatch relay ports.

The relay ports are predicted from the dataplane's allocation order (see
`StreamModel`), so the capture can be written before the dataplane starts:
net_pcap reads its file at startup. bench/throughput.py checks the
prediction against the dataplane's `allocate` replies and fails loudly if
they differ.

Every frame is Ethernet + IPv4 + UDP + RTP (12 bytes) + 160 bytes of PCMU
payload (20 ms at 8 kHz): 214 bytes on the wire before the FCS. Each frame
goes to the RTP port of one stream drawn at random; each stream always
sends from the same source (198.51.100.0/24, port derived from the stream
index) with its own SSRC and a running sequence number and timestamp, so
the first packet latches and the rest are forwarded. IPv4 and UDP checksums
are valid. The pcap is written with `struct`: scapy is ~100x slower.

Usage: make_rtp_pcap.py --streams N --out FILE [--packets 65536] [--seed 1]
"""

import argparse
import ipaddress
import random
import struct
import sys

# --- the stream model shared with throughput.py ----------------------------

# 32 relay addresses from the documentation prefix 203.0.113.0/24.
RELAY_ADDRESS_BASE = ipaddress.IPv4Address("203.0.113.10")
RELAY_ADDRESS_COUNT = 32
PORT_MIN = 1024
PORT_MAX = 65535
# Peers (the "phones") sit in 198.51.100.0/24, .1 to .254.
PEER_NET = ipaddress.IPv4Address("198.51.100.0")
PEER_HOSTS = 254
PEER_PORT_BASE = 1024

# net_pcap's default MAC for the first pcap port is 02:70:63:61:70:00
# ("\x02pcap" + index); the frames are addressed to it so a dataplane that
# filters on its own MAC accepts them. All peers sit behind one router.
DEFAULT_DST_MAC = "02:70:63:61:70:00"
DEFAULT_SRC_MAC = "02:00:00:00:00:01"

PAYLOAD_BYTES = 160   # 20 ms of PCMU
RTP_PT_PCMU = 0
RTP_TS_STEP = 160


class StreamModel:
    """Where stream i (0-based allocation order) lives and who sends to it.

    The dataplane allocates address 0 first, ascending even ports, the two
    legs of a pair adjacent (a gets port p, b gets p+2), then the next
    address. Stream i = 2*pair + (0 for leg a, 1 for leg b).
    """

    def __init__(self, port_min=PORT_MIN, port_max=PORT_MAX,
                 address_count=RELAY_ADDRESS_COUNT):
        self.port_min = port_min + (port_min & 1)      # rounded up to even
        # An RTP port p needs p+1 for RTCP, so the last even port is
        # port_max - 1 (port_max odd) or port_max - 2 (port_max even).
        last_even = port_max - 1 if port_max & 1 else port_max - 2
        self.ports_per_address = (last_even - self.port_min) // 2 + 1
        self.address_count = address_count
        self.capacity = self.ports_per_address * address_count

    @staticmethod
    def relay_addresses(count=RELAY_ADDRESS_COUNT):
        return [str(RELAY_ADDRESS_BASE + k) for k in range(count)]

    def relay(self, i):
        """(address index, RTP port) of stream i."""
        return (i // self.ports_per_address,
                self.port_min + 2 * (i % self.ports_per_address))

    def relay_str(self, i):
        a, p = self.relay(i)
        return "%s:%d" % (RELAY_ADDRESS_BASE + a, p)

    def index_of(self, address_index, port):
        """Inverse of relay(); None if (address, port) is not an RTP slot."""
        off = port - self.port_min
        if (address_index < 0 or address_index >= self.address_count or
                off < 0 or off & 1 or off // 2 >= self.ports_per_address):
            return None
        return address_index * self.ports_per_address + off // 2

    @staticmethod
    def peer(i):
        """(IPv4 string, UDP port) the phone of stream i sends from."""
        host = 1 + i % PEER_HOSTS
        port = PEER_PORT_BASE + 2 * (i // PEER_HOSTS)
        if port > 65534:
            raise ValueError("stream %d: peer port space exhausted" % i)
        return str(PEER_NET + host), port

    @classmethod
    def peer_str(cls, i):
        ip, port = cls.peer(i)
        return "%s:%d" % (ip, port)

    @staticmethod
    def ssrc(i):
        return (i * 2654435761 + 0x5eed) & 0xFFFFFFFF


# --- frame construction -----------------------------------------------------

def _mac(s):
    b = bytes(int(x, 16) for x in s.split(":"))
    if len(b) != 6:
        raise ValueError("bad MAC %r" % s)
    return b


def _fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _sum16(b):
    """One's-complement sum (unfolded) of b as big-endian 16-bit words."""
    if len(b) & 1:
        b += b"\0"
    return sum(struct.unpack("!%dH" % (len(b) // 2), b))


def write_pcap(path, streams, packets, seed=1, model=None,
               dst_mac=DEFAULT_DST_MAC, src_mac=DEFAULT_SRC_MAC):
    model = model or StreamModel()
    if streams < 1 or streams > model.capacity:
        raise ValueError("streams must be 1..%d" % model.capacity)
    rng = random.Random(seed)
    eth = _mac(dst_mac) + _mac(src_mac) + b"\x08\x00"
    payload = bytes((0xFF,)) * PAYLOAD_BYTES   # PCMU silence
    payload_sum = _sum16(payload)
    udp_len = 8 + 12 + PAYLOAD_BYTES
    ip_len = 20 + udp_len
    frame_len = 14 + ip_len
    seq = {}
    relay_addr_be = [int(RELAY_ADDRESS_BASE + k) for k in range(model.address_count)]

    with open(path, "wb") as f:
        # Global header: magic, v2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET.
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        out = []
        for n in range(packets):
            i = rng.randrange(streams)
            addr_idx, dport = model.relay(i)
            dst = relay_addr_be[addr_idx]
            sip, sport = model.peer(i)
            src = int(ipaddress.IPv4Address(sip))
            s = seq.get(i, 0)
            seq[i] = s + 1
            marker = 0x80 if s == 0 else 0
            rtp = struct.pack("!BBHII", 0x80, marker | RTP_PT_PCMU, s & 0xFFFF,
                              (s * RTP_TS_STEP) & 0xFFFFFFFF, model.ssrc(i))
            ident = n & 0xFFFF
            iph = struct.pack("!BBHHHBBHII", 0x45, 0xB8, ip_len, ident, 0x4000,
                              64, 17, 0, src, dst)   # DSCP EF, DF
            ipck = (~_fold(_sum16(iph))) & 0xFFFF
            iph = iph[:10] + struct.pack("!H", ipck) + iph[12:]
            udph = struct.pack("!HHHH", sport, dport, udp_len, 0)
            pseudo = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + 17 + udp_len
            ck = (~_fold(pseudo + _sum16(udph) + _sum16(rtp) + payload_sum)) & 0xFFFF
            if ck == 0:
                ck = 0xFFFF
            udph = udph[:6] + struct.pack("!H", ck)
            ts_us = n * 20
            out.append(struct.pack("<IIII", ts_us // 1000000, ts_us % 1000000,
                                   frame_len, frame_len))
            out.append(eth + iph + udph + rtp + payload)
            if len(out) >= 8192:
                f.write(b"".join(out))
                out.clear()
        f.write(b"".join(out))
    return frame_len


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--packets", type=int, default=65536)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dst-mac", default=DEFAULT_DST_MAC)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    flen = write_pcap(args.out, args.streams, args.packets, args.seed,
                      dst_mac=args.dst_mac)
    print("wrote %s: %d frames of %d bytes to %d streams" %
          (args.out, args.packets, flen, args.streams), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
