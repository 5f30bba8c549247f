#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.piv-keys: yubico-piv-tool generates RSA-2048 (9a) and P-256
# (9c, 9d) keys on the virtual key; OpenSSL certifies the public keys it got
# back (one with a Chinese subject); the certificates are imported, read
# back byte for byte, and test-signature proves each key signs for its
# certificate, under the slot's PIN policy (9a once, 9c always, 9d generated
# with "never"). A retired slot (82) holds a certificate too, and
# delete-certificate removes one. Data objects: the PIN-protected printed
# information object, a Yubico 5FFFxx object, a new CHUID.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin piv-keys yubico-piv-tool

conf_card_new key
conf_ca

ypt() {
    yubico-piv-tool -r "$CONF_READER" "$@"
}

# --- 9a: RSA-2048 ---
conf_expect_ok "generate RSA2048 in 9a" ypt -a generate -s 9a -A RSA2048 -o pub9a.pem
conf_expect_line "generate 9a: success message" "Successfully generated a new private key."
conf_expect_ok "the 9a public key parses" openssl pkey -pubin -in pub9a.pem -noout -text
conf_expect_match "the 9a public key is RSA 2048" '^Public-Key: \(2048 bit\)'
conf_expect_line "the 9a public key has exponent 65537" "Exponent: 65537 (0x10001)"

SUBJ_9A="/CN=张三/O=测试单位/OU=身份认证"
conf_cert_for pub9a.pem "$SUBJ_9A" cert9a.pem
conf_expect_eq "the 9a certificate subject is UTF-8" "$(conf_subject cert9a.pem)" \
    "CN=张三, O=测试单位, OU=身份认证"
conf_expect_ok "import-certificate 9a" ypt -a import-certificate -s 9a -i cert9a.pem
conf_expect_line "import 9a: success message" "Successfully imported a new certificate."
conf_expect_ok "read-certificate 9a" ypt -a read-certificate -s 9a -o read9a.pem
conf_expect_eq "read-certificate 9a = the imported certificate" "$(conf_fp read9a.pem)" \
    "$(conf_fp cert9a.pem)"
conf_expect_ok "read-certificate 9a as DER" ypt -a read-certificate -s 9a -K DER -o read9a.der
conf_expect_eq "read-certificate 9a (DER) = the imported certificate" "$(conf_fp read9a.der)" \
    "$(conf_fp cert9a.pem)"

conf_expect_ok "verify-pin + test-signature 9a" \
    ypt -a verify-pin -P "$CONF_PIN" -a test-signature -s 9a -i cert9a.pem
conf_expect_line "test-signature 9a: verified" "Successful RSA verification."
conf_expect_fail "test-signature 9a without the PIN" ypt -a test-signature -s 9a -i cert9a.pem
conf_expect_line "test-signature 9a without the PIN: refused" "Failed signing test data."

# --- 9c: P-256, PIN policy "always" ---
conf_expect_ok "generate ECCP256 in 9c" ypt -a generate -s 9c -A ECCP256 -o pub9c.pem
conf_expect_ok "the 9c public key parses" openssl pkey -pubin -in pub9c.pem -noout -text
conf_expect_line "the 9c public key is P-256" "ASN1 OID: prime256v1"
conf_cert_for pub9c.pem "/CN=签名 Signature/O=测试单位" cert9c.pem
conf_expect_ok "import-certificate 9c" ypt -a import-certificate -s 9c -i cert9c.pem
conf_expect_ok "read-certificate 9c" ypt -a read-certificate -s 9c -o read9c.pem
conf_expect_eq "read-certificate 9c = the imported certificate" "$(conf_fp read9c.pem)" \
    "$(conf_fp cert9c.pem)"
conf_expect_fail "test-signature 9c without the PIN" ypt -a test-signature -s 9c -i cert9c.pem
conf_expect_line "test-signature 9c without the PIN: refused" "Failed signing test data."
conf_expect_ok "verify-pin + test-signature 9c" \
    ypt -a verify-pin -P "$CONF_PIN" -a test-signature -s 9c -i cert9c.pem
conf_expect_line "test-signature 9c: verified" "Successful ECDSA verification."

# --- 9d: P-256 generated with PIN policy "never" ---
conf_expect_ok "generate ECCP256 in 9d with --pin-policy=never" \
    ypt -a generate -s 9d -A ECCP256 --pin-policy=never -o pub9d.pem
