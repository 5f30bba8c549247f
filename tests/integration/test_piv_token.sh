#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The PIV driver of the token layer against the virtual key, through real
# pcscd + vpcd, checked with third-party tools:
#   - open, identify (serial from GET SERIAL), list certificates cold
#     (APDUs counted) and warm (no APDU);
#   - PIN status without spending a try, wrong PIN -> tries decrease, lockout,
#     unblock with the PUK, change;
#   - management key (3DES), generate RSA-2048 / P-256 / P-384 + CSR that
#     `openssl req -verify` accepts and a test CA signs; write the issued
#     certificate, read it back with yubico-piv-tool and pkcs15-tool;
#   - sign with the seeded key and verify with openssl;
#   - the PIN-protected management key (PRINTED object);
#   - a key pulled mid-operation -> CARD_REMOVED, the same token works after
#     re-insertion; pcscd restarted -> the next call works.
set -euo pipefail
# shellcheck source=../rig/rig.sh
source "${UK_RIG_LIB:?run this through ctest (needs the rig fixture)}"

work="$(mktemp -d)"
# shellcheck source=shell_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/shell_lib.sh"
trap shell_cleanup EXIT

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    rig_logs "$UK_RIG_DIR" || true
    exit 1
}

# --- a test CA and a seeded key with a Chinese subject ---------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/ca.key" -out "$work/ca.pem" -days 30 -subj "/CN=ukeyd test CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/user.key" \
    -out "$work/user.csr" -utf8 -subj "/CN=张三/O=山西测试单位/OU=信息部" 2>/dev/null
openssl x509 -req -in "$work/user.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -days 20 -out "$work/user.pem" 2>/dev/null

field() { # field NAME LINE: the value of NAME= in a token-shell answer
    sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<"$2"
}

rm -f "$UK_RIG_DIR/piv.state"
rig_card_start piv --serial 31415926 --seed "9a:$work/user.pem:$work/user.key"
reader="$(rig_card_reader piv)"
start_shell "$reader"

echo "open and list"
expect open -- '^open rc=OK id=piv:31415926 serial=31415926 firmware=5\.2\.7 '
cold="$(t certs)"
echo "  $cold"
[[ "$cold" =~ ^certs\ rc=OK\ n=1\  ]] || fail "cold listing: $cold"
fp="$(fingerprint "$work/user.pem")"
[[ "$cold" == *" 9a:$fp:张三"* ]] || fail "listing lacks 9a with fingerprint $fp and CN 张三: $cold"
(( $(field apdus "$cold") >= 24 )) || fail "a cold listing reads every slot: $cold"
expect certs -- '^certs rc=OK n=1 apdus=0 '

echo "PIN"
expect pin-status -- '^pin-status rc=OK tries=3 verified=0 apdus=1$'
expect verify 111111 -- '^verify rc=PIN_INCORRECT tries=2$'
expect pin-status -- '^pin-status rc=OK tries=2 verified=0'
expect verify 12345 -- '^verify rc=PIN_INVALID_FORMAT'
expect pin-status -- 'tries=2 ' # a malformed PIN never reaches the card
expect verify 123456 -- '^verify rc=OK'
expect pin-status -- '^pin-status rc=OK tries=-1 verified=1'
expect sign 9a -- '^sign rc=OK verified=1$'

echo "management key, generate, CSR"
expect admin 0102030405060708010203040506070801020304050607FF 03 -- '^admin rc=MGMT_AUTH_FAILED$'
expect generate 9d p256 "$work/x.pem" -- '^generate rc=SECURITY_STATUS'
expect admin 010203040506070801020304050607080102030405060708 03 -- '^admin rc=OK$'
for spec in 9d:p256 82:rsa2048 83:p384; do
    slot="${spec%%:*}"
    type="${spec#*:}"
    gen="$(t generate "$slot" "$type" "$work/$slot.pub.pem")"
    [[ "$gen" == "generate rc=OK"* ]] || fail "generate $type: $gen"
    expect verify 123456 -- '^verify rc=OK'
    csr="$(t csr "$slot" 9a "$work/$slot.csr")"
    [[ "$csr" == "csr rc=OK"* ]] || fail "csr $type: $csr"
    echo "  $type: $gen; $csr"
    openssl req -inform DER -in "$work/$slot.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
        fail "openssl req -verify rejects the $type CSR"
    subj="$(openssl req -inform DER -in "$work/$slot.csr" -noout -subject -nameopt utf8,sep_comma_plus)"
    [[ "$subj" == *"CN=张三"* && "$subj" == *"O=山西测试单位"* ]] ||
        fail "CSR subject is not the seeded certificate's: $subj"
    openssl req -inform DER -in "$work/$slot.csr" -pubkey -noout >"$work/$slot.csrpub.pem"
    cmp -s <(openssl pkey -pubin -in "$work/$slot.csrpub.pem" -outform DER) \
        <(openssl pkey -pubin -in "$work/$slot.pub.pem" -outform DER) ||
        fail "the $type CSR does not carry the generated key"
    openssl x509 -req -inform DER -in "$work/$slot.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
        -days 365 -out "$work/$slot.crt" 2>/dev/null || fail "the test CA cannot sign the $type CSR"
done

echo "a self-signed certificate made on the card (the renewal's placeholder)"
expect generate 84 p256 "$work/84.pub.pem" -- '^generate rc=OK'
expect verify 123456 -- '^verify rc=OK'
expect selfsign 84 "$work/84.der" -- '^selfsign rc=OK apdus=1$'
openssl x509 -inform DER -in "$work/84.der" -out "$work/84.pem"
openssl verify -CAfile "$work/84.pem" "$work/84.pem" | grep -q ': OK$' ||
    fail "openssl does not accept the card-signed self-signed certificate"
