#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.ykcs11: Yubico's PKCS#11 module (libykcs11.so) through
# pkcs11-tool. Two keys, one in each rig reader: -L shows both serials; -O on
# the seeded one lists its certificate and public key objects with the labels,
# IDs, subject (Chinese, UTF-8) and EC point of what was seeded; after login
# the private keys appear (the 9C one "always authenticate"). ykcs11 signs
# ECDSA (raw digest and SHA-256) and RSA PKCS#1 v1.5, and OpenSSL verifies.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin ykcs11 pkcs11-tool
YK="$(conf_module libykcs11.so)"

conf_keypair p256 auth "/CN=张三/O=测试单位"
conf_keypair rsa2048 sign "/CN=rsa signature key"
conf_card_new seeded --serial 7654321 --port 35963 \
    --seed 9a:auth.pem:auth.key --seed 9c:sign.pem:sign.key
conf_card_new empty --serial 7654322 --port 35964

yk() {
    pkcs11-tool --module "$YK" "$@"
}
TOKEN="YubiKey PIV #7654321"

# --- slots ---
conf_expect_ok "pkcs11-tool -L" yk -L
conf_expect_match "-L: the seeded key's serial" '^ +serial num +: 7654321$'
conf_expect_match "-L: the other key's serial" '^ +serial num +: 7654322$'
conf_expect_match "-L: the seeded key's token label" "^ +token label +: $TOKEN\$"
conf_expect_match "-L: both rig readers" 'Yubico ukey-vkey 00 01'

# --- objects without login ---
conf_expect_ok "pkcs11-tool -O (seeded key)" yk --token-label "$TOKEN" -O
obj="$(conf_p11_object "Certificate Object" "X.509 Certificate for PIV Authentication")"
[[ -n "$obj" ]] || conf_fail "-O: no 'X.509 Certificate for PIV Authentication' object"
conf_ok "-O: the 9A certificate object"
grep -Eq '^ +ID: +01$' <<<"$obj" || conf_fail "-O: the 9A certificate has no ID 01: $obj"
conf_ok "-O: the 9A certificate has ID 01"
dn="$(sed -n 's/^ *subject: *DN: //p' <<<"$obj")"
conf_expect_eq "-O: the 9A certificate subject (UTF-8)" "$(conf_unescape "$dn")" \
    "$(conf_subject auth.pem)"
conf_expect_eq "-O: the 9A certificate serial" \
    "$(conf_serial_norm "$(sed -n 's/^ *serial: *//p' <<<"$obj")")" \
    "$(conf_serial_norm "$(conf_serial auth.pem)")"

obj="$(conf_p11_object "Certificate Object" "X.509 Certificate for Digital Signature")"
grep -Eq '^ +ID: +02$' <<<"$obj" || conf_fail "-O: no 9C certificate with ID 02"
conf_ok "-O: the 9C certificate object, ID 02"
dn="$(sed -n 's/^ *subject: *DN: //p' <<<"$obj")"
conf_expect_eq "-O: the 9C certificate subject" "$(conf_unescape "$dn")" "$(conf_subject sign.pem)"

obj="$(conf_p11_object "Public Key Object" "Public key for PIV Authentication")"
grep -Eq '^Public Key Object; EC +EC_POINT 256 bits' <<<"$obj" ||
    conf_fail "-O: no P-256 public key for PIV Authentication"
grep -Eq '^ +ID: +01$' <<<"$obj" || conf_fail "-O: the 9A public key has no ID 01"
conf_ok "-O: the 9A public key object, P-256, ID 01"
point="$(sed -n 's/^ *EC_POINT: *//p' <<<"$obj")"
conf_expect_eq "-O: the 9A EC point is the seeded key's" "$point" "0441$(conf_ec_point auth.pem)"

obj="$(conf_p11_object "Public Key Object" "Public key for Digital Signature")"
grep -Eq '^Public Key Object; RSA 2048 bits' <<<"$obj" ||
    conf_fail "-O: no RSA 2048 public key for Digital Signature"
grep -Eq '^ +ID: +02$' <<<"$obj" || conf_fail "-O: the 9C public key has no ID 02"
conf_ok "-O: the 9C public key object, RSA 2048, ID 02"
conf_expect_no_match "-O: no private keys before login" '^Private Key Object'

# --- objects after login ---
conf_expect_ok "pkcs11-tool -l -O" yk --token-label "$TOKEN" -l -p "$CONF_PIN" -O
obj="$(conf_p11_object "Private Key Object" "Private key for PIV Authentication")"
grep -Eq '^ +ID: +01$' <<<"$obj" || conf_fail "-l -O: no private key ID 01 for PIV Authentication"
conf_ok "-l -O: the 9A private key, ID 01"
obj="$(conf_p11_object "Private Key Object" "Private key for Digital Signature")"
grep -Eq '^ +ID: +02$' <<<"$obj" || conf_fail "-l -O: no private key ID 02 for Digital Signature"
grep -Eq 'always authenticate' <<<"$obj" ||
    conf_fail "-l -O: the 9C private key is not 'always authenticate'"
conf_ok "-l -O: the 9C private key, ID 02, always authenticate (PIN policy)"

# --- the other key is empty ---
conf_expect_ok "pkcs11-tool -O (empty key)" yk --token-label "YubiKey PIV #7654322" -O
conf_expect_no_match "-O: the empty key has no certificates" '^Certificate Object'

# --- signatures ---
printf 'signed through ykcs11\n' >msg.txt
openssl dgst -sha256 -binary msg.txt >msg.sha256
conf_pubkey auth.pem >auth.pub
conf_pubkey sign.pem >sign.pub

conf_expect_ok "sign -m ECDSA (raw SHA-256 digest) with ID 01" yk --token-label "$TOKEN" -l \
    -p "$CONF_PIN" --sign -m ECDSA --id 01 --signature-format openssl -i msg.sha256 -o sig-raw.der
conf_expect_ok "openssl verifies the raw ECDSA signature" \
    openssl pkeyutl -verify -pubin -inkey auth.pub -in msg.sha256 -sigfile sig-raw.der
conf_expect_line "raw ECDSA: Signature Verified Successfully" "Signature Verified Successfully"

conf_expect_ok "sign -m ECDSA-SHA256 with ID 01" yk --token-label "$TOKEN" -l -p "$CONF_PIN" \
    --sign -m ECDSA-SHA256 --id 01 --signature-format openssl -i msg.txt -o sig-ec.der
conf_expect_ok "openssl verifies the ECDSA-SHA256 signature" \
    openssl dgst -sha256 -verify auth.pub -signature sig-ec.der msg.txt

conf_expect_ok "sign -m SHA256-RSA-PKCS with ID 02 (9C)" yk --token-label "$TOKEN" -l \
    -p "$CONF_PIN" --sign -m SHA256-RSA-PKCS --id 02 -i msg.txt -o sig-rsa.bin
conf_expect_ok "openssl verifies the RSA signature" \
    openssl dgst -sha256 -verify sign.pub -signature sig-rsa.bin msg.txt

conf_expect_fail "login with a wrong PIN" yk --token-label "$TOKEN" -l -p 000000 \
    --sign -m ECDSA --id 01 -i msg.sha256 -o nope.der
conf_expect_match "wrong PIN: CKR_PIN_INCORRECT" 'CKR_PIN_INCORRECT'
