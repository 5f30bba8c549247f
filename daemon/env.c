// SPDX-License-Identifier: MIT
/*
 * The daemon's side of env.check (see env.h): files and devices here, the
 * rules in diag.c.
 */
#define _GNU_SOURCE
#include "env.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "platform/platform.h"
#include "uk/file.h"
#include "uk/log.h"
#include "usb.h"
#include "usbkeys.h"

#ifndef UKD_DATA_DIR
#define UKD_DATA_DIR "/usr/share/ukeyd"
#endif
#define P11KIT_MAX 32

struct ukd_env {
    const ukd_config *cfg;
    ukd_usbkeys keys;
    char *keys_error; /* the first list error, or NULL */
    ukd_usb *usb;
    atomic_bool usb_changed;
    uint32_t ids[4096]; /* driver_ids(), read at the first check */
    size_t n_ids;
    void (*wake)(void *);
    void *wake_ctx;
};

static void on_usb_changed(void *ctx)
{
    ukd_env *e = ctx;

    atomic_store(&e->usb_changed, true);
    if (e->wake != NULL) {
        e->wake(e->wake_ctx);
    }
}

/* The installed list (or usbKeysFile), then usbKeys in order. Keeps the
 * first error; a bad file adds nothing, the others still count. */
static void load_lists(const ukd_config *cfg, ukd_usbkeys *db, char **first_err)
{
    char path[UKD_PATH_MAX + 32];
    char *err = NULL;
    cJSON *extra = NULL;
    const cJSON *item;

    *first_err = NULL;
    if (cfg->usb_keys_file[0] != '\0') {
        snprintf(path, sizeof(path), "%s", cfg->usb_keys_file);
    } else {
        /* next to the executable's prefix first (a package, a source
         * install), then where the build meant to install it */
        char dir[UKD_PATH_MAX];
        snprintf(path, sizeof(path), "%s/usb-keys.json", UKD_DATA_DIR);
        if (ukd_platform_data_dir(dir, sizeof(dir)) == UK_OK) {
            char near[UKD_PATH_MAX + 32];
            snprintf(near, sizeof(near), "%s/usb-keys.json", dir);
            if (access(near, R_OK) == 0) {
                snprintf(path, sizeof(path), "%s", near);
            }
        }
    }
    if (ukd_usbkeys_load_file(db, path, &err) != UK_OK) {
        uk_warn("list of known USB-KEYs: %s", err ? err : path);
        *first_err = err;
        err = NULL;
    }
    extra = cfg->usb_keys_json != NULL ? cJSON_Parse(cfg->usb_keys_json) : NULL;
    cJSON_ArrayForEach(item, extra)
    {
        uk_rc rc;
        if (cJSON_IsString(item)) {
            rc = ukd_usbkeys_load_file(db, item->valuestring, &err);
        } else {
            cJSON *one = cJSON_CreateArray();
            cJSON_AddItemToArray(one, cJSON_Duplicate(item, true));
            rc = ukd_usbkeys_add_array(db, one, "usbKeys", &err);
            cJSON_Delete(one);
        }
        if (rc != UK_OK) {
            uk_warn("list of known USB-KEYs: %s", err ? err : uk_rc_name(rc));
            if (*first_err == NULL) {
                *first_err = err;
                err = NULL;
            }
        }
        free(err);
        err = NULL;
    }
    cJSON_Delete(extra);
}

uk_rc ukd_env_check_lists(const ukd_config *cfg, char **err)
{
    ukd_usbkeys db = {0};

    load_lists(cfg, &db, err);
    ukd_usbkeys_free(&db);
    return *err == NULL ? UK_OK : UK_E_MALFORMED;
}

uk_rc ukd_env_start(const ukd_config *cfg, void (*wake)(void *), void *wake_ctx, ukd_env **out)
{
    ukd_env *e = calloc(1, sizeof(*e));

    *out = NULL;
    if (e == NULL) {
        return UK_E_NOMEM;
    }
    e->cfg = cfg;
    e->wake = wake;
    e->wake_ctx = wake_ctx;
    atomic_init(&e->usb_changed, false);
    load_lists(cfg, &e->keys, &e->keys_error);
    uk_info("%zu known USB-KEY model(s)", e->keys.n);
    if (ukd_usb_start(on_usb_changed, e, &e->usb) != UK_OK) {
        ukd_usbkeys_free(&e->keys);
        free(e->keys_error);
        free(e);
        return UK_E_NOMEM;
    }
    *out = e;
    return UK_OK;
}

