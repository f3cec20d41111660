#!/usr/bin/env python3
"""The summary lines of `scripts/bench relay` from the relay_step lines of
its ladders (bench/relay.sh documents them).

  relay_summary.py STEPS_FILE
"""
import sys

# A relay whose forwarding core was this busy in the failed step was the limit.
RELAY_FULL_PCT = 90.0


def parse(path):
    steps = []
    for line in open(path):
        if line.startswith("relay_step "):
            steps.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return steps


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def ladder(steps, relay, pmd=None):
    """(best passing step or None, limit) of one relay's ladder."""
    mine = [s for s in steps if s["relay"] == relay and (pmd is None or s["pmd"] == pmd)]
    passed = [s for s in mine if s["pass"] == "1"]
    best = max(passed, key=lambda s: int(s["calls"])) if passed else None
    failed = [s for s in mine if s["pass"] != "1"]
    limit = "none"  # the ladder ran out of steps
    if failed:
        # The step that failed: was the relay's core full, or did the
        # rest of the testbed (phones, Kamailio, NATs on core 0) give out
        # first (calls failing, packets lost or not sent) with the relay's
        # core to spare?
        cpu = num(failed[0]["relay_cpu_pct"])
        limit = "relay" if cpu is None or cpu >= RELAY_FULL_PCT else "testbed"
    return best, limit


def calls(step):
    return int(step["calls"]) if step else 0


def ratio(a, b, spec="%.2f"):
    return spec % (a / b) if a and b else "na"


def main(argv):
    steps = parse(argv[1])
    engine, engine_limit = ladder(steps, "rtpengine")
    if engine is None:
        print("relay: rtpengine passed no step", file=sys.stderr)
    chosen = None
    for pmd in sorted({s["pmd"] for s in steps if s["relay"] == "rtplatch"}):
        best, limit = ladder(steps, "rtplatch", pmd)
        if best is None:
            print("relay_pmd pmd=%s rtplatch_calls=0 limit=%s" % (pmd, limit))
            continue
        ns, kernel = num(best["ns_per_packet"]), num(best["kernel_ns_per_packet"])
        print("relay_pmd pmd=%s rtplatch_calls=%d ratio=%s rtplatch_ns_per_packet=%s "
              "rtplatch_kernel_ns_per_packet=%s rtplatch_own_ns_per_packet=%s limit=%s"
              % (pmd, calls(best), ratio(calls(best), calls(engine)), best["ns_per_packet"],
                 best["kernel_ns_per_packet"],
                 "%.0f" % (ns - kernel) if ns is not None and kernel is not None else "na",
                 limit))
        key = (calls(best), -(ns or 1e18))
        if chosen is None or key > chosen[0]:
            chosen = (key, best, limit)
    if chosen is None or engine is None:
        return 1
    best, limit = chosen[1], chosen[2]
    print("relay rtplatch_calls=%d rtpengine_calls=%d ratio=%s rtplatch_ns_per_packet=%s "
          "rtpengine_ns_per_packet=%s loss_pct=%s"
          % (calls(best), calls(engine), ratio(calls(best), calls(engine)),
             best["ns_per_packet"], engine["ns_per_packet"], best["loss_pct"]))
    print("relay_detail pmd=%s rtpengine_kernel_ns_per_packet=%s ns_ratio=%s "
          "rtplatch_limit=%s rtpengine_limit=%s"
          % (best["pmd"], engine["kernel_ns_per_packet"],
             ratio(num(engine["ns_per_packet"]), num(best["ns_per_packet"])),
             limit, engine_limit))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
