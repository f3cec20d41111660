#!/usr/bin/env python3
"""A DNS server that answers badly on purpose, for dns_bad_answers_test.sh.

Serves UDP and TCP on ADDRESS:53 (stdlib only) and answers by query name,
whatever the type asked (NAPTR, SRV, A, AAAA), with one kind of bad answer
per name (a name and every name under it):

  trunc.bad.example     two A records, the message cut in the middle of the
                        second (no TC bit): a truncated answer
  loopa.bad.example     a CNAME loop: loopa -> loopb -> loopa (and
  loopb.bad.example     _sip._udp.loopa -> _sip._udp.loopb -> ..., and so on)
  srvchain.bad.example  NAPTR none; SRV _sip._udp -> c0.chain.bad.example,
                        whose A is a chain of CHAIN_LENGTH CNAMEs
                        (c0 -> c1 -> ... -> cN) ending in 203.0.113.99:
                        longer than any sane limit (and over UDP, TC)
  srvloop.bad.example   NAPTR -> _sip._udp.srvloop, whose SRV targets are
                        srvloop and _sip._udp.srvloop themselves; their A
                        are CNAMEs back to each other
  huge.bad.example      over UDP: TC bit and nothing else; over TCP: HUGE_RECORDS
                        A records (about 60 KB)
  garbage.bad.example   the query's id, then random bytes
  junk.bad.example      a valid header and question, four answer records
                        announced, random bytes where they should be
  wrongid.bad.example   a good answer (A 203.0.113.98) with another id
  silent.bad.example    no answer at all (the asker times out)
  good.example          a real zone: NAPTR none, SRV _sip._udp.good.example
                        10 10 5060 gw.good.example, gw A 203.0.113.40

Everything else: NXDOMAIN. Every query is logged to LOG as one line:
"<unix time> <udp|tcp> <type> <name> <what was done>".

usage: bad_dns_server.py ADDRESS LOG
"""
import os
import socket
import struct
import sys
import threading
import time

CHAIN_LENGTH = 100   # CNAMEs in srvchain's target chain (under the 128-record cap)
HUGE_RECORDS = 3800  # A records in huge's TCP answer (16 bytes each)
UDP_LIMIT = 512      # no EDNS: a larger answer over UDP is cut (TC)

TYPES = {1: "A", 5: "CNAME", 6: "SOA", 28: "AAAA", 33: "SRV", 35: "NAPTR"}
T_A, T_CNAME, T_SOA, T_AAAA, T_SRV, T_NAPTR = 1, 5, 6, 28, 33, 35
NOERROR, NXDOMAIN = 0, 3

log_lock = threading.Lock()


