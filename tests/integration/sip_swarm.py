#!/usr/bin/env python3
"""More SIP than one control plane can serve, from so many sources that no
per-source limit stops it (for sip_flood_test.sh's overload phase): new
INVITEs and REGISTERs, each from the next of SOURCES IPv6 /64s under
PREFIX (PREFIX:i::1; the namespace routes PREFIX::/48 to itself as local
addresses, so any of them can send and receive), to [SERVER]:PORT, as fast
as one Python thread goes, for SECONDS once START_FILE exists.

  sip_swarm.py PREFIX SOURCES SERVER PORT SECONDS START_FILE

Each source sends at most SECONDS x rate / SOURCES requests: far below the
guard's per-source limits when SOURCES is large. Answers are read between
sends. Prints one line:
  swarm sent=N invites=I registers=R answered_503=A with_retry_after=B
    answered_other=C sources=S
"""
import os
import re
import socket
import sys
import time

IP_FREEBIND = 15  # send from addresses the local route makes ours
STATUS = re.compile(rb"^SIP/2\.0 (\d{3})")


def request(method, n, src, server, port, domain="example.test"):
    return (
        "%s sip:bob@%s SIP/2.0\r\n"
        "Via: SIP/2.0/UDP [%s]:5060;branch=z9hG4bK-sw%d;rport\r\n"
        "From: <sip:swarm%d@%s>;tag=sw%d\r\n"
        "To: <sip:bob@%s>\r\n"
        "Call-ID: sw-%d@%s\r\n"
        "CSeq: 1 %s\r\n"
        "Contact: <sip:swarm@[%s]:5060>\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
        % (method, domain, src, n, n, domain, n, domain, n, src, method, src)).encode()


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    prefix, sources, server, port, seconds, start_file = sys.argv[1:7]
    sources, port, seconds = int(sources), int(port), float(seconds)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("::", 5060))
    sock.setblocking(False)
    deadline = time.time() + 60
    while not os.path.exists(start_file):
        if time.time() > deadline:
            print("swarm: %s never appeared" % start_file, file=sys.stderr)
            return 1
        time.sleep(0.02)
    dest = (server, port)
    counts = {"sent": 0, "invites": 0, "registers": 0, "503": 0, "retry": 0, "other": 0}

    def drain():
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            m = STATUS.match(data)
            if not m or m.group(1).startswith(b"1"):
                continue
            if m.group(1) == b"503":
                counts["503"] += 1
                counts["retry"] += b"\r\nRetry-After: " in data
            else:
                counts["other"] += 1

    end = time.time() + seconds
    n = 0
    while time.time() < end:
        for _ in range(256):
            n += 1
            src = "%s:%x::1" % (prefix, n % sources)
            method = "INVITE" if n % 2 else "REGISTER"
            pktinfo = socket.inet_pton(socket.AF_INET6, src) + b"\0\0\0\0"
            try:
                sock.sendmsg([request(method, n, src, server, port)],
                               [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)], 0, dest)
            except (BlockingIOError, OSError):
                continue
            counts["sent"] += 1
            counts["invites" if method == "INVITE" else "registers"] += 1
        drain()
    stop = time.time() + 1.0
    while time.time() < stop:
        drain()
        time.sleep(0.01)
    print("swarm sent=%d invites=%d registers=%d answered_503=%d with_retry_after=%d "
          "answered_other=%d sources=%d"
          % (counts["sent"], counts["invites"], counts["registers"], counts["503"],
             counts["retry"], counts["other"], sources))
    return 0


if __name__ == "__main__":
    sys.exit(main())
