// SPDX-License-Identifier: MIT
/*
 * Unit tests of the tray's state logic and words: every icon state (the
 * states that need a USB-KEY cannot run on a machine without the rig, so
 * they are proved here), the date boundaries as the daemon draws them,
 * renewed certificates, reading the daemon's JSON, and the zh-CN / en text
 * of the title, notification and dialogs. Runs with TZ=UTC.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "text.h"

#define DAY 86400LL

static ukt_input in;

/* A certificate valid for a year up to not_after, window 1 month before
 * to 12 months after (the months approximated; the daemon sends exact
 * dates, the tray only compares them). */
static ukt_cert cert(const char *id, const char *cn, int64_t not_after)
{
    ukt_cert c;

    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.common_name, sizeof(c.common_name), "%s", cn);
    snprintf(c.subject, sizeof(c.subject), "O=山西测试单位,CN=%s", cn);
    c.not_before = not_after - 365 * DAY;
    c.not_after = not_after;
    c.has_window = true;
    c.opens_at = not_after - 30 * DAY;
    c.closes_at = not_after + 365 * DAY;
    return c;
}

static ukt_token *token(const char *id, const char *label)
{
    ukt_token t;

    memset(&t, 0, sizeof(t));
    snprintf(t.id, sizeof(t.id), "%s", id);
    snprintf(t.label, sizeof(t.label), "%s", label);
    t.certs_known = true;
    CHECK_EQ(ukt_input_put_token(&in, &t), UK_OK);
    return ukt_input_token(&in, id);
}

static void add_cert(ukt_token *t, ukt_cert c)
{
    t->certs[t->n_certs++] = c;
}

static void reset(bool reachable)
{
    memset(&in, 0, sizeof(in));
    in.reachable = reachable;
}

