// SPDX-License-Identifier: MIT
/*
 * ukeyd's Unix socket on a GLib main loop (client.h). One non-blocking
 * socket, one read source for its lifetime and a write source only while
 * output is queued; pending calls in a hash table by id, each with its own
 * timeout source.
 */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "uk/log.h"

struct pending {
    ukt_client *client;
    int id;
    ukt_reply_cb cb;
    void *ctx;
    guint timeout_id;
};

struct ukt_client {
    char *path;
    ukt_event_cb on_event;
    ukt_closed_cb on_closed;
    void *ctx;
    int fd;
    guint in_id;
    guint out_id;
    GByteArray *rx;
    GByteArray *tx;
    GHashTable *pending; /* int id -> struct pending */
    int next_id;
    unsigned generation; /* bumped by every disconnect */
};

bool ukt_lines_take(char *buf, size_t *len, size_t max, bool (*line)(void *, const char *, size_t),
                    void *ctx)
{
    size_t start = 0;
    bool go = true;

    while (go && start < *len) {
        char *nl = memchr(buf + start, '\n', *len - start);
        if (nl == NULL) {
            break;
        }
        go = line(ctx, buf + start, (size_t)(nl - (buf + start)));
        start = (size_t)(nl - buf) + 1;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    return !(go && *len >= max && memchr(buf, '\n', *len) == NULL);
}

ukt_client *ukt_client_new(const char *path, ukt_event_cb on_event, ukt_closed_cb on_closed,
                           void *ctx)
{
    ukt_client *c = g_new0(ukt_client, 1);

    c->path = g_strdup(path);
    c->on_event = on_event;
    c->on_closed = on_closed;
    c->ctx = ctx;
    c->fd = -1;
    c->rx = g_byte_array_new();
    c->tx = g_byte_array_new();
    c->pending = g_hash_table_new(g_direct_hash, g_direct_equal);
    c->next_id = 1;
    return c;
}

bool ukt_client_connected(const ukt_client *c)
{
    return c->fd >= 0;
}

/* Runs every pending callback with NULL, NULL (the connection is gone). */
static void fail_pending(ukt_client *c)
{
    GHashTable *old = c->pending;
    GHashTableIter it;
    gpointer value;

    /* callbacks may issue new calls: they go into a fresh table */
    c->pending = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_hash_table_iter_init(&it, old);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct pending *p = value;
        g_source_remove(p->timeout_id);
        p->cb(NULL, NULL, p->ctx);
        g_free(p);
    }
    g_hash_table_destroy(old);
}

