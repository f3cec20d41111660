#!/usr/bin/env bash
# Failover of a loaded node (scripts/bench failover, issue 18): two rtplatch
# nodes share VIP 203.0.113.70 through keepalived and their state through
# Redis (scripts/lib/vip_pair.sh). Through node A, which holds the VIP: N
# calls with RTP both ways between two NAT'd phones (scripts/lib/
# failover_calls.sh: sipp, 50 packets/s each way per call), and P more
# NAT'd phones registered to the VIP whose mappings A keeps open with
# keepalives. Then kill -9 of node A (its keepalived, control plane and
# dataplane); node B takes the VIP and carries on.
#
#   bench/failover.sh [--calls N] [--phones P] [--hold S] [--rate R] [--keep]
#
#   --calls N   concurrent calls through A when it dies (default 500)
#   --phones P  registered phones besides the callee (default 20)
#   --hold S    how long each call holds (default 40; the kill comes once
#               every call is up, the calls end S s after they began)
#   --rate R    calls set up per second (default 50)
#   --keep      keep the run's directory
#
# Measured as the phones and the operator see it:
#   calls_kept       calls both phones heard again after the kill, from the
#                    same relay ports (captures outside each NAT)
#   media_gap_ms     the longest silence of a kept call in either direction,
#                    from its last packet before the kill to its first after
#   bindings_lost    bindings A held before the kill that B does not hold
#                    (as its own) afterwards
#   keepalive_owners_max
#                    the most nodes (MACs) that sent keepalives to one NAT
#                    mapping before the kill, or after it (capture outside
#                    the phones' NAT)
# Output, one line (and a "failover_detail ..." line):
#   failover calls=N calls_kept=K media_gap_ms=G bindings_lost=B keepalive_owners_max=O
# Target (issue 18): calls_kept=N, bindings_lost=0, keepalive_owners_max=1,
# media_gap_ms below 3000 at 500 calls. Exit 0 when the run completed
# (whatever the figures), 1 when it broke, 2 usage, 77 cannot run here.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

CALLS=500
PHONES=20
HOLD_S=40
RATE=50
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
while (( $# )); do
  case $1 in
    --calls) CALLS=${2:?}; shift ;;
    --phones) PHONES=${2:?}; shift ;;
    --hold) HOLD_S=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --keep) export RL_KEEP_LOGS=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "failover: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in CALLS PHONES HOLD_S RATE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "failover: ${v,,} must be a positive integer" >&2; exit 2; }
done
RAMP_S=$(( (CALLS + RATE - 1) / RATE ))
(( HOLD_S >= RAMP_S + 20 )) || { echo "failover: --hold must be at least the ramp ($RAMP_S s) + 20" >&2; exit 2; }

# Relay ports: each call takes 2 legs x (RTP + RTCP); twice what N needs.
export ST_PORT_MIN=30000
export ST_PORT_MAX=$(( 30000 + (CALLS * 8 > 2000 ? CALLS * 8 : 2000) - 1 ))
(( ST_PORT_MAX <= 65535 )) || { echo "failover: too many calls for one relay address" >&2; exit 2; }
export ST_IDLE_TIMEOUT_S=$(( HOLD_S + 600 ))
export ST_SIPP_TIMEOUT_S=20

# shellcheck source=scripts/lib/sip_testbed.sh
source "$ROOT/scripts/lib/sip_testbed.sh"
if ! why=$(st_missing); then echo "SKIP failover: $why"; exit 77; fi
for tool in keepalived redis-server tcpdump; do
  command -v "$tool" >/dev/null || { echo "SKIP failover: $tool is not installed"; exit 77; }
done

log() { printf '[failover %s] %s\n' "$(date +%T)" "$*" >&2; }
broke() { log "ERROR: $*"; RL_FAILED=$((RL_FAILED + 1)); exit 1; }

st_init "fo$$"
# Each phone's NAT stands for a site of N phones behind one address (the
# caller's sends N calls' INVITEs and ACKs, the callee's N calls' answers),
# more than the guard's per-source limits for an office NAT: a carrier
# lists such sites in guard.exempt (docs/control-plane.md).
VP_CONTROL_EXTRA='"guard": {"exempt": ["203.0.113.30/31"]}'
# shellcheck source=scripts/lib/vip_pair.sh
source "$ROOT/scripts/lib/vip_pair.sh"
# shellcheck source=scripts/lib/failover_calls.sh
source "$ROOT/scripts/lib/failover_calls.sh"
for i in $(seq 0 $((PHONES - 1))); do st_add_user "user$i" secret; done
fc_users
# Placement: two nodes share this machine's two cores, where each would
# have its own. A's forwarding lcore busy-polls core 1 (as bench/load.sh's);
# B's, idle until the kill, polls core 0 with its process group at nice 19
# (it still hears A's VRRP adverts, taking only a small share of core 0
# while other work is runnable, and core 0 whole once A is dead). The
# control planes and sipp run on core 0.
VP_LCORES_B="0@1,1@0"
vp_start || broke "node A did not take the VIP"
st_node relay; A_MAC=$(mac_of relay "$RL_RELAY_TAP")
st_node relay2; B_MAC=$(mac_of relay2 "$RL_RELAY_TAP")
log "A ($A_MAC) holds $VIP; B ($B_MAC) is its backup"
st_node relay2
[[ -w /proc/$DP_PID/autogroup ]] && echo 19 >"/proc/$DP_PID/autogroup"
taskset -a -p -c 0 "$CTL_PID" >/dev/null
st_node relay; taskset -a -p -c 0 "$CTL_PID" >/dev/null
FC_PIN=(taskset -c 0)

