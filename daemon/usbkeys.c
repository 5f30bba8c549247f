// SPDX-License-Identifier: MIT
/*
 * The list of known USB-KEYs (see usbkeys.h): a strict reader of its JSON.
 * Entries are checked one by one into a scratch list; only a document that
 * is right as a whole is merged, so a bad file never leaves half its
 * entries behind.
 */
#define _POSIX_C_SOURCE 200809L
#include "usbkeys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uk/file.h"

#define FORMAT "ukeyd-usb-keys/1"

struct maker {
    uint16_t vid;
    const char *name;
    const char *url;
};

static uk_rc fail(char **err, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static uk_rc fail(char **err, const char *origin, const char *fmt, ...)
{
    char msg[512];
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s: %s", origin, msg);
    free(*err);
    *err = strdup(line);
    return UK_E_MALFORMED;
}

const char *ukd_usbkey_kind_name(ukd_usbkey_kind kind)
{
    return kind == UKD_USBKEY_CCID ? "ccid" : "vendor";
}

/* Exactly four hex digits, either case. */
static bool hex16(const cJSON *v, uint16_t *out)
{
    unsigned x = 0;

    if (!cJSON_IsString(v) || strlen(v->valuestring) != 4) {
        return false;
    }
    for (const char *c = v->valuestring; *c; c++) {
        int d;
        if (*c >= '0' && *c <= '9') {
            d = *c - '0';
        } else if (*c >= 'a' && *c <= 'f') {
            d = *c - 'a' + 10;
        } else if (*c >= 'A' && *c <= 'F') {
            d = *c - 'A' + 10;
        } else {
            return false;
        }
        x = x * 16 + (unsigned)d;
    }
    *out = (uint16_t)x;
    return true;
}

/* A printable string (no control characters) of 1..cap-1 bytes. */
static bool text(const cJSON *v, size_t cap)
{
    size_t n;

    if (!cJSON_IsString(v)) {
        return false;
    }
    n = strlen(v->valuestring);
    if (n == 0 || n >= cap) {
        return false;
    }
    for (const unsigned char *c = (const unsigned char *)v->valuestring; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return false;
        }
    }
    return true;
}

/* http(s)://host..., printable ASCII without spaces or quotes. */
static bool url(const cJSON *v, size_t cap)
{
    const char *s;

    if (!text(v, cap)) {
        return false;
    }
    s = v->valuestring;
    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) {
        return false;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= ' ' || *c >= 0x7f || *c == '"' || *c == '<' || *c == '>' || *c == '\\') {
            return false;
        }
    }
    return true;
}

static const char *duplicate_member(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a != NULL; a = a->next) {
        for (const cJSON *b = a->next; b != NULL; b = b->next) {
            if (strcmp(a->string, b->string) == 0) {
                return a->string;
            }
        }
    }
    return NULL;
}

static const struct maker *maker_of(const struct maker *makers, size_t n, uint16_t vid)
{
    for (size_t i = 0; i < n; i++) {
        if (makers[i].vid == vid) {
            return &makers[i];
        }
    }
    return NULL;
}