static void close_fd(ukt_client *c)
{
    if (c->in_id != 0) {
        g_source_remove(c->in_id);
        c->in_id = 0;
    }
    if (c->out_id != 0) {
        g_source_remove(c->out_id);
        c->out_id = 0;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    g_byte_array_set_size(c->rx, 0);
    g_byte_array_set_size(c->tx, 0);
    c->generation++;
}

void ukt_client_disconnect(ukt_client *c)
{
    close_fd(c);
    fail_pending(c);
}

/* The peer went away: tell the owner after the pending calls. */
static void lost(ukt_client *c, const char *why)
{
    uk_debug("connection to ukeyd closed: %s", why);
    ukt_client_disconnect(c);
    if (c->on_closed != NULL) {
        c->on_closed(c->ctx);
    }
}

void ukt_client_free(ukt_client *c)
{
    if (c == NULL) {
        return;
    }
    ukt_client_disconnect(c);
    g_hash_table_destroy(c->pending);
    g_byte_array_free(c->rx, TRUE);
    g_byte_array_free(c->tx, TRUE);
    g_free(c->path);
    g_free(c);
}

static void dispatch(ukt_client *c, const char *line, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength(line, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    struct pending *p;

    if (!cJSON_IsObject(msg)) {
        uk_warn("ukeyd sent a line that is not a JSON object (%zu bytes)", len);
    } else if (cJSON_IsNumber(id)) {
        p = g_hash_table_lookup(c->pending, GINT_TO_POINTER(id->valueint));
        if (p != NULL) {
            g_hash_table_remove(c->pending, GINT_TO_POINTER(id->valueint));
            g_source_remove(p->timeout_id);
            p->cb(cJSON_GetObjectItemCaseSensitive(msg, "result"),
                  cJSON_GetObjectItemCaseSensitive(msg, "error"), p->ctx);
            g_free(p);
        }
    } else if (cJSON_IsString(method) && c->on_event != NULL) {
        c->on_event(method->valuestring, cJSON_GetObjectItemCaseSensitive(msg, "params"), c->ctx);
    }
    cJSON_Delete(msg);
}

static bool collect_line(void *ctx, const char *p, size_t n)
{
    g_ptr_array_add(ctx, g_bytes_new(p, n));
    return true;
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data)
{
    ukt_client *c = data;
    char buf[16384];
    ssize_t n;
    size_t len;
    GPtrArray *lines;
    unsigned gen;
    bool ok;

    (void)cond;
    n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        c->in_id = 0; /* this source ends with G_SOURCE_REMOVE below */
        lost(c, n == 0 ? "end of stream" : strerror(errno));
        return G_SOURCE_REMOVE;
    }
    g_byte_array_append(c->rx, (const guint8 *)buf, (guint)n);
    len = c->rx->len;
    lines = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    ok = ukt_lines_take((char *)c->rx->data, &len, UKT_CLIENT_LINE_MAX, collect_line, lines);
    g_byte_array_set_size(c->rx, (guint)len);
    if (!ok) {
        g_ptr_array_unref(lines);
        c->in_id = 0;
        lost(c, "a line longer than the limit");
        return G_SOURCE_REMOVE;
    }
    /* a callback may disconnect (or reconnect): stop at the first sign of it */
    gen = c->generation;
    for (guint i = 0; i < lines->len && c->generation == gen; i++) {
        gsize size = 0;
        const char *p = g_bytes_get_data(g_ptr_array_index(lines, i), &size);
        dispatch(c, p, size);
    }
    g_ptr_array_unref(lines);
    return c->generation == gen ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data);

/* Writes what is queued; arms the write source for what is left. */
static bool flush(ukt_client *c)
{
    while (c->tx->len > 0) {
        ssize_t n = send(c->fd, c->tx->data, c->tx->len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            if (c->out_id == 0) {
                c->out_id = g_unix_fd_add(c->fd, G_IO_OUT, on_writable, c);
            }
            return true;
        }
        if (n <= 0) {
            return false;
        }
        g_byte_array_remove_range(c->tx, 0, (guint)n);
    }
    if (c->out_id != 0) {
        g_source_remove(c->out_id);
        c->out_id = 0;
    }
    return true;
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data)
{
    ukt_client *c = data;

    (void)fd;
    (void)cond;
    c->out_id = 0; /* flush re-arms if needed; this source ends here */
    if (!flush(c)) {
        lost(c, strerror(errno));
    }
    return G_SOURCE_REMOVE;
}

uk_rc ukt_client_connect(ukt_client *c)
{
    struct sockaddr_un a;
    int fd;

    if (c->fd >= 0) {
        return UK_OK;
    }
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (strlen(c->path) >= sizeof(a.sun_path)) {
        return UK_E_SIZE;
    }
    memcpy(a.sun_path, c->path, strlen(c->path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return UK_E_IO;
    }
    /* a Unix stream connect completes at once or fails; it never waits on the peer */
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        return e == ENOENT ? UK_E_NOT_FOUND : UK_E_IO;
    }
    c->fd = fd;
    c->in_id = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, c);
    return UK_OK;
}

static gboolean on_timeout(gpointer data)
{
    struct pending *p = data;
    ukt_client *c = p->client;

    uk_warn("ukeyd did not answer request %d within %d s", p->id, UKT_CLIENT_TIMEOUT_S);
    g_hash_table_remove(c->pending, GINT_TO_POINTER(p->id));
    p->cb(NULL, NULL, p->ctx);
    g_free(p);
    return G_SOURCE_REMOVE;
}

uk_rc ukt_client_call(ukt_client *c, const char *method, cJSON *params, ukt_reply_cb cb, void *ctx)
{
    cJSON *req = NULL;
    char *text = NULL;
    struct pending *p;
    int id;
    uk_rc rc = UK_E_NOMEM;

    if (c->fd < 0) {
        cJSON_Delete(params);
        return UK_E_IO;
    }
    id = c->next_id++;
    if (c->next_id > (1 << 30)) {
        c->next_id = 1;
    }
    req = cJSON_CreateObject();
    if (req == NULL || cJSON_AddStringToObject(req, "jsonrpc", "2.0") == NULL ||
        cJSON_AddNumberToObject(req, "id", id) == NULL ||
        cJSON_AddStringToObject(req, "method", method) == NULL) {
        cJSON_Delete(params);
        goto out;
    }
    if (params != NULL && !cJSON_AddItemToObject(req, "params", params)) {
        cJSON_Delete(params);
        goto out;
    }
    text = cJSON_PrintUnformatted(req);
    if (text == NULL) {
        goto out;
    }
    g_byte_array_append(c->tx, (const guint8 *)text, (guint)strlen(text));
    g_byte_array_append(c->tx, (const guint8 *)"\n", 1);
    if (!flush(c)) {
        lost(c, strerror(errno));
        rc = UK_E_IO;
        goto out;
    }
    p = g_new0(struct pending, 1);
    p->client = c;
    p->id = id;
    p->cb = cb;
    p->ctx = ctx;
    p->timeout_id = g_timeout_add_seconds(UKT_CLIENT_TIMEOUT_S, on_timeout, p);
    g_hash_table_insert(c->pending, GINT_TO_POINTER(id), p);
    rc = UK_OK;
out:
    cJSON_free(text);
    cJSON_Delete(req);
    return rc;
}
