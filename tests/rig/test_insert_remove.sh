#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A key pulled and plugged back in is the same key: start a virtual key,
# see it in reader 0 through OpenSC, stop it (reader empty), start it again
# with the same state file and check that OpenSC sees a card with the same
# ATR. Exercises the rig itself: rig_card_start / rig_card_stop and the
# events uk-rig-wait waits on.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=rig.sh
source "${UK_RIG_LIB:?run this through ctest (needs the rig fixture)}"

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# Card column ("Yes"/"No") of reader number $1 in `opensc-tool -l` output:
#   Nr.  Card  Features  Name
#   0    Yes             Yubico ukey-vkey 00 00
card_column() {
    awk -v nr="$1" '$1 == nr { print $2; exit }' <<<"$2"
}

atr_of_reader0() {
    local out
    out="$(opensc-tool -r 0 -a 2>&1)" || fail "opensc-tool -r 0 -a failed: $out"
    out="$(grep -Ei '^([0-9a-f]{2}:)+[0-9a-f]{2}$' <<<"$out" | head -n 1)"
    [[ -n "$out" ]] || fail "opensc-tool -r 0 -a printed no ATR"
    printf '%s\n' "$out"
}

reader0="$RIG_READER_0"

# 1. Inserted: reader 0 shows a card.
rig_card_start ins --serial 4242
[[ "$(rig_card_reader ins)" == "$reader0" ]] || fail "key 'ins' is not in \"$reader0\""
[[ -s "$UK_RIG_DIR/ins.state" ]] || fail "no state file after start"
list="$(opensc-tool -l 2>&1)" || fail "opensc-tool -l failed: $list"
grep -qF "$reader0" <<<"$list" || fail "opensc-tool -l does not list \"$reader0\": $list"
[[ "$(card_column 0 "$list")" == "Yes" ]] || fail "reader 0 shows no card after insert: $list"
[[ "$(card_column 1 "$list")" == "No" ]] || fail "reader 1 shows a card: $list"
atr1="$(atr_of_reader0)"
echo "inserted, ATR $atr1"

# 2. Pulled: reader 0 empty.
rig_card_stop ins
list="$(opensc-tool -l 2>&1)" || fail "opensc-tool -l failed: $list"
[[ "$(card_column 0 "$list")" == "No" ]] || fail "reader 0 still shows a card after removal: $list"
if out="$(opensc-tool -r 0 -a 2>&1)"; then
    fail "opensc-tool -r 0 -a succeeded with no card: $out"
fi
echo "removed"

# 3. Re-inserted with the same state: same card, same ATR.
rig_card_start ins --serial 4242
list="$(opensc-tool -l 2>&1)" || fail "opensc-tool -l failed: $list"
[[ "$(card_column 0 "$list")" == "Yes" ]] || fail "reader 0 shows no card after re-insert: $list"
atr2="$(atr_of_reader0)"
[[ "$atr2" == "$atr1" ]] || fail "ATR changed across re-insert: $atr1 -> $atr2"
echo "re-inserted, ATR $atr2"

rig_card_stop ins
echo "PASS"
