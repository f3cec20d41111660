#!/usr/bin/env bash
# Installs the Debian packages scripts/package built, checks what they put
# where, starts the programs as their systemd units would (the units'
# ExecStart lines, as the units' user), checks the units with
# systemd-analyze verify, then purges the packages and checks that
# nothing is left behind but the system user (Debian keeps system users).
#
#   package_install_test.sh [DIST_DIR]     (default dist/, from scripts/package)
#
# Output: "PASS name" / "FAIL name" per check, then
# "package_install: N passed, N failed". Exit 0 all passed, 1 any failure,
# 77 skipped (not root, or no packages built). Changes the machine's
# package set: run it on a test machine (CI's), never on a production one.
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DIST="$(realpath -m "${1:-$ROOT/dist}")"
# rl_check, rl_wait_for, rl_summary (only definitions: no namespaces made)
# shellcheck source=scripts/lib/netns.sh
source "$ROOT/scripts/lib/netns.sh"
SUITE=package_install

[[ $(id -u) -eq 0 ]] || { echo "$SUITE: skipped (needs root)"; exit 77; }
shopt -s nullglob
debs=("$DIST"/rtplatch-dataplane_*.deb "$DIST"/rtplatch-control_*.deb "$DIST"/rtplatchctl_*.deb)
((${#debs[@]} == 3)) || { echo "$SUITE: skipped (no packages in $DIST: scripts/package)"; exit 77; }

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "pkg$$" 2>/dev/null
  dpkg --purge rtplatch-control rtplatch-dataplane rtplatchctl >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Installed with their dependencies from the archive (apt resolves them).
out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" 2>&1)
rl_check packages_install "$(tail -2 <<<"$out")" dpkg-query -W rtplatch-control rtplatch-dataplane rtplatchctl

for f in /usr/bin/rtplatch-dataplane /usr/bin/rtplatch-control /usr/bin/rtplatchctl \
         /etc/rtplatch/control.json /etc/rtplatch/dataplane.json /etc/rtplatch/users \
         /etc/default/rtplatch-dataplane /usr/libexec/rtplatch/rtplatch-tap-up \
         /lib/systemd/system/rtplatch-control.service /lib/systemd/system/rtplatch-dataplane.service \
         /usr/share/man/man8/rtplatch-control.8.gz /usr/share/man/man8/rtplatch-dataplane.8.gz \
         /usr/share/man/man8/rtplatchctl.8.gz /usr/share/man/man5/rtplatch-control.json.5.gz \
         /usr/share/man/man5/rtplatch-dataplane.json.5.gz; do
  rl_check "installed_$(basename "$f" | tr '.-' '__')" "$f" test -e "$f"
done
rl_check system_user_created "$(getent passwd rtplatch)" getent passwd rtplatch
rl_check users_file_private "$(stat -c '%U:%G %a' /etc/rtplatch/users)" \
  test "$(stat -c '%U:%G %a' /etc/rtplatch/users)" == "root:rtplatch 640"
rl_check run_dir_made "$(stat -c '%U:%G %a' /run/rtplatch 2>&1)" \
  test "$(stat -c '%U:%G %a' /run/rtplatch 2>&1)" == "root:rtplatch 770"
out=$(systemd-analyze verify /lib/systemd/system/rtplatch-control.service \
      /lib/systemd/system/rtplatch-dataplane.service 2>&1)
rl_check units_verify "${out:-clean}" test -z "$out"
rl_check conffiles_registered "$(dpkg-query -W -f='${Conffiles}' rtplatch-control | wc -l) conffiles" \
  bash -c "dpkg-query -W -f='\${Conffiles}' rtplatch-control | grep -q /etc/rtplatch/control.json"

# Both programs as their units run them, on the packaged configs, in a
# namespace of their own that holds the config's relay address (on its
# loopback instead of the NIC's tap; net_null ports instead of vfio-pci).
NS="pkg$$"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 192.0.2.10/32 dev lo
# The dataplane: root, group rtplatch, umask 0007 (its unit's Group= and UMask=).
ip netns exec "$NS" runuser -u root -g rtplatch -- sh -c 'umask 0007; exec "$@"' sh \
  /usr/bin/rtplatch-dataplane -l 0,1 --no-huge -m 512 --no-pci --file-prefix "$NS" \
  --vdev net_null0 --vdev net_null1 -- --config /etc/rtplatch/dataplane.json \
  >"/tmp/$SUITE.dataplane.log" 2>&1 &
PIDS+=($!)
rl_check dataplane_starts "$(tail -2 "/tmp/$SUITE.dataplane.log")" \
  rl_wait_for 20 rtplatchctl --socket /run/rtplatch/dataplane.sock version
# Group rtplatch may connect (read and write), others nothing.
rl_check dataplane_socket_group_only "$(stat -c '%U:%G %a' /run/rtplatch/dataplane.sock 2>&1)" \
  bash -c "[[ \$(stat -c '%G %a' /run/rtplatch/dataplane.sock) =~ ^rtplatch\ [67][67]0$ ]]"
# The control plane: user rtplatch, no capabilities. Its stderr stands for
# the journal's stream: systemd names that stream in JOURNAL_STREAM
# (device:inode), and the log then writes journald's priority prefixes.
: >"/tmp/$SUITE.control.log"
journal_stream=$(stat -c '%d:%i' "/tmp/$SUITE.control.log")
ip netns exec "$NS" runuser -u rtplatch -- env JOURNAL_STREAM="$journal_stream" \
  /usr/bin/rtplatch-control --config /etc/rtplatch/control.json >>"/tmp/$SUITE.control.log" 2>&1 &
PIDS+=($!)
rl_check control_starts_as_rtplatch "$(tail -2 "/tmp/$SUITE.control.log")" \
  rl_wait_for 10 rtplatchctl --control-socket /run/rtplatch/control.sock version
rl_wait_for 10 bash -c "rtplatchctl --control-socket /run/rtplatch/control.sock --json sip-stats | grep -q '\"dataplane_connected\": true'"
connected=$(rtplatchctl --control-socket /run/rtplatch/control.sock --json sip-stats 2>&1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["dataplane_connected"])' 2>&1)
rl_check control_reaches_the_dataplane "dataplane_connected: $connected" test "$connected" == True
rl_check control_state_in_var_lib "$(stat -c '%U %n' /var/lib/rtplatch/bindings.sqlite 2>&1)" \
  test "$(stat -c '%U' /var/lib/rtplatch/bindings.sqlite 2>&1)" == rtplatch
rl_check metrics_served "$(ip netns exec "$NS" python3 "$HERE/prom_scrape.py" fetch http://127.0.0.1:9470/metrics "/tmp/$SUITE.metrics" 2>&1 | tail -1)" \
  ip netns exec "$NS" python3 "$HERE/prom_scrape.py" fetch http://127.0.0.1:9470/metrics "/tmp/$SUITE.metrics"
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()
# (runuser's own "Session terminated, killing shell..." has no newline:
# taken off before the check.)
rl_check control_logs_for_journald "$(grep -m1 'shutting down' "/tmp/$SUITE.control.log" | head -c 120)" \
  bash -c "sed 's/^Session terminated, killing shell\\.\\.\\.//' '/tmp/$SUITE.control.log' | grep -q '^<5>shutting down: '"
rl_check control_log_without_own_timestamps "$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "/tmp/$SUITE.control.log") timestamped lines" \
  bash -c "! grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' '/tmp/$SUITE.control.log'"
ip netns del "$NS"

out=$(dpkg --purge rtplatch-control rtplatch-dataplane rtplatchctl 2>&1)
rl_check packages_purge "$(tail -1 <<<"$out")" bash -c "! dpkg-query -W rtplatch-control 2>/dev/null | grep -q ."
left=$(ls -d /etc/rtplatch /var/lib/rtplatch /usr/libexec/rtplatch /etc/default/rtplatch-dataplane \
       /usr/bin/rtplatch-control /usr/bin/rtplatch-dataplane /usr/bin/rtplatchctl 2>/dev/null)
rl_check purge_leaves_nothing "${left:-nothing left}" test -z "$left"
rl_summary "$SUITE"
