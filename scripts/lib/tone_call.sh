# shellcheck shell=bash
# Phones of two makes (sipp, baresip) registering and calling each other
# with a tone each way, for the end-to-end suites (sourced after
# scripts/lib/sip_testbed.sh, and scripts/lib/baresip_phone.sh when a
# phone is a baresip).
#
# The caller describes its phones in global associative arrays, by name:
#   MAKE[p]    sipp | baresip
#   ROLE[p]    its namespace role        ADDR[p]  its address (captures)
#   EP[p]      its SIP ip:port           REMOTE[p] its first hop (ip:port)
#   TONE[p]    the tone it sends (Hz)    PW[p]    its digest password
#   MEDIANAT[p] (optional, baresip) its media NAT module, e.g. ice
#   UAC[p]     (optional, sipp) its caller scenario instead of e2e_uac
#              (tests/integration/sipp/NAME.xml), e.g. core_uac
# and TC_SNAP: a script run as "TC_SNAP NAME PHASE" at the points of a call
# where the test wants the dataplane's state (PHASE: up; with hold also
# held and resumed).
#
#   tc_register PHONE               one REGISTER (sipp) or a started,
#                                   registered baresip; 0 on success
#   tc_call NAME CALLER CALLEE [hold]
#                                   one call, each side playing its tone
#                                   and recording what it hears; sets
#                                   CALL_OK (0 connected and ended
#                                   cleanly), HEARD_BY_CALLEE and
#                                   HEARD_BY_CALLER (tone.py verdicts)
#   tc_alias NAME PHONE             NAME (e.g. a number a core answers)
#                                   is PHONE as a callee: its MAKE, ROLE,
#                                   ADDR, EP and TONE
#   tc_check_heard NAME CALLER CALLEE DETAIL
#                                   the checks every call gets: connected,
#                                   each side heard the other's tone

[[ -n ${_TC_SH_LOADED:-} ]] && return 0
_TC_SH_LOADED=1

tc_register() {
  local p="$1" medianat=""
  # MEDIANAT is optional: suites that do not declare it have no entry.
  if declare -p MEDIANAT >/dev/null 2>&1; then medianat="${MEDIANAT[$p]:-}"; fi
  case ${MAKE[$p]} in
    sipp) st_register "${ROLE[$p]}" "reg_$p" "${EP[$p]}" "${REMOTE[$p]}" "$p" "${PW[$p]}" ;;
    baresip) BP_MEDIANAT="$medianat" \
               bp_start "${ROLE[$p]}" "$p" "$p" "${PW[$p]}" "${ADDR[$p]}" "${TONE[$p]}" \
               && bp_wait_registered "$p" 15 ;;
  esac
}

# The caller's side: sipp runs its scenario (which runs TC_SNAP itself);
# a baresip dials, waits, snapshots (holds and resumes) and hangs up.
_tc_dial() {
  local name="$1" caller="$2" callee="$3" kind="$4" hold="$5" uac="${4/e2e/e2e_uac}"
  # UAC is optional: suites that do not declare it have no entry.
  if declare -p UAC >/dev/null 2>&1; then uac="${UAC[$caller]:-$uac}"; fi
  case ${MAKE[$caller]} in
    sipp)
      ST_SIPP_TIMEOUT_S=40 st_sipp "${ROLE[$caller]}" "${name}_uac" \
        "$(st_tone_scenario "$ST_SCENARIOS/$uac.xml" "${TONE[$caller]}")" \
        "${EP[$caller]}" "${REMOTE[$caller]}" \
        -key user "$caller" -key callee "$callee" -au "$caller" -ap "${PW[$caller]}" \
        -auth_uri "$callee@$ST_DOMAIN" -key snap "$TC_SNAP $name" -mp 41000 ;;
    baresip)
      if bp_dial "$caller" "sip:$callee@$ST_DOMAIN" && bp_wait_established "$caller" 15; then
        sleep 3.5; "$TC_SNAP" "$name" up
        if [[ -n $hold ]]; then
          bp_hold "$caller"; sleep 1; "$TC_SNAP" "$name" held
          bp_resume "$caller"; sleep 3.5; "$TC_SNAP" "$name" resumed
        fi
        bp_hangup "$caller"
      else
        bp_hangup "$caller" >/dev/null 2>&1
        return 1
      fi ;;
  esac
}

tc_call() {
  local name="$1" caller="$2" callee="$3" hold="${4:-}" kind=e2e uas="" rc=0 cap_er cap_ee
  [[ -n $hold ]] && kind=e2e_hold
  st_capture_media "${ROLE[$caller]}" "${name}_caller" "${ADDR[$caller]}"; cap_er=$ST_CAPTURE_PID
  st_capture_media "${ROLE[$callee]}" "${name}_callee" "${ADDR[$callee]}"; cap_ee=$ST_CAPTURE_PID
  if [[ ${MAKE[$callee]} == sipp ]]; then
    ST_SIPP_TIMEOUT_S=40 st_sipp_bg "${ROLE[$callee]}" "${name}_uas" \
      "$(st_tone_scenario "$ST_SCENARIOS/${kind/e2e/e2e_uas}.xml" "${TONE[$callee]}")" \
      "${EP[$callee]}" - -key user "$callee" -mp 42000
    uas=$ST_SIPP_PID
    st_sipp_ready "${ROLE[$callee]}" 5060 || rl_log "UAS ${name}_uas not bound"
  else
    bp_mark "$callee"
  fi
  _tc_dial "$name" "$caller" "$callee" "$kind" "$hold" || rc=1
  if [[ -n $uas ]]; then st_sipp_wait "$uas" || rc=1; fi
  if [[ ${MAKE[$callee]} == baresip ]]; then
    bp_wait_closed "$callee" 5 || { rl_log "$callee did not see the call end"; rc=1; }
  fi
  sleep 0.5  # the last RTP into the captures
  rl_kill "$cap_er"; rl_kill "$cap_ee"
  CALL_OK=$rc
  HEARD_BY_CALLEE=$(st_heard "${name}_callee" "${TONE[$caller]}")
  HEARD_BY_CALLER=$(st_heard "${name}_caller" "${TONE[$callee]}")
}

tc_alias() {
  local a
  for a in MAKE ROLE ADDR EP TONE; do
    local -n arr=$a
    arr[$1]=${arr[$2]}
  done
}

tc_check_heard() {
  local name="$1" caller="$2" callee="$3" detail="$4"
  rl_check "${name}_connected" "$detail" test "$CALL_OK" -eq 0
  rl_check "${name}_callee_heard_caller" "$callee heard: $HEARD_BY_CALLEE (want ${TONE[$caller]} Hz)" \
    grep -q '^tone ' <<<"$HEARD_BY_CALLEE"
  rl_check "${name}_caller_heard_callee" "$caller heard: $HEARD_BY_CALLER (want ${TONE[$callee]} Hz)" \
    grep -q '^tone ' <<<"$HEARD_BY_CALLER"
}
