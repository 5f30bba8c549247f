# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared by the package tests (sourced). ctest gives every test:
#   UK_SOURCE_DIR, UK_BUILD_DIR   the source and build trees
#   UK_VERSION                    the project's version (project() in CMake)
# A test exits 77 (ctest: skipped) with a reason when a tool it needs is
# missing, except under CI=true, where a missing tool is a failure:
# scripts/deps installs them all.
set -euo pipefail

: "${UK_SOURCE_DIR:?run the package tests through ctest}"
: "${UK_BUILD_DIR:?run the package tests through ctest}"
: "${UK_VERSION:?run the package tests through ctest}"

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# unavailable REASON: skip (77), or fail under CI.
unavailable() {
    if [[ "${CI:-}" == true ]]; then
        fail "$* (CI=true: scripts/deps should have installed it)"
    fi
    printf 'SKIP: %s\n' "$*"
    exit 77
}

# need TOOL [PACKAGE]: the command must exist.
need() {
    command -v "$1" >/dev/null 2>&1 || unavailable "$1 not found (Debian package ${2:-$1})"
}

need_root() {
    ((EUID == 0)) || unavailable "needs root ($*)"
}

# The .deb the package.build test made: ukeyd_<version>_<arch>.deb.
deb_path() {
    local arch
    arch="$(dpkg --print-architecture)"
    printf '%s/ukeyd_%s_%s.deb\n' "$UK_BUILD_DIR" "$UK_VERSION" "$arch"
}

# The tray's package, ukey-tray_<version>_<arch>.deb (built only when the
# tree builds the tray: UK_TRAY=1 from ctest).
tray_deb_path() {
    local arch
    arch="$(dpkg --print-architecture)"
    printf '%s/ukey-tray_%s_%s.deb\n' "$UK_BUILD_DIR" "$UK_VERSION" "$arch"
}

# lint_deb DEB: lintian -E --pedantic; no tag of any level may be shown
# (overridden ones, "O:", are printed and accepted).
lint_deb() {
    local deb="$1" tmp rc=0 out
    local -a run=(lintian)
    tmp="$(mktemp -d)"
    # lintian warns against running as root; run it as nobody when we can,
    # on a copy of the package it can read
    if ((EUID == 0)) && command -v runuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
        chmod 0777 "$tmp"
        install -m 0644 "$deb" "$tmp/$(basename "$deb")"
        deb="$tmp/$(basename "$deb")"
        run=(runuser -u nobody -- env HOME="$tmp" TMPDIR="$tmp" lintian)
    fi
    echo "lintian $(lintian --print-version) on $(basename "$deb")"
    out="$("${run[@]}" -E --pedantic -I --show-overrides \
        --fail-on "error,warning,info,pedantic" "$deb" 2>&1)" || rc=$?
    rm -rf "$tmp"
    printf '%s\n' "$out"
    ((rc == 0)) || fail "lintian: exit status $rc"
    if grep -Eq '^[EWIPX]: ' <<<"$out"; then
        fail "lintian reported tags"
    fi
}

need_deb() {
    need dpkg-deb dpkg
    UK_DEB="$(deb_path)"
    [[ -f "$UK_DEB" ]] || fail "$UK_DEB is missing (the package.build test makes it)"
}

# wait_for_file PATH SECONDS: bounded wait for a file to appear.
wait_for_file() {
    local path="$1" tries=$(($2 * 20))
    while ((tries-- > 0)); do
        [[ -e "$path" ]] && return 0
        sleep 0.05
    done
    return 1
}
