// SPDX-License-Identifier: MIT
/*
 * The event loop. Listening sockets are made here, not by libwebsockets:
 * 127.0.0.1 and ::1 (IPV6_V6ONLY) are bound exactly, so nothing listens on
 * another interface whatever the library does with an iface string. They
 * are watched by the loop as raw descriptors; each accepted connection is
 * checked (peer owned by this user, client cap) before it is handed to
 * the WebSocket vhost, which has no listener of its own. Every upgrade
 * then passes one gate in FILTER_PROTOCOL_CONNECTION: the vhost has a
 * single protocol, so an upgrade without a subprotocol reaches it too.
 *
 * The Unix socket speaks the same JSON-RPC, one message per line.
 */
#define _GNU_SOURCE
#include "server.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "platform/platform.h"
#include "tokens.h"
#include "uk/buf.h"
#include "uk/log.h"
#include "uk/mem.h"
#include "uk/rpc.h"

#define UKD_VERSION "0.1.0"
#define UKD_MIN_SDK "0.1.0"
#define MAX_LINE (64 * 1024)

struct outmsg {
    struct outmsg *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + len */
};

struct session {
    uint64_t id;
    struct lws *wsi;
    bool unix_peer; /* ukeyctl / tray on the Unix socket */
    bool hello;     /* system.hello seen: events are sent */
    bool closing;
    char min_daemon[40]; /* system.hello's minDaemonVersion, "" if none */
    uk_buf rx;
    struct outmsg *out_head;
    struct outmsg *out_tail;
    size_t out_count;
    struct session *next;
};

struct server {
    const ukd_config *cfg;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int port;
    int listen_fd[2];
    int unix_fd;
    bool adopted[3]; /* lws owns (and closes) listen_fd[0], [1], unix_fd */
    char unix_path[4200];
    ukd_tokens *tokens;
    ukd_env *env;
    struct session *sessions;
    int n_clients; /* TCP clients accepted and not yet closed */
    uint64_t next_id;
    volatile sig_atomic_t *stop;
};

static struct server srv;

void ukd_server_wake(void)
{
    if (srv.ctx != NULL) {
        lws_cancel_service(srv.ctx);
    }
}

static void wake_from_worker(void *ctx)
{
    (void)ctx;
    ukd_server_wake();
}

/* ---- sending ------------------------------------------------------------ */

static void queue_json(struct session *s, const char *json)
{
    size_t len = strlen(json);
    struct outmsg *m;

    if (s->closing || s->out_count > 1024) {
        return; /* a client that does not read loses messages, not the daemon's memory */
    }
    m = malloc(sizeof(*m) + LWS_PRE + len + 1);
    if (m == NULL) {
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, json, len);
    if (s->unix_peer) {
        m->buf[LWS_PRE + len] = '\n';
        m->len++;
    }
    if (s->out_tail != NULL) {
        s->out_tail->next = m;
    } else {
        s->out_head = m;
    }
    s->out_tail = m;
    s->out_count++;
    lws_callback_on_writable(s->wsi);
}

static void queue_owned(struct session *s, char *json)
{
    if (json != NULL) {
        queue_json(s, json);
        free(json);
    }
}

static int write_one(struct session *s)
{
    struct outmsg *m = s->out_head;
    int n;

    if (m == NULL) {
        return 0;
    }
    n = lws_write(s->wsi, m->buf + LWS_PRE, m->len, s->unix_peer ? LWS_WRITE_RAW : LWS_WRITE_TEXT);
    if (n < (int)m->len) {
        return -1;
    }
    s->out_head = m->next;
    if (s->out_head == NULL) {
        s->out_tail = NULL;
    }
    s->out_count--;
    free(m);
    if (s->out_head != NULL) {
        lws_callback_on_writable(s->wsi);
    }
    return 0;
}

static struct session *find_session(uint64_t id)
{
    for (struct session *s = srv.sessions; s != NULL; s = s->next) {
        if (s->id == id) {
            return s;
        }
    }
    return NULL;
}

static void session_open(struct session *s, struct lws *wsi, bool unix_peer)
{
    memset(s, 0, sizeof(*s));
    s->id = ++srv.next_id;
    s->wsi = wsi;
    s->unix_peer = unix_peer;
    uk_buf_init(&s->rx, unix_peer ? MAX_LINE : srv.cfg->max_message, true);
    s->next = srv.sessions;
    srv.sessions = s;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, srv.cfg->idle_timeout);
}

