// SPDX-License-Identifier: MIT
/*
 * Pure code of the diagnosis: the known-keys list reader (the installed
 * file, every kind of bad document, merging and overriding), version
 * comparison, and each problem rule of env.check from hand-made inputs.
 * argv[1] is the installed list (share/usb-keys.json).
 */
#define _POSIX_C_SOURCE 200809L /* setenv, tzset */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/check.h"
#include "diag.h"
#include "usbkeys.h"

static ukd_usbkeys db;

/* ---- the list --------------------------------------------------------------- */

static void test_installed_list(const char *path)
{
    char *err = NULL;
    const ukd_usbkey *k;

    CHECK_EQ(ukd_usbkeys_load_file(&db, path, &err), UK_OK);
    CHECK(err == NULL);
    CHECK(db.n >= 90);
    k = ukd_usbkeys_find(&db, 0x096e, 0x0807);
    CHECK(k != NULL && k->kind == UKD_USBKEY_CCID && strcmp(k->maker, "Feitian") == 0);
    k = ukd_usbkeys_find(&db, 0x096e, 0x0309);
    CHECK(k != NULL && k->kind == UKD_USBKEY_VENDOR && strcmp(k->name, "ePass3000GM") == 0);
    CHECK(k != NULL && strncmp(k->driver_url, "https://", 8) == 0); /* the maker's default */
    CHECK(ukd_usbkeys_find(&db, 0x1050, 0x0407) != NULL);           /* Yubico */
    CHECK(ukd_usbkeys_find(&db, 0x076b, 0x3021) != NULL);           /* HID Omnikey */
    CHECK(ukd_usbkeys_find(&db, 0xa625, 0x0801) != NULL);           /* TianYu */
    CHECK(ukd_usbkeys_find(&db, 0x163c, 0x0407) != NULL);           /* Watchdata */
    CHECK(ukd_usbkeys_find(&db, 0x096e, 0x0ffe) == NULL);
    CHECK(ukd_usbkeys_maker(&db, 0x055c) != NULL &&
          strcmp(ukd_usbkeys_maker(&db, 0x055c)->name, "Longmai") == 0);
    CHECK(ukd_usbkeys_maker(&db, 0x0001) == NULL);
    free(err);
}

static void expect_bad(const char *doc, const char *needle)
{
    char *err = NULL;
    size_t before = db.n;
    uk_rc rc = ukd_usbkeys_parse(&db, doc, strlen(doc), "t.json", &err);

    CHECK_EQ(rc, UK_E_MALFORMED);
    CHECK_EQ(db.n, before); /* nothing of a bad document is kept */
    if (err == NULL || strstr(err, needle) == NULL || strncmp(err, "t.json: ", 8) != 0) {
        fprintf(stderr, "  for %s\n  got %s, wanted '%s'\n", doc, err ? err : "(null)", needle);
        CHECK_FAIL("error message");
    }
    free(err);
}

#define HEAD "{\"format\":\"ukeyd-usb-keys/1\",\"keys\":["
#define GOOD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"ccid\",\"name\":\"T\"}"

