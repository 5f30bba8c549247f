// SPDX-License-Identifier: MIT
/*
 * ukeyctl: talks to the running ukeyd over its Unix socket
 * ($XDG_RUNTIME_DIR/ukeyd/ukeyd.sock), one JSON-RPC message per line, and
 * prints the answers for a person (default) or as JSON (--json).
 *
 * Exit status: 0 done, 1 the daemon answered with an error, 2 usage,
 * 3 the daemon is not running (or not reachable).
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "platform/platform.h"
#include "uk/file.h"
#include "uk/mem.h"
#include "uk/rpc.h"

#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_NOT_RUNNING 3
#define LINE_MAX_BYTES (1024 * 1024)
#define UKCTL_VERSION_STRING "ukeyctl 0.1.0"

static bool json_out;
static int next_id = 1;

static void usage(FILE *f)
{
    fprintf(f, "Usage: ukeyctl [--json] COMMAND\n"
               "       ukeyctl --help | --version\n"
               "Commands:\n"
               "  status          is ukeyd running; its version and port\n"
               "  ping            round trip to the daemon\n"
               "  env             the environment check (PC/SC, readers, keys, problems)\n"
               "  list            inserted USB-KEYs\n"
               "  certs [TOKEN]   certificates on a key (the only one if TOKEN is omitted)\n"
               "  watch           print reader and key events until interrupted\n"
               "  renew-pending [TOKEN]\n"
               "                  unfinished renewals on a key (what 异常恢复 would finish)\n"
               "  renew-install CERTFILE [TOKEN]\n"
               "                  install an issued certificate (PEM or base64 DER, chain\n"
               "                  allowed) for a staged key; the PIN is read from the\n"
               "                  terminal, or from the first line of stdin\n"
               "Exit status: 0 ok, 1 error answer, 2 usage, 3 ukeyd not running.\n");
}

static int connect_daemon(void)
{
    char dir[4096];
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd;
    int n;

    if (ukd_platform_runtime_dir(dir, sizeof(dir)) != UK_OK) {
        fprintf(stderr, "ukeyctl: XDG_RUNTIME_DIR is not set\n");
        return -1;
    }
    n = snprintf(a.sun_path, sizeof(a.sun_path), "%s/ukeyd.sock", dir);
    if (n < 0 || (size_t)n >= sizeof(a.sun_path)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "ukeyctl: ukeyd is not running (%s: %s)\n", a.sun_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static bool send_request(int fd, const char *method, cJSON *params)
{
    cJSON *req = cJSON_CreateObject();
    char *text;
    bool ok;

    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(req, "id", next_id++);
    cJSON_AddStringToObject(req, "method", method);
    cJSON_AddItemToObject(req, "params", params ? params : cJSON_CreateObject());
    text = cJSON_PrintUnformatted(req);
    uk_rpc_wipe_secrets(req); /* a PIN in params */
    cJSON_Delete(req);
    if (text == NULL) {
        return false;
    }
    ok = dprintf(fd, "%s\n", text) > 0;
    uk_memzero(text, strlen(text));
    free(text);
    return ok;
}

/* Reads one line (one message); NULL at EOF. timeout_ms < 0 waits forever. */
static cJSON *read_message(int fd, int timeout_ms)
{
    static char buf[LINE_MAX_BYTES];
    static size_t have;
    char *nl;

    for (;;) {
        nl = memchr(buf, '\n', have);
        if (nl != NULL) {
            cJSON *msg = cJSON_ParseWithLength(buf, (size_t)(nl - buf));
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, buf + used, have - used);
            have -= used;
            return msg;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0 || have == sizeof(buf)) {
            return NULL;
        }
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0) {
            return NULL;
        }
        have += (size_t)n;
    }
}

