// SPDX-License-Identifier: MIT
/*
 * The problem rules of env.check (see diag.h and docs/diagnosis.md). The
 * order of the rules follows how a person fixes things: the service first,
 * then what is plugged in, then the key's contents. Every problem carries
 * its explanation and its fix in both languages, plus the facts it was
 * decided on (device ids, token, certificate, URL) for the SDK and for
 * support.
 */
#define _GNU_SOURCE /* strcasestr */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TXT 768

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

static bool flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void fmt(char *out, const char *f, ...) __attribute__((format(printf, 2, 3)));

static void fmt(char *out, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(out, TXT, f, ap);
    va_end(ap);
}

/* The local calendar day of a protocol time ("2026-12-26T22:17:53Z" is
 * "2026-12-27" in China), for the sentences a person reads; the problem's
 * fields keep the exact time. Anything else is shown as it is. */
static void day(const char *iso, char out[32])
{
    struct tm tm = {0};
    time_t t;
    char z = 0;

    snprintf(out, 32, "%s", iso);
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &z) != 7 ||
        z != 'Z') {
        return;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    if (t != (time_t)-1 && localtime_r(&t, &tm) != NULL) {
        strftime(out, 32, "%Y-%m-%d", &tm);
    }
}

/* Adds {code, severity, message{zh-CN,en}, fix{zh-CN,en}} to arr and
 * returns it for the caller's detail members. */
static cJSON *add(cJSON *arr, const char *code, const char *severity, const char *msg_zh,
                  const char *msg_en, const char *fix_zh, const char *fix_en)
{
    cJSON *p = cJSON_CreateObject();
    cJSON *m = cJSON_CreateObject();
    cJSON *f = cJSON_CreateObject();

    if (p == NULL || m == NULL || f == NULL) {
        cJSON_Delete(p);
        cJSON_Delete(m);
        cJSON_Delete(f);
        return NULL;
    }
    cJSON_AddStringToObject(p, "code", code);
    cJSON_AddStringToObject(p, "severity", severity);
    cJSON_AddStringToObject(m, "zh-CN", msg_zh);
    cJSON_AddStringToObject(m, "en", msg_en);
    cJSON_AddItemToObject(p, "message", m);
    cJSON_AddStringToObject(f, "zh-CN", fix_zh);
    cJSON_AddStringToObject(f, "en", fix_en);
    cJSON_AddItemToObject(p, "fix", f);
    cJSON_AddItemToArray(arr, p);
    return p;
}

/* Defined here, not in usb.c, so that the rules need no libusb. */
bool ukd_usb_dev_is_ccid(const ukd_usb_dev *d)
{
    const uint8_t smart_card = 0x0b; /* USB class code of CCID devices */

    if (d->dev_class == smart_card) {
        return true;
    }
    for (size_t i = 0; i < d->n_ifaces; i++) {
        if (d->if_classes[i] == smart_card) {
            return true;
        }
    }
    return false;
}

/* ---- versions ------------------------------------------------------------ */

static bool parse_version(const char *s, long v[3])
{
    for (int i = 0; i < 3; i++) {
        char *end = NULL;
        if (s == NULL || *s < '0' || *s > '9') {
            return false;
        }
        v[i] = strtol(s, &end, 10);
        if (end == s || v[i] < 0 || v[i] > 1000000) {
            return false;
        }
        s = end;
        if (i < 2) {
            if (*s != '.') {
                return false;
            }
            s++;
        }
    }
    return *s == '\0' || *s == '-' || *s == '+';
}

int ukd_diag_version_cmp(const char *a, const char *b, bool *ok)
{
    long x[3];
    long y[3];

    *ok = parse_version(a, x) && parse_version(b, y);
    if (!*ok) {
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (x[i] != y[i]) {
            return x[i] < y[i] ? -1 : 1;
        }
    }
    return 0;
}

/* ---- USB devices of interest --------------------------------------------- */

