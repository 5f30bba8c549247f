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
