// SPDX-License-Identifier: MIT
/*
 * Unit tests of the tray's socket client on a real Unix socket and a GLib
 * main loop (no daemon, no display): line framing, a request and its
 * answer with an event in between and lines split across reads, pending
 * calls failed exactly once when the peer goes, a call refused while
 * disconnected, a peer that never ends its line, and freeing with calls
 * in flight. Every wait is bounded by a guard timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "client.h"

static char dir[] = "/tmp/ukt-client-XXXXXX";
static char path[256];
static GMainLoop *loop;

struct seen {
    int replies;
    int nulls;
    int events;
    int closed;
    char last_event[64];
    bool pong;
};

static struct seen seen;

static bool add_line(void *ctx, const char *p, size_t n)
{
    GString *s = ctx;

    g_string_append_len(s, p, (gssize)n);
    g_string_append_c(s, '|');
    return true;
}

static void test_lines(void)
{
    char buf[64];
    size_t len;
    GString *s = g_string_new("");

    memcpy(buf, "a\nbc\n\nde", 8);
    len = 8;
    CHECK(ukt_lines_take(buf, &len, sizeof(buf), add_line, s));
    CHECK(strcmp(s->str, "a|bc||") == 0);
    CHECK_EQ(len, 2);
    CHECK(memcmp(buf, "de", 2) == 0);
    /* the rest of a line arrives */
    memcpy(buf + len, "f\n", 2);
    len += 2;
    g_string_truncate(s, 0);
    CHECK(ukt_lines_take(buf, &len, sizeof(buf), add_line, s));
    CHECK(strcmp(s->str, "def|") == 0);
    CHECK_EQ(len, 0);
    /* a line that reached the limit without its newline */
    memset(buf, 'x', 8);
    len = 8;
    CHECK(!ukt_lines_take(buf, &len, 8, add_line, s));
    len = 7;
    CHECK(ukt_lines_take(buf, &len, 8, add_line, s));
    g_string_free(s, TRUE);
}

static gboolean guard(gpointer data)
{
    (void)data;
    CHECK_FAIL("timed out waiting on the main loop");
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

/* Runs the loop until quit or 10 s. */
static void run(void)
{
    guint id = g_timeout_add_seconds(10, guard, NULL);

    g_main_loop_run(loop);
    g_source_remove(id);
}

static void on_reply(const cJSON *result, const cJSON *error, void *ctx)
{
    (void)error;
    (void)ctx;
    if (result == NULL && error == NULL) {
        seen.nulls++;
    } else {
        seen.replies++;
        seen.pong = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "pong"));
    }
    g_main_loop_quit(loop);
}

static void on_event(const char *method, const cJSON *params, void *ctx)
{
    (void)params;
    (void)ctx;
    seen.events++;
    snprintf(seen.last_event, sizeof(seen.last_event), "%s", method);
}

static void on_closed(void *ctx)
{
    (void)ctx;
    seen.closed++;
    /* every pending call was failed before this */
    g_main_loop_quit(loop);
}

static int listen_at(const char *p)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(strlen(p) < sizeof(a.sun_path));
    memcpy(a.sun_path, p, strlen(p) + 1);
    unlink(p);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(fd, 4) == 0);
    return fd;
}

/* Reads one request line from the peer (bounded). */
static cJSON *server_read(int fd)
{
    char buf[4096];
    size_t have = 0;

    while (have < sizeof(buf) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        if (poll(&p, 1, 5000) <= 0) {
            break;
        }
        n = read(fd, buf + have, 1);
        if (n <= 0) {
            break;
        }
        if (buf[have] == '\n') {
            return cJSON_ParseWithLength(buf, have);
        }
        have++;
    }
    return NULL;
}

static void server_write(int fd, const char *text)
{
    size_t n = strlen(text);

    CHECK_EQ(write(fd, text, n), (ssize_t)n);
}

