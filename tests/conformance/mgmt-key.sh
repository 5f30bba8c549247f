#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.mgmt-key: the card management key (9B) guards writes.
#
# AES keys (128, 192, 256): yubico-piv-tool 2.2.0 speaks only 3DES, so
# OpenSC's piv-tool authenticates (mutual authentication, "-A M:9B:<alg>",
# key from PIV_EXT_AUTH_KEY) and loads a certificate; yubico-piv-tool reads
# it back. A wrong AES key and a 3DES attempt are refused and change
# nothing. (piv-tool 0.23's external authentication, "-A A:...", has a
# length bug of its own, OpenSC issue 2658, and its -G cannot convert keys
# on OpenSSL 3, so neither is used.)
#
# 3DES: yubico-piv-tool set-mgm-key replaces the default key; the new key
# generates and imports (yubico-piv-tool and piv-tool both), the old one is
# refused.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin mgmt-key yubico-piv-tool piv-tool

conf_ca

ypt() {
    yubico-piv-tool -r "$CONF_READER" "$@"
}

# piv-tool with the management key in hex in the file named first.
pivtool() {
    local keyfile="$1"
    shift
    PIV_EXT_AUTH_KEY="$keyfile" piv-tool -r "$CONF_READER" "$@"
}

# pivtool_load WHAT KEYFILE ALG SLOT CERT: piv-tool authenticates with the
# key and loads CERT (PEM) into SLOT. piv-tool 0.23 exits with the number of
# bytes written (mod 256) when -C succeeds, so success is judged by its
# silence here and by reading the certificate back afterwards.
pivtool_load() {
    conf_run pivtool "$2" -A "M:9B:$3" -C "$4" -i "$5"
    if grep -Eiq 'fail|error|unable|cannot' <<<"$CONF_OUT"; then
        conf_fail "$1: piv-tool reported an error"
    fi
    conf_ok "$1"
}

# --- AES management keys ---
aes_case() {
    local alg="$1" algid="$2" key="$3" bad="$4" n="$5"
    printf '%s\n' "$key" >"key-$alg.hex"
    printf '%s\n' "$bad" >"bad-$alg.hex"
    conf_card_new "$alg" --mgmt-alg "$alg" --mgmt-key "$key" --serial "$n"

    conf_keypair p256 "first-$alg" "/CN=first $alg"
    pivtool_load "$alg: piv-tool authenticates (M:9B:$algid) and loads a 9A certificate" \
        "key-$alg.hex" "$algid" 9A "first-$alg.pem"
    conf_expect_ok "$alg: read-certificate 9a" ypt -a read-certificate -s 9a -o "read-$alg.pem"
    conf_expect_eq "$alg: the certificate piv-tool loaded is on the card" \
        "$(conf_fp "read-$alg.pem")" "$(conf_fp "first-$alg.pem")"

    conf_keypair p256 "second-$alg" "/CN=second $alg"
    conf_expect_fail "$alg: piv-tool with a wrong key is refused" \
        pivtool "bad-$alg.hex" -A "M:9B:$algid" -C 9A -i "second-$alg.pem"
    conf_expect_match "$alg: piv-tool says admin authentication failed" "admin_mode failed"
    conf_expect_fail "$alg: piv-tool with 3DES is refused" \
        pivtool "$CONF_WORK/default-3des.hex" -A M:9B:03 -C 9A -i "second-$alg.pem"
    conf_expect_match "$alg: piv-tool with 3DES: admin authentication failed" "admin_mode failed"
    conf_expect_fail "$alg: yubico-piv-tool (3DES only) with the default key is refused" \
        ypt -a import-certificate -s 9a -i "second-$alg.pem"
    conf_expect_line "$alg: yubico-piv-tool reports the authentication failure" \
        "Failed authentication with the application."
    conf_expect_ok "$alg: read-certificate 9a after the refusals" \
        ypt -a read-certificate -s 9a -o "after-$alg.pem"
    conf_expect_eq "$alg: the refused writes changed nothing" \
        "$(conf_fp "after-$alg.pem")" "$(conf_fp "first-$alg.pem")"
    pivtool_load "$alg: the right key still works after wrong attempts" \
        "key-$alg.hex" "$algid" 9A "second-$alg.pem"
    conf_expect_ok "$alg: read-certificate 9a" ypt -a read-certificate -s 9a -o "last-$alg.pem"
    conf_expect_eq "$alg: the second certificate is on the card" \
        "$(conf_fp "last-$alg.pem")" "$(conf_fp "second-$alg.pem")"
    conf_card_stop "$alg"
}

