// SPDX-License-Identifier: MIT
/*
 * Configuration files: cJSON parses, this file validates every key and
 * reports the first problem with its file and key.
 */
#define _XOPEN_SOURCE 700
#include "config.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/platform.h"
#include "uk/file.h"
#include "uk/p11.h"
#include "usbkeys.h"

#define CONFIG_MAX_BYTES (64 * 1024)

void ukd_config_defaults(ukd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = UKD_DEFAULT_PORT;
    cfg->max_message = 256 * 1024;
    cfg->max_clients = 64;
    cfg->max_pending = 8;
    cfg->idle_timeout = 600;
    cfg->log_level = UK_LOG_INFO;
    cfg->renewal = UK_RENEW_POLICY_DEFAULT;
    snprintf(cfg->hall_url, sizeof(cfg->hall_url), "%s", UKD_DEFAULT_HALL_URL);
    cfg->p11_registered = true;
}

void ukd_config_free(ukd_config *cfg)
{
    for (size_t i = 0; i < cfg->n_origins; i++) {
        free(cfg->origins[i]);
        cfg->origins[i] = NULL;
    }
    cfg->n_origins = 0;
    for (size_t i = 0; i < cfg->n_p11_modules; i++) {
        free(cfg->p11_modules[i]);
        cfg->p11_modules[i] = NULL;
    }
    cfg->n_p11_modules = 0;
    free(cfg->usb_keys_json);
    cfg->usb_keys_json = NULL;
}

static uk_rc fail(char **err, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static uk_rc fail(char **err, const char *path, const char *key, const char *fmt, ...)
{
    char msg[512];
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (key != NULL) {
        snprintf(line, sizeof(line), "%s: key '%s': %s", path, key, msg);
    } else {
        snprintf(line, sizeof(line), "%s: %s", path, msg);
    }
    free(*err);
    *err = strdup(line);
    return UK_E_INVALID_ARG;
}

/* An Origin as browsers send it: scheme "://" host [":" port], nothing
 * else (RFC 6454 7), lowercase scheme. "null" and wildcards never match. */
static bool origin_valid(const char *o)
{
    const char *host;
    size_t n = strlen(o);

    if (n == 0 || n >= UKD_ORIGIN_MAX) {
        return false;
    }
    if (strncmp(o, "https://", 8) == 0) {
        host = o + 8;
    } else if (strncmp(o, "http://", 7) == 0) {
        host = o + 7;
    } else {
        return false;
    }
    if (*host == '\0') {
        return false;
    }
    for (const char *c = host; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' ||
                  *c == ':' || *c == '[' || *c == ']';
        if (!ok) {
            return false; /* uppercase, path, query, wildcard, space ... */
        }
    }
    return true;
}

bool ukd_config_url_valid(const char *url)
{
    const char *host;
    size_t n = url != NULL ? strlen(url) : 0;

    if (n == 0 || n >= UKD_URL_MAX) {
        return false;
    }
    if (strncmp(url, "https://", 8) == 0) {
        host = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        host = url + 7;
    } else {
        return false;
    }
    /* a host must follow the scheme: "https:///x" and "https://" are not URLs */
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#') {
        return false;
    }
    for (const unsigned char *c = (const unsigned char *)url; *c; c++) {
        if (*c <= ' ' || *c >= 0x7f || *c == '"' || *c == '<' || *c == '>' || *c == '\\') {
            return false; /* spaces, controls, non-ASCII: percent-encode them */
        }
    }
    return true;
}

static bool int_value(const cJSON *v, long min, long max, long *out)
{
    double d;

    if (!cJSON_IsNumber(v)) {
        return false;
    }
    d = v->valuedouble;
    if (d != (double)(long)d || d < (double)min || d > (double)max) {
        return false;
    }
    *out = (long)d;
    return true;
}

static uk_rc read_file(const char *path, char **text, char **err)
{
    size_t len = 0;
    uk_rc rc = uk_file_read(path, CONFIG_MAX_BYTES, text, &len);

    if (rc == UK_E_IO) {
        return fail(err, path, NULL, "cannot read: %s", strerror(errno));
    }
    if (rc == UK_E_LIMIT) {
        return fail(err, path, NULL, "larger than %d bytes", CONFIG_MAX_BYTES);
    }
    return rc;
}

