#!/usr/bin/env python3
"""One step of bench/relay_run.sh, from its snapshots: prints the
relay_step line (see bench/relay_run.sh for each figure's meaning).

  relay_step.py STEP_DIR RELAY PMD CALLS
"""
import csv
import json
import os
import sys

HZ = os.sysconf("SC_CLK_TCK")
MAX_LOSS_PCT = 0.1
PPS_PER_CALL = 100  # 50 packets/s each way
# Below this share of the packets the calls should carry, the phones
# (sipp on core 0) are the bottleneck, not the relay.
MIN_GENERATOR_PCT = 95.0


def read(d, name):
    p = os.path.join(d, name)
    return open(p).read() if os.path.exists(p) else ""


def counters(d):
    out = {}
    for line in read(d, "ipt").splitlines():
        k, _, v = line.partition(" ")
        out[k] = int(v) if v.strip().isdigit() else 0
    return out


def loss(x, y):
    """(loss %, sent, arrived) between two counter snapshots, both ways."""
    sent = (y["a_out"] - x["a_out"]) + (y["b_out"] - x["b_out"])
    arrived = (y["a_in"] - x["a_in"]) + (y["b_in"] - x["b_in"])
    return (100.0 * (sent - arrived) / sent if sent else 100.0), sent, arrived


def udp_mibs(d):
    """[(sent, arrived)] of phone a then b from their UDP MIBs: datagrams
    out, and in + errors (sipp never reads its media sockets) + no port."""
    rows = [l.split() for l in read(d, "snmp_ab").splitlines() if l.startswith("Udp:")]
    if len(rows) < 4:
        return None
    out = []
    for head, values in ((rows[0], rows[1]), (rows[2], rows[3])):
        m = dict(zip(head[1:], (int(v) for v in values[1:])))
        out.append((m["OutDatagrams"], m["InDatagrams"] + m["InErrors"] + m["NoPorts"]))
    return out


def mib_counters(d):
    mibs = udp_mibs(d)
    if mibs is None:
        return None
    (a_out, a_in), (b_out, b_in) = mibs
    return {"a_out": a_out, "a_in": a_in, "b_out": b_out, "b_in": b_in}


def when(d):
    return float(read(d, "time"))


def thread_ticks(d, relay):
    """(utime, stime) clock ticks: rtplatch's forwarding lcore threads
    (DPDK names them rte-worker-N), every thread of rtpengine."""
    user = system = 0
    for line in read(d, "threads").splitlines():
        try:
            _, rest = line.split(" (", 1)
            comm, fields = rest.rsplit(") ", 1)
        except ValueError:
            continue
        if relay == "rtplatch" and not comm.startswith("rte-worker"):
            continue
        f = fields.split()
        user += int(f[11])
        system += int(f[12])
    return user, system


def busy_share(a, b):
    """The forwarding lcores' busy cycles / all their cycles (rtplatch)."""
    def sums(d):
        try:
            lcores = json.loads(read(d, "dstats.json")).get("lcores", [])
        except ValueError:
            return None
        return (sum(l.get("busy_cycles", 0) for l in lcores),
                sum(l.get("idle_cycles", 0) for l in lcores))
    x, y = sums(a), sums(b)
    if x is None or y is None:
        return None
    busy, idle = y[0] - x[0], y[1] - x[1]
    return busy / (busy + idle) if busy + idle > 0 else None


def core_busy_pct(a, b, core):
    def parse(d):
        for line in read(d, "procstat").splitlines():
            f = line.split()
            if f[0] == core:
                v = [int(x) for x in f[1:]]
                return sum(v), v[3] + v[4]
        return None
    x, y = parse(a), parse(b)
    if x is None or y is None or y[0] == x[0]:
        return None
    return 100.0 * (1 - (y[1] - x[1]) / (y[0] - x[0]))


def sipp_successful(path):
    if not os.path.exists(path):
        return 0
    rows = list(csv.reader(open(path), delimiter=";"))
    if len(rows) < 2:
        return 0
    last = dict(zip(rows[0], rows[-1]))
    return int(last.get("SuccessfulCall(C)", 0) or 0)


def fmt(v, spec="%.1f"):
    return "na" if v is None else spec % v


def main(argv):
    step, relay, pmd, calls = argv[1], argv[2], argv[3], int(argv[4])
    start, s_from, s_to, end = (os.path.join(step, n)
                                for n in ("start", "steady_from", "steady_to", "end"))

    step_loss_pct = loss(counters(start), counters(end))[0]
    ok = sipp_successful(os.path.join(step, "uac_stat.csv"))

    s0, s1 = mib_counters(s_from), mib_counters(s_to)
    if s0 is None or s1 is None:
        print("relay_step: no UDP MIBs of the phones in %s" % step, file=sys.stderr)
        return 1
    seconds = when(s_to) - when(s_from)
    loss_pct, sent, relayed = loss(s0, s1)
    offered = sent / seconds
    (u0, k0), (u1, k1) = thread_ticks(s_from, relay), thread_ticks(s_to, relay)
    cpu_s = (u1 - u0 + k1 - k0) / HZ
    kernel_s = (k1 - k0) / HZ
    if relay == "rtplatch":
        # A busy-polling thread is on its core all the time: what relaying
        # cost is its busy share of that time.
        share = busy_share(s_from, s_to)
        cpu_s = cpu_s * share if share is not None else None
    ns = 1e9 * cpu_s / relayed if relayed and cpu_s is not None else None
    kernel_ns = 1e9 * kernel_s / relayed if relayed else None
    if relay == "rtplatch" and pmd == "af_xdp":
        # af_xdp's receive makes a wakeup system call on empty polls too:
        # its thread's system time is not per relayed packet.
        kernel_ns = None
    generator_pct = 100.0 * offered / (calls * PPS_PER_CALL)
    passed = ok == calls and loss_pct <= MAX_LOSS_PCT and generator_pct >= MIN_GENERATOR_PCT
    print("relay_step relay=%s pmd=%s calls=%d ok=%d loss_pct=%.4f step_loss_pct=%.4f "
          "offered_pps=%.0f generator_pct=%.1f relayed_pps=%.0f ns_per_packet=%s "
          "kernel_ns_per_packet=%s relay_cpu_pct=%s core0_busy_pct=%s pass=%d"
          % (relay, pmd if relay == "rtplatch" else "kernel", calls, ok, loss_pct,
             step_loss_pct, offered, generator_pct, relayed / seconds, fmt(ns, "%.0f"),
             fmt(kernel_ns, "%.0f"),
             fmt(None if cpu_s is None else 100.0 * cpu_s / seconds),
             fmt(core_busy_pct(s_from, s_to, "cpu0")), int(passed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
