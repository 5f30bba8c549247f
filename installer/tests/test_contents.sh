#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# What is in the .deb: control fields (Depends from shlibdeps, Recommends),
# the conffile, the exact file list, stripped and hardened binaries whose
# --version is the project's, a shipped configuration ukeyd accepts, the
# unit's ExecStart, manual pages that render without warnings, gzip files
# without timestamps.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_deb
need readelf binutils
need man man-db
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

field() {
    dpkg-deb -f "$UK_DEB" "$1"
}

# control
[[ "$(field Package)" == ukeyd ]] || fail "Package: $(field Package)"
[[ "$(field Version)" == "$UK_VERSION" ]] || fail "Version: $(field Version), want $UK_VERSION"
[[ "$(field Architecture)" == "$(dpkg --print-architecture)" ]] || fail "Architecture"
depends="$(field Depends)"
for lib in libwebsockets17 libcjson1 libpcsclite1 libssl3 libusb-1.0-0 libc6; do
    grep -Eq "(^|, )$lib( |,|$)" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[[ "$(field Recommends)" == "pcscd, opensc-pkcs11" ]] || fail "Recommends: $(field Recommends)"
[[ -n "$(field Section)" && -n "$(field Priority)" && -n "$(field Maintainer)" ]] ||
    fail "Section, Priority and Maintainer must be set"
[[ -z "$(field Homepage)" ]] || fail "no Homepage field expected"
echo "Depends: $depends"

# control files: the conffile and the maintainer scripts
dpkg-deb -e "$UK_DEB" "$tmp/control"
[[ "$(cat "$tmp/control/conffiles")" == /etc/ukeyd/config.json ]] ||
    fail "conffiles: $(cat "$tmp/control/conffiles")"
for s in postinst prerm postrm; do
    [[ -x "$tmp/control/$s" ]] || fail "maintainer script $s missing or not executable"
done

# the exact file list (directories aside)
want="./etc/ukeyd/config.json
./usr/bin/ukeyctl
./usr/bin/ukeyd
./usr/lib/systemd/user/ukeyd.service
./usr/share/doc/ukeyd/README.md
./usr/share/doc/ukeyd/changelog.gz
./usr/share/doc/ukeyd/copyright
./usr/share/doc/ukeyd/examples/chromium-policy.json
./usr/share/doc/ukeyd/install.md
./usr/share/man/man1/ukeyctl.1.gz
./usr/share/man/man1/ukeyd.1.gz
./usr/share/ukeyd/usb-keys.json"
have="$(dpkg-deb --fsys-tarfile "$UK_DEB" | tar -t | grep -v '/$' | sort)"
if [[ "$have" != "$want" ]]; then
    diff <(echo "$want") <(echo "$have") >&2 || true
    fail "file list differs (< expected, > in the package)"
fi

dpkg-deb -x "$UK_DEB" "$tmp/root"
r="$tmp/root"

# binaries: stripped, hardened, and the project's version
for exe in ukeyd ukeyctl; do
    # (whole outputs in variables: `cmd | grep -q` fails under pipefail
    # when grep stops reading early)
    sections="$(readelf -SW "$r/usr/bin/$exe")"
    headers="$(readelf -lW "$r/usr/bin/$exe")"
    dynamic="$(readelf -dW "$r/usr/bin/$exe")"
    for s in .symtab .debug_info .comment; do
        ! grep -q " \\$s " <<<"$sections" || fail "$exe has a $s section (not stripped)"
    done
    grep -q GNU_RELRO <<<"$headers" || fail "$exe: no RELRO"
    grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dynamic" || fail "$exe: no BIND_NOW"
    grep -q 'DYN (Position-Independent' <<<"$(readelf -hW "$r/usr/bin/$exe")" || fail "$exe: not PIE"
    grep GNU_STACK <<<"$headers" | grep -q 'RW ' || fail "$exe: executable stack"
    v="$("$r/usr/bin/$exe" --version)"
    [[ "$v" == "$exe $UK_VERSION" ]] || fail "$exe --version says '$v', want '$exe $UK_VERSION'"
done
grep -q '__[a-z]*_chk@' <<<"$(readelf -W --dyn-syms "$r/usr/bin/ukeyd")" ||
    fail "ukeyd uses no fortified libc function (built without _FORTIFY_SOURCE?)"

# the shipped configuration is one ukeyd accepts
out="$("$r/usr/bin/ukeyd" --check-config --config "$r/etc/ukeyd/config.json")" ||
    fail "ukeyd refuses the shipped /etc/ukeyd/config.json: $out"
echo "shipped config: $out"

# the unit runs the packaged binary
grep -qx 'ExecStart=/usr/bin/ukeyd --foreground' "$r/usr/lib/systemd/user/ukeyd.service" ||
    fail "the unit's ExecStart is not /usr/bin/ukeyd"

# manual pages: render without a warning, carry the version
for page in ukeyd ukeyctl; do
    f="$r/usr/share/man/man1/$page.1.gz"
    warnings="$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
        man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null)"
    [[ -z "$warnings" ]] || fail "$page.1: $warnings"
    grep -q "^\\.TH .*\"ukeyd $UK_VERSION\"" <<<"$(zcat "$f")" || fail "$page.1: .TH lacks the version"
done

# gzip files carry no name or timestamp (gzip -n): reproducible
for f in "$r/usr/share/man/man1/"*.gz "$r/usr/share/doc/ukeyd/changelog.gz"; do
    [[ "$(od -An -tx1 -j3 -N5 "$f" | tr -d ' ')" == 0000000000 ]] ||
        fail "$f has a file name or timestamp in its gzip header"
done
[[ "$(zcat "$r/usr/share/doc/ukeyd/changelog.gz")" == "ukeyd ($UK_VERSION) "* ]] ||
    fail "changelog's first entry is not $UK_VERSION"

# the browser policy example is JSON with the loopback policy
if command -v node >/dev/null 2>&1; then
    node -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
             if (!Array.isArray(p.LoopbackNetworkAllowedForUrls)) process.exit(1);' \
        "$r/usr/share/doc/ukeyd/examples/chromium-policy.json" ||
        fail "chromium-policy.json is not JSON with LoopbackNetworkAllowedForUrls"
fi

echo PASS
