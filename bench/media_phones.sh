# shellcheck shell=bash
# The phones of the media benches (bench/load.sh, bench/relay_run.sh),
# sourced after scripts/lib/sip_testbed.sh: caller alice (side a,
# 192.0.2.2) behind NAT 203.0.113.30, callee bob (side b, 198.51.100.2)
# behind NAT 203.0.113.31, both plain MASQUERADE; sipp on each plays a
# looped A-law tone with rtp_stream.
#
#   mp_add_phones          the two NATs and LANs (roles nat/lan, nt2/ln2),
#                          $RL_TMP/load_audio.al, and counting rules in the
#                          phones' namespaces: OUTPUT and INPUT UDP other
#                          than SIP (5060); 1 on failure
#   mp_ipt_pkts ROLE CHAIN [RULE] [TABLE]
#                          packets of rule RULE (default 1) of CHAIN
#   mp_sipp_of PID         the sipp process under `timeout` PID (rl_spawn's)

[[ -n ${_MP_SH_LOADED:-} ]] && return 0
_MP_SH_LOADED=1

MP_A_IP=192.0.2.2
MP_B_IP=198.51.100.2

mp_add_phones() {
  local r
  st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 "$MP_A_IP/24" plain
  st_add_nat_phone nt2 ln2 203.0.113.31/24 198.51.100.1/24 "$MP_B_IP/24" plain
  # Raw A-law, 8 kHz: rtp_stream sends 160 bytes per 20 ms for payload
  # type 8, looped; sipp runs in $RL_TMP to find it.
  sox -n -r 8000 -c 1 -e a-law -t raw "$RL_TMP/load_audio.al" synth 10 sine 440 || return 1
  # All non-SIP UDP the phones send and receive is media.
  for r in lan ln2; do
    rl_exec "$r" iptables -w -A OUTPUT -p udp ! --sport 5060 || return 1
    rl_exec "$r" iptables -w -A INPUT -p udp ! --dport 5060 || return 1
  done
}

mp_ipt_pkts() {
  rl_exec "$1" iptables -w -t "${4:-filter}" -nvxL "$2" 2>/dev/null \
    | awk -v n="${3:-1}" 'NR == n + 2 { print $1 }'
}

mp_sipp_of() { pgrep -P "$1" -x sipp 2>/dev/null | head -n1; }
