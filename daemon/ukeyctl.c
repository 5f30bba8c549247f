// SPDX-License-Identifier: MIT
/*
 * ukeyctl: talks to the running ukeyd over its Unix socket
 * ($XDG_RUNTIME_DIR/ukeyd/ukeyd.sock), one JSON-RPC message per line, and
 * prints the answers for a person (default) or as JSON (--json).
 *
 * Exit status: 0 done, 1 the daemon answered with an error, 2 usage,
 * 3 the daemon is not running (or not reachable).
 */
#define _GNU_SOURCE /* strcasestr */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
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
               "  env             the environment check: PC/SC, readers, USB keys, problems and\n"
               "                  their fixes (in Chinese when LANG is zh_*)\n"
               "  diagnose [FILE] write a support report (no PIN, no private data) to FILE\n"
               "                  (default ukeyd-report-DATE.txt) to send to 在线客服\n"
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
    }
    cJSON_Delete(msg);
    return 0;
}

/* ---- env and diagnose ----------------------------------------------------- */

static bool lang_zh(void)
{
    const char *vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};

    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0') {
            return strncmp(v, "zh", 2) == 0;
        }
    }
    return false;
}

static bool facts_pending(const cJSON *r)
{
    const cJSON *t;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r, "tokens"))
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "factsPending"))) {
            return true;
        }
    }
    return false;
}

/* env.check with the tokens' facts: when a key's facts are being read, the
 * daemon answers at once and sends env.changed after the read; wait for
 * those and ask again, within ENV_WAIT_MS in all (a key or a module that
 * hangs must not hang the command: its facts are then printed as pending).
 * Returns the whole response message. */
#define ENV_WAIT_MS 15000
static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

static cJSON *env_check_full(int fd, int *status)
{
    cJSON *msg = call(fd, "system.hello", NULL, status);
    const cJSON *r;
    struct timespec t0;

    if (msg == NULL) {
        return NULL;
    }
    cJSON_Delete(msg);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    msg = call(fd, "env.check", NULL, status);
    for (int round = 0; msg != NULL && round < 3; round++) {
        cJSON *ev;
        long left = ENV_WAIT_MS - ms_since(&t0);
        r = cJSON_GetObjectItemCaseSensitive(msg, "result");
        if (!facts_pending(r) || left <= 0) {
            break;
        }
        while ((ev = read_message(fd, (int)left)) != NULL) {
            bool done = strcmp(str(ev, "method"), "env.changed") == 0;
            cJSON_Delete(ev);
            left = ENV_WAIT_MS - ms_since(&t0);
            if (done || left <= 0) {
                break;
            }
        }
        cJSON_Delete(msg);
        msg = call(fd, "env.check", NULL, status);
    }
    return msg;
}

