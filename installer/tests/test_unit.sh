#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# systemd-analyze --user verify on the unit from the .deb: no output at all
# (an unknown or misspelt key is only a warning to systemd, so any line
# fails the test), exit status 0, the man: pages of Documentation= found.
# No user manager is needed; ExecStart is pointed at the packaged binary in
# a scratch directory, because the unit names /usr/bin/ukeyd. A broken copy
# of the unit must fail the same check, so the check is known to bite.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_deb
need systemd-analyze systemd
need man man-db
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$UK_DEB" "$tmp/root"
mkdir -p "$tmp/ok" "$tmp/broken" "$tmp/runtime"
chmod 0700 "$tmp/runtime"

sed "s|^ExecStart=/usr/bin/ukeyd |ExecStart=$tmp/root/usr/bin/ukeyd |" \
    "$tmp/root/usr/lib/systemd/user/ukeyd.service" >"$tmp/ok/ukeyd.service"
grep -q "^ExecStart=$tmp/root/usr/bin/ukeyd " "$tmp/ok/ukeyd.service" ||
    fail "the unit has no ExecStart=/usr/bin/ukeyd line"
sed 's/^ProtectSystem=/ProtectSystm=/' "$tmp/ok/ukeyd.service" >"$tmp/broken/ukeyd.service"

# verify UNIT: prints systemd-analyze's output, returns 0 only when clean
verify() {
    local out rc=0
    out="$(XDG_RUNTIME_DIR="$tmp/runtime" MANPATH="$tmp/root/usr/share/man" \
        SYSTEMD_LOG_COLOR=0 systemd-analyze --user verify "$1" 2>&1)" || rc=$?
    [[ -n "$out" ]] && printf '%s\n' "$out"
    [[ $rc -eq 0 && -z "$out" ]]
}

echo "systemd-analyze $(systemd-analyze --version | sed -n 1p)"
verify "$tmp/ok/ukeyd.service" || fail "systemd-analyze --user verify found problems in ukeyd.service"
echo "ukeyd.service: clean"
if verify "$tmp/broken/ukeyd.service"; then
    fail "a unit with a misspelt key passed: the check does not work here"
fi
echo "a broken copy is caught, as it must be"
echo PASS
