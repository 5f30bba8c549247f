#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Renewal reminders through a real notification server (dunst, with a
# CJK font, on Xvfb): a certificate whose window is open (fake-ukeyd)
# brings one notification in Chinese with an "打开服务大厅" action
# (checked on the bus with dbus-monitor and in `dunstctl history`); its
# default action opens the hall; a restart the same day brings none (the
# state file says so); a week later it comes again; within the week it
# does not; and LANG=en_US.UTF-8 gives the English text. Screenshots of
# the Chinese and English notifications go to the test's out/ directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="$XDG_STATE_HOME/ukeyd/tray.json"
TODAY="$(date -u +%F)"
CERT="cert-piv:1002-19"

displayed() {
    dunstctl count displayed
}

history_len() {
    dunstctl history | grep -c '"summary" :' || true
}

# waits (bounded) until dunst shows n notifications
wait_displayed() { # N
    local deadline=$((SECONDS + T_TIMEOUT))
    until [[ "$(displayed)" == "$1" ]]; do
        ((SECONDS < deadline)) || fail "dunst does not show $1 notification(s) (shows $(displayed))"
        sleep 0.2
    done
}

# a screenshot once dunst has drawn its frame (bounded retries)
shot_notification() { # NAME
    local deadline=$((SECONDS + T_TIMEOUT)) png
    while :; do
        png="$(t_shot "$1")"
        (($(t_count_colour "$png" "#2b5797") > 200)) && break
        ((SECONDS < deadline)) || fail "no notification drawn in $png"
        sleep 0.3
    done
    note "screenshot: $png"
}

t_xvfb 800x240x24
t_start dunst dunst -conf "$UK_SOURCE_DIR/tests/tray/dunstrc"
gdbus wait --session --timeout "$T_TIMEOUT" org.freedesktop.Notifications ||
    fail "dunst did not take org.freedesktop.Notifications"
t_start monitor dbus-monitor --session \
    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"
t_wait "$T_DIR/monitor.log" "NameAcquired|member=Notify|^signal"

note "a certificate that expires in 19 days: one notification, in Chinese"
t_scene "$T_DIR/scene.json" piv:1002 19
t_fake "$T_DIR/scene.json"
t_tray
t_wait "$T_DIR/tray.log" "notification shown: 数字证书即将到期 — 张三 的证书将于 .* 到期（还剩 19 天），现在可以在线更新。"
t_wait "$T_DIR/monitor.log" 'string "打开服务大厅"'
grep -q 'string "open-hall"' "$T_DIR/monitor.log" || fail "no open-hall action on the bus"
grep -q 'string "default"' "$T_DIR/monitor.log" || fail "no default action on the bus"
grep -q 'string "数字证书即将到期"' "$T_DIR/monitor.log" || fail "summary not on the bus"
wait_displayed 1
shot_notification notify-zh
t_publish "$UKT_OUT_DIR/notify-zh.png" tray-notification-zh.png

note "its default action opens the service hall and closes it"
dunstctl action 0
t_wait "$T_DIR/opened.log" "^${T_HALL//./\\.}$"
t_wait "$T_DIR/tray.log" "notification action 'default'"
wait_displayed 0
hist="$(dunstctl history)"
[[ "$hist" == *'"data" : "数字证书即将到期"'* ]] || fail "summary not in dunstctl history: $hist"
[[ "$hist" == *'张三 的证书将于'*'还剩 19 天'* ]] || fail "body not in dunstctl history"
((${#hist} > 0 && $(history_len) == 1)) || fail "history has $(history_len) notifications"

note "the state file remembers today, for the day and for the certificate"
grep -q "\"lastNotified\":\"$TODAY\"" "$STATE" || fail "lastNotified: $(cat "$STATE")"
grep -q "\"$CERT\":\"$TODAY\"" "$STATE" || fail "certificate date: $(cat "$STATE")"
[[ "$(stat -c %a "$STATE")" == 600 ]] || fail "state file mode $(stat -c %a "$STATE")"

note "restarted the same day: no second notification"
t_stop tray
mark="$(t_lines "$T_DIR/tray.log")"
t_tray
t_wait "$T_DIR/tray.log" "no notification: (a notification was already shown today|every renewable certificate was reminded within the week)" "$mark"
[[ "$(displayed)" == 0 && "$(history_len)" == 1 ]] || fail "a second notification came"

note "a week after the last one: reminded again"
t_stop tray
week_ago="$(date -u -d '8 days ago' +%F)"
printf '{"version":1,"lastNotified":"%s","certs":{"%s":"%s"}}' "$week_ago" "$CERT" "$week_ago" \
    >"$STATE"
mark="$(t_lines "$T_DIR/tray.log")"
t_tray
t_wait "$T_DIR/tray.log" "notification shown: 数字证书即将到期" "$mark"
wait_displayed 1
dunstctl close
wait_displayed 0

note "three days after the last one: not yet"
t_stop tray
days3="$(date -u -d '3 days ago' +%F)"
printf '{"version":1,"lastNotified":"%s","certs":{"%s":"%s"}}' "$days3" "$CERT" "$days3" >"$STATE"
mark="$(t_lines "$T_DIR/tray.log")"
t_tray
t_wait "$T_DIR/tray.log" "no notification: every renewable certificate was reminded within the week" "$mark"
[[ "$(displayed)" == 0 ]] || fail "reminded within the week"

note "English"
t_stop tray
rm -f "$STATE"
mark="$(t_lines "$T_DIR/monitor.log")"
LANG=en_US.UTF-8 t_tray
t_wait "$T_DIR/monitor.log" 'string "Your certificate expires soon"' "$mark"
t_wait "$T_DIR/monitor.log" 'string "Open service hall"' "$mark"
wait_displayed 1
shot_notification notify-en
t_publish "$UKT_OUT_DIR/notify-en.png" tray-notification-en.png
t_stop tray
t_stop fake
echo PASS
