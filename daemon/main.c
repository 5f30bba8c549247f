// SPDX-License-Identifier: MIT
/*
 * ukeyd: the per-user USB-KEY helper daemon. Parses the command line and
 * the configuration, takes the per-user lock, handles SIGTERM/SIGINT on a
 * thread of its own (sigwait), and runs the server.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "env.h"
#include "platform/platform.h"
#include "server.h"
#include "uk/log.h"

#define UKD_VERSION_STRING "ukeyd 0.1.0"

static volatile sig_atomic_t stop_requested;

static void usage(FILE *f)
{
    fprintf(f, "Usage: ukeyd [options]\n"
               "The local helper that lets the online service hall reach your USB-KEY.\n"
               "\n"
               "  --config FILE     read only FILE (default: /etc/ukeyd/config.json, then\n"
               "                    $XDG_CONFIG_HOME/ukeyd/config.json)\n"
               "  --check-config    validate the configuration and exit\n"
               "  --foreground      stay in the foreground (the default; for service managers)\n"
               "  --log-level L     error, warn, info, debug, trace\n"
               "  -h, --help        this text\n"
               "  --version         the version\n");
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;

    while (sigwait(set, &sig) == 0) {
        if (sig == SIGTERM || sig == SIGINT) {
            stop_requested = 1;
            ukd_server_wake();
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    enum { O_CONFIG = 256, O_CHECK, O_FOREGROUND, O_LOG, O_VERSION };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"check-config", no_argument, NULL, O_CHECK},
        {"foreground", no_argument, NULL, O_FOREGROUND},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL;
    bool check_only = false;
    int log_level = -1;
    ukd_config cfg;
    char *err = NULL;
    char runtime[4096];
    sigset_t set;
    pthread_t sig_th;
    int lock_fd = -1;
    int status = 1;
    int c;
    uk_rc rc;

    uk_log_set_ident("ukeyd");
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG:
            config_file = optarg;
            break;
        case O_CHECK:
            check_only = true;
            break;
        case O_FOREGROUND:
            break;
        case O_LOG:
            log_level = uk_log_level_parse(optarg);
            if (log_level < 0) {
                fprintf(stderr, "ukeyd: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case O_VERSION:
            puts(UKD_VERSION_STRING);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    ukd_config_defaults(&cfg);
    if (config_file != NULL) {
        rc = ukd_config_load_file(&cfg, config_file, &err);
        if (rc == UK_E_NOT_FOUND) {
            fprintf(stderr, "ukeyd: %s: no such file\n", config_file);
            return 2;
        }
    } else {
        rc = ukd_config_load_default(&cfg, &err);
    }
    if (rc != UK_OK) {
        fprintf(stderr, "ukeyd: configuration error: %s\n", err ? err : uk_rc_desc(rc));
        free(err);
        ukd_config_free(&cfg);
        return 2;
    }
    if (check_only) {
        /* the lists of known USB-KEYs: a bad one does not stop the daemon
         * (env.check reports it), but a check should name it */
        if (ukd_env_check_lists(&cfg, &err) != UK_OK) {
            fprintf(stderr, "ukeyd: warning: %s\n", err ? err : "a list of known USB-KEYs");
            free(err);
            err = NULL;
        }
        printf("configuration OK: port %d, %zu allowed origin(s)\n", cfg.port, cfg.n_origins);
        ukd_config_free(&cfg);
        return 0;
    }
    uk_log_set_level(log_level >= 0 ? (uk_log_level)log_level : cfg.log_level);
    if (cfg.n_origins == 0) {
        uk_warn("allowedOrigins is empty: no web page can connect (ukeyctl still can)");
    }
    rc = ukd_platform_runtime_dir(runtime, sizeof(runtime));
    if (rc != UK_OK) {
        uk_err("XDG_RUNTIME_DIR is not set or unusable; cannot run");
        goto out;
    }
    rc = ukd_platform_lock(runtime, &lock_fd);
    if (rc == UK_E_LIMIT) {
        fprintf(stderr, "ukeyd: already running for this user (see %s/pid)\n", runtime);
        goto out;
    }
    if (rc != UK_OK) {
        goto out;
    }
    /* signals go to one thread, which sets the flag and wakes the loop */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_create(&sig_th, NULL, signal_thread, &set) != 0) {
        goto out;
    }
    pthread_detach(sig_th);
    rc = ukd_server_run(&cfg, runtime, &stop_requested);
    status = rc == UK_OK ? 0 : 1;
out:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    ukd_config_free(&cfg);
    return status;
}
