#!/usr/bin/env python3
"""A phone's REGISTERs (digest, MD5) and an operator's queries, for
cluster_bindings_test.sh: what it takes to see whether a binding made on one
node shows on another, and how soon.

  cluster_client.py register SERVER USER [CSEQ]
      One REGISTER (challenge, answer) to SERVER (IPv4:port) for
      USER@example.test.
      Prints "registered USER status=CODE".
  cluster_client.py unregister SERVER USER CSEQ
      REGISTER with Contact: * and Expires: 0 (CSEQ above the last one's).
  cluster_client.py seen SOCKET USER NODE [LIMIT_MS]
      Polls the control socket every 2 ms until USER's binding names NODE
      as its owner, LIMIT_MS at most (default 5000). Prints
      "seen USER node=NODE after_ms=T cseq=C", or "unseen USER".
  cluster_client.py gone SOCKET USER LIMIT_MS
      Polls until USER has no binding at all: "gone USER after_ms=T", or
      "still USER".
  cluster_client.py register_then_seen SERVER SOCKET USER NODE
      Both, timed from the 200 OK: "seen ... after_ms=T".
  cluster_client.py refreshes SERVER USERS ROUNDS FIRST_IP
      Registers user0..user{USERS-1} (cseq 1), each from its own address
      (FIRST_IP, the next, ...: phones, not one flooding host), then
      refreshes each ROUNDS times from the same source (only the expiry
      moves). Prints
      "refreshed users=N rounds=R failed=F".
  cluster_client.py answer SERVER USER SECONDS SOURCE_IP
      Registers USER from SOURCE_IP, then answers every request that
      reaches its socket with 200 for SECONDS, printing "got METHOD from
      IP:PORT" for each; exit 0 if any came.
  cluster_client.py message SERVER USER TO
      A MESSAGE from USER to TO@example.test through SERVER (digest on a
      407): "message USER->TO status=CODE".
"""
import hashlib
import ipaddress
import json
import random
import re
import socket
import sys
import time

DOMAIN = "example.test"
PASSWORD = "secret"
STATUS = re.compile(r"^SIP/2\.0 (\d{3})")


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


class Phone:
    def __init__(self, server, source_ip=None):
        host, port = server.rsplit(":", 1)
        self.server = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if source_ip:
            self.sock.bind((source_ip, 0))
        self.sock.connect(self.server)  # our address towards it, for Via and Contact
        self.sock.settimeout(2.0)
        self.ip, self.port = self.sock.getsockname()

    def request(self, user, cseq, auth="", unregister=False):
        branch = "z9hG4bK-%08x" % random.getrandbits(32)
        msg = ("REGISTER sip:%s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
               "From: <sip:%s@%s>;tag=%s\r\n"
               "To: <sip:%s@%s>\r\n"
               "Call-ID: cluster-%s\r\n"
               "CSeq: %d REGISTER\r\n"
               "Contact: %s\r\n"
               "Expires: %d\r\n%s"
               "Max-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n"
               % (DOMAIN, self.ip, self.port, branch, user, DOMAIN, user[:8], user, DOMAIN, user,
                  cseq, "*" if unregister else "<sip:%s@%s:%d>" % (user, self.ip, self.port),
                  0 if unregister else 600, auth))
        self.sock.send(msg.encode())
        while True:
            data = self.sock.recv(65535)
            text = data.decode(errors="replace")
            m = STATUS.match(text)
            if m and ("CSeq: %d REGISTER" % cseq) in text and int(m.group(1)) >= 200:
                return int(m.group(1)), text

    def register(self, user, cseq, unregister=False):
        code, text = self.request(user, cseq * 2 - 1, unregister=unregister)
        if code != 401:
            return code
        challenge = [l for l in text.split("\r\n")
                     if l.lower().startswith("www-authenticate:") and "MD5" in l.upper()][0]
        realm = re.search(r'realm="([^"]*)"', challenge).group(1)
        nonce = re.search(r'nonce="([^"]*)"', challenge).group(1)
        uri = "sip:%s" % DOMAIN
        cnonce = "%08x" % random.getrandbits(32)
        response = md5("%s:%s:00000001:%s:auth:%s" % (
            md5("%s:%s:%s" % (user, realm, PASSWORD)), nonce, cnonce, md5("REGISTER:" + uri)))
        opaque = re.search(r'opaque="([^"]*)"', challenge)
        auth = ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
                'response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"%s\r\n'
                % (user, realm, nonce, uri, response, cnonce,
                   ', opaque="%s"' % opaque.group(1) if opaque else ""))
        code, text = self.request(user, cseq * 2, auth, unregister)
        if code != 200:
            why = [l for l in text.split("\r\n") if l.lower().startswith("warning:")]
            print("%s: %d %s" % (user, code, why), file=sys.stderr)
        return code


def digest_header(header, challenge, user, method, uri):
    """The Authorization-type header answering a WWW-/Proxy-Authenticate."""
    realm = re.search(r'realm="([^"]*)"', challenge).group(1)
    nonce = re.search(r'nonce="([^"]*)"', challenge).group(1)
    cnonce = "%08x" % random.getrandbits(32)
    response = md5("%s:%s:00000001:%s:auth:%s" % (
        md5("%s:%s:%s" % (user, realm, PASSWORD)), nonce, cnonce, md5("%s:%s" % (method, uri))))
    opaque = re.search(r'opaque="([^"]*)"', challenge)
    return ('%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"%s\r\n'
            % (header, user, realm, nonce, uri, response, cnonce,
               ', opaque="%s"' % opaque.group(1) if opaque else ""))


