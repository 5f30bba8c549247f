#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The fallback for desktops without a StatusNotifier host: with no
# watcher on the bus, the tray's icon is a classic XEmbed tray icon, and
# trayer (an XEmbed system tray) shows it. Checked in screenshots of the
# Xvfb display: the "stopped" icon's badge colour, then (fake-ukeyd with a
# certificate in its renewal window) the "expiring" badge colour; a click
# on the icon pops up the menu (the tray logs it) and a screenshot shows
# it. The PNGs are in the test's out/ directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRIP="640x40+0+0" # trayer's panel along the top edge

# waits (bounded retries) until the panel strip shows COLOUR; prints the PNG
wait_colour() { # NAME COLOUR
    local deadline=$((SECONDS + T_TIMEOUT)) png n
    while :; do
        png="$(t_shot "$1")"
        n="$(t_count_colour "$png" "$2" "$STRIP")"
        ((n > 15)) && break
        ((SECONDS < deadline)) || fail "$2 not in the tray in $png ($n pixels)"
        sleep 0.3
    done
    note "screenshot: $png ($n pixels of $2)"
}

t_xvfb 640x300x24
t_start trayer trayer --edge top --align right --widthtype request --height 32 \
    --SetDockType true --SetPartialStrut true --transparent false --tint 0xd6d6d6 --alpha 0
t_tray
t_wait "$T_DIR/tray.log" "no StatusNotifier host: using a classic tray icon"
t_wait "$T_DIR/tray.log" "tray icon embedded in a system tray"
note "daemon not running: the grey 'stopped' badge"
wait_colour xembed-stopped "#616161"
[[ "$(t_count_colour "$UKT_OUT_DIR/xembed-stopped.png" "#f59e0b" "$STRIP")" == 0 ]] ||
    fail "an expiring badge while stopped"

note "a certificate in its renewal window: the amber 'expiring' badge"
t_scene "$T_DIR/scene.json" piv:1002 19
mark="$(t_lines "$T_DIR/tray.log")"
t_fake "$T_DIR/scene.json"
t_wait "$T_DIR/tray.log" "state: expiring" "$mark"
wait_colour xembed-expiring "#f59e0b"

note "a click on the icon pops up the menu"
win="$(xdotool search --onlyvisible --class ukey-tray | head -n 1)"
[[ -n "$win" ]] || fail "no window of class ukey-tray: $(xwininfo -root -tree | head -n 40)"
mark="$(t_lines "$T_DIR/tray.log")"
xdotool mousemove --window "$win" 8 8 click 1
t_wait "$T_DIR/tray.log" "menu shown" "$mark"
# drawn: the menu's light background below the panel (the root is black)
deadline=$((SECONDS + T_TIMEOUT))
until (($(t_count_colour "$(t_shot xembed-menu)" "#ffffff" "640x260+0+40") > 2000)); do
    ((SECONDS < deadline)) || fail "menu not drawn"
    sleep 0.3
done
note "screenshot: $UKT_OUT_DIR/xembed-menu.png"
t_publish "$UKT_OUT_DIR/xembed-menu.png" tray-menu.png
xdotool key Escape
t_stop tray
t_stop fake
echo PASS
