#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# lintian -E --pedantic on the .deb (and the tray's, when the tree builds
# it): no tag of any level (error, warning, info, pedantic) may be shown. A
# tag that cannot be fixed with CPack is overridden in
# installer/debian/lintian-overrides with its reason; the overridden ones
# are printed too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_deb
need lintian
lint_deb "$UK_DEB"
if [[ "${UK_TRAY:-0}" == 1 ]]; then
    tray="$(tray_deb_path)"
    [[ -f "$tray" ]] || fail "$tray is missing (the package target makes it with the tray)"
    lint_deb "$tray"
fi
echo PASS
