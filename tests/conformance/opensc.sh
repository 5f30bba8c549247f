#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# conformance.opensc: OpenSC against a seeded virtual key.
#   opensc-tool   recognises a PIV card; a raw SELECT returns the
#                 application property template
#   pkcs15-tool   lists and reads the certificates (one with a Chinese
#                 subject) exactly as seeded
#   pkcs11-tool   (opensc-pkcs11.so) shows the UTF-8 subject and token label,
#                 signs with ECDSA P-256 and RSA-2048 PKCS#1 v1.5 (the RSA key
#                 in 9C, PIN "always"), refuses a wrong PIN, and derives an
#                 ECDH P-256 secret; OpenSSL verifies the signatures and
#                 derives the same secret from the peer's side.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
conf_begin opensc opensc-tool pkcs15-tool pkcs11-tool
P11="$(conf_module opensc-pkcs11.so)"

conf_keypair p256 auth "/CN=张三/O=测试单位"
conf_keypair rsa2048 sign "/CN=李四 签名/O=测试单位"
conf_keypair p256 km "/CN=王五 密钥管理"
conf_card_new key --serial 22334455 \
    --seed 9a:auth.pem:auth.key --seed 9c:sign.pem:sign.key --seed 9d:km.pem:km.key

p11() {
    pkcs11-tool --module "$P11" "$@"
}

# --- opensc-tool ---
conf_expect_ok "opensc-tool -n" opensc-tool -r "$CONF_READER" -n
conf_expect_line "opensc-tool -n: a PIV card" "Personal Identity Verification Card"

conf_expect_ok "opensc-tool -s SELECT PIV (truncated AID)" \
    opensc-tool -r "$CONF_READER" -s 00A4040009A00000030800001000
conf_expect_line "SELECT: status 90 00" "Received (SW1=0x90, SW2=0x00):"
apt="$(conf_apdu_data)"
[[ "$apt" == 61* ]] || conf_fail "SELECT: the answer is not an APT (tag 61): $apt"
conf_ok "SELECT: the answer is an application property template (61)"
[[ "$apt" == *4F0600001000010079074F05A000000308* ]] ||
    conf_fail "SELECT: no PIX 00 00 10 00 01 00 and authority A0 00 00 03 08 in $apt"
conf_ok "SELECT: the APT names the PIV PIX and its authority"
[[ "$apt" == *AC*800107*800111*060100 || "$apt" == *AC*800111*800107*060100 ]] ||
    conf_fail "SELECT: the algorithm list (AC) lacks RSA-2048 (07) or P-256 (11): $apt"
conf_ok "SELECT: the APT lists RSA-2048 and P-256"

conf_expect_ok "opensc-tool -s SELECT of another application" \
    opensc-tool -r "$CONF_READER" -s 00A4040006A00000000101
conf_expect_line "foreign SELECT: 6A 82" "Received (SW1=0x6A, SW2=0x82)"

conf_expect_ok "opensc-tool -s GET DATA discovery object" opensc-tool -r "$CONF_READER" \
    -s 00A4040009A00000030800001000 -s 00CB3FFF035C017E00
[[ "$(conf_apdu_data)" == *7E124F0BA0000003080000100001005F2F024000 ]] ||
    conf_fail "GET DATA 7E: unexpected discovery object"
conf_ok "GET DATA 7E: the discovery object names the PIV AID"

# --- pkcs15-tool ---
conf_expect_ok "pkcs15-tool --list-certificates" \
    pkcs15-tool -r "$CONF_READER" --list-certificates
for what in "PIV Authentication" "Digital Signature" "Key Management"; do
    conf_expect_match "list: $what certificate" \
        "^X\\.509 Certificate \\[Certificate for $what\\]"
done
for c in auth:01 sign:02 km:03; do
    name="${c%%:*}"
    id="${c##*:}"
    serial="$(conf_serial "$name.pem")"
    awk -v id="$id" -v ser="$serial" '
        /^X\.509 Certificate/ { got_id = 0 }
        $1 == "ID" && $3 == id { got_id = 1 }
        # the DER INTEGER may carry a 00 pad byte that -serial does not print
        got_id && /Encoded serial/ {
            s = toupper($NF); t = toupper(ser)
            sub(/^(00)+/, "", s); sub(/^(00)+/, "", t)
            if (s == t) found = 1
        }
        END { exit !found }' <<<"$CONF_OUT" ||
        conf_fail "list: certificate ID $id does not carry the serial $serial of $name.pem"
    conf_ok "list: ID $id is the $name certificate (serial $serial)"
done

