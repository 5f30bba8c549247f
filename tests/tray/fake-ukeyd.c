// SPDX-License-Identifier: MIT
/*
 * fake-ukeyd: a stand-in for ukeyd on its Unix socket, for the tray's
 * tests of the states that need a USB-KEY with a certificate (the real
 * daemon would need the rig). It speaks the documented protocol
 * (docs/protocol.md, one message per line) from a scene file:
 *
 *   {"tokens": [token objects as token.list],
 *    "certs": {"<tokenId>": [certificate objects as cert.list]}}
 *
 * It answers system.hello, system.ping, token.list, cert.list and
 * env.check; anything else gets METHOD_NOT_FOUND. On SIGHUP it reads the
 * scene again and sends token.removed / token.inserted for the keys that
 * left or came, as ukeyd does when keys move. SIGTERM ends it.
 *
 *   fake-ukeyd SCENE.json        listens on $XDG_RUNTIME_DIR/ukeyd/ukeyd.sock
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform/platform.h"
#include "uk/file.h"

#define MAX_CLIENTS 8
#define LINE_MAX_BYTES 65536

struct client {
    int fd;
    bool hello;
    char buf[LINE_MAX_BYTES];
    size_t have;
};

static struct client clients[MAX_CLIENTS];
static cJSON *scene;
static const char *scene_path;

static cJSON *load_scene(void)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *j;

    if (uk_file_read(scene_path, 1024 * 1024, &text, &len) != UK_OK) {
        fprintf(stderr, "fake-ukeyd: cannot read %s\n", scene_path);
        return NULL;
    }
    j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        fprintf(stderr, "fake-ukeyd: %s is not a JSON object\n", scene_path);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static void send_json(struct client *c, cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    size_t n = strlen(text);

    /* small messages to a local peer: a blocking write is fine in a test tool */
    if (write(c->fd, text, n) != (ssize_t)n || write(c->fd, "\n", 1) != 1) {
        fprintf(stderr, "fake-ukeyd: write failed: %s\n", strerror(errno));
    }
    cJSON_free(text);
    cJSON_Delete(msg);
}

static cJSON *answer(const cJSON *id)
{
    cJSON *a = cJSON_CreateObject();

    cJSON_AddStringToObject(a, "jsonrpc", "2.0");
    cJSON_AddItemToObject(a, "id", cJSON_Duplicate(id, 1));
    return a;
}

static cJSON *tokens_of(const cJSON *s)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "tokens");

    return cJSON_IsArray(t) ? cJSON_Duplicate(t, 1) : cJSON_CreateArray();
}

static void handle(struct client *c, const char *line, size_t len)
{
    cJSON *req = cJSON_ParseWithLength(line, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
    cJSON *a;
    cJSON *r;
    const char *m = cJSON_IsString(method) ? method->valuestring : "";

    if (req == NULL || id == NULL) {
        cJSON_Delete(req);
        return;
    }
    fprintf(stderr, "fake-ukeyd: %s\n", m);
    a = answer(id);
    r = cJSON_CreateObject();
    if (strcmp(m, "system.hello") == 0) {
        c->hello = true;
        cJSON_AddStringToObject(r, "daemon", "ukeyd");
        cJSON_AddStringToObject(r, "version", "0.1.0-fake");
        cJSON_AddNumberToObject(r, "protocol", 1);
    } else if (strcmp(m, "system.ping") == 0) {
        cJSON_AddBoolToObject(r, "pong", true);
    } else if (strcmp(m, "token.list") == 0) {
        cJSON_AddItemToObject(r, "tokens", tokens_of(scene));
    } else if (strcmp(m, "cert.list") == 0) {
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(params, "tokenId");
        const cJSON *certs =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(scene, "certs"),
                                             cJSON_IsString(tid) ? tid->valuestring : "");
        cJSON_AddItemToObject(
            r, "certs", cJSON_IsArray(certs) ? cJSON_Duplicate(certs, 1) : cJSON_CreateArray());
    } else if (strcmp(m, "env.check") == 0) {
        cJSON *d = cJSON_AddObjectToObject(r, "daemon");
        cJSON_AddStringToObject(d, "version", "0.1.0-fake");
        cJSON_AddBoolToObject(d, "running", true);
        cJSON_AddNumberToObject(d, "port", 38485);
        cJSON_AddBoolToObject(cJSON_AddObjectToObject(r, "pcsc"), "running", true);
        cJSON_AddArrayToObject(r, "readers");
        cJSON_AddItemToObject(r, "tokens", tokens_of(scene));
        cJSON_AddArrayToObject(r, "problems");
    } else {
        cJSON *e = cJSON_CreateObject();
        cJSON_Delete(r);
        r = NULL;
        cJSON_AddNumberToObject(e, "code", -32601);
        cJSON_AddStringToObject(e, "message", "method not found");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "data"), "reason", "METHOD_NOT_FOUND");
        cJSON_AddItemToObject(a, "error", e);
    }
    if (r != NULL) {
        cJSON_AddItemToObject(a, "result", r);
    }
    send_json(c, a);
    cJSON_Delete(req);
}