/* One entry object into *k. where names it in messages. */
static uk_rc parse_entry(const cJSON *e, const struct maker *makers, size_t n_makers,
                         const char *origin, const char *where, ukd_usbkey *k, char **err)
{
    const cJSON *m;
    const char *dup;
    bool have_vid = false;
    bool have_pid = false;
    bool have_kind = false;
    const struct maker *mk;

    memset(k, 0, sizeof(*k));
    if (!cJSON_IsObject(e)) {
        return fail(err, origin, "%s: not an object", where);
    }
    dup = duplicate_member(e);
    if (dup != NULL) {
        return fail(err, origin, "%s: member '%s' appears twice", where, dup);
    }
    cJSON_ArrayForEach(m, e)
    {
        const char *key = m->string;
        if (strcmp(key, "vid") == 0) {
            if (!hex16(m, &k->vid)) {
                return fail(err, origin, "%s: vid must be four hex digits (\"096e\")", where);
            }
            have_vid = true;
        } else if (strcmp(key, "pid") == 0) {
            if (!hex16(m, &k->pid)) {
                return fail(err, origin, "%s: pid must be four hex digits (\"0807\")", where);
            }
            have_pid = true;
        } else if (strcmp(key, "kind") == 0) {
            if (cJSON_IsString(m) && strcmp(m->valuestring, "ccid") == 0) {
                k->kind = UKD_USBKEY_CCID;
            } else if (cJSON_IsString(m) && strcmp(m->valuestring, "vendor") == 0) {
                k->kind = UKD_USBKEY_VENDOR;
            } else {
                return fail(err, origin, "%s: kind must be \"ccid\" or \"vendor\"", where);
            }
            have_kind = true;
        } else if (strcmp(key, "name") == 0) {
            if (!text(m, sizeof(k->name))) {
                return fail(err, origin, "%s: name must be a string of 1-%zu bytes", where,
                            sizeof(k->name) - 1);
            }
            snprintf(k->name, sizeof(k->name), "%s", m->valuestring);
        } else if (strcmp(key, "maker") == 0) {
            if (!text(m, sizeof(k->maker))) {
                return fail(err, origin, "%s: maker must be a string of 1-%zu bytes", where,
                            sizeof(k->maker) - 1);
            }
            snprintf(k->maker, sizeof(k->maker), "%s", m->valuestring);
        } else if (strcmp(key, "driverUrl") == 0) {
            if (!url(m, sizeof(k->driver_url))) {
                return fail(err, origin, "%s: driverUrl must be an http(s) URL under %zu bytes",
                            where, sizeof(k->driver_url));
            }
            snprintf(k->driver_url, sizeof(k->driver_url), "%s", m->valuestring);
        } else if (strcmp(key, "modules") == 0) {
            const cJSON *x;
            if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) > UKD_USBKEY_MODULES) {
                return fail(err, origin, "%s: modules must be an array of at most %d file names",
                            where, UKD_USBKEY_MODULES);
            }
            cJSON_ArrayForEach(x, m)
            {
                if (!text(x, sizeof(k->modules[0])) || strchr(x->valuestring, '/') != NULL) {
                    return fail(err, origin,
                                "%s: modules: each must be a file name without '/' "
                                "(\"libes_3000gm.so\")",
                                where);
                }
                snprintf(k->modules[k->n_modules], sizeof(k->modules[0]), "%s", x->valuestring);
                k->n_modules++;
            }
        } else if (strcmp(key, "note") == 0) {
            if (!cJSON_IsString(m)) {
                return fail(err, origin, "%s: note must be a string", where);
            }
        } else {
            return fail(err, origin, "%s: unknown member '%s'", where, key);
        }
    }
    if (!have_vid || !have_pid || !have_kind || k->name[0] == '\0') {
        return fail(err, origin, "%s: vid, pid, kind and name are required", where);
    }
    mk = maker_of(makers, n_makers, k->vid);
    if (k->maker[0] == '\0' && mk != NULL) {
        snprintf(k->maker, sizeof(k->maker), "%s", mk->name);
    }
    if (k->driver_url[0] == '\0' && mk != NULL && mk->url != NULL) {
        snprintf(k->driver_url, sizeof(k->driver_url), "%s", mk->url);
    }
    return UK_OK;
}

/* Merges the scratch entries into db: same vid:pid replaces. */
static uk_rc merge(ukd_usbkeys *db, const ukd_usbkey *add, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t at = db->n;
        for (size_t j = 0; j < db->n; j++) {
            if (db->v[j].vid == add[i].vid && db->v[j].pid == add[i].pid) {
                at = j;
            }
        }
        if (at < db->n) {
            db->v[at] = add[i];
            continue;
        }
        if (db->n == UKD_USBKEYS_MAX) {
            return UK_E_LIMIT;
        }
        if (db->n == db->cap) {
            size_t cap = db->cap ? db->cap * 2 : 64;
            ukd_usbkey *v = realloc(db->v, cap * sizeof(*v));
            if (v == NULL) {
                return UK_E_NOMEM;
            }
            db->v = v;
            db->cap = cap;
        }
        db->v[db->n++] = add[i];
    }
    return UK_OK;
}