cmp -s <(openssl x509 -in "$work/84.pem" -pubkey -noout | openssl pkey -pubin -outform DER) \
    <(openssl pkey -pubin -in "$work/84.pub.pem" -outform DER) ||
    fail "the self-signed certificate does not carry the generated key"
expect write 84 "$work/84.pem" -- '^write rc=OK$'

echo "write the issued certificates, read them back"
expect write 9d "$work/9d.crt" -- '^write rc=OK$'
expect write 82 "$work/82.crt" -- '^write rc=OK$'
expect write 83 "$work/83.crt" -- '^write rc=OK$'
expect read 82 "$work/82.back" -- '^read rc=OK len=[0-9]+$'
cmp -s "$work/82.back" <(openssl x509 -in "$work/82.crt" -outform DER) || fail "read-back differs"
listing="$(t certs)"
[[ "$listing" =~ ^certs\ rc=OK\ n=5\  ]] || fail "after writing, the cache was not refreshed: $listing"
echo "  $listing"
yubico-piv-tool -r "$reader" -a read-certificate -s 82 -o "$work/82.ypt.pem" >/dev/null 2>&1 ||
    fail "yubico-piv-tool cannot read slot 82"
cmp -s <(openssl x509 -in "$work/82.ypt.pem" -outform DER) <(openssl x509 -in "$work/82.crt" -outform DER) ||
    fail "yubico-piv-tool reads a different certificate from slot 82"
p15="$(pkcs15-tool --reader 0 --list-certificates 2>&1)" || fail "pkcs15-tool: $p15"
grep -q "Certificate for Key Management" <<<"$p15" || fail "pkcs15-tool does not list the 9D certificate: $p15"
pkcs15-tool --reader 0 --read-certificate 03 -o "$work/9d.p15.pem" >/dev/null 2>&1 ||
    fail "pkcs15-tool cannot read the 9D certificate"
cmp -s <(openssl x509 -in "$work/9d.p15.pem" -outform DER) <(openssl x509 -in "$work/9d.crt" -outform DER) ||
    fail "pkcs15-tool reads a different 9D certificate"
expect verify 123456 -- '^verify rc=OK'
expect sign 82 -- '^sign rc=OK verified=1$'
expect verify 123456 -- '^verify rc=OK'
expect sign 83 -- '^sign rc=OK verified=1$'
# the third-party tools above reset the card: the management key session is gone
expect delete 83 -- '^delete rc=SECURITY_STATUS$'
expect admin 010203040506070801020304050607080102030405060708 03 -- '^admin rc=OK$'
expect delete 83 -- '^delete rc=OK$'
expect read 83 "$work/83.gone" -- '^read rc=NOT_FOUND'

echo "PIN lockout and unblock"
expect verify 000000 -- '^verify rc=PIN_INCORRECT tries=2$'
expect verify 000000 -- '^verify rc=PIN_INCORRECT tries=1$'
expect verify 000000 -- '^verify rc=PIN_BLOCKED tries=0$'
expect verify 123456 -- '^verify rc=PIN_BLOCKED tries=0$'
expect pin-status -- '^pin-status rc=PIN_BLOCKED tries=0'
expect unblock 87654321 654321 -- '^unblock rc=PUK_INCORRECT tries=2$'
expect unblock 12345678 654321 -- '^unblock rc=OK'
expect verify 654321 -- '^verify rc=OK'
expect change 654321 123456 -- '^change rc=OK'
expect verify 123456 -- '^verify rc=OK'

echo "PIN-protected management key in the PRINTED object"
expect admin -- '^admin rc=NOT_FOUND$'
# store the key the Yubico way: PRINTED = 88 { 89 key }
yubico-piv-tool -r "$reader" -a write-object --id 0x5FC109 -f binary \
    -i <(printf '\x88\x1a\x89\x18\x01\x02\x03\x04\x05\x06\x07\x08\x01\x02\x03\x04\x05\x06\x07\x08\x01\x02\x03\x04\x05\x06\x07\x08') \
    >/dev/null 2>&1 || fail "yubico-piv-tool cannot write the PRINTED object"
expect open -- '^open rc=OK'
expect admin -- '^admin rc=SECURITY_STATUS$'
expect verify 123456 -- '^verify rc=OK'
expect admin -- '^admin rc=OK$'

echo "key pulled mid-operation"
quit_shell
rig_card_stop piv
rig_card_start piv --drop-after 3
start_shell "$reader"
expect open -- '^open rc=OK' # SELECT, GET SERIAL, GET VERSION
expect certs -- '^certs rc=CARD_REMOVED'
rig_card_wait_gone piv 3
rig_card_start piv
expect certs -- '^certs rc=OK n=4 '
expect pin-status -- '^pin-status rc=OK tries=3'

echo "pcscd restarted"
# only the pcscd the rig started: a foreign one (the rig reuses it) is not ours to stop
if [[ -f "$UK_RIG_DIR/pcscd.pid" ]]; then
    pcscd_pid="$(<"$UK_RIG_DIR/pcscd.pid")"
    kill -TERM "$pcscd_pid"
    timeout 20 tail --pid="$pcscd_pid" -f /dev/null || fail "pcscd did not stop"
    bash "$UK_RIG_LIB" start "$UK_RIG_DIR" >/dev/null
    "$UK_RIG_WAIT" --timeout 20 --card-present "$reader" ||
        fail "the key did not come back after pcscd restarted"
    expect pin-status -- '^pin-status rc=OK tries=3'
    expect certs -- '^certs rc=OK n=4 '
else
    echo "  (pcscd is not the rig's own: restart case skipped)"
fi

quit_shell
echo "PASS"
