#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The package in a clean Debian root: mmdebstrap makes a minimal root of
# this machine's release (variant apt: the Essential packages and apt)
# from this machine's Debian mirrors, then, inside it (clean_root_hook.sh),
# `apt-get install ./ukeyd_*.deb` must pull every dependency and the
# binaries must run. Prints how long each part took. Needs root
# (mmdebstrap --mode=root) and the network to the Debian mirror; takes
# about a minute or two. UK_DEBIAN_MIRROR overrides the mirrors (a URL, or
# a sources.list line).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
need_deb
need_root "mmdebstrap --mode=root and chroot"
need mmdebstrap
tmp="$(mktemp -d)"

cleanup() {
    local mounts=() m
    # an interrupted mmdebstrap can leave /dev nodes, /proc and /sys mounted
    # in the root: unmount them (deepest first) and never delete across a
    # mount
    mapfile -t mounts < <(awk -v t="$tmp/" 'index($5, t) == 1 { print $5 }' \
        /proc/self/mountinfo | sort -r)
    for m in "${mounts[@]}"; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# shellcheck source=/dev/null
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[[ -n "$suite" ]] || unavailable "no VERSION_CODENAME in /etc/os-release"

# This machine's Debian entries (SUITE, SUITE-updates, -security,
# -backports), from one-line and deb822 sources, as one-line entries.
debian_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk -v s="$suite" '
            $1 == "deb" {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $i; suite = $(i + 1); comps = ""
                for (j = i + 2; j <= NF && $j !~ /^#/; j++) comps = comps " " $j
                if (suite ~ "^" s "(-updates|-security|-backports)?$")
                    print "deb " uri " " suite comps
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        # stanzas split by blank lines; continuation lines start with space
        awk -v s="$suite" '
            function flush(   n, u, t, k, ok) {
                if (types ~ /(^| )deb( |$)/ && uris != "" && enabled != "no") {
                    n = split(uris, u, " "); k = split(suites, t, " ")
                    for (a = 1; a <= n; a++) for (b = 1; b <= k; b++)
                        if (t[b] ~ "^" s "(-updates|-security|-backports)?$")
                            print "deb " u[a] " " t[b] " " comps
                }
                types = uris = suites = comps = enabled = ""; last = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { if (last != "") { sub(/^[ \t]+/, ""); f[last] = f[last] " " $0 } next }
            {
                key = tolower($0); sub(/:.*/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                last = key
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
                else if (key == "enabled") enabled = tolower(val)
                else last = ""
            }
            END { flush() }' "$f"
    done
}

mirrors=()
if [[ -n "${UK_DEBIAN_MIRROR:-}" ]]; then
    mirrors=("$UK_DEBIAN_MIRROR")
else
    mapfile -t mirrors < <(debian_sources | awk '!seen[$0]++')
fi
((${#mirrors[@]} > 0)) || mirrors=(http://deb.debian.org/debian)
echo "clean root: $suite from:"
printf '  %s\n' "${mirrors[@]}"

export UK_DEB UK_VERSION UK_HOOK_TIMES="$tmp/times"
start=$(date +%s.%N)
mmdebstrap --mode=root --variant=apt \
    --customize-hook="bash '$here/clean_root_hook.sh' \"\$1\"" \
    "$suite" "$tmp/root" "${mirrors[@]}"
end=$(date +%s.%N)

[[ -f "$tmp/times" ]] || fail "the customize hook did not run"
# the hook's lines: hook_start, install_start, install_end (seconds), packages
awk -v start="$start" -v end="$end" '
    { v[$1] = $2 }
    END {
        printf "clean root timing: bootstrap %.1f s, apt-get install of the .deb %.1f s " \
            "(%d packages added), total %.1f s\n", v["hook_start"] - start,
            v["install_end"] - v["install_start"], v["packages"], end - start
    }' "$tmp/times"
echo PASS
