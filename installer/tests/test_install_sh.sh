#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# installer/install.sh as a user would run it, into a scratch HOME, with
# this build tree: the binaries, manual pages and the unit land under
# ~/.local, the unit's ExecStart names ~/.local/bin/ukeyd and passes
# systemd-analyze --user verify, --origin writes a config ukeyd accepts,
# and --uninstall removes every installed file. The systemd user manager is
# left alone (--no-systemd): a test must not enable units of the machine's
# user.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need cmake
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run"
unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"
script="$UK_SOURCE_DIR/installer/install.sh"

"$script" --build-dir "$UK_BUILD_DIR" --no-systemd --origin https://hall.example.com

l="$HOME/.local"
for f in bin/ukeyd bin/ukeyctl share/man/man1/ukeyd.1.gz share/man/man1/ukeyctl.1.gz \
    share/systemd/user/ukeyd.service share/ukeyd/installed-files; do
    [[ -f "$l/$f" ]] || fail "install.sh did not install ~/.local/$f"
done
[[ -x "$l/bin/ukeyd" ]] || fail "$l/bin/ukeyd is not executable"
v="$("$l/bin/ukeyd" --version)"
[[ "$v" == "ukeyd $UK_VERSION" ]] || fail "installed ukeyd --version: $v"
unit="$l/share/systemd/user/ukeyd.service"
grep -qx "ExecStart=$l/bin/ukeyd --foreground" "$unit" || fail "ExecStart: $(grep ExecStart "$unit")"
"$l/bin/ukeyd" --check-config | grep -q '1 allowed origin' ||
    fail "the --origin config is not read"

if command -v systemd-analyze >/dev/null 2>&1; then
    out="$(MANPATH="$l/share/man" systemd-analyze --user verify "$unit" 2>&1)" ||
        fail "systemd-analyze --user verify: $out"
    [[ -z "$out" ]] || fail "systemd-analyze --user verify: $out"
    echo "the installed unit verifies"
fi

"$script" --uninstall --no-systemd
left="$(find "$l" ! -type d)"
[[ -z "$left" ]] || fail "--uninstall left: $left"
[[ -f "$HOME/.config/ukeyd/config.json" ]] || fail "--uninstall removed the user's config"
echo PASS
