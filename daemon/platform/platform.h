/* SPDX-License-Identifier: MIT */
/*
 * Everything operating-system specific in ukeyd, behind one small
 * interface: per-user paths, the single-instance lock, and who is on the
 * other end of a socket. linux.c implements it; a Windows build adds a
 * file here instead of touching the rest.
 */
#ifndef UKD_PLATFORM_H
#define UKD_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk/rc.h"

#define UKD_SYSTEM_CONFIG "/etc/ukeyd/config.json"

/* $XDG_CONFIG_HOME/ukeyd/config.json (default ~/.config/...). */
uk_rc ukd_platform_config_path(char *out, size_t cap);

/* $XDG_RUNTIME_DIR/ukeyd, created 0700 (and checked to be ours, 0700).
 * UK_E_NOT_FOUND when XDG_RUNTIME_DIR is not set. */
uk_rc ukd_platform_runtime_dir(char *out, size_t cap);

/* $XDG_STATE_HOME/ukeyd (default ~/.local/state/ukeyd), created 0700. */
uk_rc ukd_platform_state_dir(char *out, size_t cap);

/* Takes the per-user lock (a file in the runtime dir) for the life of the
 * process. UK_E_LIMIT when another daemon holds it. */
uk_rc ukd_platform_lock(const char *runtime_dir, int *fd);

/* The uid of the process that owns a loopback TCP client socket: the
 * socket whose local end is addr:port (the address the daemon sees as its
 * peer), looked up in /proc/net/tcp or /proc/net/tcp6. family is AF_INET or
 * AF_INET6; addr is 4 or 16 bytes in network order, port in host order.
 * UK_E_NOT_FOUND when no such socket is listed. */
uk_rc ukd_platform_tcp_peer_uid(int family, const uint8_t *addr, uint16_t port, uint32_t *uid);

/* The uid of the process on the other end of a connected Unix socket. */
uk_rc ukd_platform_unix_peer_uid(int fd, uint32_t *uid);

/* The installed data directory that belongs to this executable:
 * <prefix>/share/ukeyd for an executable in <prefix>/bin, so a package
 * (/usr), a source install (~/.local) and a build tree's own install all
 * find their files. UK_E_NOT_FOUND when the executable's path is unknown. */
uk_rc ukd_platform_data_dir(char *out, size_t cap);

/* Our own uid. */
uint32_t ukd_platform_uid(void);

#endif
