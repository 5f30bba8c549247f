#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds the Debian package with the `package` target (CPack) and checks
# that exactly the expected file came out. The other package tests use it
# (fixture uk_deb).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need dpkg-shlibdeps dpkg-dev
need cmake
deb="$(deb_path)"
rm -f "$deb"
cmake --build "$UK_BUILD_DIR" --target package
[[ -f "$deb" ]] || fail "the package target did not make $deb"
printf 'built %s (%s bytes)\n' "$deb" "$(stat -c %s "$deb")"
echo PASS
