#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# mmdebstrap customize hook of test_clean_root.sh: $1 is the new root,
# with apt's lists and /proc, /dev mounted. Installs the package with apt
# (no Recommends: the Depends alone must be enough), then runs the
# binaries inside the root as an unprivileged user. Writes its timings to
# $UK_HOOK_TIMES for the test.
set -euo pipefail
root="${1:?usage: clean_root_hook.sh ROOT}"
: "${UK_DEB:?}" "${UK_VERSION:?}" "${UK_HOOK_TIMES:?}"

fail() {
    printf 'FAIL (clean root): %s\n' "$*" >&2
    exit 1
}

hook_start=$(date +%s.%N)
deb="/tmp/$(basename "$UK_DEB")"
cp "$UK_DEB" "$root$deb"
before=$(chroot "$root" dpkg-query -W -f='.\n' | wc -l)
install_start=$(date +%s.%N)
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "$deb"
install_end=$(date +%s.%N)
after=$(chroot "$root" dpkg-query -W -f='.\n' | wc -l)
printf 'hook_start %s\ninstall_start %s\ninstall_end %s\npackages %s\n' \
    "$hook_start" "$install_start" "$install_end" "$((after - before))" >"$UK_HOOK_TIMES"

# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
[[ "$(chroot "$root" dpkg-query -W -f='${db:Status-Status}' ukeyd)" == installed ]] ||
    fail "ukeyd is not installed"
chroot "$root" apt-get check >/dev/null || fail "apt-get check: broken dependencies"

# as a user without a passwd entry, with its own XDG directories
mkdir -p "$root/tmp/u/run" "$root/tmp/u/home"
chown -R 4242:4242 "$root/tmp/u"
chmod 0700 "$root/tmp/u/run"
in_root() {
    chroot --userspec=4242:4242 "$root" env -i PATH=/usr/bin:/bin HOME=/tmp/u/home \
        XDG_RUNTIME_DIR=/tmp/u/run "$@"
}
v="$(in_root ukeyd --version)"
[[ "$v" == "ukeyd $UK_VERSION" ]] || fail "ukeyd --version: '$v'"
v="$(in_root ukeyctl --version)"
[[ "$v" == "ukeyctl $UK_VERSION" ]] || fail "ukeyctl --version: '$v'"
in_root ukeyd --check-config || fail "ukeyd --check-config refuses the installed configuration"
rc=0
in_root ukeyctl status || rc=$?
((rc == 3)) || fail "ukeyctl status without a daemon: exit $rc, want 3 (not running)"
echo "clean root: ukeyctl status says not running (exit 3)"

# The daemon itself, with only what the Depends brought (no pcscd, no
# PKCS#11 module), in a network namespace of its own so that it cannot
# meet a ukeyd of this machine: it must listen, answer, report the missing
# PC/SC service and stop cleanly on SIGTERM.
# shellcheck disable=SC2016 # expanded by the inner bash
out="$(unshare --net bash -c '
    ip link set lo up
    root="$1"; shift
    in_root() {
        exec chroot --userspec=4242:4242 "$root" env -i PATH=/usr/bin:/bin HOME=/tmp/u/home \
            XDG_RUNTIME_DIR=/tmp/u/run "$@"
    }
    # a simple command, so that $! is ukeyd itself (chroot and env exec)
    (in_root ukeyd --log-level warn) & pid=$!
    for _ in $(seq 200); do [[ -e "$root/tmp/u/run/ukeyd/port" ]] && break; sleep 0.05; done
    rc=0
    (in_root ukeyctl status) || rc=$?
    (in_root ukeyctl env) || true
    kill -TERM "$pid"; wait "$pid" || rc=$((rc + 100))
    exit "$rc"' clean-root "$root" 2>&1)" || fail "ukeyd did not run or stop cleanly in the root: $out"
[[ "$out" == *"ukeyd $UK_VERSION running"* ]] || fail "ukeyctl status with a daemon: $out"
[[ "$out" == *PCSC_UNAVAILABLE* ]] || fail "ukeyctl env without pcscd names no PCSC_UNAVAILABLE: $out"
echo "clean root: ukeyd $UK_VERSION started, answered ukeyctl status and env, stopped on SIGTERM"
