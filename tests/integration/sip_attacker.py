#!/usr/bin/env python3
"""The internet's unwanted SIP traffic, for sip_flood_test.sh: a password
guesser, a scanner, and a burst of requests. Over UDP from LOCAL_IP to
SERVER_IP:PORT; every request has its own Call-ID and waits at most WAIT_S
(0.5) for its final answer.

  sip_attacker.py guess LOCAL_IP SERVER_IP PORT USER DOMAIN TRIES
      One REGISTER for USER@DOMAIN without credentials (a 401 expected),
      then TRIES REGISTERs with a real MD5 digest of a wrong password, each
      answering the last challenge seen. Prints
      "guess answers C1 C2 ..." (a status code each, "-" for no answer).
  sip_attacker.py scan LOCAL_IP SERVER_IP PORT N
      One OPTIONS with an ordinary User-Agent (the control: a server is
      there), then N with "friendly-scanner". Prints
      "scan control_answered=A scanner_answered=S".
  sip_attacker.py burst LOCAL_IP SERVER_IP PORT N
      N OPTIONS as fast as they go, then collects answers for WAIT_S.
      Prints "burst sent=N answered=A".
"""
import hashlib
import re
import socket
import sys
import time

WAIT_S = 0.5


class Client:
    def __init__(self, local_ip, server_ip, port):
        self.server = (server_ip, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.local = (local_ip, self.sock.getsockname()[1])
        self.n = 0

    def request(self, method, ruri, user, domain, extra=""):
        self.n += 1
        call_id = "atk-%d-%d@%s" % (self.n, int(time.time() * 1000), self.local[0])
        text = ("%s %s SIP/2.0\r\n"
                "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-atk-%d-%d;rport\r\n"
                "From: <sip:%s@%s>;tag=atk%d\r\n"
                "To: <sip:%s@%s>\r\n"
                "Call-ID: %s\r\n"
                "CSeq: %d %s\r\n"
                "Contact: <sip:%s@%s:%d>\r\n"
                "Max-Forwards: 70\r\n"
                "%s"
                "Content-Length: 0\r\n\r\n"
                % (method, ruri, self.local[0], self.local[1], self.n, int(time.time()),
                   user, domain, self.n, user, domain, call_id, self.n, method, user,
                   self.local[0], self.local[1], extra))
        self.sock.sendto(text.encode(), self.server)
        return call_id

    def answer(self, call_id, wait=WAIT_S):
        """The final response to call_id within wait seconds, or None."""
        deadline = time.time() + wait
        while time.time() < deadline:
            self.sock.settimeout(max(0.001, deadline - time.time()))
            try:
                data = self.sock.recv(65536).decode(errors="replace")
            except socket.timeout:
                return None
            m = re.match(r"SIP/2.0 (\d{3})", data)
            if m and ("Call-ID: %s" % call_id) in data and not m.group(1).startswith("1"):
                return data
        return None


def code_of(answer):
    return answer.split(" ", 2)[1] if answer else "-"


def digest(challenge, user, domain, password, ruri, nc):
    params = dict(re.findall(r'(\w+)="?([^",\r\n]*)"?', challenge.split("Digest", 1)[1]))
    realm, nonce = params.get("realm", domain), params.get("nonce", "")
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("REGISTER:%s" % ruri)
    cnonce = "%08x" % nc
    response = md5("%s:%s:%08x:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    header = ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
              'response="%s", algorithm=MD5, qop=auth, nc=%08x, cnonce="%s"'
              % (user, realm, nonce, ruri, response, nc, cnonce))
    if "opaque" in params:
        header += ', opaque="%s"' % params["opaque"]
    return header + "\r\n"


def md5_challenge(answer):
    for line in answer.split("\r\n"):
        if line.lower().startswith("www-authenticate:") and "MD5" in line.upper():
            return line
    return None


def guess(client, user, domain, tries):
    ruri = "sip:%s" % domain
    answer = client.answer(client.request("REGISTER", ruri, user, domain))
    codes = []
    for i in range(int(tries)):
        challenge = md5_challenge(answer) if answer else None
        if challenge is None:
            # Nothing to answer: ask for a challenge (a banned source gets nothing).
            answer = client.answer(client.request("REGISTER", ruri, user, domain))
            codes.append(code_of(answer))
            continue
        auth = digest(challenge, user, domain, "guess-%d" % i, ruri, i + 1)
        answer = client.answer(client.request("REGISTER", ruri, user, domain, auth))
        codes.append(code_of(answer))
    print("guess answers " + " ".join(codes))
    return 0


def scan(client, n):
    ruri = "sip:%s:%d" % client.server
    control = client.answer(client.request("OPTIONS", ruri, "probe", client.server[0],
                                           "User-Agent: monitoring/1.0\r\n"))
    scanner = 0
    for _ in range(int(n)):
        if client.answer(client.request("OPTIONS", ruri, "100", client.server[0],
                                        "User-Agent: friendly-scanner\r\n")):
            scanner += 1
    print("scan control_answered=%d scanner_answered=%d" % (1 if control else 0, scanner))
    return 0


def burst(client, n):
    ruri = "sip:%s:%d" % client.server
    ids = set(client.request("OPTIONS", ruri, "burst", client.server[0]) for _ in range(int(n)))
    answered = 0
    deadline = time.time() + WAIT_S * 2
    while time.time() < deadline:
        client.sock.settimeout(max(0.001, deadline - time.time()))
        try:
            data = client.sock.recv(65536).decode(errors="replace")
        except socket.timeout:
            break
        m = re.search(r"Call-ID: (\S+)", data)
        if data.startswith("SIP/2.0 2") and m and m.group(1) in ids:
            ids.discard(m.group(1))
            answered += 1
    print("burst sent=%s answered=%d" % (n, answered))
    return 0


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    mode, local_ip, server_ip, port = sys.argv[1:5]
    client = Client(local_ip, server_ip, port)
    if mode == "guess" and len(sys.argv) == 8:
        return guess(client, *sys.argv[5:8])
    if mode == "scan" and len(sys.argv) == 6:
        return scan(client, sys.argv[5])
    if mode == "burst" and len(sys.argv) == 6:
        return burst(client, sys.argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