static void test_bad_lists(void)
{
    expect_bad("", "not a JSON object");
    expect_bad("[]", "not a JSON object");
    expect_bad("{\"keys\":[]}", "format must be");
    expect_bad("{\"format\":\"ukeyd-usb-keys/2\",\"keys\":[]}", "format must be");
    expect_bad("{\"format\":\"ukeyd-usb-keys/1\"}", "keys is required");
    expect_bad("{\"format\":\"ukeyd-usb-keys/1\",\"keys\":{}}", "keys must be an array");
    expect_bad("{\"format\":\"ukeyd-usb-keys/1\",\"keys\":[],\"extra\":1}",
               "unknown member 'extra'");
    expect_bad("{\"format\":\"ukeyd-usb-keys/1\",\"format\":\"ukeyd-usb-keys/1\",\"keys\":[]}",
               "appears twice");
    expect_bad(HEAD "1]}", "keys[0]: not an object");
    expect_bad(HEAD GOOD ",{\"vid\":\"96e\",\"pid\":\"0001\",\"kind\":\"ccid\",\"name\":\"x\"}]}",
               "keys[1]: vid must be four hex digits");
    expect_bad(HEAD "{\"vid\":\"zzzz\",\"pid\":\"0001\",\"kind\":\"ccid\",\"name\":\"x\"}]}",
               "vid must be four hex digits");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":5678,\"kind\":\"ccid\",\"name\":\"x\"}]}",
               "pid must be four hex digits");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"hid\",\"name\":\"x\"}]}",
               "kind must be \"ccid\" or \"vendor\"");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"ccid\"}]}",
               "vid, pid, kind and name are required");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"ccid\",\"name\":\"\"}]}",
               "name must be a string");
    expect_bad(HEAD GOOD "," GOOD "]}", "1234:5678 is already listed at keys[0]");
    expect_bad(HEAD "{\"vid\":\"1234\",\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"ccid\","
                    "\"name\":\"x\"}]}",
               "member 'vid' appears twice");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"vendor\",\"name\":\"x\","
                    "\"modules\":[\"/usr/lib/x.so\"]}]}",
               "without '/'");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"vendor\",\"name\":\"x\","
                    "\"modules\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}]}",
               "at most 4");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"vendor\",\"name\":\"x\","
                    "\"driverUrl\":\"ftp://x\"}]}",
               "driverUrl must be an http(s) URL");
    expect_bad(HEAD "{\"vid\":\"1234\",\"pid\":\"5678\",\"kind\":\"ccid\",\"name\":\"x\","
                    "\"color\":\"red\"}]}",
               "unknown member 'color'");
    expect_bad("{\"format\":\"ukeyd-usb-keys/1\",\"makers\":{\"12\":{\"name\":\"x\"}},\"keys\":[]}",
               "is not a vendor id");
    expect_bad("{\"format\":\"ukeyd-usb-keys/1\",\"makers\":{\"1234\":{}},\"keys\":[]}",
               "name is required");
    expect_bad("{\"format\":\"ukeyd-usb-keys/1\",\"keys\":[" GOOD "]} trailing",
               "not a JSON object");
}

static void test_merge_override(void)
{
    const char *a = "{\"format\":\"ukeyd-usb-keys/1\",\"makers\":{\"1234\":{\"name\":\"Maker\","
                    "\"driverUrl\":\"https://maker.example/dl\"}},\"keys\":[" GOOD "]}";
    const char *b = "{\"format\":\"ukeyd-usb-keys/1\",\"keys\":[{\"vid\":\"1234\",\"pid\":\"5678\","
                    "\"kind\":\"vendor\",\"name\":\"T2\",\"modules\":[\"libt2.so\"],"
                    "\"driverUrl\":\"https://ca.example/t2\"}]}";
    char *err = NULL;
    size_t n;
    const ukd_usbkey *k;

    CHECK_EQ(ukd_usbkeys_parse(&db, a, strlen(a), "a", &err), UK_OK);
    n = db.n;
    k = ukd_usbkeys_find(&db, 0x1234, 0x5678);
    CHECK(k != NULL && strcmp(k->maker, "Maker") == 0 &&
          strcmp(k->driver_url, "https://maker.example/dl") == 0);
    CHECK_EQ(ukd_usbkeys_parse(&db, b, strlen(b), "b", &err), UK_OK);
    CHECK_EQ(db.n, n); /* replaced, not added */
    k = ukd_usbkeys_find(&db, 0x1234, 0x5678);
    CHECK(k != NULL && k->kind == UKD_USBKEY_VENDOR && strcmp(k->name, "T2") == 0 &&
          k->n_modules == 1 && strcmp(k->modules[0], "libt2.so") == 0 &&
          strcmp(k->driver_url, "https://ca.example/t2") == 0);
    free(err);
}

static void test_versions(void)
{
    bool ok = false;

    CHECK(ukd_diag_version_cmp("0.1.0", "0.2.0", &ok) < 0 && ok);
    CHECK(ukd_diag_version_cmp("1.10.0", "1.9.9", &ok) > 0 && ok);
    CHECK(ukd_diag_version_cmp("2.0.0-rc1", "2.0.0", &ok) == 0 && ok);
    CHECK(ukd_diag_version_cmp("1.0", "1.0.0", &ok) == 0 && !ok);
    CHECK(ukd_diag_version_cmp("x.y.z", "1.0.0", &ok) == 0 && !ok);
    CHECK(ukd_diag_version_cmp("1.0.0", "1.0.0 ", &ok) == 0 && !ok);
}

/* ---- the rules ----------------------------------------------------------------- */

struct world {
    ukd_diag_input in;
    ukd_usb_status st;
    ukd_usb_dev devs[4];
    cJSON *readers;
    cJSON *tokens;
    cJSON *usb;
    cJSON *problems;
};

