// SPDX-License-Identifier: MIT
/*
 * The logger: level filter, one formatted line per call, stderr plus an
 * optional sink. The settings are atomics so any thread may log while
 * another changes the level.
 */
#define _POSIX_C_SOURCE 200809L
#include "uk/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Atomic int log_level = UK_LOG_INFO;
static _Atomic int log_stderr = 1;
static const char *_Atomic log_ident;
static _Atomic(uk_log_sink) log_sink;
static void *_Atomic log_sink_ctx;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void uk_log_set_level(uk_log_level level)
{
    atomic_store(&log_level, (int)level);
}

uk_log_level uk_log_get_level(void)
{
    return (uk_log_level)atomic_load(&log_level);
}

int uk_log_level_parse(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(level_names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

void uk_log_set_ident(const char *ident)
{
    atomic_store(&log_ident, ident);
}

void uk_log_set_sink(uk_log_sink sink, void *ctx)
{
    atomic_store(&log_sink_ctx, ctx);
    atomic_store(&log_sink, sink);
}

void uk_log_set_stderr(int enabled)
{
    atomic_store(&log_stderr, enabled != 0);
}

void uk_log_vwrite(uk_log_level level, const char *func, const char *fmt, va_list ap)
{
    char line[1024];
    int head;
    int body;
    size_t len;
    const char *ident = atomic_load(&log_ident);
    uk_log_sink sink = atomic_load(&log_sink);

    if ((int)level > atomic_load(&log_level) || (int)level < 0) {
        return;
    }
    head = snprintf(line, sizeof(line), "%s%s%s: %s: ", ident ? ident : "", ident ? ": " : "",
                    level_names[level], func ? func : "?");
    if (head < 0 || (size_t)head >= sizeof(line)) {
        return;
    }
    body = vsnprintf(line + head, sizeof(line) - (size_t)head, fmt, ap);
    if (body < 0) {
        return;
    }
    len = strnlen(line, sizeof(line) - 2);
    if (sink) {
        sink(level, line, atomic_load(&log_sink_ctx));
    }
    if (atomic_load(&log_stderr)) {
        /* One write() per line so lines of concurrent threads never interleave. */
        line[len] = '\n';
        ssize_t w = write(STDERR_FILENO, line, len + 1);
        (void)w;
    }
}

void uk_log_write(uk_log_level level, const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    uk_log_vwrite(level, func, fmt, ap);
    va_end(ap);
}
