#!/usr/bin/env python3
"""The dataplane's config file and EAL command line, built in one place for
the testbed, the integration tests and the benches (virtual devices, no NIC,
no hugepages). Python callers import it; shell callers use the CLI:

  dataplane_launch.py config --socket S --relay IP [--relay IP]
      --port-min N --port-max N [--media-tx-port N] [--exception-port N]
      [--set KEY=JSON ...]                     prints the config as JSON
  dataplane_launch.py eal --lcores L --prefix P [--memory-mb M]
      [--no-shconf] [--testbed VETH TAP [--media-pmd af_packet|af_xdp]
      [--ring-frames N]] [--vdev V ...]        prints the EAL arguments,
                                               one per line

`--lcores` is passed as -l, or as --lcores when it maps lcores to cores
("0@1,1@1").
"""
import argparse
import json
import sys


def config(socket, relay_addresses, port_min, port_max, media_port=0,
           exception_port=1, media_tx_port=None, **extra):
    """The dataplane's JSON config (dataplane/control/dataplane_config.h)."""
    cfg = {
        "control_socket": socket,
        "media_port": media_port,
        "exception_port": exception_port,
        "relay_addresses": list(relay_addresses),
        "port_min": port_min,
        "port_max": port_max,
    }
    if media_tx_port is not None:
        cfg["media_tx_port"] = media_tx_port
    cfg.update(extra)
    return cfg


def eal_args(lcores, prefix, vdevs, memory_mb=512, no_shconf=False):
    """EAL arguments without hugepages or PCI: a per-run --file-prefix so
    runs side by side never share EAL state."""
    flag = "--lcores" if "@" in lcores else "-l"
    args = [flag, lcores, "--no-huge", "-m", str(memory_mb), "--no-pci"]
    if no_shconf:
        args.append("--no-shconf")
    args += ["--file-prefix", prefix]
    for v in vdevs:
        args += ["--vdev", v]
    return args


MEDIA_PMDS = ("af_packet", "af_xdp")


def media_vdev(veth, pmd="af_packet", ring_frames=0):
    """Port 0 on the relay veth: af_packet (a shared-memory ring; a system
    call per transmitted burst) or af_xdp (an XDP socket on the veth's one
    queue; DPDK 22.11 loads its own XDP program when there is no bpffs).
    ring_frames sizes af_packet's ring (0: the PMD's default)."""
    if pmd == "af_xdp":
        return "net_af_xdp0,iface=%s,start_queue=0,queue_count=1" % veth
    if pmd != "af_packet":
        raise ValueError("media pmd must be one of %s" % ", ".join(MEDIA_PMDS))
    vdev = "net_af_packet0,iface=%s" % veth
    return vdev + (",framecnt=%d" % ring_frames if ring_frames else "")


def testbed_vdevs(veth, tap, pmd="af_packet", ring_frames=0):
    """The testbed's ports: 0 = the relay veth (the "NIC", media_vdev),
    1 = the tap that holds the relay addresses (the exception path)."""
    return [media_vdev(veth, pmd, ring_frames), "net_tap0,iface=%s" % tap]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("config")
    c.add_argument("--socket", required=True)
    c.add_argument("--relay", action="append", required=True)
    c.add_argument("--port-min", type=int, required=True)
    c.add_argument("--port-max", type=int, required=True)
    c.add_argument("--media-tx-port", type=int)
    c.add_argument("--exception-port", type=int, default=1)
    c.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    e = sub.add_parser("eal")
    e.add_argument("--lcores", required=True)
    e.add_argument("--prefix", required=True)
    e.add_argument("--memory-mb", type=int, default=512)
    e.add_argument("--no-shconf", action="store_true")
    e.add_argument("--vdev", action="append", default=[])
    e.add_argument("--testbed", nargs=2, metavar=("VETH", "TAP"),
                   help="the testbed's two ports (before any --vdev)")
    e.add_argument("--media-pmd", choices=MEDIA_PMDS, default="af_packet",
                   help="the driver of the testbed's port 0")
    e.add_argument("--ring-frames", type=int, default=0,
                   help="af_packet ring size of the testbed's port 0")
    a = p.parse_args(argv)
    if a.what == "config":
        extra = {}
        for kv in a.set:
            key, _, value = kv.partition("=")
            extra[key] = json.loads(value)
        print(json.dumps(config(a.socket, a.relay, a.port_min, a.port_max,
                                exception_port=a.exception_port,
                                media_tx_port=a.media_tx_port, **extra), indent=1))
    else:
        vdevs = (testbed_vdevs(*a.testbed, a.media_pmd, a.ring_frames)
                 if a.testbed else []) + a.vdev
        print("\n".join(eal_args(a.lcores, a.prefix, vdevs, a.memory_mb, a.no_shconf)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
