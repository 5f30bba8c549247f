// SPDX-License-Identifier: MIT
/*
 * Unit tests of protocol/ beyond request parsing: the exact text of
 * results, errors and notifications; that secret params are wiped before
 * cJSON frees them (checked inside cJSON's own free through its hooks); the
 * token and certificate JSON (a certificate made in memory); ISO 8601
 * times; the PIN guard; and the pin.verify sequence against a fake card
 * that counts what reaches it.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "uk/rpc.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return (int64_t)check_utc(y, mo, d, h, mi, s);
}

static uk_rc parse(const char *msg, uk_rpc_req *req)
{
    char *err = NULL;
    uk_rc rc = uk_rpc_parse(msg, strlen(msg), req, &err);

    if (err != NULL) {
        fprintf(stderr, "unexpected error response: %s\n", err);
    }
    free(err);
    return rc;
}

/* Checks and frees a returned string. */
static void check_text(char *got, const char *want)
{
    CHECK(got != NULL);
    if (got != NULL && strcmp(got, want) != 0) {
        CHECK_FAIL(got);
    }
    free(got);
}

/* ---- responses ---- */

static void test_result(void)
{
    uk_rpc_req req;
    cJSON *r;

    CHECK_EQ(parse("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"system.ping\"}", &req), UK_OK);
    r = cJSON_CreateObject();
    cJSON_AddTrueToObject(r, "pong");
    check_text(uk_rpc_result(&req, r),
               "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{\"pong\":true}}");
    check_text(uk_rpc_result(&req, NULL), "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}");
    uk_rpc_req_free(&req);
    CHECK(req.root == NULL && req.id == NULL && req.method == NULL);
    uk_rpc_req_free(&req); /* a cleared request may be freed again */
    uk_rpc_req_free(NULL);

    /* a notification gets nothing, and the result is still consumed */
    CHECK_EQ(parse("{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"}", &req), UK_OK);
    CHECK(req.id == NULL);
    CHECK(uk_rpc_result(&req, cJSON_CreateString("x")) == NULL);
    CHECK(uk_rpc_error(&req, UK_E_NO_CARD, cJSON_CreateObject()) == NULL);
    uk_rpc_req_free(&req);

    /* big integer ids come back digit for digit */
    CHECK_EQ(parse("{\"jsonrpc\":\"2.0\",\"id\":-9007199254740991,\"method\":\"env.check\"}", &req),
             UK_OK);
    check_text(uk_rpc_result(&req, cJSON_CreateNumber(1)),
               "{\"jsonrpc\":\"2.0\",\"id\":-9007199254740991,\"result\":1}");
    uk_rpc_req_free(&req);
}

static void test_error(void)
{
    uk_rpc_req req;
    cJSON *extra = cJSON_CreateObject();

    CHECK_EQ(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"system.ping\"}", &req), UK_OK);
    cJSON_AddNumberToObject(extra, "retriesLeft", 2);
    cJSON_AddStringToObject(extra, "reason", "NOT_THIS_ONE");
    cJSON_AddStringToObject(extra, "hint", "x");
    check_text(uk_rpc_error(&req, UK_E_PIN_INCORRECT, extra),
               "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32000,\"message\":\"wrong "
               "PIN\",\"data\":{\"reason\":\"PIN_INCORRECT\",\"retriesLeft\":2,\"hint\":\"x\"}}}");
    check_text(uk_rpc_error(&req, UK_E_PIN_LAST_TRY, NULL),
               "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32000,\"message\":\"one PIN try "
               "left: confirm the last try\",\"data\":{\"reason\":\"PIN_LAST_TRY\"}}}");
    uk_rpc_req_free(&req);
    check_text(uk_rpc_error(NULL, UK_E_NOMEM, NULL),
               "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,\"message\":\"out of "
               "memory\",\"data\":{\"reason\":\"OUT_OF_MEMORY\"}}}");
    CHECK(strcmp(uk_rc_name(UK_E_PIN_LAST_TRY), "PIN_LAST_TRY") == 0);
    CHECK_EQ(UK_E_PIN_LAST_TRY, -36);
}