void ukd_env_stop(ukd_env *e)
{
    if (e == NULL) {
        return;
    }
    ukd_usb_stop(e->usb);
    ukd_usbkeys_free(&e->keys);
    free(e->keys_error);
    free(e);
}

bool ukd_env_take_changed(ukd_env *e)
{
    return e != NULL && atomic_exchange(&e->usb_changed, false);
}

/* The modules p11-kit has registered: the "module:" line of each
 * *.module file in its system and user directories (pcsc-lite's and
 * p11-kit's pkcs11.conf(5) layout). A relative name is kept as it is: the
 * rules compare file names only. */
static size_t p11kit_modules(char **out, size_t max)
{
    char user[1024];
    const char *home = getenv("HOME");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *dirs[3] = {"/usr/share/p11-kit/modules", "/etc/pkcs11/modules", NULL};
    size_t n = 0;

    if (xdg != NULL && xdg[0] == '/') {
        snprintf(user, sizeof(user), "%s/pkcs11/modules", xdg);
        dirs[2] = user;
    } else if (home != NULL && home[0] == '/') {
        snprintf(user, sizeof(user), "%s/.config/pkcs11/modules", home);
        dirs[2] = user;
    }
    for (size_t d = 0; d < 3 && n < max; d++) {
        DIR *dir = dirs[d] != NULL ? opendir(dirs[d]) : NULL;
        struct dirent *de;
        while (dir != NULL && n < max && (de = readdir(dir)) != NULL) {
            char path[2048];
            char *txt = NULL;
            size_t len = 0;
            size_t nl = strlen(de->d_name);
            if (nl < 8 || strcmp(de->d_name + nl - 7, ".module") != 0) {
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", dirs[d], de->d_name);
            if (uk_file_read(path, 64 * 1024, &txt, &len) != UK_OK) {
                continue;
            }
            for (char *line = txt; line != NULL && *line != '\0' && n < max;) {
                char *next = strchr(line, '\n');
                if (next != NULL) {
                    *next++ = '\0';
                }
                if (strncmp(line, "module:", 7) == 0) {
                    char *v = line + 7;
                    while (*v == ' ' || *v == '\t') {
                        v++;
                    }
                    for (char *end = v + strlen(v);
                         end > v && (end[-1] == ' ' || end[-1] == '\r');) {
                        *--end = '\0';
                    }
                    if (*v != '\0') {
                        out[n] = strdup(v);
                        n += out[n] != NULL;
                    }
                }
                line = next;
            }
            free(txt);
        }
        if (dir != NULL) {
            closedir(dir);
        }
    }
    return n;
}

/* The vid:pid pairs the installed PC/SC USB drivers declare: the
 * ifdVendorID and ifdProductID arrays of each bundle's Info.plist (read
 * the way pcscd reads them: parallel arrays of "0x..." strings). */
static size_t driver_ids(uint32_t *out, size_t max)
{
    const char *dir_path = "/usr/lib/pcsc/drivers";
    DIR *dir = opendir(dir_path);
    struct dirent *de;
    size_t n = 0;

    while (dir != NULL && (de = readdir(dir)) != NULL) {
        char path[1024];
        char *txt = NULL;
        size_t len = 0;
        const char *v;
        const char *p;
        const char *v_end;
        const char *p_end;
        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s/Contents/Info.plist", dir_path, de->d_name);
        if (uk_file_read(path, 4 * 1024 * 1024, &txt, &len) != UK_OK) {
            continue;
        }
        v = strstr(txt, "<key>ifdVendorID</key>");
        p = strstr(txt, "<key>ifdProductID</key>");
        v_end = v != NULL ? strstr(v, "</array>") : NULL;
        p_end = p != NULL ? strstr(p, "</array>") : NULL;
        /* the two arrays are parallel: the n-th strings go together */
        while (v_end != NULL && p_end != NULL && n < max) {
            unsigned long vid;
            unsigned long pid;
            v = strstr(v + 1, "<string>");
            p = strstr(p + 1, "<string>");
            if (v == NULL || p == NULL || v > v_end || p > p_end) {
                break;
            }
            vid = strtoul(v + 8, NULL, 16);
            pid = strtoul(p + 8, NULL, 16);
            if (vid <= 0xffff && pid <= 0xffff) {
                out[n++] = (uint32_t)(vid << 16 | pid);
            }
        }
        free(txt);
    }
    if (dir != NULL) {
        closedir(dir);
    }
    return n;
}

cJSON *ukd_env_check(ukd_env *e, ukd_tokens *tokens, const char *version, int port,
                     const char *min_daemon)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *daemon = cJSON_CreateObject();
    cJSON *pcsc = cJSON_CreateObject();
    bool pcsc_ok = false;
    cJSON *readers = ukd_tokens_readers_json(tokens, &pcsc_ok);
    cJSON *toks = ukd_tokens_env_json(tokens, (int64_t)time(NULL));
    cJSON *p11_status = ukd_tokens_p11_json(tokens);
    ukd_usb_dev *devs = calloc(UKD_USB_MAX_DEVICES, sizeof(*devs));
    ukd_usb_status st;
    const char *cfg_mods[UKD_MAX_P11];
    char *p11[P11KIT_MAX];
    size_t n_p11 = 0;
    size_t n_cfg = 0;
    ukd_diag_input in;
    cJSON *usb = NULL;
    cJSON *problems = NULL;

    memset(&in, 0, sizeof(in));
    if (r == NULL || daemon == NULL || pcsc == NULL || devs == NULL) {
        goto fail;
    }
    in.n_devs = ukd_usb_snapshot(e->usb, devs, UKD_USB_MAX_DEVICES, &st);
    for (size_t i = 0; i < e->cfg->n_p11_modules; i++) {
        /* a configured module that is not there does not count */
        if (access(e->cfg->p11_modules[i], R_OK) == 0) {
            cfg_mods[n_cfg++] = e->cfg->p11_modules[i];
        }
    }
    n_p11 = p11kit_modules(p11, P11KIT_MAX);
    if (e->n_ids == 0) {
        e->n_ids = driver_ids(e->ids, sizeof(e->ids) / sizeof(e->ids[0]));
    }
    in.driver_ids = e->n_ids > 0 ? e->ids : NULL;
    in.n_driver_ids = e->n_ids;
    in.version = version;
    in.min_daemon = min_daemon;
    in.pcsc_running = pcsc_ok;
    in.readers = readers;
    in.tokens = toks;
    in.devs = devs;
    in.usb = &st;
    in.keys = &e->keys;
    in.keys_error = e->keys_error;
    in.config_modules = cfg_mods;
    in.n_config_modules = n_cfg;
    in.p11kit_modules = (const char *const *)p11;
    in.n_p11kit_modules = n_p11;
    in.pkcs11 = p11_status;
    usb = ukd_diag_usb_json(&in);
    problems = usb != NULL ? ukd_diag_problems(&in, usb) : NULL;
    for (size_t i = 0; i < n_p11; i++) {
        free(p11[i]);
    }
    if (problems == NULL) {
        goto fail;
    }
    free(devs);
    cJSON_AddStringToObject(daemon, "version", version);
    cJSON_AddBoolToObject(daemon, "running", true);
    cJSON_AddNumberToObject(daemon, "port", port);
    cJSON_AddItemToObject(r, "daemon", daemon);
    cJSON_AddBoolToObject(pcsc, "running", pcsc_ok);
    cJSON_AddItemToObject(r, "pcsc", pcsc);
    cJSON_AddItemToObject(r, "readers", readers);
    cJSON_AddItemToObject(r, "usb", usb);
    cJSON_AddItemToObject(r, "tokens", toks);
    cJSON_AddItemToObject(r, "pkcs11", p11_status);
    cJSON_AddItemToObject(r, "problems", problems);
    return r;
fail:
    free(devs);
    cJSON_Delete(r);
    cJSON_Delete(daemon);
    cJSON_Delete(pcsc);
    cJSON_Delete(readers);
    cJSON_Delete(toks);
    cJSON_Delete(p11_status);
    cJSON_Delete(usb);
    cJSON_Delete(problems);
    return NULL;
}
