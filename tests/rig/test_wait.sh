#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# uk-rig-wait against the running rig, no key needed: both readers listed,
# --reader returns at once, waiting for a card in an empty reader or for a
# reader that does not exist times out with exit 1 and a message naming what
# it waited for, bad arguments exit 2.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=rig.sh
source "${UK_RIG_LIB:?run this through ctest (needs the rig fixture)}"

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# expect STATUS PATTERN CMD...: CMD exits with STATUS and its stderr has PATTERN.
expect() {
    local want="$1" pattern="$2" rc=0 err
    shift 2
    err="$("$@" 2>&1 >/dev/null)" || rc=$?
    ((rc == want)) || fail "$* exited $rc, expected $want (stderr: $err)"
    grep -qF -- "$pattern" <<<"$err" || fail "$*: stderr lacks '$pattern': $err"
}

W="${UK_RIG_WAIT:?}"

list="$("$W" --timeout 5 --list)"
grep -qFx "$RIG_READER_0" <<<"$list" || fail "--list lacks \"$RIG_READER_0\": $list"
grep -qFx "$RIG_READER_1" <<<"$list" || fail "--list lacks \"$RIG_READER_1\": $list"

start=$SECONDS
"$W" --timeout 5 --reader "$RIG_READER_1" || fail "--reader on an existing reader failed"
"$W" --timeout 5 --card-absent "$RIG_READER_1" || fail "--card-absent on an empty reader failed"
((SECONDS - start <= 2)) || fail "conditions that hold took $((SECONDS - start)) s"

expect 1 "timed out after 1 s waiting for a card in reader \"$RIG_READER_1\"" \
    "$W" --timeout 1 --card-present "$RIG_READER_1"
expect 1 "timed out after 1 s waiting for reader \"No Such Reader 00 00\"" \
    "$W" --timeout 1 --reader "No Such Reader 00 00"
expect 2 "needs a reader name" "$W" --reader
expect 2 "bad --timeout" "$W" --timeout soon --list
expect 2 "exactly one of" "$W" --list --reader "$RIG_READER_0"
echo "PASS"
