// SPDX-License-Identifier: MIT
/*
 * Hotplug under umockdev's testbed API (run by umockdev-wrapper): ukeyd
 * starts with no USB device; the test adds a fake CCID key, and only after
 * its sysfs "descriptors" file is written sends the "add" uevent libusb
 * acts on (umockdev's own add event comes before the binary attributes,
 * and libusb would find no descriptors); a hello'd client on the Unix
 * socket must get env.changed, and env.check must list the key. Then the
 * key is pulled: env.changed again and the list is empty.
 *
 * No pcscd is needed (the USB side does not depend on it), nor PKCS#11
 * modules: OpenSC's module starts a D-Bus connection from its ELF
 * constructor, inside dlopen's loader lock, and umockdev's preload calls
 * dlsym on every read and write, so the two deadlock. Every wait is for an
 * event, bounded at 20 s.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <umockdev.h>
#include <unistd.h>

#define SYSPATH "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"

static char dir[64];
static pid_t daemon_pid = -1;
static char rx[1 << 20];
static size_t rx_len;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            dump_log();                                                                            \
            cleanup();                                                                             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void dump_log(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "tail -n 40 %s/ukeyd.log >&2", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "(no log)\n");
    }
}

/* SIGTERM, then SIGKILL when the daemon has not gone within 10 s: a
 * daemon stuck at start-up must fail the test, not hang it. */
static void cleanup(void)
{
    if (daemon_pid > 0) {
        pid_t done = 0;
        kill(daemon_pid, SIGTERM);
        for (int i = 0; i < 200 && done == 0; i++) {
            done = waitpid(daemon_pid, NULL, WNOHANG);
            if (done == 0) {
                usleep(50 * 1000);
            }
        }
        if (done == 0) {
            fprintf(stderr, "ukeyd did not stop on SIGTERM; killed\n");
            kill(daemon_pid, SIGKILL);
            waitpid(daemon_pid, NULL, 0);
        }
        daemon_pid = -1;
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf;
    long n;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Next message (one line) within the deadline; NULL on timeout/EOF. */
static cJSON *next_message(int fd, double until)
{
    for (;;) {
        char *nl = memchr(rx, '\n', rx_len);
        if (nl != NULL) {
            cJSON *m = cJSON_ParseWithLength(rx, (size_t)(nl - rx));
            size_t used = (size_t)(nl - rx) + 1;
            memmove(rx, rx + used, rx_len - used);
            rx_len -= used;
            return m;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((until - now_s()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            return NULL;
        }
        ssize_t n = read(fd, rx + rx_len, sizeof(rx) - rx_len);
        if (n <= 0) {
            return NULL;
        }
        rx_len += (size_t)n;
    }
}

/* Sends a request and returns its result (events in between are kept
 * counted in *changed when it is not NULL). */
static cJSON *call(int fd, int id, const char *method, int *changed)
{
    char line[256];
    double until = now_s() + 20;
    cJSON *m;

    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}\n", id, method);
    CHECK(write(fd, line, strlen(line)) == (ssize_t)strlen(line));
    while ((m = next_message(fd, until)) != NULL) {
        const cJSON *mid = cJSON_GetObjectItem(m, "id");
        if (cJSON_IsNumber(mid) && mid->valueint == id) {
            cJSON *r = cJSON_DetachItemFromObject(m, "result");
            cJSON_Delete(m);
            return r;
        }
        if (changed != NULL && cJSON_IsString(cJSON_GetObjectItem(m, "method")) &&
            strcmp(cJSON_GetObjectItem(m, "method")->valuestring, "env.changed") == 0) {
            (*changed)++;
        }
        cJSON_Delete(m);
    }
    return NULL;
}

/* Waits for env.changed {"cause": "usb"}. */
static bool wait_changed(int fd)
{
    double until = now_s() + 20;
    cJSON *m;

    while ((m = next_message(fd, until)) != NULL) {
        const cJSON *meth = cJSON_GetObjectItem(m, "method");
        const cJSON *cause = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "params"), "cause");
        bool hit = cJSON_IsString(meth) && strcmp(meth->valuestring, "env.changed") == 0 &&
                   cJSON_IsString(cause) && strcmp(cause->valuestring, "usb") == 0;
        cJSON_Delete(m);
        if (hit) {
            return true;
        }
    }
    return false;
}

static int count_devices(const cJSON *env)
{
    return cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(env, "usb"), "devices"));
}

