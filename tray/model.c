// SPDX-License-Identifier: MIT
/*
 * The tray's state logic (model.h): certificate status by date, renewed
 * certificates, the icon state, and reading the daemon's JSON into plain
 * structs.
 */
#define _DEFAULT_SOURCE /* timegm */
#include "model.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char *ukt_state_name(ukt_state s)
{
    switch (s) {
    case UKT_STATE_STOPPED:
        return "stopped";
    case UKT_STATE_NOKEY:
        return "nokey";
    case UKT_STATE_KEY:
        return "key";
    case UKT_STATE_EXPIRING:
        return "expiring";
    case UKT_STATE_EXPIRED:
        return "expired";
    }
    return "?";
}

uk_cert_status ukt_cert_status_at(const ukt_cert *c, int64_t now)
{
    if (now < c->not_before) {
        return UK_CERT_NOT_YET_VALID;
    }
    if (now > c->not_after) {
        return UK_CERT_EXPIRED;
    }
    if (c->has_window && now >= c->opens_at) {
        return UK_CERT_EXPIRING;
    }
    return UK_CERT_VALID;
}

bool ukt_cert_renewable_at(const ukt_cert *c, int64_t now)
{
    return c->has_window && now >= c->opens_at && now <= c->closes_at;
}

bool ukt_cert_superseded(const ukt_input *in, const ukt_cert *c, int64_t now)
{
    for (size_t t = 0; t < in->n_tokens; t++) {
        const ukt_token *tok = &in->tokens[t];
        for (size_t i = 0; i < tok->n_certs; i++) {
            const ukt_cert *o = &tok->certs[i];
            if (o == c || strcmp(o->id, c->id) == 0) {
                continue;
            }
            if (strcmp(o->subject, c->subject) == 0 && o->not_after > c->not_after &&
                now <= o->not_after) {
                return true;
            }
        }
    }
    return false;
}

int64_t ukt_days_to_expiry(const ukt_cert *c, int64_t now)
{
    int64_t d = c->not_after - now;

    /* floor division, as the daemon's daysToExpiry */
    return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

/* How bad a status is for the icon: expired beats expiring beats the rest. */
static int severity(uk_cert_status s)
{
    switch (s) {
    case UK_CERT_EXPIRED:
        return 2;
    case UK_CERT_EXPIRING:
        return 1;
    case UK_CERT_VALID:
    case UK_CERT_NOT_YET_VALID:
        return 0;
    }
    return 0;
}

static void consider_boundary(int64_t *next, int64_t t, int64_t now)
{
    /* the status changes the second after notAfter / closesAt, at opensAt and notBefore */
    if (t > now && (*next == 0 || t < *next)) {
        *next = t;
    }
}

void ukt_view_compute(const ukt_input *in, int64_t now, ukt_view *out)
{
    int worst = -1;

    memset(out, 0, sizeof(*out));
    if (!in->reachable) {
        out->state = UKT_STATE_STOPPED;
        return;
    }
    out->n_tokens = in->n_tokens;
    if (in->n_tokens == 0) {
        out->state = UKT_STATE_NOKEY;
        return;
    }
    out->state = UKT_STATE_KEY;
    out->focus_token = &in->tokens[0];
    for (size_t t = 0; t < in->n_tokens; t++) {
        const ukt_token *tok = &in->tokens[t];
        for (size_t i = 0; i < tok->n_certs; i++) {
            const ukt_cert *c = &tok->certs[i];
            int sev;
            if (ukt_cert_superseded(in, c, now)) {
                continue;
            }
            out->n_certs++;
            consider_boundary(&out->next_change, c->not_before, now);
            consider_boundary(&out->next_change, c->not_after + 1, now);
            if (c->has_window) {
                consider_boundary(&out->next_change, c->opens_at, now);
                consider_boundary(&out->next_change, c->closes_at + 1, now);
            }
            sev = severity(ukt_cert_status_at(c, now));
            /* the worst status wins; among equals, the one that expires first */
            if (sev > worst || (sev == worst && c->not_after < out->focus->not_after)) {
                worst = sev;
                out->focus = c;
                out->focus_token = tok;
            }
        }
    }
    if (worst == 2) {
        out->state = UKT_STATE_EXPIRED;
    } else if (worst == 1) {
        out->state = UKT_STATE_EXPIRING;
    }
}

uk_rc ukt_time_parse(const char *s, int64_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    struct tm tm;
    int y, mo, d, h, mi, sec;
    time_t t;

    *out = 0;
    if (s == NULL || strlen(s) != sizeof(shape) - 1) {
        return UK_E_MALFORMED;
    }
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        bool ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
        if (!ok) {
            return UK_E_MALFORMED;
        }
    }
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &sec) != 6) {
        return UK_E_MALFORMED;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return UK_E_MALFORMED;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* timegm normalises 31 February into March: refuse a date that moved */
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) {
        return UK_E_MALFORMED;
    }
    *out = (int64_t)t;
    return UK_OK;
}