conf_cert_for pub9d.pem "/CN=key management" cert9d.pem
conf_expect_ok "import-certificate 9d" ypt -a import-certificate -s 9d -i cert9d.pem
conf_expect_ok "test-signature 9d without the PIN (policy never)" \
    ypt -a test-signature -s 9d -i cert9d.pem
conf_expect_line "test-signature 9d: verified" "Successful ECDSA verification."

# --- status shows the slots ---
conf_expect_ok "status" ypt -a status
conf_expect_line "status: slot 9a" $'Slot 9a:\t'
conf_expect_line "status: slot 9c" $'Slot 9c:\t'
conf_expect_line "status: slot 9d" $'Slot 9d:\t'
conf_expect_line "status: 9a is RSA2048" $'\tAlgorithm:\tRSA2048'
conf_expect_line "status: 9c is ECCP256" $'\tAlgorithm:\tECCP256'
conf_expect_line "status: 9a fingerprint" \
    $'\tFingerprint:\t'"$(conf_fp cert9a.pem | tr -d : | tr 'A-F' 'a-f')"
dn="$(awk -F'\t' '$2 == "Subject DN:" { print $3; exit }' <<<"$CONF_OUT")"
conf_expect_eq "status: the 9a subject, unescaped, is the UTF-8 subject" \
    "$(conf_unescape "$dn")" "$(conf_subject cert9a.pem)"

# --- retired slot 82 ---
conf_keypair p256 retired "/CN=退役 retired key"
conf_expect_ok "import-certificate 82" ypt -a import-certificate -s 82 -i retired.pem
conf_expect_ok "read-certificate 82" ypt -a read-certificate -s 82 -o read82.pem
conf_expect_eq "read-certificate 82 = the imported certificate" "$(conf_fp read82.pem)" \
    "$(conf_fp retired.pem)"
conf_expect_ok "read-certificate 9a is still its own" ypt -a read-certificate -s 9a -o again9a.pem
conf_expect_eq "9a unchanged by the 82 import" "$(conf_fp again9a.pem)" "$(conf_fp cert9a.pem)"

# --- delete ---
conf_expect_ok "delete-certificate 82" ypt -a delete-certificate -s 82
conf_expect_fail "read-certificate 82 after delete" ypt -a read-certificate -s 82
conf_expect_line "read-certificate 82 after delete: message" "Failed fetching certificate."
conf_expect_ok "delete-certificate 9c" ypt -a delete-certificate -s 9c
conf_expect_fail "read-certificate 9c after delete" ypt -a read-certificate -s 9c
conf_expect_ok "status after the deletes" ypt -a status
conf_expect_no_match "status: no 9c any more" $'^Slot 9c:'
conf_expect_line "status: 9a still there" $'Slot 9a:\t'

# --- data objects ---
printf 'printed information, 印刷信息\n' >printed.bin
conf_expect_ok "write-object 5FC109 (printed information)" \
    ypt -a write-object --id 0x5fc109 -f binary -i printed.bin
conf_expect_fail "read-object 5FC109 without the PIN" \
    ypt -a read-object --id 0x5fc109 -f binary -o nope.bin
conf_expect_ok "verify-pin + read-object 5FC109" \
    ypt -a verify-pin -P "$CONF_PIN" -a read-object --id 0x5fc109 -f binary -o printed-read.bin
conf_expect_eq "5FC109 reads back what was written" "$(od -An -tx1 printed-read.bin)" \
    "$(od -An -tx1 printed.bin)"
head -c 2000 /dev/urandom >blob.bin
conf_expect_ok "write-object 5FFF05 (2000 bytes: chained PUT DATA)" \
    ypt -a write-object --id 0x5fff05 -f binary -i blob.bin
conf_expect_ok "read-object 5FFF05 (GET RESPONSE chain)" \
    ypt -a read-object --id 0x5fff05 -f binary -o blob-read.bin
cmp -s blob.bin blob-read.bin || conf_fail "5FFF05 does not read back what was written"
conf_ok "5FFF05 reads back all 2000 bytes"
conf_expect_ok "status" ypt -a status
chuid_before="$(conf_field CHUID)"
conf_expect_ok "set-chuid" ypt -a set-chuid
conf_expect_line "set-chuid: success message" "Successfully set new CHUID."
conf_expect_ok "status" ypt -a status
chuid_after="$(conf_field CHUID)"
[[ -n "$chuid_after" && "$chuid_after" != "$chuid_before" ]] ||
    conf_fail "set-chuid did not change the CHUID ($chuid_before)"
conf_ok "status shows the new CHUID"
