// SPDX-License-Identifier: MIT
/*
 * The reminder policy and its state file encoding (remind.h).
 */
#define _DEFAULT_SOURCE /* timegm, localtime_r */
#include "remind.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void ukt_remind_init(ukt_remind_state *st)
{
    memset(st, 0, sizeof(*st));
    st->last_day = UKT_REMIND_NEVER;
}

/* The index of id's entry, or st->n when it has none. */
static size_t find(const ukt_remind_state *st, const char *id)
{
    size_t i = 0;

    while (i < st->n && strcmp(st->entries[i].cert_id, id) != 0) {
        i++;
    }
    return i;
}

static int64_t abs_days(int64_t d)
{
    return d < 0 ? -d : d;
}

size_t ukt_remind_decide(const ukt_input *in, int64_t now, int64_t today,
                         const ukt_remind_state *st, const ukt_cert **due, size_t cap,
                         const char **why)
{
    size_t n = 0;
    size_t renewable = 0;

    *why = NULL;
    if (!in->reachable) {
        *why = "the daemon is not reachable";
        return 0;
    }
    for (size_t t = 0; t < in->n_tokens; t++) {
        const ukt_token *tok = &in->tokens[t];
        for (size_t i = 0; i < tok->n_certs; i++) {
            const ukt_cert *c = &tok->certs[i];
            size_t e;
            if (!ukt_cert_renewable_at(c, now) || ukt_cert_superseded(in, c, now)) {
                continue;
            }
            renewable++;
            e = find(st, c->id);
            /* a clock set back is treated like time gone by: the distance counts */
            if (e < st->n && abs_days(today - st->entries[e].day) < UKT_REMIND_EVERY) {
                continue;
            }
            if (n < cap) {
                due[n++] = c;
            }
        }
    }
    if (renewable == 0) {
        *why = "no certificate is in its renewal window";
        return 0;
    }
    if (n == 0) {
        *why = "every renewable certificate was reminded within the week";
        return 0;
    }
    if (st->last_day == today) {
        *why = "a notification was already shown today";
        return 0;
    }
    return n;
}

void ukt_remind_mark(ukt_remind_state *st, const ukt_cert *const *due, size_t n, int64_t today)
{
    st->last_day = today;
    for (size_t k = 0; k < n; k++) {
        size_t i = find(st, due[k]->id);
        ukt_remind_entry *e = i < st->n ? &st->entries[i] : NULL;
        if (e == NULL) {
            if (st->n == UKT_REMIND_MAX) {
                /* forget the certificate reminded longest ago */
                size_t oldest = 0;
                for (size_t j = 1; j < st->n; j++) {
                    if (st->entries[j].day < st->entries[oldest].day) {
                        oldest = j;
                    }
                }
                st->entries[oldest] = st->entries[st->n - 1];
                st->n--;
            }
            e = &st->entries[st->n++];
            snprintf(e->cert_id, sizeof(e->cert_id), "%s", due[k]->id);
        }
        e->day = today;
    }
}

/* Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t ukt_local_day(int64_t now)
{
    time_t t = (time_t)now;
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL) {
        return now / 86400;
    }
    return days_from_civil((int64_t)tm.tm_year + 1900, (int64_t)tm.tm_mon + 1, tm.tm_mday);
}

uk_rc ukt_day_parse(const char *s, int64_t *day)
{
    int y, m, d;
    char tail;

    *day = UKT_REMIND_NEVER;
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return UK_E_MALFORMED;
    }
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 || m < 1 || m > 12 ||
        d < 1 || d > 31) {
        return UK_E_MALFORMED;
    }
    *day = days_from_civil(y, m, d);
    return UK_OK;
}

void ukt_day_format(int64_t day, char *out, size_t cap)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d", &tm) == 0) {
        snprintf(out, cap, "%s", "");
    }
}

cJSON *ukt_remind_to_json(const ukt_remind_state *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *certs = cJSON_CreateObject();
    char date[16];
    bool ok = o != NULL && certs != NULL;

    ok = ok && cJSON_AddNumberToObject(o, "version", 1) != NULL;
    if (st->last_day != UKT_REMIND_NEVER) {
        ukt_day_format(st->last_day, date, sizeof(date));
        ok = ok && cJSON_AddStringToObject(o, "lastNotified", date) != NULL;
    }
    for (size_t i = 0; ok && i < st->n; i++) {
        ukt_day_format(st->entries[i].day, date, sizeof(date));
        ok = cJSON_AddStringToObject(certs, st->entries[i].cert_id, date) != NULL;
    }
    if (ok && cJSON_AddItemToObject(o, "certs", certs)) {
        return o;
    }
    cJSON_Delete(certs);
    cJSON_Delete(o);
    return NULL;
}

uk_rc ukt_remind_from_json(const cJSON *obj, ukt_remind_state *st)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(obj, "version");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(obj, "lastNotified");
    const cJSON *certs = cJSON_GetObjectItemCaseSensitive(obj, "certs");
    const cJSON *e;
    int64_t day;

    ukt_remind_init(st);
    if (!cJSON_IsObject(obj)) {
        return UK_E_MALFORMED;
    }
    if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
        return UK_OK; /* another version: start afresh */
    }
    if (cJSON_IsString(last) && ukt_day_parse(last->valuestring, &day) == UK_OK) {
        st->last_day = day;
    }
    if (!cJSON_IsObject(certs)) {
        return UK_OK;
    }
    cJSON_ArrayForEach(e, certs)
    {
        if (st->n == UKT_REMIND_MAX || e->string == NULL || e->string[0] == '\0' ||
            strlen(e->string) >= UKT_ID_MAX || find(st, e->string) < st->n || !cJSON_IsString(e) ||
            ukt_day_parse(e->valuestring, &day) != UK_OK) {
            continue;
        }
        snprintf(st->entries[st->n].cert_id, UKT_ID_MAX, "%s", e->string);
        st->entries[st->n].day = day;
        st->n++;
    }
    return UK_OK;
}
