/* SPDX-License-Identifier: MIT */
/*
 * Logging with levels. Every line carries its level and the function that
 * logged it. Lines go to stderr (journald under the user unit) and, when one
 * is set, to a sink that may keep recent lines for a support report.
 *
 * Never pass a PIN, PUK, management key or private key material to these
 * functions. Thread-safe: a line is formatted into a local buffer and written
 * with one call.
 */
#ifndef UK_LOG_H
#define UK_LOG_H

#include <stdarg.h>

typedef enum uk_log_level {
    UK_LOG_ERROR = 0,
    UK_LOG_WARN = 1,
    UK_LOG_INFO = 2,
    UK_LOG_DEBUG = 3,
    UK_LOG_TRACE = 4,
} uk_log_level;

/* Receives each formatted line (without a newline). Called on the logging
 * thread; must not log itself. */
typedef void (*uk_log_sink)(uk_log_level level, const char *line, void *ctx);

/* Lines above this level are dropped. Default UK_LOG_INFO. */
void uk_log_set_level(uk_log_level level);
uk_log_level uk_log_get_level(void);

/* Parses "error", "warn", "info", "debug", "trace"; -1 when unknown. */
int uk_log_level_parse(const char *name);

/* Sets a program name prefixed to stderr lines (borrowed, static storage). */
void uk_log_set_ident(const char *ident);

/* Installs (or with NULL removes) the extra sink; stderr output goes on. */
void uk_log_set_sink(uk_log_sink sink, void *ctx);

/* Disables or enables the stderr copy (the sink, when set, still runs). */
void uk_log_set_stderr(int enabled);

void uk_log_write(uk_log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void uk_log_vwrite(uk_log_level level, const char *func, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define uk_log(level, ...) uk_log_write((level), __func__, __VA_ARGS__)
#define uk_err(...) uk_log_write(UK_LOG_ERROR, __func__, __VA_ARGS__)
#define uk_warn(...) uk_log_write(UK_LOG_WARN, __func__, __VA_ARGS__)
#define uk_info(...) uk_log_write(UK_LOG_INFO, __func__, __VA_ARGS__)
#define uk_debug(...) uk_log_write(UK_LOG_DEBUG, __func__, __VA_ARGS__)
#define uk_trace(...) uk_log_write(UK_LOG_TRACE, __func__, __VA_ARGS__)

#endif