static void print_env(FILE *f, const cJSON *r, bool zh)
{
    const cJSON *x;
    const cJSON *usb = cJSON_GetObjectItemCaseSensitive(r, "usb");
    const cJSON *daemon = cJSON_GetObjectItemCaseSensitive(r, "daemon");
    bool pcsc = cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "pcsc"), "running"));
    int n = 0;

    fprintf(f, zh ? "控件：ukeyd %s，端口 %d\n" : "daemon: ukeyd %s, port %d\n",
            str(daemon, "version"),
            cJSON_GetObjectItemCaseSensitive(daemon, "port") != NULL
                ? cJSON_GetObjectItemCaseSensitive(daemon, "port")->valueint
                : 0);
    if (zh) {
        fprintf(f, "智能卡服务（pcscd）：%s\n", pcsc ? "运行中" : "未运行");
    } else {
        fprintf(f, "PC/SC service: %s\n", pcsc ? "running" : "NOT running");
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(usb, "available"))) {
        fprintf(f, zh ? "USB：可用%s\n" : "USB: available%s\n",
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(usb, "hotplug"))
                    ? (zh ? "，支持热插拔" : ", hotplug on")
                    : (zh ? "，不支持热插拔" : ", no hotplug"));
    } else {
        fprintf(f, zh ? "USB：不可用（%s）\n" : "USB: not available (%s)\n", str(usb, "reason"));
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "readers"))
    {
        bool card = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "card"));
        fprintf(f, zh ? "读卡器：%s（%s）%s%s\n" : "reader: %s (%s)%s%s\n", str(x, "name"),
                card ? (zh ? "已插入" : "key inserted") : (zh ? "空" : "empty"),
                str(x, "atr")[0] ? "  ATR " : "", str(x, "atr"));
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(usb, "devices"))
    {
        const char *reader = str(x, "reader");
        fprintf(f,
                zh ? "USB 设备：%s:%s %s %s（%s%s%s）\n  读卡器：%s\n"
                   : "USB device: %s:%s %s %s (%s%s%s)\n  reader: %s\n",
                str(x, "vid"), str(x, "pid"), str(x, "maker"), str(x, "product"), str(x, "kind"),
                str(x, "knownName")[0] ? ", " : "", str(x, "knownName"),
                reader[0] ? reader : (zh ? "无" : "none"));
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "pkcs11"))
    {
        const char *problem = str(x, "problem");
        fprintf(f, zh ? "PKCS#11 模块：%s %s%s%s\n" : "PKCS#11 module: %s %s%s%s\n",
                str(x, "module"), str(x, "status"), problem[0] != '\0' ? " " : "", problem);
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "tokens"))
    {
        const cJSON *facts = cJSON_GetObjectItemCaseSensitive(x, "facts");
        const cJSON *pin = cJSON_GetObjectItemCaseSensitive(facts, "pin");
        const cJSON *tries = cJSON_GetObjectItemCaseSensitive(pin, "retriesLeft");
        const cJSON *c;
        fprintf(f, zh ? "USB-KEY：%s %s\n" : "key: %s %s\n", str(x, "tokenId"), str(x, "label"));
        if (facts == NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "factsPending"))) {
            fprintf(f, "%s",
                    zh ? "  （USB-KEY 无响应，未能读取 PIN 码和证书状态）\n"
                       : "  (the key did not answer: PIN and certificates not read)\n");
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pin, "blocked"))) {
            fprintf(f, "%s", zh ? "  PIN 码：已锁定\n" : "  PIN: blocked\n");
        } else if (cJSON_IsNumber(tries)) {
            fprintf(f, zh ? "  PIN 码：还可尝试 %d 次\n" : "  PIN: %d tries left\n",
                    tries->valueint);
        }
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(facts, "certs"))
        {
            fprintf(f,
                    zh ? "  证书：%s，有效期至 %s（%s）\n" : "  certificate: %s, until %s (%s)\n",
                    str(c, "commonName"), str(c, "notAfter"), str(c, "status"));
        }
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "problems"))
    {
        const char *lang = zh ? "zh-CN" : "en";
        if (n++ == 0) {
            fprintf(f, "%s", zh ? "\n发现的问题：\n" : "\nProblems:\n");
        }
        fprintf(f, "%s %s: %s\n", strcmp(str(x, "severity"), "info") == 0 ? "i" : "✗",
                str(x, "code"), str(cJSON_GetObjectItemCaseSensitive(x, "message"), lang));
        fprintf(f, zh ? "  解决办法：%s\n" : "  fix: %s\n",
                str(cJSON_GetObjectItemCaseSensitive(x, "fix"), lang));
    }
    if (n == 0) {
        fprintf(f, "%s", zh ? "\n检测通过。\n" : "\nAll checks passed.\n");
    }
}

static int cmd_env(int fd)
{
    int status;
    cJSON *msg = env_check_full(fd, &status);

    if (msg == NULL) {
        return status;
    }
    if (json_out) {
        print_json(cJSON_GetObjectItemCaseSensitive(msg, "result"));
    } else {
        print_env(stdout, cJSON_GetObjectItemCaseSensitive(msg, "result"), lang_zh());
    }
    cJSON_Delete(msg);
    return 0;
}

