# shellcheck shell=bash
# The carrier's DNS in the SIP testbed (sourced library, after
# scripts/lib/sip_testbed.sh and st_init): dnsmasq from Debian
# (dnsmasq-base) serving the records a suite gives it, answering only
# those (no upstream, no /etc/hosts), logging every query.
#
#   cd_missing                     why dnsmasq cannot run here (exit 1),
#                                  or nothing (exit 0)
#   cd_start ROLE IP RECORD_OPTION...
#                                  dnsmasq in the namespace of ROLE (made
#                                  by the suite), on IP port 53; records
#                                  as dnsmasq options, e.g.
#                                  --naptr-record=..., --srv-host=...,
#                                  --host-record=...
#   cd_asked TYPE NAME             0 if the query log has TYPE NAME

[[ -n ${_CARRIER_DNS_SH_LOADED:-} ]] && return 0
_CARRIER_DNS_SH_LOADED=1

CD_DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}

cd_missing() {
  [[ -x $CD_DNSMASQ ]] || { echo "$CD_DNSMASQ not found (dnsmasq-base)"; return 1; }
}

cd_start() {
  local role="$1" ip="$2"
  shift 2
  rl_spawn "$role" "$RL_TMP/dnsmasq.log" "$CD_DNSMASQ" --keep-in-foreground --user=root \
    --no-resolv --no-hosts --no-poll --pid-file= --bind-interfaces --listen-address="$ip" \
    --port=53 --log-queries --log-facility=- "$@"
}

cd_asked() { grep -q "query\[$1\] $2 from" "$RL_TMP/dnsmasq.log"; }
