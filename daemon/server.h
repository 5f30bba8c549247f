/* SPDX-License-Identifier: MIT */
/*
 * The ukeyd server: the libwebsockets event loop, its listeners (loopback
 * TCP for the hall's pages, a Unix socket for ukeyctl and the tray), the
 * handshake gate, sessions, and the dispatch of requests to the daemon's
 * own handlers or to the token workers.
 */
#ifndef UKD_SERVER_H
#define UKD_SERVER_H

#include <signal.h>

#include "config.h"
#include "uk/rc.h"

/* Runs until *stop becomes non-zero (set it, then call ukd_server_wake).
 * Writes the chosen port and the pid into runtime_dir. Blocks. */
uk_rc ukd_server_run(const ukd_config *cfg, const char *runtime_dir, volatile sig_atomic_t *stop);

/* Wakes the loop from another thread (after setting *stop). */
void ukd_server_wake(void);

#endif
