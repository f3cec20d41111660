#!/usr/bin/env python3
"""How long rtplatch-control takes to start on N stored bindings, without
registering them first: writes N users and a schema 4 binding store of N
rows (in a random order of the users, as phones arrive), starts the
control plane on core 1 and times it from exec to "listening on". For
profiling the restart (--perf FILE records it with perf); the registrar
bench's restart_s is the figure to quote.

  python3 bench/registrar_restart.py N [--refreshes K] [--control PATH] [--perf FILE]
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sip_bench as sb  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = ("aor, contact, expires_at, call_id, cseq, user_agent, source_ip, source_port, "
           "transport, local_ip, local_port, behind_nat, nat_reasons, keepalive_interval_ms, "
           "keepalive_reason, keepalive_learning, q_milli")


def write_refreshes(db, n, count, expires):
    """Schema 4 -> 5 as rtplatch migrates it, then `count` refresh log
    entries over random rows (what a refresh storm leaves: the registrar
    bench's store holds about 900 000 at a million bindings)."""
    db.executescript("""
ALTER TABLE bindings ADD COLUMN refresh_seq INTEGER NOT NULL DEFAULT 0;
CREATE TABLE refreshes (id INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER NOT NULL,
 expires_at INTEGER NOT NULL, cseq INTEGER NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),
 call_id TEXT NOT NULL) STRICT;
UPDATE schema_version SET version = 5;""")
    rng = random.Random(2)
    db.executemany("INSERT INTO refreshes (row, expires_at, cseq, call_id) VALUES (?, ?, ?, ?)",
                   ((r, expires, 3, "%d-2@127.0.0.1" % r)
                    for r in (rng.randrange(1, n + 1) for _ in range(count))))


def write_store(path, users, refreshes=0):
    db = sqlite3.connect(path)
    db.execute("PRAGMA page_size=1024")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript("""
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (4);
CREATE TABLE bindings (id INTEGER PRIMARY KEY, aor TEXT NOT NULL, contact TEXT NOT NULL,
 expires_at INTEGER NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,
 user_agent TEXT NOT NULL, source_ip TEXT NOT NULL, source_port INTEGER NOT NULL,
 transport TEXT NOT NULL, local_ip TEXT NOT NULL, local_port INTEGER NOT NULL,
 behind_nat INTEGER NOT NULL, nat_reasons TEXT NOT NULL, keepalive_interval_ms INTEGER NOT NULL,
 keepalive_reason TEXT NOT NULL, keepalive_learning INTEGER NOT NULL DEFAULT 0,
 q_milli INTEGER NOT NULL) STRICT;""")
    order = list(range(len(users)))
    random.Random(1).shuffle(order)
    expires = int(time.time()) + 3600
    rows = (("%s@%s" % (users[i][0], sb.DOMAIN), "sip:%s@127.0.0.1:17060" % users[i][0], expires,
             "%d-1@127.0.0.1" % i, 2, "sipp", "127.0.0.1", 17060, "udp", "127.0.0.1", 25060, 0,
             "[]", 0, "", 0, 1000) for i in order)
    db.executemany("INSERT INTO bindings (%s) VALUES (%s)" % (COLUMNS, ",".join("?" * 17)), rows)
    if refreshes:
        write_refreshes(db, len(users), refreshes, expires)
    db.commit()
    db.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bindings", type=int)
    ap.add_argument("--control", default=os.path.join(ROOT, "build/control/rtplatch-control"))
    ap.add_argument("--perf", help="record the start with perf into this file")
    ap.add_argument("--refreshes", type=int, default=0,
                    help="refresh log entries in the store (a storm's leftovers)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="rtplatch-restart.")
    try:
        users = sb.Users(tmp, args.bindings, 1)
        write_store(os.path.join(tmp, "bindings.db"), users.users, args.refreshes)
        cfg = os.path.join(tmp, "control.json")
        with open(cfg, "w") as f:
            json.dump(sb.control_config(25060, tmp + "/dp.sock", tmp + "/ctl.sock",
                                        users.users_file, tmp + "/bindings.db", True), f)
        cmd = ["taskset", "-c", "1", args.control, "--config", cfg]
        if args.perf:
            cmd = ["perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-o", args.perf] + cmd
        log_path = os.path.join(tmp, "control.log")
        with open(log_path, "w") as log:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            while "listening on" not in open(log_path).read():
                if p.poll() is not None:
                    sys.exit("rtplatch-control exited: " + open(log_path).read()[-500:])
                time.sleep(0.01)
            took = time.monotonic() - t0
            p.send_signal(2)
            p.wait()
        for line in open(log_path):
            if "registrar: " in line and " accounts read in " in line:
                print(line.rstrip())
        print("registrar_restart bindings=%d listening_s=%.2f" % (args.bindings, took))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
