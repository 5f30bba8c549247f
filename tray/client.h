/* SPDX-License-Identifier: MIT */
/*
 * A JSON-RPC client of ukeyd's Unix socket for a GLib main loop: the same
 * socket and wire form as ukeyctl ($XDG_RUNTIME_DIR/ukeyd/ukeyd.sock, one
 * message per line, docs/protocol.md), but nothing ever blocks. Reads and
 * writes are driven by g_unix_fd_add sources; answers and server events
 * arrive as callbacks on the main loop.
 *
 * Not thread-safe: one client belongs to the thread of the default main
 * context. If a call that takes a callback fails, the callback is never
 * called; once it is accepted, its callback runs exactly once: with the
 * result, with the error object, or with both NULL when the connection
 * closed or no answer came within UKT_CLIENT_TIMEOUT_S.
 */
#ifndef UKT_CLIENT_H
#define UKT_CLIENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "uk/rc.h"

#define UKT_CLIENT_TIMEOUT_S 60
#define UKT_CLIENT_LINE_MAX (1024 * 1024)

typedef struct ukt_client ukt_client;

/* result and error are borrowed for the call only. */
typedef void (*ukt_reply_cb)(const cJSON *result, const cJSON *error, void *ctx);
/* A server notification (no id): method and params, borrowed. */
typedef void (*ukt_event_cb)(const char *method, const cJSON *params, void *ctx);
/* The connection ended (EOF, error, a line too long); not called for
 * ukt_client_disconnect. */
typedef void (*ukt_closed_cb)(void *ctx);

/* A client for the socket at path (copied). Never NULL. */
ukt_client *ukt_client_new(const char *path, ukt_event_cb on_event, ukt_closed_cb on_closed,
                           void *ctx);

/* Frees the client; pending callbacks run with NULL, NULL first. NULL ok. */
void ukt_client_free(ukt_client *c);

/* Connects without blocking. UK_OK when connected; UK_E_NOT_FOUND when
 * the socket does not exist (daemon not running), UK_E_IO when it refuses
 * (stale socket, backlog full). Connecting when connected is UK_OK. */
uk_rc ukt_client_connect(ukt_client *c);

bool ukt_client_connected(const ukt_client *c);

/* Sends a request (params: an object, taken; NULL for none) and arranges
 * for cb to get its answer. UK_E_IO when not connected (params freed). */
uk_rc ukt_client_call(ukt_client *c, const char *method, cJSON *params, ukt_reply_cb cb, void *ctx);

/* Closes the connection; pending callbacks run with NULL, NULL. on_closed
 * is not called. */
void ukt_client_disconnect(ukt_client *c);

/* Splits complete lines off the front of buf[0..*len): calls line(ctx, p,
 * n) for each (without the newline) and moves the rest to the front.
 * Returns false when what remains has no newline and is already max bytes
 * long (a peer that never ends its line). Stops early when line returns
 * false. Pure; exposed for tests. */
bool ukt_lines_take(char *buf, size_t *len, size_t max, bool (*line)(void *, const char *, size_t),
                    void *ctx);

#endif