static bool has_token(const cJSON *tokens, const char *id)
{
    const cJSON *t;

    cJSON_ArrayForEach(t, tokens)
    {
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(t, "tokenId");
        if (cJSON_IsString(tid) && strcmp(tid->valuestring, id) == 0) {
            return true;
        }
    }
    return false;
}

static void broadcast(const char *method, cJSON *params)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].fd >= 0 && clients[i].hello) {
            cJSON *n = cJSON_CreateObject();
            cJSON_AddStringToObject(n, "jsonrpc", "2.0");
            cJSON_AddStringToObject(n, "method", method);
            cJSON_AddItemToObject(n, "params", cJSON_Duplicate(params, 1));
            send_json(&clients[i], n);
        }
    }
    cJSON_Delete(params);
}

/* SIGHUP: a new scene; tell clients which keys left and which came. */
static void reload(void)
{
    cJSON *next = load_scene();
    const cJSON *t;
    const cJSON *old_tokens;
    const cJSON *new_tokens;

    if (next == NULL) {
        return;
    }
    old_tokens = cJSON_GetObjectItemCaseSensitive(scene, "tokens");
    new_tokens = cJSON_GetObjectItemCaseSensitive(next, "tokens");
    cJSON_ArrayForEach(t, old_tokens)
    {
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(t, "tokenId");
        if (cJSON_IsString(tid) && !has_token(new_tokens, tid->valuestring)) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "tokenId", tid->valuestring);
            cJSON_AddStringToObject(p, "reader", "fake reader");
            broadcast("token.removed", p);
        }
    }
    cJSON_ArrayForEach(t, new_tokens)
    {
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(t, "tokenId");
        if (cJSON_IsString(tid) && !has_token(old_tokens, tid->valuestring)) {
            broadcast("token.inserted", cJSON_Duplicate(t, 1));
        }
    }
    /* the old scene goes last: old_tokens points into it */
    cJSON_Delete(scene);
    scene = next;
    fprintf(stderr, "fake-ukeyd: scene reloaded\n");
}

static void drop(struct client *c)
{
    close(c->fd);
    c->fd = -1;
    c->hello = false;
    c->have = 0;
}

static void readable(struct client *c)
{
    ssize_t n = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
    char *nl;

    if (n <= 0) {
        drop(c);
        return;
    }
    c->have += (size_t)n;
    while ((nl = memchr(c->buf, '\n', c->have)) != NULL) {
        size_t len = (size_t)(nl - c->buf);
        handle(c, c->buf, len);
        memmove(c->buf, nl + 1, c->have - len - 1);
        c->have -= len + 1;
    }
    if (c->have == sizeof(c->buf)) {
        drop(c);
    }
}

int main(int argc, char **argv)
{
    char dir[4096];
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    sigset_t set;
    int sfd;
    int lfd;
    int n;
    bool stop = false;

    if (argc != 2) {
        fprintf(stderr, "usage: fake-ukeyd SCENE.json\n");
        return 2;
    }
    scene_path = argv[1];
    scene = load_scene();
    if (scene == NULL || ukd_platform_runtime_dir(dir, sizeof(dir)) != UK_OK) {
        return 2;
    }
    n = snprintf(a.sun_path, sizeof(a.sun_path), "%s/ukeyd.sock", dir);
    if (n < 0 || (size_t)n >= sizeof(a.sun_path)) {
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    unlink(a.sun_path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(lfd, 8) != 0) {
        fprintf(stderr, "fake-ukeyd: cannot listen on %s: %s\n", a.sun_path, strerror(errno));
        return 1;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        clients[i].fd = -1;
    }
    fprintf(stderr, "fake-ukeyd: listening on %s\n", a.sun_path);
    while (!stop) {
        struct pollfd p[MAX_CLIENTS + 2];
        p[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) {
            p[i + 2] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        }
        if (poll(p, MAX_CLIENTS + 2, -1) < 0) {
            continue;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    reload();
                } else {
                    stop = true;
                }
            }
        }
        if (p[1].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            int i = 0;
            while (i < MAX_CLIENTS && clients[i].fd >= 0) {
                i++;
            }
            if (fd >= 0 && i < MAX_CLIENTS) {
                clients[i].fd = fd;
            } else if (fd >= 0) {
                close(fd);
            }
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (clients[i].fd >= 0 && (p[i + 2].revents & (POLLIN | POLLHUP | POLLERR))) {
                readable(&clients[i]);
            }
        }
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].fd >= 0) {
            drop(&clients[i]);
        }
    }
    close(lfd);
    close(sfd);
    unlink(a.sun_path);
    cJSON_Delete(scene);
    fprintf(stderr, "fake-ukeyd: stopped\n");
    return 0;
}