static void test_notification(void)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "tokenId", "piv:1");
    check_text(uk_rpc_notification("token.inserted", p),
               "{\"jsonrpc\":\"2.0\",\"method\":\"token.inserted\",\"params\":{\"tokenId\":"
               "\"piv:1\"}}");
    check_text(uk_rpc_notification("reader.added", NULL),
               "{\"jsonrpc\":\"2.0\",\"method\":\"reader.added\"}");
    CHECK(uk_rpc_notification(NULL, cJSON_CreateObject()) == NULL);
}

static void test_methods(void)
{
    cJSON *m = uk_rpc_methods_json();
    char *s = cJSON_PrintUnformatted(m);

    CHECK_EQ(cJSON_GetArraySize(m), 15);
    CHECK(s != NULL && strstr(s, "\"pin.verify\"") != NULL &&
          strstr(s, "\"system.hello\"") != NULL && strstr(s, "\"renew.install\"") != NULL);
    free(s);
    cJSON_Delete(m);
}

/* uk_rpc_token_call refuses what it cannot run without touching a token. */
static void test_token_call_guards(void)
{
    uk_rpc_req req;
    uk_rpc_token_env env = {.policy = UK_RENEW_POLICY_DEFAULT};
    char *out;

    CHECK_EQ(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.status\",\"params\":{"
                   "\"tokenId\":\"piv:1\"}}",
                   &req),
             UK_OK);
    out = uk_rpc_token_call(&env, &req);
    CHECK(out != NULL && strstr(out, "\"reason\":\"INVALID_ARGUMENT\"") != NULL);
    free(out);
    out = uk_rpc_token_call(NULL, &req);
    CHECK(out != NULL && strstr(out, "\"reason\":\"INVALID_ARGUMENT\"") != NULL);
    free(out);
    uk_rpc_req_free(&req);
    CHECK(uk_rpc_token_call(&env, NULL) == NULL);
}

/* ---- secrets ---- */

static void test_wipe_tree(void)
{
    const char *doc =
        "{\"params\":{\"pin\":\"SECRET12\",\"client\":\"hall\",\"x\":{\"newPin\":"
        "\"SECRET34\"}},\"puk\":[\"SECRET56\"],\"managementKey\":{\"k\":\"SECRET78\"},"
        "\"oldPin\":123}";
    cJSON *t = cJSON_Parse(doc);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "params");
    char *pin = cJSON_GetObjectItemCaseSensitive(params, "pin")->valuestring;
    char *new_pin =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(params, "x"), "newPin")
            ->valuestring;
    char *puk = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "puk"), 0)->valuestring;
    char *mk =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "managementKey"), "k")
            ->valuestring;
    static const char zero[8] = {0};

    uk_rpc_wipe_secrets(t);
    CHECK_MEM(pin, zero, 8);
    CHECK_MEM(new_pin, zero, 8);
    CHECK_MEM(puk, zero, 8);
    CHECK_MEM(mk, zero, 8);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(params, "client")->valuestring, "hall") == 0);
    uk_rpc_wipe_secrets(NULL);
    cJSON_Delete(t);
}

/* cJSON hooks that look at every block cJSON frees: none may still hold the
 * text SECRET. Blocks are tracked with their sizes in a small table. */
#define TRACK_MAX 4096
static struct {
    void *p;
    size_t n;
} tracked[TRACK_MAX];
static int secrets_freed;

static void *track_malloc(size_t n)
{
    void *p = malloc(n);
    bool stored = false;

    for (int i = 0; p != NULL && i < TRACK_MAX; i++) {
        if (tracked[i].p == p) {
            tracked[i].p = NULL; /* freed behind the hooks' back */
        }
        if (tracked[i].p == NULL && !stored) {
            tracked[i].p = p;
            tracked[i].n = n;
            stored = true;
        }
    }
    return p;
}

static void track_free(void *p)
{
    for (int i = 0; p != NULL && i < TRACK_MAX; i++) {
        if (tracked[i].p != p) {
            continue;
        }
        for (size_t k = 0; k + 6 <= tracked[i].n; k++) {
            if (memcmp((char *)p + k, "SECRET", 6) == 0) {
                secrets_freed++;
                break;
            }
        }
        tracked[i].p = NULL;
        break;
    }
    free(p);
}

static void run_and_free(const char *msg, uk_rc want)
{
    uk_rpc_req req;
    char *err = NULL;

    CHECK_EQ(uk_rpc_parse(msg, strlen(msg), &req, &err), want);
    if (err != NULL) {
        CHECK(strstr(err, "SECRET") == NULL);
        cJSON_free(err); /* allocated through the hooks */
    }
    uk_rpc_req_free(&req);
}