static void session_close(struct session *s)
{
    for (struct session **pp = &srv.sessions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (srv.tokens != NULL) {
        ukd_tokens_forget_session(srv.tokens, s->id);
    }
    while (s->out_head != NULL) {
        struct outmsg *m = s->out_head;
        s->out_head = m->next;
        free(m);
    }
    uk_buf_free(&s->rx);
}

/* Drains what the workers and the monitor produced. */
static void deliver(void)
{
    ukd_output *all = srv.tokens ? ukd_tokens_drain(srv.tokens) : NULL;

    for (ukd_output *o = all; o != NULL; o = o->next) {
        if (o->kind == UKD_OUT_RESPONSE || o->kind == UKD_OUT_EVENT) {
            struct session *s = find_session(o->session);
            if (s != NULL) {
                queue_json(s, o->json);
            }
        } else {
            for (struct session *s = srv.sessions; s != NULL; s = s->next) {
                if (s->hello) {
                    queue_json(s, o->json);
                }
            }
        }
    }
    ukd_output_free(all);
    if (ukd_env_take_changed(srv.env)) {
        cJSON *p = cJSON_CreateObject();
        char *json;
        cJSON_AddStringToObject(p, "cause", "usb");
        json = uk_rpc_notification("env.changed", p);
        for (struct session *s = srv.sessions; json != NULL && s != NULL; s = s->next) {
            if (s->hello) {
                queue_json(s, json);
            }
        }
        free(json);
    }
}

/* ---- the daemon's own methods ------------------------------------------ */

static cJSON *hello_result(void)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *caps = cJSON_CreateStringArray(
        (const char *const[]){"events", "pin", "cert.list", "env.check", "renew"}, 5);

    cJSON_AddStringToObject(r, "daemon", "ukeyd");
    cJSON_AddStringToObject(r, "version", UKD_VERSION);
    cJSON_AddNumberToObject(r, "protocol", UK_PROTOCOL_VERSION);
    cJSON_AddStringToObject(r, "minSdkVersion", UKD_MIN_SDK);
    cJSON_AddItemToObject(r, "capabilities", caps);
    return r;
}

static void handle_message(struct session *s, const char *msg, size_t len)
{
    uk_rpc_req req;
    char *err = NULL;
    cJSON *result = NULL;
    uk_rc rc;

    rc = uk_rpc_parse(msg, len, &req, &err);
    if (rc != UK_OK) {
        queue_owned(s, err);
        return;
    }
    if (req.route == UK_RPC_ROUTE_TOKEN) {
        if (ukd_tokens_pending(srv.tokens, s->id) >= srv.cfg->max_pending) {
            queue_owned(s, uk_rpc_error(&req, UK_E_LIMIT, NULL));
            uk_rpc_req_free(&req);
            return;
        }
        ukd_tokens_submit(srv.tokens, s->id, &req);
        return;
    }
    if (strcmp(req.method, "system.hello") == 0) {
        const cJSON *need = cJSON_GetObjectItemCaseSensitive(req.params, "minDaemonVersion");
        s->hello = true;
        snprintf(s->min_daemon, sizeof(s->min_daemon), "%s",
                 cJSON_IsString(need) ? need->valuestring : "");
        result = hello_result();
    } else if (strcmp(req.method, "system.ping") == 0) {
        result = cJSON_CreateObject();
        cJSON_AddBoolToObject(result, "pong", true);
    } else if (strcmp(req.method, "env.check") == 0) {
        result = ukd_env_check(srv.env, srv.tokens, UKD_VERSION, srv.port,
                               s->min_daemon[0] != '\0' ? s->min_daemon : NULL);
    } else if (strcmp(req.method, "token.list") == 0) {
        result = cJSON_CreateObject();
        cJSON_AddItemToObject(result, "tokens", ukd_tokens_list_json(srv.tokens));
    }
    if (req.id != NULL) {
        queue_owned(s, result ? uk_rpc_result(&req, result)
                              : uk_rpc_error(&req, UK_E_UNSUPPORTED, NULL));
    } else {
        cJSON_Delete(result);
    }
    uk_rpc_req_free(&req);
}

/* ---- the gate ----------------------------------------------------------- */