static uk_rc add_entries(ukd_usbkeys *db, const cJSON *arr, const struct maker *makers,
                         size_t n_makers, const char *origin, char **err)
{
    const cJSON *e;
    ukd_usbkey *scratch = NULL;
    size_t n = 0;
    int count;
    uk_rc rc = UK_OK;

    if (!cJSON_IsArray(arr)) {
        return fail(err, origin, "keys must be an array of entries");
    }
    count = cJSON_GetArraySize(arr);
    if (count > UKD_USBKEYS_MAX) {
        return fail(err, origin, "more than %d entries", UKD_USBKEYS_MAX);
    }
    scratch = count > 0 ? calloc((size_t)count, sizeof(*scratch)) : NULL;
    if (count > 0 && scratch == NULL) {
        return UK_E_NOMEM;
    }
    cJSON_ArrayForEach(e, arr)
    {
        char where[64];
        snprintf(where, sizeof(where), "keys[%zu]", n);
        rc = parse_entry(e, makers, n_makers, origin, where, &scratch[n], err);
        if (rc != UK_OK) {
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            if (scratch[i].vid == scratch[n].vid && scratch[i].pid == scratch[n].pid) {
                rc = fail(err, origin, "%s: %04x:%04x is already listed at keys[%zu]", where,
                          scratch[n].vid, scratch[n].pid, i);
                goto out;
            }
        }
        n++;
    }
    rc = merge(db, scratch, n);
    if (rc == UK_E_LIMIT) {
        fail(err, origin, "the list would have more than %d entries", UKD_USBKEYS_MAX);
    }
out:
    free(scratch);
    return rc;
}

uk_rc ukd_usbkeys_add_array(ukd_usbkeys *db, const cJSON *arr, const char *origin, char **err)
{
    return add_entries(db, arr, NULL, 0, origin, err);
}

static uk_rc parse_makers(const cJSON *obj, struct maker *out, size_t cap, size_t *n,
                          const char *origin, char **err)
{
    const cJSON *m;
    const char *dup;

    *n = 0;
    if (!cJSON_IsObject(obj)) {
        return fail(err, origin, "makers must be an object {\"096e\": {\"name\": ...}}");
    }
    dup = duplicate_member(obj);
    if (dup != NULL) {
        return fail(err, origin, "makers: '%s' appears twice", dup);
    }
    cJSON_ArrayForEach(m, obj)
    {
        cJSON key = {0};
        const cJSON *f;
        struct maker mk = {0};

        key.type = cJSON_String;
        key.valuestring = m->string;
        if (!hex16(&key, &mk.vid)) {
            return fail(err, origin, "makers: '%s' is not a vendor id of four hex digits",
                        m->string);
        }
        if (!cJSON_IsObject(m) || duplicate_member(m) != NULL) {
            return fail(err, origin, "makers.%s: must be an object without repeated members",
                        m->string);
        }
        cJSON_ArrayForEach(f, m)
        {
            if (strcmp(f->string, "name") == 0 && text(f, 64)) {
                mk.name = f->valuestring;
            } else if (strcmp(f->string, "driverUrl") == 0 && url(f, 256)) {
                mk.url = f->valuestring;
            } else if (strcmp(f->string, "note") == 0 && cJSON_IsString(f)) {
                continue;
            } else {
                return fail(err, origin,
                            "makers.%s.%s: unknown, or not a name (1-63 bytes) or an "
                            "http(s) driverUrl",
                            m->string, f->string);
            }
        }
        if (mk.name == NULL) {
            return fail(err, origin, "makers.%s: name is required", m->string);
        }
        if (*n == cap) {
            return fail(err, origin, "more than %zu makers", cap);
        }
        out[(*n)++] = mk;
    }
    return UK_OK;
}

/* Keeps the makers of an accepted document: same vid replaces. */
static uk_rc merge_makers(ukd_usbkeys *db, const struct maker *add, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ukd_usbmaker *m = NULL;
        for (size_t j = 0; j < db->n_makers; j++) {
            if (db->makers[j].vid == add[i].vid) {
                m = &db->makers[j];
            }
        }
        if (m == NULL) {
            if (db->n_makers == db->cap_makers) {
                size_t cap = db->cap_makers ? db->cap_makers * 2 : 16;
                ukd_usbmaker *v = realloc(db->makers, cap * sizeof(*v));
                if (v == NULL) {
                    return UK_E_NOMEM;
                }
                db->makers = v;
                db->cap_makers = cap;
            }
            m = &db->makers[db->n_makers++];
        }
        memset(m, 0, sizeof(*m));
        m->vid = add[i].vid;
        snprintf(m->name, sizeof(m->name), "%s", add[i].name);
        snprintf(m->driver_url, sizeof(m->driver_url), "%s", add[i].url ? add[i].url : "");
    }
    return UK_OK;
}

