#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The tray as a StatusNotifier host sees it, without pixels: a small
# StatusNotifierWatcher (sni-watcher) prints the icon's name, status and
# title (the tooltip) and its menu on every change. Drives the real ukeyd
# (stopped -> running, no key -> stopped and started from the menu, with
# a user service manager that has no ukeyd unit -> killed and restarted
# behind the tray's back) and, for the states that need a USB-KEY,
# fake-ukeyd (key with a valid certificate -> expiring -> expired -> key
# pulled -> daemon gone). ukeyd closes idle clients after 5 s here, so the
# tray's reconnects happen all along (and must not show as "stopped"). Also: the menu opens the hall and both dialogs,
# "Quit" quits, and the English texts.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAB=$'\t'
W="$T_DIR/watcher.log"
cat >"$XDG_CONFIG_HOME/ukeyd/config.json" <<JSON
{"port": 38485, "hallUrl": "$T_HALL", "idleTimeoutSeconds": 5}
JSON

props_re() { # ICON STATUS TITLE-PREFIX
    printf '^props%sicon=%s%s.*status=%s%stitle=%s' "$TAB" "$1" "$TAB" "$2" "$TAB" "$3"
}

# waits for the icon to reach a state after mark
expect() { # MARK ICON STATUS TITLE-PREFIX
    t_wait "$W" "$(props_re "$2" "$3" "$4")" "$1"
    note "icon: $2 ($3): ${T_MATCH##*title=}"
}

click() { # LABEL
    "$UKT_WATCHER" click "$BUS" "$MENU" "$1" || fail "cannot click '$1'"
}

# A user service manager without a ukeyd unit: the tray asks it first,
# then falls back to running ukeyd itself / signalling it.
mkdir -p "$T_DIR/bin" "$XDG_RUNTIME_DIR/systemd"
: >"$XDG_RUNTIME_DIR/systemd/private"
cat >"$T_DIR/bin/systemctl" <<SH
#!/bin/sh
echo "systemctl \$*" >>"$T_DIR/systemctl.log"
echo "Unit ukeyd.service not found." >&2
exit 5
SH
chmod +x "$T_DIR/bin/systemctl"
export PATH="$T_DIR/bin:$PATH"

t_xvfb
t_start watcher "$UKT_WATCHER" watch
t_wait "$W" '^ready$'