static void world_init(struct world *w, bool pcsc, const char *readers, const char *tokens)
{
    memset(w, 0, sizeof(*w));
    w->st.available = true;
    w->st.hotplug = true;
    w->readers = cJSON_Parse(readers);
    w->tokens = cJSON_Parse(tokens);
    w->in.version = "0.1.0";
    w->in.pcsc_running = pcsc;
    w->in.readers = w->readers;
    w->in.tokens = w->tokens;
    w->in.devs = w->devs;
    w->in.usb = &w->st;
    w->in.keys = &db;
}

static ukd_usb_dev *add_dev(struct world *w, uint16_t vid, uint16_t pid, uint8_t cls,
                            const char *product)
{
    ukd_usb_dev *d = &w->devs[w->in.n_devs++];

    d->vid = vid;
    d->pid = pid;
    d->if_classes[0] = cls;
    d->n_ifaces = 1;
    snprintf(d->maker, sizeof(d->maker), "Maker");
    snprintf(d->product, sizeof(d->product), "%s", product);
    return d;
}

/* Runs the rules; returns the codes joined by ',' (static buffer). Every
 * problem must carry both languages of message and fix. */
static const char *run(struct world *w)
{
    static char out[512];
    const cJSON *p;

    cJSON_Delete(w->usb);
    cJSON_Delete(w->problems);
    w->usb = ukd_diag_usb_json(&w->in);
    w->problems = ukd_diag_problems(&w->in, w->usb);
    out[0] = '\0';
    cJSON_ArrayForEach(p, w->problems)
    {
        const cJSON *m = cJSON_GetObjectItem(p, "message");
        const cJSON *f = cJSON_GetObjectItem(p, "fix");
        CHECK(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(m, "zh-CN"))) > 4);
        CHECK(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(m, "en"))) > 4);
        CHECK(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(f, "zh-CN"))) > 4);
        CHECK(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(f, "en"))) > 4);
        if (out[0] != '\0') {
            strncat(out, ",", sizeof(out) - strlen(out) - 1);
        }
        strncat(out, cJSON_GetStringValue(cJSON_GetObjectItem(p, "code")),
                sizeof(out) - strlen(out) - 1);
    }
    return out;
}

static const cJSON *problem(struct world *w, const char *code)
{
    const cJSON *p;

    cJSON_ArrayForEach(p, w->problems)
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "code")), code) == 0) {
            return p;
        }
    }
    return NULL;
}

static void world_free(struct world *w)
{
    cJSON_Delete(w->readers);
    cJSON_Delete(w->tokens);
    cJSON_Delete(w->usb);
    cJSON_Delete(w->problems);
}

#define CHECK_CODES(w, want)                                                                       \
    do {                                                                                           \
        const char *got_ = run(w);                                                                 \
        if (strcmp(got_, want) != 0) {                                                             \
            fprintf(stderr, "  codes: got '%s', wanted '%s'\n", got_, want);                       \
            CHECK_FAIL("problem codes");                                                           \
        }                                                                                          \
    } while (0)

static void test_service_and_readers(void)
{
    struct world w;

    world_init(&w, false, "[]", "[]");
    CHECK_CODES(&w, "PCSC_UNAVAILABLE");
    add_dev(&w, 0x096e, 0x0ffe, 0x0b, "Unlisted");
    CHECK_CODES(&w, "PCSC_UNAVAILABLE"); /* libccid is not blamed without a service */
    world_free(&w);

    world_init(&w, true, "[]", "[]");
    CHECK_CODES(&w, "NO_READER");
    add_dev(&w, 0x046d, 0xc31c, 0x03, "Keyboard"); /* not of interest */
    CHECK_CODES(&w, "NO_READER");
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(w.usb, "devices")), 0);
    world_free(&w);

    world_init(&w, true, "[{\"name\":\"R 00 00\",\"card\":false,\"cardSupported\":false}]", "[]");
    CHECK_CODES(&w, "NO_CARD");
    world_free(&w);

    world_init(&w, true, "[{\"name\":\"R 00 00\",\"card\":true,\"cardSupported\":false}]", "[]");
    CHECK_CODES(&w, "CARD_UNSUPPORTED");
    world_free(&w);

    /* a card and its token: ready */
    world_init(&w, true, "[{\"name\":\"R 00 00\",\"card\":true,\"cardSupported\":true}]",
               "[{\"tokenId\":\"piv:1\",\"reader\":\"R 00 00\"}]");
    CHECK_CODES(&w, "");
    world_free(&w);
}

