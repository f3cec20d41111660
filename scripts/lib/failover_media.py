#!/usr/bin/python3
"""The media of calls across a node's death, as the phones received it.

  failover_media.py CALLS_JSON ALICE_PCAP BOB_PCAP KILLED_AT

CALLS_JSON: `rtplatchctl --json calls` of the node that carried the calls
before it died (each call's relay_a, the port the caller sends to and
hears from, and relay_b, the callee's). The captures: the relayed RTP
each phone's NAT received from the VIP (tcpdump -w, Ethernet). KILLED_AT:
when the node was killed (epoch seconds, this host's clock).

A call is kept when both phones heard it again after the kill (from its
own relay ports: the node that took the VIP carries it at the same ports).
Its gap, per direction, is from the last packet before the kill to the
first one after. Prints one line:

  calls=N kept=K media_gap_ms=G gap_caller_ms=A gap_callee_ms=B

G is the longest gap of any kept call in either direction (A and B per
direction); "none" when no call was kept. Exit 0, or 2 on unreadable input.
"""

import json
import os
import struct
import sys

# The capture reader of the audio checks (tests/integration/tone.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "integration"))
import tone  # noqa: E402

# Packets within this long after the kill may have left the dead node
# before it died.
IN_FLIGHT_S = 0.1


def udp_src_port_times(path):
    """{source port: [capture times]} of the UDP packets in PATH."""
    out = {}
    for linktype, frame, t in tone.pcap_frames(path):
        got = tone.udp_payload(tone.ip_packet(linktype, frame))
        if got is not None:
            out.setdefault(got[0], []).append(t)
    return out


def gap(times, killed_at):
    """(heard again after the kill, gap in ms or None)."""
    before = [t for t in times if t <= killed_at]
    after = [t for t in times if t > killed_at + IN_FLIGHT_S]
    if not after:
        return False, None
    if not before:
        return True, None
    return True, (min(after) - max(before)) * 1000.0


def port_of(endpoint):
    return int(str(endpoint).rsplit(":", 1)[1])


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        calls = json.load(open(argv[0]))["calls"]
        heard_a = udp_src_port_times(argv[1])
        heard_b = udp_src_port_times(argv[2])
        killed_at = float(argv[3])
    except (OSError, ValueError, KeyError, struct.error) as e:
        print("failover_media.py: %s" % e, file=sys.stderr)
        return 2
    kept, gaps_a, gaps_b = 0, [], []
    for call in calls:
        if not call.get("media"):
            continue
        line = call["media"][0]
        ok_a, g_a = gap(heard_a.get(port_of(line["relay_a"]), []), killed_at)
        ok_b, g_b = gap(heard_b.get(port_of(line["relay_b"]), []), killed_at)
        if ok_a and ok_b:
            kept += 1
            if g_a is not None:
                gaps_a.append(g_a)
            if g_b is not None:
                gaps_b.append(g_b)

    def worst(gaps):
        return "%.0f" % max(gaps) if gaps else "none"

    print("calls=%d kept=%d media_gap_ms=%s gap_caller_ms=%s gap_callee_ms=%s"
          % (len(calls), kept, worst(gaps_a + gaps_b), worst(gaps_a), worst(gaps_b)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