int main(void)
{
    const char *build = getenv("UK_BUILD_DIR");
    const char *src = getenv("UK_SOURCE_DIR");
    UMockdevTestbed *tb;
    char path[1024];
    char *desc;
    char *log = NULL;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd;
    FILE *f;
    cJSON *env;
    const cJSON *dev;
    GError *error = NULL;
    double until;

    if (build == NULL || src == NULL) {
        fprintf(stderr, "UK_BUILD_DIR and UK_SOURCE_DIR must be set\n");
        return 2;
    }
    tb = umockdev_testbed_new();
    if (getenv("UMOCKDEV_DIR") == NULL || getenv("LD_PRELOAD") == NULL ||
        strstr(getenv("LD_PRELOAD"), "umockdev") == NULL) {
        fprintf(stderr, "run me under umockdev-wrapper\n");
        return 2;
    }
    snprintf(dir, sizeof(dir), "/tmp/ukeyd-hotplug-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "mkdir -p %s/run %s/cfg/ukeyd %s/state && chmod 700 %s/run", dir,
             dir, dir, dir);
    CHECK(system(path) == 0);
    snprintf(path, sizeof(path), "%s/cfg/ukeyd/config.json", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f,
            "{\"port\": 38685, \"allowedOrigins\": [\"https://hall.example.cn\"], "
            "\"pkcs11Registered\": false, \"usbKeysFile\": \"%s/share/usb-keys.json\"}\n",
            src);
    fclose(f);

    daemon_pid = fork();
    CHECK(daemon_pid >= 0);
    if (daemon_pid == 0) {
        char exe[512];
        snprintf(path, sizeof(path), "%s/ukeyd.log", dir);
        CHECK(freopen(path, "w", stderr) != NULL);
        snprintf(path, sizeof(path), "%s/run", dir);
        setenv("XDG_RUNTIME_DIR", path, 1);
        snprintf(path, sizeof(path), "%s/cfg", dir);
        setenv("XDG_CONFIG_HOME", path, 1);
        snprintf(path, sizeof(path), "%s/state", dir);
        setenv("XDG_STATE_HOME", path, 1);
        snprintf(exe, sizeof(exe), "%s/daemon/ukeyd", build);
        execl(exe, exe, "--log-level", "debug", (char *)NULL);
        _exit(127);
    }
    /* ready when it logs that it listens */
    snprintf(path, sizeof(path), "%s/ukeyd.log", dir);
    until = now_s() + 20;
    while (now_s() < until) {
        free(log);
        log = slurp(path);
        if (log != NULL && strstr(log, "listening on") != NULL) {
            break;
        }
        usleep(50 * 1000);
    }
    CHECK(log != NULL && strstr(log, "listening on") != NULL);
    free(log);

    snprintf(a.sun_path, sizeof(a.sun_path), "%s/run/ukeyd/ukeyd.sock", dir);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    env = call(fd, 1, "system.hello", NULL);
    CHECK(env != NULL);
    cJSON_Delete(env);
    env = call(fd, 2, "env.check", NULL);
    CHECK(env != NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(env, "usb"), "hotplug")));
    CHECK(count_devices(env) == 0);
    cJSON_Delete(env);

    /* plug: the device and its attributes (umockdev sends its "add" here,
     * before the binary descriptors exist), then the "add" libusb reads */
    snprintf(path, sizeof(path), "%s/tests/diag/devices/ccid-unlisted.umockdev", src);
    desc = slurp(path);
    CHECK(desc != NULL);
    CHECK(umockdev_testbed_add_from_string(tb, desc, &error));
    free(desc);
    umockdev_testbed_uevent(tb, SYSPATH, "add");
    CHECK(wait_changed(fd));
    env = call(fd, 3, "env.check", NULL);
    CHECK(env != NULL && count_devices(env) == 1);
    dev = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(env, "usb"), "devices"), 0);
    CHECK(strcmp(cJSON_GetObjectItem(dev, "vid")->valuestring, "096e") == 0);
    CHECK(strcmp(cJSON_GetObjectItem(dev, "pid")->valuestring, "0ffe") == 0);
    CHECK(strcmp(cJSON_GetObjectItem(dev, "product")->valuestring, "ePass Test Unlisted") == 0);
    cJSON_Delete(env);
    printf("arrival: env.changed received, env.check lists 096e:0ffe\n");

    /* pull */
    umockdev_testbed_uevent(tb, SYSPATH, "remove");
    umockdev_testbed_remove_device(tb, SYSPATH);
    CHECK(wait_changed(fd));
    env = call(fd, 4, "env.check", NULL);
    CHECK(env != NULL && count_devices(env) == 0);
    cJSON_Delete(env);
    printf("departure: env.changed received, env.check lists nothing\n");

    close(fd);
    kill(daemon_pid, SIGTERM);
    {
        int st = 0;
        waitpid(daemon_pid, &st, 0);
        daemon_pid = -1;
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    snprintf(path, sizeof(path), "%s/ukeyd.log", dir);
    log = slurp(path);
    CHECK(log != NULL && strstr(log, "Sanitizer") == NULL && strstr(log, "runtime error") == NULL);
    free(log);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    CHECK(system(path) == 0);
    g_object_unref(tb);
    printf("1 passed, 0 failed\n");
    return 0;
}