static void test_time_parse(void)
{
    int64_t t;

    CHECK_EQ(ukt_time_parse("1970-01-01T00:00:00Z", &t), UK_OK);
    CHECK_EQ(t, 0);
    CHECK_EQ(ukt_time_parse("2026-12-14T08:19:30Z", &t), UK_OK);
    CHECK_EQ(t, check_utc(2026, 12, 14, 8, 19, 30));
    CHECK_EQ(ukt_time_parse("2028-02-29T23:59:59Z", &t), UK_OK);
    CHECK_EQ(t, check_utc(2028, 2, 29, 23, 59, 59));
    CHECK_EQ(ukt_time_parse("2027-02-29T00:00:00Z", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("2026-02-31T00:00:00Z", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("2026-13-01T00:00:00Z", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("2026-12-14T24:00:00Z", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("2026-12-14 08:19:30Z", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("2026-12-14T08:19:30", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("2026-12-14T08:19:30+08:00", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("2026-1-14T08:19:30Z", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("+026-12-14T08:19:30Z", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse("", &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_time_parse(NULL, &t), UK_E_MALFORMED);
}

/* The daemon's boundaries (token/cert.c): expiring from opensAt inclusive,
 * expired strictly after notAfter, renewable up to closesAt inclusive. */
static void test_cert_status(void)
{
    int64_t na = check_utc(2026, 12, 14, 8, 19, 30);
    ukt_cert c = cert("a", "张三", na);

    CHECK_EQ(ukt_cert_status_at(&c, c.not_before - 1), UK_CERT_NOT_YET_VALID);
    CHECK_EQ(ukt_cert_status_at(&c, c.not_before), UK_CERT_VALID);
    CHECK_EQ(ukt_cert_status_at(&c, c.opens_at - 1), UK_CERT_VALID);
    CHECK_EQ(ukt_cert_status_at(&c, c.opens_at), UK_CERT_EXPIRING);
    CHECK_EQ(ukt_cert_status_at(&c, na), UK_CERT_EXPIRING);
    CHECK_EQ(ukt_cert_status_at(&c, na + 1), UK_CERT_EXPIRED);
    CHECK(!ukt_cert_renewable_at(&c, c.opens_at - 1));
    CHECK(ukt_cert_renewable_at(&c, c.opens_at));
    CHECK(ukt_cert_renewable_at(&c, na + 1));
    CHECK(ukt_cert_renewable_at(&c, c.closes_at));
    CHECK(!ukt_cert_renewable_at(&c, c.closes_at + 1));
    /* renewal: null (dates the daemon could not window): valid or expired */
    c.has_window = false;
    CHECK_EQ(ukt_cert_status_at(&c, na - DAY), UK_CERT_VALID);
    CHECK_EQ(ukt_cert_status_at(&c, na + 1), UK_CERT_EXPIRED);
    CHECK(!ukt_cert_renewable_at(&c, na - DAY));
    /* days to expiry rounds down like daysToExpiry */
    c = cert("a", "张三", na);
    CHECK_EQ(ukt_days_to_expiry(&c, na - 19 * DAY - 5), 19);
    CHECK_EQ(ukt_days_to_expiry(&c, na - 1), 0);
    CHECK_EQ(ukt_days_to_expiry(&c, na), 0);
    CHECK_EQ(ukt_days_to_expiry(&c, na + 1), -1);
    CHECK_EQ(ukt_days_to_expiry(&c, na + DAY), -1);
    CHECK_EQ(ukt_days_to_expiry(&c, na + DAY + 1), -2);
}

static void test_states(void)
{
    int64_t now = check_utc(2026, 11, 24, 12, 0, 0);
    ukt_view v;
    ukt_token *t;

    /* daemon stopped: whatever was known before does not count */
    reset(false);
    token("piv:1", "key");
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_STOPPED);
    CHECK(v.focus == NULL);
    CHECK_EQ(v.next_change, 0);

    /* running, no key */
    reset(true);
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_NOKEY);
    CHECK_EQ(v.n_tokens, 0);

    /* a key, certificates not read yet (or none on it) */
    t = token("piv:1", "ukey virtual PIV");
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_KEY);
    CHECK(v.focus == NULL);
    CHECK(v.focus_token == t);

    /* a valid certificate, window opens in 10 days */
    add_cert(t, cert("c1", "张三", now + 40 * DAY));
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_KEY);
    CHECK(v.focus == &t->certs[0]);
    CHECK_EQ(v.n_certs, 1);
    CHECK_EQ(v.next_change, now + 10 * DAY); /* the window opens: re-evaluate then */

    /* the window is open */
    t->certs[0] = cert("c1", "张三", now + 19 * DAY);
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_EXPIRING);
    CHECK(v.focus == &t->certs[0]);
    CHECK_EQ(v.next_change, now + 19 * DAY + 1); /* then it expires */

    /* expired, still renewable online */
    t->certs[0] = cert("c1", "张三", now - 3 * DAY);
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_EXPIRED);
    CHECK_EQ(v.next_change, now - 3 * DAY + 365 * DAY + 1); /* the window closes */

    /* expired beyond the window: still "expired" */
    t->certs[0] = cert("c1", "张三", now - 400 * DAY);
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_EXPIRED);
    CHECK_EQ(v.next_change, 0);

    /* not yet valid counts as fine */
    t->certs[0] = cert("c1", "张三", now + 400 * DAY);
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_KEY);
    CHECK_EQ(v.next_change, now + 35 * DAY);
}

static void test_worst_wins(void)
{
    int64_t now = check_utc(2026, 11, 24, 12, 0, 0);
    ukt_view v;
    ukt_token *a;
    ukt_token *b;

    reset(true);
    a = token("piv:1", "A");
    b = token("piv:2", "B");
    add_cert(a, cert("a1", "甲", now + 200 * DAY));
    add_cert(b, cert("b1", "乙", now + 20 * DAY));
    add_cert(b, cert("b2", "丙", now + 5 * DAY));
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_EXPIRING);
    CHECK(v.focus == &b->certs[1]); /* the one expiring first */
    CHECK(v.focus_token == b);
    CHECK_EQ(v.n_certs, 3);

    add_cert(a, cert("a2", "丁", now - DAY));
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_EXPIRED);
    CHECK(v.focus == &a->certs[1]);
    CHECK(v.focus_token == a);

    CHECK(ukt_input_remove_token(&in, "piv:1"));
    CHECK(!ukt_input_remove_token(&in, "piv:1"));
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_EXPIRING);
    CHECK_EQ(v.n_tokens, 1);
    CHECK(strcmp(v.focus_token->id, "piv:2") == 0);
}

/* After an online renewal the old certificate stays on the key next to
 * the new one: the new one decides. */
