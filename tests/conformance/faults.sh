#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.faults: ukey-vkey's fault injection, seen through real clients.
#   --sw-at N:XXXX    APDU number N (counted from the key's start) gets status
#                     word XXXX: opensc-tool shows 6F 00 for the first APDU and
#                     a normal answer for the next; yubico-piv-tool fails to
#                     connect once, then works.
#   --delay-ms N      every answer waits N ms: clients still work, slower.
#   --drop-after N    the key answers N APDUs and vanishes at the next one:
#                     the client sees the transmit fail, the key exits with
#                     status 3, the reader shows no card, and a key plugged
#                     back in works.
# opensc-tool runs with "-c default" so that OpenSC sends only the APDUs given
# with -s (no card-driver probing), which makes the APDU numbers exact.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin faults opensc-tool yubico-piv-tool

SELECT=00A4040009A00000030800001000

raw() {
    opensc-tool -c default -r "$CONF_READER" "$@"
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# --- a given status word ---
conf_card_new sw --sw-at 1:6F00 --sw-at 3:6A82
conf_expect_ok "opensc-tool: three SELECTs" raw -s "$SELECT" -s "$SELECT" -s "$SELECT"
mapfile -t sws < <(grep '^Received' <<<"$CONF_OUT")
conf_expect_eq "APDU 1 answered 6F 00" "${sws[0]:-}" "Received (SW1=0x6F, SW2=0x00)"
conf_expect_eq "APDU 2 answered normally" "${sws[1]:-}" "Received (SW1=0x90, SW2=0x00):"
conf_expect_eq "APDU 3 answered 6A 82" "${sws[2]:-}" "Received (SW1=0x6A, SW2=0x82)"
conf_card_stop sw

conf_card_new sw2 --sw-at 1:6F00
conf_expect_fail "yubico-piv-tool when its SELECT gets 6F 00" \
    yubico-piv-tool -r "$CONF_READER" -a status
conf_expect_line "yubico-piv-tool: cannot connect" "Failed to connect to yubikey."
conf_expect_ok "yubico-piv-tool again (APDU 1 is past)" yubico-piv-tool -r "$CONF_READER" -a status
conf_expect_line "status works" $'PIN tries left:\t3'
conf_card_stop sw2

# --- slow answers ---
conf_card_new slow --delay-ms 200
t0="$(now_ms)"
conf_expect_ok "verify-pin on a slow key" yubico-piv-tool -r "$CONF_READER" -a verify-pin \
    -P "$CONF_PIN"
t1="$(now_ms)"
conf_expect_line "verify-pin on a slow key: verified" "Successfully verified PIN."
# SELECT, VERIFY (status), GET VERSION, GET SERIAL, VERIFY: at least 5 answers.
(((t1 - t0) >= 1000)) || conf_fail "verify-pin took $((t1 - t0)) ms; 5 APDUs at 200 ms take >= 1000"
conf_ok "verify-pin was slower by the delay ($((t1 - t0)) ms)"
t0="$(now_ms)"
conf_expect_ok "opensc-tool SELECT on a slow key" raw -s "$SELECT"
t1="$(now_ms)"
conf_expect_line "SELECT on a slow key: 90 00" "Received (SW1=0x90, SW2=0x00):"
(((t1 - t0) >= 200)) || conf_fail "one APDU took $((t1 - t0)) ms with --delay-ms 200"
conf_ok "one APDU took at least the delay ($((t1 - t0)) ms)"
conf_card_stop slow

# --- the key vanishes ---
conf_card_new drop --drop-after 5
drop_reader="$CONF_READER"
conf_expect_fail "eight SELECTs to a key that drops after five" \
    raw -s "$SELECT" -s "$SELECT" -s "$SELECT" -s "$SELECT" -s "$SELECT" -s "$SELECT" \
    -s "$SELECT" -s "$SELECT"
n="$(grep -c '^Received (SW1=0x90, SW2=0x00)' <<<"$CONF_OUT")"
conf_expect_eq "five APDUs were answered" "$n" 5
conf_expect_match "the sixth failed to transmit" '^APDU transmit failed'
rig_card_wait_gone "$(conf_key_name drop)" 3 ||
    conf_fail "the dropped key did not exit with status 3 (RIG_CARD_STATUS=${RIG_CARD_STATUS:-})"
conf_ok "the key exited with status 3 and its reader is empty"
conf_expect_ok "opensc-tool -l" opensc-tool -l
col="$(awk -v r="$drop_reader" 'index($0, r) { print $2; exit }' <<<"$CONF_OUT")"
conf_expect_eq "opensc-tool -l: no card in \"$drop_reader\"" "$col" "No"
conf_expect_fail "opensc-tool -n on the empty reader" opensc-tool -r "$drop_reader" -n

conf_card_new back
conf_expect_eq "the new key is in the same reader" "$CONF_READER" "$drop_reader"
conf_expect_ok "a key plugged back in works" opensc-tool -r "$CONF_READER" -n
conf_expect_line "it is a PIV card" "Personal Identity Verification Card"