/* Sends a request and waits for its answer (events before it are skipped). */
static cJSON *call(int fd, const char *method, cJSON *params, int *status)
{
    int id = next_id;
    cJSON *msg;

    if (!send_request(fd, method, params)) {
        *status = EXIT_NOT_RUNNING;
        return NULL;
    }
    while ((msg = read_message(fd, 60000)) != NULL) {
        const cJSON *mid = cJSON_GetObjectItemCaseSensitive(msg, "id");
        if (cJSON_IsNumber(mid) && mid->valueint == id) {
            break;
        }
        cJSON_Delete(msg);
    }
    if (msg == NULL) {
        fprintf(stderr, "ukeyctl: no answer from ukeyd\n");
        *status = EXIT_NOT_RUNNING;
        return NULL;
    }
    if (cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(msg, "error");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(e, "data");
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(data, "reason");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (json_out) {
            char *s = cJSON_Print(e);
            puts(s);
            free(s);
        } else {
            fprintf(stderr, "ukeyctl: %s: %s (%s)\n", method,
                    cJSON_IsString(text) ? text->valuestring : "error",
                    cJSON_IsString(reason) ? reason->valuestring : "?");
        }
        cJSON_Delete(msg);
        *status = EXIT_ERROR;
        return NULL;
    }
    *status = 0;
    return msg;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void print_json(const cJSON *v)
{
    char *s = cJSON_Print(v);
    puts(s ? s : "null");
    free(s);
}

static int cmd_simple(int fd, const char *method)
{
    int status;
    cJSON *msg = call(fd, method, NULL, &status);
    const cJSON *r;

    if (msg == NULL) {
        return status;
    }
    r = cJSON_GetObjectItemCaseSensitive(msg, "result");
    if (json_out) {
        print_json(r);
    } else if (strcmp(method, "system.hello") == 0) {
        printf("ukeyd %s running (protocol %d)\n", str(r, "version"),
               cJSON_GetObjectItemCaseSensitive(r, "protocol")->valueint);
    } else if (strcmp(method, "system.ping") == 0) {
        puts("pong");
    } else if (strcmp(method, "token.list") == 0) {
        const cJSON *t;
        int n = 0;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r, "tokens"))
        {
            printf("%-28s %-24s %s\n", str(t, "tokenId"), str(t, "label"), str(t, "reader"));
            n++;
        }
        if (n == 0) {
            puts("no USB-KEY inserted");
        }
    } else if (strcmp(method, "env.check") == 0) {
        const cJSON *x;
        printf(
            "daemon: ukeyd %s, port %d\n",
            str(cJSON_GetObjectItemCaseSensitive(r, "daemon"), "version"),
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "daemon"), "port")
                ->valueint);
        printf("PC/SC service: %s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                                          cJSON_GetObjectItemCaseSensitive(r, "pcsc"), "running"))
                                          ? "running"
                                          : "NOT running");
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "readers"))
        {
            printf("reader: %s (%s)\n", str(x, "name"),
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "card")) ? "key inserted"
                                                                             : "empty");
        }
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "tokens"))
        {
            printf("key: %s %s\n", str(x, "tokenId"), str(x, "label"));
        }
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "pkcs11"))
        {
            const char *problem = str(x, "problem");
            printf("PKCS#11 module: %s %s%s%s\n", str(x, "module"), str(x, "status"),
                   problem[0] != '\0' ? " " : "", problem);
        }
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "problems"))
        {
            printf("problem %s: %s\n", str(x, "code"),
                   str(cJSON_GetObjectItemCaseSensitive(x, "message"), "en"));
        }
    }
    cJSON_Delete(msg);
    return 0;
}

/* The named token, or the only one inserted. */
static int choose_token(int fd, const char **token, char *buf, size_t cap)
{
    const cJSON *tokens;
    cJSON *msg;
    int status;

    if (*token != NULL) {
        return 0;
    }
    msg = call(fd, "token.list", NULL, &status);
    if (msg == NULL) {
        return status;
    }
    tokens =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(msg, "result"), "tokens");
    if (cJSON_GetArraySize(tokens) != 1) {
        fprintf(stderr, "ukeyctl: %d keys inserted; name one (ukeyctl list)\n",
                cJSON_GetArraySize(tokens));
        cJSON_Delete(msg);
        return EXIT_ERROR;
    }
    snprintf(buf, cap, "%s", str(cJSON_GetArrayItem(tokens, 0), "tokenId"));
    cJSON_Delete(msg);
    *token = buf;
    return 0;
}