/* Does the PC/SC reader name belong to this device? libccid names a
 * reader after the device's own strings ("Maker Product [Interface]
 * (serial) 00 00"), so the product string, or the list's name, inside the
 * reader name is the match. */
static bool reader_is(const char *reader, const ukd_usb_dev *d, const ukd_usbkey *k)
{
    if (d->product[0] != '\0' && strlen(d->product) >= 3 && strcasestr(reader, d->product)) {
        return true;
    }
    return k != NULL && strcasestr(reader, k->name) != NULL;
}

static const char *basename_of(const char *path)
{
    const char *s = strrchr(path, '/');

    return s != NULL ? s + 1 : path;
}

/* Is the maker's module for key k configured or registered? */
static bool module_present(const ukd_diag_input *in, const ukd_usbkey *k, const char **which)
{
    *which = NULL;
    if (k->n_modules == 0) {
        /* no module name known: any module the user configured counts */
        if (in->n_config_modules > 0) {
            *which = in->config_modules[0];
        }
        return in->n_config_modules > 0;
    }
    for (size_t m = 0; m < k->n_modules; m++) {
        for (size_t i = 0; i < in->n_config_modules; i++) {
            if (strcmp(basename_of(in->config_modules[i]), k->modules[m]) == 0) {
                *which = in->config_modules[i];
                return true;
            }
        }
        for (size_t i = 0; i < in->n_p11kit_modules; i++) {
            if (strcmp(basename_of(in->p11kit_modules[i]), k->modules[m]) == 0) {
                *which = in->p11kit_modules[i];
                return true;
            }
        }
    }
    return false;
}

static cJSON *device_json(const ukd_diag_input *in, const ukd_usb_dev *d, const ukd_usbkey *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *ifs = cJSON_CreateArray();
    const cJSON *rd;
    const cJSON *tk;
    const char *reader = NULL;
    const char *token = NULL;
    char hex[8];

    if (o == NULL || ifs == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(ifs);
        return NULL;
    }
    snprintf(hex, sizeof(hex), "%04x", d->vid);
    cJSON_AddStringToObject(o, "vid", hex);
    snprintf(hex, sizeof(hex), "%04x", d->pid);
    cJSON_AddStringToObject(o, "pid", hex);
    cJSON_AddNumberToObject(o, "bus", d->bus);
    cJSON_AddNumberToObject(o, "address", d->address);
    cJSON_AddStringToObject(o, "maker", d->maker);
    cJSON_AddStringToObject(o, "product", d->product);
    cJSON_AddStringToObject(o, "serial", d->serial);
    for (size_t i = 0; i < d->n_ifaces; i++) {
        snprintf(hex, sizeof(hex), "%02x", d->if_classes[i]);
        cJSON_AddItemToArray(ifs, cJSON_CreateString(hex));
    }
    cJSON_AddItemToObject(o, "interfaceClasses", ifs);
    cJSON_AddBoolToObject(o, "smartCardClass", ukd_usb_dev_is_ccid(d));
    cJSON_AddBoolToObject(o, "known", k != NULL);
    /* a known key's kind comes from the list; an unknown device of
     * interest is one with a smart card interface: CCID */
    cJSON_AddStringToObject(o, "kind", k != NULL ? ukd_usbkey_kind_name(k->kind) : "ccid");
    if (k != NULL) {
        cJSON_AddStringToObject(o, "knownName", k->name);
        cJSON_AddStringToObject(o, "knownMaker", k->maker);
        if (k->driver_url[0] != '\0') {
            cJSON_AddStringToObject(o, "driverUrl", k->driver_url);
        }
    } else {
        /* an unknown model of a known maker: the maker's download helps */
        const ukd_usbmaker *m = ukd_usbkeys_maker(in->keys, d->vid);
        if (m != NULL) {
            cJSON_AddStringToObject(o, "knownMaker", m->name);
            if (m->driver_url[0] != '\0') {
                cJSON_AddStringToObject(o, "driverUrl", m->driver_url);
            }
        }
    }
    cJSON_ArrayForEach(rd, in->readers)
    {
        if (reader == NULL && reader_is(str(rd, "name"), d, k)) {
            reader = str(rd, "name");
        }
    }
    cJSON_ArrayForEach(tk, in->tokens)
    {
        if (token == NULL && reader != NULL && strcmp(str(tk, "reader"), reader) == 0) {
            token = str(tk, "tokenId");
        }
    }
    if (reader != NULL) {
        cJSON_AddStringToObject(o, "reader", reader);
    } else {
        cJSON_AddNullToObject(o, "reader");
    }
    if (token != NULL) {
        cJSON_AddStringToObject(o, "tokenId", token);
    } else {
        cJSON_AddNullToObject(o, "tokenId");
    }
    if (in->driver_ids != NULL) {
        bool listed = false;
        for (size_t i = 0; i < in->n_driver_ids && !listed; i++) {
            listed = in->driver_ids[i] == ((uint32_t)d->vid << 16 | d->pid);
        }
        cJSON_AddBoolToObject(o, "driverListed", listed);
    }
    if (k != NULL && k->kind == UKD_USBKEY_VENDOR) {
        const char *which = NULL;
        bool present = module_present(in, k, &which);
        cJSON_AddBoolToObject(o, "moduleConfigured", present);
        if (which != NULL) {
            cJSON_AddStringToObject(o, "module", which);
        }
    }
    return o;
}

