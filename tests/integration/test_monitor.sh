#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The card monitor through real pcscd + vpcd: the initial readers are
# reported, inserting a key is card.inserted with its ATR, pulling it is
# card.removed, a second key in the other
# reader is reported for that reader, and cancelling returns promptly. Each
# step waits for the event itself (bounded), never a fixed sleep.
set -euo pipefail
# shellcheck source=../rig/rig.sh
source "${UK_RIG_LIB:?run this through ctest (needs the rig fixture)}"

MON="$UK_BUILD_DIR/tests/integration/monitor-shell"
trap 'rig_cleanup; [[ -z "${mon_pid:-}" ]] || kill "$mon_pid" 2>/dev/null || true' EXIT

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# next_event PATTERN: read events until one matches (30 s bound)
next_event() {
    local line
    while IFS= read -r -t 30 -u "${MS[0]}" line; do
        printf '  %s\n' "$line"
        if [[ "$line" =~ $1 ]]; then
            LAST_EVENT="$line"
            return 0
        fi
    done
    fail "no event matching /$1/ within 30 s"
}

rm -f "$UK_RIG_DIR/mon0.state" "$UK_RIG_DIR/mon1.state"
coproc MS { "$MON" 2>/dev/null; }
mon_pid=$MS_PID
r0="Yubico ukey-vkey 00 00"
r1="Yubico ukey-vkey 00 01"

echo "initial state"
next_event "^[0-9.]+ service\.up$"
next_event "^[0-9.]+ reader\.added $r0$"
next_event "^[0-9.]+ reader\.added $r1$"

echo "insert, pull"
rig_card_start mon0 --serial 1001
next_event "^[0-9.]+ card\.inserted $r0 3B8D8001756B65792D766B657920504956"
rig_card_stop mon0
next_event "^[0-9.]+ card\.removed $r0$"

echo "second reader"
rig_card_start mon1 --port 35964 --serial 1002
next_event "^[0-9.]+ card\.inserted $r1 "
rig_card_start mon0 --serial 1001
next_event "^[0-9.]+ card\.inserted $r0 "
rig_card_stop mon1
next_event "^[0-9.]+ card\.removed $r1$"
rig_card_stop mon0
next_event "^[0-9.]+ card\.removed $r0$"

echo "cancel"
printf 'quit\n' >&"${MS[1]}"
next_event "^cancelled [0-9.]+$"
ms="${LAST_EVENT#cancelled }"
awk -v ms="$ms" 'BEGIN { exit !(ms < 5000) }' || fail "cancel took $ms ms"
wait "$mon_pid" || true
echo "PASS"