static void test_renewed(void)
{
    int64_t now = check_utc(2026, 11, 24, 12, 0, 0);
    ukt_view v;
    ukt_token *t;
    ukt_cert renewed;

    reset(true);
    t = token("piv:1", "key");
    add_cert(t, cert("old", "张三", now + 10 * DAY));
    renewed = cert("new", "张三", now + 375 * DAY);
    renewed.not_before = now - DAY;
    add_cert(t, renewed);
    CHECK(ukt_cert_superseded(&in, &t->certs[0], now));
    CHECK(!ukt_cert_superseded(&in, &t->certs[1], now));
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_KEY);
    CHECK_EQ(v.n_certs, 1);
    CHECK(v.focus == &t->certs[1]);

    /* another subject is not a renewal */
    snprintf(t->certs[1].subject, sizeof(t->certs[1].subject), "%s", "CN=李四");
    CHECK(!ukt_cert_superseded(&in, &t->certs[0], now));
    ukt_view_compute(&in, now, &v);
    CHECK_EQ(v.state, UKT_STATE_EXPIRING);

    /* an expired "newer" certificate renews nothing */
    t->certs[1] = cert("new", "张三", now + 20 * DAY);
    CHECK(ukt_cert_superseded(&in, &t->certs[0], now));
    CHECK(!ukt_cert_superseded(&in, &t->certs[0], now + 21 * DAY));
}

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);

    CHECK(j != NULL);
    return j;
}

static void test_parse(void)
{
    /* the example of docs/protocol.md */
    cJSON *tok = parse("{\"tokenId\": \"piv:10000001\", \"driver\": \"piv\", \"label\": \"ukey "
                       "virtual PIV\", \"serial\": \"10000001\", \"reader\": \"r\"}");
    cJSON *certs = parse(
        "{\"certs\": [{\"certId\": \"6b2a\", \"slot\": \"9a\", \"subject\": "
        "\"serialNumber=91140100MA0DEMO01X,OU=信息部,O=山西测试单位,CN=张三\", \"commonName\": "
        "\"张三\", \"organization\": \"山西测试单位\", \"notBefore\": \"2026-11-24T08:19:30Z\", "
        "\"notAfter\": \"2026-12-14T08:19:30Z\", \"status\": \"expiring\", \"renewal\": "
        "{\"eligible\": true, \"opensAt\": \"2026-11-14T08:19:30Z\", \"closesAt\": "
        "\"2027-12-14T08:19:30Z\", \"daysToExpiry\": 19}},"
        "{\"certId\": \"77\", \"subject\": \"CN=x\", \"commonName\": \"x\", \"notBefore\": "
        "\"2020-01-01T00:00:00Z\", \"notAfter\": \"2019-01-01T00:00:00Z\", \"renewal\": null},"
        "{\"certId\": \"bad\", \"notBefore\": \"yesterday\", \"notAfter\": "
        "\"2026-12-14T08:19:30Z\"}, {\"slot\": \"9c\"}]}");
    cJSON *bad = parse("{\"tokenId\": 7}");
    ukt_token t;
    size_t dropped = 0;

    CHECK_EQ(ukt_token_parse(tok, &t), UK_OK);
    CHECK(strcmp(t.id, "piv:10000001") == 0);
    CHECK(strcmp(t.label, "ukey virtual PIV") == 0);
    CHECK(!t.certs_known);
    CHECK_EQ(ukt_token_parse(bad, &t), UK_E_MALFORMED);
    CHECK_EQ(ukt_token_parse(NULL, &t), UK_E_MALFORMED);

    CHECK_EQ(ukt_token_parse(tok, &t), UK_OK);
    CHECK_EQ(ukt_certs_parse(certs, &t, &dropped), UK_OK);
    CHECK(t.certs_known);
    CHECK_EQ(t.n_certs, 2);
    CHECK_EQ(dropped, 2);
    CHECK(strcmp(t.certs[0].id, "6b2a") == 0);
    CHECK(strcmp(t.certs[0].common_name, "张三") == 0);
    CHECK(strcmp(t.certs[0].organization, "山西测试单位") == 0);
    CHECK(t.certs[0].has_window);
    CHECK_EQ(t.certs[0].not_after, check_utc(2026, 12, 14, 8, 19, 30));
    CHECK_EQ(t.certs[0].opens_at, check_utc(2026, 11, 14, 8, 19, 30));
    CHECK_EQ(t.certs[0].closes_at, check_utc(2027, 12, 14, 8, 19, 30));
    CHECK(!t.certs[1].has_window);
    CHECK_EQ(ukt_certs_parse(bad, &t, &dropped), UK_E_MALFORMED);
    cJSON_Delete(tok);
    cJSON_Delete(certs);
    cJSON_Delete(bad);

    /* at most UKT_MAX_CERTS per key */
    {
        cJSON *many = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(many, "certs");
        for (int i = 0; i < UKT_MAX_CERTS + 3; i++) {
            char id[16];
            cJSON *c = cJSON_CreateObject();
            snprintf(id, sizeof(id), "c%d", i);
            cJSON_AddStringToObject(c, "certId", id);
            cJSON_AddStringToObject(c, "notBefore", "2026-01-01T00:00:00Z");
            cJSON_AddStringToObject(c, "notAfter", "2027-01-01T00:00:00Z");
            cJSON_AddItemToArray(arr, c);
        }
        CHECK_EQ(ukt_certs_parse(many, &t, &dropped), UK_OK);
        CHECK_EQ(t.n_certs, UKT_MAX_CERTS);
        CHECK_EQ(dropped, 3);
        cJSON_Delete(many);
    }
}

