#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.seed: ukey-vkey --seed SLOT:CERT:KEY puts an OpenSSL-made key
# and certificate in a slot, and third-party clients read exactly that: the
# RSA-2048 certificate in 9A (PEM) through pkcs15-tool and yubico-piv-tool,
# a P-384 one in 9E (DER), a P-256 one in retired slot 95; the seeded
# private keys sign for their certificates. A certificate that does not
# match its key, an unknown slot and an unsupported key are refused with a
# clear message and a non-zero exit.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin seed yubico-piv-tool pkcs15-tool

conf_keypair rsa2048 rsa "/CN=seeded RSA-2048/O=测试"
conf_keypair p384 p384 "/CN=seeded P-384 card authentication"
openssl x509 -in p384.pem -outform DER -out p384.der
conf_keypair p256 retired "/CN=seeded retired 95"

# --- refusals (no reader needed: --init only writes the state) ---
conf_keypair p256 other "/CN=other"
conf_expect_fail "a certificate with another key's private key is refused" \
    "$UK_VKEY" --state "$CONF_WORK/bad.state" --init --seed 9a:rsa.pem:other.key
conf_expect_match "mismatch: the message says the key does not match" \
    'does not match the certificate'
conf_expect_fail "slot 9f is refused" \
    "$UK_VKEY" --state "$CONF_WORK/bad.state" --init --seed 9f:rsa.pem:rsa.key
conf_expect_match "slot 9f: the message names the slot" "'9f' is not a key slot"
conf_expect_fail "a missing certificate file is refused" \
    "$UK_VKEY" --state "$CONF_WORK/bad.state" --init --seed 9a:missing.pem:rsa.key
conf_expect_match "missing file: the message names it" 'cannot read missing\.pem'
openssl req -x509 -newkey ed25519 -nodes -keyout ed.key -out ed.pem -subj "/CN=ed25519" \
    -days 3 2>/dev/null
conf_expect_fail "an Ed25519 key (not a PIV algorithm) is refused" \
    "$UK_VKEY" --state "$CONF_WORK/bad.state" --init --seed 9a:ed.pem:ed.key
conf_expect_match "Ed25519: the message names the supported keys" 'RSA-1024/2048 or P-256/384'
rm -f -- "$UK_RIG_DIR/$(conf_key_name refused).state"
conf_expect_fail "a key refused by --seed ends the start too" \
    rig_card_start "$(conf_key_name refused)" --seed 9a:rsa.pem:other.key
conf_expect_match "the start reports the key's exit" 'exited with status [1-9]'
rm -f -- "$UK_RIG_DIR/$(conf_key_name refused).state"

# --- a seeded key ---
conf_card_new key --seed 9a:rsa.pem:rsa.key --seed 9e:p384.der:p384.key \
    --seed 95:retired.pem:retired.key

conf_expect_ok "pkcs15-tool --read-certificate 01" \
    pkcs15-tool -r "$CONF_READER" --read-certificate 01 -o p15-9a.pem
conf_expect_eq "pkcs15-tool reads the seeded 9A certificate" "$(conf_fp p15-9a.pem)" \
    "$(conf_fp rsa.pem)"
conf_expect_ok "pkcs15-tool --list-public-keys" pkcs15-tool -r "$CONF_READER" --list-public-keys
conf_expect_match "pkcs15-tool: the 9A public key is RSA 2048" 'ModLength +: 2048'
conf_expect_ok "pkcs15-tool --read-certificate 04 (9E)" \
    pkcs15-tool -r "$CONF_READER" --read-certificate 04 -o p15-9e.pem
conf_expect_eq "pkcs15-tool reads the seeded 9E certificate (seeded as DER)" \
    "$(conf_fp p15-9e.pem)" "$(conf_fp p384.pem)"

ypt() {
    yubico-piv-tool -r "$CONF_READER" "$@"
}
conf_expect_ok "yubico-piv-tool read-certificate 9a" ypt -a read-certificate -s 9a -o ypt-9a.pem
conf_expect_eq "yubico-piv-tool reads the seeded 9A certificate" "$(conf_fp ypt-9a.pem)" \
    "$(conf_fp rsa.pem)"
conf_expect_ok "yubico-piv-tool read-certificate 9e" ypt -a read-certificate -s 9e -o ypt-9e.pem
conf_expect_eq "yubico-piv-tool reads the seeded 9E certificate" "$(conf_fp ypt-9e.pem)" \
    "$(conf_fp p384.pem)"
conf_expect_ok "yubico-piv-tool read-certificate 95" ypt -a read-certificate -s 95 -o ypt-95.pem
conf_expect_eq "yubico-piv-tool reads the seeded 95 certificate" "$(conf_fp ypt-95.pem)" \
    "$(conf_fp retired.pem)"
conf_expect_ok "status" ypt -a status
conf_expect_line "status: 9a is RSA2048" $'\tAlgorithm:\tRSA2048'
conf_expect_line "status: 9e is ECCP384" $'\tAlgorithm:\tECCP384'

conf_expect_ok "the seeded RSA key signs for its certificate (9A)" \
    ypt -a verify-pin -P "$CONF_PIN" -a test-signature -s 9a -i rsa.pem
conf_expect_line "9A: Successful RSA verification." "Successful RSA verification."
conf_expect_ok "the seeded P-384 key signs for its certificate (9E, no PIN)" \
    ypt -a test-signature -s 9e -i p384.pem
conf_expect_line "9E: Successful ECDSA verification." "Successful ECDSA verification."
conf_expect_ok "the seeded retired key signs for its certificate (95)" \
    ypt -a verify-pin -P "$CONF_PIN" -a test-signature -s 95 -i retired.pem
conf_expect_line "95: Successful ECDSA verification." "Successful ECDSA verification."
