#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs shellcheck over the installer's shell: install.sh, the maintainer scripts
# (POSIX sh, as dpkg runs them) and these tests.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need shellcheck
cd "$UK_SOURCE_DIR/installer"
shellcheck --version | sed -n 2p
shellcheck install.sh
shellcheck -s sh debian/postinst debian/prerm debian/postrm
shellcheck -x -P tests tests/*.sh
echo PASS
