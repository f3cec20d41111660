# Sourced by the testbed and the integration tests: the dataplane's config
# file and EAL command line for the testbed's namespaces, built by
# scripts/lib/dataplane_launch.py (which the benches import), so every
# place that starts a dataplane starts it the same way.

_DP_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# dp_write_config FILE SOCK PORT_MIN PORT_MAX RELAY_IP... [-- KEY=JSON...]:
# the testbed's config (port 0 the veth, port 1 the tap) at FILE.
dp_write_config() {
  local file=$1 sock=$2 port_min=$3 port_max=$4
  shift 4
  local args=(config --socket "$sock" --port-min "$port_min" --port-max "$port_max")
  while (($#)) && [[ $1 != -- ]]; do args+=(--relay "$1"); shift; done
  (($#)) && shift
  local kv
  for kv in "$@"; do args+=(--set "$kv"); done
  python3 "$_DP_LIB_DIR/dataplane_launch.py" "${args[@]}" >"$file"
}

# dp_testbed_eal NAME LCORES: sets DP_EAL (an array) to the EAL arguments
# for a dataplane (or testpmd) on the testbed's relay veth and tap, with a
# per-run --file-prefix from rl_dpdk_prefix NAME. The veth's driver is
# $ST_MEDIA_PMD (af_packet, the default, or af_xdp), its af_packet ring
# $ST_RING_FRAMES frames (default: the PMD's 512).
dp_testbed_eal() {
  rl_dpdk_prefix "$1"
  mapfile -t DP_EAL < <(python3 "$_DP_LIB_DIR/dataplane_launch.py" eal --lcores "$2" \
    --prefix "$RL_DPDK_PREFIX" --testbed "$RL_RELAY_VETH" "$RL_RELAY_TAP" \
    --media-pmd "${ST_MEDIA_PMD:-af_packet}" --ring-frames "${ST_RING_FRAMES:-0}")
}