def message(server, user, to):
    phone = Phone(server)
    uri = "sip:%s@%s" % (to, DOMAIN)
    call_id = "msg-%08x" % random.getrandbits(32)
    auth = ""
    for cseq in (1, 2):
        branch = "z9hG4bK-%08x" % random.getrandbits(32)
        msg = ("MESSAGE %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
               "From: <sip:%s@%s>;tag=m%s\r\n"
               "To: <%s>\r\n"
               "Call-ID: %s\r\n"
               "CSeq: %d MESSAGE\r\n%s"
               "Max-Forwards: 70\r\n"
               "Content-Type: text/plain\r\n"
               "Content-Length: 5\r\n\r\nhello"
               % (uri, phone.ip, phone.port, branch, user, DOMAIN, user[:8], uri, call_id, cseq,
                  auth))
        phone.sock.send(msg.encode())
        code, text = 0, ""
        while code < 200:
            try:
                text = phone.sock.recv(65535).decode(errors="replace")
            except socket.timeout:
                print("message %s->%s status=timeout" % (user, to))
                return 1
            m = STATUS.match(text)
            code = int(m.group(1)) if m and ("CSeq: %d MESSAGE" % cseq) in text else 0
        if code != 407:
            break
        challenge = [l for l in text.split("\r\n") if l.lower().startswith("proxy-authenticate:")][0]
        auth = digest_header("Proxy-Authorization", challenge, user, "MESSAGE", uri)
    why = [l for l in text.split("\r\n") if l.lower().startswith("warning:")]
    print("message %s->%s status=%d%s" % (user, to, code, " " + why[0] if why else ""))
    return 0 if code == 200 else 1


def answer(server, user, seconds, source_ip):
    phone = Phone(server, source_ip)
    if phone.register(user, 1) != 200:
        print("registered %s failed" % user)
        return 1
    phone.sock.close()
    # The same address and port, now unconnected: requests come from
    # whichever node routes them.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((phone.ip, phone.port))
    sock.settimeout(0.2)
    print("registered %s from %s:%d" % (user, phone.ip, phone.port), flush=True)
    got = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            continue
        text = data.decode(errors="replace")
        if STATUS.match(text):
            continue
        method = text.split(" ", 1)[0]
        got += 1
        print("got %s from %s:%d" % (method, peer[0], peer[1]), flush=True)
        head = [l for l in text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
                if l.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")]
        reply = "SIP/2.0 200 OK\r\n%s\r\nContent-Length: 0\r\n\r\n" % "\r\n".join(
            l + (";tag=a1" if l.lower().startswith("to:") and "tag=" not in l else "") for l in head)
        sock.sendto(reply.encode(), peer)
    return 0 if got else 1


def query(path, user):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall((json.dumps({"v": 1, "id": 1, "cmd": "registration",
                           "aor": "%s@%s" % (user, DOMAIN)}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    reply = json.loads(buf)
    result = reply.get("result", {})
    return result.get("bindings", result) if isinstance(result, dict) else result


def seen(path, user, node, limit_ms, start=None):
    start = start or time.monotonic()
    while (time.monotonic() - start) * 1000 < limit_ms:
        for b in query(path, user) or []:
            if isinstance(b, dict) and b.get("node") == node:
                print("seen %s node=%s after_ms=%.1f cseq=%d"
                      % (user, node, (time.monotonic() - start) * 1000, b.get("cseq", -1)))
                return 0
        time.sleep(0.002)
    print("unseen %s" % user)
    return 1


def gone(path, user, limit_ms):
    start = time.monotonic()
    while (time.monotonic() - start) * 1000 < limit_ms:
        if not [b for b in query(path, user) or [] if isinstance(b, dict)]:
            print("gone %s after_ms=%.1f" % (user, (time.monotonic() - start) * 1000))
            return 0
        time.sleep(0.01)
    print("still %s" % user)
    return 1


def main():
    cmd = sys.argv[1]
    if cmd == "register":
        code = Phone(sys.argv[2]).register(sys.argv[3],
                                           int(sys.argv[4]) if len(sys.argv) > 4 else 1)
        print("registered %s status=%d" % (sys.argv[3], code))
        return 0 if code == 200 else 1
    if cmd == "unregister":
        code = Phone(sys.argv[2]).register(sys.argv[3], int(sys.argv[4]), unregister=True)
        print("unregistered %s status=%d" % (sys.argv[3], code))
        return 0 if code == 200 else 1
    if cmd == "seen":
        return seen(sys.argv[2], sys.argv[3], sys.argv[4],
                    float(sys.argv[5]) if len(sys.argv) > 5 else 5000)
    if cmd == "gone":
        return gone(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    if cmd == "register_then_seen":
        code = Phone(sys.argv[2]).register(sys.argv[4], 1)
        if code != 200:
            print("registered %s status=%d" % (sys.argv[4], code))
            return 1
        return seen(sys.argv[3], sys.argv[4], sys.argv[5], 5000, time.monotonic())
    if cmd == "refreshes":
        users, rounds = int(sys.argv[3]), int(sys.argv[4])
        first = ipaddress.IPv4Address(sys.argv[5])
        phones = [Phone(sys.argv[2], str(first + i)) for i in range(users)]
        failed = 0
        for cseq in range(1, rounds + 2):
            for i, phone in enumerate(phones):
                failed += phone.register("user%d" % i, cseq) != 200
        print("refreshed users=%d rounds=%d failed=%d" % (users, rounds, failed))
        return 0 if failed == 0 else 1
    if cmd == "answer":
        return answer(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
    if cmd == "message":
        return message(sys.argv[2], sys.argv[3], sys.argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
