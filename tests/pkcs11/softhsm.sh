#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# softhsm.sh setup DIR | cleanup DIR
#
# A private SoftHSM2 for the tests: DIR/softhsm2.conf names DIR/tokens, so
# nothing of the user's or the system's SoftHSM2 is read or changed. Tests
# point SOFTHSM2_CONF at it and initialise their own tokens (softhsm2-util
# --init-token); cleanup deletes the directory.
set -euo pipefail
cmd=${1:?usage: softhsm.sh setup|cleanup DIR}
dir=${2:?usage: softhsm.sh setup|cleanup DIR}
case $cmd in
setup)
    rm -rf "$dir"
    mkdir -p "$dir/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
        "$dir" >"$dir/softhsm2.conf"
    # one token for the tests that only need a token to be there
    SOFTHSM2_CONF=$dir/softhsm2.conf softhsm2-util --init-token --free --label ukeyd-fixture \
        --so-pin 87654321 --pin 123456 >/dev/null
    ;;
cleanup)
    rm -rf "$dir"
    ;;
*)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
