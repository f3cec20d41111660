#!/usr/bin/env python3
"""A SIP phone on one TCP or TLS connection, for tcp_call_test.sh and
conn_drop_test.sh.

Registers USER@DOMAIN with digest (MD5, qop=auth) over a connection it
keeps open, then answers one call that arrives on that same connection
(INVITE -> 180, 200 with SDP; ACK; BYE -> 200), as a phone behind NAT that
the proxy can reach only over its own connection (RFC 5626). sipp cannot
play this: it maps messages to calls by Call-ID, and the INVITE is a new
one. Every message received is appended to LOG (blank line between).

With --drop, its first connection goes away in the middle of registering:
"challenge" after the 401 (the challenge never answered), "register" right
after the authenticated REGISTER is sent (its 200 never read); closed with
a FIN, or with --rst a RST (SO_LINGER 0). It prints "dropped", waits until
the file --resume names exists, connects again from --reconnect-port
(default LOCAL_PORT + 1) and registers and answers as above. The Contact
stays sip:USER@LOCAL_IP:LOCAL_PORT throughout (the phone's own address).

usage: tcp_phone.py [--tls CA_FILE] [--drop challenge|register] [--rst]
                    [--resume FILE] [--reconnect-port PORT]
                    LOCAL_IP LOCAL_PORT PROXY_IP PROXY_PORT USER PASSWORD DOMAIN LOG
--tls: TLS to the proxy, its certificate checked against CA_FILE and
PROXY_IP. Prints "connected <local ip:port>" per connection, "registered",
"invite on connection N" and "call done".
exit 0: registered and the call ran to its BYE; 1 otherwise.
"""
import argparse
import hashlib
import re
import os
import socket
import ssl
import struct
import sys
import time

TIMEOUT_S = 30


class Conn:
    def __init__(self, sock, log):
        self.sock = sock
        self.buf = b""
        self.log = log

    def send(self, text):
        self.sock.sendall(text.replace("\n", "\r\n").encode())

    def recv(self, deadline):
        """The next complete message (CRLF keepalives skipped), or None."""
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buf[:head_end].decode(errors="replace")
                m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                length = int(m.group(1)) if m else 0
                total = head_end + 4 + length
                if len(self.buf) >= total:
                    msg = self.buf[:total].decode(errors="replace")
                    self.buf = self.buf[total:]
                    self.log.write(msg + "\n\n")
                    self.log.flush()
                    return msg
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk


def headers(msg, name):
    return re.findall(r"(?im)^%s\s*:\s*(.*?)\s*$" % re.escape(name), msg.split("\r\n\r\n")[0])


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def parse_args():
    ap = argparse.ArgumentParser(description="SIP phone on one TCP/TLS connection")
    ap.add_argument("--tls", metavar="CA_FILE")
    ap.add_argument("--drop", choices=("challenge", "register"))
    ap.add_argument("--rst", action="store_true")
    ap.add_argument("--resume", metavar="FILE")
    ap.add_argument("--reconnect-port", type=int)
    for name in ("local_ip", "local_port", "proxy_ip", "proxy_port", "user", "pw", "domain",
                 "log"):
        ap.add_argument(name)
    a = ap.parse_args()
    a.local_port, a.proxy_port = int(a.local_port), int(a.proxy_port)
    return a


def connect(a, local_port, log):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.local_ip, local_port))
    sock.settimeout(5)
    sock.connect((a.proxy_ip, a.proxy_port))
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.tls)
        sock = ctx.wrap_socket(sock, server_hostname=a.proxy_ip)
    print("connected %s:%d" % sock.getsockname()[:2], flush=True)
    return Conn(sock, log)


def drop(conn, rst):
    if rst:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()  # TLS: no close_notify, the connection just goes


