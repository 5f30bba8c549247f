// SPDX-License-Identifier: MIT
/*
 * The Linux platform: XDG directories, an flock() single-instance lock,
 * SO_PEERCRED for Unix sockets and /proc/net/tcp{,6} for loopback TCP peers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"
#include "uk/log.h"

uk_rc ukd_platform_data_dir(char *out, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;
    int w;

    if (n <= 0 || cap == 0) {
        return UK_E_NOT_FOUND;
    }
    exe[n] = '\0';
    /* <prefix>/bin/ukeyd -> <prefix> */
    slash = strrchr(exe, '/');
    if (slash == NULL) {
        return UK_E_NOT_FOUND;
    }
    *slash = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL) {
        return UK_E_NOT_FOUND;
    }
    *slash = '\0';
    w = snprintf(out, cap, "%s/share/ukeyd", exe);
    return w > 0 && (size_t)w < cap ? UK_OK : UK_E_SIZE;
}

uint32_t ukd_platform_uid(void)
{
    return (uint32_t)getuid();
}

static uk_rc join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s%s", a, b);

    return n < 0 || (size_t)n >= cap ? UK_E_SIZE : UK_OK;
}

/* An XDG base directory: $VAR if set and absolute, else $HOME/fallback. */
static uk_rc xdg(const char *var, const char *fallback, char *out, size_t cap)
{
    const char *v = getenv(var);
    const char *home = getenv("HOME");
    int n;

    if (v != NULL && v[0] == '/') {
        return join(out, cap, v, "");
    }
    if (home == NULL || home[0] != '/') {
        return UK_E_NOT_FOUND;
    }
    n = snprintf(out, cap, "%s/%s", home, fallback);
    return n < 0 || (size_t)n >= cap ? UK_E_SIZE : UK_OK;
}

/* Creates dir (and missing parents) 0700 and checks it is ours and 0700. */
static uk_rc private_dir(char *path)
{
    struct stat st;

    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                *p = '/';
                return UK_E_IO;
            }
            *p = '/';
        }
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        uk_err("cannot create %s: %s", path, strerror(errno));
        return UK_E_IO;
    }
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
        uk_err("%s is not a directory owned by this user", path);
        return UK_E_IO;
    }
    if ((st.st_mode & 077) != 0 && chmod(path, 0700) != 0) {
        return UK_E_IO;
    }
    return UK_OK;
}

uk_rc ukd_platform_config_path(char *out, size_t cap)
{
    char base[4096];
    uk_rc rc = xdg("XDG_CONFIG_HOME", ".config", base, sizeof(base));

    return rc != UK_OK ? rc : join(out, cap, base, "/ukeyd/config.json");
}

uk_rc ukd_platform_runtime_dir(char *out, size_t cap)
{
    const char *v = getenv("XDG_RUNTIME_DIR");
    uk_rc rc;

    if (v == NULL || v[0] != '/') {
        return UK_E_NOT_FOUND;
    }
    rc = join(out, cap, v, "/ukeyd");
    return rc != UK_OK ? rc : private_dir(out);
}

uk_rc ukd_platform_state_dir(char *out, size_t cap)
{
    char base[4096];
    uk_rc rc = xdg("XDG_STATE_HOME", ".local/state", base, sizeof(base));

    if (rc == UK_OK) {
        rc = join(out, cap, base, "/ukeyd");
    }
    return rc != UK_OK ? rc : private_dir(out);
}

uk_rc ukd_platform_lock(const char *runtime_dir, int *fd)
{
    char path[4200];

    *fd = -1;
    if (join(path, sizeof(path), runtime_dir, "/ukeyd.lock") != UK_OK) {
        return UK_E_SIZE;
    }
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0) {
        uk_err("cannot open %s: %s", path, strerror(errno));
        return UK_E_IO;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        close(*fd);
        *fd = -1;
        return errno == EWOULDBLOCK ? UK_E_LIMIT : UK_E_IO;
    }
    return UK_OK;
}

uk_rc ukd_platform_unix_peer_uid(int fd, uint32_t *uid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    *uid = (uint32_t)-1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
        return UK_E_IO;
    }
    *uid = (uint32_t)cred.uid;
    return UK_OK;
}

/* Parses the hex address of a /proc/net/tcp{,6} line ("0100007F:ABCD",
 * the words of the address in host byte order as the kernel prints them). */
static bool proc_addr(const char *s, int family, uint8_t *addr, uint16_t *port)
{
    size_t n = family == AF_INET ? 4 : 16;
    const char *colon = strchr(s, ':');
    unsigned int word;
    unsigned int p;

    if (colon == NULL || (size_t)(colon - s) != 2 * n || sscanf(colon + 1, "%4X", &p) != 1) {
        return false;
    }
    for (size_t w = 0; w < n / 4; w++) {
        uint32_t v;
        if (sscanf(s + 8 * w, "%8X", &word) != 1) {
            return false;
        }
        v = (uint32_t)word;
        memcpy(addr + 4 * w, &v, 4); /* the kernel printed the u32 as stored */
    }
    *port = (uint16_t)p;
    return true;
}

uk_rc ukd_platform_tcp_peer_uid(int family, const uint8_t *addr, uint16_t port, uint32_t *uid)
{
    const char *path = family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6";
    size_t alen = family == AF_INET ? 4 : 16;
    char line[512];
    FILE *f;
    uk_rc rc = UK_E_NOT_FOUND;

    *uid = (uint32_t)-1;
    if (family != AF_INET && family != AF_INET6) {
        return UK_E_INVALID_ARG;
    }
    f = fopen(path, "re");
    if (f == NULL) {
        return UK_E_IO;
    }
    /* "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when
     *  retrnsmt   uid ..." */
    while (fgets(line, sizeof(line), f) != NULL) {
        char local[64];
        char remote[64];
        unsigned int st;
        unsigned long owner;
        uint8_t a[16];
        uint16_t p = 0;

        if (sscanf(line, " %*u: %63s %63s %X %*s %*s %*s %lu", local, remote, &st, &owner) != 4) {
            continue;
        }
        if (proc_addr(local, family, a, &p) && p == port && memcmp(a, addr, alen) == 0) {
            *uid = (uint32_t)owner;
            rc = UK_OK;
            break;
        }
    }
    fclose(f);
    return rc;
}