/* One header, present exactly once, copied whole; false otherwise. */
static bool header_once(struct lws *wsi, enum lws_token_indexes h, char *out, int cap)
{
    int n;

    out[0] = '\0';
    if (lws_hdr_total_length(wsi, h) <= 0) {
        return false;
    }
    /* a second fragment means the header was sent twice */
    if (lws_hdr_fragment_length(wsi, h, 1) > 0) {
        return false;
    }
    n = lws_hdr_copy_fragment(wsi, out, cap, h, 0);
    return n > 0 && n < cap && (size_t)n == strlen(out);
}

static const char *gate(struct lws *wsi)
{
    char origin[UKD_ORIGIN_MAX + 1];
    char host[128];
    char want[3][64];

    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0) {
        return "no Origin header";
    }
    if (!header_once(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin))) {
        return "Origin repeated or too long";
    }
    if (!ukd_config_origin_allowed(srv.cfg, origin)) {
        return "Origin not in allowedOrigins";
    }
    if (!header_once(wsi, WSI_TOKEN_HOST, host, sizeof(host))) {
        return "Host missing, repeated or too long";
    }
    /* DNS rebinding: only our loopback names, with our port */
    snprintf(want[0], sizeof(want[0]), "127.0.0.1:%d", srv.port);
    snprintf(want[1], sizeof(want[1]), "localhost:%d", srv.port);
    snprintf(want[2], sizeof(want[2]), "[::1]:%d", srv.port);
    if (strcmp(host, want[0]) != 0 && strcmp(host, want[1]) != 0 && strcmp(host, want[2]) != 0) {
        return "Host is not a loopback name with this port";
    }
    return NULL;
}

/* ---- accepting ---------------------------------------------------------- */

static bool peer_is_us(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    uint32_t uid = (uint32_t)-1;
    uk_rc rc = UK_E_INVALID_ARG;

    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        return false;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        rc = ukd_platform_tcp_peer_uid(AF_INET, (const uint8_t *)&a->sin_addr, ntohs(a->sin_port),
                                       &uid);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        rc = ukd_platform_tcp_peer_uid(AF_INET6, a->sin6_addr.s6_addr, ntohs(a->sin6_port), &uid);
    }
    return rc == UK_OK && uid == ukd_platform_uid();
}

static void accept_tcp(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            return;
        }
        if (srv.n_clients >= srv.cfg->max_clients) {
            uk_warn("refused a connection: %d clients already", srv.n_clients);
            close(fd);
            continue;
        }
        if (!peer_is_us(fd)) {
            uk_warn("refused a connection: the peer belongs to another user");
            close(fd);
            continue;
        }
        if (lws_adopt_socket_vhost(srv.vh, fd) == NULL) {
            close(fd); /* lws failed before taking it over */
            continue;
        }
        srv.n_clients++;
        uk_debug("connection accepted; %d clients", srv.n_clients);
    }
}

static void accept_unix(int lfd)
{
    for (;;) {
        lws_sock_file_fd_type d;
        uint32_t uid = (uint32_t)-1;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0) {
            return;
        }
        if (ukd_platform_unix_peer_uid(fd, &uid) != UK_OK || uid != ukd_platform_uid()) {
            uk_warn("refused a Unix connection from uid %u", uid);
            close(fd);
            continue;
        }
        d.sockfd = fd;
        if (lws_adopt_descriptor_vhost(srv.vh, LWS_ADOPT_SOCKET, d, "ukeyd-cli", NULL) == NULL) {
            close(fd);
        }
    }
}

/* ---- callbacks ---------------------------------------------------------- */

static int cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    struct session *s = user;
    const char *why;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        why = gate(wsi);
        if (why != NULL) {
            uk_warn("refused a WebSocket upgrade: %s", why);
            /* a plain 403 for people debugging with curl; browsers see a
             * failed WebSocket either way */
            lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_HTTP:
        /* plain HTTP is not served: only the WebSocket upgrade */
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
        return -1;
    case LWS_CALLBACK_ESTABLISHED:
        session_open(s, wsi, false);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, srv.cfg->idle_timeout);
        if (lws_frame_is_binary(wsi)) {
            /* the protocol is JSON text frames only (docs/protocol.md) */
            uk_warn("binary frame: closing");
            lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, NULL, 0);
            s->closing = true;
            return -1;
        }
        if (uk_buf_append(&s->rx, in, len) != UK_OK) {
            uk_warn("message over %zu bytes: closing", srv.cfg->max_message);
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
            s->closing = true;
            return -1;
        }
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) {
            return 0;
        }
        handle_message(s, (const char *)s->rx.data, s->rx.len);
        uk_buf_reset(&s->rx);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return write_one(s);
    case LWS_CALLBACK_CLOSED:
        session_close(s);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        /* every adopted TCP connection ends here, upgraded or not */
        if (srv.n_clients > 0) {
            srv.n_clients--;
        }
        uk_debug("connection gone; %d clients", srv.n_clients);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        deliver();
        return 0;
    default:
        return 0;
    }
}