/* Copies a small text file into the report, each line indented. */
static void copy_file(FILE *out, const char *path, const char *only_prefix)
{
    char line[512];
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        fprintf(out, "  (%s: %s)\n", path, strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (only_prefix == NULL || strncmp(line, only_prefix, strlen(only_prefix)) == 0) {
            fprintf(out, "  %s%s", line, strchr(line, '\n') ? "" : "\n");
        }
    }
    fclose(f);
}

/* A command's output into the report (a fixed argv, no shell). */
static void copy_command(FILE *out, const char *const argv[])
{
    char line[1024];
    int pipefd[2];
    pid_t pid;
    FILE *f;

    fflush(out);
    if (pipe(pipefd) != 0) {
        return;
    }
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        /* execvp's prototype predates const; it does not write argv */
        union {
            const char *const *c;
            char *const *m;
        } args = {.c = argv};
        execvp(argv[0], args.m);
        _exit(127);
    }
    close(pipefd[1]);
    f = pid > 0 ? fdopen(pipefd[0], "r") : NULL;
    if (f == NULL) {
        close(pipefd[0]);
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        fprintf(out, "  %s%s", line, strchr(line, '\n') ? "" : "\n");
    }
    fclose(f);
    waitpid(pid, NULL, 0);
}

/* The configuration without secrets: nothing in ukeyd's configuration is
 * a secret today, but any member whose name says so is masked, so a key
 * added later cannot leak into a report. */
static void mask_secrets(cJSON *o)
{
    cJSON *m;

    cJSON_ArrayForEach(m, o)
    {
        const char *k = m->string != NULL ? m->string : "";
        if (strcasestr(k, "pin") || strcasestr(k, "puk") || strcasestr(k, "secret") ||
            strcasestr(k, "password") || strcasestr(k, "token") || strcasestr(k, "key") == k) {
            if (!cJSON_IsArray(m) && !cJSON_IsObject(m)) {
                cJSON_ReplaceItemViaPointer(o, m, cJSON_CreateString("(removed)"));
                continue;
            }
        }
        if (cJSON_IsArray(m) || cJSON_IsObject(m)) {
            mask_secrets(m);
        }
    }
}

static void copy_config(FILE *out, const char *path)
{
    char *txt = NULL;
    size_t len = 0;
    cJSON *root;
    char *s;

    fprintf(out, "  %s:\n", path);
    if (uk_file_read(path, 65536, &txt, &len) != UK_OK) {
        fprintf(out, "    (none)\n");
        return;
    }
    root = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (root == NULL) {
        fprintf(out, "    (not valid JSON)\n");
        return;
    }
    mask_secrets(root);
    s = cJSON_Print(root);
    fprintf(out, "%s\n", s ? s : "");
    free(s);
    cJSON_Delete(root);
}

