// SPDX-License-Identifier: MIT
/*
 * The tray's words (text.h). Every string exists in both languages side by
 * side, so a missing translation is visible in review.
 */
#define _DEFAULT_SOURCE /* localtime_r */
#include "text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A bounded appender: text past cap is dropped, the buffer stays a string. */
struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static void add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->cap == 0 || o->len >= o->cap - 1) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->buf[o->len] = '\0';
        return;
    }
    o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

static struct out out_init(char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};

    if (cap > 0) {
        buf[0] = '\0';
    }
    return o;
}

static bool starts_with_en(const char *v)
{
    return v[0] == 'e' && v[1] == 'n' &&
           (v[2] == '\0' || v[2] == '_' || v[2] == '.' || v[2] == '@' || v[2] == '-');
}

ukt_lang ukt_lang_pick(const char *lc_all, const char *lc_messages, const char *lang)
{
    const char *vals[3] = {lc_all, lc_messages, lang};

    for (size_t i = 0; i < 3; i++) {
        if (vals[i] != NULL && vals[i][0] != '\0') {
            return starts_with_en(vals[i]) ? UKT_LANG_EN : UKT_LANG_ZH;
        }
    }
    return UKT_LANG_ZH;
}

const char *ukt_text(ukt_lang lang, ukt_msg msg)
{
    bool zh = lang == UKT_LANG_ZH;

    switch (msg) {
    case UKT_MSG_APP_NAME:
        return zh ? "USB-KEY 证书助手" : "USB-KEY helper";
    case UKT_MSG_OPEN_HALL:
        return zh ? "打开服务大厅" : "Open service hall";
    case UKT_MSG_ENV_CHECK:
        return zh ? "环境检测" : "Check environment";
    case UKT_MSG_CERT_EXPIRY:
        return zh ? "证书有效期" : "Certificate expiry";
    case UKT_MSG_START:
        return zh ? "启动证书助手" : "Start the helper";
    case UKT_MSG_STOP:
        return zh ? "停止证书助手" : "Stop the helper";
    case UKT_MSG_QUIT:
        return zh ? "退出" : "Quit";
    case UKT_MSG_CLOSE:
        return zh ? "关闭" : "Close";
    case UKT_MSG_RECHECK:
        return zh ? "重新检测" : "Check again";
    case UKT_MSG_ENV_TITLE:
        return zh ? "环境检测结果" : "Environment check";
    case UKT_MSG_CERTS_TITLE:
        return zh ? "证书有效期" : "Certificate expiry";
    case UKT_MSG_NO_CERTS:
        return zh ? "未读取到证书：请插入 USB-KEY。" : "No certificate: insert your USB-KEY.";
    case UKT_MSG_START_FAILED:
        return zh ? "无法启动证书助手（ukeyd）。" : "Cannot start the helper (ukeyd).";
    }
    return "";
}