cJSON *ukd_diag_usb_json(const ukd_diag_input *in)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *devs = cJSON_CreateArray();

    if (o == NULL || devs == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(devs);
        return NULL;
    }
    cJSON_AddBoolToObject(o, "available", in->usb != NULL && in->usb->available);
    cJSON_AddBoolToObject(o, "hotplug", in->usb != NULL && in->usb->hotplug);
    if (in->usb != NULL && in->usb->reason[0] != '\0') {
        cJSON_AddStringToObject(o, "reason", in->usb->reason);
    }
    for (size_t i = 0; i < in->n_devs; i++) {
        const ukd_usb_dev *d = &in->devs[i];
        const ukd_usbkey *k = ukd_usbkeys_find(in->keys, d->vid, d->pid);
        if (k == NULL && !ukd_usb_dev_is_ccid(d)) {
            continue; /* keyboards, hubs, cameras: not of interest */
        }
        cJSON_AddItemToArray(devs, device_json(in, d, k));
    }
    cJSON_AddItemToObject(o, "devices", devs);
    return o;
}

/* ---- the rules ------------------------------------------------------------- */

static void device_detail(cJSON *p, const cJSON *dev)
{
    cJSON *d = cJSON_CreateObject();

    if (p == NULL || d == NULL) {
        cJSON_Delete(d);
        return;
    }
    cJSON_AddStringToObject(d, "vid", str(dev, "vid"));
    cJSON_AddStringToObject(d, "pid", str(dev, "pid"));
    cJSON_AddStringToObject(d, "product", str(dev, "product"));
    if (str(dev, "knownName")[0] != '\0') {
        cJSON_AddStringToObject(d, "knownName", str(dev, "knownName"));
    }
    cJSON_AddItemToObject(p, "device", d);
    if (str(dev, "driverUrl")[0] != '\0') {
        cJSON_AddStringToObject(p, "driverUrl", str(dev, "driverUrl"));
    }
}

/* "Feitian ePass2003" for messages: the list's name, else the device's. */
static void device_label(const cJSON *dev, char *out, size_t cap)
{
    const char *name = str(dev, "knownName");
    const char *maker = str(dev, "knownMaker");

    if (name[0] != '\0' && (maker[0] == '\0' || strncasecmp(name, maker, strlen(maker)) == 0)) {
        snprintf(out, cap, "%s", name); /* libccid's names start with the maker */
    } else if (name[0] != '\0') {
        snprintf(out, cap, "%s %s", maker, name);
    } else if (str(dev, "product")[0] != '\0') {
        snprintf(out, cap, "%s%s%s", str(dev, "maker"), str(dev, "maker")[0] ? " " : "",
                 str(dev, "product"));
    } else {
        snprintf(out, cap, "USB %s:%s", str(dev, "vid"), str(dev, "pid"));
    }
}