static uk_rc load_origins(ukd_config *cfg, const cJSON *v, const char *path, char **err)
{
    const cJSON *o;
    size_t i = 0;

    if (!cJSON_IsArray(v)) {
        return fail(err, path, "allowedOrigins", "must be an array of origin strings");
    }
    cJSON_ArrayForEach(o, v)
    {
        char key[32];
        snprintf(key, sizeof(key), "allowedOrigins[%zu]", i++);
        if (!cJSON_IsString(o) || !origin_valid(o->valuestring)) {
            return fail(err, path, key,
                        "must be an origin like \"https://hall.example.com\" (scheme, host, "
                        "optional port; lowercase; no path, no trailing slash)");
        }
        if (ukd_config_origin_allowed(cfg, o->valuestring)) {
            continue;
        }
        if (cfg->n_origins == UKD_MAX_ORIGINS) {
            return fail(err, path, key, "more than %d origins", UKD_MAX_ORIGINS);
        }
        cfg->origins[cfg->n_origins] = strdup(o->valuestring);
        if (cfg->origins[cfg->n_origins] == NULL) {
            return UK_E_NOMEM;
        }
        cfg->n_origins++;
    }
    return UK_OK;
}

static uk_rc load_renewal(ukd_config *cfg, const cJSON *v, const char *path, char **err)
{
    const cJSON *item;
    long n;

    if (!cJSON_IsObject(v)) {
        return fail(err, path, "renewal",
                    "must be an object {monthsBefore, monthsAfter, keepOldCertificate, "
                    "allowSubjectChange}");
    }
    cJSON_ArrayForEach(item, v)
    {
        if (strcmp(item->string, "monthsBefore") == 0 && int_value(item, 0, 120, &n)) {
            cfg->renewal.months_before = (int)n;
        } else if (strcmp(item->string, "monthsAfter") == 0 && int_value(item, 0, 120, &n)) {
            cfg->renewal.months_after = (int)n;
        } else if (strcmp(item->string, "keepOldCertificate") == 0 && cJSON_IsBool(item)) {
            cfg->renew_remove_old = !cJSON_IsTrue(item);
        } else if (strcmp(item->string, "allowSubjectChange") == 0 && cJSON_IsBool(item)) {
            cfg->renew_allow_subject_change = cJSON_IsTrue(item);
        } else {
            char key[64];
            snprintf(key, sizeof(key), "renewal.%s", item->string);
            return fail(err, path, key,
                        "unknown, or not an integer 0-120 (months) or a boolean (flags)");
        }
    }
    return UK_OK;
}

/* Text without control characters. */
static bool printable(const char *t)
{
    for (; *t != '\0'; t++) {
        if ((unsigned char)*t < 0x20 || *t == 0x7f) {
            return false;
        }
    }
    return true;
}

/* pkcs11Modules replaces the list of an earlier file. Each entry is an
 * absolute path, or {"path", "initArgs"}: initArgs is the module's own
 * option string, handed to it as C_Initialize's pReserved (what p11-kit's
 * x-init-reserved does for registered modules). */