uk_rc ukd_usbkeys_parse(ukd_usbkeys *db, const char *txt, size_t len, const char *origin,
                        char **err)
{
    cJSON *root = NULL;
    const cJSON *m;
    const cJSON *keys = NULL;
    const cJSON *makers_obj = NULL;
    const char *dup;
    struct maker makers[256];
    size_t n_makers = 0;
    bool format_ok = false;
    const char *end = NULL;
    uk_rc rc;

    *err = NULL;
    root = cJSON_ParseWithLengthOpts(txt, len, &end, 0);
    /* nothing but white space may follow the object */
    while (root != NULL && end < txt + len &&
           (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')) {
        end++;
    }
    if (root == NULL || !cJSON_IsObject(root) || (end < txt + len && *end != '\0')) {
        rc = fail(err, origin, "not a JSON object");
        goto out;
    }
    dup = duplicate_member(root);
    if (dup != NULL) {
        rc = fail(err, origin, "member '%s' appears twice", dup);
        goto out;
    }
    cJSON_ArrayForEach(m, root)
    {
        if (strcmp(m->string, "format") == 0) {
            format_ok = cJSON_IsString(m) && strcmp(m->valuestring, FORMAT) == 0;
        } else if (strcmp(m->string, "makers") == 0) {
            makers_obj = m;
        } else if (strcmp(m->string, "keys") == 0) {
            keys = m;
        } else if (strcmp(m->string, "note") != 0) {
            rc = fail(err, origin, "unknown member '%s'", m->string);
            goto out;
        }
    }
    if (!format_ok) {
        rc = fail(err, origin, "format must be \"%s\"", FORMAT);
        goto out;
    }
    if (keys == NULL) {
        rc = fail(err, origin, "keys is required");
        goto out;
    }
    if (makers_obj != NULL) {
        rc = parse_makers(makers_obj, makers, sizeof(makers) / sizeof(makers[0]), &n_makers, origin,
                          err);
        if (rc != UK_OK) {
            goto out;
        }
    }
    rc = add_entries(db, keys, makers, n_makers, origin, err);
    if (rc == UK_OK) {
        rc = merge_makers(db, makers, n_makers);
    }
out:
    cJSON_Delete(root);
    return rc;
}

uk_rc ukd_usbkeys_load_file(ukd_usbkeys *db, const char *path, char **err)
{
    char *txt = NULL;
    size_t len = 0;
    uk_rc rc;

    *err = NULL;
    rc = uk_file_read(path, UKD_USBKEYS_FILE_MAX, &txt, &len);
    if (rc == UK_E_NOT_FOUND) {
        fail(err, path, "no such file");
        return rc;
    }
    if (rc == UK_E_IO) {
        fail(err, path, "cannot read: %s", strerror(errno));
        return rc;
    }
    if (rc == UK_E_LIMIT) {
        fail(err, path, "larger than %d bytes", UKD_USBKEYS_FILE_MAX);
        return rc;
    }
    if (rc != UK_OK) {
        return rc;
    }
    rc = ukd_usbkeys_parse(db, txt, len, path, err);
    free(txt);
    return rc;
}

const ukd_usbkey *ukd_usbkeys_find(const ukd_usbkeys *db, uint16_t vid, uint16_t pid)
{
    for (size_t i = 0; db != NULL && i < db->n; i++) {
        if (db->v[i].vid == vid && db->v[i].pid == pid) {
            return &db->v[i];
        }
    }
    return NULL;
}

const ukd_usbmaker *ukd_usbkeys_maker(const ukd_usbkeys *db, uint16_t vid)
{
    for (size_t i = 0; db != NULL && i < db->n_makers; i++) {
        if (db->makers[i].vid == vid) {
            return &db->makers[i];
        }
    }
    return NULL;
}

void ukd_usbkeys_free(ukd_usbkeys *db)
{
    if (db != NULL) {
        free(db->v);
        free(db->makers);
        memset(db, 0, sizeof(*db));
    }
}