/* Adds the problems of the devices of interest; returns how many such
 * devices are plugged in. */
static int usb_rules(const ukd_diag_input *in, const cJSON *usb, cJSON *arr)
{
    const cJSON *dev;
    int n = 0;
    char mz[TXT], me[TXT], fz[TXT], fe[TXT];
    char label[200];

    cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(usb, "devices"))
    {
        const char *url = str(dev, "driverUrl");
        bool is_ccid = strcmp(str(dev, "kind"), "ccid") == 0;

        device_label(dev, label, sizeof(label));
        if (is_ccid && in->pcsc_running && cJSON_IsNull(cJSON_GetObjectItem(dev, "reader")) &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dev, "driverListed"))) {
            /* the driver declares it, yet pcscd shows no reader for it: it
             * failed to start (permissions, a stuck device) */
            fmt(mz,
                "已插入的 %s（%s:%s）有智能卡驱动，但智能卡服务没有把它列为读卡器：设备"
                "启动失败。",
                label, str(dev, "vid"), str(dev, "pid"));
            fmt(me,
                "%s (%s:%s) is plugged in and its driver supports it, but the smart card "
                "service does not list it as a reader: the device failed to start.",
                label, str(dev, "vid"), str(dev, "pid"));
            fmt(fz, "%s",
                "拔下 USB-KEY 后换一个 USB 接口重新插入；如仍不行，重启智能卡服务（sudo "
                "systemctl restart pcscd）后重新检测。");
            fmt(fe, "%s",
                "Unplug the key and plug it into another USB port; if that does not "
                "help, restart the smart card service (sudo systemctl restart pcscd) "
                "and check again.");
            device_detail(add(arr, "CCID_NOT_LISTED", "error", mz, me, fz, fe), dev);
        } else if (is_ccid && in->pcsc_running &&
                   cJSON_IsNull(cJSON_GetObjectItem(dev, "reader"))) {
            fmt(mz,
                "已插入的 %s（%s:%s）是智能卡设备，但智能卡服务没有识别它：系统的 CCID "
                "驱动（libccid）不支持这个型号，会静默忽略它。",
                label, str(dev, "vid"), str(dev, "pid"));
            fmt(me,
                "%s (%s:%s) is plugged in and is a smart card device, but the smart card "
                "service does not list it: the system's CCID driver (libccid) does not "
                "support this model and ignores it silently.",
                label, str(dev, "vid"), str(dev, "pid"));
            if (url[0] != '\0') {
                fmt(fz,
                    "安装厂商的驱动（下载地址：%s）或更新 libccid（sudo apt install "
                    "libccid），然后拔下 USB-KEY 重新插入，再重新检测。",
                    url);
                fmt(fe,
                    "Install the maker's driver (download: %s) or a newer libccid (sudo "
                    "apt install libccid), then unplug the key, plug it in again and check "
                    "again.",
                    url);
            } else {
                fmt(fz, "%s",
                    "更新 libccid（sudo apt install libccid），然后拔下 USB-KEY "
                    "重新插入；如仍无法识别，请联系在线客服并附上「ukeyctl "
                    "diagnose」生成的报告。");
                fmt(fe, "%s",
                    "Install a newer libccid (sudo apt install libccid), then unplug "
                    "the key and plug it in again; if it is still not seen, contact "
                    "support with the report of 'ukeyctl diagnose'.");
            }
            device_detail(add(arr, "CCID_NOT_LISTED", "error", mz, me, fz, fe), dev);
        } else if (!is_ccid &&
                   !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dev, "moduleConfigured"))) {
            fmt(mz,
                "已插入 %s（%s:%s），它需要厂商的驱动（PKCS#11 或 SKF 模块），但没有安装"
                "或配置该驱动。",
                label, str(dev, "vid"), str(dev, "pid"));
            fmt(me,
                "%s (%s:%s) is plugged in; it needs its maker's driver (a PKCS#11 or SKF "
                "module), which is not installed or not configured.",
                label, str(dev, "vid"), str(dev, "pid"));
            fmt(fz,
                "下载并安装厂商驱动%s%s%s，然后在 ukeyd 的配置项 pkcs11Modules 中填写模块路径"
                "（或由驱动安装程序在 p11-kit 中注册），重启 ukeyd 后重新检测。",
                url[0] ? "（下载地址：" : "（请向发证机构的在线客服索取）", url,
                url[0] ? "）" : "");
            fmt(fe,
                "Install the maker's driver%s%s%s, then add the module's path to ukeyd's "
                "configuration key pkcs11Modules (or let the driver's installer register "
                "it with p11-kit), restart ukeyd and check again.",
                url[0] ? " (download: " : " (ask the certificate authority's support)", url,
                url[0] ? ")" : "");
            device_detail(add(arr, "VENDOR_DRIVER_MISSING", "error", mz, me, fz, fe), dev);
        }
        n++;
    }
    return n;
}