fc_add_phones || broke "the phones' testbed failed"
KEEPALIVES="$RL_TMP/keepalives.txt"
vp_phones "$PHONES" "$KEEPALIVES"
(( VP_REGISTERED == PHONES )) || broke "$VP_REGISTERED of $PHONES phones registered"
fc_register_callee || broke "bob did not register"
st_node relay
targets() { jget "$(dctl keepalives)" "d['total']"; }
enough_targets() { [[ $(targets) -ge $PHONES ]]; }
log "waiting for A's NAT timeout learning to start the keepalives"
rl_wait_for 60 enough_targets || broke "A holds $(targets) keepalive targets of $PHONES"

log "placing $CALLS calls at $RATE/s through A, each holding ${HOLD_S}s"
fc_start_calls "$CALLS" "$HOLD_S" "$RATE" || broke "sipp did not start"
st_node relay
fc_calls_up "$CALLS" $((RAMP_S + 30)) || broke "A carries $(fc_answered_count) answered calls of $CALLS"
fc_save_calls
fc_capture_start "$VIP" || broke "tcpdump not listening"
# bindings_before: "aor contact" of every binding A holds.
bindings() {
  jget "$(cctl registrations --limit 100000)" \
    "'\\n'.join(sorted(b['aor'] + ' ' + b['contact'] for b in d['registrations'] if 'node' not in b))"
}
bindings >"$RL_TMP/bindings_a"
sleep 3

log "kill -9 of node A"
vp_kill_a
st_node relay2
rl_wait_for 15 taken_valid || broke "B did not take the VIP"
TAKEN_S=$(python3 -c "import time; print('%.2f' % (time.time() - $VP_KILLED_AT))")
log "B took the VIP ${TAKEN_S}s after the kill"
adopted() { [[ $(jget "$(cctl sip-stats)" "d['cluster']['calls_adopted']") -ge $CALLS ]]; }
rl_wait_for 30 adopted || log "B adopted $(jget "$(cctl sip-stats)" "d['cluster']['calls_adopted']") calls of $CALLS"
ADOPTED_S=$(python3 -c "import time; print('%.2f' % (time.time() - $VP_KILLED_AT))")
all_bindings_owned() { [[ $(bindings | grep -c .) -ge $(grep -c . "$RL_TMP/bindings_a") ]]; }
rl_wait_for 10 all_bindings_owned || true
bindings >"$RL_TMP/bindings_b"
BINDINGS_LOST=$(comm -23 "$RL_TMP/bindings_a" "$RL_TMP/bindings_b" | grep -c .)
# B's keepalives reach every mapping (their first within 2 s of adoption).
sleep 5
fc_calls_ended $((HOLD_S + 60))
fc_capture_stop
MEDIA=$(fc_media "$VP_KILLED_AT") || broke "the captures could not be read"
log "media: $MEDIA"
OWNERS=$(python3 - "$KEEPALIVES" "$VP_KILLED_AT" <<'PY'
import re, sys
before, after = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"([\d.]+) (\S+) > .* > 203\.0\.113\.30\.(\d+):", line)
    if not m:
        continue
    side = before if float(m[1]) <= float(sys.argv[2]) else after
    side.setdefault(m[3], set()).add(m[2])
print(max([len(s) for s in list(before.values()) + list(after.values())] or [0]))
PY
)
kept=$(sed -n 's/.* kept=\([0-9]*\).*/\1/p' <<<"$MEDIA")
gap=$(sed -n 's/.* media_gap_ms=\([0-9a-z]*\).*/\1/p' <<<"$MEDIA")
echo "failover calls=$CALLS calls_kept=${kept:-0} media_gap_ms=${gap:-none} bindings_lost=$BINDINGS_LOST keepalive_owners_max=$OWNERS"
echo "failover_detail vip_taken_s=$TAKEN_S calls_adopted_s=$ADOPTED_S calls_completed=$FC_SIPP_OK" \
  "bindings_before=$(grep -c . "$RL_TMP/bindings_a") $MEDIA"
