/* SPDX-License-Identifier: MIT */
/*
 * ukeyd's configuration: JSON files, validated key by key at start-up.
 *
 * Without --config, /etc/ukeyd/config.json is read, then the user's
 * $XDG_CONFIG_HOME/ukeyd/config.json (default ~/.config/ukeyd/config.json);
 * a key in the user's file replaces the system's, except allowedOrigins,
 * whose lists are joined. With --config FILE only that file is read. A
 * missing file is not an error; a file that exists but does not parse, an
 * unknown key, a wrong type or a value out of range is, with a message
 * naming the file and the key.
 */
#ifndef UKD_CONFIG_H
#define UKD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "uk/cert.h"
#include "uk/log.h"
#include "uk/rc.h"

#define UKD_DEFAULT_PORT 17485
#define UKD_PORT_TRIES 5
#define UKD_MAX_ORIGINS 32
#define UKD_ORIGIN_MAX 256
#define UKD_URL_MAX 1024
#define UKD_MAX_P11 16
#define UKD_P11_PATH_MAX 1024
#define UKD_P11_INIT_ARGS_MAX 256
#define UKD_PATH_MAX 1024
/* A placeholder, not a real hall: each CA sets hallUrl to its own. */
#define UKD_DEFAULT_HALL_URL "https://hall.example.com/"

typedef struct ukd_config {
    int port;                       /* first port tried; the next 4 follow */
    char *origins[UKD_MAX_ORIGINS]; /* exact Origin strings */
    size_t n_origins;
    size_t max_message; /* bytes; larger messages close with 1009 */
    int max_clients;
    int max_pending;  /* requests in flight per client */
    int idle_timeout; /* seconds without traffic before a close */
    uk_log_level log_level;
    uk_renew_policy renewal;
    bool renew_remove_old;           /* renewal.keepOldCertificate false */
    bool renew_allow_subject_change; /* renewal.allowSubjectChange */
    char hall_url[UKD_URL_MAX];      /* the service hall the tray opens (http or https) */
    char *p11_modules[UKD_MAX_P11];  /* pkcs11Modules: absolute paths */
    char p11_init_args[UKD_MAX_P11][UKD_P11_INIT_ARGS_MAX]; /* their initArgs ("" = none) */
    size_t n_p11_modules;
    bool p11_registered; /* pkcs11Registered: also p11-kit's modules and OpenSC */
    /* diagnosis: the list of known USB-KEYs ("" = the installed one) and
     * the usbKeys additions (files and inline entries, as compact JSON
     * text; NULL = none) */
    char usb_keys_file[UKD_PATH_MAX];
    char *usb_keys_json;
} ukd_config;

/* The PKCS#11 modules ukeyd loads, the allowlist: those p11-kit registers
 * (module files in the given directories, root-installed; trust-policy
 * modules and those disabled for ukeyd left out) and OpenSC's module when
 * present, if cfg->p11_registered; then cfg's pkcs11Modules. Each path once
 * (compared after realpath). */
typedef struct ukd_p11_list {
    char path[UKD_MAX_P11][UKD_P11_PATH_MAX];
    char init_reserved[UKD_MAX_P11][UKD_P11_INIT_ARGS_MAX];
    size_t n;
} ukd_p11_list;
void ukd_config_p11_modules(const ukd_config *cfg, const char *const *registry_dirs, size_t n_dirs,
                            const char *module_dir, ukd_p11_list *out);

/* Defaults: port 17485, no origins, 256 KiB, 64 clients, 8 pending,
 * 600 s idle, info, renewal 1 month before / 12 after, the placeholder
 * hall URL, registered PKCS#11 modules on, no extra ones. */
void ukd_config_defaults(ukd_config *cfg);

/* Reads and validates one file into cfg (keys present in the file replace
 * the values in cfg; origins are appended). UK_E_NOT_FOUND when the file
 * does not exist (cfg untouched). On any other failure *err (caller frees)
 * says which file and key, and cfg may be partly updated. */
uk_rc ukd_config_load_file(ukd_config *cfg, const char *path, char **err);

/* The default load: system file, then the user's. */
uk_rc ukd_config_load_default(ukd_config *cfg, char **err);

/* Is url an absolute http(s) URL the tray may open: "http://" or
 * "https://", a host, then an optional path; printable ASCII only, no
 * spaces, shorter than UKD_URL_MAX. */
bool ukd_config_url_valid(const char *url);

/* Is origin in the allowlist (exact, case-sensitive string match)? */
bool ukd_config_origin_allowed(const ukd_config *cfg, const char *origin);

void ukd_config_free(ukd_config *cfg);

#endif