static void test_token_limit(void)
{
    char id[32];

    reset(true);
    for (int i = 0; i < UKT_MAX_TOKENS; i++) {
        snprintf(id, sizeof(id), "piv:%d", i);
        token(id, "k");
    }
    {
        ukt_token extra;
        memset(&extra, 0, sizeof(extra));
        snprintf(extra.id, sizeof(extra.id), "%s", "piv:extra");
        CHECK_EQ(ukt_input_put_token(&in, &extra), UK_E_LIMIT);
        /* replacing one that is there still works */
        snprintf(extra.id, sizeof(extra.id), "%s", "piv:3");
        snprintf(extra.label, sizeof(extra.label), "%s", "renamed");
        CHECK_EQ(ukt_input_put_token(&in, &extra), UK_OK);
        CHECK(strcmp(ukt_input_token(&in, "piv:3")->label, "renamed") == 0);
    }
    CHECK_EQ(in.n_tokens, UKT_MAX_TOKENS);
    CHECK(ukt_input_token(&in, "piv:nope") == NULL);
}

static void test_lang(void)
{
    CHECK_EQ(ukt_lang_pick(NULL, NULL, NULL), UKT_LANG_ZH);
    CHECK_EQ(ukt_lang_pick(NULL, NULL, "C.UTF-8"), UKT_LANG_ZH);
    CHECK_EQ(ukt_lang_pick(NULL, NULL, "zh_CN.UTF-8"), UKT_LANG_ZH);
    CHECK_EQ(ukt_lang_pick(NULL, NULL, "en_US.UTF-8"), UKT_LANG_EN);
    CHECK_EQ(ukt_lang_pick(NULL, "en_GB.UTF-8", "zh_CN.UTF-8"), UKT_LANG_EN);
    CHECK_EQ(ukt_lang_pick("zh_CN.UTF-8", "en_GB.UTF-8", "en_US"), UKT_LANG_ZH);
    CHECK_EQ(ukt_lang_pick("", "", "en"), UKT_LANG_EN);
    CHECK_EQ(ukt_lang_pick(NULL, NULL, "eng"), UKT_LANG_ZH); /* not "en" */
    CHECK(strcmp(ukt_text(UKT_LANG_ZH, UKT_MSG_OPEN_HALL), "打开服务大厅") == 0);
    CHECK(strcmp(ukt_text(UKT_LANG_EN, UKT_MSG_OPEN_HALL), "Open service hall") == 0);
    for (int m = UKT_MSG_APP_NAME; m <= UKT_MSG_START_FAILED; m++) {
        CHECK(ukt_text(UKT_LANG_ZH, (ukt_msg)m)[0] != '\0');
        CHECK(ukt_text(UKT_LANG_EN, (ukt_msg)m)[0] != '\0');
    }
}

#define HAS(text, part)                                                                            \
    do {                                                                                           \
        if (strstr((text), (part)) == NULL) {                                                      \
            fprintf(stderr, "'%s' lacks '%s'\n", (text), (part));                                  \
            CHECK_FAIL("text has the expected part");                                              \
        } else {                                                                                   \
            CHECK(1);                                                                              \
        }                                                                                          \
    } while (0)

