// SPDX-License-Identifier: MIT
/*
 * Start and stop ukeyd (helper.h): systemctl --user when a user manager
 * runs, the daemon binary or a signal otherwise. Children are reaped by
 * GLib child watches, so nothing waits.
 */
#define _GNU_SOURCE
#include "helper.h"

#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uk/file.h"
#include "uk/log.h"

#define UKT_UNIT "ukeyd.service"

struct job {
    char *runtime_dir;
    bool start;
    ukt_helper_done done;
    void *ctx;
};

static void job_finish(struct job *j, bool ok)
{
    if (j->done != NULL) {
        j->done(ok, j->ctx);
    }
    g_free(j->runtime_dir);
    g_free(j);
}

/* A user service manager answers on $XDG_RUNTIME_DIR/systemd/private. */
static bool user_manager(void)
{
    const char *xdg = g_getenv("XDG_RUNTIME_DIR");
    char *path;
    bool yes;

    if (xdg == NULL || xdg[0] == '\0') {
        return false;
    }
    path = g_build_filename(xdg, "systemd", "private", NULL);
    yes = g_file_test(path, G_FILE_TEST_EXISTS);
    g_free(path);
    return yes;
}

long ukt_helper_daemon_pid(const char *runtime_dir)
{
    char *path = g_build_filename(runtime_dir, "pid", NULL);
    char *text = NULL;
    char proc[64];
    char *comm = NULL;
    size_t len = 0;
    struct stat st;
    long pid = 0;
    char *end = NULL;

    if (uk_file_read(path, 64, &text, &len) != UK_OK) {
        goto out;
    }
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno != 0 || end == text || (*end != '\n' && *end != '\0') || pid <= 1) {
        pid = 0;
        goto out;
    }
    /* the pid file can outlive its daemon, and pids are reused: check the
     * process is a ukeyd and ours before anyone signals it */
    snprintf(proc, sizeof(proc), "/proc/%ld", pid);
    if (stat(proc, &st) != 0 || st.st_uid != getuid()) {
        pid = 0;
        goto out;
    }
    snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
    if (!g_file_get_contents(proc, &comm, NULL, NULL) || strcmp(g_strchomp(comm), "ukeyd") != 0) {
        pid = 0;
    }
out:
    g_free(comm);
    free(text);
    g_free(path);
    return pid;
}

/* ukeyd beside our own binary (an install or a build tree), else in PATH. */
static char *find_daemon(void)
{
    char *self = g_file_read_link("/proc/self/exe", NULL);
    char *path = NULL;

    if (self != NULL) {
        char *dir = g_path_get_dirname(self);
        path = g_build_filename(dir, "ukeyd", NULL);
        g_free(dir);
        g_free(self);
        if (!g_file_test(path, G_FILE_TEST_IS_EXECUTABLE)) {
            g_free(path);
            path = NULL;
        }
    }
    if (path == NULL) {
        path = g_find_program_in_path("ukeyd");
    }
    return path;
}

static void new_session(gpointer data)
{
    (void)data;
    /* the daemon outlives the tray and ignores its terminal */
    setsid();
}

static void daemon_exited(GPid pid, gint status, gpointer data)
{
    GError *err = NULL;

    (void)data;
    if (!g_spawn_check_wait_status(status, &err)) {
        uk_warn("ukeyd (pid %d) ended: %s", (int)pid, err->message);
        g_error_free(err);
    } else {
        uk_info("ukeyd (pid %d) ended", (int)pid);
    }
    g_spawn_close_pid(pid);
}

static bool spawn_daemon(void)
{
    char *path = find_daemon();
    char *argv[2] = {path, NULL};
    GError *err = NULL;
    GPid pid;
    bool ok;

    if (path == NULL) {
        uk_err("cannot start ukeyd: not beside ukey-tray and not in PATH");
        return false;
    }
    ok = g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                       new_session, NULL, &pid, &err);
    if (!ok) {
        uk_err("cannot start %s: %s", path, err->message);
        g_error_free(err);
    } else {
        uk_info("started %s (pid %d)", path, (int)pid);
        g_child_watch_add(pid, daemon_exited, NULL);
    }
    g_free(path);
    return ok;
}

static bool signal_daemon(const char *runtime_dir)
{
    long pid = ukt_helper_daemon_pid(runtime_dir);

    if (pid == 0) {
        uk_info("no running ukeyd to stop");
        return true;
    }
    if (kill((pid_t)pid, SIGTERM) != 0) {
        uk_err("cannot stop ukeyd (pid %ld): %s", pid, strerror(errno));
        return false;
    }
    uk_info("sent SIGTERM to ukeyd (pid %ld)", pid);
    return true;
}

static void systemctl_done(GPid pid, gint status, gpointer data)
{
    struct job *j = data;
    bool ok = g_spawn_check_wait_status(status, NULL);

    g_spawn_close_pid(pid);
    uk_info("systemctl --user %s %s: %s", j->start ? "start" : "stop", UKT_UNIT,
            ok ? "done" : "failed");
    if (j->start) {
        job_finish(j, ok || spawn_daemon());
    } else {
        /* a daemon not run by the manager is still up: stop it directly */
        job_finish(j, signal_daemon(j->runtime_dir));
    }
}

static void run(const char *runtime_dir, bool start, ukt_helper_done done, void *ctx)
{
    struct job *j = g_new0(struct job, 1);
    char a0[] = "systemctl";
    char a1[] = "--user";
    char a_start[] = "start";
    char a_stop[] = "stop";
    char a3[] = UKT_UNIT;
    char *argv[] = {a0, a1, start ? a_start : a_stop, a3, NULL};
    GError *err = NULL;
    GPid pid;

    j->runtime_dir = g_strdup(runtime_dir);
    j->start = start;
    j->done = done;
    j->ctx = ctx;
    if (user_manager() &&
        g_spawn_async(NULL, argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                      NULL, NULL, &pid, &err)) {
        g_child_watch_add(pid, systemctl_done, j);
        return;
    }
    if (err != NULL) {
        uk_warn("cannot run systemctl: %s", err->message);
        g_error_free(err);
    }
    job_finish(j, start ? spawn_daemon() : signal_daemon(runtime_dir));
}

void ukt_helper_start(const char *runtime_dir, ukt_helper_done done, void *ctx)
{
    run(runtime_dir, true, done, ctx);
}

void ukt_helper_stop(const char *runtime_dir, ukt_helper_done done, void *ctx)
{
    run(runtime_dir, false, done, ctx);
}
