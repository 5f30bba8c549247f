#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-env.sh OUTDIR [--pcscd] [--no-readers] [--config JSON] [DEVICE.umockdev...]
#
# Runs ukeyd under umockdev-run with the given fake USB devices, inside
# scripts/isolate (a private /run/pcscd and network), optionally with a
# pcscd of its own started inside the same fake environment, asks
# `ukeyctl --json env` and writes the answer to OUTDIR/env.json, the
# daemon's log to OUTDIR/ukeyd.log and pcscd's to OUTDIR/pcscd.log.
# --no-readers gives pcscd an empty reader.conf directory, so only USB
# readers would appear. --config adds members to the daemon's config.
# Environment: UK_BUILD_DIR (the build tree), UK_SOURCE_DIR.
set -euo pipefail

out="$1"
shift
pcscd=0
no_readers=0
extra='{}'
devices=()
while (($#)); do
    case "$1" in
    --pcscd) pcscd=1 ;;
    --no-readers) no_readers=1 ;;
    --config)
        extra="$2"
        shift
        ;;
    *) devices+=(-d "$1") ;;
    esac
    shift
done
mkdir -p "$out/run" "$out/cfg/ukeyd" "$out/state" "$out/readers"
chmod 700 "$out/run"
# the base config: the source tree's list of known keys, then the extras
# shellcheck disable=SC2016 # a JavaScript template string, not the shell's
node -e '
const [file, src, extra] = process.argv.slice(1);
const cfg = { port: 38485, allowedOrigins: ["https://hall.example.cn"], pkcs11Registered: false,
  usbKeysFile: `${src}/share/usb-keys.json`, ...JSON.parse(extra) };
require("fs").writeFileSync(file, JSON.stringify(cfg));
' "$out/cfg/ukeyd/config.json" "$UK_SOURCE_DIR" "$extra"

inner=$(
    cat <<'INNER'
set -euo pipefail
out="$1"; pcscd="$2"; no_readers="$3"
export XDG_RUNTIME_DIR="$out/run" XDG_CONFIG_HOME="$out/cfg" XDG_STATE_HOME="$out/state"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [[ "$pcscd" == 1 ]]; then
    args=(--foreground --debug)
    if [[ "$no_readers" == 1 ]]; then args+=(--config "$out/readers"); fi
    pcscd "${args[@]}" >"$out/pcscd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 200); do [[ -S /run/pcscd/pcscd.comm ]] && break; sleep 0.05; done
    [[ -S /run/pcscd/pcscd.comm ]] || { echo "pcscd did not start" >&2; exit 1; }
fi
"$UK_BUILD_DIR/daemon/ukeyd" --log-level debug >"$out/ukeyd.log" 2>&1 &
pids+=($!)
for _ in $(seq 400); do grep -q "listening on" "$out/ukeyd.log" && break; sleep 0.05; done
grep -q "listening on" "$out/ukeyd.log" || { echo "ukeyd did not start" >&2; cat "$out/ukeyd.log" >&2; exit 1; }
# with a pcscd, wait until ukeyd's monitor has seen the service
if [[ "$pcscd" == 1 ]]; then
    for _ in $(seq 400); do grep -q "service.up" "$out/ukeyd.log" && break; sleep 0.05; done
fi
"$UK_BUILD_DIR/daemon/ukeyctl" --json env >"$out/env.json"
INNER
)
exec "$UK_SOURCE_DIR/scripts/isolate" umockdev-run "${devices[@]}" -- \
    bash -c "$inner" inner "$out" "$pcscd" "$no_readers"
