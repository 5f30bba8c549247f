/* SPDX-License-Identifier: MIT */
/*
 * Everything the tray says to a person, in Chinese (zh-CN, the default)
 * and English: menu labels, the title (the icon's tooltip), notification
 * text, and the two dialogs. Pure functions of their inputs and "now";
 * dates are shown on the local calendar (the process's time zone).
 */
#ifndef UKT_TEXT_H
#define UKT_TEXT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef enum ukt_lang {
    UKT_LANG_ZH,
    UKT_LANG_EN,
} ukt_lang;

typedef enum ukt_msg {
    UKT_MSG_APP_NAME,
    UKT_MSG_OPEN_HALL,
    UKT_MSG_ENV_CHECK,
    UKT_MSG_CERT_EXPIRY,
    UKT_MSG_START,
    UKT_MSG_STOP,
    UKT_MSG_QUIT,
    UKT_MSG_CLOSE,
    UKT_MSG_RECHECK,
    UKT_MSG_ENV_TITLE,
    UKT_MSG_CERTS_TITLE,
    UKT_MSG_NO_CERTS,
    UKT_MSG_START_FAILED,
} ukt_msg;

/* The language of the first of LC_ALL, LC_MESSAGES, LANG that is set and
 * not empty (the POSIX order): English for "en..." values, Chinese for
 * everything else, including C and POSIX. NULLs are "not set". */
ukt_lang ukt_lang_pick(const char *lc_all, const char *lc_messages, const char *lang);

/* A fixed string (static storage). */
const char *ukt_text(ukt_lang lang, ukt_msg msg);

/* One line saying the state ("证书助手未运行", "证书将于 19 天后到期，请在线更新"). */
void ukt_status_line(ukt_lang lang, const ukt_view *v, int64_t now, char *out, size_t cap);

/* The icon's title / tooltip: the application name and the status line. */
void ukt_title(ukt_lang lang, const ukt_view *v, int64_t now, char *out, size_t cap);

/* A renewal reminder about due[0..n) (n >= 1): summary, body, and the
 * action button's label is ukt_text(UKT_MSG_OPEN_HALL). */
void ukt_notice(ukt_lang lang, const ukt_cert *const *due, size_t n, int64_t now, char *summary,
                size_t summary_cap, char *body, size_t body_cap);

/* The certificate dialog: every certificate on every key, its dates, its
 * status and whether it can be renewed online now. */
void ukt_certs_report(ukt_lang lang, const ukt_input *in, int64_t now, char *out, size_t cap);

/* The environment-check dialog from an env.check result; result NULL
 * means the daemon is not running. */
void ukt_env_report(ukt_lang lang, const cJSON *result, char *out, size_t cap);

/* A local calendar date: "2026年12月14日" or "2026-12-14". */
void ukt_date(ukt_lang lang, int64_t t, char *out, size_t cap);

#endif
