// SPDX-License-Identifier: MIT
/*
 * Unit tests of the daemon's configuration (every key, every kind of bad
 * value, the error naming file and key, origin lists joined across files)
 * and of the platform's peer lookups on real loopback and Unix sockets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "platform/platform.h"

static char dir[] = "/tmp/ukd-config-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text; returns the rc, and the error in err (static). */
static uk_rc load(ukd_config *cfg, const char *text, char *errbuf, size_t cap)
{
    char *err = NULL;
    uk_rc rc;

    ukd_config_defaults(cfg);
    rc = ukd_config_load_file(cfg, write_file("c.json", text), &err);
    snprintf(errbuf, cap, "%s", err ? err : "");
    free(err);
    return rc;
}

static void test_good(void)
{
    ukd_config cfg;
    char err[512];

    CHECK_EQ(load(&cfg,
                  "{\"port\": 18000, \"allowedOrigins\": [\"https://hall.example.cn\", "
                  "\"http://127.0.0.1:8080\"], \"maxMessageBytes\": 4096, \"maxClients\": 10, "
                  "\"maxPendingPerClient\": 2, \"idleTimeoutSeconds\": 30, \"logLevel\": "
                  "\"debug\", \"renewal\": {\"monthsBefore\": 2, \"monthsAfter\": 6}, "
                  "\"hallUrl\": \"https://hall.example.cn/ukey?from=tray\"}",
                  err, sizeof(err)),
             UK_OK);
    CHECK_EQ(cfg.port, 18000);
    CHECK_EQ(cfg.n_origins, 2);
    CHECK(ukd_config_origin_allowed(&cfg, "https://hall.example.cn"));
    CHECK(!ukd_config_origin_allowed(&cfg, "https://hall.example.cn/"));
    CHECK(!ukd_config_origin_allowed(&cfg, "https://HALL.example.cn"));
    CHECK(!ukd_config_origin_allowed(&cfg, NULL));
    CHECK_EQ(cfg.max_message, 4096);
    CHECK_EQ(cfg.max_clients, 10);
    CHECK_EQ(cfg.max_pending, 2);
    CHECK_EQ(cfg.idle_timeout, 30);
    CHECK_EQ(cfg.log_level, UK_LOG_DEBUG);
    CHECK_EQ(cfg.renewal.months_before, 2);
    CHECK_EQ(cfg.renewal.months_after, 6);
    CHECK(strcmp(cfg.hall_url, "https://hall.example.cn/ukey?from=tray") == 0);
    ukd_config_free(&cfg);
    ukd_config_defaults(&cfg);
    CHECK(strcmp(cfg.hall_url, UKD_DEFAULT_HALL_URL) == 0);
}

static void test_url(void)
{
    static const char *const good[] = {"https://hall.example.cn/", "http://127.0.0.1:8080",
                                       "https://a.cn/x?y=%E5%85%A8#env"};
    static const char *const bad[] = {"",
                                      "hall.example.cn",
                                      "ftp://a.cn/",
                                      "javascript:alert(1)",
                                      "file:///etc/passwd",
                                      "https://",
                                      "https:///path",
                                      "https://a.cn/a b",
                                      "https://a.cn/\t",
                                      "https://a.cn/\"x\"",
                                      "https://a.cn/\xe5\x85\xa8",
                                      "HTTPS://a.cn/"};
    char long_url[UKD_URL_MAX + 8];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK(ukd_config_url_valid(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ukd_config_url_valid(bad[i])) {
            fprintf(stderr, "accepted bad URL case %zu\n", i);
            CHECK_FAIL("bad URL refused");
        }
    }
    CHECK(!ukd_config_url_valid(NULL));
    memset(long_url, 'a', sizeof(long_url));
    memcpy(long_url, "https://", 8);
    long_url[UKD_URL_MAX] = '\0'; /* UKD_URL_MAX characters: one too many */
    CHECK(!ukd_config_url_valid(long_url));
    long_url[UKD_URL_MAX - 1] = '\0';
    CHECK(ukd_config_url_valid(long_url));
}

