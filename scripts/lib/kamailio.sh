# shellcheck shell=bash
# Kamailio 5.6 in the testbed (sourced after sip_testbed.sh): the carrier's
# SIP proxy driving a media relay over rtpengine's ng protocol, with the
# config in tests/integration/kamailio/kamailio.cfg.
#
#   km_add_user alice 'secret'            # before km_start
#   km_start relay 203.0.113.10:5060 "udp:127.0.0.1:2223"   # sets KM_PID
#   KM_CPUS=0 km_start ...                # every Kamailio process on core 0
#   km_stop                               # SIGTERM by PID, waits
#   km_log_grep REGEX                     # lines of its log matching REGEX
#   km_logged REGEX                       # 0 if a line matches (quiet)
#   km_last_call_id                       # Call-ID of the last $rtpstat logged
#   km_call_packets STREAMS_JSON CALL_ID  # packets rtplatch relayed for it
#
# NG_SOCKS is the rtpengine module's rtpengine_sock value: one or more
# "udp:IP:PORT" separated by spaces, a set Kamailio balances over.

[[ -n ${_KM_SH_LOADED:-} ]] && return 0
_KM_SH_LOADED=1

KM_BIN="${KAMAILIO:-/usr/sbin/kamailio}"
KM_TEMPLATE="$ST_ROOT/tests/integration/kamailio/kamailio.cfg"
KM_PID=""; KM_LOG=""; KM_CFG=""
_KM_USERS=()

km_missing() {
  [[ -x $KM_BIN ]] || { echo "kamailio not installed"; return 1; }
  [[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so ]] \
    || { echo "kamailio's rtpengine module not installed"; return 1; }
  return 0
}

km_add_user() { _KM_USERS+=("$1" "$2"); }

# route[PASSWORD_TO] / route[PASSWORD_FROM]: $var(password) of the To / From user.
_km_write_passwords() {
  local out="$1" which uri i
  : >"$out"
  for which in TO FROM; do
    [[ $which == TO ]] && uri='$tU' || uri='$fU'
    {
      printf 'route[PASSWORD_%s] {\n\t$var(password) = "";\n' "$which"
      for (( i = 0; i < ${#_KM_USERS[@]}; i += 2 )); do
        printf '\tif (%s == "%s") $var(password) = "%s";\n' "$uri" "${_KM_USERS[i]}" "${_KM_USERS[i+1]}"
      done
      printf '}\n'
    } >>"$out"
  done
}

# km_start ROLE LISTEN NG_SOCKS: writes the config and starts Kamailio in
# ROLE's namespace; waits until it listens. Sets KM_PID, KM_LOG.
km_start() {
  local role="$1" listen="$2" socks="$3"
  KM_CFG="$RL_TMP/kamailio.cfg"; KM_LOG="$RL_TMP/kamailio.log"
  _km_write_passwords "$RL_TMP/kamailio-passwords.cfg"
  sed -e "s|@LISTEN@|$listen|" -e "s|@DOMAIN@|$ST_DOMAIN|" -e "s|@NG_SOCKS@|$socks|" \
      -e "s|@PASSWORDS@|$RL_TMP/kamailio-passwords.cfg|" "$KM_TEMPLATE" >"$KM_CFG"
  mkdir -p "$RL_TMP/kamailio-run"
  local pin=()
  [[ -n ${KM_CPUS:-} ]] && pin=(taskset -c "$KM_CPUS")
  rl_spawn "$role" "$KM_LOG" "${pin[@]}" "$KM_BIN" -f "$KM_CFG" -DD -E -m 64 -M 8 \
    -Y "$RL_TMP/kamailio-run" -w "$RL_TMP/kamailio-run"
  KM_PID=$RL_LAST_PID
  if ! rl_wait_for 15 bash -c "ip netns exec $(rl_ns "$role") ss -lnu | grep -qF ' $listen '"; then
    rl_log "kamailio did not start"; tail -n 30 "$KM_LOG" >&2
    return 1
  fi
  kill -0 "$KM_PID" 2>/dev/null || { rl_log "kamailio exited"; tail -n 30 "$KM_LOG" >&2; return 1; }
  rl_log "kamailio pid $KM_PID up on $listen, media relays: $socks"
}

km_stop() {
  [[ -n $KM_PID ]] || return 0
  rl_kill "$KM_PID" 5
  KM_PID=""
}

km_log_grep() { grep -E "$1" "$KM_LOG" 2>/dev/null; }
km_logged() { grep -qE "$1" "$KM_LOG" 2>/dev/null; }

# km_last_call_id: the Call-ID of the last call Kamailio logged $rtpstat
# for (the config logs it on BYE).
km_last_call_id() { km_log_grep 'rtpstat ' | tail -1 | sed -n 's/.*rtpstat \(.*\): RTP: .*/\1/p'; }

# km_call_packets FILE CALL_ID: packets of that call's streams in a saved
# `rtplatchctl --json streams` (rtplatch's ng server labels a call's pairs
# "ng:<branch>:<line>:<call-id>"); 0 when none or no file.
km_call_packets() {
  jfile "$1" "sum(s['packets'] for s in d['streams'] if s['label'].split(':', 3)[-1] == '$2')" \
    2>/dev/null || echo 0
}