static void test_wipe_on_free(void)
{
    cJSON_Hooks hooks = {track_malloc, track_free};

    cJSON_InitHooks(&hooks);
    secrets_freed = 0;
    /* freed by uk_rpc_req_free */
    run_and_free("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.verify\",\"params\":{\"tokenId\":"
                 "\"piv:1\",\"pin\":\"SECRET12\"}}",
                 UK_OK);
    run_and_free("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.unblock\",\"params\":{\"tokenId\":"
                 "\"piv:1\",\"puk\":\"SECRET12\",\"newPin\":\"SECRET34\"}}",
                 UK_OK);
    /* freed inside uk_rpc_parse after a refusal */
    run_and_free("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.change\",\"params\":{\"tokenId\":"
                 "\"piv:1\",\"oldPin\":\"SECRET12\",\"newPin\":\"SECRET34\",\"x\":1}}",
                 UK_E_INVALID_ARG);
    run_and_free("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\",\"params\":{\"pin\":"
                 "\"SECRET12\"}}",
                 UK_E_NOT_FOUND);
    run_and_free("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.verify\",\"params\":{\"tokenId\":"
                 "\"piv:1\",\"pin\":\"SECRET12\",\"pin\":\"SECRET34\"}}",
                 UK_E_MALFORMED);
    run_and_free("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.verify\",\"params\":{\"tokenId\":"
                 "\"piv:1\",\"pin\":[\"SECRET12\"]}}",
                 UK_E_INVALID_ARG);
    /* trailing garbage: cJSON returns the tree, we free it */
    run_and_free("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.verify\",\"params\":{\"tokenId\":"
                 "\"piv:1\",\"pin\":\"SECRET12\"}} x",
                 UK_E_MALFORMED);
    CHECK_EQ(secrets_freed, 0);
    cJSON_InitHooks(NULL);
}

/* ---- JSON of tokens, certificates, times ---- */

static void test_time(void)
{
    char buf[32];

    CHECK_EQ(uk_rpc_time_iso8601(0, buf, sizeof(buf)), UK_OK);
    CHECK(strcmp(buf, "1970-01-01T00:00:00Z") == 0);
    CHECK_EQ(uk_rpc_time_iso8601(-1, buf, sizeof(buf)), UK_OK);
    CHECK(strcmp(buf, "1969-12-31T23:59:59Z") == 0);
    CHECK_EQ(uk_rpc_time_iso8601(utc(2026, 12, 14, 8, 0, 0), buf, sizeof(buf)), UK_OK);
    CHECK(strcmp(buf, "2026-12-14T08:00:00Z") == 0);
    CHECK_EQ(uk_rpc_time_iso8601(utc(2024, 2, 29, 23, 59, 59), buf, sizeof(buf)), UK_OK);
    CHECK(strcmp(buf, "2024-02-29T23:59:59Z") == 0);
    CHECK_EQ(uk_rpc_time_iso8601(253402300799, buf, sizeof(buf)), UK_OK);
    CHECK(strcmp(buf, "9999-12-31T23:59:59Z") == 0);
    CHECK_EQ(uk_rpc_time_iso8601(253402300800, buf, sizeof(buf)), UK_E_INVALID_ARG);
    CHECK_EQ(uk_rpc_time_iso8601(INT64_MIN, buf, sizeof(buf)), UK_E_INVALID_ARG);
    CHECK_EQ(uk_rpc_time_iso8601(0, buf, 20), UK_E_SIZE);
    CHECK_EQ(uk_rpc_time_iso8601(0, buf, 21), UK_OK);
}

static void test_token_json(void)
{
    uk_token_info info;
    cJSON *j;

    memset(&info, 0, sizeof(info));
    strcpy(info.id, "piv:12345678");
    strcpy(info.driver, "piv");
    strcpy(info.serial, "12345678");
    strcpy(info.label, "PIV");
    strcpy(info.manufacturer, "Yubico");
    strcpy(info.model, "YubiKey");
    strcpy(info.reader, "Yubico Virtual 00 00");
    j = uk_rpc_token_json(&info);
    check_text(cJSON_PrintUnformatted(j),
               "{\"tokenId\":\"piv:12345678\",\"driver\":\"piv\",\"label\":\"PIV\","
               "\"manufacturer\":\"Yubico\",\"model\":\"YubiKey\",\"serial\":\"12345678\","
               "\"reader\":\"Yubico Virtual 00 00\"}");
    cJSON_Delete(j);
    strcpy(info.firmware, "5.2.7");
    j = uk_rpc_token_json(&info);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(j, "firmware")->valuestring, "5.2.7") == 0);
    cJSON_Delete(j);
    CHECK(uk_rpc_token_json(NULL) == NULL);
}

