/* SPDX-License-Identifier: MIT */
/*
 * Starting and stopping ukeyd from the tray's menu, without blocking the
 * main loop.
 *
 * With a user service manager (systemd --user: its private socket exists
 * in $XDG_RUNTIME_DIR/systemd/), start runs `systemctl --user start
 * ukeyd.service`; when that fails (no such unit, manager gone) it falls
 * back to running ukeyd itself: the ukeyd beside the tray's own binary,
 * else the first in PATH, in a session of its own. Stop runs `systemctl
 * --user stop ukeyd.service` when there is a manager, then sends SIGTERM to
 * the pid in $XDG_RUNTIME_DIR/ukeyd/pid if that process is still a ukeyd of
 * this user (a daemon started by hand or by the tray).
 *
 * Main-loop thread only. done (may be NULL) runs exactly once: before the
 * call returns when no systemctl runs, else from a child watch.
 */
#ifndef UKT_HELPER_H
#define UKT_HELPER_H

#include <stdbool.h>

typedef void (*ukt_helper_done)(bool ok, void *ctx);

/* runtime_dir: $XDG_RUNTIME_DIR/ukeyd (copied). */
void ukt_helper_start(const char *runtime_dir, ukt_helper_done done, void *ctx);
void ukt_helper_stop(const char *runtime_dir, ukt_helper_done done, void *ctx);

/* The pid in runtime_dir/pid when it is a live ukeyd process of this
 * user, else 0. Blocking but quick (two small files under /proc). */
long ukt_helper_daemon_pid(const char *runtime_dir);

#endif