note "daemon not running: stopped"
t_tray --log-level debug
t_wait "$W" "^item${TAB}"
IFS="$TAB" read -r _ BUS ITEM_PATH <<<"$T_MATCH"
expect 0 ukey-tray-stopped Active "USB-KEY 证书助手：证书助手未运行"
[[ "$T_MATCH" == *"${TAB}themepath=$UKT_ICON_DIR${TAB}"* ]] || fail "icon theme path: $T_MATCH"
MENU="${T_MATCH##*menu=}"
[[ "$MENU" == /* ]] || fail "no menu path in: $T_MATCH"
note "item $BUS $ITEM_PATH, menu $MENU"
# the whole menu, start enabled and stop disabled while stopped
t_wait "$W" "^menu-end$"
for want in "0${TAB}证书助手未运行" "1${TAB}打开服务大厅" "1${TAB}环境检测" "1${TAB}证书有效期" \
    "1${TAB}启动证书助手" "0${TAB}停止证书助手" "1${TAB}退出"; do
    t_wait "$W" "^menuitem${TAB}[0-9]+${TAB}${want}$"
done

note "ukeyd started: no key"
mark="$(t_lines "$W")"
t_ukeyd
expect "$mark" ukey-tray-nokey Active "USB-KEY 证书助手：证书助手运行中，未插入 USB-KEY"
t_wait "$W" "^menuitem${TAB}[0-9]+${TAB}1${TAB}停止证书助手$" "$mark"
t_wait "$T_DIR/tray.log" "connected to ukeyd 0\.1\.0"

note "ukeyd closes idle clients (idleTimeoutSeconds 5): the tray reconnects, no flicker"
mark="$(t_lines "$T_DIR/tray.log")"
wmark="$(t_lines "$W")"
t_wait "$T_DIR/tray.log" "reconnected to ukeyd 0\.1\.0" "$mark" 20
if tail -n +"$((wmark + 1))" "$W" | grep -q "icon=ukey-tray-stopped"; then
    fail "the icon showed 'stopped' while the tray reconnected"
fi

note "menu: open the service hall"
click "打开服务大厅"
t_wait "$T_DIR/opened.log" "^${T_HALL//./\\.}$"

note "menu: environment check (the daemon answers: PC/SC down, no reader)"
mark="$(t_lines "$T_DIR/tray.log")"
click "环境检测"
t_wait "$T_DIR/tray.log" "environment check shown \(daemon answered\)" "$mark"
t_shot sni-env-dialog >/dev/null

note "menu: stop the helper (service manager first, then SIGTERM)"
mark="$(t_lines "$W")"
click "停止证书助手"
t_reap ukeyd
((T_STATUS == 0)) || fail "ukeyd stopped from the menu exited with $T_STATUS"
expect "$mark" ukey-tray-stopped Active "USB-KEY 证书助手：证书助手未运行"
grep -q "^systemctl --user stop ukeyd.service$" "$T_DIR/systemctl.log" ||
    fail "the service manager was not asked to stop ukeyd"

note "menu: start the helper (no unit: the tray runs ukeyd itself)"
mark="$(t_lines "$W")"
click "启动证书助手"
expect "$mark" ukey-tray-nokey Active "USB-KEY 证书助手：证书助手运行中"
grep -q "^systemctl --user start ukeyd.service$" "$T_DIR/systemctl.log" ||
    fail "the service manager was not asked to start ukeyd"
pid="$(cat "$XDG_RUNTIME_DIR/ukeyd/pid")"
[[ "$(cat "/proc/$pid/comm")" == ukeyd ]] || fail "pid file $pid is not a ukeyd"

note "ukeyd killed and restarted behind the tray's back"
mark="$(t_lines "$W")"
kill -TERM "$pid"
timeout "$T_TIMEOUT" tail --pid="$pid" -f /dev/null || fail "ukeyd $pid did not stop"
expect "$mark" ukey-tray-stopped Active "USB-KEY 证书助手：证书助手未运行"
mark="$(t_lines "$W")"
t_ukeyd
expect "$mark" ukey-tray-nokey Active "USB-KEY 证书助手：证书助手运行中"
mark="$(t_lines "$W")"
t_stop ukeyd
expect "$mark" ukey-tray-stopped Active "USB-KEY 证书助手：证书助手未运行"

note "fake daemon: a key with a valid certificate"
t_scene "$T_DIR/scene.json" piv:1001 400
mark="$(t_lines "$W")"
t_fake "$T_DIR/scene.json"
expect "$mark" ukey-tray-key Active "USB-KEY 证书助手：已插入 USB-KEY，证书有效期至 "

note "the key is swapped for one whose certificate expires in 19 days"
t_scene "$T_DIR/scene.json" piv:1002 19
mark="$(t_lines "$W")"
kill -HUP "${T_PID[fake]}"
expect "$mark" ukey-tray-expiring NeedsAttention "USB-KEY 证书助手：证书将于 19 天后到期，请在线更新"
[[ "$T_MATCH" == *"${TAB}attention=ukey-tray-expiring${TAB}"* ]] || fail "attention icon: $T_MATCH"
mark="$(t_lines "$T_DIR/tray.log")"
click "证书有效期"
t_wait "$T_DIR/tray.log" "certificate expiry shown" "$mark"

note "... and for one whose certificate expired 3 days ago"
t_scene "$T_DIR/scene.json" piv:1003 -3
mark="$(t_lines "$W")"
kill -HUP "${T_PID[fake]}"
expect "$mark" ukey-tray-expired NeedsAttention "USB-KEY 证书助手：证书已过期，请在 "
[[ "$T_MATCH" == *"${TAB}attention=ukey-tray-expired${TAB}"* ]] || fail "attention icon: $T_MATCH"

note "key pulled, then the daemon goes"
t_scene "$T_DIR/scene.json"
mark="$(t_lines "$W")"
kill -HUP "${T_PID[fake]}"
expect "$mark" ukey-tray-nokey Active "USB-KEY 证书助手：证书助手运行中"
mark="$(t_lines "$W")"
t_stop fake
expect "$mark" ukey-tray-stopped Active "USB-KEY 证书助手：证书助手未运行"

note "menu: quit"
mark="$(t_lines "$W")"
click "退出"
t_reap tray
((T_STATUS == 0)) || fail "ukey-tray exited with $T_STATUS"
t_wait "$W" "^item-gone${TAB}" "$mark"

note "English (LANG=en_US.UTF-8)"
mark="$(t_lines "$W")"
LANG=en_US.UTF-8 t_tray
expect "$mark" ukey-tray-stopped Active "USB-KEY helper: The helper is not running"
t_wait "$W" "^menuitem${TAB}[0-9]+${TAB}1${TAB}Open service hall$" "$mark"
t_stop tray
echo PASS
