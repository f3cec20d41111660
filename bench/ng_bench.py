#!/usr/bin/env python3
"""ng control benchmark: offer + answer + delete cycles per second over the
ng socket, rtplatch against rtpengine, same client, in the same run.

  scripts/bench ng [--seconds S] [--window W] [--quick]

The client is bench/ng_client (C++, one UDP socket, up to W calls in
flight, each call's three requests in order with Kamailio's keys: SDP,
replace origin/session-connection, received-from, supports load limit,
and "delete delay": 0 so both free the ports at once). It runs on core 0.

Servers, each alone on core 1 (taskset -c 1), started fresh:
  rtpengine   Debian's daemon, userspace (no kernel module here), one
              worker thread (num-threads = 1: one core), media on
              127.0.0.1 ports 30000-39999 (bench/kamailio/rtpengine.conf);
  rtplatch    rtplatch-control with ng_listen 127.0.0.1:22223 on shipped
              defaults, and rtplatch-dataplane on net_null vdevs (its main
              lcore serves the control socket: the allocate/update/delete
              per call, the counterpart of rtpengine's port work; its
              busy-polling forwarding lcore at SCHED_IDLE, as in the sip
              bench), relay ports 40000-49999.

One line goes to stdout:
  ng rtplatch_per_s=X rtpengine_per_s=Y ratio=X/Y
and per server the client's and the server's CPU to stderr (the client
saturating core 0 would cap both figures alike: a warning says so).
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sip_bench  # noqa: E402
from sip_bench import (HOST, RTPENGINE_CONF, RTPENGINE_NG_PORT, SERVER_CPU, SIPP_CPU,  # noqa: E402
                       BenchError, KamailioServer, RtplatchServer, Users, check_alive,
                       core_busy_seconds, cpu_seconds, log, pinned, start_logged)
import throughput  # noqa: E402

RTPLATCH_NG_PORT = 22223
DEFAULT_CLIENT = os.path.join(throughput.REPO, "build", "bench", "ng_client")


def rtplatch_control_config(*a, **k):
    """sip_bench's rtplatch-control config plus the ng listener."""
    c = _sip_control_config(*a, **k)
    c["ng_listen"] = ["%s:%d" % (HOST, RTPLATCH_NG_PORT)]
    return c


_sip_control_config = sip_bench.control_config
sip_bench.control_config = rtplatch_control_config


class Rtpengine(KamailioServer):
    """rtpengine alone (no Kamailio: the client speaks ng itself)."""

    name = "rtpengine"

    def start(self, scenario):
        rlog = self.log("rtpengine-" + scenario)
        p = start_logged(pinned(SERVER_CPU) + [self.args.rtpengine,
                                               "--config-file=" + RTPENGINE_CONF,
                                               "--config-section=rtpengine"], rlog)
        self.procs.append(p)
        self.ng_ping(p, rlog)


def run_client(args, port, tag):
    argv = pinned(SIPP_CPU) + [args.client, "--server", "%s:%d" % (HOST, port),
                               "--seconds", str(args.seconds), "--window", str(args.window),
                               "--prefix", tag]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=args.seconds + 30)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(args, server, port):
    server.start("ng")
    try:
        time.sleep(0.5)
        server_cpu0 = cpu_seconds(server.pids())
        core0 = core_busy_seconds(SIPP_CPU)
        t0 = time.monotonic()
        r = run_client(args, port, server.name)
        wall = time.monotonic() - t0
        server_cpu = cpu_seconds(server.pids()) - server_cpu0
        client_share = (core_busy_seconds(SIPP_CPU) - core0) / wall
        for p in server.procs:
            check_alive(p, server.name, server.log("ng"))
        log("%s: %d cycles in %.1f s (%.0f/s), errors %d, timeouts %d%s; server CPU %.1f s "
            "(%.0f %% of core %s), core %s busy %.0f %%"
            % (server.name, r["cycles"], r["seconds"], r["per_s"], r["errors"], r["timeouts"],
               (", first error: " + r["first_error"]) if r["first_error"] else "",
               server_cpu, 100 * server_cpu / wall, SERVER_CPU, SIPP_CPU, 100 * client_share))
        if client_share > sip_bench.SIPP_SATURATED:
            log("WARNING: the client saturated core %s: %s's figure is the client's"
                % (SIPP_CPU, server.name))
        if r["errors"] or r["timeouts"]:
            log("WARNING: %s answered %d errors, %d requests unanswered"
                % (server.name, r["errors"], r["timeouts"]))
        return r["per_s"]
    finally:
        server.stop()


def parse_args(argv):
    ap = argparse.ArgumentParser(description="ng offer/answer/delete: rtplatch vs rtpengine")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--window", type=int, default=64, help="calls in flight")
    ap.add_argument("--quick", action="store_true", help="3 s per server")
    ap.add_argument("--client", default=DEFAULT_CLIENT)
    ap.add_argument("--dataplane", default=throughput.DEFAULT_DATAPLANE)
    ap.add_argument("--control", default=sip_bench.DEFAULT_CONTROL)
    ap.add_argument("--rtpengine", default="rtpengine")
    ap.add_argument("--tmpdir")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = 3.0
    return args


def main(argv=None):
    args = parse_args(argv)
    own_tmp = throughput.start_run(args)
    try:
        if not os.access(args.client, os.X_OK):
            log("no ng client at %s (ninja -C build builds bench/ng_client)" % args.client)
            return 2
        users = Users(args.tmpdir, 10, 1)
        # No TLS here: the servers get no certificates.
        rtpengine = measure(args, Rtpengine(args, users, None), RTPENGINE_NG_PORT)
        rtplatch = measure(args, RtplatchServer(args, users, None), RTPLATCH_NG_PORT)
        print("ng rtplatch_per_s=%d rtpengine_per_s=%d ratio=%s"
              % (rtplatch, rtpengine, sip_bench.fmt_ratio(rtplatch, rtpengine)), flush=True)
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    finally:
        throughput.end_run(args, own_tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
