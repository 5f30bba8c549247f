#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The test rig: a real pcscd with the vsmartcard vpcd reader driver, and
# virtual keys (ukey-vkey) plugged into it. A command and a library.
#
# As a command (DIR holds the config, pid files, logs and card states):
#   rig.sh start DIR        start (or reuse) pcscd; wait for both readers
#   rig.sh stop DIR         stop the cards and the pcscd this rig started
#   rig.sh status DIR       what runs; exit 0 when both readers are up
#   rig.sh card-start DIR NAME [ukey-vkey args...]   plug a key in, leave it
#   rig.sh card-stop DIR NAME                        pull it
#
# As a library, sourced by a test script after the `rig` ctest fixture ran:
#   rig_card_start NAME [ukey-vkey args...]   start a key, wait until inserted
#   rig_card_stop NAME                        SIGTERM it, wait until removed
#   rig_card_wait_gone NAME [STATUS]          wait for a key that exits on its
#                                             own (--drop-after), check STATUS
#   rig_card_reader NAME                      print the key's reader name
#   rig_logs [DIR]                            print the tails of pcscd's log and
#                                             of this shell's keys' logs
#   rig_cleanup                               stop every key this shell started
# Variables: RIG_READER_0 / RIG_READER_1 (the two reader names), RIG_CARD_STATUS
# (exit status of the key last reaped by rig_card_stop / rig_card_wait_gone).
# Sourcing installs an EXIT trap that calls rig_cleanup and, when the script
# failed, prints the last lines of the rig's logs. A script that sets its own
# EXIT trap must call rig_cleanup from it.
#
# Environment (set by the ctest fixture; the command derives defaults from a
# DIR inside a build tree):
#   UK_RIG_DIR      the rig directory
#   UK_VKEY         path to ukey-vkey
#   UK_RIG_WAIT     path to uk-rig-wait
#   UK_RIG_TIMEOUT  seconds for every wait (default 20)
#   UK_RIG_TRACE    1: start keys with --trace (APDUs in DIR/NAME.log)
#
# pcscd's socket is fixed (/run/pcscd/pcscd.comm), so there is one pcscd per
# machine. `start` reuses a pcscd it started earlier (DIR/pcscd.pid), reuses a
# foreign one that already has the rig's readers (and never stops it), and
# otherwise stops the foreign one and starts its own, saying so on stderr.
# A pcscd in another mount namespace (container, isolated run) has its own
# socket directory and is left alone.

# Sourced twice (a helper library and its test both source it): keep the
# first copy's state.
if [[ "${BASH_SOURCE[0]}" != "$0" && -n "${RIG__LOADED:-}" ]]; then
    return 0
fi
RIG__LOADED=1

RIG_READER_0="Yubico ukey-vkey 00 00" # vpcd slot 0, TCP port 35963
RIG_READER_1="Yubico ukey-vkey 00 01" # vpcd slot 1, TCP port 35964
RIG_PORT_0=35963
RIG_PORT_1=35964
RIG_VPCD_LIB=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
RIG_LOG_LINES=30

# Exit status of the last key reaped by rig_card_stop / rig_card_wait_gone
# (empty when it was not a child of this shell).
RIG_CARD_STATUS=""

# Keys started by this shell and still running, for rig_cleanup; every key
# it ever started, for rig_logs.
RIG__CARDS=()
RIG__TOUCHED=()
# pid of the last process started by rig__spawn, every such pid (value: the
# $BASHPID of the shell that started it), and the status rig__reap found.
RIG__SPAWNED=""
declare -gA RIG__CHILDREN=()
RIG__REAPED=""

rig__say() {
    printf 'rig: %s\n' "$*" >&2
}

# Print an error. Returns 0 so that set -e callers go on to print logs;
# the caller returns 1 itself.
rig__err() {
    printf 'rig: error: %s\n' "$*" >&2
}

rig__timeout() {
    printf '%s' "${UK_RIG_TIMEOUT:-20}"
}

