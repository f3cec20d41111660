#!/usr/bin/env python3
"""Tiny RTP endpoint for the netns integration tests.

One UDP socket, bound to a chosen local address:port, that can send RTP,
receive RTP, or both at once on the same socket (symmetric RTP, as phones
do). Everything is bounded in time: the process always exits after
--duration seconds (or after the last packet in `send` mode).

  udp_peer.py send --bind 0.0.0.0:4000 --dest 203.0.113.10:20000 \
      --count 150 --rate 50 --ssrc 0x1111 --tag phone
  udp_peer.py recv --bind 203.0.113.20:5000 --duration 4 --out rx.json
  udp_peer.py both --bind 0.0.0.0:4000 --dest 203.0.113.10:20000 \
      --count 150 --rate 50 --ssrc 0x1111 --tag phone --duration 5 \
      --out phone.json --ready phone.ready --go start.flag

Each sent packet is a valid RTP v2 packet (PT 0, 160 payload bytes like
20 ms of G.711) whose payload starts with b"rtplatch:<tag>:<seq>:" so the
receiver can tell who sent it. --dest may be repeated: every tick sends one
packet to each destination (an attacker spraying several ports).

The JSON summary (written to --out, or stdout if --out is "-") holds:
  sent, sent_errors, received (all datagrams), rtp (valid RTP v2),
  non_rtp, sources {"ip:port": n}, ssrcs {"0x...": n},
  tags {"tag": n}, by_source_tag {"ip:port": {"tag": n}},
  first_rx_s / last_rx_s (seconds after the start; 0 for packets that
  arrived while waiting for --go), duration_s.
"""

import argparse
import errno
import json
import os
import select
import socket
import struct
import sys
import time

RTP_HEADER = struct.Struct("!BBHII")
PAYLOAD_LEN = 160
MAX_DATAGRAM = 65535