def main():
    a = parse_args()
    local_ip, local_port, user, pw, domain = a.local_ip, a.local_port, a.user, a.pw, a.domain
    log = open(a.log, "a")
    conn = connect(a, local_port, log)
    deadline = time.time() + TIMEOUT_S
    proto = "TLS" if a.tls else "TCP"
    contact = "<sip:%s@%s:%d;transport=%s>" % (user, local_ip, local_port, proto.lower())

    def register(cseq, auth=""):
        port = conn.sock.getsockname()[1]
        conn.send("REGISTER sip:%s SIP/2.0\n"
                  "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK-tcp-%d;rport\n"
                  "From: <sip:%s@%s>;tag=tcpphone\n"
                  "To: <sip:%s@%s>\n"
                  "Call-ID: tcp-register-%s@%s\n"
                  "CSeq: %d REGISTER\n"
                  "Contact: %s\n"
                  "Expires: 600\n"
                  "Max-Forwards: 70\n"
                  "User-Agent: tcp_phone.py\n"
                  "%s"
                  "Content-Length: 0\n\n"
                  % (domain, proto, local_ip, port, cseq, user, domain, user, domain, user,
                     local_ip, cseq, contact, auth))

    def challenged(cseq):
        """REGISTER, its 401: the Authorization header answering it, or None."""
        register(cseq)
        r = conn.recv(deadline)
        if r is None or not r.startswith("SIP/2.0 401"):
            print("no 401: %r" % (r or "")[:80])
            return None
        md5_challenge = [c for c in headers(r, "WWW-Authenticate") if "MD5" in c.upper()]
        if not md5_challenge:
            print("no MD5 challenge")
            return None
        ch = md5_challenge[0]
        nonce = re.search(r'nonce="([^"]*)"', ch).group(1)
        opaque = re.search(r'opaque="([^"]*)"', ch)
        uri = "sip:%s" % domain
        ha1 = md5("%s:%s:%s" % (user, domain, pw))
        ha2 = md5("REGISTER:%s" % uri)
        cnonce, nc = "0a4f113b", "00000001"
        resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
        return ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
                'response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"%s\n'
                % (user, domain, nonce, uri, resp, nc, cnonce,
                   ', opaque="%s"' % opaque.group(1) if opaque else ""))

    cseq, connection = 1, 1
    if a.drop:
        auth = challenged(cseq)
        if auth is None:
            return 1
        if a.drop == "register":
            register(cseq + 1, auth)
            time.sleep(0.3)  # the proxy takes it; its 200 is never read
        cseq += 2
        drop(conn, a.rst)
        print("dropped after the %s (%s)" % (
            "401" if a.drop == "challenge" else "authenticated REGISTER",
            "RST" if a.rst else "FIN"), flush=True)
        while a.resume and not os.path.exists(a.resume):
            if time.time() > deadline:
                print("never told to reconnect")
                return 1
            time.sleep(0.05)
        conn = connect(a, a.reconnect_port or local_port + 1, log)
        connection = 2
        deadline = time.time() + TIMEOUT_S
    auth = challenged(cseq)
    if auth is None:
        return 1
    register(cseq + 1, auth)
    r = conn.recv(deadline)
    if r is None or not r.startswith("SIP/2.0 200"):
        print("REGISTER not accepted: %r" % (r or "")[:80])
        return 1
    print("registered", flush=True)

    deadline = time.time() + TIMEOUT_S
    invite = conn.recv(deadline)
    if invite is None or not invite.startswith("INVITE "):
        print("no INVITE: %r" % (invite or "")[:80])
        return 1
    print("invite on connection %d" % connection, flush=True)

    def reply(req, status, extra="", body=""):
        lines = ["SIP/2.0 %s" % status]
        lines += ["Via: %s" % v for v in headers(req, "Via")]
        lines += ["Record-Route: %s" % v for v in headers(req, "Record-Route")]
        lines += ["From: %s" % headers(req, "From")[0]]
        to = headers(req, "To")[0]
        lines += ["To: %s" % (to if "tag=" in to else to + ";tag=tcpcallee")]
        lines += ["Call-ID: %s" % headers(req, "Call-ID")[0],
                  "CSeq: %s" % headers(req, "CSeq")[0], "Contact: %s" % contact]
        if extra:
            lines.append(extra)
        lines.append("Content-Length: %d" % len(body.replace("\n", "\r\n")))
        conn.send("\n".join(lines) + "\n\n" + body)

    sdp = ("v=0\no=%s 1 1 IN IP4 %s\ns=-\nc=IN IP4 %s\nt=0 0\nm=audio 42000 RTP/AVP 0\n"
           "a=rtpmap:0 PCMU/8000\n" % (user, local_ip, local_ip))
    reply(invite, "180 Ringing")
    reply(invite, "200 OK", "Content-Type: application/sdp", sdp)
    ack = conn.recv(deadline)
    if ack is None or not ack.startswith("ACK "):
        print("no ACK: %r" % (ack or "")[:80])
        return 1
    bye = conn.recv(deadline)
    if bye is None or not bye.startswith("BYE "):
        print("no BYE: %r" % (bye or "")[:80])
        return 1
    reply(bye, "200 OK")
    time.sleep(0.3)
    print("call done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