static void copy_str(char *dst, size_t cap, const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static uk_rc time_field(const cJSON *obj, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return ukt_time_parse(cJSON_IsString(v) ? v->valuestring : NULL, out);
}

uk_rc ukt_token_parse(const cJSON *obj, ukt_token *out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "tokenId");

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0' ||
        strlen(id->valuestring) >= sizeof(out->id)) {
        return UK_E_MALFORMED;
    }
    snprintf(out->id, sizeof(out->id), "%s", id->valuestring);
    copy_str(out->label, sizeof(out->label), obj, "label");
    return UK_OK;
}

static uk_rc cert_parse(const cJSON *obj, ukt_cert *c)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "certId");
    const cJSON *ren = cJSON_GetObjectItemCaseSensitive(obj, "renewal");

    memset(c, 0, sizeof(*c));
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0' ||
        strlen(id->valuestring) >= sizeof(c->id)) {
        return UK_E_MALFORMED;
    }
    snprintf(c->id, sizeof(c->id), "%s", id->valuestring);
    copy_str(c->common_name, sizeof(c->common_name), obj, "commonName");
    copy_str(c->organization, sizeof(c->organization), obj, "organization");
    copy_str(c->subject, sizeof(c->subject), obj, "subject");
    if (time_field(obj, "notBefore", &c->not_before) != UK_OK ||
        time_field(obj, "notAfter", &c->not_after) != UK_OK) {
        return UK_E_MALFORMED;
    }
    if (cJSON_IsObject(ren)) {
        if (time_field(ren, "opensAt", &c->opens_at) != UK_OK ||
            time_field(ren, "closesAt", &c->closes_at) != UK_OK) {
            return UK_E_MALFORMED;
        }
        c->has_window = true;
    }
    return UK_OK;
}

uk_rc ukt_certs_parse(const cJSON *result, ukt_token *tok, size_t *dropped)
{
    const cJSON *certs = cJSON_GetObjectItemCaseSensitive(result, "certs");
    const cJSON *c;

    *dropped = 0;
    if (!cJSON_IsArray(certs)) {
        return UK_E_MALFORMED;
    }
    tok->n_certs = 0;
    cJSON_ArrayForEach(c, certs)
    {
        if (tok->n_certs == UKT_MAX_CERTS) {
            (*dropped)++;
            continue;
        }
        if (cert_parse(c, &tok->certs[tok->n_certs]) == UK_OK) {
            tok->n_certs++;
        } else {
            (*dropped)++;
        }
    }
    tok->certs_known = true;
    return UK_OK;
}

ukt_token *ukt_input_token(ukt_input *in, const char *id)
{
    for (size_t i = 0; i < in->n_tokens; i++) {
        if (strcmp(in->tokens[i].id, id) == 0) {
            return &in->tokens[i];
        }
    }
    return NULL;
}

uk_rc ukt_input_put_token(ukt_input *in, const ukt_token *tok)
{
    ukt_token *have = ukt_input_token(in, tok->id);

    if (have == NULL) {
        if (in->n_tokens == UKT_MAX_TOKENS) {
            return UK_E_LIMIT;
        }
        have = &in->tokens[in->n_tokens++];
    }
    if (have != tok) {
        memcpy(have, tok, sizeof(*have));
    }
    return UK_OK;
}

bool ukt_input_remove_token(ukt_input *in, const char *id)
{
    for (size_t i = 0; i < in->n_tokens; i++) {
        if (strcmp(in->tokens[i].id, id) == 0) {
            memmove(&in->tokens[i], &in->tokens[i + 1],
                    (in->n_tokens - i - 1) * sizeof(in->tokens[0]));
            in->n_tokens--;
            return true;
        }
    }
    return false;
}