void ukt_date(ukt_lang lang, int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL) {
        snprintf(out, cap, "%s", "?");
        return;
    }
    if (lang == UKT_LANG_ZH) {
        snprintf(out, cap, "%d年%d月%d日", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    } else {
        snprintf(out, cap, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    }
}

/* Who the certificate belongs to, as a person reads it. */
static const char *holder(const ukt_cert *c)
{
    if (c->common_name[0] != '\0') {
        return c->common_name;
    }
    if (c->organization[0] != '\0') {
        return c->organization;
    }
    return "USB-KEY";
}

void ukt_status_line(ukt_lang lang, const ukt_view *v, int64_t now, char *out, size_t cap)
{
    bool zh = lang == UKT_LANG_ZH;
    struct out o = out_init(out, cap);
    char date[64];
    int64_t days;

    switch (v->state) {
    case UKT_STATE_STOPPED:
        add(&o, "%s", zh ? "证书助手未运行" : "The helper is not running");
        return;
    case UKT_STATE_NOKEY:
        add(&o, "%s",
            zh ? "证书助手运行中，未插入 USB-KEY" : "Helper running; no USB-KEY inserted");
        return;
    case UKT_STATE_KEY:
        if (v->focus != NULL) {
            ukt_date(lang, v->focus->not_after, date, sizeof(date));
            add(&o,
                zh ? "已插入 USB-KEY，证书有效期至 %s"
                   : "USB-KEY inserted; certificate valid until %s",
                date);
        } else {
            add(&o, "%s", zh ? "已插入 USB-KEY" : "USB-KEY inserted");
        }
        return;
    case UKT_STATE_EXPIRING:
        days = ukt_days_to_expiry(v->focus, now);
        if (days <= 0) {
            add(&o, "%s",
                zh ? "证书今天到期，请在线更新" : "Certificate expires today; renew online");
        } else {
            add(&o,
                zh ? "证书将于 %lld 天后到期，请在线更新"
                   : "Certificate expires in %lld days; renew online",
                (long long)days);
        }
        return;
    case UKT_STATE_EXPIRED:
        if (ukt_cert_renewable_at(v->focus, now)) {
            ukt_date(lang, v->focus->closes_at, date, sizeof(date));
            add(&o,
                zh ? "证书已过期，请在 %s 前在线更新" : "Certificate expired; renew online by %s",
                date);
        } else {
            add(&o, "%s",
                zh ? "证书已过期，已不能在线更新，请联系证书颁发机构"
                   : "Certificate expired; online renewal has closed, contact your CA");
        }
        return;
    }
}

void ukt_title(ukt_lang lang, const ukt_view *v, int64_t now, char *out, size_t cap)
{
    char line[512];
    struct out o = out_init(out, cap);

    ukt_status_line(lang, v, now, line, sizeof(line));
    add(&o, lang == UKT_LANG_ZH ? "%s：%s" : "%s: %s", ukt_text(lang, UKT_MSG_APP_NAME), line);
}

void ukt_notice(ukt_lang lang, const ukt_cert *const *due, size_t n, int64_t now, char *summary,
                size_t summary_cap, char *body, size_t body_cap)
{
    bool zh = lang == UKT_LANG_ZH;
    struct out s = out_init(summary, summary_cap);
    struct out b = out_init(body, body_cap);
    const ukt_cert *c = due[0];
    bool expired = ukt_cert_status_at(c, now) == UK_CERT_EXPIRED;
    char date[64];
    char close[64];

    if (n > 1) {
        add(&s, zh ? "%zu 张数字证书需要更新" : "%zu certificates need renewal", n);
    } else if (expired) {
        add(&s, "%s", zh ? "数字证书已过期" : "Your certificate has expired");
    } else {
        add(&s, "%s", zh ? "数字证书即将到期" : "Your certificate expires soon");
    }
    ukt_date(lang, c->not_after, date, sizeof(date));
    ukt_date(lang, c->closes_at, close, sizeof(close));
    if (expired) {
        add(&b,
            zh ? "%s 的证书已于 %s 过期，%s 前仍可在线更新。"
               : "The certificate of %s expired on %s; it can be renewed online until %s.",
            holder(c), date, close);
    } else {
        add(&b,
            zh ? "%s 的证书将于 %s 到期（还剩 %lld 天），现在可以在线更新。"
               : "The certificate of %s expires on %s (%lld days left); renew it online now.",
            holder(c), date, (long long)ukt_days_to_expiry(c, now));
    }
    if (n > 1) {
        add(&b, zh ? "另有 %zu 张证书需要更新。" : " %zu more need renewal.", n - 1);
    }
    add(&b, "%s",
        zh ? "请保持 USB-KEY 插入，点击“打开服务大厅”办理。"
           : " Keep the USB-KEY inserted and choose \"Open service hall\".");
}

static void cert_block(ukt_lang lang, struct out *o, const ukt_input *in, const ukt_token *tok,
                       const ukt_cert *c, int64_t now)
{
    bool zh = lang == UKT_LANG_ZH;
    char from[64];
    char to[64];
    char close[64];
    int64_t days = ukt_days_to_expiry(c, now);

    ukt_date(lang, c->not_before, from, sizeof(from));
    ukt_date(lang, c->not_after, to, sizeof(to));
    ukt_date(lang, c->closes_at, close, sizeof(close));
    add(o, zh ? "%s（%s）\n" : "%s (%s)\n", holder(c), tok->label[0] ? tok->label : tok->id);
    add(o, zh ? "    有效期：%s 至 %s\n" : "    Valid: %s to %s\n", from, to);
    if (ukt_cert_superseded(in, c, now)) {
        add(o, "%s",
            zh ? "    状态：已更新（新证书已在 USB-KEY 中）\n"
               : "    Status: renewed (the new certificate is on the key)\n");
        return;
    }
    switch (ukt_cert_status_at(c, now)) {
    case UK_CERT_NOT_YET_VALID:
        add(o, "%s", zh ? "    状态：尚未生效\n" : "    Status: not valid yet\n");
        break;
    case UK_CERT_VALID:
        add(o, zh ? "    状态：有效（还剩 %lld 天）\n" : "    Status: valid (%lld days left)\n",
            (long long)days);
        break;
    case UK_CERT_EXPIRING:
        add(o,
            zh ? "    状态：即将到期（还剩 %lld 天），可在线更新\n"
               : "    Status: expires soon (%lld days left); can be renewed online\n",
            (long long)days);
        break;
    case UK_CERT_EXPIRED:
        if (ukt_cert_renewable_at(c, now)) {
            add(o,
                zh ? "    状态：已过期，%s 前可在线更新\n"
                   : "    Status: expired; can be renewed online until %s\n",
                close);
        } else {
            add(o, "%s",
                zh ? "    状态：已过期，已不能在线更新\n"
                   : "    Status: expired; online renewal has closed\n");
        }
        break;
    }
}

void ukt_certs_report(ukt_lang lang, const ukt_input *in, int64_t now, char *out, size_t cap)
{
    struct out o = out_init(out, cap);
    size_t shown = 0;

    if (!in->reachable) {
        add(&o, "%s",
            lang == UKT_LANG_ZH ? "证书助手未运行，无法读取证书。"
                                : "The helper is not running; no certificate can be read.");
        return;
    }
    for (size_t t = 0; t < in->n_tokens; t++) {
        const ukt_token *tok = &in->tokens[t];
        for (size_t i = 0; i < tok->n_certs; i++) {
            if (shown++ > 0) {
                add(&o, "\n");
            }
            cert_block(lang, &o, in, tok, &tok->certs[i], now);
        }
    }
    if (shown == 0) {
        add(&o, "%s", ukt_text(lang, UKT_MSG_NO_CERTS));
    }
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

void ukt_env_report(ukt_lang lang, const cJSON *result, char *out, size_t cap)
{
    bool zh = lang == UKT_LANG_ZH;
    struct out o = out_init(out, cap);
    const cJSON *daemon = cJSON_GetObjectItemCaseSensitive(result, "daemon");
    const cJSON *pcsc = cJSON_GetObjectItemCaseSensitive(result, "pcsc");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(daemon, "port");
    const cJSON *x;
    int n = 0;

    if (result == NULL) {
        add(&o, "%s",
            zh ? "✗ 证书助手（ukeyd）未运行。\n请在菜单中选择“启动证书助手”，然后重新检测。"
               : "✗ The helper (ukeyd) is not running.\nChoose \"Start the helper\" in the menu, "
                 "then check again.");
        return;
    }
    add(&o,
        zh ? "✓ 证书助手：运行中（版本 %s，端口 %d）\n"
           : "✓ Helper: running (version %s, port %d)\n",
        str(daemon, "version"), cJSON_IsNumber(port) ? port->valueint : 0);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pcsc, "running"))) {
        add(&o, "%s", zh ? "✓ 智能卡服务：运行中\n" : "✓ Smart card service: running\n");
    } else {
        add(&o, "%s", zh ? "✗ 智能卡服务：未运行\n" : "✗ Smart card service: not running\n");
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(result, "readers"))
    {
        bool card = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "card"));
        add(&o, zh ? "• 读卡器：%s（%s）\n" : "• Reader: %s (%s)\n", str(x, "name"),
            card ? (zh ? "已插入" : "key inserted") : (zh ? "空" : "empty"));
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(result, "tokens"))
    {
        add(&o, zh ? "✓ USB-KEY：%s（%s）\n" : "✓ USB-KEY: %s (%s)\n", str(x, "label"),
            str(x, "tokenId"));
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(result, "problems"))
    {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(x, "message");
        const char *text = str(msg, zh ? "zh-CN" : "en");
        if (strcmp(str(x, "severity"), "info") == 0) {
            /* a notice (a certificate's renewal window), not a problem */
            add(&o, "ℹ %s\n", text[0] ? text : str(x, "code"));
            continue;
        }
        if (n++ == 0) {
            add(&o, "%s", zh ? "\n发现问题：\n" : "\nProblems:\n");
        }
        add(&o, "✗ %s\n", text[0] ? text : str(x, "code"));
    }
    if (n == 0) {
        add(&o, "%s",
            zh ? "\n检测通过，可以使用服务大厅。" : "\nAll checks passed; the hall can be used.");
    }
}