static void test_bad(void)
{
    static const struct {
        const char *text;
        const char *key; /* expected in the message */
    } cases[] = {
        {"{\"port\": 80}", "'port'"},
        {"{\"pkcs11Modules\": \"/usr/lib/a.so\"}", "'pkcs11Modules'"},
        {"{\"pkcs11Modules\": [\"libsofthsm2.so\"]}", "'pkcs11Modules[0]'"},
        {"{\"pkcs11Modules\": [\"/a.so\", 7]}", "'pkcs11Modules[1]'"},
        {"{\"pkcs11Modules\": [\"\"]}", "'pkcs11Modules[0]'"},
        {"{\"pkcs11Registered\": \"yes\"}", "'pkcs11Registered'"},
        {"{\"port\": \"17485\"}", "'port'"},
        {"{\"port\": 17485.5}", "'port'"},
        {"{\"port\": 65535}", "'port'"}, /* the next four must fit too */
        {"{\"allowedOrigins\": \"https://a.cn\"}", "'allowedOrigins'"},
        {"{\"allowedOrigins\": [\"https://a.cn/\"]}", "'allowedOrigins[0]'"},
        {"{\"allowedOrigins\": [\"https://a.cn\", \"*\"]}", "'allowedOrigins[1]'"},
        {"{\"allowedOrigins\": [\"null\"]}", "'allowedOrigins[0]'"},
        {"{\"allowedOrigins\": [\"ftp://a.cn\"]}", "'allowedOrigins[0]'"},
        {"{\"allowedOrigins\": [\"https://A.cn\"]}", "'allowedOrigins[0]'"},
        {"{\"allowedOrigins\": [\"https://a.cn/path\"]}", "'allowedOrigins[0]'"},
        {"{\"allowedOrigins\": [3]}", "'allowedOrigins[0]'"},
        {"{\"maxMessageBytes\": 10}", "'maxMessageBytes'"},
        {"{\"maxClients\": 0}", "'maxClients'"},
        {"{\"maxPendingPerClient\": true}", "'maxPendingPerClient'"},
        {"{\"idleTimeoutSeconds\": -1}", "'idleTimeoutSeconds'"},
        {"{\"logLevel\": \"loud\"}", "'logLevel'"},
        {"{\"renewal\": {\"monthsBefore\": -1}}", "'renewal.monthsBefore'"},
        {"{\"renewal\": {\"weeks\": 1}}", "'renewal.weeks'"},
        {"{\"renewal\": 1}", "'renewal'"},
        {"{\"hallUrl\": \"ftp://a.cn/\"}", "'hallUrl'"},
        {"{\"hallUrl\": 1}", "'hallUrl'"},
        {"{\"hallUrl\": \"https://a.cn/a b\"}", "'hallUrl'"},
        {"{\"prot\": 17485}", "'prot': unknown key"},
        {"{\"port\": 17485, \"port\": 17486}", "'port': appears twice"},
        {"[1, 2]", "not a JSON object"},
        {"{\"port\": 17485", "not a JSON object"},
        {"", "not a JSON object"},
    };
    ukd_config cfg;
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ(load(&cfg, cases[i].text, err, sizeof(err)), UK_E_INVALID_ARG);
        if (strstr(err, cases[i].key) == NULL || strstr(err, "c.json") == NULL) {
            fprintf(stderr, "case %zu: message '%s' lacks %s\n", i, err, cases[i].key);
            CHECK_FAIL("error names the file and key");
        }
        ukd_config_free(&cfg);
    }
}

static void test_layers(void)
{
    ukd_config cfg;
    char *err = NULL;

    ukd_config_defaults(&cfg);
    CHECK_EQ(ukd_config_load_file(&cfg, "/nonexistent/ukeyd.json", &err), UK_E_NOT_FOUND);
    CHECK_EQ(ukd_config_load_file(&cfg,
                                  write_file("sys.json", "{\"port\": 18000, \"allowedOrigins\": "
                                                         "[\"https://a.cn\"]}"),
                                  &err),
             UK_OK);
    CHECK_EQ(ukd_config_load_file(&cfg,
                                  write_file("user.json", "{\"port\": 18100, \"allowedOrigins\": "
                                                          "[\"https://b.cn\", \"https://a.cn\"]}"),
                                  &err),
             UK_OK);
    CHECK_EQ(cfg.port, 18100);  /* the user's value wins */
    CHECK_EQ(cfg.n_origins, 2); /* lists joined, no duplicates */
    CHECK(ukd_config_origin_allowed(&cfg, "https://a.cn"));
    CHECK(ukd_config_origin_allowed(&cfg, "https://b.cn"));
    CHECK(err == NULL);
    ukd_config_free(&cfg);
}

/* pkcs11Modules and the registry: p11-kit module files (trust store and
 * disabled ones left out), OpenSC's default, the configured paths; each
 * module once, compared after realpath. */
