#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installs ukeyd from this source tree for the current user, without root:
# binaries in ~/.local/bin, manual pages in ~/.local/share/man, the systemd
# user unit in ~/.local/share/systemd/user (ExecStart naming
# ~/.local/bin/ukeyd). Enables and starts the unit when a systemd user
# manager is reachable; otherwise says how to start ukeyd by hand.
#
#   installer/install.sh [options]              build (if needed) and install
#   installer/install.sh --uninstall [options]  remove what it installed
#
# Options:
#   --build-dir DIR   use (or make) this build tree (default: build-install
#                     in the source tree; an existing plain build works too)
#   --prefix DIR      install under DIR (default: ~/.local)
#   --origin URL      write ~/.config/ukeyd/config.json allowing URL (only
#                     when that file does not exist yet)
#   --no-systemd      do not touch the systemd user manager
#   -h, --help        this text
#
# What was installed is listed in PREFIX/share/ukeyd/installed-files;
# --uninstall removes exactly those files. Your configuration
# (~/.config/ukeyd) and state (~/.local/state/ukeyd) are left alone.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$src/build-install"
prefix="${HOME:?HOME is not set}/.local"
origin=""
use_systemd=1
mode=install
unit=ukeyd.service

say() {
    printf 'install.sh: %s\n' "$*"
}

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '4,25s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# Is a systemd user manager there to talk to?
user_systemd() {
    ((use_systemd)) && command -v systemctl >/dev/null 2>&1 &&
        systemctl --user show-environment >/dev/null 2>&1
}

parse_args() {
    while (($# > 0)); do
        case "$1" in
        --build-dir)
            build="$(realpath -m "${2:?--build-dir needs a directory}")"
            shift
            ;;
        --prefix)
            prefix="$(realpath -m "${2:?--prefix needs a directory}")"
            shift
            ;;
        --origin)
            origin="${2:?--origin needs a URL}"
            shift
            ;;
        --no-systemd) use_systemd=0 ;;
        --uninstall) mode=uninstall ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            exit 2
            ;;
        esac
        shift
    done
}

build_tree() {
    local cache="$build/CMakeCache.txt"
    if [[ ! -f "$cache" ]]; then
        say "configuring $build"
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    elif grep -Eq '^UK_(ASAN|UBSAN|FUZZ):BOOL=ON$' "$cache"; then
        die "$build is a sanitizer or fuzz build; use a plain one (--build-dir)"
    fi
    say "building ukeyd and ukeyctl in $build"
    cmake --build "$build" -j"$(nproc)" --target ukeyd ukeyctl uk_install_files
}

write_origin_config() {
    local dir="${XDG_CONFIG_HOME:-$HOME/.config}/ukeyd"
    local file="$dir/config.json"
    [[ -n "$origin" ]] || return 0
    if [[ -e "$file" ]]; then
        say "$file exists; not changed (add \"$origin\" to allowedOrigins yourself)"
        return 0
    fi
    mkdir -p "$dir"
    printf '{\n    "allowedOrigins": ["%s"]\n}\n' "$origin" >"$file"
    if ! "$prefix/bin/ukeyd" --check-config --config "$file"; then
        rm -f "$file"
        die "'$origin' is not an origin ukeyd accepts (scheme://host[:port], lowercase)"
    fi
    say "wrote $file"
}

do_install() {
    local unitdir="${XDG_DATA_HOME:-$HOME/.local/share}/systemd/user"
    local list="$prefix/share/ukeyd/installed-files"
    local manifest="$build/install_manifest_ukeyd.txt"

    command -v cmake >/dev/null 2>&1 || die "cmake not found (scripts/deps installs it)"
    build_tree
    # Only the ukeyd component: nothing under /etc or /usr/share/doc.
    rm -f "$manifest"
    UK_SYSTEMD_USER_UNITDIR="$unitdir" \
        cmake --install "$build" --prefix "$prefix" --component ukeyd --strip
    [[ -f "$manifest" ]] || die "cmake --install wrote no manifest ($manifest)"
    mkdir -p "$(dirname "$list")"
    { cat "$manifest" && echo && echo "$list"; } | sed '/^$/d' | sort -u >"$list"
    say "installed $(wc -l <"$list") files (list: $list)"
    write_origin_config

    if user_systemd; then
        systemctl --user daemon-reload
        systemctl --user enable --now "$unit"
        systemctl --user --no-pager status "$unit" || true
        say "ukeyd runs as a systemd user service (systemctl --user status $unit)"
    else
        say "no systemd user manager reachable: start ukeyd yourself, e.g."
        say "  $prefix/bin/ukeyd &    (needs XDG_RUNTIME_DIR)"
        say "or, once you are in a systemd session:"
        say "  systemctl --user daemon-reload && systemctl --user enable --now $unit"
    fi
    case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) say "note: $prefix/bin is not in PATH" ;;
    esac
}

do_uninstall() {
    local list="$prefix/share/ukeyd/installed-files" f
    local files=()
    [[ -f "$list" ]] || die "nothing to uninstall: $list not found (wrong --prefix?)"
    if user_systemd; then
        systemctl --user disable --now "$unit" || true
    fi
    mapfile -t files <"$list"
    for f in "${files[@]}"; do
        [[ -n "$f" ]] || continue
        rm -f -- "$f"
    done
    # Directories stay (bin, share/man, ... may hold other things), except
    # our own.
    rmdir "$prefix/share/ukeyd" 2>/dev/null || true
    if user_systemd; then
        systemctl --user daemon-reload || true
    fi
    say "removed ${#files[@]} files; ~/.config/ukeyd and ~/.local/state/ukeyd are yours to keep or delete"
}

parse_args "$@"
if [[ "$mode" == uninstall ]]; then
    do_uninstall
else
    do_install
fi
