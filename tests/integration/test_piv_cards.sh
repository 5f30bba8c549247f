#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The PIV driver with other kinds of cards and objects:
#   - certificates imported by yubico-piv-tool, one of them gzip-compressed
#     (CertInfo 71 01 01), are listed with the right fingerprints;
#   - a card with an AES-256 management key, and one with AES-128;
#   - a plain PIV card without the Yubico commands: the serial comes from
#     the CHUID's GUID.
set -euo pipefail
# shellcheck source=../rig/rig.sh
source "${UK_RIG_LIB:?run this through ctest (needs the rig fixture)}"

work="$(mktemp -d)"
# shellcheck source=shell_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/shell_lib.sh"
trap shell_cleanup EXIT

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# two self-signed certificates (only the objects matter here)
for n in a b; do
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/$n.key" -out "$work/$n.pem" \
        -days 30 -utf8 -subj "/CN=证书$n/O=测试" 2>/dev/null
done

echo "certificates imported by yubico-piv-tool, plain and gzip"
rm -f "$UK_RIG_DIR/cards.state"
rig_card_start cards --serial 2718
reader="$(rig_card_reader cards)"
yubico-piv-tool -r "$reader" -a import-certificate -s 9c -i "$work/a.pem" >/dev/null 2>&1 ||
    fail "yubico-piv-tool import-certificate 9c"
openssl x509 -in "$work/b.pem" -outform DER | gzip -c >"$work/b.der.gz"
yubico-piv-tool -r "$reader" -a import-certificate -s 84 -K GZIP -i "$work/b.der.gz" >/dev/null 2>&1 ||
    fail "yubico-piv-tool import-certificate -K GZIP 84"
# (yubico-piv-tool 2.2 writes compressed certificates but cannot read them back)
start_shell "$reader"
expect open -- '^open rc=OK id=piv:2718 '
list="$(t certs)"
echo "  $list"
[[ "$list" == "certs rc=OK n=2 "* ]] || fail "expected two certificates: $list"
[[ "$list" == *" 9c:$(fingerprint "$work/a.pem"):证书a"* ]] || fail "9c missing or wrong: $list"
[[ "$list" == *" 84:$(fingerprint "$work/b.pem"):证书b"* ]] || fail "gzip 84 missing or wrong: $list"
quit_shell
rig_card_stop cards

echo "AES management keys"
for spec in aes256:0c:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
    aes128:08:f0e1d2c3b4a5968778695a4b3c2d1e0f; do
    IFS=: read -r name alg key <<<"$spec"
    rm -f "$UK_RIG_DIR/$name.state"
    rig_card_start "$name" --port 35964 --mgmt-alg "$name" --mgmt-key "$key"
    start_shell "$(rig_card_reader "$name")"
    expect open -- '^open rc=OK'
    expect admin 010203040506070801020304050607080102030405060708 03 -- '^admin rc=MGMT_AUTH_FAILED$'
    expect admin "$key" "$alg" -- '^admin rc=OK$'
    expect generate 9a p256 "$work/$name.pub" -- '^generate rc=OK'
    quit_shell
    rig_card_stop "$name"
done

echo "plain PIV card (no Yubico commands)"
rm -f "$UK_RIG_DIR/plain.state"
rig_card_start plain --plain --seed "9a:$work/a.pem:$work/a.key"
reader="$(rig_card_reader plain)"
guid="$(yubico-piv-tool -r "$reader" -a status 2>/dev/null | sed -nE 's/^CHUID:\s*//p' |
    grep -oE '3410[0-9a-f]{32}' | cut -c5-)" || true
[[ ${#guid} == 32 ]] || fail "cannot read the CHUID's GUID with yubico-piv-tool"
start_shell "$reader"
expect open -- "^open rc=OK id=piv:$guid serial=$guid firmware=- "
expect certs -- "^certs rc=OK n=1 "
expect verify 123456 -- '^verify rc=OK'
expect sign 9a -- '^sign rc=OK verified=1$'
quit_shell
echo "PASS"
