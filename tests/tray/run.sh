#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs one tray test (a bash script that sources lib.sh) inside a session
# bus of its own. Outside CI a missing desktop tool skips the test (exit
# 77, ctest SKIP_RETURN_CODE); in CI (CI=true) it fails: scripts/deps
# installs them all.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
test_script="${1:?usage: run.sh TEST.sh}"

missing=()
for tool in dbus-run-session dbus-monitor gdbus Xvfb trayer dunst dunstctl import convert xwininfo \
    xdotool fc-list; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v fc-list >/dev/null 2>&1 && [[ -z "$(fc-list :lang=zh family)" ]]; then
    missing+=("a CJK font (fonts-wqy-microhei)")
fi
if ((${#missing[@]} > 0)); then
    if [[ "${CI:-}" == true ]]; then
        echo "FAIL: missing ${missing[*]} (scripts/deps installs them)" >&2
        exit 1
    fi
    echo "SKIP: missing ${missing[*]} (scripts/deps installs them)" >&2
    exit 77
fi
exec dbus-run-session --config-file="$here/session.conf" -- bash "$test_script"