static int cmd_renew_pending(int fd, const char *token)
{
    char chosen[128] = "";
    cJSON *params;
    cJSON *msg;
    const cJSON *r;
    const cJSON *e;
    int status = choose_token(fd, &token, chosen, sizeof(chosen));
    int n = 0;

    if (status != 0) {
        return status;
    }
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "tokenId", token);
    msg = call(fd, "renew.pending", params, &status);
    if (msg == NULL) {
        return status;
    }
    r = cJSON_GetObjectItemCaseSensitive(msg, "result");
    if (json_out) {
        print_json(r);
        cJSON_Delete(msg);
        return 0;
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "renewals"))
    {
        printf("renewal %s  %s\n  slot     %s (%s)%s\n  renews   %s\n  created  %s\n",
               str(e, "renewalId"), str(e, "state"), str(e, "slot"), str(e, "keyType"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "onToken"))
                   ? ""
                   : "  (staged key not found on the key)",
               str(e, "oldCertId"), str(e, "createdAt"));
        n++;
    }
    if (n == 0) {
        puts("no unfinished renewal");
    }
    if (cJSON_GetObjectItemCaseSensitive(r, "journalDamaged") != NULL &&
        cJSON_GetObjectItemCaseSensitive(r, "journalDamaged")->valueint > 0) {
        printf("%d damaged journal records were skipped (see the daemon's log)\n",
               cJSON_GetObjectItemCaseSensitive(r, "journalDamaged")->valueint);
    }
    cJSON_Delete(msg);
    return 0;
}

/* The PIN: from the terminal without echo, else the first line of stdin. */
static bool read_pin(char *pin, size_t cap)
{
    struct termios old;
    struct termios quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    bool ok;
    size_t n;

    if (tty) {
        fprintf(stderr, "PIN: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    ok = fgets(pin, (int)cap, stdin) != NULL;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    n = ok ? strcspn(pin, "\r\n") : 0;
    pin[n] = '\0';
    return ok && n > 0;
}

static int cmd_renew_install(int fd, const char *file, const char *token)
{
    char chosen[128] = "";
    char pin[80];
    char *cert = NULL;
    size_t len = 0;
    cJSON *params;
    cJSON *msg;
    const cJSON *r;
    int status;
    uk_rc rc = uk_file_read(file, 65536, &cert, &len);

    if (rc != UK_OK) {
        fprintf(stderr, "ukeyctl: cannot read %s: %s\n", file, uk_rc_desc(rc));
        return EXIT_ERROR;
    }
    status = choose_token(fd, &token, chosen, sizeof(chosen));
    if (status != 0) {
        free(cert);
        return status;
    }
    if (!read_pin(pin, sizeof(pin))) {
        fprintf(stderr, "ukeyctl: no PIN given\n");
        free(cert);
        return EXIT_USAGE;
    }
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "tokenId", token);
    cJSON_AddStringToObject(params, "pin", pin);
    cJSON_AddStringToObject(params, "certificate", cert);
    uk_memzero(pin, sizeof(pin));
    free(cert);
    msg = call(fd, "renew.install", params, &status);
    if (msg == NULL) {
        return status;
    }
    r = cJSON_GetObjectItemCaseSensitive(msg, "result");
    if (json_out) {
        print_json(r);
    } else {
        printf("%s: certificate %s in slot %s\n",
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "alreadyInstalled"))
                   ? "already installed"
                   : "installed",
               str(r, "certId"), str(r, "slot"));
    }
    cJSON_Delete(msg);
    return 0;
}

