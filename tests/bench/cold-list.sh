#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Benchmark: listing the certificates of a key, cold (first read after
# insertion) and warm, through ukeyd's token layer (token-shell), against
# OpenSC's `pkcs11-tool -O` on the same virtual key in the same run.
# Prints medians of N runs and the ratio. Needs a built tree (build/).
#
#   tests/bench/cold-list.sh [N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
n="${1:-10}"
build="$PWD/build"
export UK_RIG_DIR="$build/rig" UK_VKEY="$build/tests/vkey/ukey-vkey" UK_RIG_WAIT="$build/tests/rig/uk-rig-wait"
rig=tests/rig/rig.sh
work="$(mktemp -d)"
trap 'bash "$rig" card-stop "$UK_RIG_DIR" bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

bash "$rig" start "$UK_RIG_DIR" >/dev/null
for s in 9a 9c 82; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$s.key" \
        -out "$work/$s.pem" -days 30 -subj "/CN=bench $s" 2>/dev/null
done
rm -f "$UK_RIG_DIR/bench.state"
bash "$rig" card-start "$UK_RIG_DIR" bench --serial 4711 --seed "9a:$work/9a.pem:$work/9a.key" \
    --seed "9c:$work/9c.pem:$work/9c.key" --seed "82:$work/82.pem:$work/82.key" >/dev/null
reader="$(cat "$UK_RIG_DIR/bench.reader")"
module="$(find /usr/lib -name opensc-pkcs11.so -print -quit)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ours=()
warm=()
for _ in $(seq "$n"); do
    out="$(printf 'open\ncerts\ncerts\nquit\n' | "$build/tests/integration/token-shell" "$reader")"
    ours+=("$(grep -m1 '^certs' <<<"$out" | sed -E 's/.* ms=([0-9.]+).*/\1/')")
    warm+=("$(grep '^certs' <<<"$out" | tail -n1 | sed -E 's/.* ms=([0-9.]+).*/\1/')")
    apdus="$(grep -m1 '^certs' <<<"$out" | sed -E 's/.* apdus=([0-9]+).*/\1/')"
done
opensc=()
for _ in $(seq "$n"); do
    t0="$(date +%s%N)"
    pkcs11-tool --module "$module" -O >/dev/null 2>&1
    opensc+=("$(( ($(date +%s%N) - t0) / 1000 ))")
done
o="$(printf '%s\n' "${ours[@]}" | median)"
w="$(printf '%s\n' "${warm[@]}" | median)"
p="$(printf '%s\n' "${opensc[@]}" | median | awk '{printf "%.2f", $1 / 1000}')"
echo "certificate listing, 3 certificates, median of $n:"
echo "  ukeyd token layer, cold : $o ms ($apdus APDUs)"
echo "  ukeyd token layer, warm : $w ms (0 APDUs)"
echo "  pkcs11-tool -O (OpenSC) : $p ms (whole process, includes OpenSC's own start-up)"
awk -v a="$p" -v b="$o" 'BEGIN { printf "  ratio OpenSC/ukeyd cold : %.1fx\n", a / b }'