static void test_usb_rules(void)
{
    struct world w;
    const char *cfg[] = {"/opt/vendor/libother.so"};
    const char *p11[] = {"libt2.so"};
    uint32_t ids[] = {0x096e0807};
    const cJSON *d;

    /* an unknown CCID device pcscd does not list */
    world_init(&w, true, "[]", "[]");
    add_dev(&w, 0x096e, 0x0ffe, 0x0b, "ePass Test");
    w.in.driver_ids = ids;
    w.in.n_driver_ids = 1;
    CHECK_CODES(&w, "CCID_NOT_LISTED"); /* and not NO_READER */
    CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(problem(&w, "CCID_NOT_LISTED"), "message"), "en")),
                 "does not support this model") != NULL);
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(w.usb, "devices"), 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(d, "known")));
    /* an unknown model of a known maker: the maker's name and download */
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(d, "knownMaker")), "Feitian") == 0);
    CHECK(cJSON_GetObjectItem(problem(&w, "CCID_NOT_LISTED"), "driverUrl") != NULL);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(d, "driverListed")));
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(d, "kind")), "ccid") == 0);
    /* a listed one without a reader: the other advice */
    add_dev(&w, 0x096e, 0x0807, 0x0b, "ePass2003");
    CHECK_CODES(&w, "CCID_NOT_LISTED,CCID_NOT_LISTED");
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(w.usb, "devices"), 1);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(d, "driverListed")));
    world_free(&w);

    /* a CCID key with its reader and token: matched, no problem */
    world_init(&w, true,
               "[{\"name\":\"Feitian ePass2003 [CCID] (X) 00 00\",\"card\":true,"
               "\"cardSupported\":true}]",
               "[{\"tokenId\":\"piv:7\",\"reader\":\"Feitian ePass2003 [CCID] (X) 00 00\"}]");
    add_dev(&w, 0x096e, 0x0807, 0x0b, "ePass2003");
    CHECK_CODES(&w, "");
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(w.usb, "devices"), 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(d, "tokenId")), "piv:7") == 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(d, "known")));
    world_free(&w);

    /* a vendor key: missing until a module is there */
    world_init(&w, true, "[]", "[]");
    add_dev(&w, 0x096e, 0x0309, 0x03, "ePass3000GM");
    CHECK_CODES(&w, "VENDOR_DRIVER_MISSING");
    CHECK(cJSON_GetObjectItem(problem(&w, "VENDOR_DRIVER_MISSING"), "driverUrl") != NULL);
    w.in.config_modules = cfg;
    w.in.n_config_modules = 1;
    CHECK_CODES(&w, ""); /* no module named in the list: any configured one counts */
    world_free(&w);

    /* a key whose list entry names its module: only that one counts */
    world_init(&w, true, "[]", "[]");
    add_dev(&w, 0x1234, 0x5678, 0xff, "T2"); /* replaced by test_merge_override */
    w.in.config_modules = cfg;
    w.in.n_config_modules = 1;
    CHECK_CODES(&w, "VENDOR_DRIVER_MISSING");
    w.in.p11kit_modules = p11;
    w.in.n_p11kit_modules = 1;
    CHECK_CODES(&w, "");
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(w.usb, "devices"), 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(d, "module")), "libt2.so") == 0);
    world_free(&w);

    /* no USB at all, and a bad list */
    world_init(&w, true, "[{\"name\":\"R\",\"card\":true,\"cardSupported\":true}]",
               "[{\"tokenId\":\"piv:1\",\"reader\":\"R\"}]");
    w.st.available = false;
    snprintf(w.st.reason, sizeof(w.st.reason), "no USB bus is visible");
    w.in.keys_error = "x.json: keys[0]: vid must be four hex digits";
    CHECK_CODES(&w, "USB_UNAVAILABLE,USB_KEY_LIST_INVALID");
    CHECK(strcmp(
              cJSON_GetStringValue(cJSON_GetObjectItem(problem(&w, "USB_UNAVAILABLE"), "severity")),
              "warning") == 0);
    world_free(&w);
}

