# SPDX-License-Identifier: MIT
#
# Helpers for integration tests that drive token-shell as a coprocess:
#   start_shell READER        start it on a reader
#   t CMD...                  send one command, print its one-line answer
#   expect CMD... -- REGEX    the answer must match, else fail
#   quit_shell                ask it to quit and reap it
#   fingerprint CERT.pem      SHA-256 of the certificate's DER, hex
# Needs: the rig library sourced, $work (a temp dir), fail().
# shellcheck shell=bash

SHELL_BIN="$UK_BUILD_DIR/tests/integration/token-shell"
shell_pid=""

start_shell() {
    coproc TS { "$SHELL_BIN" "$1" 2>>"$work/shell.log"; }
    shell_pid=$TS_PID
}

quit_shell() {
    printf 'quit\n' >&"${TS[1]}"
    wait "$shell_pid" 2>/dev/null || true
    shell_pid=""
}

t() {
    local line
    printf '%s\n' "$*" >&"${TS[1]}"
    IFS= read -r -t 120 -u "${TS[0]}" line ||
        fail "no answer to '$1' (token-shell stderr: $(cat "$work/shell.log"))"
    printf '%s\n' "$line"
}

expect() {
    local args=() out
    while [[ "$1" != "--" ]]; do
        args+=("$1")
        shift
    done
    shift
    out="$(t "${args[@]}")"
    [[ "$out" =~ $1 ]] || fail "'${args[*]}' answered '$out', expected /$1/"
    printf '  %s\n' "$out"
}

fingerprint() {
    openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1
}

# shellcheck disable=SC2317 # called from the EXIT trap
shell_cleanup() {
    rig_cleanup
    [[ -z "${shell_pid:-}" ]] || kill "$shell_pid" 2>/dev/null || true
    rm -rf "$work"
}
