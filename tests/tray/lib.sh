# SPDX-License-Identifier: MIT
#
# Shared by the tray tests (sourced; run.sh has started a session bus).
# Gives each test private XDG directories, its own Xvfb display, helpers
# to start processes that are always cleaned up (even on failure), and
# waits on log lines that block until the line comes or a bound passes.
#
# Environment (from ctest): UKT_TRAY, UKT_UKEYD, UKT_FAKE, UKT_WATCHER,
# UKT_ICON_DIR, UKT_OUT_DIR, UK_SOURCE_DIR, UK_BUILD_DIR.
set -euo pipefail
: "${UKT_TRAY:?run this through ctest}" "${UKT_UKEYD:?}" "${UKT_FAKE:?}" "${UKT_WATCHER:?}"

T_TIMEOUT="${UKT_TIMEOUT:-30}" # seconds for each wait
T_DIR="$(mktemp -d /tmp/ukt-test-XXXXXX)"
T_NAME="$(basename "${BASH_SOURCE[1]:-test}" .sh)"
declare -A T_PID=()
T_MATCH=""

# Private per-user directories: never the developer's daemon, tray or state.
export XDG_RUNTIME_DIR="$T_DIR/run" XDG_CONFIG_HOME="$T_DIR/config" \
    XDG_STATE_HOME="$T_DIR/state" XDG_DATA_HOME="$T_DIR/data" HOME="$T_DIR/home"
mkdir -p -m 700 "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/ukeyd" "$XDG_STATE_HOME" \
    "$XDG_DATA_HOME/applications" "$HOME"
# Never the machine's pcscd: ukeyd reports the PC/SC service as down.
export PCSCLITE_CSOCK_NAME="$T_DIR/no-pcscd.comm"
# No accessibility bus, no dconf, no gvfs: the session bus starts nothing.
export NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory GIO_USE_VFS=local
export LANG="${LANG_OVERRIDE:-C.UTF-8}" TZ=UTC
unset LC_ALL LC_MESSAGES
# ukeyd started by the tray is found in PATH (the build tree's daemon)
export PATH="$(dirname "$UKT_UKEYD"):$PATH"

T_HALL="https://hall.example.cn/ukey/"
cat >"$XDG_CONFIG_HOME/ukeyd/config.json" <<JSON
{"port": 38485, "hallUrl": "$T_HALL", "logLevel": "info"}
JSON

# A "browser" that writes down what it was asked to open.
cat >"$T_DIR/browser" <<SH
#!/bin/sh
printf '%s\n' "\$1" >>"$T_DIR/opened.log"
SH
chmod +x "$T_DIR/browser"
cat >"$XDG_DATA_HOME/applications/ukt-test-browser.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Test browser
Exec=$T_DIR/browser %u
MimeType=x-scheme-handler/http;x-scheme-handler/https;
NoDisplay=true
DESKTOP
cat >"$XDG_CONFIG_HOME/mimeapps.list" <<MIME
[Default Applications]
x-scheme-handler/http=ukt-test-browser.desktop
x-scheme-handler/https=ukt-test-browser.desktop
MIME
: >"$T_DIR/opened.log"

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

note() {
    printf '== %s\n' "$*"
}

# t_start NAME CMD...: runs CMD in the background, output in $T_DIR/NAME.log.
t_start() {
    local name="$1"
    shift
    "$@" >>"$T_DIR/$name.log" 2>&1 &
    T_PID[$name]=$!
}

t_alive() {
    [[ -n "${T_PID[$1]:-}" ]] && kill -0 "${T_PID[$1]}" 2>/dev/null
}

# t_reap NAME [SECONDS]: waits (bounded) for NAME to exit; sets T_STATUS.
t_reap() {
    local name="$1" to="${2:-$T_TIMEOUT}" pid="${T_PID[$1]:-}"
    T_STATUS=0
    [[ -n "$pid" ]] || return 0
    timeout "$to" tail --pid="$pid" -f /dev/null || fail "$name (pid $pid) did not exit in ${to}s"
    wait "$pid" || T_STATUS=$?
    unset "T_PID[$name]"
}