static int cb_cli(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct session *s = user;
    const char *p = in;

    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        session_open(s, wsi, true);
        s->hello = false;
        return 0;
    case LWS_CALLBACK_RAW_RX:
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, srv.cfg->idle_timeout);
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '\n') {
                handle_message(s, (const char *)s->rx.data, s->rx.len);
                uk_buf_reset(&s->rx);
            } else if (uk_buf_append_byte(&s->rx, (uint8_t)p[i]) != UK_OK) {
                uk_warn("line over %d bytes on the Unix socket: closing", MAX_LINE);
                return -1;
            }
        }
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        return write_one(s);
    case LWS_CALLBACK_RAW_CLOSE:
        session_close(s);
        return 0;
    default:
        return 0;
    }
}

static int cb_listen(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    int fd;

    (void)user;
    (void)in;
    (void)len;
    if (reason != LWS_CALLBACK_RAW_RX_FILE) {
        return 0;
    }
    fd = lws_get_socket_fd(wsi);
    if (fd == srv.unix_fd) {
        accept_unix(fd);
    } else {
        accept_tcp(fd);
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"ukeyd", cb_ws, sizeof(struct session), 4096, 0, NULL, 0},
    {"ukeyd-cli", cb_cli, sizeof(struct session), 4096, 0, NULL, 0},
    {"ukeyd-listen", cb_listen, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- listeners ---------------------------------------------------------- */

static int listen_on(int family, int port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    int rc;

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    }
    if (rc != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Binds 127.0.0.1 (required) and ::1 (when the host has IPv6) on the
 * configured port or one of the next four. */
static uk_rc open_listeners(void)
{
    for (int i = 0; i < UKD_PORT_TRIES; i++) {
        int port = srv.cfg->port + i;
        int v4 = listen_on(AF_INET, port);
        int v6;

        if (v4 < 0) {
            uk_info("port %d on 127.0.0.1 is taken (%s)", port, strerror(errno));
            continue;
        }
        v6 = listen_on(AF_INET6, port);
        if (v6 < 0 && errno == EADDRINUSE) {
            uk_info("port %d on ::1 is taken", port);
            close(v4);
            continue;
        }
        srv.listen_fd[0] = v4;
        srv.listen_fd[1] = v6;
        srv.port = port;
        return UK_OK;
    }
    uk_err("ports %d-%d are all taken", srv.cfg->port, srv.cfg->port + UKD_PORT_TRIES - 1);
    return UK_E_LIMIT;
}

static uk_rc open_unix(const char *runtime_dir)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd;
    int n;

    n = snprintf(srv.unix_path, sizeof(srv.unix_path), "%s/ukeyd.sock", runtime_dir);
    if (n < 0 || (size_t)n >= sizeof(a.sun_path)) {
        return UK_E_SIZE;
    }
    memcpy(a.sun_path, srv.unix_path, (size_t)n + 1);
    unlink(srv.unix_path); /* we hold the lock: a leftover socket is stale */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
        uk_err("cannot listen on %s: %s", srv.unix_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return UK_E_IO;
    }
    chmod(srv.unix_path, 0600);
    srv.unix_fd = fd;
    return UK_OK;
}

static uk_rc write_runtime_file(const char *dir, const char *name, long value)
{
    char path[4300];
    char tmp[4310];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        return UK_E_IO;
    }
    fprintf(f, "%ld\n", value);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return UK_E_IO;
    }
    return UK_OK;
}

static bool adopt_listener(int fd)
{
    lws_sock_file_fd_type d;

    d.filefd = fd;
    if (fd < 0) {
        return false;
    }
    if (lws_adopt_descriptor_vhost(srv.vh, LWS_ADOPT_RAW_FILE_DESC, d, "ukeyd-listen", NULL) ==
        NULL) {
        uk_err("cannot watch listening socket %d", fd);
        return false;
    }
    return true;
}