def log(path, line):
    with log_lock, open(path, "a") as f:
        f.write("%.3f %s\n" % (time.time(), line))


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_query(data):
    """(id, flags, name, qtype, question bytes) or None."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1 or flags & 0x8000:
        return None
    at, labels = 12, []
    while at < len(data):
        n = data[at]
        if n == 0 or n & 0xC0:
            break
        labels.append(data[at + 1:at + 1 + n].decode(errors="replace"))
        at += 1 + n
    if at + 5 > len(data) or data[at] != 0:
        return None
    qtype = struct.unpack("!H", data[at + 1:at + 3])[0]
    return qid, flags, ".".join(labels).lower(), qtype, data[12:at + 5]


def rr(name, rtype, rdata, ttl=60):
    owner = b"\xc0\x0c" if name is None else encode_name(name)
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def a_rdata(ip):
    return socket.inet_aton(ip)


def srv_rdata(prio, weight, port, target):
    return struct.pack("!HHH", prio, weight, port) + encode_name(target)


def naptr_rdata(order, pref, flags, service, replacement):
    def cs(s):
        return bytes([len(s)]) + s.encode()
    return struct.pack("!HH", order, pref) + cs(flags) + cs(service) + cs("") + \
        encode_name(replacement)


def soa(zone):
    rdata = encode_name("ns." + zone) + encode_name("hostmaster." + zone) + \
        struct.pack("!IIIII", 1, 3600, 600, 86400, 30)
    return rr(zone, T_SOA, rdata, 30)


def message(qid, question, answers=(), rcode=NOERROR, authority=(), tc=False, count=None):
    flags = 0x8400 | 0x0100 | rcode  # QR, AA, RD copied, rcode
    if tc:
        flags |= 0x0200
    head = struct.pack("!HHHHHH", qid, flags, 1, len(answers) if count is None else count,
                       len(authority), 0)
    return head + question + b"".join(answers) + b"".join(authority)


def under(name, zone):
    return name == zone or name.endswith("." + zone)


def answer(q, tcp):
    """(reply bytes or None, what was done)."""
    qid, _, name, qtype, question = q
    bad = "bad.example"
    if under(name, "good.example"):
        if name == "_sip._udp.good.example" and qtype == T_SRV:
            return message(qid, question, [rr(None, T_SRV, srv_rdata(10, 10, 5060,
                                                                      "gw.good.example"))]), "srv"
        if name == "gw.good.example" and qtype == T_A:
            return message(qid, question, [rr(None, T_A, a_rdata("203.0.113.40"))]), "a"
        if name in ("good.example", "_sip._tcp.good.example", "gw.good.example"):
            return message(qid, question, authority=[soa("good.example")]), "nodata"
        return message(qid, question, rcode=NXDOMAIN, authority=[soa("good.example")]), "nxdomain"
    if under(name, "trunc." + bad):
        full = message(qid, question, [rr(None, T_A, a_rdata("203.0.113.91")),
                                       rr(None, T_A, a_rdata("203.0.113.92"))])
        return full[:len(full) - 9], "truncated mid-record"
    for x, y in (("loopa", "loopb"), ("loopb", "loopa")):
        if under(name, x + "." + bad):
            other = name[:len(name) - len(x + "." + bad)] + y + "." + bad
            return message(qid, question, [rr(None, T_CNAME, encode_name(other)),
                                           rr(other, T_CNAME, encode_name(name))]), "cname loop"
    if under(name, "srvchain." + bad):
        if name == "_sip._udp.srvchain." + bad and qtype == T_SRV:
            return message(qid, question, [rr(None, T_SRV, srv_rdata(10, 10, 5060,
                                                                      "c0.chain." + bad))]), "srv"
        return message(qid, question, authority=[soa(bad)]), "nodata"
    if under(name, "chain." + bad):
        first = name.split(".")[0]
        k = int(first[1:]) if first[:1] == "c" and first[1:].isdigit() else 0
        records = [rr("c%d.chain.%s" % (i, bad), T_CNAME, encode_name("c%d.chain.%s" % (i + 1, bad)))
                   for i in range(k, CHAIN_LENGTH)]
        records[0] = rr(None, T_CNAME, encode_name("c%d.chain.%s" % (k + 1, bad)))
        if qtype == T_A:
            records.append(rr("c%d.chain.%s" % (CHAIN_LENGTH, bad), T_A, a_rdata("203.0.113.99")))
        return message(qid, question, records), "cname chain of %d" % (CHAIN_LENGTH - k)
    if under(name, "srvloop." + bad):
        owner = "_sip._udp.srvloop." + bad
        if name == "srvloop." + bad and qtype == T_NAPTR:
            return message(qid, question, [rr(None, T_NAPTR, naptr_rdata(
                10, 10, "s", "SIP+D2U", owner))]), "naptr -> srv owner"
        if qtype == T_SRV:
            return message(qid, question, [rr(None, T_SRV, srv_rdata(10, 10, 5060, "srvloop." + bad)),
                                           rr(None, T_SRV, srv_rdata(20, 10, 5060, name))]), "srv loop"
        back = owner if name == "srvloop." + bad else "srvloop." + bad
        return message(qid, question, [rr(None, T_CNAME, encode_name(back))]), "cname back"
    if under(name, "huge." + bad):
        if not tcp:
            return message(qid, question, tc=True), "tc over udp"
        records = [rr(None, T_A, a_rdata("203.0.113.%d" % (100 + i % 100)))
                   for i in range(HUGE_RECORDS)]
        reply = message(qid, question, records)
        return reply, "%d records, %d bytes over tcp" % (HUGE_RECORDS, len(reply))
    if under(name, "garbage." + bad):
        return struct.pack("!H", qid) + os.urandom(200), "garbage"
    if under(name, "junk." + bad):
        return message(qid, question, count=4) + os.urandom(100), "junk records"
    if under(name, "wrongid." + bad):
        return message(qid ^ 0x5A5A, question, [rr(None, T_A, a_rdata("203.0.113.98"))]), "wrong id"
    if under(name, "silent." + bad):
        return None, "silent"
    return message(qid, question, rcode=NXDOMAIN), "nxdomain"


def fit_udp(reply, question):
    """Over UDP without EDNS, a reply longer than 512 bytes: header and
    question only, TC set (what a server does)."""
    if reply is None or len(reply) <= UDP_LIMIT:
        return reply
    head = bytearray(reply[:12])
    head[2] |= 0x02
    head[6:12] = b"\0" * 6
    return bytes(head) + question


def serve_tcp_conn(conn, log_path):
    buf = b""
    with conn:
        conn.settimeout(30)
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                data, buf = buf[2:2 + n], buf[2 + n:]
                q = parse_query(data)
                if q is None:
                    continue
                reply, what = answer(q, True)
                log(log_path, "tcp %s %s %s" % (TYPES.get(q[3], q[3]), q[2], what))
                if reply is not None:
                    try:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
                    except OSError:
                        return


def serve_tcp(sock, log_path):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, log_path), daemon=True).start()


def main():
    address, log_path = sys.argv[1:3]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, 53))
    tcp.listen(16)
    threading.Thread(target=serve_tcp, args=(tcp, log_path), daemon=True).start()
    log(log_path, "listening %s:53 udp tcp" % address)
    while True:
        data, peer = udp.recvfrom(4096)
        q = parse_query(data)
        if q is None:
            continue
        reply, what = answer(q, False)
        reply = fit_udp(reply, q[4])
        log(log_path, "udp %s %s %s" % (TYPES.get(q[3], q[3]), q[2], what))
        if reply is not None:
            udp.sendto(reply, peer)


if __name__ == "__main__":
    sys.exit(main())
