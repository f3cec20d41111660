# shellcheck shell=bash
# Calls with RTP both ways through a VIP, and what the phones heard of them
# across the death of the node that carried them (sourced after
# scripts/lib/sip_testbed.sh and scripts/lib/vip_pair.sh): for
# vip_failover_test.sh and scripts/bench failover.
#
# Caller alice behind NAT 203.0.113.30 (roles nat/lan, 192.0.2.2), callee
# bob behind NAT 203.0.113.31 (nt2/ln2, 198.51.100.2), both plain
# MASQUERADE; bob registers to the VIP, alice calls him through it. sipp
# on each side (bench/sipp/load_ua[cs].xml) streams A-law RTP (50
# packets/s, rtp_stream) to the relay port it was given until the hold
# ends, then alice sends BYE to the VIP: whichever node holds it then must
# know the call to route the BYE to bob.
#
#   fc_users                  alice and bob in the users file (before the
#                             nodes start)
#   fc_add_phones             the NATs and LANs (alice's may exist already:
#                             FC_HAVE_CALLER=1), the audio file; 1 on failure
#   fc_register_callee        bob's REGISTER to the VIP; sipp's status
#   fc_start_calls N HOLD_S [RATE]
#                             the UAS, then the UAC placing N calls at RATE
#                             a second (default 20); FC_UAC_PID, FC_UAS_PID
#   fc_calls_up N [TIMEOUT_S] the current node carries N answered calls
#   fc_answered_count         how many it carries
#   fc_capture_start [HOST]   tcpdump at each NAT's outside of the RTP from
#                             HOST (default the VIP), headers only
#   fc_frames_from WHO HOST   frames the capture at WHO's NAT (alice, bob)
#                             got from HOST
#   fc_capture_stop
#   fc_save_calls             the current node's calls (JSON), for fc_media
#   fc_media KILLED_AT        failover_media.py's line: calls, kept, gaps
#   fc_calls_ended            wait for both sipps; FC_SIPP_OK: calls the UAC
#                             completed (BYE answered 200)

[[ -n ${_FC_SH_LOADED:-} ]] && return 0
_FC_SH_LOADED=1

FC_A_IP=192.0.2.2
FC_B_IP=198.51.100.2
FC_A_PW=alice-failover-1
FC_B_PW=bob-failover-2
FC_HAVE_CALLER=${FC_HAVE_CALLER:-0}
declare -p FC_PIN >/dev/null 2>&1 || FC_PIN=()

fc_users() {
  st_add_user alice "$FC_A_PW"
  st_add_user bob "$FC_B_PW"
}

fc_add_phones() {
  if [[ $FC_HAVE_CALLER != 1 ]]; then
    st_add_nat_phone nat lan 203.0.113.30/24 192.0.2.1/24 "$FC_A_IP/24" plain || return 1
  fi
  st_add_nat_phone nt2 ln2 203.0.113.31/24 198.51.100.1/24 "$FC_B_IP/24" plain || return 1
  # sipp's rtp_stream reads it from its working directory.
  /usr/bin/python3 "$ROOT/tests/integration/tone.py" alaw --freq 440 --seconds 10 \
    --out "$RL_TMP/load_audio.al"
}

fc_register_callee() {
  st_register ln2 reg_bob "$FC_B_IP:5060" "$VIP:$ST_SIP_PORT" bob "$FC_B_PW" -key expires 3600
}