static uk_rc load_p11(ukd_config *cfg, const cJSON *v, const char *path, char **err)
{
    const cJSON *o;
    size_t i = 0;

    if (!cJSON_IsArray(v)) {
        return fail(err, path, "pkcs11Modules",
                    "must be an array of absolute paths or {\"path\", \"initArgs\"} objects");
    }
    for (size_t k = 0; k < cfg->n_p11_modules; k++) {
        free(cfg->p11_modules[k]);
        cfg->p11_modules[k] = NULL;
    }
    cfg->n_p11_modules = 0;
    cJSON_ArrayForEach(o, v)
    {
        char key[48];
        const cJSON *file = o;
        const cJSON *args = NULL;
        const cJSON *item;
        size_t n = cfg->n_p11_modules;

        snprintf(key, sizeof(key), "pkcs11Modules[%zu]", i++);
        if (cJSON_IsObject(o)) {
            cJSON_ArrayForEach(item, o)
            {
                if (strcmp(item->string, "path") != 0 && strcmp(item->string, "initArgs") != 0) {
                    return fail(err, path, key, "unknown key '%s' (path, initArgs)", item->string);
                }
            }
            file = cJSON_GetObjectItemCaseSensitive(o, "path");
            args = cJSON_GetObjectItemCaseSensitive(o, "initArgs");
        }
        if (!cJSON_IsString(file) || file->valuestring[0] != '/' ||
            strlen(file->valuestring) >= UKD_P11_PATH_MAX) {
            return fail(err, path, key, "must be an absolute path to a PKCS#11 module (.so)");
        }
        if (args != NULL && (!cJSON_IsString(args) || !printable(args->valuestring) ||
                             strlen(args->valuestring) >= UKD_P11_INIT_ARGS_MAX)) {
            return fail(err, path, key, "initArgs must be printable text under %d bytes",
                        UKD_P11_INIT_ARGS_MAX);
        }
        if (n == UKD_MAX_P11) {
            return fail(err, path, key, "more than %d modules", UKD_MAX_P11);
        }
        cfg->p11_modules[n] = strdup(file->valuestring);
        if (cfg->p11_modules[n] == NULL) {
            return UK_E_NOMEM;
        }
        snprintf(cfg->p11_init_args[n], sizeof(cfg->p11_init_args[n]), "%s",
                 args != NULL ? args->valuestring : "");
        cfg->n_p11_modules++;
    }
    return UK_OK;
}

/* Adds a module once (by realpath; a path that does not resolve is kept
 * as given, so its load failure is reported). */
static void p11_add(ukd_p11_list *l, const char *path, const char *init_reserved)
{
    char canon[PATH_MAX];
    char other[PATH_MAX];
    const char *key = realpath(path, canon) != NULL ? canon : path;

    for (size_t i = 0; i < l->n; i++) {
        const char *ok = realpath(l->path[i], other) != NULL ? other : l->path[i];
        if (strcmp(ok, key) == 0) {
            return;
        }
    }
    if (l->n < UKD_MAX_P11 && strlen(path) < UKD_P11_PATH_MAX) {
        snprintf(l->path[l->n], UKD_P11_PATH_MAX, "%s", path);
        snprintf(l->init_reserved[l->n], sizeof(l->init_reserved[0]), "%s", init_reserved);
        l->n++;
    }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ukd_config_p11_modules(const ukd_config *cfg, const char *const *registry_dirs, size_t n_dirs,
                            const char *module_dir, ukd_p11_list *out)
{
    char opensc[PATH_MAX];

    memset(out, 0, sizeof(*out));
    for (size_t d = 0; cfg->p11_registered && d < n_dirs; d++) {
        DIR *dir = opendir(registry_dirs[d]);
        struct dirent *e;
        char *names[64];
        size_t n = 0;

        while (dir != NULL && n < 64 && (e = readdir(dir)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len > 7 && strcmp(e->d_name + len - 7, ".module") == 0 && e->d_name[0] != '.') {
                names[n] = strdup(e->d_name);
                n += names[n] != NULL;
            }
        }
        if (dir != NULL) {
            closedir(dir);
        }
        qsort(names, n, sizeof(names[0]), name_cmp);
        for (size_t i = 0; i < n; i++) {
            char file[PATH_MAX];
            char path[UKD_P11_PATH_MAX];
            char ir[256];
            char *text = NULL;
            size_t len = 0;
            bool enabled = false;

            if ((size_t)snprintf(file, sizeof(file), "%s/%s", registry_dirs[d], names[i]) <
                    sizeof(file) &&
                uk_file_read(file, CONFIG_MAX_BYTES, &text, &len) == UK_OK &&
                uk_p11_registry_parse(text, module_dir, path, sizeof(path), ir, sizeof(ir),
                                      &enabled) == UK_OK &&
                enabled) {
                p11_add(out, path, ir);
            }
            free(text);
            free(names[i]);
        }
    }
    if (cfg->p11_registered &&
        (size_t)snprintf(opensc, sizeof(opensc), "%s/opensc-pkcs11.so", module_dir) <
            sizeof(opensc) &&
        access(opensc, R_OK) == 0) {
        p11_add(out, opensc, "");
    }
    for (size_t i = 0; i < cfg->n_p11_modules; i++) {
        p11_add(out, cfg->p11_modules[i], cfg->p11_init_args[i]);
    }
}

/* An absolute path of printable characters, shorter than UKD_PATH_MAX. */
static bool abs_path(const cJSON *v)
{
    size_t n;

    if (!cJSON_IsString(v) || v->valuestring[0] != '/') {
        return false;
    }
    n = strlen(v->valuestring);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v->valuestring[i] < 0x20) {
            return false;
        }
    }
    return n < UKD_PATH_MAX;
}