def parse_hostport(text):
    """'1.2.3.4:5', '[2001:db8::1]:5' or '2001:db8::1:5' -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise argparse.ArgumentTypeError("bad address %r" % text)
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise argparse.ArgumentTypeError("address needs a port: %r" % text)
    try:
        port_num = int(port, 10)
    except ValueError:
        raise argparse.ArgumentTypeError("bad port in %r" % text)
    if not 0 <= port_num <= 65535:
        raise argparse.ArgumentTypeError("port out of range in %r" % text)
    return host, port_num


def fmt_addr(addr):
    host, port = addr[0], addr[1]
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def build_rtp(seq, ts, ssrc, tag):
    header = RTP_HEADER.pack(0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF,
                             ssrc & 0xFFFFFFFF)
    body = ("rtplatch:%s:%d:" % (tag, seq)).encode()
    body = body[:PAYLOAD_LEN].ljust(PAYLOAD_LEN, b"\xd5")
    return header + body


def parse_rtp(data):
    """Returns (ssrc, tag) for a valid RTP v2 packet, else None."""
    if len(data) < RTP_HEADER.size:
        return None
    b0, b1, _seq, _ts, ssrc = RTP_HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    offset = RTP_HEADER.size + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        ext_words = struct.unpack_from("!H", data, offset + 2)[0]
        offset += 4 + 4 * ext_words
    if offset > len(data):
        return None
    payload = data[offset:]
    tag = None
    if payload.startswith(b"rtplatch:"):
        parts = payload.split(b":", 3)
        if len(parts) >= 3:
            tag = parts[1].decode("ascii", "replace")
    return ssrc, tag


class Summary:
    def __init__(self):
        self.sent = 0
        self.sent_errors = 0
        self.received = 0
        self.rtp = 0
        self.non_rtp = 0
        self.sources = {}
        self.ssrcs = {}
        self.tags = {}
        self.by_source_tag = {}
        self.first_rx = None
        self.last_rx = None

    def record(self, data, addr, t):
        self.received += 1
        if self.first_rx is None:
            self.first_rx = t
        self.last_rx = t
        src = fmt_addr(addr)
        self.sources[src] = self.sources.get(src, 0) + 1
        parsed = parse_rtp(data)
        if parsed is None:
            self.non_rtp += 1
            return
        self.rtp += 1
        ssrc, tag = parsed
        key = "0x%08x" % ssrc
        self.ssrcs[key] = self.ssrcs.get(key, 0) + 1
        tag = tag if tag is not None else "?"
        self.tags[tag] = self.tags.get(tag, 0) + 1
        per = self.by_source_tag.setdefault(src, {})
        per[tag] = per.get(tag, 0) + 1

    def as_dict(self, args, duration):
        return {
            "mode": args.mode,
            "bind": args.bind,
            "dest": args.dest or [],
            "tag": args.tag,
            "ssrc": "0x%08x" % args.ssrc,
            "sent": self.sent,
            "sent_errors": self.sent_errors,
            "received": self.received,
            "rtp": self.rtp,
            "non_rtp": self.non_rtp,
            "sources": self.sources,
            "ssrcs": self.ssrcs,
            "tags": self.tags,
            "by_source_tag": self.by_source_tag,
            "first_rx_s": self.first_rx,
            "last_rx_s": self.last_rx,
            "duration_s": round(duration, 3),
        }


def open_socket(bind_host, bind_port, want_family):
    family = want_family if bind_host in ("", "*") else family_of(bind_host)
    if bind_host in ("", "*"):
        bind_host = "::" if family == socket.AF_INET6 else "0.0.0.0"
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((bind_host, bind_port))
    sock.setblocking(False)
    return sock


def run(args):
    dests = [parse_hostport(d) for d in (args.dest or [])]
    sending = args.mode in ("send", "both")
    receiving = args.mode in ("recv", "both")
    if sending and not dests:
        sys.exit("udp_peer: --dest is required in %s mode" % args.mode)
    if args.rate <= 0:
        sys.exit("udp_peer: --rate must be > 0")
    bind_host, bind_port = parse_hostport(args.bind)
    want_family = family_of(dests[0][0]) if dests else socket.AF_INET
    for host, _ in dests:
        if family_of(host) != want_family:
            sys.exit("udp_peer: all --dest must be one address family")
    sock = open_socket(bind_host, bind_port, want_family)

    if args.ready:
        with open(args.ready, "w") as f:
            f.write(fmt_addr(sock.getsockname()[:2]) + "\n")

    count = args.count if sending else 0
    interval = 1.0 / args.rate
    # The last packet leaves at delay + (count - 1) * interval.
    send_span = args.delay + count * interval if count else 0.0
    if args.duration is not None:
        duration = args.duration
    elif receiving:
        duration = send_span + 1.0
    else:
        duration = send_span
    duration = min(duration, args.max_duration)

    summary = Summary()
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if args.go:
        # Bound and ready; the clock starts when the test creates the go
        # file, so several peers can start together. Receive meanwhile.
        give_up = time.monotonic() + args.go_timeout
        while not os.path.exists(args.go):
            if time.monotonic() >= give_up:
                sys.exit("udp_peer: %s did not appear within %.0f s"
                         % (args.go, args.go_timeout))
            if poller.poll(20):
                drain(sock, summary, time.monotonic(), receiving)

    start = time.monotonic()
    deadline = start + duration
    next_send = start + args.delay
    seq = args.first_seq
    ts = 0

    while True:
        now = time.monotonic()
        # The deadline is a hard bound on run time: it wins over --count.
        if now >= deadline:
            break
        if sending and sent_ticks(summary, dests) < count and now >= next_send:
            for dest in dests:
                pkt = build_rtp(seq, ts, args.ssrc, args.tag)
                try:
                    sock.sendto(pkt, dest)
                    summary.sent += 1
                except OSError as e:
                    # ECONNREFUSED from an earlier ICMP, ENETUNREACH,
                    # EAGAIN: count and carry on.
                    summary.sent_errors += 1
                    if e.errno not in (errno.ECONNREFUSED, errno.EAGAIN,
                                       errno.ENETUNREACH, errno.EHOSTUNREACH,
                                       errno.ENOBUFS, errno.EPERM):
                        raise
            seq = (seq + 1) & 0xFFFF
            ts = (ts + PAYLOAD_LEN) & 0xFFFFFFFF
            next_send += interval
            # Fell far behind (machine busy)? Do not burst to catch up.
            if next_send < now - 0.2:
                next_send = now
            continue
        if sending and sent_ticks(summary, dests) < count:
            wait = min(next_send, deadline) - now
        else:
            wait = deadline - now
        wait_ms = max(0, min(int(wait * 1000) + 1, 200))
        events = poller.poll(wait_ms)
        if events:
            drain(sock, summary, start, receiving)

    # A last non-blocking drain of anything that is already queued.
    drain(sock, summary, start, receiving)
    sock.close()
    result = summary.as_dict(args, time.monotonic() - start)
    text = json.dumps(result, sort_keys=True)
    if args.out in (None, "-"):
        print(text)
    else:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.out)
    return 0


def sent_ticks(summary, dests):
    # Ticks done so far (one tick = one packet per destination).
    return (summary.sent + summary.sent_errors) // max(1, len(dests))


def drain(sock, summary, start, receiving):
    for _ in range(10000):
        try:
            data, addr = sock.recvfrom(MAX_DATAGRAM)
        except BlockingIOError:
            return
        except OSError as e:
            # ICMP errors surface as ECONNREFUSED on the next call.
            if e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH,
                           errno.ENETUNREACH):
                continue
            raise
        if receiving:
            summary.record(data, addr, round(time.monotonic() - start, 3))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("send", "recv", "both"))
    parser.add_argument("--bind", default="0.0.0.0:0",
                        help="local address:port (0.0.0.0, :: or * for any)")
    parser.add_argument("--dest", action="append",
                        help="destination address:port (repeatable)")
    parser.add_argument("--count", type=int, default=150,
                        help="packets to send (per destination)")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="packets per second (per destination)")
    parser.add_argument("--ssrc", type=lambda s: int(s, 0), default=0x12345678)
    parser.add_argument("--tag", default="peer",
                        help="sender name carried in each payload")
    parser.add_argument("--first-seq", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds to wait before the first packet")
    parser.add_argument("--duration", type=float,
                        help="total run time in seconds (default: send time, "
                             "+1 s when receiving)")
    parser.add_argument("--max-duration", type=float, default=120.0,
                        help="hard upper bound on run time")
    parser.add_argument("--out", help="JSON summary file ('-' = stdout)")
    parser.add_argument("--ready",
                        help="file written once the socket is bound")
    parser.add_argument("--go",
                        help="start the clock (sending, --delay, --duration) "
                             "only once this file exists")
    parser.add_argument("--go-timeout", type=float, default=30.0,
                        help="give up if the --go file does not appear")
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
