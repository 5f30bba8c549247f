#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The tray's package, ukey-tray: control fields (it depends on the same
# version of ukeyd and on the desktop libraries shlibdeps found), its
# conffile (the XDG autostart entry, X-systemd-skip=true, which
# desktop-file-validate accepts), the exact file list, a stripped and
# hardened binary with the project's version, its manual page; then dpkg
# installs it with ukeyd, runs it, and removes and purges both leaving
# nothing behind.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_deb
need man man-db
need readelf binutils
tray="$(tray_deb_path)"
[[ -f "$tray" ]] || fail "$tray is missing (the package target makes it with the tray)"
tmp="$(mktemp -d)"

status_of() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true
}
installed_here=0
cleanup() {
    if ((installed_here)); then
        dpkg -P ukey-tray ukeyd >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

field() {
    dpkg-deb -f "$tray" "$1"
}

# control
[[ "$(field Package)" == ukey-tray ]] || fail "Package: $(field Package)"
[[ "$(field Version)" == "$UK_VERSION" ]] || fail "Version: $(field Version)"
[[ "$(field Source)" == ukeyd ]] || fail "Source: $(field Source), want ukeyd"
depends="$(field Depends)"
for dep in "ukeyd (= $UK_VERSION)" libgtk-3-0 libayatana-appindicator3-1 libnotify4 libcjson1 libglib2.0-0; do
    grep -Fq "$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
echo "Depends: $depends"

dpkg-deb -e "$tray" "$tmp/control"
[[ "$(cat "$tmp/control/conffiles")" == /etc/xdg/autostart/ukey-tray.desktop ]] ||
    fail "conffiles: $(cat "$tmp/control/conffiles")"

want="./etc/xdg/autostart/ukey-tray.desktop
./usr/bin/ukey-tray
./usr/share/doc/ukey-tray/changelog.gz
./usr/share/doc/ukey-tray/copyright"
for s in expired expiring key nokey stopped; do
    want+=$'\n'"./usr/share/icons/hicolor/scalable/status/ukey-tray-$s.svg"
done
want+=$'\n'"./usr/share/man/man1/ukey-tray.1.gz"
want="$(sort <<<"$want")"
have="$(dpkg-deb --fsys-tarfile "$tray" | tar -t | grep -v '/$' | sort)"
if [[ "$have" != "$want" ]]; then
    diff <(echo "$want") <(echo "$have") >&2 || true
    fail "file list differs (< expected, > in the package)"
fi

dpkg-deb -x "$tray" "$tmp/root"
r="$tmp/root"
exe="$r/usr/bin/ukey-tray"
sections="$(readelf -SW "$exe")"
for s in .symtab .debug_info .comment; do
    ! grep -q " \\$s " <<<"$sections" || fail "ukey-tray has a $s section (not stripped)"
done
grep -q GNU_RELRO <<<"$(readelf -lW "$exe")" || fail "ukey-tray: no RELRO"
grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$(readelf -dW "$exe")" || fail "ukey-tray: no BIND_NOW"

entry="$r/etc/xdg/autostart/ukey-tray.desktop"
grep -qx 'X-systemd-skip=true' "$entry" || fail "the autostart entry lacks X-systemd-skip=true"
grep -qx 'Exec=ukey-tray' "$entry" || fail "the autostart entry does not run ukey-tray"
if command -v desktop-file-validate >/dev/null 2>&1; then
    out="$(desktop-file-validate "$entry" 2>&1)" || fail "desktop-file-validate: $out"
    [[ -z "$out" ]] || fail "desktop-file-validate: $out"
    echo "desktop-file-validate: clean"
fi

f="$r/usr/share/man/man1/ukey-tray.1.gz"
warnings="$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
    man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null)"
[[ -z "$warnings" ]] || fail "ukey-tray.1: $warnings"
[[ "$(od -An -tx1 -j3 -N5 "$f" | tr -d ' ')" == 0000000000 ]] || fail "$f has a gzip timestamp"

# install, run, remove, purge (only when this machine has neither package)
if ((EUID != 0)); then
    echo "not root: dpkg -i skipped"
    echo PASS
    exit 0
fi
for p in ukeyd ukey-tray; do
    s="$(status_of "$p")"
    if [[ -n "$s" && "$s" != not-installed ]]; then
        [[ "${CI:-}" == true ]] || unavailable "$p is installed here ($s); dpkg -P it first"
        dpkg -P ukey-tray ukeyd
    fi
done
installed_here=1
echo "== dpkg -i ukeyd ukey-tray"
dpkg -i "$UK_DEB" "$tray"
[[ "$(status_of ukey-tray)" == installed ]] || fail "ukey-tray not installed: $(status_of ukey-tray)"
v="$(/usr/bin/ukey-tray --version)"
[[ "$v" == "ukey-tray $UK_VERSION" ]] || fail "/usr/bin/ukey-tray --version: '$v'"
echo "$v"
man -w ukey-tray >/dev/null || fail "man cannot find ukey-tray(1)"
mapfile -t files < <(dpkg -L ukey-tray)

echo "== dpkg -r ukey-tray"
dpkg -r ukey-tray
left=()
for f in "${files[@]}"; do
    [[ "$f" == /etc/xdg/autostart/ukey-tray.desktop ]] && continue
    if [[ -f "$f" || -L "$f" ]]; then
        left+=("$f")
    fi
done
((${#left[@]} == 0)) || fail "dpkg -r ukey-tray left: ${left[*]}"
[[ -e /etc/xdg/autostart/ukey-tray.desktop ]] || fail "dpkg -r removed the conffile"
echo "== dpkg -P ukey-tray ukeyd"
dpkg -P ukey-tray ukeyd
[[ ! -e /etc/xdg/autostart/ukey-tray.desktop ]] || fail "dpkg -P left the autostart entry"
installed_here=0
echo PASS