/* A self-signed certificate made in memory: Chinese subject, the given key,
 * valid 2025-01-01 .. 2026-01-01, optionally with a key usage extension. */
static int make_cert(EVP_PKEY *key, const char *usage, uint8_t **der)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509_EXTENSION *ext = NULL;
    X509V3_CTX ctx;
    int len;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x0102A0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"张三", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"山西测试单位", -1, -1,
                               0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)utc(2025, 1, 1, 0, 0, 0));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)utc(2026, 1, 1, 0, 0, 0));
    X509_set_pubkey(x, key);
    if (usage != NULL) {
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, usage);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, key, EVP_sha256());
    *der = NULL;
    len = i2d_X509(x, der);
    X509_NAME_free(n);
    X509_free(x);
    return len;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "(not a string)";
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? v->valuedouble : -99999.0;
}

static void test_cert_json(void)
{
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    uk_token_cert c;
    uint8_t *der = NULL;
    int len = make_cert(ec, "critical,digitalSignature,nonRepudiation", &der);
    uk_cert_info ci;
    uk_renew_policy p = UK_RENEW_POLICY_DEFAULT;
    cJSON *j;
    const cJSON *r;
    char *usage;

    CHECK(len > 0);
    memset(&c, 0, sizeof(c));
    c.key = uk_key_ref_slot(0x9A);
    c.der = der;
    c.der_len = (size_t)len;
    CHECK_EQ(uk_cert_parse(der, (size_t)len, &ci), UK_OK);

    /* inside the renewal window */
    j = uk_rpc_cert_json(&c, utc(2025, 12, 15, 0, 0, 0), &p);
    CHECK(j != NULL);
    CHECK(strcmp(str_of(j, "certId"), ci.fingerprint) == 0);
    CHECK_EQ(strlen(str_of(j, "certId")), 64);
    CHECK(strcmp(str_of(j, "slot"), "9a") == 0);
    CHECK(strcmp(str_of(j, "commonName"), "张三") == 0);
    CHECK(strcmp(str_of(j, "organization"), "山西测试单位") == 0);
    CHECK(strcmp(str_of(j, "orgUnit"), "") == 0);
    CHECK(strcmp(str_of(j, "issuerCommonName"), "张三") == 0);
    CHECK(strstr(str_of(j, "subject"), "CN=张三") != NULL);
    CHECK(strcmp(str_of(j, "serialNumber"), "0102A0") == 0);
    CHECK(strcmp(str_of(j, "notBefore"), "2025-01-01T00:00:00Z") == 0);
    CHECK(strcmp(str_of(j, "notAfter"), "2026-01-01T00:00:00Z") == 0);
    CHECK(strcmp(str_of(j, "keyType"), "p256") == 0);
    CHECK_EQ(num_of(j, "keyBits"), 256);
    usage = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "keyUsage"));
    CHECK(usage != NULL && strcmp(usage, "[\"digitalSignature\",\"nonRepudiation\"]") == 0);
    free(usage);
    CHECK(strcmp(str_of(j, "status"), "expiring") == 0);
    r = cJSON_GetObjectItemCaseSensitive(j, "renewal");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "eligible")));
    CHECK(strcmp(str_of(r, "opensAt"), "2025-12-01T00:00:00Z") == 0);
    CHECK(strcmp(str_of(r, "closesAt"), "2027-01-01T00:00:00Z") == 0);
    CHECK_EQ(num_of(r, "daysToExpiry"), 17);
    cJSON_Delete(j);

    /* before the window; after it (NULL policy = the default) */
    j = uk_rpc_cert_json(&c, utc(2025, 6, 1, 0, 0, 0), NULL);
    CHECK(strcmp(str_of(j, "status"), "valid") == 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "renewal"), "eligible")));
    cJSON_Delete(j);
    j = uk_rpc_cert_json(&c, utc(2027, 1, 1, 0, 0, 1), NULL);
    CHECK(strcmp(str_of(j, "status"), "expired") == 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "renewal"), "eligible")));
    CHECK(num_of(cJSON_GetObjectItemCaseSensitive(j, "renewal"), "daysToExpiry") < -360);
    cJSON_Delete(j);
    OPENSSL_free(der);

    /* RSA, no key usage extension, a retired slot */
    der = NULL;
    len = make_cert(rsa, NULL, &der);
    CHECK(len > 0);
    c.key = uk_key_ref_slot(0x82);
    c.der = der;
    c.der_len = (size_t)len;
    j = uk_rpc_cert_json(&c, utc(2025, 6, 1, 0, 0, 0), NULL);
    CHECK(strcmp(str_of(j, "slot"), "82") == 0);
    CHECK(strcmp(str_of(j, "keyType"), "rsa2048") == 0);
    CHECK_EQ(num_of(j, "keyBits"), 2048);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "keyUsage")), 0);
    cJSON_Delete(j);

    /* not a certificate */
    c.der_len = 10;
    CHECK(uk_rpc_cert_json(&c, 0, NULL) == NULL);
    CHECK(uk_rpc_cert_json(NULL, 0, NULL) == NULL);
    OPENSSL_free(der);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