static int cmd_diagnose(int fd, const char *file)
{
    char name[64];
    char user_cfg[4096];
    time_t now = time(NULL);
    struct tm tm;
    struct utsname un;
    const char *pkgs[] = {"dpkg-query",   "-W",     "-f",      "${Package} ${Version} ${Status}\\n",
                          "ukeyd",        "pcscd",  "libccid", "libpcsclite1",
                          "libusb-1.0-0", "opensc", "p11-kit", NULL};
    const char *journal[] = {"journalctl", "--user",     "-u", "ukeyd",     "-n",
                             "200",        "--no-pager", "-o", "short-iso", NULL};
    const char *lsusb[] = {"lsusb", NULL};
    int status;
    cJSON *hello;
    cJSON *msg;
    FILE *out;
    char *json;

    gmtime_r(&now, &tm);
    if (file == NULL) {
        strftime(name, sizeof(name), "ukeyd-report-%Y%m%d-%H%M%S.txt", &tm);
        file = name;
    }
    hello = call(fd, "system.hello", NULL, &status);
    if (hello == NULL) {
        return status;
    }
    msg = env_check_full(fd, &status);
    if (msg == NULL) {
        cJSON_Delete(hello);
        return status;
    }
    out = fopen(file, "wx");
    if (out == NULL) {
        fprintf(stderr, "ukeyctl: cannot create %s: %s\n", file, strerror(errno));
        cJSON_Delete(hello);
        cJSON_Delete(msg);
        return EXIT_ERROR;
    }
    fprintf(out, "ukeyd support report / USB-KEY 控件诊断报告\n");
    fprintf(out, "Contains no PIN and no private key; certificates are public data.\n");
    fprintf(out, "本报告不含 PIN 码和私钥，可发送给在线客服。\n\n");
    strftime(name, sizeof(name), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(out, "== generated\n  %s by %s\n\n", name, UKCTL_VERSION_STRING);
    fprintf(out, "== versions\n  ukeyd %s, protocol %d\n",
            str(cJSON_GetObjectItemCaseSensitive(hello, "result"), "version"),
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(hello, "result"),
                                             "protocol")
                ? cJSON_GetObjectItemCaseSensitive(
                      cJSON_GetObjectItemCaseSensitive(hello, "result"), "protocol")
                      ->valueint
                : 0);
    copy_command(out, pkgs);
    fprintf(out, "\n== distribution (/etc/os-release)\n");
    copy_file(out, "/etc/os-release", "PRETTY_NAME");
    copy_file(out, "/etc/os-release", "VERSION_ID");
    if (uname(&un) == 0) {
        fprintf(out, "\n== kernel\n  %s %s %s %s\n", un.sysname, un.release, un.version,
                un.machine);
    }
    fprintf(out, "\n== environment check (env.check), readable\n");
    print_env(out, cJSON_GetObjectItemCaseSensitive(msg, "result"), false);
    fprintf(out, "\n== 环境检测\n");
    print_env(out, cJSON_GetObjectItemCaseSensitive(msg, "result"), true);
    fprintf(out, "\n== env.check as JSON (readers with ATRs, USB devices of interest, tokens, "
                 "certificates without private data, problems)\n");
    json = cJSON_Print(cJSON_GetObjectItemCaseSensitive(msg, "result"));
    fprintf(out, "%s\n", json ? json : "");
    free(json);
    fprintf(out, "\n== all USB devices (lsusb)\n");
    copy_command(out, lsusb);
    fprintf(out, "\n== configuration (secrets removed)\n");
    copy_config(out, UKD_SYSTEM_CONFIG);
    if (ukd_platform_config_path(user_cfg, sizeof(user_cfg)) == UK_OK) {
        copy_config(out, user_cfg);
    }
    fprintf(out, "\n== recent ukeyd log (journalctl --user -u ukeyd)\n");
    copy_command(out, journal);
    if (fclose(out) != 0) {
        fprintf(stderr, "ukeyctl: cannot write %s\n", file);
        cJSON_Delete(hello);
        cJSON_Delete(msg);
        return EXIT_ERROR;
    }
    printf("%s\n", file);
    fprintf(stderr,
            lang_zh() ? "诊断报告已写入 %s，请将该文件发送给在线客服。\n"
                      : "Report written to %s; send this file to support (在线客服).\n",
            file);
    cJSON_Delete(hello);
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
        strcmp(cmd, "renew-pending") != 0 && strcmp(cmd, "renew-install") != 0 &&
        strcmp(cmd, "diagnose") != 0) {
        fprintf(stderr, "ukeyctl: unknown command '%s'\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "renew-install") == 0 ? (argc - i < 1 || argc - i > 2)
        : (strcmp(cmd, "certs") == 0 || strcmp(cmd, "renew-pending") == 0 ||
           strcmp(cmd, "diagnose") == 0)
            ? argc - i > 1
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
        status = cmd_env(fd);
    } else if (strcmp(cmd, "diagnose") == 0) {
        status = cmd_diagnose(fd, i < argc ? argv[i] : NULL);
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
