#!/usr/bin/env python3
"""How promptly a SIP server answers, for dns_bad_answers_test.sh.

For SECONDS, sends one request at a time over UDP from LOCAL_IP to
SERVER_IP:PORT, alternating OPTIONS (answered 200) and an unauthenticated
REGISTER for USER@DOMAIN (answered 401), and waits for its final answer
(a new Call-ID each, provisional answers skipped), at most WAIT_S; then
waits INTERVAL_S before the next. Each request is one line of LOG:
"<unix time sent> <method> <code or -> <round trip in ms or ->".

A server whose event loop stalls (a blocking DNS lookup, say) answers late
or not in time: a round trip over the limit, or "-".

usage: sip_ping.py LOCAL_IP SERVER_IP PORT USER DOMAIN SECONDS LIMIT_MS LOG
       [INTERVAL_S] [WAIT_S]
prints "sent N answered N over_limit N max_ms X"; exit 0 when every
request was answered within LIMIT_MS, 1 otherwise.
"""
import re
import socket
import sys
import time


def request(method, local_ip, local_port, server, user, domain, n):
    ruri = "sip:%s:%d" % server if method == "OPTIONS" else "sip:%s" % domain
    to = "<sip:%s@%s>" % (user, domain)
    return ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-ping-%d;rport\r\n"
            "From: %s;tag=ping%d\r\n"
            "To: %s\r\n"
            "Call-ID: ping-%d-%d@%s\r\n"
            "CSeq: 1 %s\r\n"
            "Contact: <sip:%s@%s:%d>\r\n"
            "Max-Forwards: 70\r\n"
            "User-Agent: sip_ping.py\r\n"
            "Content-Length: 0\r\n\r\n"
            % (method, ruri, local_ip, local_port, n, to, n, to, n, int(time.time()), local_ip,
               method, user, local_ip, local_port))


def main():
    local_ip, server_ip, port, user, domain, seconds, limit_ms, log_path = sys.argv[1:9]
    interval = float(sys.argv[9]) if len(sys.argv) > 9 else 0.05
    wait = float(sys.argv[10]) if len(sys.argv) > 10 else 3.0
    server = (server_ip, int(port))
    limit = float(limit_ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((local_ip, 0))
    local_port = sock.getsockname()[1]
    sent = answered = over = 0
    worst = 0.0
    end = time.time() + float(seconds)
    with open(log_path, "a") as log:
        n = 0
        while time.time() < end:
            n += 1
            method = "OPTIONS" if n % 2 else "REGISTER"
            msg = request(method, local_ip, local_port, server, user, domain, n)
            call_id = re.search(r"Call-ID: (\S+)", msg).group(1)
            t0 = time.time()
            sock.sendto(msg.encode(), server)
            sent += 1
            code, rtt = None, None
            deadline = t0 + wait
            while time.time() < deadline:
                sock.settimeout(max(0.001, deadline - time.time()))
                try:
                    data = sock.recv(65536).decode(errors="replace")
                except socket.timeout:
                    break
                m = re.match(r"SIP/2.0 (\d{3})", data)
                if not m or ("Call-ID: %s" % call_id) not in data or m.group(1).startswith("1"):
                    continue
                code, rtt = int(m.group(1)), (time.time() - t0) * 1000
                break
            if rtt is not None:
                answered += 1
                worst = max(worst, rtt)
            if rtt is None or rtt > limit:
                over += 1
            log.write("%.3f %s %s %s\n" % (t0, method, code if code else "-",
                                          "%.1f" % rtt if rtt is not None else "-"))
            log.flush()
            time.sleep(interval)
    print("sent %d answered %d over_limit %d max_ms %.1f" % (sent, answered, over, worst))
    return 0 if sent > 0 and over == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
