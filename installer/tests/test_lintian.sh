#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# lintian -E --pedantic on the .deb: no tag of any level (error, warning,
# info, pedantic) may be shown. A tag that cannot be fixed with CPack is
# overridden in installer/debian/lintian-overrides with its reason; the
# overridden ones are printed too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_deb
need lintian
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

deb="$UK_DEB"
run=(lintian)
# lintian warns against running as root; run it as nobody when we can, on
# a copy of the package it can read
if ((EUID == 0)) && command -v runuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
    chmod 0777 "$tmp"
    deb="$tmp/$(basename "$UK_DEB")"
    install -m 0644 "$UK_DEB" "$deb"
    run=(runuser -u nobody -- env HOME="$tmp" TMPDIR="$tmp" lintian)
fi
args=(-E --pedantic -I --show-overrides --fail-on "error,warning,info,pedantic" "$deb")
echo "lintian $(lintian --print-version)"
rc=0
out="$("${run[@]}" "${args[@]}" 2>&1)" || rc=$?
printf '%s\n' "$out"
((rc == 0)) || fail "lintian: exit status $rc"
# tags shown at any level (overridden ones, "O:", are accepted)
if grep -Eq '^[EWIPX]: ' <<<"$out"; then
    fail "lintian reported tags"
fi
echo PASS