static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);

    if (n > 0 && line[n - 1] == '\n') {
        n--;
    }
    uk_log(level & LLL_ERR ? UK_LOG_WARN : UK_LOG_DEBUG, "lws: %.*s", (int)n, line);
}

uk_rc ukd_server_run(const ukd_config *cfg, const char *runtime_dir, volatile sig_atomic_t *stop)
{
    struct lws_context_creation_info info;
    ukd_tokens_opts opts = {
        cfg->renewal, NULL, cfg->renew_remove_old, cfg->renew_allow_subject_change, NULL, NULL, 0};
    static const char *const registry[] = {UKD_P11_REGISTRY_DIRS};
    static ukd_p11_list p11;
    const char *p11_paths[UKD_MAX_P11];
    const char *p11_ir[UKD_MAX_P11];
    char journal[4200];
    uk_rc rc;

    memset(&srv, 0, sizeof(srv));
    srv.cfg = cfg;
    srv.stop = stop;
    srv.listen_fd[0] = srv.listen_fd[1] = srv.unix_fd = -1;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);

    rc = open_listeners();
    if (rc == UK_OK) {
        rc = open_unix(runtime_dir);
    }
    if (rc != UK_OK) {
        goto out;
    }
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.timeout_secs = 10; /* handshakes that dawdle are dropped */
    info.ka_time = 0;
    srv.ctx = lws_create_context(&info);
    if (srv.ctx == NULL) {
        rc = UK_E_INTERNAL;
        goto out;
    }
    info.vhost_name = "ukeyd";
    srv.vh = lws_create_vhost(srv.ctx, &info);
    if (srv.vh == NULL) {
        rc = UK_E_INTERNAL;
        goto out;
    }
    srv.adopted[0] = adopt_listener(srv.listen_fd[0]);
    srv.adopted[1] = adopt_listener(srv.listen_fd[1]);
    srv.adopted[2] = adopt_listener(srv.unix_fd);
    if (!srv.adopted[0] || !srv.adopted[2]) {
        rc = UK_E_INTERNAL;
        goto out;
    }
    if (ukd_platform_state_dir(journal, sizeof(journal)) == UK_OK &&
        strlen(journal) + sizeof("/renewals") <= sizeof(journal)) {
        strcat(journal, "/renewals");
        opts.journal_dir = journal;
    } else {
        uk_warn("no state directory ($XDG_STATE_HOME): online renewal is off");
    }
    ukd_config_p11_modules(cfg, registry, sizeof(registry) / sizeof(registry[0]),
                           UKD_P11_MODULE_DIR, &p11);
    for (size_t i = 0; i < p11.n; i++) {
        p11_paths[i] = p11.path[i];
        p11_ir[i] = p11.init_reserved[i];
    }
    opts.p11_modules = p11_paths;
    opts.p11_init_reserved = p11_ir;
    opts.n_p11_modules = p11.n;
    rc = ukd_tokens_start(&opts, wake_from_worker, NULL, &srv.tokens);
    if (rc == UK_OK) {
        rc = ukd_env_start(cfg, wake_from_worker, NULL, &srv.env);
    }
    if (rc != UK_OK) {
        goto out;
    }
    write_runtime_file(runtime_dir, "port", srv.port);
    write_runtime_file(runtime_dir, "pid", (long)getpid());
    uk_info("ukeyd %s listening on 127.0.0.1:%d%s and %s", UKD_VERSION, srv.port,
            srv.listen_fd[1] >= 0 ? " and [::1]" : "", srv.unix_path);
    while (!*stop) {
        if (lws_service(srv.ctx, 0) < 0) {
            break;
        }
    }
    uk_info("stopping");
out:
    /* workers first: they finish their card operation, then the loop goes */
    ukd_env_stop(srv.env);
    srv.env = NULL;
    ukd_tokens_stop(srv.tokens);
    srv.tokens = NULL;
    if (srv.ctx != NULL) {
        lws_context_destroy(srv.ctx);
        srv.ctx = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (srv.listen_fd[i] >= 0 && !srv.adopted[i]) {
            close(srv.listen_fd[i]);
        }
    }
    if (srv.unix_fd >= 0) {
        if (!srv.adopted[2]) {
            close(srv.unix_fd);
        }
        unlink(srv.unix_path);
    }
    return rc;
}