# t_stop NAME: SIGTERM, a bounded wait, and the exit status must be 0.
t_stop() {
    local name="$1"
    t_alive "$name" || fail "$name is not running"
    kill -TERM "${T_PID[$name]}"
    t_reap "$name"
    ((T_STATUS == 0)) || fail "$name exited with status $T_STATUS (see $T_DIR/$name.log)"
}

# t_lines FILE: how many lines FILE has now (a mark for t_wait).
t_lines() {
    if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi
}

# t_wait FILE REGEX [MARK] [SECONDS]: blocks until a line after line MARK
# of FILE matches REGEX (bash ERE); the line is left in T_MATCH. The file
# is followed as it grows (tail -F), so this returns as soon as it is
# written.
t_wait() {
    local file="$1" re="$2" mark="${3:-0}" to="${4:-$T_TIMEOUT}" line fd tpid
    local deadline=$((SECONDS + to))
    touch "$file"
    exec {fd}< <(exec tail -n +"$((mark + 1))" -F "$file" 2>/dev/null)
    tpid=$!
    while ((SECONDS < deadline)); do
        if IFS= read -r -t 1 -u "$fd" line && [[ "$line" =~ $re ]]; then
            T_MATCH="$line"
            kill "$tpid" 2>/dev/null || true
            exec {fd}<&-
            return 0
        fi
    done
    kill "$tpid" 2>/dev/null || true
    exec {fd}<&-
    echo "--- last lines of $file:" >&2
    tail -n 30 "$file" >&2 || true
    fail "no line matching /$re/ in $(basename "$file") within ${to}s"
}

# t_xvfb [WxHxD]: an X server on a free display; exports DISPLAY.
t_xvfb() {
    local geometry="${1:-800x240x24}" fifo="$T_DIR/display.fifo" num
    mkfifo "$fifo"
    # the redirections belong to the background job: opening the fifo
    # there does not block this shell
    Xvfb -displayfd 3 -screen 0 "$geometry" -nolisten tcp -noreset 3>"$fifo" \
        >>"$T_DIR/xvfb.log" 2>&1 &
    T_PID[xvfb]=$!
    # Xvfb writes the display number when it accepts connections
    if ! IFS= read -r -t "$T_TIMEOUT" num <"$fifo"; then
        fail "Xvfb did not start (see $T_DIR/xvfb.log)"
    fi
    export DISPLAY=":$num"
}

# t_tray [ARGS...]: starts ukey-tray on the test's display.
t_tray() {
    t_start tray "$UKT_TRAY" --icon-dir "$UKT_ICON_DIR" "$@"
}

# t_ukeyd: starts the build tree's ukeyd and waits for its socket.
t_ukeyd() {
    local mark
    mark="$(t_lines "$T_DIR/ukeyd.log")"
    t_start ukeyd "$UKT_UKEYD"
    t_wait "$T_DIR/ukeyd.log" "listening on 127\.0\.0\.1:3848[5-9]" "$mark"
}

# t_scene FILE NAME [TOKENID DAYS...]: writes a fake-ukeyd scene with one
# key holding one certificate for 张三 that expires in DAYS days (negative:
# expired DAYS ago); no TOKENID means no key inserted.
t_scene() {
    local file="$1" token="${2:-}" days="${3:-0}" na nb opens closes
    if [[ -z "$token" ]]; then
        echo '{"tokens": [], "certs": {}}' >"$file"
        return
    fi
    # an hour past the whole days, so "N days left" is N for the whole test
    na="$(date -u -d "$days days 1 hour" +%FT%TZ)"
    nb="$(date -u -d "-400 days" +%FT%TZ)"
    opens="$(date -u -d "$na - 1 month" +%FT%TZ)"
    closes="$(date -u -d "$na + 12 months" +%FT%TZ)"
    cat >"$file" <<JSON
{"tokens": [{"tokenId": "$token", "driver": "piv", "label": "ukey virtual PIV",
             "manufacturer": "Yubico-compatible", "serial": "${token#*:}", "reader": "fake 00 00"}],
 "certs": {"$token": [{"certId": "cert-$token-$days", "slot": "9a",
   "subject": "serialNumber=91140100MA0DEMO01X,OU=信息部,O=山西测试单位,CN=张三",
   "commonName": "张三", "organization": "山西测试单位", "orgUnit": "信息部",
   "issuer": "C=CN,O=ukeyd 测试,CN=测试数字证书认证中心",
   "notBefore": "$nb", "notAfter": "$na", "keyType": "rsa2048",
   "status": "valid", "renewal": {"eligible": true, "opensAt": "$opens",
   "closesAt": "$closes", "daysToExpiry": $days}}]}}
JSON
}