static void test_p11(void)
{
    ukd_config cfg;
    ukd_p11_list l;
    char errbuf[256];
    char reg[300];
    char mods[300];
    char path[400];
    char text[600];
    const char *dirs[1];

    CHECK_EQ(load(&cfg, "{}", errbuf, sizeof(errbuf)), UK_OK);
    CHECK(cfg.p11_registered);
    CHECK_EQ(cfg.n_p11_modules, 0u);
    ukd_config_free(&cfg);

    snprintf(reg, sizeof(reg), "%s/reg", dir);
    snprintf(mods, sizeof(mods), "%s/mods", dir);
    CHECK(mkdir(reg, 0700) == 0 && mkdir(mods, 0700) == 0);
    snprintf(path, sizeof(path), "%s/vendor.so", mods);
    fclose(fopen(path, "w"));
    snprintf(path, sizeof(path), "%s/opensc-pkcs11.so", mods);
    fclose(fopen(path, "w"));
    snprintf(path, sizeof(path), "%s/link.so", mods);
    CHECK(symlink("vendor.so", path) == 0);
    snprintf(path, sizeof(path), "reg/a-vendor.module");
    write_file(path, "module: vendor.so\nx-init-reserved: slot=1\n");
    write_file("reg/b-trust.module", "module: p11-kit-trust.so\ntrust-policy: yes\n");
    write_file("reg/c-off.module", "module: off.so\ndisable-in: ukeyd\n");
    write_file("reg/d-broken.module", "priority: 1\n");
    write_file("reg/not-a-module.txt", "module: x.so\n");
    dirs[0] = reg;

    snprintf(text, sizeof(text), "{\"pkcs11Modules\": [\"%s/link.so\", \"/opt/v/other.so\"]}",
             mods);
    CHECK_EQ(load(&cfg, text, errbuf, sizeof(errbuf)), UK_OK);
    CHECK_EQ(cfg.n_p11_modules, 2u);
    ukd_config_p11_modules(&cfg, dirs, 1, mods, &l);
    /* vendor.so (registry, with its option), OpenSC, other.so; link.so is
     * vendor.so again */
    CHECK_EQ(l.n, 3u);
    snprintf(path, sizeof(path), "%s/vendor.so", mods);
    CHECK(strcmp(l.path[0], path) == 0);
    CHECK(strcmp(l.init_reserved[0], "slot=1") == 0);
    snprintf(path, sizeof(path), "%s/opensc-pkcs11.so", mods);
    CHECK(strcmp(l.path[1], path) == 0);
    CHECK(strcmp(l.path[2], "/opt/v/other.so") == 0);
    ukd_config_free(&cfg);

    /* an entry with its own options: initArgs goes to C_Initialize */
    snprintf(text, sizeof(text),
             "{\"pkcs11Registered\": false, \"pkcs11Modules\": [\"/opt/v/a.so\", "
             "{\"path\": \"/opt/v/b.so\", \"initArgs\": \"configdir=/etc/b\"}]}");
    CHECK_EQ(load(&cfg, text, errbuf, sizeof(errbuf)), UK_OK);
    ukd_config_p11_modules(&cfg, dirs, 1, mods, &l);
    CHECK_EQ(l.n, 2u);
    CHECK(strcmp(l.path[0], "/opt/v/a.so") == 0 && l.init_reserved[0][0] == '\0');
    CHECK(strcmp(l.path[1], "/opt/v/b.so") == 0);
    CHECK(strcmp(l.init_reserved[1], "configdir=/etc/b") == 0);
    ukd_config_free(&cfg);
    CHECK_EQ(load(&cfg, "{\"pkcs11Modules\": [{\"path\": \"/opt/v/b.so\", \"slot\": 1}]}", errbuf,
                  sizeof(errbuf)),
             UK_E_INVALID_ARG);
    CHECK(strstr(errbuf, "pkcs11Modules[0]") != NULL && strstr(errbuf, "'slot'") != NULL);
    ukd_config_free(&cfg);
    CHECK_EQ(load(&cfg, "{\"pkcs11Modules\": [{\"initArgs\": \"x\"}]}", errbuf, sizeof(errbuf)),
             UK_E_INVALID_ARG);
    ukd_config_free(&cfg);
    CHECK_EQ(load(&cfg, "{\"pkcs11Modules\": [{\"path\": \"/opt/v/b.so\", \"initArgs\": 3}]}",
                  errbuf, sizeof(errbuf)),
             UK_E_INVALID_ARG);
    CHECK(strstr(errbuf, "initArgs") != NULL);
    ukd_config_free(&cfg);

    /* pkcs11Registered false: only the configured ones */
    snprintf(text, sizeof(text),
             "{\"pkcs11Registered\": false, \"pkcs11Modules\": [\"/opt/v/other.so\"]}");
    CHECK_EQ(load(&cfg, text, errbuf, sizeof(errbuf)), UK_OK);
    ukd_config_p11_modules(&cfg, dirs, 1, mods, &l);
    CHECK_EQ(l.n, 1u);
    CHECK(strcmp(l.path[0], "/opt/v/other.so") == 0);
    ukd_config_free(&cfg);
}

