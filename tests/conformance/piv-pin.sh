#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.piv-pin: yubico-piv-tool drives the PIN and PUK of a fresh
# virtual key through their whole life: status, verify, lockout after three
# wrong PINs, unblock with the PUK, change PIN, change PUK, PUK lockout, the
# Yubico reset that is allowed only when both are blocked, and the Yubico
# pin-retries command.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin piv-pin yubico-piv-tool

SERIAL=31415926
conf_card_new key --serial "$SERIAL"

ypt() {
    yubico-piv-tool -r "$CONF_READER" "$@"
}

tries_left() {
    conf_expect_ok "status after $2" ypt -a status
    conf_expect_line "status after $2: PIN tries left $1" $'PIN tries left:\t'"$1"
}

# --- status of a new key ---
conf_expect_ok "status" ypt -a status
conf_expect_match "status: version 5.0-5.2 (no GET METADATA)" $'^Version:\t5\\.[0-2]\\.[0-9]+$'
conf_expect_line "status: the serial given to the key" $'Serial Number:\t'"$SERIAL"
conf_expect_line "status: PIN tries left 3" $'PIN tries left:\t3'
conf_expect_match "status: CHUID present" $'^CHUID:\t30'
conf_expect_match "status: CCC present" $'^CCC:\tf0'

# --- verify ---
conf_expect_ok "verify-pin with the right PIN" ypt -a verify-pin -P "$CONF_PIN"
conf_expect_line "verify-pin: success message" "Successfully verified PIN."

conf_expect_fail "wrong PIN #1" ypt -a verify-pin -P 999999
conf_expect_line "wrong PIN #1: 2 tries left" \
    "Pin verification failed, 2 tries left before pin is blocked."
conf_expect_fail "wrong PIN #2" ypt -a verify-pin -P 999999
conf_expect_line "wrong PIN #2: 1 try left" \
    "Pin verification failed, 1 tries left before pin is blocked."
conf_expect_fail "wrong PIN #3" ypt -a verify-pin -P 999999
conf_expect_line "wrong PIN #3: blocked" "Pin code blocked, use unblock-pin action to unblock."
conf_expect_fail "right PIN on a blocked key" ypt -a verify-pin -P "$CONF_PIN"
conf_expect_line "right PIN on a blocked key: still blocked" \
    "Pin code blocked, use unblock-pin action to unblock."
tries_left 0 "the lockout"

# --- unblock with the PUK ---
conf_expect_fail "unblock-pin with a wrong PUK" ypt -a unblock-pin -P 00000000 -N 135790
conf_expect_line "unblock-pin with a wrong PUK: PUK tries counted" \
    "Failed verifying puk code, now 2 tries left before blocked."
tries_left 0 "a wrong PUK"
conf_expect_ok "unblock-pin with the PUK" ypt -a unblock-pin -P "$CONF_PUK" -N 135790
conf_expect_line "unblock-pin: success message" "Successfully unblocked the pin code."
tries_left 3 "unblock-pin"
conf_expect_ok "verify the PIN set by unblock-pin" ypt -a verify-pin -P 135790
conf_expect_fail "the PIN from before unblock-pin no longer works" \
    ypt -a verify-pin -P "$CONF_PIN"
conf_expect_line "old PIN after unblock: counted as wrong" \
    "Pin verification failed, 2 tries left before pin is blocked."

# --- change PIN ---
conf_expect_fail "change-pin with a wrong current PIN" ypt -a change-pin -P 999999 -N 246802
conf_expect_line "change-pin with a wrong current PIN: tries counted" \
    "Failed verifying pin code, now 1 tries left before blocked."
conf_expect_ok "change-pin" ypt -a change-pin -P 135790 -N 246802
conf_expect_line "change-pin: success message" "Successfully changed the pin code."
tries_left 3 "change-pin (a right PIN resets the counter)"
conf_expect_ok "verify the new PIN" ypt -a verify-pin -P 246802
conf_expect_fail "the old PIN fails after change-pin" ypt -a verify-pin -P 135790
conf_expect_line "old PIN after change-pin: 2 tries left" \
    "Pin verification failed, 2 tries left before pin is blocked."
conf_expect_ok "the new PIN resets the counter" ypt -a verify-pin -P 246802
tries_left 3 "a right PIN"

# --- change PUK ---
conf_expect_ok "change-puk" ypt -a change-puk -P "$CONF_PUK" -N 87654321
conf_expect_line "change-puk: success message" "Successfully changed the puk code."
conf_expect_fail "the old PUK fails after change-puk" ypt -a unblock-pin -P "$CONF_PUK" -N 111222
conf_expect_line "old PUK: counted as wrong" \
    "Failed verifying puk code, now 2 tries left before blocked."
conf_expect_ok "the new PUK unblocks" ypt -a unblock-pin -P 87654321 -N 111222
conf_expect_ok "verify the PIN the new PUK set" ypt -a verify-pin -P 111222

# --- PUK lockout, then reset ---
conf_keypair p256 wiped "/CN=wiped by reset"
conf_expect_ok "a certificate in 9a before reset" ypt -a import-certificate -s 9a -i wiped.pem
for i in 1 2 3; do
    conf_expect_fail "wrong PUK #$i" ypt -a unblock-pin -P 00000000 -N 111222
done
conf_expect_line "wrong PUK #3: no tries left" \
    "Failed verifying puk code, now 0 tries left before blocked."
conf_expect_fail "the right PUK on a blocked PUK" ypt -a unblock-pin -P 87654321 -N 111222
conf_expect_line "blocked PUK: message" \
    "The puk code is blocked, you will have to reinitialize the application."
conf_expect_fail "reset refused while the PIN still works" ypt -a reset
for i in 1 2 3; do
    conf_expect_fail "wrong PIN #$i before reset" ypt -a verify-pin -P 999999
done
conf_expect_ok "reset with PIN and PUK blocked" ypt -a reset
conf_expect_line "reset: success message" "Successfully reset the application."
tries_left 3 "reset"
conf_expect_line "reset keeps the serial" $'Serial Number:\t'"$SERIAL"
conf_expect_ok "the default PIN after reset" ypt -a verify-pin -P "$CONF_PIN"
conf_expect_ok "the default PUK after reset" ypt -a change-puk -P "$CONF_PUK" -N "$CONF_PUK"
conf_expect_fail "reset wiped the 9a certificate" ypt -a read-certificate -s 9a
conf_expect_line "reset wiped the 9a certificate: message" "Failed fetching certificate."

# --- retry counts (Yubico SET PIN RETRIES: management key and PIN) ---
conf_expect_fail "pin-retries without the PIN" ypt -a pin-retries --pin-retries 5 --puk-retries 4
conf_expect_ok "verify-pin + pin-retries 5/4" \
    ypt -a verify-pin -P "$CONF_PIN" -a pin-retries --pin-retries 5 --puk-retries 4
conf_expect_match "pin-retries: success message" '^Successfully changed pin retries to 5 and puk'
tries_left 5 "pin-retries"
for i in 1 2 3 4; do
    conf_expect_fail "wrong PIN #$i of 5" ypt -a verify-pin -P 999999
done
conf_expect_line "wrong PIN #4 of 5: 1 try left" \
    "Pin verification failed, 1 tries left before pin is blocked."
conf_expect_ok "the default PIN after pin-retries" ypt -a verify-pin -P "$CONF_PIN"
tries_left 5 "a right PIN"