static void test_token_rules(void)
{
    struct world w;
    const char *reader = "[{\"name\":\"R\",\"card\":true,\"cardSupported\":true}]";

    setenv("TZ", "CST-8", 1);
    tzset();

    world_init(&w, true, reader,
               "[{\"tokenId\":\"piv:1\",\"reader\":\"R\",\"facts\":{"
               "\"pin\":{\"retriesLeft\":0,\"blocked\":true},\"certs\":["
               "{\"certId\":\"a\",\"commonName\":\"A\",\"notAfter\":\"2025-01-01T00:00:00Z\","
               "\"status\":\"expired\",\"renewal\":{\"eligible\":true,"
               "\"opensAt\":\"2024-12-01T00:00:00Z\",\"closesAt\":\"2026-01-01T00:00:00Z\"}},"
               "{\"certId\":\"b\",\"commonName\":\"B\",\"notAfter\":\"2020-01-01T00:00:00Z\","
               "\"status\":\"expired\",\"renewal\":{\"eligible\":false}},"
               "{\"certId\":\"c\",\"commonName\":\"C\",\"notAfter\":\"2026-11-30T20:00:00Z\","
               "\"status\":\"expiring\",\"renewal\":{\"eligible\":true}},"
               "{\"certId\":\"d\",\"commonName\":\"D\",\"notAfter\":\"2028-12-01T00:00:00Z\","
               "\"status\":\"valid\",\"renewal\":{\"eligible\":false,"
               "\"opensAt\":\"2028-11-01T00:00:00Z\"}},"
               "{\"certId\":\"e\",\"commonName\":\"E\",\"status\":\"expired\",\"current\":false,"
               "\"renewal\":{\"eligible\":false}}]}}]");
    CHECK_CODES(&w, "PIN_BLOCKED,CERT_EXPIRED,CERT_EXPIRED,CERT_RENEWABLE,CERT_NOT_YET_RENEWABLE");
    CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(cJSON_GetArrayItem(w.problems, 1), "fix"), "en")),
                 "renewed online") != NULL);
    CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(cJSON_GetArrayItem(w.problems, 2), "fix"), "en")),
                 "past the online renewal period") != NULL);
    CHECK(strcmp(cJSON_GetStringValue(
                     cJSON_GetObjectItem(cJSON_GetArrayItem(w.problems, 3), "severity")),
                 "info") == 0);
    /* a person reads the local day (UTC+8 here: 20:00Z is the next day);
     * the field keeps the exact time */
    CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(cJSON_GetArrayItem(w.problems, 3), "message"), "zh-CN")),
                 "将于 2026-12-01 到期") != NULL);
    CHECK(strcmp(cJSON_GetStringValue(
                     cJSON_GetObjectItem(cJSON_GetArrayItem(w.problems, 3), "notAfter")),
                 "2026-11-30T20:00:00Z") == 0);
    world_free(&w);

    /* facts not read yet: nothing is guessed */
    world_init(&w, true, reader,
               "[{\"tokenId\":\"piv:1\",\"reader\":\"R\",\"factsPending\":true}]");
    CHECK_CODES(&w, "");
    world_free(&w);
}

static void test_helper_outdated(void)
{
    struct world w;

    world_init(&w, true, "[{\"name\":\"R\",\"card\":true,\"cardSupported\":true}]",
               "[{\"tokenId\":\"piv:1\",\"reader\":\"R\"}]");
    w.in.min_daemon = "9.0.0";
    CHECK_CODES(&w, "HELPER_OUTDATED");
    w.in.min_daemon = "0.1.0";
    CHECK_CODES(&w, "");
    w.in.min_daemon = "not-a-version";
    CHECK_CODES(&w, "");
    world_free(&w);
}

static void test_pkcs11_modules(void)
{
    struct world w;
    cJSON *mods = cJSON_Parse("[{\"module\":\"/usr/lib/ok.so\",\"status\":\"ok\"},"
                              "{\"module\":\"/usr/lib/loading.so\",\"status\":\"loading\"},"
                              "{\"module\":\"/opt/v/bad.so\",\"status\":\"failed\","
                              "\"problem\":\"MODULE_INIT_FAILED\"}]");
    const cJSON *p;

    world_init(&w, true, "[{\"name\":\"R\",\"card\":true,\"cardSupported\":true}]",
               "[{\"tokenId\":\"piv:1\",\"reader\":\"R\"}]");
    w.in.pkcs11 = mods;
    CHECK_CODES(&w, "PKCS11_MODULE_FAILED");
    p = problem(&w, "PKCS11_MODULE_FAILED");
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "severity")), "warning") == 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "module")), "/opt/v/bad.so") == 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "reason")), "MODULE_INIT_FAILED") ==
          0);
    CHECK(strstr(
              cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "message"), "zh-CN")),
              "/opt/v/bad.so") != NULL);
    /* only ok and loading modules: nothing to say */
    cJSON_DeleteItemFromArray(mods, 2);
    CHECK_CODES(&w, "");
    world_free(&w);
    cJSON_Delete(mods);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_diag share/usb-keys.json\n");
        return 2;
    }
    test_installed_list(argv[1]);
    test_bad_lists();
    test_merge_override();
    test_versions();
    test_service_and_readers();
    test_usb_rules();
    test_token_rules();
    test_helper_outdated();
    test_pkcs11_modules();
    ukd_usbkeys_free(&db);
    return check_exit_code("test_diag");
}