static void test_titles(void)
{
    int64_t now = check_utc(2026, 11, 24, 12, 0, 0);
    char s[512];
    ukt_view v;
    ukt_token *t;

    reset(false);
    ukt_view_compute(&in, now, &v);
    ukt_title(UKT_LANG_ZH, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "USB-KEY 证书助手：证书助手未运行") == 0);
    ukt_title(UKT_LANG_EN, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "USB-KEY helper: The helper is not running") == 0);

    reset(true);
    ukt_view_compute(&in, now, &v);
    ukt_status_line(UKT_LANG_ZH, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "证书助手运行中，未插入 USB-KEY") == 0);

    t = token("piv:1", "key");
    ukt_view_compute(&in, now, &v);
    ukt_status_line(UKT_LANG_ZH, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "已插入 USB-KEY") == 0);
    add_cert(t, cert("c", "张三", check_utc(2027, 12, 14, 8, 0, 0)));
    ukt_view_compute(&in, now, &v);
    ukt_status_line(UKT_LANG_ZH, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "已插入 USB-KEY，证书有效期至 2027年12月14日") == 0);
    ukt_status_line(UKT_LANG_EN, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "USB-KEY inserted; certificate valid until 2027-12-14") == 0);

    t->certs[0] = cert("c", "张三", now + 19 * DAY + 3600);
    ukt_view_compute(&in, now, &v);
    ukt_status_line(UKT_LANG_ZH, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "证书将于 19 天后到期，请在线更新") == 0);
    ukt_status_line(UKT_LANG_EN, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "Certificate expires in 19 days; renew online") == 0);
    t->certs[0] = cert("c", "张三", now + 3600);
    ukt_view_compute(&in, now, &v);
    ukt_status_line(UKT_LANG_ZH, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "证书今天到期，请在线更新") == 0);

    t->certs[0] = cert("c", "张三", check_utc(2026, 11, 20, 0, 0, 0));
    ukt_view_compute(&in, now, &v);
    ukt_status_line(UKT_LANG_ZH, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "证书已过期，请在 2027年11月20日 前在线更新") == 0);
    ukt_status_line(UKT_LANG_EN, &v, now, s, sizeof(s));
    CHECK(strcmp(s, "Certificate expired; renew online by 2027-11-20") == 0);
    t->certs[0] = cert("c", "张三", now - 400 * DAY);
    ukt_view_compute(&in, now, &v);
    ukt_status_line(UKT_LANG_ZH, &v, now, s, sizeof(s));
    HAS(s, "已不能在线更新");

    /* a tiny buffer truncates, never overflows */
    ukt_title(UKT_LANG_ZH, &v, now, s, 8);
    CHECK(strlen(s) < 8);
}

static void test_notice(void)
{
    int64_t now = check_utc(2026, 11, 24, 12, 0, 0);
    ukt_cert a = cert("a", "张三", check_utc(2026, 12, 14, 8, 19, 30));
    ukt_cert b = cert("b", "", check_utc(2026, 11, 20, 0, 0, 0));
    const ukt_cert *one[1] = {&a};
    const ukt_cert *two[2] = {&b, &a};
    char sum[256];
    char body[1024];

    ukt_notice(UKT_LANG_ZH, one, 1, now, sum, sizeof(sum), body, sizeof(body));
    CHECK(strcmp(sum, "数字证书即将到期") == 0);
    HAS(body, "张三 的证书将于 2026年12月14日 到期（还剩 19 天），现在可以在线更新。");
    HAS(body, "打开服务大厅");
    ukt_notice(UKT_LANG_EN, one, 1, now, sum, sizeof(sum), body, sizeof(body));
    CHECK(strcmp(sum, "Your certificate expires soon") == 0);
    HAS(body, "expires on 2026-12-14 (19 days left)");
    HAS(body, "Open service hall");

    snprintf(b.organization, sizeof(b.organization), "%s", "山西测试单位");
    ukt_notice(UKT_LANG_ZH, two, 2, now, sum, sizeof(sum), body, sizeof(body));
    CHECK(strcmp(sum, "2 张数字证书需要更新") == 0);
    HAS(body, "山西测试单位 的证书已于 2026年11月20日 过期，2027年11月20日 前仍可在线更新。");
    HAS(body, "另有 1 张证书需要更新。");
    ukt_notice(UKT_LANG_EN, two + 0, 1, now, sum, sizeof(sum), body, sizeof(body));
    CHECK(strcmp(sum, "Your certificate has expired") == 0);
    HAS(body, "expired on 2026-11-20; it can be renewed online until 2027-11-20");
}