for c in auth:01 sign:02 km:03; do
    name="${c%%:*}"
    id="${c##*:}"
    conf_expect_ok "pkcs15-tool --read-certificate $id" \
        pkcs15-tool -r "$CONF_READER" --read-certificate "$id" -o "read-$id.pem"
    conf_expect_eq "read-certificate $id = $name.pem" "$(conf_fp "read-$id.pem")" \
        "$(conf_fp "$name.pem")"
done

conf_expect_ok "pkcs15-tool --list-keys" pkcs15-tool -r "$CONF_READER" --list-keys
conf_expect_match "list-keys: an EC key in 9A" 'Key ref +: 154 \(0x9A\)'
conf_expect_match "list-keys: an RSA key of 2048 bits" 'ModLength +: 2048'

# --- pkcs11-tool with opensc-pkcs11.so ---
conf_expect_ok "pkcs11-tool -L" p11 -L
label="$(conf_field "token label")"
cn="$(conf_subject auth.pem | sed -n 's/^CN=\([^,]*\),.*/\1/p')"
conf_expect_eq "pkcs11-tool -L: the token label is the 9A certificate's UTF-8 CN" "$label" "$cn"

conf_expect_ok "pkcs11-tool -O" p11 -O
subjects="$(awk '/^Certificate Object/ { c = 1 }
                c && /subject:/ { sub(/^.*DN: /, ""); print; c = 0 }' <<<"$CONF_OUT")"
for name in auth sign km; do
    want="$(conf_subject "$name.pem")"
    found=no
    while IFS= read -r s; do
        [[ "$(conf_unescape "$s")" == "$want" ]] && found=yes
    done <<<"$subjects"
    [[ "$found" == yes ]] || conf_fail "pkcs11-tool -O: no certificate with subject '$want'"
    conf_ok "pkcs11-tool -O: subject '$want' comes out right"
done
conf_expect_match "pkcs11-tool -O: the EC public key" '^Public Key Object; EC +EC_POINT 256 bits'
conf_expect_match "pkcs11-tool -O: the RSA public key" '^Public Key Object; RSA 2048 bits'

printf 'message signed by the virtual key\n' >msg.txt

conf_expect_ok "sign ECDSA-SHA256 with ID 01 (9A)" p11 -l -p "$CONF_PIN" --sign -m ECDSA-SHA256 \
    --id 01 --signature-format openssl -i msg.txt -o sig-01.der
conf_pubkey auth.pem >auth.pub
conf_expect_ok "openssl verifies the ECDSA signature" \
    openssl dgst -sha256 -verify auth.pub -signature sig-01.der msg.txt
conf_expect_line "ECDSA signature: Verified OK" "Verified OK"

conf_expect_ok "sign SHA256-RSA-PKCS with ID 02 (9C, PIN always)" p11 -l -p "$CONF_PIN" --sign \
    -m SHA256-RSA-PKCS --id 02 -i msg.txt -o sig-02.bin
conf_pubkey sign.pem >sign.pub
conf_expect_ok "openssl verifies the RSA signature" \
    openssl dgst -sha256 -verify sign.pub -signature sig-02.bin msg.txt
conf_expect_line "RSA signature: Verified OK" "Verified OK"
printf 'another message\n' >other.txt
conf_expect_fail "the RSA signature does not verify another message" \
    openssl dgst -sha256 -verify sign.pub -signature sig-02.bin other.txt

conf_expect_fail "sign with a wrong PIN" p11 -l -p 654321 --sign -m ECDSA-SHA256 --id 01 \
    -i msg.txt -o nope.der
conf_expect_match "wrong PIN: CKR_PIN_INCORRECT" 'CKR_PIN_INCORRECT'
conf_expect_ok "the right PIN still signs after a wrong one" p11 -l -p "$CONF_PIN" --sign \
    -m ECDSA-SHA256 --id 01 --signature-format openssl -i msg.txt -o sig-01b.der

# ECDH with the 9D key: OpenSC's PIV driver supports it (GENERAL AUTHENTICATE
# with tag 85).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.key 2>/dev/null
openssl pkey -in peer.key -pubout -outform DER -out peer-pub.der
conf_expect_ok "derive ECDH1-DERIVE with ID 03 (9D)" p11 -l -p "$CONF_PIN" --derive \
    -m ECDH1-DERIVE --id 03 --input-file peer-pub.der --output-file shared-card.bin
conf_pubkey km.pem >km.pub
conf_expect_ok "openssl derives from the peer's side" \
    openssl pkeyutl -derive -inkey peer.key -peerkey km.pub -out shared-peer.bin
conf_expect_eq "the ECDH secrets match (32 bytes)" \
    "$(od -An -tx1 shared-card.bin | tr -d ' \n')/$(stat -c %s shared-card.bin)" \
    "$(od -An -tx1 shared-peer.bin | tr -d ' \n')/32"