printf '%s\n' "$CONF_MGMT_3DES" >default-3des.hex
aes_case aes128 08 00112233445566778899aabbccddeeff \
    00112233445566778899aabbccddeefe 20000128
aes_case aes192 0A 000102030405060708090a0b0c0d0e0f1011121314151617 \
    100102030405060708090a0b0c0d0e0f1011121314151617 20000192
aes_case aes256 0C 603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4 \
    603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff5 20000256

# --- 3DES: change the key with yubico-piv-tool ---
NEW=0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080
printf '%s\n' "$NEW" >new-3des.hex
conf_card_new tdes --serial 20000003

conf_expect_ok "3des: generate with the default key" ypt -a generate -s 9a -A ECCP256 -o pub1.pem
conf_expect_fail "3des: a wrong key is refused" \
    ypt -k"$NEW" -a generate -s 9a -A ECCP256 -o nope.pem
conf_expect_line "3des: wrong key: authentication failure" \
    "Failed authentication with the application."
conf_expect_ok "3des: set-mgm-key" ypt -a set-mgm-key -n "$NEW"
conf_expect_line "3des: set-mgm-key: success message" "Successfully set new management key."
conf_expect_fail "3des: the old (default) key is refused" \
    ypt -a generate -s 9a -A ECCP256 -o nope.pem
conf_expect_line "3des: old key: authentication failure" \
    "Failed authentication with the application."
conf_expect_ok "3des: generate with the new key" \
    ypt -k"$NEW" -a generate -s 9a -A ECCP256 -o pub2.pem
conf_expect_ok "3des: the new public key parses" openssl pkey -pubin -in pub2.pem -noout -text
conf_expect_line "3des: the new public key is P-256" "ASN1 OID: prime256v1"
if cmp -s pub1.pem pub2.pem; then
    conf_fail "3des: generate with the new key returned the old public key"
fi
conf_ok "3des: the second generate made a new key"
conf_cert_for pub2.pem "/CN=3DES 管理密钥" cert2.pem
conf_expect_ok "3des: import-certificate with the new key" \
    ypt -k"$NEW" -a import-certificate -s 9a -i cert2.pem
conf_expect_ok "3des: verify-pin + test-signature 9a" \
    ypt -a verify-pin -P "$CONF_PIN" -a test-signature -s 9a -i cert2.pem
conf_expect_line "3des: the generated key signs for its certificate" \
    "Successful ECDSA verification."

# piv-tool, another client, with the key yubico-piv-tool set.
conf_keypair p256 other "/CN=loaded by piv-tool"
conf_expect_fail "3des: piv-tool with the old key is refused" \
    pivtool default-3des.hex -A M:9B:03 -C 9C -i other.pem
conf_expect_match "3des: piv-tool with the old key: admin authentication failed" \
    "admin_mode failed"
conf_expect_fail "3des: nothing in 9c yet" ypt -a read-certificate -s 9c
pivtool_load "3des: piv-tool with the new key loads a 9C certificate" \
    new-3des.hex 03 9C other.pem
conf_expect_ok "3des: read-certificate 9c" ypt -a read-certificate -s 9c -o read9c.pem
conf_expect_eq "3des: 9c holds what piv-tool loaded" "$(conf_fp read9c.pem)" "$(conf_fp other.pem)"

conf_expect_ok "3des: set-mgm-key back to the default" ypt -k"$NEW" -a set-mgm-key \
    -n "$CONF_MGMT_3DES"
conf_expect_ok "3des: the default key works again" ypt -a delete-certificate -s 9c
conf_expect_fail "3des: the 9c certificate is gone" ypt -a read-certificate -s 9c