# Fill in tool paths from a rig dir that sits in a build tree (BUILD/rig).
rig__defaults() {
    local dir="$1" build
    build="$(cd "$dir/.." 2>/dev/null && pwd)" || build=""
    if [[ -z "${UK_RIG_WAIT:-}" && -n "$build" ]]; then
        UK_RIG_WAIT="$build/tests/rig/uk-rig-wait"
    fi
    if [[ -z "${UK_VKEY:-}" && -n "$build" ]]; then
        UK_VKEY="$build/tests/vkey/ukey-vkey"
    fi
}

rig__need_dir() {
    if [[ -z "${UK_RIG_DIR:-}" ]]; then
        rig__err "UK_RIG_DIR is not set (the ctest fixture sets it)"
        return 1
    fi
    if [[ ! -d "$UK_RIG_DIR" ]]; then
        rig__err "rig directory $UK_RIG_DIR does not exist; start the rig first" \
            "(tests/rig/rig.sh start DIR, or the rig.start test)"
        return 1
    fi
    # Pid files are matched against the --state path: keep it absolute.
    UK_RIG_DIR="$(cd "$UK_RIG_DIR" && pwd)"
}

rig__need_tool() {
    local var="$1" path="${!1:-}"
    if [[ -z "$path" ]]; then
        rig__err "$var is not set"
        return 1
    fi
    if [[ ! -x "$path" ]]; then
        rig__err "$var=$path is not an executable (build the tree first)"
        return 1
    fi
}

# rig__alive PID COMM: PID is a live (not zombie) process named COMM.
rig__alive() {
    local pid="$1" comm="$2" stat state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    state="${stat##*) }"
    state="${state%% *}"
    [[ "$state" != "Z" && "$state" != "X" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]]
}

# rig__is_child PID: PID was started by this shell (so `wait` can give its
# exit status, even after bash reaped it).
rig__is_child() {
    [[ "${RIG__CHILDREN[$1]:-}" == "$BASHPID" ]]
}

# rig__wait_gone PID SECONDS: wait (bounded) until PID has exited.
# A zombie counts as gone: the init of some containers reaps late.
rig__wait_gone() {
    local pid="$1" secs="$2" state
    timeout "$secs" tail --pid="$pid" -s 0.1 -f /dev/null 2>/dev/null || true
    state="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 0
    state="${state##*) }"
    state="${state%% *}"
    [[ "$state" == "Z" || "$state" == "X" ]]
}

# rig__reap PID SECONDS: wait (bounded) for PID to exit. Sets RIG__REAPED to
# its exit status when it is a child of this shell, else to "". Returns 1 when
# it is still running.
rig__reap() {
    local pid="$1" secs="$2" status=0
    RIG__REAPED=""
    rig__wait_gone "$pid" "$secs" || return 1
    if rig__is_child "$pid"; then
        wait "$pid" 2>/dev/null || status=$?
        RIG__REAPED="$status"
    fi
    return 0
}

# rig__spawn LOG CMD...: start CMD in the background, detached from the
# terminal's signals, output appended to LOG. Sets RIG__SPAWNED.
rig__spawn() {
    local log="$1"
    shift
    if [[ "$-" == *m* ]]; then
        # Job control already gives the child its own process group, and
        # setsid would fork, leaving $! pointing at the wrong process.
        "$@" >>"$log" 2>&1 </dev/null &
    else
        setsid "$@" >>"$log" 2>&1 </dev/null &
    fi
    RIG__SPAWNED=$!
    RIG__CHILDREN[$RIG__SPAWNED]="$BASHPID"
}

# rig__race PID CMD...: run CMD (a wait) while watching PID, a child of this
# shell that must stay alive. Returns CMD's status; 99 when PID exited first.
rig__race() {
    local pid="$1" waiter who="" rc=0
    shift
    "$@" &
    waiter=$!
    wait -n -p who "$waiter" "$pid" || rc=$?
    if [[ "$who" == "$waiter" ]]; then
        return "$rc"
    fi
    kill "$waiter" 2>/dev/null || true
    wait "$waiter" 2>/dev/null || true
    return 99
}

