// SPDX-License-Identifier: MIT
/*
 * monitor-shell: runs the card monitor on a thread and prints each event
 * as "<ms since start> <event> <reader>[ <atr hex>]". A line "quit" on
 * stdin (or EOF) cancels the monitor; it prints "cancelled <ms>" with the
 * time uk_monitor_run took to return. Used by the monitor's integration
 * test and to measure insert-to-event latency.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "uk/monitor.h"

static double t0;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_event(const uk_monitor_event *ev, void *ctx)
{
    (void)ctx;
    printf("%.1f %s", now_ms() - t0, uk_monitor_kind_name(ev->kind));
    if (ev->reader != NULL) {
        printf(" %s", ev->reader);
    }
    if (ev->atr_len > 0) {
        printf(" ");
        for (size_t i = 0; i < ev->atr_len; i++) {
            printf("%02X", ev->atr[i]);
        }
    }
    printf("\n");
    fflush(stdout);
}

static void *run(void *arg)
{
    uk_monitor *m = arg;

    uk_monitor_run(m, on_event, NULL);
    return NULL;
}

int main(void)
{
    uk_monitor *m = NULL;
    pthread_t th;
    char line[64];
    double c0;

    t0 = now_ms();
    if (uk_monitor_open(&m) != UK_OK || pthread_create(&th, NULL, run, m) != 0) {
        return 1;
    }
    while (fgets(line, sizeof(line), stdin) != NULL && strncmp(line, "quit", 4) != 0) {
    }
    c0 = now_ms();
    uk_monitor_cancel(m);
    pthread_join(th, NULL);
    printf("cancelled %.1f\n", now_ms() - c0);
    uk_monitor_close(m);
    return 0;
}