fc_start_calls() {
  local n=$1 hold_ms=$(($2 * 1000)) rate=${3:-20} limit common
  limit=$(($2 + n / rate + 90))
  common=(-t u1 -nostdin -max_retrans 5 -key domain "$ST_DOMAIN" -trace_err -trace_stat -fd 1)
  # rtp_stream finds load_audio.al in sipp's working directory.
  cd "$RL_TMP" || return 1
  # FC_PIN: a command prefix for both sipps (an array, e.g. (taskset -c 0)).
  rl_spawn ln2 "$ST_SIPP_DIR/fc_uas.out" "${FC_PIN[@]}" timeout -k 5 "$limit" \
    sipp -sf "$ROOT/bench/sipp/load_uas.xml" -i "$FC_B_IP" -p 5060 -m "$n" -d "$((hold_ms - 500))" \
    "${common[@]}" -stf "$ST_SIPP_DIR/fc_uas_stat.csv" -error_file "$ST_SIPP_DIR/fc_uas_err.log" \
    -key user bob
  FC_UAS_PID=$RL_LAST_PID
  st_sipp_ready ln2 5060 || return 1
  rl_spawn lan "$ST_SIPP_DIR/fc_uac.out" "${FC_PIN[@]}" timeout -k 5 "$limit" \
    sipp -sf "$ROOT/bench/sipp/load_uac.xml" -i "$FC_A_IP" -p 5060 -m "$n" -l "$n" -r "$rate" \
    -rp 1000 -d "$hold_ms" "${common[@]}" -stf "$ST_SIPP_DIR/fc_uac_stat.csv" \
    -error_file "$ST_SIPP_DIR/fc_uac_err.log" -key user alice -key callee bob -au alice \
    -ap "$FC_A_PW" -auth_uri "bob@$ST_DOMAIN" "$VIP:$ST_SIP_PORT"
  FC_UAC_PID=$RL_LAST_PID
}

# (On stdin: N calls' JSON is past what one argument may hold.)
fc_answered_count() {
  cctl calls --limit 100000 |
    python3 -c "import json, sys; print(sum(1 for c in json.load(sys.stdin)['calls'] if c['state'] == 'confirmed'))"
}
_fc_answered() { [[ $(fc_answered_count) -ge $1 ]]; }
fc_calls_up() { rl_wait_for "${2:-60}" _fc_answered "$1"; }

fc_capture_start() {
  local side from=${1:-$VIP}
  FC_CAPTURE_PIDS=()
  for side in nat:nato:alice nt2:nt2o:bob; do
    IFS=: read -r role dev who <<<"$side"
    rl_spawn "$role" "$RL_TMP/fc_tcpdump_$who.log" tcpdump -i "${RL_P}$dev" -n -s 64 -B 16384 \
      -w "$RL_TMP/fc_$who.pcap" "udp and src host $from and not src port $ST_SIP_PORT"
    FC_CAPTURE_PIDS+=("$RL_LAST_PID")
  done
  rl_wait_for 5 grep -q listening "$RL_TMP/fc_tcpdump_alice.log" &&
    rl_wait_for 5 grep -q listening "$RL_TMP/fc_tcpdump_bob.log"
}

fc_capture_stop() {
  local p
  for p in "${FC_CAPTURE_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${FC_CAPTURE_PIDS[@]}"; do rl_wait "$p" 5 >/dev/null; done
}

fc_frames_from() { tcpdump -r "$RL_TMP/fc_$1.pcap" -n "src host $2" 2>/dev/null | grep -c .; }

fc_save_calls() { cctl calls --limit 100000 >"$RL_TMP/fc_calls.json"; }

fc_media() {
  /usr/bin/python3 "$ROOT/scripts/lib/failover_media.py" "$RL_TMP/fc_calls.json" \
    "$RL_TMP/fc_alice.pcap" "$RL_TMP/fc_bob.pcap" "$1"
}

fc_calls_ended() {
  local limit=${1:-120}
  st_sipp_wait "$FC_UAC_PID" "$limit" >/dev/null
  st_sipp_wait "$FC_UAS_PID" 30 >/dev/null
  FC_SIPP_OK=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") c = i }
                          END { if (c) print $c }' "$ST_SIPP_DIR/fc_uac_stat.csv" 2>/dev/null)
  FC_SIPP_OK=${FC_SIPP_OK:-0}
}
