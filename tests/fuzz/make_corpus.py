#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the tests' own messages.

Sources: the string literals of the unit tests (C++ "..." and R"(...)",
adjacent ones joined as the compiler joins them), the sipp scenarios of
the integration tests (their [placeholders] filled in), and a few seeds
written here where the tests build their input in code (DNS messages,
control socket sessions, digest credentials). Each seed is one file named
by its content's SHA-1, as libFuzzer names corpus files; a seed longer
than MAX_SEED_BYTES is left out (the corpora are committed). Seeds
already in a corpus stay: inputs the fuzzers found (reproducers) live there
too.

usage: make_corpus.py [ROOT]   (writes ROOT/tests/fuzz/corpus/<target>/)
"""
import hashlib
import hmac
import ipaddress
import pathlib
import re
import struct
import sys
import zlib

MAX_SEED_BYTES = 4096
SIP_START = re.compile(rb"^([A-Z]+ \S+ SIP/2\.0|SIP/2\.0 \d{3} )")


def cpp_literals(text):
    """The string literals of a C++ source, adjacent ones joined."""
    literals, pending, i = [], None, 0
    token = re.compile(r'//[^\n]*|/\*.*?\*/|R"([^(\s]*)\((.*?)\)\1"|"((?:[^"\\\n]|\\.)*)"'
                       r"|'(?:[^'\\\n]|\\.)*'|\s+|.", re.S)
    for m in token.finditer(text):
        s = m.group(0)
        if m.group(2) is not None or m.group(3) is not None:
            value = m.group(2) if m.group(2) is not None else unescape(m.group(3))
            pending = value if pending is None else pending + value
        elif s.isspace() or s.startswith("//") or s.startswith("/*"):
            continue
        else:
            if pending is not None:
                literals.append(pending)
            pending = None
    if pending is not None:
        literals.append(pending)
    return [lit.encode("utf-8", "surrogateescape") for lit in literals]


def unescape(body):
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
            out.append(chr(int(m.group(0), 16)))
            i += 2 + len(m.group(0))
        elif nxt in "01234567" and re.match(r"[0-7]{2,3}", body[i + 1:]):
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(chr(int(m.group(0), 8)))
            i += 1 + len(m.group(0))
        else:
            out.append(simple.get(nxt, nxt))
            i += 2
    return "".join(out)


def sip_text(head, body=b""):
    """tests/control/sip/sip_text.h's SipText: LF lines to CRLF, then
    Content-Length and the body."""
    lines = [l for l in head.split(b"\n") if l]
    return b"".join(l + b"\r\n" for l in lines) + b"Content-Length: %d\r\n\r\n" % len(body) + body


def crlf(text):
    return b"".join(l + b"\r\n" for l in text.split(b"\n") if l)


SIPP_VALUES = {
    "domain": "example.com", "user": "alice", "callee": "bob", "local_ip": "192.0.2.20",
    "local_port": "5060", "remote_ip": "203.0.113.10", "remote_port": "5060",
    "pid": "4242", "call_number": "1", "transport": "UDP", "call_id": "1-4242@192.0.2.20",
    "peer_tag_param": ";tag=77", "media_port": "6000", "local_ip_type": "4",
    "media_ip_type": "4", "media_ip": "192.0.2.20", "next_url": "sip:bob@192.0.2.30:5060",
    "routes": "Route: <sip:203.0.113.10:5060;lr>", "expires": "3600",
    "to_domain": "example.com", "from_domain": "example.com", "aor_user": "alice",
    "ua": "Yealink SIP-T46S", "last_cseq_number": "1", "snap": "",
    "last_To:": "To: <sip:bob@example.com>;tag=77",
    "last_From:": "From: <sip:alice@example.com>;tag=4242c1",
    "last_Call-ID:": "Call-ID: 1-4242@192.0.2.20",
    "last_Via:": "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-4242-1-0;rport",
    "last_CSeq:": "CSeq: 1 INVITE",
    "last_Record-Route:": "Record-Route: <sip:203.0.113.10:5060;lr>",
    "authentication": 'Authorization: Digest username="alice", realm="example.com", '
                      'nonce="NONCE", uri="sip:example.com", response="RESPONSE", '
                      'algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
}


def sipp_messages(xml):
    """Each <send> of a sipp scenario as the bytes sipp would send."""
    for m in re.finditer(rb"<!\[CDATA\[(.*?)\]\]>", xml, re.S):
        lines = [l.strip() for l in m.group(1).decode().strip("\n").split("\n")]
        while lines and not lines[0]:
            lines.pop(0)
        text = "\r\n".join(lines).rstrip("\r\n") + "\r\n"
        head, sep, body = text.partition("\r\n\r\n")

        def fill(match):
            key = match.group(1)
            if key == "len":
                return str(len(body.encode()))
            if key.startswith("branch"):
                return "z9hG4bK-4242-1-" + key
            return SIPP_VALUES.get(key, "x")

        head = re.sub(r"\[([^\]\s]+)\]", fill, head)
        body = re.sub(r"\[([^\]\s]+)\]", fill, body)
        yield (head + "\r\n\r\n" + body if sep else head + "\r\n").encode()


def sip_seeds(root):
    for path in sorted((root / "tests/control").rglob("*")):
        if path.suffix not in (".cc", ".h"):
            continue
        for lit in cpp_literals(path.read_text(errors="surrogateescape")):
            text = lit.lstrip(b"\n")
            if not SIP_START.match(text):
                continue
            yield text if b"\r\n" in text else sip_text(text)
    for path in sorted((root / "tests/integration/sipp").glob("*.xml")):
        yield from sipp_messages(path.read_bytes())


def sdp_seeds(root, sip):
    for path in sorted((root / "tests/control").rglob("*")):
        if path.suffix not in (".cc", ".h"):
            continue
        for lit in cpp_literals(path.read_text(errors="surrogateescape")):
            text = lit.lstrip(b"\n")
            if text.startswith(b"v=0"):
                yield text if b"\r\n" in text else crlf(text)
    for message in sip:
        body = message.partition(b"\r\n\r\n")[2]
        if body.startswith(b"v=0"):
            yield body


def literals_of(root, pattern, keep):
    for path in sorted(root.glob(pattern)):
        for lit in cpp_literals(path.read_text(errors="surrogateescape")):
            if keep(lit):
                yield lit


DIGEST_SEEDS = [
    b'Digest username="alice", realm="example.com", nonce="NONCE", uri="sip:example.com", '
    b'response="RESPONSE", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
    b'Digest username="alice",realm="example.com",nonce="NONCE",uri="sip:example.com",'
    b'response="RESPONSE",algorithm=SHA-256,cnonce="c\\"n",opaque="x",qop="auth",nc=0000000a',
    b'Digest username="bob", realm="example.com", nonce="NONCE", uri="sip:example.com", '
    b'response="0123456789abcdef0123456789abcdef", qop=auth-int, nc=00000001, cnonce="a"',
    b'Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", '
    b'response="RESPONSE"',
    b'Digest username*=UTF-8\'\'alice, userhash=true, realm="example.com", nonce="NONCE"',
    b'Basic YWxpY2U6d29uZGVybGFuZA==',
]

USERS_SEEDS = [
    b"# rtplatch users\n\nalice@example.com:wonderland\n   # indented\n"
    b"bob@Example.COM:md5:0123456789abcdef0123456789abcdef\n"
    b"carol@example.com:SHA256:" + b"ab" * 32 + b"\r\n"
    b"dave@example.com:plain:md5:not-a-hash\nerin@example.com:pa:ss#word with spaces\n"
    b"frank@[2001:db8::1]:secret\n\t\n",
    b"alice@example.com:one\nalice@EXAMPLE.com:two\n",
    b"alice@example.com:md5:xyz\n",
    b"@example.com:x\nalice@:x\nalice example.com:x\n",
]

# Sessions on one control socket: each line a request, as a client sends
# them (ids 1 and 2 are the first pair's streams).
CONTROL_COMMANDS_SEEDS = [
    b'{"v":1,"id":"a1","cmd":"allocate","a":{"family":"ipv4","peer":"192.0.2.20:6000",'
    b'"policy":"learn"},"b":{"family":"ipv6","peer":"[2001:db8::20]:7000","rtcp_mux":true},'
    b'"label":"call-1"}\n'
    b'{"v":1,"cmd":"query","stream":1}\n{"v":1,"cmd":"query","pair":1}\n'
    b'{"v":1,"id":"u1","cmd":"update","stream":2,"peer":"","policy":"strict"}\n'
    b'{"v":1,"cmd":"list","state":"unlatched","label":"call-1","offset":0,"limit":10}\n'
    b'{"v":1,"id":"d1","cmd":"delete","pair":1}\n{"v":1,"cmd":"stats"}\n',
    b'{"v":1,"id":"k1","cmd":"keepalive_add","targets":[{"target":"198.51.100.7:4000",'
    b'"source":"203.0.113.10:5060","payload":"crlf","interval_ms":25000,"jitter_ms":100,'
    b'"label":"alice"},{"target":"198.51.100.8:4000","source":"203.0.113.10:5060",'
    b'"payload":{"hex":"0d0a0d0a"}},{"target":"[2001:db8::8]:4000",'
    b'"source":"[2001:db8::10]:5060","payload":{"text":"OPTIONS sip:x SIP/2.0"}}]}\n'
    b'{"v":1,"cmd":"keepalive_update","id":1,"interval_ms":1000,"jitter_ms":10}\n'
    b'{"v":1,"cmd":"keepalive_query","id":1}\n'
    b'{"v":1,"cmd":"keepalive_list","target_ip":"198.51.100.7","label":"alice"}\n'
    b'{"v":1,"cmd":"keepalive_remove","ids":[1,2]}\n',
    b'{"v":1,"cmd":"allocate","a":{"relay":"203.0.113.10:20002","ice":{"ufrag":"abcd",'
    b'"pwd":"0123456789012345678901"}},"b":{"address":"203.0.113.10"}}\n'
    b'{"v":1,"cmd":"allocate","a":{},"b":{}}\n{"v":1,"cmd":"subscribe"}\n'
    b'{"v":1,"cmd":"help"}\n{"v":1,"cmd":"version"}\n',
]

OPERATOR_SEEDS = [
    b'{"v":1,"id":"a","cmd":"version"}\n{"v":1,"cmd":"help"}\n'
    b'{"v":1,"cmd":"registrations","aor":"alice@example.com","natted":true,'
    b'"offset":0,"limit":10}\n'
    b'{"v":1,"cmd":"registration","aor":"alice@example.com"}\n'
    b'{"v":1,"cmd":"calls","offset":1,"limit":1}\n'
    b'{"v":1,"cmd":"call","call_id":"a84b4c76e66710"}\n'
    b'{"v":1,"cmd":"stats"}\n{"v":1,"cmd":"peers"}\n'
    b'{"v":1,"cmd":"ng_drain","on":true}\n{"v":1,"cmd":"ng_drain","on":false}\n',
]


def dns_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def dns_message(rcode, question, qtype, answers, authority=()):
    """A response: header, one question, then (name, type, ttl, rdata)."""
    out = struct.pack("!HHHHHH", 0x1234, 0x8180 | rcode, 1, len(answers), len(authority), 0)
    out += dns_name(question) + struct.pack("!HH", qtype, 1)
    for name, rtype, ttl, rdata in list(answers) + list(authority):
        owner = b"\xc0\x0c" if name == question else dns_name(name)
        out += owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
    return out


def dns_seeds():
    host, srv, naptr = "sip.example.com", "_sip._udp.example.com", "example.com"
    soa = dns_name("ns.example.com") + dns_name("admin.example.com") + struct.pack(
        "!IIIII", 1, 3600, 600, 86400, 300)
    yield dns_message(0, host, 1, [(host, 1, 300, bytes([203, 0, 113, 40]))])
    yield dns_message(0, host, 28, [(host, 28, 300, bytes.fromhex("20010db8" + "00" * 11 + "40"))])
    yield dns_message(0, host, 1, [(host, 5, 60, dns_name("edge.example.com")),
                                   ("edge.example.com", 1, 60, bytes([203, 0, 113, 41]))])
    yield dns_message(0, srv, 33, [
        (srv, 33, 300, struct.pack("!HHH", 10, 60, 5060) + dns_name("a.example.com")),
        (srv, 33, 300, struct.pack("!HHH", 20, 0, 5070) + dns_name("b.example.com"))])
    yield dns_message(0, naptr, 35, [(naptr, 35, 300, struct.pack("!HH", 10, 10)
                                      + b"\x01S\x07SIP+D2U\x00" + dns_name(srv))])
    yield dns_message(3, host, 1, [], [(naptr, 6, 3600, soa)])
    yield dns_message(0, host, 28, [], [(naptr, 6, 3600, soa)])
    yield dns_message(2, host, 1, [])


# fast_path: four control bytes (tests/fuzz/dataplane/fastpath/
# fast_path_fuzz.cc: flags, target, source, time), then an Ethernet frame
# to the streams that target allocates at fixed relay ports.
FIX_CHECKSUMS, RETARGET, SIGN_STUN, NO_UDP_CHECKSUM = 1 << 3, 1 << 1, 1 << 4, 1 << 5
RELAY_MAC, PEER_MAC = bytes([2, 0, 0, 0, 0, 0x10]), bytes([2, 0, 0, 0, 0, 1])
ICE = {"FzAaUfrg": b"fuzzpasswordfuzzpassword", "FzBbUfrg": b"anotherpasswordanotherpw",
       "FzCcUfrg": b"fuzzpasswordfuzzpassword"}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src, dst, payload, ip_options=b"", udp_checksum=True):
    """Ethernet + IPv4/IPv6 + UDP from (ip, port) to (ip, port)."""
    s_ip, d_ip = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    pseudo = s_ip.packed + d_ip.packed + struct.pack("!HH", 17, len(udp))
    c = checksum(pseudo + udp) or 0xFFFF
    if udp_checksum or s_ip.version == 6:
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    if s_ip.version == 6:
        ip = struct.pack("!IHBB", 0x6B800000, len(udp), 17, 60) + s_ip.packed + d_ip.packed
        return RELAY_MAC + PEER_MAC + b"\x86\xdd" + ip + udp
    ihl = 5 + len(ip_options) // 4
    ip = struct.pack("!BBHHHBBH", 0x40 | ihl, 0xB8, 4 * ihl + len(udp), 0, 0, 60, 17, 0)
    ip += s_ip.packed + d_ip.packed + ip_options
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return RELAY_MAC + PEER_MAC + b"\x08\x00" + ip + udp


def rtp(seq=1, ssrc=0x11223344, second=0):
    return struct.pack("!BBHII", 0x80, second, seq, 160 * seq, ssrc) + bytes(range(160))


def rtcp_sr(ssrc=0x11223344):
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 0, 0, 0, 0, 0)


def stun_attribute(kind, value):
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def stun_request(ufrag, pwd):
    """An ICE check as tests/dataplane/fastpath/stun_request_builder.h builds it."""
    attrs = (stun_attribute(0x0006, ufrag.encode() + b":peer")
             + stun_attribute(0x0024, bytes([0x6E, 0, 1, 0xFF]))
             + stun_attribute(0x802A, bytes([1, 1, 2, 3, 5, 8, 13, 21]))
             + stun_attribute(0x0025, b""))
    def header(length):
        return struct.pack("!HHI", 1, length, 0x2112A442) + bytes(range(1, 13))
    mac = hmac.new(pwd, header(len(attrs) + 24) + attrs, "sha1").digest()
    body = attrs + stun_attribute(0x0008, mac)
    crc = (zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E) & 0xFFFFFFFF
    return header(len(body) + 8) + body + stun_attribute(0x8028, struct.pack("!I", crc))


V4, V6 = "203.0.113.10", "2001:db8::10"
# (from, to, payload): each stream's traffic from its phones, and strangers.
FAST_PATH_FRAMES = [
    (("203.0.113.30", 31000), (V4, 20000), rtp(4)),      # pair 0 a: its locked peer
    (("203.0.113.30", 31001), (V4, 20001), rtcp_sr()),   # its RTCP
    (("203.0.113.66", 40000), (V4, 20000), rtp(9, 99)),  # a sprayer
    (("203.0.113.20", 5000), (V4, 20004), rtp()),        # pair 0 b: its SDP peer
    (("203.0.113.31", 32000), (V4, 20002), rtp(2)),      # pair 1 a: learning
    (("2001:db8::20", 5000), (V6, 20006), rtp()),        # pair 1 b: IPv6 to IPv4
    (("203.0.113.21", 6002), (V4, 20008), rtp(4)),       # pair 2 a: strict, locked
    (("203.0.113.21", 6000), (V4, 20008), rtp(5)),       # its signalled address
    (("203.0.113.22", 7000), (V4, 20012), rtp()),        # pair 2 b: asymmetric
    (("2001:db8::30", 33000), (V6, 20010), rtp(4)),      # pair 3 a: IPv6, locked
    (("2001:db8::30", 33000), (V6, 20010), rtcp_sr()),   # its muxed RTCP
    (("2001:db8::20", 5002), (V6, 20014), rtp(2)),       # pair 3 b: learning
    (("203.0.113.30", 31000), (V4, 20016), rtp()),       # pair 4 a: held (no partner peer)
    (("203.0.113.30", 31000), (V4, 20018), rtp()),       # pair 5 a: solicits the next hop
    (("203.0.113.30", 31000), (V4, 20024), rtp()),       # pair 6: deleted
    (("203.0.113.30", 31000), (V4, 20040), rtp()),       # never allocated
    (("203.0.113.30", 5060), (V4, 5060), b"OPTIONS sip:x SIP/2.0\r\n\r\n"),  # the kernel's
    (("2001:db8::30", 33000), (V6, 20010), stun_request("FzAaUfrg", ICE["FzAaUfrg"])),
    (("2001:db8::30", 33001), (V6, 20011), stun_request("FzAaUfrg", ICE["FzAaUfrg"])),
    (("2001:db8::20", 5002), (V6, 20014), stun_request("FzBbUfrg", b"wrongpasswordwrongpassw")),
    (("203.0.113.30", 31000), (V4, 20016), stun_request("FzCcUfrg", ICE["FzCcUfrg"])),
    (("203.0.113.30", 31000), (V4, 20000), stun_request("FzAaUfrg", ICE["FzAaUfrg"])),
]

# The relay address of each of the fuzz target's targets (RTP and RTCP of
# pairs 0-6, legs a and b; then an unallocated port and 5060).
FAST_PATH_TARGETS = [V4] * 6 + [V6] * 2 + [V4] * 4 + [V6] * 8 + [V4] * 10


def fast_path_seeds():
    arp = RELAY_MAC + PEER_MAC + b"\x08\x06" + bytes.fromhex("0001080006040001") + PEER_MAC \
        + bytes([203, 0, 113, 30]) + bytes(6) + bytes([203, 0, 113, 10])
    yield bytes(4) + arp
    for i, (src, dst, payload) in enumerate(FAST_PATH_FRAMES):
        frame = udp_frame(src, dst, payload)
        yield bytes([0, 0, 0, 0]) + frame
        yield bytes([0, 0, 0, 30]) + frame                         # past the silence
        yield bytes([i & 1, 0, 0, 60]) + frame                     # other lcore, window over
        yield bytes([FIX_CHECKSUMS | SIGN_STUN, 0, 0, 0]) + frame
        for cut in (13, 14, 33, 34, 41, 42, 53, 54, 61, 62, len(frame) - 1):
            if cut < len(frame):
                yield bytes(4) + frame[:cut]
    # Any stream (byte 1: the fuzz target's list) from its peer, its peer's
    # other port, its signalled address, or a sprayer.
    for target, relay in enumerate(FAST_PATH_TARGETS):
        src = ("2001:db8::30", 1) if relay == V6 else ("203.0.113.30", 1)
        for source in (1, 2, 3, 4):
            yield bytes([RETARGET | FIX_CHECKSUMS, target, source, 0]) + \
                udp_frame(src, (relay, 1), rtp())
        yield bytes([RETARGET | FIX_CHECKSUMS | SIGN_STUN, target, 1, 0]) + udp_frame(
            src, (relay, 1), stun_request("FzAaUfrg", ICE["FzAaUfrg"]))
    peer, to = ("203.0.113.30", 31000), (V4, 20000)
    yield bytes(4) + udp_frame(peer, to, rtp(5), ip_options=b"\x01\x01\x01\x00")
    yield bytes(4) + udp_frame(peer, to, rtp(6), udp_checksum=False)
    yield bytes([FIX_CHECKSUMS | NO_UDP_CHECKSUM, 0, 0, 0]) + udp_frame(("203.0.113.20", 5000),
                                                                       (V4, 20004), rtp())


# sip_guard: three control bytes (tests/fuzz/control/guard/
# sip_guard_fuzz.cc: rounds and flags, first source, stride and time
# step), then a datagram; each SIP seed gets one of these.
SIP_GUARD_CONTROLS = [bytes([0, 0, 0]), bytes([63, 0, 0x10]), bytes([63, 3, 0x11]),
                      bytes([0xFF, 5, 0x31]), bytes([0x7F, 24, 0x01]), bytes([0xBF, 20, 0xF3])]
SCANNER_SEEDS = [
    b"OPTIONS sip:100@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060\r\n"
    b"User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n",
    b"REGISTER sip:203.0.113.10 SIP/2.0\r\nuser-agent :  SIPVicious 0.3\r\n\r\n",
    b"INVITE sip:0041@203.0.113.10 SIP/2.0\nUser-Agent:sipcli/v1.8\n\nv=0\n",
    b"SIP/2.0 200 OK\r\nUser-Agent: friendly-scanner\r\n\r\n",
]


def sip_guard_seeds(sip):
    for i, message in enumerate(list(sip) + SCANNER_SEEDS):
        yield SIP_GUARD_CONTROLS[i % len(SIP_GUARD_CONTROLS)] + message
    for control in SIP_GUARD_CONTROLS:
        for message in SCANNER_SEEDS:
            yield control + message


def write_corpus(directory, seeds):
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in seeds:
        if not seed or len(seed) > MAX_SEED_BYTES:
            continue
        path = directory / hashlib.sha1(seed).hexdigest()
        if not path.exists():
            path.write_bytes(seed)
            count += 1
    return count


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parents[2])
    sip = list(sip_seeds(root))
    json_object = lambda lit: lit.lstrip().startswith(b"{")
    ng_datagram = re.compile(rb"^[!-~]+ [d{]")
    corpora = {
        "sip_message": sip,
        "stateless_core": sip,
        "sdp": list(sdp_seeds(root, sip)),
        "digest_auth": DIGEST_SEEDS + list(literals_of(
            root, "tests/control/**/*_test.cc", lambda l: l.startswith(b"Digest "))),
        "users_file": USERS_SEEDS,
        "control_config": list(literals_of(root, "tests/control/control_config_test.cc",
                                           json_object)),
        "dataplane_config": list(literals_of(
            root, "tests/dataplane/control/dataplane_config_test.cc", json_object)),
        "control_commands": CONTROL_COMMANDS_SEEDS + list(literals_of(
            root, "tests/dataplane/control/control_commands_test.cc", json_object)),
        "operator_commands": OPERATOR_SEEDS + list(literals_of(
            root, "tests/control/operator/*_test.cc", json_object)),
        "bencode": list(literals_of(root, "tests/control/ng/*_test.cc",
                                    lambda l: l[:1] in (b"d", b"l", b"i"))),
        "ng_message": list(literals_of(root, "tests/control/ng/*_test.cc",
                                       lambda l: ng_datagram.match(l) is not None)),
        "dns_answer": list(dns_seeds()),
        "fast_path": list(fast_path_seeds()),
        "sip_guard": list(sip_guard_seeds(sip)),
    }
    for name, seeds in corpora.items():
        n = write_corpus(root / "tests/fuzz/corpus" / name, seeds)
        print(f"corpus {name}: {n} seeds")


if __name__ == "__main__":
    main()