/* ---- PIN guard and pin.verify ---- */

static void test_guard(void)
{
    uk_pin_guard *g = NULL;
    uk_pin_guard *h = NULL;
    bool match = true;
    int retries = 0;

    CHECK_EQ(uk_pin_guard_new(&g), UK_OK);
    CHECK_EQ(uk_pin_guard_new(&h), UK_OK);
    CHECK_EQ(uk_pin_guard_check(g, "123456", &match, &retries), UK_OK);
    CHECK(!match);
    CHECK_EQ(retries, -1);
    CHECK_EQ(uk_pin_guard_record(g, "123456", 2), UK_OK);
    CHECK_EQ(uk_pin_guard_check(g, "123456", &match, &retries), UK_OK);
    CHECK(match);
    CHECK_EQ(retries, 2);
    CHECK_EQ(uk_pin_guard_check(g, "1234567", &match, &retries), UK_OK);
    CHECK(!match);
    CHECK_EQ(retries, -1);
    CHECK_EQ(uk_pin_guard_check(g, "12345", &match, &retries), UK_OK);
    CHECK(!match);
    /* only the last wrong PIN is kept */
    CHECK_EQ(uk_pin_guard_record(g, "654321", 1), UK_OK);
    CHECK_EQ(uk_pin_guard_check(g, "123456", &match, &retries), UK_OK);
    CHECK(!match);
    CHECK_EQ(uk_pin_guard_check(g, "654321", &match, &retries), UK_OK);
    CHECK(match);
    CHECK_EQ(retries, 1);
    /* guards are independent */
    CHECK_EQ(uk_pin_guard_check(h, "654321", &match, &retries), UK_OK);
    CHECK(!match);
    uk_pin_guard_clear(g);
    CHECK_EQ(uk_pin_guard_check(g, "654321", &match, &retries), UK_OK);
    CHECK(!match);
    CHECK_EQ(uk_pin_guard_check(NULL, "1", &match, &retries), UK_E_INVALID_ARG);
    CHECK_EQ(uk_pin_guard_record(g, NULL, 1), UK_E_INVALID_ARG);
    CHECK_EQ(uk_pin_guard_new(NULL), UK_E_INVALID_ARG);
    uk_pin_guard_clear(NULL);
    uk_pin_guard_free(g);
    uk_pin_guard_free(h);
    uk_pin_guard_free(NULL);
}

/* A PIV-like card: 3 tries, blocked at 0, a right PIN resets the counter. */
typedef struct fake_card {
    const char *pin;
    int tries;
    uk_rc status_rc; /* forced result of status, UK_OK for the normal path */
    int status_calls;
    int verify_calls;
} fake_card;

static uk_rc fake_status(void *card, int *tries, bool *verified)
{
    fake_card *f = card;

    f->status_calls++;
    *verified = false;
    if (f->status_rc != UK_OK) {
        *tries = -1;
        return f->status_rc;
    }
    *tries = f->tries;
    return f->tries == 0 ? UK_E_PIN_BLOCKED : UK_OK;
}