static int cmd_certs(int fd, const char *token)
{
    char chosen[128] = "";
    cJSON *params;
    cJSON *msg;
    const cJSON *c;
    int status;

    status = choose_token(fd, &token, chosen, sizeof(chosen));
    if (status != 0) {
        return status;
    }
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "tokenId", token);
    msg = call(fd, "cert.list", params, &status);
    if (msg == NULL) {
        return status;
    }
    if (json_out) {
        print_json(cJSON_GetObjectItemCaseSensitive(msg, "result"));
    } else {
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                                  cJSON_GetObjectItemCaseSensitive(msg, "result"), "certs"))
        {
            const cJSON *ren = cJSON_GetObjectItemCaseSensitive(c, "renewal");
            printf("slot %s  %s\n  subject  %s\n  issuer   %s\n  valid    %s .. %s  (%s)\n"
                   "  renewal  %s (%s .. %s)\n  id       %s\n",
                   str(c, "slot"), str(c, "keyType"), str(c, "subject"), str(c, "issuer"),
                   str(c, "notBefore"), str(c, "notAfter"), str(c, "status"),
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ren, "eligible")) ? "open"
                                                                                   : "closed",
                   str(ren, "opensAt"), str(ren, "closesAt"), str(c, "certId"));
        }
    }
    cJSON_Delete(msg);
    return 0;
}

static int cmd_watch(int fd)
{
    int status;
    cJSON *msg = call(fd, "system.hello", NULL, &status);

    if (msg == NULL) {
        return status;
    }
    cJSON_Delete(msg);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((msg = read_message(fd, -1)) != NULL) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(msg, "params");
        if (json_out) {
            char *s = cJSON_PrintUnformatted(msg);
            puts(s ? s : "");
            free(s);
        } else {
            printf("%s %s %s\n", str(msg, "method"), str(p, "reader"), str(p, "tokenId"));
        }
        cJSON_Delete(msg);
    }
    fprintf(stderr, "ukeyctl: ukeyd closed the connection\n");
    return EXIT_NOT_RUNNING;
}

int main(int argc, char **argv)
{
    int i = 1;
    int fd;
    int status;
    const char *cmd;

    if (i < argc && strcmp(argv[i], "--json") == 0) {
        json_out = true;
        i++;
    }
    if (i >= argc || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
        usage(i >= argc ? stderr : stdout);
        return i >= argc ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
        puts(UKCTL_VERSION_STRING);
        return 0;
    }
    cmd = argv[i++];
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "ping") != 0 && strcmp(cmd, "env") != 0 &&
        strcmp(cmd, "list") != 0 && strcmp(cmd, "certs") != 0 && strcmp(cmd, "watch") != 0 &&
        strcmp(cmd, "renew-pending") != 0 && strcmp(cmd, "renew-install") != 0) {
        fprintf(stderr, "ukeyctl: unknown command '%s'\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "renew-install") == 0 ? (argc - i < 1 || argc - i > 2)
        : (strcmp(cmd, "certs") == 0 || strcmp(cmd, "renew-pending") == 0) ? argc - i > 1
                                                                           : i != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    fd = connect_daemon();
    if (fd < 0) {
        return EXIT_NOT_RUNNING;
    }
    if (strcmp(cmd, "status") == 0) {
        status = cmd_simple(fd, "system.hello");
    } else if (strcmp(cmd, "ping") == 0) {
        status = cmd_simple(fd, "system.ping");
    } else if (strcmp(cmd, "env") == 0) {
        status = cmd_simple(fd, "env.check");
    } else if (strcmp(cmd, "list") == 0) {
        status = cmd_simple(fd, "token.list");
    } else if (strcmp(cmd, "certs") == 0) {
        status = cmd_certs(fd, i < argc ? argv[i] : NULL);
    } else if (strcmp(cmd, "renew-pending") == 0) {
        status = cmd_renew_pending(fd, i < argc ? argv[i] : NULL);
    } else if (strcmp(cmd, "renew-install") == 0) {
        status = cmd_renew_install(fd, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
    } else {
        status = cmd_watch(fd);
    }
    close(fd);
    return status;
}
