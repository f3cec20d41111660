#!/usr/bin/env python3
"""A SIP phone on one TCP connection, for tcp_call_test.sh.

Registers USER@DOMAIN with digest (MD5, qop=auth) over a TCP connection it
keeps open, then answers one call that arrives on that same connection
(INVITE -> 180, 200 with SDP; ACK; BYE -> 200), as a phone behind NAT that
the proxy can reach only over its own connection (RFC 5626). sipp cannot
play this: it maps messages to calls by Call-ID, and the INVITE is a new
one. Every message received is appended to LOG (blank line between).

usage: tcp_phone.py LOCAL_IP LOCAL_PORT PROXY_IP PROXY_PORT USER PASSWORD DOMAIN LOG
exit 0: registered and the call ran to its BYE; 1 otherwise.
"""
import hashlib
import re
import socket
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


def main():
    local_ip, local_port, proxy_ip, proxy_port, user, pw, domain, log_path = sys.argv[1:9]
    local_port, proxy_port = int(local_port), int(proxy_port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((local_ip, local_port))
    sock.settimeout(5)
    sock.connect((proxy_ip, proxy_port))
    conn = Conn(sock, open(log_path, "a"))
    deadline = time.time() + TIMEOUT_S
    contact = "<sip:%s@%s:%d;transport=tcp>" % (user, local_ip, local_port)

    def register(cseq, auth=""):
        conn.send("REGISTER sip:%s SIP/2.0\n"
                  "Via: SIP/2.0/TCP %s:%d;branch=z9hG4bK-tcp-%d;rport\n"
                  "From: <sip:%s@%s>;tag=tcpphone\n"
                  "To: <sip:%s@%s>\n"
                  "Call-ID: tcp-register@%s\n"
                  "CSeq: %d REGISTER\n"
                  "Contact: %s\n"
                  "Expires: 600\n"
                  "Max-Forwards: 70\n"
                  "User-Agent: tcp_phone.py\n"
                  "%s"
                  "Content-Length: 0\n\n"
                  % (domain, local_ip, local_port, cseq, user, domain, user, domain,
                     local_ip, cseq, contact, auth))

    register(1)
    r = conn.recv(deadline)
    if r is None or not r.startswith("SIP/2.0 401"):
        print("no 401: %r" % (r or "")[:80])
        return 1
    md5_challenge = [c for c in headers(r, "WWW-Authenticate") if "MD5" in c.upper()]
    if not md5_challenge:
        print("no MD5 challenge")
        return 1
    ch = md5_challenge[0]
    nonce = re.search(r'nonce="([^"]*)"', ch).group(1)
    opaque = re.search(r'opaque="([^"]*)"', ch)
    uri = "sip:%s" % domain
    ha1 = md5("%s:%s:%s" % (user, domain, pw))
    ha2 = md5("REGISTER:%s" % uri)
    cnonce, nc = "0a4f113b", "00000001"
    resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    auth = ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"%s\n'
            % (user, domain, nonce, uri, resp, nc, cnonce,
               ', opaque="%s"' % opaque.group(1) if opaque else ""))
    register(2, auth)
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