/* usbKeys: an array of absolute paths of more key lists and of inline
 * entries. Inline entries are checked here (a bad one is a configuration
 * error); the files are read when the daemon starts. */
static uk_rc load_usb_keys(ukd_config *cfg, const cJSON *v, const char *path, char **err)
{
    const cJSON *m;
    size_t i = 0;
    ukd_usbkeys scratch = {0};
    cJSON *inline_entries = cJSON_CreateArray();
    char *entry_err = NULL;
    uk_rc rc = UK_OK;

    if (inline_entries == NULL) {
        return UK_E_NOMEM;
    }
    if (!cJSON_IsArray(v)) {
        rc = fail(err, path, "usbKeys",
                  "must be an array of key list file paths and entries {vid, pid, kind, name}");
        goto out;
    }
    cJSON_ArrayForEach(m, v)
    {
        char key[40];
        snprintf(key, sizeof(key), "usbKeys[%zu]", i++);
        if (cJSON_IsString(m)) {
            if (!abs_path(m)) {
                rc = fail(err, path, key, "a file must be given by its absolute path");
                goto out;
            }
            continue;
        }
        cJSON_AddItemToArray(inline_entries, cJSON_Duplicate(m, true));
    }
    if (ukd_usbkeys_add_array(&scratch, inline_entries, "inline entries", &entry_err) != UK_OK) {
        rc = fail(err, path, "usbKeys", "%s", entry_err ? entry_err : "invalid entry");
        goto out;
    }
    free(cfg->usb_keys_json);
    cfg->usb_keys_json = cJSON_PrintUnformatted(v);
    if (cfg->usb_keys_json == NULL) {
        rc = UK_E_NOMEM;
    }
out:
    free(entry_err);
    ukd_usbkeys_free(&scratch);
    cJSON_Delete(inline_entries);
    return rc;
}

/* Rejects an object with the same key twice (cJSON keeps both). */
static const char *duplicate_key(const cJSON *obj)
{
    for (const cJSON *a = obj ? obj->child : NULL; a != NULL; a = a->next) {
        for (const cJSON *b = a->next; b != NULL; b = b->next) {
            if (a->string != NULL && b->string != NULL && strcmp(a->string, b->string) == 0) {
                return a->string;
            }
        }
    }
    return NULL;
}