static void test_tcp_peer(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    int s;
    uint32_t uid = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(ls, 1) == 0);
    CHECK(getsockname(ls, (struct sockaddr *)&sa, &len) == 0);
    CHECK(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    len = sizeof(sa);
    s = accept(ls, (struct sockaddr *)&sa, &len);
    CHECK(s >= 0);
    /* the server sees the client at sa: who owns that socket? */
    CHECK_EQ(
        ukd_platform_tcp_peer_uid(AF_INET, (const uint8_t *)&sa.sin_addr, ntohs(sa.sin_port), &uid),
        UK_OK);
    CHECK_EQ(uid, getuid());
    CHECK_EQ(ukd_platform_tcp_peer_uid(AF_INET, (const uint8_t *)&sa.sin_addr, 1, &uid),
             UK_E_NOT_FOUND);
    close(s);
    close(c);
    close(ls);
}

static void test_tcp6_peer(void)
{
    struct sockaddr_in6 sa;
    socklen_t len = sizeof(sa);
    int ls = socket(AF_INET6, SOCK_STREAM, 0);
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    int s;
    uint32_t uid = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        printf("no IPv6 loopback here; skipping the tcp6 case\n");
        close(ls);
        close(c);
        return;
    }
    CHECK(listen(ls, 1) == 0);
    CHECK(getsockname(ls, (struct sockaddr *)&sa, &len) == 0);
    CHECK(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    len = sizeof(sa);
    s = accept(ls, (struct sockaddr *)&sa, &len);
    CHECK_EQ(ukd_platform_tcp_peer_uid(AF_INET6, sa.sin6_addr.s6_addr, ntohs(sa.sin6_port), &uid),
             UK_OK);
    CHECK_EQ(uid, getuid());
    close(s);
    close(c);
    close(ls);
}

static void test_unix_peer(void)
{
    int sv[2];
    uint32_t uid = 0;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_EQ(ukd_platform_unix_peer_uid(sv[0], &uid), UK_OK);
    CHECK_EQ(uid, getuid());
    close(sv[0]);
    close(sv[1]);
}

static void test_dirs_and_lock(void)
{
    char path[4096];
    char expect[512];
    int fd1 = -1;
    int fd2 = -1;

    snprintf(expect, sizeof(expect), "%s/run", dir);
    setenv("XDG_RUNTIME_DIR", expect, 1);
    CHECK_EQ(ukd_platform_runtime_dir(path, sizeof(path)), UK_OK);
    snprintf(expect, sizeof(expect), "%s/run/ukeyd", dir);
    CHECK(strcmp(path, expect) == 0);
    CHECK_EQ(ukd_platform_lock(path, &fd1), UK_OK);
    CHECK_EQ(ukd_platform_lock(path, &fd2), UK_E_LIMIT); /* one daemon per user */
    close(fd1);
    CHECK_EQ(ukd_platform_lock(path, &fd2), UK_OK);
    close(fd2);
    unsetenv("XDG_RUNTIME_DIR");
    CHECK_EQ(ukd_platform_runtime_dir(path, sizeof(path)), UK_E_NOT_FOUND);
    snprintf(expect, sizeof(expect), "%s/cfg", dir);
    setenv("XDG_CONFIG_HOME", expect, 1);
    CHECK_EQ(ukd_platform_config_path(path, sizeof(path)), UK_OK);
    snprintf(expect, sizeof(expect), "%s/cfg/ukeyd/config.json", dir);
    CHECK(strcmp(path, expect) == 0);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    test_good();
    test_bad();
    test_url();
    test_layers();
    test_p11();
    test_tcp_peer();
    test_tcp6_peer();
    test_unix_peer();
    test_dirs_and_lock();
    return check_exit_code("test_config");
}