# t_fake SCENE: starts fake-ukeyd with SCENE and waits until it listens.
t_fake() {
    local mark
    mark="$(t_lines "$T_DIR/fake.log")"
    t_start fake "$UKT_FAKE" "$1"
    t_wait "$T_DIR/fake.log" "fake-ukeyd: listening" "$mark"
}

# t_shot NAME: a PNG of the whole display in $UKT_OUT_DIR; prints its path.
t_shot() {
    mkdir -p "$UKT_OUT_DIR"
    import -window root "$UKT_OUT_DIR/$1.png"
    echo "$UKT_OUT_DIR/$1.png"
}

# t_publish PNG NAME: when UKT_SHOTS_DIR is set (e.g. docs/images), a copy
# of PNG trimmed to what is drawn on the black root window, as NAME there.
t_publish() {
    [[ -n "${UKT_SHOTS_DIR:-}" ]] || return 0
    mkdir -p "$UKT_SHOTS_DIR"
    convert "$1" -trim +repage -bordercolor '#3c3c3c' -border 8 "$UKT_SHOTS_DIR/$2"
    note "published $UKT_SHOTS_DIR/$2"
}

# t_count_colour PNG COLOUR [GEOMETRY]: how many pixels of exactly COLOUR
# (#rrggbb) the image has (in the crop GEOMETRY, e.g. 200x40+600+0).
t_count_colour() {
    local png="$1" colour="$2" crop=()
    [[ -n "${3:-}" ]] && crop=(-crop "$3" +repage)
    convert "$png" "${crop[@]}" -alpha off -fill black +opaque "$colour" -fill white \
        -opaque "$colour" -format '%[fx:round(mean*w*h)]' info:
}

t_cleanup() {
    local status=$? name
    # the tray first (it may hold the daemon's socket), Xvfb last
    for name in tray watcher monitor dunst trayer fake ukeyd xvfb; do
        if t_alive "$name"; then
            kill -TERM "${T_PID[$name]}" 2>/dev/null || true
            timeout 10 tail --pid="${T_PID[$name]}" -f /dev/null 2>/dev/null ||
                kill -KILL "${T_PID[$name]}" 2>/dev/null || true
        fi
    done
    # a ukeyd the tray started is not ours by pid: its pid file names it
    if [[ -f "$XDG_RUNTIME_DIR/ukeyd/pid" ]]; then
        local pid
        pid="$(cat "$XDG_RUNTIME_DIR/ukeyd/pid" 2>/dev/null || true)"
        if [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == ukeyd ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" || true
        fi
    fi
    for name in "${!T_PID[@]}"; do
        kill -KILL "${T_PID[$name]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if ((status != 0)); then
        for name in tray watcher fake ukeyd dunst trayer monitor; do
            if [[ -s "$T_DIR/$name.log" ]]; then
                echo "--- $name.log (last 40 lines)" >&2
                tail -n 40 "$T_DIR/$name.log" >&2
            fi
        done
    fi
    if [[ -n "${UKT_KEEP:-}" ]]; then
        echo "kept $T_DIR" >&2
    else
        rm -rf "$T_DIR"
    fi
    exit "$status"
}
trap t_cleanup EXIT