static void test_reports(void)
{
    int64_t now = check_utc(2026, 11, 24, 12, 0, 0);
    char s[4096];
    ukt_token *t;
    cJSON *env;

    reset(false);
    ukt_certs_report(UKT_LANG_ZH, &in, now, s, sizeof(s));
    HAS(s, "证书助手未运行");
    reset(true);
    ukt_certs_report(UKT_LANG_ZH, &in, now, s, sizeof(s));
    CHECK(strcmp(s, ukt_text(UKT_LANG_ZH, UKT_MSG_NO_CERTS)) == 0);
    t = token("piv:1", "ukey virtual PIV");
    add_cert(t, cert("a", "张三", check_utc(2026, 12, 14, 8, 19, 30)));
    add_cert(t, cert("b", "李四", check_utc(2027, 12, 14, 8, 19, 30)));
    t->certs[1].not_before = check_utc(2025, 12, 14, 8, 19, 30); /* a two-year certificate */
    ukt_certs_report(UKT_LANG_ZH, &in, now, s, sizeof(s));
    HAS(s, "张三（ukey virtual PIV）");
    HAS(s, "有效期：2025年12月14日 至 2026年12月14日");
    HAS(s, "状态：即将到期（还剩 19 天），可在线更新");
    HAS(s, "李四（ukey virtual PIV）");
    HAS(s, "状态：有效（还剩 384 天）");
    ukt_certs_report(UKT_LANG_EN, &in, now, s, sizeof(s));
    HAS(s, "Status: expires soon (19 days left); can be renewed online");

    ukt_env_report(UKT_LANG_ZH, NULL, s, sizeof(s));
    HAS(s, "证书助手（ukeyd）未运行");
    env = parse("{\"daemon\": {\"version\": \"0.1.0\", \"running\": true, \"port\": 17485},"
                "\"pcsc\": {\"running\": false}, \"readers\": [], \"tokens\": [],"
                "\"problems\": [{\"code\": \"PCSC_UNAVAILABLE\", \"severity\": \"error\","
                "\"message\": {\"zh-CN\": \"智能卡服务（pcscd）未运行，请启动该服务后重新检测。\","
                "\"en\": \"The smart card service (pcscd) is not running; start it and check "
                "again.\"}}]}");
    ukt_env_report(UKT_LANG_ZH, env, s, sizeof(s));
    HAS(s, "证书助手：运行中（版本 0.1.0，端口 17485）");
    HAS(s, "智能卡服务：未运行");
    HAS(s, "发现问题");
    HAS(s, "智能卡服务（pcscd）未运行，请启动该服务后重新检测。");
    ukt_env_report(UKT_LANG_EN, env, s, sizeof(s));
    HAS(s, "The smart card service (pcscd) is not running");
    cJSON_Delete(env);
    env = parse("{\"daemon\": {\"version\": \"0.1.0\", \"port\": 17485}, \"pcsc\": {\"running\": "
                "true}, \"readers\": [{\"name\": \"Yubico ukey-vkey 00 00\", \"card\": true}], "
                "\"tokens\": [{\"tokenId\": \"piv:1\", \"label\": \"ukey virtual PIV\"}], "
                "\"problems\": []}");
    ukt_env_report(UKT_LANG_ZH, env, s, sizeof(s));
    HAS(s, "读卡器：Yubico ukey-vkey 00 00（已插入）");
    HAS(s, "USB-KEY：ukey virtual PIV（piv:1）");
    HAS(s, "检测通过");
    cJSON_Delete(env);
    /* an info notice is shown, but the check still passes */
    env = parse("{\"daemon\": {\"version\": \"0.1.0\", \"port\": 17485}, \"pcsc\": {\"running\": "
                "true}, \"readers\": [], \"tokens\": [], \"problems\": [{\"code\": "
                "\"CERT_RENEWABLE\", \"severity\": \"info\", \"message\": {\"zh-CN\": "
                "\"证书可以在线更新。\", \"en\": \"It can be renewed online now.\"}}]}");
    ukt_env_report(UKT_LANG_ZH, env, s, sizeof(s));
    HAS(s, "ℹ 证书可以在线更新。");
    HAS(s, "检测通过");
    cJSON_Delete(env);
}

int main(void)
{
    test_time_parse();
    test_cert_status();
    test_states();
    test_worst_wins();
    test_renewed();
    test_parse();
    test_token_limit();
    test_lang();
    test_titles();
    test_notice();
    test_reports();
    return check_exit_code("test_tray_model");
}