uk_rc ukd_config_load_file(ukd_config *cfg, const char *path, char **err)
{
    char *text = NULL;
    cJSON *root = NULL;
    const cJSON *item;
    const char *dup;
    long n;
    uk_rc rc;

    rc = read_file(path, &text, err);
    if (rc != UK_OK) {
        return rc;
    }
    /* the length includes the NUL so cJSON can check nothing follows */
    root = cJSON_ParseWithLengthOpts(text, strlen(text) + 1, NULL, 1);
    if (root == NULL || !cJSON_IsObject(root)) {
        rc = fail(err, path, NULL, "not a JSON object");
        goto out;
    }
    dup = duplicate_key(root);
    if (dup == NULL && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "renewal"))) {
        dup = duplicate_key(cJSON_GetObjectItemCaseSensitive(root, "renewal"));
    }
    if (dup != NULL) {
        rc = fail(err, path, dup, "appears twice");
        goto out;
    }
    cJSON_ArrayForEach(item, root)
    {
        const char *k = item->string;
        if (strcmp(k, "port") == 0) {
            if (!int_value(item, 1024, 65535 - (UKD_PORT_TRIES - 1), &n)) {
                rc = fail(err, path, k, "must be an integer 1024-%d", 65535 - (UKD_PORT_TRIES - 1));
                goto out;
            }
            cfg->port = (int)n;
        } else if (strcmp(k, "allowedOrigins") == 0) {
            rc = load_origins(cfg, item, path, err);
            if (rc != UK_OK) {
                goto out;
            }
        } else if (strcmp(k, "maxMessageBytes") == 0) {
            if (!int_value(item, 1024, 16L * 1024 * 1024, &n)) {
                rc = fail(err, path, k, "must be an integer 1024-16777216");
                goto out;
            }
            cfg->max_message = (size_t)n;
        } else if (strcmp(k, "maxClients") == 0) {
            if (!int_value(item, 1, 4096, &n)) {
                rc = fail(err, path, k, "must be an integer 1-4096");
                goto out;
            }
            cfg->max_clients = (int)n;
        } else if (strcmp(k, "maxPendingPerClient") == 0) {
            if (!int_value(item, 1, 256, &n)) {
                rc = fail(err, path, k, "must be an integer 1-256");
                goto out;
            }
            cfg->max_pending = (int)n;
        } else if (strcmp(k, "idleTimeoutSeconds") == 0) {
            if (!int_value(item, 5, 86400, &n)) {
                rc = fail(err, path, k, "must be an integer 5-86400");
                goto out;
            }
            cfg->idle_timeout = (int)n;
        } else if (strcmp(k, "logLevel") == 0) {
            int lvl = cJSON_IsString(item) ? uk_log_level_parse(item->valuestring) : -1;
            if (lvl < 0) {
                rc = fail(err, path, k, "must be one of error, warn, info, debug, trace");
                goto out;
            }
            cfg->log_level = (uk_log_level)lvl;
        } else if (strcmp(k, "renewal") == 0) {
            rc = load_renewal(cfg, item, path, err);
            if (rc != UK_OK) {
                goto out;
            }
        } else if (strcmp(k, "pkcs11Modules") == 0) {
            rc = load_p11(cfg, item, path, err);
            if (rc != UK_OK) {
                goto out;
            }
        } else if (strcmp(k, "pkcs11Registered") == 0) {
            if (!cJSON_IsBool(item)) {
                rc = fail(err, path, k, "must be true or false");
                goto out;
            }
            cfg->p11_registered = cJSON_IsTrue(item);
        } else if (strcmp(k, "hallUrl") == 0) {
            if (!cJSON_IsString(item) || !ukd_config_url_valid(item->valuestring)) {
                rc = fail(err, path, k,
                          "must be an http:// or https:// URL like \"https://hall.example.com/\" "
                          "(printable ASCII, no spaces, under %d bytes)",
                          UKD_URL_MAX);
                goto out;
            }
            snprintf(cfg->hall_url, sizeof(cfg->hall_url), "%s", item->valuestring);
        } else if (strcmp(k, "usbKeysFile") == 0) {
            if (!abs_path(item)) {
                rc = fail(err, path, k, "must be the absolute path of a key list file");
                goto out;
            }
            snprintf(cfg->usb_keys_file, sizeof(cfg->usb_keys_file), "%s", item->valuestring);
        } else if (strcmp(k, "usbKeys") == 0) {
            rc = load_usb_keys(cfg, item, path, err);
            if (rc != UK_OK) {
                goto out;
            }
            if (rc != UK_OK) {
                goto out;
            }
        } else {
            rc = fail(err, path, k, "unknown key");
            goto out;
        }
    }
    rc = UK_OK;
out:
    cJSON_Delete(root);
    free(text);
    return rc;
}

uk_rc ukd_config_load_default(ukd_config *cfg, char **err)
{
    char user[4096];
    uk_rc rc;

    rc = ukd_config_load_file(cfg, UKD_SYSTEM_CONFIG, err);
    if (rc != UK_OK && rc != UK_E_NOT_FOUND) {
        return rc;
    }
    rc = ukd_platform_config_path(user, sizeof(user));
    if (rc != UK_OK) {
        return UK_OK; /* no home: the system file alone */
    }
    rc = ukd_config_load_file(cfg, user, err);
    return rc == UK_E_NOT_FOUND ? UK_OK : rc;
}

bool ukd_config_origin_allowed(const ukd_config *cfg, const char *origin)
{
    for (size_t i = 0; origin != NULL && i < cfg->n_origins; i++) {
        if (strcmp(cfg->origins[i], origin) == 0) {
            return true;
        }
    }
    return false;
}