rig__log_tail() {
    local f
    for f in "$@"; do
        [[ -s "$f" ]] || continue
        printf '%s\n' "----- last $RIG_LOG_LINES lines of $f -----" >&2
        tail -n "$RIG_LOG_LINES" "$f" >&2
    done
}

# rig_logs [DIR]: print the last lines of pcscd's log and of the logs of the
# keys this shell started (of every key in DIR when it started none).
rig_logs() {
    local dir="${1:-${UK_RIG_DIR:-}}" f name
    local logs=()
    [[ -n "$dir" && -d "$dir" ]] || return 0
    if [[ -f "$dir/pcscd.log" ]]; then
        logs+=("$dir/pcscd.log")
    fi
    if ((${#RIG__TOUCHED[@]} > 0)); then
        for name in "${RIG__TOUCHED[@]}"; do
            logs+=("$dir/$name.log")
        done
    else
        for f in "$dir"/*.log; do
            if [[ -e "$f" && "$f" != "$dir/pcscd.log" ]]; then
                logs+=("$f")
            fi
        done
    fi
    if ((${#logs[@]} > 0)); then
        rig__log_tail "${logs[@]}"
    fi
    return 0
}

# Who holds a vpcd port: the listener and any card connected to it.
rig__port_users() {
    local port="$1"
    ss -Htanp "( sport = :$port or dport = :$port )" 2>/dev/null || true
}

rig__reader_for_port() {
    case "$1" in
    "$RIG_PORT_0") printf '%s\n' "$RIG_READER_0" ;;
    "$RIG_PORT_1") printf '%s\n' "$RIG_READER_1" ;;
    *) return 1 ;;
    esac
}

rig__readers_up() {
    local secs="$1"
    "$UK_RIG_WAIT" --timeout "$secs" --reader "$RIG_READER_0" &&
        "$UK_RIG_WAIT" --timeout "$secs" --reader "$RIG_READER_1"
}

rig__write_config() {
    local dir="$1"
    mkdir -p "$dir/reader.conf.d"
    # FRIENDLYNAME must start with "Yubico": ykcs11 lists only such readers.
    # vpcd gives two slots, "... 00 00" on port 35963 and "... 00 01" on 35964.
    cat >"$dir/reader.conf.d/vpcd" <<EOF
FRIENDLYNAME "Yubico ukey-vkey"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      $RIG_VPCD_LIB
CHANNELID    0x8C7B
EOF
}

# ---------------------------------------------------------------- pcscd ---

rig__pcscd_ours() {
    local dir="$1" pid
    [[ -f "$dir/pcscd.pid" ]] || return 1
    pid="$(<"$dir/pcscd.pid")"
    rig__alive "$pid" pcscd || return 1
    printf '%s\n' "$pid"
}

# pcscd processes other than ours that share our /run/pcscd. A pcscd in
# another mount namespace (a container, an isolated test run) has its own
# socket directory and is none of our business.
rig__pcscd_others() {
    local dir="$1" ours="" p my_ns
    ours="$(rig__pcscd_ours "$dir")" || ours=""
    my_ns="$(readlink /proc/self/ns/mnt 2>/dev/null || true)"
    for p in $(pgrep -x pcscd || true); do
        [[ "$p" == "$ours" ]] && continue
        rig__alive "$p" pcscd || continue
        if [[ -n "$my_ns" && "$(readlink "/proc/$p/ns/mnt" 2>/dev/null || true)" != "$my_ns" ]]; then
            continue
        fi
        printf '%s\n' "$p"
    done
    return 0
}

rig__pcscd_stop_pid() {
    local pid="$1" secs
    secs="$(rig__timeout)"
    kill -TERM "$pid" 2>/dev/null || return 0
    if rig__reap "$pid" "$secs"; then
        return 0
    fi
    rig__say "pcscd $pid ignored SIGTERM for $secs s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    rig__reap "$pid" 5
}

rig_start() {
    local dir="$1" pid secs others port rc=0 p
    secs="$(rig__timeout)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    export UK_RIG_DIR="$dir"
    rig__defaults "$dir"
    rig__need_tool UK_RIG_WAIT || return 1
    if ! command -v pcscd >/dev/null; then
        rig__err "pcscd is not installed (run scripts/deps)"
        return 1
    fi
    if [[ ! -e "$RIG_VPCD_LIB" ]]; then
        rig__err "$RIG_VPCD_LIB is missing (package vsmartcard-vpcd; run scripts/deps)"
        return 1
    fi
    rig__write_config "$dir"

    # 1. A pcscd this rig started before: reuse it if its readers are there.
    if pid="$(rig__pcscd_ours "$dir")"; then
        if rig__readers_up "$secs"; then
            rig__say "reusing pcscd $pid started by this rig"
            return 0
        fi
        rig__say "pcscd $pid from this rig lacks its readers; restarting it"
        rig__pcscd_stop_pid "$pid" || {
            rig__err "could not stop pcscd $pid"
            return 1
        }
    fi
    rm -f "$dir/pcscd.pid" "$dir/pcscd.foreign"

    # 2. A pcscd someone else started.
    others="$(rig__pcscd_others "$dir")"
    if [[ -n "$others" ]]; then
        if rig__readers_up 2 2>/dev/null; then
            printf '%s\n' "$others" >"$dir/pcscd.foreign"
            rig__say "reusing the running pcscd ($(paste -sd " " <<<"$others")): it has" \
                "the rig's readers; this rig will not stop it"
            return 0
        fi
        for p in $others; do
            rig__say "stopping the running pcscd $p: it lacks the rig's readers and" \
                "there can be only one pcscd (socket /run/pcscd/pcscd.comm)"
            if ! rig__pcscd_stop_pid "$p"; then
                rig__err "pcscd $p did not exit; stop it yourself (as root), or if a" \
                    "service manager restarts it: systemctl stop pcscd.socket pcscd.service"
                return 1
            fi
        done
    fi

    # 3. Start ours.
    if [[ ! -w /run/pcscd && ! -w /run ]]; then
        rig__err "pcscd needs to create /run/pcscd; run the rig as root, or once:" \
            "sudo install -d -o $(id -un) /run/pcscd"
        return 1
    fi
    for port in "$RIG_PORT_0" "$RIG_PORT_1"; do
        if [[ -n "$(ss -Hltn "( sport = :$port )" 2>/dev/null)" ]]; then
            rig__err "TCP port $port, which vpcd needs, is already in use:"
            rig__port_users "$port" >&2
            return 1
        fi
    done
    : >"$dir/pcscd.log"
    rig__spawn "$dir/pcscd.log" pcscd --foreground --info -c "$dir/reader.conf.d"
    pid="$RIG__SPAWNED"
    printf '%s\n' "$pid" >"$dir/pcscd.pid"
    rig__race "$pid" rig__readers_up "$secs" || rc=$?
    if ((rc == 0)); then
        rig__say "pcscd $pid is up with readers \"$RIG_READER_0\" and \"$RIG_READER_1\""
        return 0
    fi
    if ((rc == 99)); then
        rig__err "pcscd exited during startup"
    else
        rig__err "pcscd $pid did not show both readers within $secs s"
        kill -TERM "$pid" 2>/dev/null || true
        rig__wait_gone "$pid" 5 || true
    fi
    rm -f "$dir/pcscd.pid"
    rig__log_tail "$dir/pcscd.log"
    return 1
}

rig_stop() {
    local dir="$1" pid rc=0
    if [[ ! -d "$dir" ]]; then
        rig__say "no rig in $dir"
        return 0
    fi
    dir="$(cd "$dir" && pwd)"
    export UK_RIG_DIR="$dir"
    rig__defaults "$dir"
    rig__stop_cards "$dir" "" || rc=1
    if [[ -f "$dir/pcscd.pid" ]]; then
        if pid="$(rig__pcscd_ours "$dir")"; then
            if rig__pcscd_stop_pid "$pid"; then
                rig__say "stopped pcscd $pid"
            else
                rig__err "pcscd $pid did not exit"
                rc=1
            fi
        fi
        rm -f "$dir/pcscd.pid"
    fi
    if [[ -f "$dir/pcscd.foreign" ]]; then
        rig__say "leaving the pcscd this rig found running ($(paste -sd " " "$dir/pcscd.foreign"))"
        rm -f "$dir/pcscd.foreign"
    fi
    return "$rc"
}

rig_status() {
    local dir="$1" pid others f name cpid reader rc=0
    dir="$(cd "$dir" 2>/dev/null && pwd)" || {
        echo "no rig in $1"
        return 1
    }
    export UK_RIG_DIR="$dir"
    rig__defaults "$dir"
    if pid="$(rig__pcscd_ours "$dir")"; then
        echo "pcscd: $pid (started by this rig)"
    elif [[ -f "$dir/pcscd.foreign" ]]; then
        echo "pcscd: $(paste -sd " " "$dir/pcscd.foreign") (found running, reused, not ours)"
    else
        others="$(rig__pcscd_others "$dir")"
        if [[ -n "$others" ]]; then
            echo "pcscd: $(paste -sd " " <<<"$others") (not started by this rig)"
        else
            echo "pcscd: not running"
            rc=1
        fi
    fi
    if ((rc == 0)) && [[ -x "${UK_RIG_WAIT:-}" ]]; then
        echo "readers:"
        "$UK_RIG_WAIT" --timeout 2 --list | sed 's/^/  /' || true
        if ! rig__readers_up 1 >/dev/null 2>&1; then
            echo "  (the rig's readers are missing)"
            rc=1
        fi
    fi
    echo "keys:"
    for f in "$dir"/*.pid; do
        [[ -e "$f" && "$f" != "$dir/pcscd.pid" ]] || continue
        name="$(basename "$f" .pid)"
        cpid="$(<"$f")"
        reader="$(cat "$dir/$name.reader" 2>/dev/null || echo '?')"
        if rig__card_alive "$dir" "$name" "$cpid"; then
            echo "  $name: pid $cpid, reader \"$reader\", state $dir/$name.state"
        else
            echo "  $name: not running (stale pid file), state $dir/$name.state"
        fi
    done
    return "$rc"
}

# ---------------------------------------------------------------- cards ---

rig__card_name_ok() {
    if [[ ! "$1" =~ ^[A-Za-z0-9_.-]+$ || "$1" == "pcscd" ]]; then
        rig__err "bad key name '$1' (letters, digits, _ . -; not 'pcscd')"
        return 1
    fi
}

# rig__card_alive DIR NAME PID: PID is the ukey-vkey of key NAME.
rig__card_alive() {
    local dir="$1" name="$2" pid="$3"
    rig__alive "$pid" ukey-vkey || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qFx -- "$dir/$name.state"
}

rig__forget_card() {
    local name="$1" n
    local keep=()
    for n in "${RIG__CARDS[@]}"; do
        [[ "$n" == "$name" ]] || keep+=("$n")
    done
    RIG__CARDS=("${keep[@]}")
}

rig__started_here_ever() {
    local n
    for n in "${RIG__TOUCHED[@]}"; do
        [[ "$n" == "$1" ]] && return 0
    done
    return 1
}

rig__started_here() {
    local n
    for n in "${RIG__CARDS[@]}"; do
        [[ "$n" == "$1" ]] && return 0
    done
    return 1
}

# rig__card_halt DIR NAME: SIGTERM key NAME, wait for its exit and for its
# reader to empty; check its exit status when it is our child.
rig__card_halt() {
    local dir="$1" name="$2" pid reader secs rc=0
    secs="$(rig__timeout)"
    RIG_CARD_STATUS=""
    pid="$(cat "$dir/$name.pid" 2>/dev/null)" || {
        rig__err "no key '$name' in $dir"
        return 1
    }
    reader="$(cat "$dir/$name.reader" 2>/dev/null)" || reader=""
    if ! rig__card_alive "$dir" "$name" "$pid"; then
        rig__reap "$pid" 1 || true
        RIG_CARD_STATUS="$RIG__REAPED"
        rm -f "$dir/$name.pid"
        rig__err "key '$name' (pid $pid) had already exited${RIG_CARD_STATUS:+ with status $RIG_CARD_STATUS}"
        rig__log_tail "$dir/$name.log"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! rig__reap "$pid" "$secs"; then
        rig__err "key '$name' (pid $pid) did not exit within $secs s of SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        rig__reap "$pid" 5 || true
        rm -f "$dir/$name.pid"
        rig__log_tail "$dir/$name.log"
        return 1
    fi
    RIG_CARD_STATUS="$RIG__REAPED"
    rm -f "$dir/$name.pid"
    if [[ -n "$RIG_CARD_STATUS" && "$RIG_CARD_STATUS" != 0 ]]; then
        rig__err "key '$name' exited with status $RIG_CARD_STATUS on SIGTERM (expected 0)"
        rig__log_tail "$dir/$name.log"
        rc=1
    fi
    if [[ -n "$reader" && -n "${UK_RIG_WAIT:-}" ]] && rig__pcscd_up "$dir"; then
        if ! "$UK_RIG_WAIT" --timeout "$secs" --card-absent "$reader"; then
            rig__err "reader \"$reader\" still shows a card after key '$name' exited"
            rig__log_tail "$dir/pcscd.log" "$dir/$name.log"
            rc=1
        fi
    fi
    return "$rc"
}

# rig__pcscd_up DIR: a pcscd serves our /run/pcscd.
rig__pcscd_up() {
    [[ -S /run/pcscd/pcscd.comm ]] || return 1
    [[ -n "$(rig__pcscd_ours "$1" || true)$(rig__pcscd_others "$1")" ]]
}

# Stop every key with a pid file in DIR (used by start and stop).
rig__stop_cards() {
    local dir="$1" what="$2" f name pid rc=0
    for f in "$dir"/*.pid; do
        [[ -e "$f" && "$f" != "$dir/pcscd.pid" ]] || continue
        name="$(basename "$f" .pid)"
        pid="$(<"$f")"
        if rig__card_alive "$dir" "$name" "$pid"; then
            rig__say "stopping ${what}key '$name' (pid $pid)"
            rig__card_halt "$dir" "$name" || rc=1
        else
            rm -f "$f"
        fi
    done
    return "$rc"
}

# rig__reader_free DIR READER: make sure nobody else's key sits in READER.
# Keys of this rig dir that this shell did not start are leftovers of an
# earlier test (tests hold RESOURCE_LOCK vpcd) and are stopped.
rig__reader_free() {
    local dir="$1" reader="$2" port="$3" f name pid
    if "$UK_RIG_WAIT" --timeout 0 --card-absent "$reader" 2>/dev/null; then
        return 0
    fi
    for f in "$dir"/*.pid; do
        [[ -e "$f" && "$f" != "$dir/pcscd.pid" ]] || continue
        name="$(basename "$f" .pid)"
        pid="$(<"$f")"
        [[ "$(cat "$dir/$name.reader" 2>/dev/null)" == "$reader" ]] || continue
        rig__started_here "$name" && continue
        if rig__card_alive "$dir" "$name" "$pid"; then
            rig__say "stopping leftover key '$name' (pid $pid) in \"$reader\""
            rig__card_halt "$dir" "$name" || true
        fi
    done
    # A key that has just exited may still show for a moment (pcscd notices
    # a removal within about half a second): give it that, event-driven.
    if "$UK_RIG_WAIT" --timeout 3 --card-absent "$reader" 2>/dev/null; then
        return 0
    fi
    rig__err "reader \"$reader\" already has a card that this shell did not start" \
        "(another ukey-vkey? scripts/run-demo stop; tests/rig/rig.sh stop DIR). Port $port:"
    rig__port_users "$port" >&2
    return 1
}

rig_card_start() {
    local name="${1:-}" dir port="" reader secs pid rc=0 i
    local args=()
    if [[ -z "$name" ]]; then
        rig__err "usage: rig_card_start NAME [ukey-vkey args...]"
        return 1
    fi
    shift
    rig__card_name_ok "$name" || return 1
    rig__need_dir || return 1
    dir="$UK_RIG_DIR"
    rig__defaults "$dir"
    rig__need_tool UK_VKEY || return 1
    rig__need_tool UK_RIG_WAIT || return 1
    secs="$(rig__timeout)"
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
        --port) port="${args[i + 1]:-}" ;;
        --port=*) port="${args[i]#--port=}" ;;
        esac
    done
    if [[ -z "$port" ]]; then
        port="$RIG_PORT_0"
        args+=(--port "$port")
    fi
    reader="$(rig__reader_for_port "$port")" || {
        rig__err "key '$name': --port must be $RIG_PORT_0 or $RIG_PORT_1, not '$port'"
        return 1
    }
    if [[ "${UK_RIG_TRACE:-0}" == 1 ]]; then
        args+=(--trace)
    fi
    if [[ -f "$dir/$name.pid" ]] && rig__card_alive "$dir" "$name" "$(<"$dir/$name.pid")"; then
        if rig__started_here "$name"; then
            rig__err "key '$name' is already running (pid $(<"$dir/$name.pid"))"
            return 1
        fi
        rig__say "stopping leftover key '$name' (pid $(<"$dir/$name.pid"))"
        rig__card_halt "$dir" "$name" || true
    fi
    rm -f "$dir/$name.pid"
    rig__reader_free "$dir" "$reader" "$port" || return 1

    printf '%s\n' "----- $(date '+%F %T') start: ${args[*]}" >>"$dir/$name.log"
    rig__spawn "$dir/$name.log" "$UK_VKEY" --state "$dir/$name.state" "${args[@]}"
    pid="$RIG__SPAWNED"
    printf '%s\n' "$pid" >"$dir/$name.pid"
    printf '%s\n' "$reader" >"$dir/$name.reader"
    RIG__CARDS+=("$name")
    rig__started_here_ever "$name" || RIG__TOUCHED+=("$name")

    rig__race "$pid" "$UK_RIG_WAIT" --timeout "$secs" --card-present "$reader" || rc=$?
    if ((rc == 0)); then
        return 0
    fi
    if ((rc == 99)); then
        rig__reap "$pid" 1 || true
        rig__err "key '$name' exited with status ${RIG__REAPED:-?} before it was inserted"
    else
        rig__err "key '$name' (pid $pid) was not seen in \"$reader\" within $secs s"
        kill -TERM "$pid" 2>/dev/null || true
        rig__reap "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
    rig__forget_card "$name"
    rig__log_tail "$dir/pcscd.log" "$dir/$name.log"
    return 1
}

rig_card_stop() {
    local name="${1:-}" rc=0
    if [[ -z "$name" ]]; then
        rig__err "usage: rig_card_stop NAME"
        return 1
    fi
    rig__card_name_ok "$name" || return 1
    rig__need_dir || return 1
    rig__defaults "$UK_RIG_DIR"
    rig__card_halt "$UK_RIG_DIR" "$name" || rc=1
    rig__forget_card "$name"
    return "$rc"
}

rig_card_wait_gone() {
    local name="${1:-}" want="${2:-}" dir pid reader secs
    if [[ -z "$name" ]]; then
        rig__err "usage: rig_card_wait_gone NAME [EXPECTED_STATUS]"
        return 1
    fi
    rig__card_name_ok "$name" || return 1
    rig__need_dir || return 1
    dir="$UK_RIG_DIR"
    rig__defaults "$dir"
    rig__need_tool UK_RIG_WAIT || return 1
    secs="$(rig__timeout)"
    RIG_CARD_STATUS=""
    pid="$(cat "$dir/$name.pid" 2>/dev/null)" || {
        rig__err "no key '$name' in $dir"
        return 1
    }
    reader="$(cat "$dir/$name.reader" 2>/dev/null)" || reader=""
    if ! rig__reap "$pid" "$secs"; then
        rig__err "key '$name' (pid $pid) is still running after $secs s"
        rig__log_tail "$dir/$name.log"
        return 1
    fi
    RIG_CARD_STATUS="$RIG__REAPED"
    rm -f "$dir/$name.pid"
    rig__forget_card "$name"
    if [[ -n "$want" && "$RIG_CARD_STATUS" != "$want" ]]; then
        rig__err "key '$name' exited with status ${RIG_CARD_STATUS:-unknown}, expected $want"
        rig__log_tail "$dir/$name.log"
        return 1
    fi
    if [[ -n "$reader" ]] && ! "$UK_RIG_WAIT" --timeout "$secs" --card-absent "$reader"; then
        rig__err "reader \"$reader\" still shows a card after key '$name' exited"
        rig__log_tail "$dir/pcscd.log" "$dir/$name.log"
        return 1
    fi
    return 0
}

rig_card_reader() {
    local name="${1:-}"
    rig__need_dir || return 1
    cat "$UK_RIG_DIR/$name.reader" 2>/dev/null || {
        rig__err "no key '$name' in $UK_RIG_DIR"
        return 1
    }
}

rig_cleanup() {
    local name rc=0
    [[ -n "${UK_RIG_DIR:-}" && -d "${UK_RIG_DIR:-/nonexistent}" ]] || return 0
    for name in "${RIG__CARDS[@]}"; do
        if [[ -f "$UK_RIG_DIR/$name.pid" ]]; then
            rig__card_halt "$UK_RIG_DIR" "$name" || rc=1
        fi
    done
    RIG__CARDS=()
    return "$rc"
}

rig__on_exit() {
    local rc=$?
    trap - EXIT
    rig_cleanup || {
        if ((rc == 0)); then
            rc=1
        fi
    }
    if ((rc != 0)); then
        rig__say "failed (status $rc); rig logs follow"
        rig_logs "${UK_RIG_DIR:-}"
    fi
    exit "$rc"
}

# ------------------------------------------------------------------ main ---

rig__main() {
    local cmd="${1:-}" dir="${2:-}"
    if [[ -z "$cmd" || -z "$dir" ]]; then
        echo "usage: rig.sh start|stop|status DIR" >&2
        echo "       rig.sh card-start DIR NAME [ukey-vkey args...]" >&2
        echo "       rig.sh card-stop DIR NAME" >&2
        return 2
    fi
    shift 2
    case "$cmd" in
    start) rig_start "$dir" ;;
    stop) rig_stop "$dir" ;;
    status) rig_status "$dir" ;;
    card-start | card-stop)
        if [[ ! -d "$dir" ]]; then
            rig__err "no rig in $dir; run: rig.sh start $dir"
            return 1
        fi
        UK_RIG_DIR="$(cd "$dir" && pwd)"
        export UK_RIG_DIR
        if [[ "$cmd" == card-start ]]; then
            # The key outlives this command; card-stop or stop pulls it.
            rig_card_start "$@" || return 1
            rig__say "key '$1' is in \"$(rig_card_reader "$1")\" (pid $(<"$UK_RIG_DIR/$1.pid"))"
        else
            rig_card_stop "$@"
        fi
        ;;
    *)
        echo "rig.sh: unknown command '$cmd'" >&2
        return 2
        ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    rig__main "$@"
else
    trap rig__on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
fi
