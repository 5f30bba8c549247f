#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.persistence: what a key holds survives pulling it out and
# plugging it back in (ukey-vkey stopped and started on the same state
# file): the generated key and its certificate, the serial, the CHUID, a
# changed PIN and management key, and the PIN retry counter, so wrong PINs
# before a restart still count after it and a blocked PIN stays blocked.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin persistence yubico-piv-tool

SERIAL=55667788
NEW_PIN=112233
NEW_MGMT=f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a69788
conf_ca
conf_card_new key --serial "$SERIAL"

ypt() {
    yubico-piv-tool -r "$CONF_READER" "$@"
}

restart() {
    conf_card_stop key
    # Values for a new key; a key with a state file must ignore them.
    conf_card_again key --serial 99999999 --pin 999999 --pin-tries 5
    conf_ok "the key was pulled and plugged back in ($1)"
}

# --- before ---
conf_expect_ok "generate ECCP256 in 9a" ypt -a generate -s 9a -A ECCP256 -o pub.pem
conf_cert_for pub.pem "/CN=持久 persistent key" cert.pem
conf_expect_ok "import-certificate 9a" ypt -a import-certificate -s 9a -i cert.pem
conf_expect_ok "change-pin" ypt -a change-pin -P "$CONF_PIN" -N "$NEW_PIN"
conf_expect_ok "set-mgm-key" ypt -a set-mgm-key -n "$NEW_MGMT"
conf_expect_fail "one wrong PIN" ypt -a verify-pin -P 999999
conf_expect_line "one wrong PIN: 2 tries left" \
    "Pin verification failed, 2 tries left before pin is blocked."
conf_expect_ok "status before the restart" ypt -a status
chuid_before="$(conf_field CHUID)"

restart "first time"

# --- after ---
conf_expect_ok "status after the restart" ypt -a status
conf_expect_line "the serial persisted (the new --serial is ignored)" \
    $'Serial Number:\t'"$SERIAL"
conf_expect_line "the wrong PIN still counts: 2 tries left" $'PIN tries left:\t2'
conf_expect_eq "the CHUID persisted" "$(conf_field CHUID)" "$chuid_before"
conf_expect_line "the 9a certificate persisted (status fingerprint)" \
    $'\tFingerprint:\t'"$(conf_fp cert.pem | tr -d : | tr 'A-F' 'a-f')"
conf_expect_ok "read-certificate 9a" ypt -a read-certificate -s 9a -o read.pem
conf_expect_eq "read-certificate 9a = what was imported" "$(conf_fp read.pem)" "$(conf_fp cert.pem)"
conf_expect_fail "the old PIN is still wrong" ypt -a verify-pin -P "$CONF_PIN"
conf_expect_line "the old PIN: 1 try left" \
    "Pin verification failed, 1 tries left before pin is blocked."
restart "with one try left"
conf_expect_ok "status" ypt -a status
conf_expect_line "1 try left persisted" $'PIN tries left:\t1'
conf_expect_ok "the changed PIN persisted; the private key signs for the certificate" \
    ypt -a verify-pin -P "$NEW_PIN" -a test-signature -s 9a -i cert.pem
conf_expect_line "test-signature after the restart: verified" "Successful ECDSA verification."
conf_expect_ok "status" ypt -a status
conf_expect_line "the right PIN reset the counter to 3 (not to --pin-tries 5)" \
    $'PIN tries left:\t3'
conf_expect_fail "the default management key is refused" \
    ypt -a import-certificate -s 9c -i cert.pem
conf_expect_ok "the changed management key persisted" \
    ypt -k"$NEW_MGMT" -a import-certificate -s 9c -i cert.pem

# --- a blocked PIN stays blocked ---
for i in 1 2 3; do
    conf_expect_fail "wrong PIN #$i" ypt -a verify-pin -P 999999
done
restart "with the PIN blocked"
conf_expect_fail "the right PIN after the restart" ypt -a verify-pin -P "$NEW_PIN"
conf_expect_line "still blocked" "Pin code blocked, use unblock-pin action to unblock."
conf_expect_ok "unblock-pin" ypt -a unblock-pin -P "$CONF_PUK" -N "$CONF_PIN"
restart "after unblock-pin"
conf_expect_ok "status" ypt -a status
conf_expect_line "the unblocked counter persisted" $'PIN tries left:\t3'
conf_expect_ok "the PIN set by unblock-pin persisted" ypt -a verify-pin -P "$CONF_PIN"