static void token_rules(const cJSON *tk, cJSON *arr)
{
    const cJSON *facts = cJSON_GetObjectItemCaseSensitive(tk, "facts");
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(facts, "pin");
    const cJSON *c;
    const char *id = str(tk, "tokenId");
    char mz[TXT], me[TXT], fz[TXT], fe[TXT];
    cJSON *p;

    if (flag(pin, "blocked")) {
        fmt(mz, "USB-KEY（%s）的 PIN 码已被锁定：输错次数过多。", id);
        fmt(me, "The PIN of the USB-KEY (%s) is blocked: too many wrong tries.", id);
        fmt(fz, "%s",
            "PIN 码只能由发证机构解锁：请联系在线客服或携带 USB-KEY 到业务网点办理"
            "解锁。不要再尝试输入 PIN 码。");
        fmt(fe, "%s",
            "Only the certificate authority can unblock it: contact its support or "
            "take the key to a service counter. Do not try more PINs.");
        p = add(arr, "PIN_BLOCKED", "error", mz, me, fz, fe);
        cJSON_AddStringToObject(p, "tokenId", id);
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(facts, "certs"))
    {
        const cJSON *ren = cJSON_GetObjectItemCaseSensitive(c, "renewal");
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(c, "current");
        const char *status = str(c, "status");
        const char *cn = str(c, "commonName")[0] ? str(c, "commonName") : str(c, "subject");
        bool eligible = flag(ren, "eligible");
        const char *code = NULL;
        const char *sev = "info";
        char end[32];
        char opens[32];
        char closes[32];

        if (cJSON_IsFalse(cur)) {
            continue; /* an old certificate kept after a renewal */
        }
        day(str(c, "notAfter"), end);
        day(str(ren, "opensAt"), opens);
        day(str(ren, "closesAt"), closes);
        if (strcmp(status, "expired") == 0) {
            code = "CERT_EXPIRED";
            sev = "error";
            fmt(mz, "证书「%s」已于 %s 过期。", cn, end);
            fmt(me, "The certificate \"%s\" expired on %s.", cn, end);
            if (eligible) {
                fmt(fz, "证书仍可在线更新（截止 %s）：请在服务大厅选择「在线更新」。", closes);
                fmt(fe,
                    "It can still be renewed online (until %s): choose \"在线更新\" "
                    "(online renewal) in the service hall.",
                    closes);
            } else {
                fmt(fz, "%s", "证书已超过在线更新期限，请携带 USB-KEY 到业务网点重新办理证书。");
                fmt(fe, "%s",
                    "It is past the online renewal period: take the key to a service "
                    "counter to be issued a new certificate.");
            }
        } else if (eligible) {
            code = "CERT_RENEWABLE";
            fmt(mz, "证书「%s」将于 %s 到期，现在可以在线更新。", cn, end);
            fmt(me, "The certificate \"%s\" expires on %s and can be renewed online now.", cn, end);
            fmt(fz, "在服务大厅选择「在线更新」更新证书（截止 %s）。", closes);
            fmt(fe, "Renew it in the service hall (\"在线更新\", until %s).", closes);
        } else if (strcmp(status, "valid") == 0) {
            code = "CERT_NOT_YET_RENEWABLE";
            fmt(mz, "证书「%s」有效期至 %s，%s 起可以在线更新。", cn, end, opens);
            fmt(me, "The certificate \"%s\" is valid until %s; online renewal opens on %s.", cn,
                end, opens);
            fmt(fz, "%s", "现在无需操作。");
            fmt(fe, "%s", "Nothing to do now.");
        }
        if (code != NULL) {
            p = add(arr, code, sev, mz, me, fz, fe);
            cJSON_AddStringToObject(p, "tokenId", id);
            cJSON_AddStringToObject(p, "certId", str(c, "certId"));
            cJSON_AddStringToObject(p, "notAfter", str(c, "notAfter"));
            if (ren != NULL) {
                cJSON_AddStringToObject(p, "renewalOpensAt", str(ren, "opensAt"));
                cJSON_AddStringToObject(p, "renewalClosesAt", str(ren, "closesAt"));
            }
        }
    }
}

