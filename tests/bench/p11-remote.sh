#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/bench/p11-remote.sh BUILD_DIR [N]
#
# What a PKCS#11 module costs in ukeyd's process versus out of it: p11bench
# on a SoftHSM2 token loaded directly, then through p11-kit's remoting
# (p11-kit server running SoftHSM2 in its own process, p11-kit-client.so in
# ours). Prints both; a private SoftHSM2 directory, removed afterwards.
set -euo pipefail
build=${1:?usage: p11-remote.sh BUILD_DIR [N]}
n=${2:-2000}
softhsm=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
client=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
dir=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$dir" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF=$dir/softhsm2.conf
softhsm2-util --init-token --free --label bench --so-pin 87654321 --pin 123456 >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/k.pem" \
    -out "$dir/c.pem" -days 30 -subj /CN=bench 2>/dev/null
openssl x509 -in "$dir/c.pem" -outform DER -out "$dir/c.der"
for obj in "k.pem privkey" "c.der cert"; do
    read -r file type <<<"$obj"
    pkcs11-tool --module "$softhsm" --token-label bench --login --pin 123456 \
        --write-object "$dir/$file" --type "$type" --id 01 >/dev/null
done

echo "== in process: $softhsm"
"$build/tests/bench/p11bench" "$softhsm" bench 123456 "$n"

echo "== out of process: $client -> p11-kit server -> SoftHSM2"
eval "$(XDG_RUNTIME_DIR=$dir p11-kit server --provider "$softhsm" -n "$dir/p11.sock" \
    "pkcs11:token=bench" -s)"
server_pid=$P11_KIT_SERVER_PID
"$build/tests/bench/p11bench" "$client" bench 123456 "$n"