static void test_exchange(void)
{
    ukt_client *c = ukt_client_new(path, on_event, on_closed, NULL);
    cJSON *req;
    const cJSON *id;
    char answer[256];
    int lfd;
    int s;

    /* no socket: the daemon is not running */
    CHECK_EQ(ukt_client_connect(c), UK_E_NOT_FOUND);
    CHECK(!ukt_client_connected(c));
    /* disconnected: refused, callback never called */
    CHECK_EQ(ukt_client_call(c, "system.ping", NULL, on_reply, NULL), UK_E_IO);

    lfd = listen_at(path);
    CHECK_EQ(ukt_client_connect(c), UK_OK);
    CHECK(ukt_client_connected(c));
    CHECK_EQ(ukt_client_connect(c), UK_OK); /* already */
    s = accept(lfd, NULL, NULL);
    CHECK(s >= 0);

    CHECK_EQ(ukt_client_call(c, "system.ping", NULL, on_reply, NULL), UK_OK);
    req = server_read(s);
    CHECK(req != NULL);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(req, "method")->valuestring, "system.ping") == 0);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(req, "jsonrpc")->valuestring, "2.0") == 0);
    id = cJSON_GetObjectItemCaseSensitive(req, "id");
    CHECK(cJSON_IsNumber(id));
    /* an event first, then the answer split over two writes, then junk */
    snprintf(answer, sizeof(answer),
             "{\"jsonrpc\":\"2.0\",\"method\":\"token.inserted\",\"params\":{\"tokenId\":"
             "\"piv:1\"}}\n{\"jsonrpc\":\"2.0\",\"id\":%d,",
             id->valueint);
    server_write(s, answer);
    server_write(s, "\"result\":{\"pong\":true}}\nnot json\n");
    cJSON_Delete(req);
    run();
    CHECK_EQ(seen.events, 1);
    CHECK(strcmp(seen.last_event, "token.inserted") == 0);
    CHECK_EQ(seen.replies, 1);
    CHECK(seen.pong);
    CHECK_EQ(seen.nulls, 0);

    /* two calls in flight, the daemon stops: both fail once, then closed */
    CHECK_EQ(ukt_client_call(c, "token.list", NULL, on_reply, NULL), UK_OK);
    CHECK_EQ(ukt_client_call(c, "env.check", cJSON_CreateObject(), on_reply, NULL), UK_OK);
    close(s);
    while (seen.closed == 0) {
        run();
    }
    CHECK_EQ(seen.nulls, 2);
    CHECK_EQ(seen.closed, 1);
    CHECK(!ukt_client_connected(c));

    /* a peer that never ends its line is dropped at the limit */
    CHECK_EQ(ukt_client_connect(c), UK_OK);
    s = accept(lfd, NULL, NULL);
    {
        size_t total = UKT_CLIENT_LINE_MAX + 16;
        char *big = g_malloc(total);
        size_t off = 0;
        guint g = g_timeout_add_seconds(10, guard, NULL);
        memset(big, 'x', total);
        /* write in pieces while the loop reads them, until the client hangs up */
        while (seen.closed == 1 && check_failures == 0) {
            ssize_t n = 0;
            if (off < total) {
                n = send(s, big + off, total - off < 65536 ? total - off : 65536,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
            }
            if (n > 0) {
                off += (size_t)n;
            }
            g_main_context_iteration(NULL, n <= 0);
        }
        g_source_remove(g);
        g_free(big);
    }
    CHECK_EQ(seen.closed, 2);
    close(s);

    /* freed with a call in flight: the callback runs once, with nothing */
    CHECK_EQ(ukt_client_connect(c), UK_OK);
    s = accept(lfd, NULL, NULL);
    CHECK_EQ(ukt_client_call(c, "system.ping", NULL, on_reply, NULL), UK_OK);
    ukt_client_free(c);
    CHECK_EQ(seen.nulls, 3);
    CHECK_EQ(seen.closed, 2); /* not for a deliberate close */
    close(s);
    close(lfd);
    unlink(path);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    snprintf(path, sizeof(path), "%s/ukeyd.sock", dir);
    loop = g_main_loop_new(NULL, FALSE);
    test_lines();
    test_exchange();
    g_main_loop_unref(loop);
    rmdir(dir);
    return check_exit_code("test_tray_client");
}