cJSON *ukd_diag_problems(const ukd_diag_input *in, const cJSON *usb)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *rd;
    const cJSON *tk;
    const cJSON *m;
    int n_readers = cJSON_GetArraySize(in->readers);
    int n_tokens = cJSON_GetArraySize(in->tokens);
    int n_cards = 0;
    int n_unsupported = 0;
    int n_usb = 0; /* USB keys of interest plugged in */
    char mz[TXT], me[TXT];
    bool ok = false;
    cJSON *p;

    if (arr == NULL) {
        return NULL;
    }
    cJSON_ArrayForEach(rd, in->readers)
    {
        n_cards += flag(rd, "card");
        n_unsupported += flag(rd, "card") && !flag(rd, "cardSupported");
    }
    if (in->min_daemon != NULL && ukd_diag_version_cmp(in->version, in->min_daemon, &ok) < 0 &&
        ok) {
        fmt(mz, "USB-KEY 控件（ukeyd %s）版本过旧，本页面需要 %s 或更高版本。", in->version,
            in->min_daemon);
        fmt(me, "The USB-KEY helper (ukeyd %s) is too old; this page needs %s or newer.",
            in->version, in->min_daemon);
        p = add(arr, "HELPER_OUTDATED", "error", mz, me,
                "从服务大厅的下载中心下载并安装新版控件，然后重新检测。",
                "Download and install the new helper from the service hall's download centre, "
                "then check again.");
        cJSON_AddStringToObject(p, "version", in->version);
        cJSON_AddStringToObject(p, "minDaemonVersion", in->min_daemon);
    }
    if (!in->pcsc_running) {
        add(arr, "PCSC_UNAVAILABLE", "error", "智能卡服务（pcscd）未运行，无法访问 USB-KEY。",
            "The smart card service (pcscd) is not running, so no USB-KEY can be reached.",
            "安装并启动智能卡服务：sudo apt install pcscd，然后 sudo systemctl enable --now "
            "pcscd.socket，再重新检测。",
            "Install and start it: sudo apt install pcscd, then sudo systemctl enable --now "
            "pcscd.socket, and check again.");
    }
    n_usb = usb_rules(in, usb, arr);
    if (in->pcsc_running) {
        if (n_readers == 0 && n_tokens == 0 && n_usb == 0) {
            add(arr, "NO_READER", "error", "未检测到 USB-KEY 或读卡器。",
                "No USB-KEY or card reader is found.",
                "插入 USB-KEY；若已插入，请拔下后换一个 USB 接口重新插入，再重新检测。如仍"
                "无法识别，请安装 USB-KEY 厂商的驱动或联系在线客服。",
                "Plug the USB-KEY in; if it is, unplug it and plug it into another USB port, "
                "then check again. If it is still not found, install the key maker's driver or "
                "contact support.");
        } else if (n_readers > 0 && n_cards == 0 && n_tokens == 0) {
            add(arr, "NO_CARD", "error", "读卡器中没有 USB-KEY（卡片）。",
                "There is a reader but no USB-KEY (card) in it.",
                "插入 USB-KEY；若已插入，请拔下后重新插入，再重新检测。",
                "Insert the USB-KEY; if it is in, unplug it, plug it in again and check again.");
        } else if (n_unsupported > 0 && n_tokens == 0) {
            add(arr, "CARD_UNSUPPORTED", "error",
                "无法识别插入的 USB-KEY：其中没有本程序支持的应用。",
                "The inserted key has no application this program supports.",
                "确认插入的是发证机构发放的 USB-KEY；如无误，请联系在线客服，并附上「ukeyctl "
                "diagnose」生成的报告。",
                "Make sure it is the key the certificate authority issued; if it is, contact "
                "support with the report of 'ukeyctl diagnose'.");
        }
    }
    cJSON_ArrayForEach(tk, in->tokens)
    {
        token_rules(tk, arr);
    }
    if (in->usb == NULL || !in->usb->available) {
        const char *why = in->usb != NULL && in->usb->reason[0] ? in->usb->reason : "unknown";
        fmt(mz, "无法查看 USB 设备（%s），因此无法判断 USB-KEY 的驱动问题。", why);
        fmt(me,
            "USB devices cannot be seen (%s), so driver problems of a USB-KEY cannot be "
            "found.",
            why);
        p = add(arr, "USB_UNAVAILABLE", "warning", mz, me,
                "在普通的桌面会话中运行 ukeyd；在容器或沙箱中运行时，为它开放 /dev/bus/usb 和 "
                "/sys/bus/usb。",
                "Run ukeyd in a normal desktop session; in a container or sandbox, give it "
                "/dev/bus/usb and /sys/bus/usb.");
        cJSON_AddStringToObject(p, "reason", why);
    }
    if (in->keys_error != NULL) {
        fmt(mz, "已知 USB-KEY 列表有误，已忽略出错的部分：%s", in->keys_error);
        fmt(me, "The list of known USB-KEYs has an error; the faulty part is ignored: %s",
            in->keys_error);
        p = add(arr, "USB_KEY_LIST_INVALID", "warning", mz, me,
                "修正或删除该文件（或配置项 usbKeys 中的条目），然后重启 ukeyd。",
                "Fix or remove that file (or the entry in the configuration key usbKeys), then "
                "restart ukeyd.");
        cJSON_AddStringToObject(p, "error", in->keys_error);
    }
    cJSON_ArrayForEach(m, in->pkcs11)
    {
        const char *module = str(m, "module");
        const char *why = str(m, "problem");
        if (strcmp(str(m, "status"), "failed") != 0) {
            continue;
        }
        fmt(mz, "USB-KEY 驱动模块无法加载：%s（%s）", module, why);
        fmt(me, "The USB-KEY driver module %s cannot be used (%s).", module, why);
        p = add(arr, "PKCS11_MODULE_FAILED", "warning", mz, me,
                "重新安装该 USB-KEY 厂商的驱动，或在配置项 pkcs11Modules 中改正其路径，然后重启 "
                "ukeyd；仍不行请联系在线客服。",
                "Reinstall the USB-KEY maker's driver, or correct its path in the configuration "
                "key pkcs11Modules, then restart ukeyd; if it still fails, contact support.");
        if (p != NULL) {
            cJSON_AddStringToObject(p, "module", module);
            cJSON_AddStringToObject(p, "reason", why);
        }
    }
    return arr;
}
