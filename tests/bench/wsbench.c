// SPDX-License-Identifier: MIT
/*
 * wsbench: a libwebsockets client that keeps C connections each with one
 * JSON-RPC system.ping in flight, N requests in all, and prints requests/s
 * and the round-trip median and p99. One C client for every server, so a
 * comparison measures the servers, not the client.
 *
 * Usage: wsbench HOST PORT ORIGIN N C
 */
#define _POSIX_C_SOURCE 200809L
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct conn {
    struct lws *wsi;
    double sent_at;
    int done;
};

static long total;
static long answered;
static long sent;
static int failed;
static double *lat;

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\"}";
    unsigned char buf[LWS_PRE + sizeof(msg)];
    struct conn *c = user;

    (void)in;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (sent >= total) {
            return 0;
        }
        memcpy(buf + LWS_PRE, msg, sizeof(msg) - 1);
        c->sent_at = now_us();
        sent++;
        if (lws_write(wsi, buf + LWS_PRE, sizeof(msg) - 1, LWS_WRITE_TEXT) < (int)sizeof(msg) - 1) {
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_is_final_fragment(wsi) && answered < total) {
            lat[answered++] = now_us() - c->sent_at;
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        failed = 1;
        return 0;
    default:
        return 0;
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static const struct lws_protocols protocols[] = {
        {"bench", cb, sizeof(struct conn), 4096, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
    };
    struct lws_context_creation_info info;
    struct lws_context *ctx;
    char host[128];
    int conns;
    double t0;
    double secs;

    if (argc != 6) {
        fprintf(stderr, "usage: wsbench HOST PORT ORIGIN N C\n");
        return 2;
    }
    total = atol(argv[4]);
    conns = atoi(argv[5]);
    lat = calloc((size_t)total, sizeof(*lat));
    if (total <= 0 || conns <= 0 || lat == NULL) {
        return 2;
    }
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN; /* else lws sends "http://" + origin */
    info.protocols = protocols;
    ctx = lws_create_context(&info);
    snprintf(host, sizeof(host), "%s:%s", argv[1], argv[2]);
    for (int i = 0; i < conns; i++) {
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof(ci));
        ci.context = ctx;
        ci.address = argv[1];
        ci.port = atoi(argv[2]);
        ci.path = "/";
        ci.host = host;
        ci.origin = argv[3];
        ci.protocol = NULL;
        ci.local_protocol_name = "bench";
        lws_client_connect_via_info(&ci);
    }
    t0 = now_us();
    while (answered < total && !failed) {
        lws_service(ctx, 0);
    }
    secs = (now_us() - t0) / 1e6;
    lws_context_destroy(ctx);
    if (failed) {
        fprintf(stderr, "wsbench: connection failed\n");
        return 1;
    }
    qsort(lat, (size_t)total, sizeof(*lat), cmp);
    printf("%.0f req/s, p50 %.0f us, p99 %.0f us\n", (double)total / secs, lat[total / 2],
           lat[total * 99 / 100]);
    free(lat);
    return 0;
}