static uk_rc fake_verify(void *card, const char *pin, int *tries)
{
    fake_card *f = card;

    f->verify_calls++;
    if (f->tries == 0) {
        *tries = 0;
        return UK_E_PIN_BLOCKED;
    }
    if (strcmp(pin, f->pin) == 0) {
        f->tries = 3;
        *tries = 3;
        return UK_OK;
    }
    f->tries--;
    *tries = f->tries;
    return f->tries == 0 ? UK_E_PIN_BLOCKED : UK_E_PIN_INCORRECT;
}

static void test_verify_flow(void)
{
    fake_card f = {"123456", 3, UK_OK, 0, 0};
    uk_rpc_pin_card card = {fake_status, fake_verify, &f};
    uk_pin_guard *g = NULL;
    int r = 0;

    CHECK_EQ(uk_pin_guard_new(&g), UK_OK);
    /* the format is refused before the card hears anything */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "12345", true, &r), UK_E_PIN_FORMAT);
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "123456789", true, &r), UK_E_PIN_FORMAT);
    CHECK_EQ(f.status_calls + f.verify_calls, 0);
    /* a wrong PIN costs one try */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "111111", false, &r), UK_E_PIN_INCORRECT);
    CHECK_EQ(r, 2);
    CHECK_EQ(f.verify_calls, 1);
    /* the same wrong PIN again: answered from the guard, nothing sent */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "111111", true, &r), UK_E_PIN_INCORRECT);
    CHECK_EQ(r, 2);
    CHECK_EQ(f.verify_calls, 1);
    CHECK_EQ(f.status_calls, 1);
    CHECK_EQ(f.tries, 2);
    /* another wrong PIN is sent */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "222222", false, &r), UK_E_PIN_INCORRECT);
    CHECK_EQ(r, 1);
    CHECK_EQ(f.verify_calls, 2);
    /* one try left: not without confirmation */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "333333", false, &r), UK_E_PIN_LAST_TRY);
    CHECK_EQ(r, 1);
    CHECK_EQ(f.verify_calls, 2);
    /* the guard still answers its PIN even when confirmed */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "222222", true, &r), UK_E_PIN_INCORRECT);
    CHECK_EQ(r, 1);
    CHECK_EQ(f.verify_calls, 2);
    /* confirmed last try with the right PIN */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "123456", true, &r), UK_OK);
    CHECK_EQ(f.verify_calls, 3);
    CHECK_EQ(f.tries, 3);
    /* the guard was cleared: the old wrong PIN reaches the card again */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "222222", false, &r), UK_E_PIN_INCORRECT);
    CHECK_EQ(r, 2);
    CHECK_EQ(f.verify_calls, 4);
    /* confirmed last try with a wrong PIN blocks */
    f.tries = 1;
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "444444", true, &r), UK_E_PIN_BLOCKED);
    CHECK_EQ(r, 0);
    CHECK_EQ(f.verify_calls, 5);
    /* blocked: nothing sent, whatever the PIN */
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "123456", true, &r), UK_E_PIN_BLOCKED);
    CHECK_EQ(r, 0);
    CHECK_EQ(f.verify_calls, 5);
    /* a card that cannot tell its tries is verified without the check */
    f.tries = 3;
    f.status_rc = UK_E_UNSUPPORTED;
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "555555", false, &r), UK_E_PIN_INCORRECT);
    CHECK_EQ(f.verify_calls, 6);
    /* a card gone during the status query: nothing sent, the reason passed on */
    f.status_rc = UK_E_CARD_REMOVED;
    CHECK_EQ(uk_rpc_pin_verify_run(&card, g, "666666", true, &r), UK_E_CARD_REMOVED);
    CHECK_EQ(f.verify_calls, 6);
    CHECK_EQ(uk_rpc_pin_verify_run(&card, NULL, "666666", true, &r), UK_E_INVALID_ARG);
    uk_pin_guard_free(g);
}

int main(void)
{
    test_result();
    test_error();
    test_notification();
    test_methods();
    test_token_call_guards();
    test_wipe_tree();
    test_wipe_on_free();
    test_time();
    test_token_json();
    test_cert_json();
    test_guard();
    test_verify_flow();
    return check_exit_code("test_protocol_api");
}
