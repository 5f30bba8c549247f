#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The package on this machine, through dpkg: install, run, reinstall over
# an edited conffile, remove, purge.
#   - dpkg -i: the binaries run from /usr/bin, the unit is enabled for every
#     user (when deb-systemd-helper is there), `ukeyctl status` says "not
#     running" (exit 3) with no daemon and "running" (exit 0) with one
#   - the admin's edit of /etc/ukeyd/config.json survives a reinstall
#   - dpkg -r: no file of the package is left but the conffile
#   - dpkg -P: the conffile, /etc/ukeyd and the unit's enablement are gone
# The daemon started here runs in a network namespace of its own (so it
# cannot meet a developer's ukeyd on 17485) with a PC/SC socket path that
# does not exist (so it never talks to this machine's pcscd). The package
# is purged at the end whatever happened.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_deb
need_root "dpkg -i"
need dpkg-query dpkg
tmp="$(mktemp -d)"
daemon_pid=""
wants=/etc/systemd/user/default.target.wants/ukeyd.service
dsh_state=/var/lib/systemd/deb-systemd-user-helper-enabled

status_of() {
    dpkg-query -W -f='${db:Status-Status}' ukeyd 2>/dev/null || true
}

cleanup() {
    if [[ -n "$daemon_pid" ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [[ -n "$(status_of)" && "$(status_of)" != not-installed ]]; then
        dpkg -P ukeyd >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}

before="$(status_of)"
if [[ -n "$before" && "$before" != not-installed ]]; then
    if [[ "${CI:-}" != true ]]; then
        unavailable "a ukeyd package is already on this machine ($before); the test would purge it (dpkg -P ukeyd first)"
    fi
    echo "ukeyd was left installed ($before), purging it first"
    dpkg -P ukeyd
fi
trap cleanup EXIT

echo "== dpkg -i"
dpkg -i "$UK_DEB"
[[ "$(status_of)" == installed ]] || fail "ukeyd is not installed after dpkg -i: $(status_of)"
mapfile -t files < <(dpkg -L ukeyd)
((${#files[@]} > 10)) || fail "dpkg -L ukeyd lists only ${#files[@]} paths"

for exe in ukeyd ukeyctl; do
    v="$(/usr/bin/"$exe" --version)"
    [[ "$v" == "$exe $UK_VERSION" ]] || fail "/usr/bin/$exe --version: '$v'"
    echo "$v"
done
man -w ukeyd >/dev/null || fail "man cannot find ukeyd(1)"

# A user of our own: temporary XDG directories, no user config.
export HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run" XDG_CONFIG_HOME="$tmp/home/.config"
export XDG_STATE_HOME="$tmp/home/.local/state" PCSCLITE_CSOCK_NAME="$tmp/no-pcscd.comm"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"
/usr/bin/ukeyd --check-config || fail "ukeyd refuses the installed configuration"

if command -v deb-systemd-helper >/dev/null 2>&1; then
    [[ "$(readlink "$wants")" == /usr/lib/systemd/user/ukeyd.service ]] ||
        fail "postinst did not enable the user unit ($wants)"
    echo "enabled for every user: $wants"
else
    echo "deb-systemd-helper absent: the unit is installed but not enabled"
fi

rc=0
out="$(/usr/bin/ukeyctl status 2>&1)" || rc=$?
[[ $rc -eq 3 && "$out" == *"ukeyd is not running"* ]] ||
    fail "ukeyctl status without a daemon: exit $rc, '$out' (want 3, 'ukeyd is not running')"
echo "no daemon: ukeyctl status exits 3 ($out)"

if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
    unshare --net true 2>/dev/null; then
    # ukeyd and ukeyctl in one network namespace with only lo, up
    # shellcheck disable=SC2016 # expanded by the inner bash
    out="$(unshare --net bash -c '
        ip link set lo up
        /usr/bin/ukeyd --log-level warn & pid=$!
        for _ in $(seq 200); do [[ -e "$XDG_RUNTIME_DIR/ukeyd/port" ]] && break; sleep 0.05; done
        rc=0; /usr/bin/ukeyctl status || rc=$?
        kill -TERM "$pid"; wait "$pid" || rc=$((rc + 100))
        exit "$rc"' 2>&1)" || fail "ukeyd from the package did not run or stop cleanly: $out"
    [[ "$out" == *"ukeyd $UK_VERSION running"* ]] || fail "ukeyctl status with a daemon: $out"
    echo "daemon running: $(grep running <<<"$out")"
else
    echo "no network namespace here: the installed daemon is not started"
fi

echo "== reinstall over an edited conffile"
printf '{\n    "allowedOrigins": ["https://hall.example.com"]\n}\n' >/etc/ukeyd/config.json
dpkg -i --force-confold "$UK_DEB"
grep -q hall.example.com /etc/ukeyd/config.json || fail "reinstalling replaced the admin's config"
/usr/bin/ukeyd --check-config | grep -q '1 allowed origin' || fail "edited config not read"

echo "== dpkg -r"
dpkg -r ukeyd
[[ "$(status_of)" == config-files ]] || fail "after dpkg -r: $(status_of), want config-files"
left=()
for f in "${files[@]}"; do
    if [[ "$f" == /etc/ukeyd/config.json || "$f" == /etc/ukeyd ]]; then
        [[ -e "$f" ]] || fail "dpkg -r removed the conffile's $f"
    elif [[ -d "$f" && ! -L "$f" ]]; then
        # a directory stays only if another package owns it, or it holds
        # files of others
        if ! dpkg -S "$f" >/dev/null 2>&1 && [[ -z "$(ls -A "$f")" ]]; then
            left+=("$f/")
        fi
    elif [[ -e "$f" || -L "$f" ]]; then
        left+=("$f")
    fi
done
((${#left[@]} == 0)) || fail "dpkg -r left: ${left[*]}"
echo "dpkg -r: none of ${#files[@]} paths left but /etc/ukeyd/config.json"

echo "== dpkg -P"
dpkg -P ukeyd
[[ -z "$(status_of)" || "$(status_of)" == not-installed ]] || fail "after dpkg -P: $(status_of)"
[[ ! -e /etc/ukeyd ]] || fail "dpkg -P left /etc/ukeyd: $(ls -A /etc/ukeyd)"
[[ ! -e "$wants" && ! -L "$wants" ]] || fail "dpkg -P left $wants"
[[ ! -e "$dsh_state/ukeyd.service.dsh-also" ]] || fail "dpkg -P left deb-systemd-helper's state"
[[ -z "$(find "$dsh_state" -name 'ukeyd*' 2>/dev/null)" ]] || fail "dpkg -P left $dsh_state/ukeyd*"
echo "dpkg -P: /etc/ukeyd and the unit's enablement are gone"
echo PASS
